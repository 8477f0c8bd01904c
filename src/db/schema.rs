//! The tables, as Diesel sees them; one schema for SQLite and PostgreSQL (the migrations in
//! `migrations/sqlite` and `migrations/postgres` create the same columns).

diesel::table! {
    /// Accounts of every role.
    users (id) {
        id -> BigInt,
        username -> Text,
        role -> Text,
        password_hash -> Nullable<Text>,
        banned -> Bool,
        created_at -> BigInt,
        external_id -> Nullable<Text>,
        email -> Nullable<Text>,
        merged_into -> Nullable<BigInt>,
        active -> Bool,
        availability -> Text,
        last_seen_at -> Nullable<BigInt>,
        last_page -> Nullable<Text>,
        display_name -> Nullable<Text>,
        avatar_color -> Nullable<Text>,
        last_device -> Nullable<Text>,
        last_addr -> Nullable<Text>,
    }
}

diesel::table! {
    /// One row per room, holding the room's sequence counter.
    rooms (name) {
        name -> Text,
        last_seq -> BigInt,
        created_at -> BigInt,
        created_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Every stored chat message.
    messages (id) {
        id -> BigInt,
        room -> Text,
        seq -> BigInt,
        sender_id -> BigInt,
        cid -> Nullable<Text>,
        body -> Text,
        created_at -> BigInt,
        deleted -> Bool,
        kind -> Text,
    }
}

diesel::table! {
    /// Who has a room in their list, and their read cursor in it.
    room_members (user_id, room) {
        user_id -> BigInt,
        room -> Text,
        last_read_seq -> BigInt,
        joined_at -> BigInt,
    }
}

diesel::table! {
    /// The store backend's API keys, as SHA-256 digests (`/api/server/*`).
    api_keys (id) {
        id -> BigInt,
        name -> Text,
        key_digest -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Notifications the store sent its customers.
    notifications (id) {
        id -> BigInt,
        user_id -> BigInt,
        title -> Text,
        body -> Text,
        link -> Nullable<Text>,
        created_at -> BigInt,
        read_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(messages -> users (sender_id));
diesel::joinable!(messages -> rooms (room));
diesel::joinable!(room_members -> users (user_id));
diesel::joinable!(room_members -> rooms (room));
diesel::allow_tables_to_appear_in_same_query!(users, rooms, messages, room_members);

diesel::table! {
    /// Webhook events waiting for delivery (or given up), inserted with their message.
    webhook_outbox (id) {
        id -> BigInt,
        room -> Text,
        event -> Text,
        message_id -> BigInt,
        created_at -> BigInt,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        body -> Nullable<Text>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    /// One row per support conversation: its status, assignee and last activity.
    conversations (room) {
        room -> Text,
        customer_id -> BigInt,
        status -> Text,
        assignee_id -> Nullable<BigInt>,
        created_at -> BigInt,
        last_activity -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(conversations, users);
diesel::allow_tables_to_appear_in_same_query!(conversations, room_members);
diesel::allow_tables_to_appear_in_same_query!(conversations, messages);

diesel::table! {
    /// The staff's canned replies, unique by shortcut whatever its case.
    canned_replies (id) {
        id -> BigInt,
        shortcut -> Text,
        text -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// Emails of unread staff replies: written before sending, one per (room, up_to_seq).
    email_outbox (id) {
        id -> BigInt,
        room -> Text,
        customer_id -> BigInt,
        from_seq -> BigInt,
        up_to_seq -> BigInt,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    /// Bans placed by the staff: an account, the device and the address it came from, until a
    /// time or until lifted.
    bans (id) {
        id -> BigInt,
        user_id -> Nullable<BigInt>,
        device -> Nullable<Text>,
        addr -> Nullable<Text>,
        reason -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        lifted_at -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(bans, users);

diesel::table! {
    /// The support desk's settings kept by the console, one JSON value per key.
    desk_settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// Secrets shared by every node on this database (the JWT secret when none is configured).
    server_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> BigInt,
    }
}
