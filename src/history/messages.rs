//! The history actors' API: one message per database task. The chat server sends the
//! message-path ones (store, to the writer; open room and read cursor, to the history actor);
//! the HTTP handlers send the account ones.

use crate::db::messages::NewMessage;
use crate::db::models::{RoomSummary, StoredMessage, UserRow};
use crate::db::StorageError;
use crate::domain::{Role, RoomName, UserId};
use actix::Message;

/// Chat server → message writer: store these messages in one transaction. Returns one outcome per
/// message, in order, and the support conversations the batch created or reopened; only after
/// this reply may anyone see them.
#[derive(Message)]
#[rtype(result = "Result<crate::db::messages::StoredBatch, StorageError>")]
pub struct StoreMessages {
    /// Everything queued since the last commit.
    pub batch: Vec<NewMessage>,
}

/// Chat server → history: a user joins a room. Puts the room in their list and reads what the
/// `joined` frame shows. A support room of a user who does not exist is `NotFound`; a public
/// room past the user's cap is `TooManyRooms` (and nothing is written).
#[derive(Message)]
#[rtype(result = "Result<RoomSnapshot, StorageError>")]
pub struct OpenRoom {
    /// Who joins.
    pub user: UserId,
    /// The room.
    pub room: RoomName,
    /// Recovery: every message after this seq instead of the latest ones.
    pub since: Option<i64>,
    /// How many of the latest messages to show without `since`.
    pub latest: i64,
    /// Most messages a recovery returns before it gives up (`recovered: false`).
    pub recovery_cap: i64,
    /// Most public rooms the user may have in their list.
    pub max_public_rooms: i64,
    /// Most public rooms the user may create in an hour by joining new names (`None`: no
    /// limit); past it the join is `TooManyRoomsCreated`.
    pub creation_budget: Option<i64>,
}

/// What a joining connection is shown.
#[derive(Debug, Clone)]
pub struct RoomSnapshot {
    /// Oldest first.
    pub messages: Vec<StoredMessage>,
    /// Every message with a seq up to this one is in `messages` or was stored before the
    /// window; later ones reach the connection live.
    pub last_seq: i64,
    /// With `since`: whether `messages` holds everything after it.
    pub recovered: Option<bool>,
    /// With `since`: the seqs up to it, among the `recovery_cap` before it, of messages
    /// deleted at any time (the client may still show some of them).
    pub deleted: Option<Vec<i64>>,
    /// In a support room: how far the other side has read (`joined`'s `seen_seq`, see
    /// `db::rooms::seen_seq`); `None` elsewhere.
    pub seen_seq: Option<i64>,
}

/// Chat server → history: the user left the room for good; take it out of their list.
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct ForgetRoom {
    /// Who leaves.
    pub user: UserId,
    /// The room.
    pub room: RoomName,
}

/// Chat server or HTTP → history: a page of older messages.
#[derive(Message)]
#[rtype(result = "Result<HistoryPage, StorageError>")]
pub struct FetchHistory {
    /// The room.
    pub room: RoomName,
    /// Only messages with a seq below this one; the newest when absent.
    pub before: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// A page of history, oldest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The messages.
    pub messages: Vec<StoredMessage>,
    /// Whether older messages exist.
    pub more: bool,
}

/// Chat server → history: move the user's read cursor; returns the unread count after it.
/// `NotMember` when the room is not in the user's list.
#[derive(Message)]
#[rtype(result = "Result<i64, StorageError>")]
pub struct MarkRead {
    /// Whose cursor.
    pub user: UserId,
    /// The room.
    pub room: RoomName,
    /// Read up to this seq.
    pub seq: i64,
}

/// Chat server → history: the account behind a new connection, its rooms and its unread
/// notifications for `hello`, in one round trip. `NotFound` when the account no longer exists.
#[derive(Message)]
#[rtype(result = "Result<ConnectSnapshot, StorageError>")]
pub struct ListRooms {
    /// Whose rooms.
    pub user: UserId,
}

