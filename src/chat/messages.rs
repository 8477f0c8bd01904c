//! The chat server's API. Sessions send the commands; the chat server answers through
//! [`Deliver`], into each session's bounded mailbox.

use crate::domain::{ClientMessageId, MessageText, RoomName, UserId, UserInfo};
use crate::error::AppError;
use crate::history::messages::RoomSnapshot;
use crate::protocol::{wire_messages, ServerFrame};
use actix::{Message, Recipient};
use bytestring::ByteString;
use smallvec::SmallVec;

/// A connection's id, unique within one server process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl SessionId {
    /// A new id. The session takes it before it connects, so that it can say `Disconnect`
    /// even while its `Connect` is still in flight.
    pub fn next() -> SessionId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        SessionId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// Session → chat server, once, before anything else: register this connection. Answers with
/// the account as stored (authoritative over the token) and its rooms, from which the session
/// writes `hello`. A `Disconnect` that overtakes it (the socket closed meanwhile) wins: the
/// connection is then never registered. An account that no longer exists or is banned is `unauthorized`.
#[derive(Message)]
#[rtype(result = "Result<Connected, AppError>")]
pub struct Connect {
    /// The connection's id, from [`SessionId::next`].
    pub session: SessionId,
    /// Who the token says is connecting.
    pub user: UserInfo,
    /// Where the chat server delivers frames for this connection.
    pub recipient: Recipient<Deliver>,
}

/// The answer to [`Connect`].
pub struct Connected {
    /// The account as stored.
    pub user: UserInfo,
    /// The user's rooms, their own support conversation first.
    pub rooms: Vec<crate::protocol::RoomEntry>,
    /// How many of the user's notifications are unread (`hello`'s `notifications_unread`).
    pub notifications_unread: i64,
}

/// Session → chat server: the connection is gone, registered or still connecting. Idempotent.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    /// The connection.
    pub session: SessionId,
}

/// Session → chat server: enter a room. Answered with `Outgoing::Joined` or
/// `Outgoing::JoinFailed`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Join {
    /// The connection.
    pub session: SessionId,
    /// The room.
    pub room: RoomName,
    /// Recover every message after this seq.
    pub since: Option<i64>,
}

/// Session → chat server: take the room out of the user's list, and this connection out of the
/// room if it is in it. Idempotent; answers nothing unless refused.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The connection.
    pub session: SessionId,
    /// The room.
    pub room: RoomName,
}

/// Session → chat server: post a message to a room the connection has joined. The sender gets
/// the `message` frame with everyone else and then an `ack`, both once it is stored.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Publish {
    /// The connection.
    pub session: SessionId,
    /// The room.
    pub room: RoomName,
    /// The checked text.
    pub text: MessageText,
    /// The client's id for it.
    pub cid: ClientMessageId,
    /// A staff note of the conversation (`note: true`): stored in its notes thread.
    pub note: bool,
}

/// Session → chat server: typing started or stopped; the other users in the room are told.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetTyping {
    /// The connection.
    pub session: SessionId,
    /// The room.
    pub room: RoomName,
    /// Typing or not.
    pub on: bool,
}

/// Session → chat server: a page of a room's history, answered with a `history` frame.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct GetHistory {
    /// The connection.
    pub session: SessionId,
    /// The room.
    pub room: RoomName,
    /// Only messages below this seq.
    pub before: Option<i64>,
    /// Page size, already within bounds.
    pub limit: i64,
}

/// Session → chat server: the user has seen everything up to `seq`; every connection of the
/// user gets the new `unread` count.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct MarkRead {
    /// The connection.
    pub session: SessionId,
    /// The room.
    pub room: RoomName,
    /// Seq read up to.
    pub seq: i64,
}

/// Admin API → chat server: post an announcement to a room as `from`. Answers once it is
/// stored (and delivered), with where it was stored.
#[derive(Message)]
#[rtype(result = "Result<StoredRef, AppError>")]
pub struct Announce {
    /// The staff member posting it.
    pub from: UserInfo,
    /// The room.
    pub room: RoomName,
    /// The checked text.
    pub text: MessageText,
}

/// Where a message was stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredRef {
    /// The room.
    pub room: String,
    /// Its seq there.
    pub seq: i64,
    /// Its id.
    pub id: i64,
}

/// Admin API → chat server: a message was deleted; its room's members are told (`deleted`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct MessageDeleted {
    /// Where it was.
    pub message: StoredRef,
}

/// Admin API (a ban, an unban, a role change) → chat server: the user's account changed in
/// the database. The chat server reads it again and applies it to every connection of the
/// user, open or connecting: a banned (or deleted) account's close with 1008, a new role takes
/// effect at once (staff rights, the support rooms it may be in).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AccountChanged {
    /// Whose account.
    pub user: UserId,
}