/// What [`ListRooms`] reads for a new connection.
#[derive(Debug, Clone)]
pub struct ConnectSnapshot {
    /// The account as stored.
    pub account: UserRow,
    /// Its rooms.
    pub rooms: Vec<RoomSummary>,
    /// How many of its notifications are unread, and the newest notification id counted
    /// (`db::notifications::unread_notifications_counted`).
    pub notifications: (i64, i64),
}

/// HTTP → history: create an account. `Conflict` when a registered name is taken.
#[derive(Message)]
#[rtype(result = "Result<UserRow, StorageError>")]
pub struct CreateUser {
    /// Login or display name.
    pub username: String,
    /// Its role.
    pub role: Role,
    /// argon2id hash; none for guests.
    pub password_hash: Option<String>,
}

/// HTTP → history: a registered account by login name (any case).
#[derive(Message)]
#[rtype(result = "Result<Option<UserRow>, StorageError>")]
pub struct FindLogin {
    /// The name.
    pub username: String,
}

/// HTTP → history: an account by id.
#[derive(Message)]
#[rtype(result = "Result<Option<UserRow>, StorageError>")]
pub struct GetUser {
    /// The id.
    pub id: UserId,
}

/// Chat server → history: the accounts of these users (the connected ones, re-checked), in
/// one query per thousand; users without an account are missing from the answer.
#[derive(Message)]
#[rtype(result = "Result<Vec<UserRow>, StorageError>")]
pub struct ListAccounts {
    /// Whose accounts.
    pub users: Vec<UserId>,
}

/// Admin API → history: hide a message. Answers with its room and seq; `NotFound` if none.
#[derive(Message)]
#[rtype(result = "Result<(String, i64), StorageError>")]
pub struct DeleteMessage {
    /// Its id.
    pub id: i64,
}

/// Admin API → history: ban or unban an account.
#[derive(Message)]
#[rtype(result = "Result<UserRow, StorageError>")]
pub struct SetBanned {
    /// Whose account.
    pub user: UserId,
    /// Banned or not.
    pub banned: bool,
}

/// Admin API → history: (stored messages, accounts).
#[derive(Message)]
#[rtype(result = "Result<(i64, i64), StorageError>")]
pub struct CountTotals;

/// Health check → history: answers when the database does.
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct CheckDatabase;

/// Chat server's timer → log checkpointer: copy the SQLite write-ahead log into the database
/// file now, off the commit path, and say how far it got (`None` on PostgreSQL, or when another
/// checkpoint was under way).
#[derive(Message)]
#[rtype(result = "Result<Option<crate::db::connection::WalProgress>, StorageError>")]
pub struct Checkpoint {
    /// Whether to sync the database file afterwards: in the passes that come right before the
    /// writer's catch-up, so that it finds the file clean (`history::checkpointer`).
    pub sync_database: bool,
}

/// Chat server → message writer, between two commits, after a [`Checkpoint`] that found the log
/// long: copy what it left (the commits made while it ran), so that the next commit starts the
/// log again from its beginning instead of growing it (unless a reader still holds on to it).
#[derive(Message)]
#[rtype(result = "Result<Option<crate::db::connection::WalProgress>, StorageError>")]
pub struct CatchUpCheckpoint;

/// HTTP (identify) → history: the account bound to the store's id for a customer, created on
/// first use, its name and email brought up to date. Answers with the account and whether an
/// existing one changed.
#[derive(Message)]
#[rtype(result = "Result<(UserRow, bool), StorageError>")]
pub struct IdentifyCustomer {
    /// The store's id for the customer, checked.
    pub external_id: String,
    /// The display name, checked.
    pub name: String,
    /// The email address, checked, if the store sent one.
    pub email: Option<String>,
}

/// HTTP (`PATCH /api/me`) → history: set the caller's email address. `NotFound` if the
/// account is gone.
#[derive(Message)]
#[rtype(result = "Result<UserRow, StorageError>")]
pub struct SetEmail {
    /// Whose account.
    pub user: UserId,
    /// The address, checked.
    pub email: String,
}