/// Identify (HTTP, with the token of a guest) → chat server: the guest signed in on the store
/// as `customer`; move what the guest's support conversation holds into the customer's. The
/// guest's connections are closed at once (1008, so nothing more is sent into the guest's
/// conversation); the move waits for the batch being stored and for whatever was queued for
/// the guest's conversation, runs while no other batch is stored, and the moved messages reach
/// the customer's conversation live in seq order (`chat/merging.rs`). Answers with how many
/// visible messages moved (0 when the guest was no active guest: nothing happened).
#[derive(Message)]
#[rtype(result = "Result<usize, AppError>")]
pub struct MergeConversations {
    /// The guest.
    pub guest: UserId,
    /// The customer.
    pub customer: UserId,
}

/// Admin API → chat server: live figures.
#[derive(Message)]
#[rtype(result = "LiveStats")]
pub struct GetLiveStats;

/// Figures the chat server knows from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LiveStats {
    /// Open WebSocket connections.
    pub connections: usize,
    /// Users with at least one connection.
    pub online_users: usize,
    /// Rooms with at least one connection in them.
    pub rooms: usize,
    /// Messages stored in the last 60 seconds.
    pub messages_per_minute: u64,
}

/// `/readyz` → chat server: whether it can serve.
#[derive(Message)]
#[rtype(result = "Readiness")]
pub struct GetReadiness;

/// What the chat server knows of its own readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// Stopping: new messages are refused.
    pub draining: bool,
    /// A commit failed lately (the database is down or refusing writes).
    pub failing: bool,
    /// The commit in flight has not come back within the stall timeout.
    pub stalled: bool,
    /// Messages waiting for the next commit.
    pub queued: usize,
}

/// Admin API → chat server: which of these users have a connection open.
#[derive(Message)]
#[rtype(result = "std::collections::HashSet<UserId>")]
pub struct ListOnline {
    /// The users asked about.
    pub users: Vec<UserId>,
}

/// `main` → chat server on SIGTERM: store everything queued, then close every connection with
/// 1001 (going away). Answers when done.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Session → chat server: the user has read one of their notifications (`notification_read`).
/// Every connection of the user then gets `notifications_unread`; an id that is not one of the
/// user's is answered with a `not_found` error frame.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct MarkNotificationRead {
    /// The connection.
    pub session: SessionId,
    /// The notification.
    pub id: i64,
}

/// Server API → chat server: a notification was stored for `user`; every open connection of
/// the user gets it as a `notification` frame (encoded once).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Notify {
    /// Whose.
    pub user: UserId,
    /// The frame's content.
    pub notification: crate::protocol::NotificationFrame,
}

/// Notifications API → chat server: the user's unread notifications are now `count` (one or all
/// were read over HTTP); every open connection of the user gets `notifications_unread`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct NotificationsUnreadChanged {
    /// Whose.
    pub user: UserId,
    /// Unread notifications now.
    pub count: i64,
}

/// Server API → chat server: the store writes `text` into a customer's support conversation as
/// `from` (the store's account), with kind `store`. Like [`Announce`], it joins the outbox and
/// answers once it is stored (and delivered), with where it was stored.
#[derive(Message)]
#[rtype(result = "Result<StoredRef, AppError>")]
pub struct PostAsStore {
    /// The store's account.
    pub from: UserInfo,
    /// The customer's support conversation.
    pub room: RoomName,
    /// The checked text.
    pub text: MessageText,
    /// The store's id for the message, if it gave one: a resend with it is stored once.
    pub cid: Option<ClientMessageId>,
}

/// Chat server → session: something to do with the connection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Outgoing);

/// One frame for a connection, and what it is about: a connection still joining a room holds
/// back the frames about it, drops the messages its `joined` frame already holds, and never
/// drops an ack.
#[derive(Debug, Clone)]
pub struct OutFrame {
    /// The encoded frame, shared with every other recipient.
    pub text: ByteString,
    /// What it is about.
    pub about: About,
}

/// What a frame is about, as far as joining a room is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum About {
    /// No room a connection joins (errors, unread counts, staff activity).
    Nothing,
    /// A room broadcast that is not a message (presence, typing, deletions).
    Room(RoomName),
    /// A message of the room, with its seq.
    Message(RoomName, i64),
    /// The ack of the connection's own message to the room: it always reaches the client.
    Ack(RoomName),
}

impl About {
    /// The room the frame is about, if any.
    pub fn room(&self) -> Option<&RoomName> {
        match self {
            About::Nothing => None,
            About::Room(room) | About::Message(room, _) | About::Ack(room) => Some(room),
        }
    }
}

/// The frames of one commit for one connection: inline up to two, the common case.
pub type FrameBatch = SmallVec<[OutFrame; 2]>;

/// What a `joined` frame is made of, handed to the session unencoded. A snapshot holds up to
/// the recovery limit of messages (1000 by default): turning them into JSON on the chat
/// server's one thread would hold up every other connection meanwhile, so the session does it
/// on its own worker thread ([`JoinedParts::encode`]). The bytes are the same as ever.
#[derive(Debug, Clone)]
pub struct JoinedParts {
    /// The room.
    pub room: RoomName,
    /// How many users are online in the room, and who (nobody named when crowded).
    pub online: (usize, Vec<UserInfo>),
    /// What the history actor read.
    pub snapshot: RoomSnapshot,
}

impl JoinedParts {
    /// The seq up to which messages are in the frame: later ones come live.
    pub fn last_seq(&self) -> i64 {
        self.snapshot.last_seq
    }

    /// The encoded `joined` frame.
    pub fn encode(self) -> ByteString {
        let (online_count, online) = self.online;
        let snapshot = self.snapshot;
        ServerFrame::Joined {
            room: self.room.to_string(),
            online,
            online_count,
            messages: wire_messages(snapshot.messages),
            last_seq: snapshot.last_seq,
            recovered: snapshot.recovered,
            deleted: snapshot.deleted,
            seen_seq: snapshot.seen_seq,
        }
        .encode()
    }
}

/// What a session is asked to do.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// Write these frames, in order. Everything one commit produces for a connection comes as
    /// one item, so a burst costs one mailbox slot and the frames go out in one write; a full
    /// mailbox therefore means a client that has not drained whole batches, not a busy room.
    Frames(FrameBatch),
    /// Encode and write the `joined` frame, then what was held back for the room after its
    /// `last_seq`. Boxed: the rest of the variants stay small.
    Joined(Box<JoinedParts>),
    /// The join was refused: write the error; write what was held back if the connection is
    /// still in the room (a failed re-join), else drop it.
    JoinFailed {
        /// The room.
        room: RoomName,
        /// The encoded `error` frame.
        text: ByteString,
        /// Whether the connection was in the room before and stays in it.
        still_in_room: bool,
    },
    /// Close the connection with this code and reason.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Reason sent with it.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::StoredMessage;
    use crate::domain::{MessageKind, Role, UserId};

    #[test]
    fn a_joined_frame_encoded_by_the_session_has_the_bytes_it_always_had() {
        let ann = UserInfo {
            id: UserId(7),
            username: "ann".into(),
            role: Role::User,
            display_name: None,
            avatar_color: None,
        };
        let message = StoredMessage {
            id: 31,
            room: "lobby".into(),
            seq: 4,
            from: ann.clone(),
            text: "hi <b>".into(),
            ts: 1_763_800_000_000,
            cid: Some("c-1".into()),
            kind: MessageKind::Text,
        };
        let parts = JoinedParts {
            room: RoomName::parse("lobby").unwrap(),
            online: (1, vec![ann.clone()]),
            snapshot: RoomSnapshot {
                messages: vec![message.clone()],
                last_seq: 5,
                recovered: Some(true),
                deleted: Some(vec![2]),
                seen_seq: None,
            },
        };
        assert_eq!(parts.last_seq(), 5);
        // As the chat server encoded it before the move.
        let before = ServerFrame::Joined {
            room: "lobby".into(),
            online: vec![ann],
            online_count: 1,
            messages: wire_messages(vec![message]),
            last_seq: 5,
            recovered: Some(true),
            deleted: Some(vec![2]),
            seen_seq: None,
        }
        .encode();
        let now = parts.encode();
        assert_eq!(now, before);
        assert_eq!(
            &*now,
            r#"{"type":"joined","room":"lobby","online":[{"id":7,"username":"ann","role":"user"}],"online_count":1,"messages":[{"room":"lobby","seq":4,"id":31,"from":{"id":7,"username":"ann","role":"user"},"text":"hi <b>","ts":1763800000000,"cid":"c-1"}],"last_seq":5,"recovered":true,"deleted":[2]}"#
        );
    }
}

/// Conversations API → chat server: a staff member changed a support conversation (its status,
/// its assignee). Every staff connection gets `conversation_updated`, and the change is stored
/// as an `event` message from them in the conversation's notes thread; answers once that is
/// stored.
#[derive(Message)]
#[rtype(result = "Result<StoredRef, AppError>")]
pub struct ConversationChanged {
    /// The conversation as it is now.
    pub conversation: crate::protocol::WireConversation,
    /// What changed.
    pub change: crate::protocol::ConversationChange,
    /// The staff member who changed it.
    pub by: UserInfo,
    /// The event's text, e.g. "set the status to resolved".
    pub event: String,
}

/// From `GET /api/admin/conversations/{room}`: the staff members who have `room` open now.
#[derive(Message)]
#[rtype(result = "Vec<UserInfo>")]
pub struct GetViewers {
    /// `support:<id>`.
    pub room: RoomName,
}