/// Chat server → message writer: move the guest's support conversation into the customer's and
/// finish the guest's account, in one transaction (`db::merge`). `None` when `guest` is not an
/// active guest account: nothing is written.
#[derive(Message)]
#[rtype(result = "Result<Option<crate::db::merge::MergedConversation>, StorageError>")]
pub struct MergeGuest {
    /// The guest who signed in on the store.
    pub guest: UserId,
    /// The customer they turned out to be.
    pub customer: UserId,
}

/// Whom the store's backend names: its own id for the customer, or our user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRef {
    /// The store's id (`users.external_id`), as `POST /api/auth/identify` bound it.
    ExternalId(crate::domain::ExternalId),
    /// Our id.
    Id(UserId),
}

/// Admin API → history: store a new API key by its digest.
#[derive(Message)]
#[rtype(result = "Result<crate::db::api_keys::ApiKeyRow, StorageError>")]
pub struct CreateApiKey {
    /// What the admin calls it.
    pub name: crate::domain::ApiKeyName,
    /// `hex(SHA-256(key))`.
    pub key_digest: String,
}

/// Admin API → history: the keys in use, oldest first.
#[derive(Message)]
#[rtype(result = "Result<Vec<crate::db::api_keys::ApiKeyRow>, StorageError>")]
pub struct ListApiKeys;

/// Admin API → history: revoke a key; `NotFound` if no key in use has this id.
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct RevokeApiKey {
    /// Its id.
    pub id: i64,
}

/// Server API → history: the key in use with this digest, if any (and note its use).
#[derive(Message)]
#[rtype(result = "Result<Option<crate::db::api_keys::ApiKeyRow>, StorageError>")]
pub struct UseApiKey {
    /// `hex(SHA-256(key))` of the bearer token.
    pub key_digest: String,
}

/// Server API → history: store a notification for a customer; `NotFound` if there is no such
/// customer. One round trip: the customer is looked up and the notification stored together.
#[derive(Message)]
#[rtype(result = "Result<crate::db::notifications::NotificationRow, StorageError>")]
pub struct CreateNotification {
    /// Whose.
    pub customer: CustomerRef,
    /// What.
    pub notification: crate::notification::NewNotification,
}

/// Notifications API → history: a page of the user's notifications, newest first.
#[derive(Message)]
#[rtype(result = "Result<NotificationsPage, StorageError>")]
pub struct ListNotifications {
    /// Whose.
    pub user: UserId,
    /// Only those with an id below this one; the newest when absent.
    pub before: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// A page of notifications.
#[derive(Debug, Clone)]
pub struct NotificationsPage {
    /// Newest first.
    pub notifications: Vec<crate::db::notifications::NotificationRow>,
    /// Whether older ones exist.
    pub more: bool,
    /// How many of the user's notifications are unread, all pages together.
    pub unread: i64,
}

/// Notifications API or chat server → history: mark one of the user's notifications read;
/// answers the user's unread count after it. `NotFound` if it is not the user's.
#[derive(Message)]
#[rtype(result = "Result<i64, StorageError>")]
pub struct ReadNotification {
    /// Whose.
    pub user: UserId,
    /// Which.
    pub id: i64,
}

/// Notifications API → history: mark every notification of the user read.
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct ReadAllNotifications {
    /// Whose.
    pub user: UserId,
}

/// Server API → history: the customer with this external id and the store's own account (the
/// author of store messages, created on first use); `NotFound` if there is no such customer.
#[derive(Message)]
#[rtype(result = "Result<(UserRow, UserRow), StorageError>")]
pub struct PrepareStoreMessage {
    /// The store's id for the customer.
    pub external_id: crate::domain::ExternalId,
}

/// Chat server → history: the user's unread notifications counted again, for a connection whose
/// `hello` count went stale while it connected: (unread, newest id counted).
#[derive(Message)]
#[rtype(result = "Result<(i64, i64), StorageError>")]
pub struct CountNotifications {
    /// Whose.
    pub user: UserId,
}

/// Server API → history: the account with this external id, if any.
#[derive(Message)]
#[rtype(result = "Result<Option<UserRow>, StorageError>")]
pub struct FindCustomer {
    /// The store's id for the customer.
    pub external_id: crate::domain::ExternalId,
}
