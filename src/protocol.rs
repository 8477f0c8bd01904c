//! The wire frames: JSON text frames with a `type` field. `ClientFrame` is what a client may
//! send, `ServerFrame` what the server sends. docs/protocol.md describes both; keep them in
//! step. The chat server encodes a frame once and shares the bytes with every recipient.

use crate::db::models::{RoomSummary, StoredMessage};
use crate::db::notifications::NotificationRow;
use crate::domain::{Availability, MessageKind, Role, UserId, UserInfo};
use crate::error::ErrorCode;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};

pub mod conversation;
pub use conversation::{ConversationChange, WireConversation};

/// A frame from the client, as parsed (field values are checked afterwards by the session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Enter a room; with `since`, recover every message after that seq.
    Join {
        /// Room name.
        room: String,
        /// Last seq the client has.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    /// Leave a room (and take it out of the user's list).
    Leave {
        /// Room name.
        room: String,
    },
    /// Post a message.
    Send {
        /// Room name.
        room: String,
        /// The text.
        text: String,
        /// The client's id for this message; reuse it when resending.
        cid: String,
        /// From staff: a private note of the conversation `room` (`support:<id>`), stored in
        /// its notes thread `notes:<id>`; never seen by the customer. Absent means false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        note: bool,
    },
    /// Typing started (`on: true`) or stopped.
    Typing {
        /// Room name.
        room: String,
        /// Whether typing.
        on: bool,
    },
    /// Ask for older messages.
    History {
        /// Room name.
        room: String,
        /// Only messages below this seq; the newest when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<i64>,
        /// Page size (1-100, default 50).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// Everything up to `seq` has been seen.
    Read {
        /// Room name.
        room: String,
        /// Seq read up to.
        seq: i64,
    },
    /// A notification of the user's has been read (every connection of the user then gets
    /// `notifications_unread`).
    NotificationRead {
        /// The notification's id.
        id: i64,
    },
}

/// A message as the wire shows it: `message` frames, the lists of `joined` and `history`, and
/// the REST pages. Built from a database [`StoredMessage`] by an explicit conversion, or by the
/// chat server straight from a message it has just stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireMessage {
    /// The room it belongs to.
    pub room: String,
    /// Its place in the room: 1, 2, 3 ...
    pub seq: i64,
    /// Database id, unique across rooms.
    pub id: i64,
    /// The author.
    pub from: UserInfo,
    /// The text, exactly as sent.
    pub text: String,
    /// Stored at, in milliseconds since the epoch.
    pub ts: i64,
    /// The sender's id for it, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// Left out for ordinary text; `announcement` for a notice by the staff, `note` and
    /// `event` in a notes thread. A note is also written with `"note": true` (see the
    /// `Serialize` below).
    #[serde(default, skip_serializing_if = "MessageKind::is_text")]
    pub kind: MessageKind,
}

/// What a [`WireMessage`] is written as: its fields, borrowed, plus `"note": true` for a
/// staff note (left out otherwise). Derived here rather than stored in the message, so that
/// `note` can never disagree with `kind`, and nothing is copied to write it.
#[derive(Serialize)]
struct WireMessageOut<'a> {
    room: &'a str,
    seq: i64,
    id: i64,
    from: &'a UserInfo,
    text: &'a str,
    ts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cid: &'a Option<String>,
    #[serde(skip_serializing_if = "MessageKind::is_text")]
    kind: MessageKind,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    note: bool,
}

impl Serialize for WireMessage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireMessageOut {
            room: &self.room,
            seq: self.seq,
            id: self.id,
            from: &self.from,
            text: &self.text,
            ts: self.ts,
            cid: &self.cid,
            kind: self.kind,
            note: self.kind == MessageKind::Note,
        }
        .serialize(s)
    }
}

impl From<StoredMessage> for WireMessage {
    fn from(m: StoredMessage) -> Self {
        WireMessage {
            room: m.room,
            seq: m.seq,
            id: m.id,
            from: m.from,
            text: m.text,
            ts: m.ts,
            cid: m.cid,
            kind: m.kind,
        }
    }
}

/// Messages read from the database, as the wire shows them.
pub fn wire_messages(messages: Vec<StoredMessage>) -> Vec<WireMessage> {
    messages.into_iter().map(WireMessage::from).collect()
}

/// A notification as the wire shows it: the `notification` frame and the items of
/// `GET /api/notifications`. `link` is always there, `null` when the notification has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationFrame {
    /// Its id.
    pub id: i64,
    /// One line.
    pub title: String,
    /// The text (render it as text).
    pub body: String,
    /// An http(s) link, or null.
    pub link: Option<String>,
    /// Sent at, in milliseconds since the epoch.
    pub ts: i64,
}

impl From<NotificationRow> for NotificationFrame {
    fn from(row: NotificationRow) -> Self {
        NotificationFrame {
            id: row.id,
            title: row.title,
            body: row.body,
            link: row.link,
            ts: row.created_at,
        }
    }
}

/// One room of the `hello` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEntry {
    /// Room name.
    pub room: String,
    /// Its newest seq.
    pub last_seq: i64,
    /// Messages by others after the user's read cursor.
    pub unread: i64,
}

impl From<RoomSummary> for RoomEntry {
    fn from(summary: RoomSummary) -> Self {
        RoomEntry {
            room: summary.room.to_string(),
            last_seq: summary.last_seq,
            unread: summary.unread,
        }
    }
}

/// The limits a connection works within, announced in `hello` so that clients need not
/// hard-code them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest message text, in characters.
    pub max_message_chars: usize,
    /// Largest text frame, in bytes.
    pub max_frame_bytes: usize,
    /// Largest `history` page.
    pub history_page_max: i64,
    /// The `history` page size when the client names none.
    pub history_page_default: i64,
    /// Frames a connection may send per second, on average.
    pub rate_per_sec: f64,
    /// Frames a connection may send in a burst.
    pub rate_burst: f64,
}

/// A member of the team as the staff API and the `staff_updated` frame show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    /// Database id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// admin or agent.
    pub role: Role,
    /// False once deactivated: their tokens are refused and their sockets closed.
    pub active: bool,
    /// Online, busy or offline, as they set it.
    pub availability: Availability,
    /// Whether they have at least one WebSocket open now.
    pub online: bool,
    /// The name they sign replies with, if set (left out when not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Their avatar colour (`#rrggbb`), if set (left out when not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_color: Option<String>,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// A frame lives only until it is encoded (once per message, whatever the fan-out), so the size
// of its largest variant costs nothing worth a Box on every message.
#[allow(clippy::large_enum_variant)]
pub enum ServerFrame {
    /// First frame after the upgrade: who you are, your rooms and the connection's limits.
    Hello {
        /// The connected user.
        user: UserInfo,
        /// Their rooms, their own support conversation first.
        rooms: Vec<RoomEntry>,
        /// What the connection may send.
        limits: Limits,
        /// How many of the user's notifications (from the store) are unread.
        notifications_unread: i64,
    },
    /// The connection is now in the room.
    Joined {
        /// Room name.
        room: String,
        /// Users with at least one connection in the room; empty in a crowded room.
        online: Vec<UserInfo>,
        /// How many users are online in the room, crowded or not.
        online_count: usize,
        /// The latest messages, or with `since` those after it; oldest first.
        messages: Vec<WireMessage>,
        /// Every later message reaches the connection live.
        last_seq: i64,
        /// With `since`: whether `messages` holds everything after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recovered: Option<bool>,
        /// With `since`: seqs of deleted messages in `since - recovery limit < seq <= since`,
        /// whenever deleted; clients remove those they show.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deleted: Option<Vec<i64>>,
        /// In a support room only: how far the other side has read. For the customer, the
        /// highest seq any staff member has read; for staff, the customer's read cursor.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seen_seq: Option<i64>,
    },
    /// A new message in a room, to every member (the sender too).
    Message(WireMessage),
    /// To the sender: the message with this cid is stored as `seq`.
    Ack {
        /// The client's id.
        cid: String,
        /// Room name.
        room: String,
        /// The stored seq.
        seq: i64,
    },
    /// A user came online in, or went from, a room.
    Presence {
        /// Room name.
        room: String,
        /// Who.
        user: UserInfo,
        /// Online or not.
        online: bool,
    },
    /// Who is online in a room, to every member when the room becomes crowded (nobody named,
    /// only the count) or stops being crowded (everyone named).
    Online {
        /// Room name.
        room: String,
        /// Users with at least one connection in the room; empty in a crowded room.
        online: Vec<UserInfo>,
        /// How many users are online in the room.
        online_count: usize,
    },
    /// Someone else is typing, or stopped.
    Typing {
        /// Room name.
        room: String,
        /// Who.
        user: UserInfo,
        /// Typing or not.
        on: bool,
    },
    /// A page of older messages, oldest first.
    History {
        /// Room name.
        room: String,
        /// The messages.
        messages: Vec<WireMessage>,
        /// Whether older ones exist.
        more: bool,
    },
    /// The user's unread count in a room changed (sent to all their connections).
    Unread {
        /// Room name.
        room: String,
        /// Messages by others after the read cursor.
        count: i64,
    },
    /// A message was deleted by the staff: clients remove it from view.
    Deleted {
        /// Room name.
        room: String,
        /// Its seq.
        seq: i64,
        /// Its id.
        id: i64,
    },
    /// To staff connections only: a message was stored in a support conversation, joined or
    /// not (the console's live list).
    SupportActivity {
        /// The conversation, `support:<id>`.
        room: String,
        /// Its customer, when the server has them at hand (else look the list up again).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer: Option<UserInfo>,
        /// The message.
        message: WireMessage,
    },
    /// A notification from the store (server API), to every connection of its user.
    Notification(NotificationFrame),
    /// The user's count of unread notifications changed (one was read, on any connection):
    /// to every connection of the user.
    NotificationsUnread {
        /// Unread notifications.
        count: i64,
    },
    /// A guest's support conversation moved into the customer's when the guest signed in on
    /// the store (`POST /api/auth/identify`): to every connection that had `from` open, which
    /// is out of it from now on (a `send` or `join` there is refused with `not_found`).
    /// Follow `into`.
    ConversationMoved {
        /// The guest's conversation, retired.
        from: String,
        /// The customer's conversation, which holds its messages now.
        into: String,
    },
    /// To every staff connection: a member of the team changed through the team API (created,
    /// a new role, deactivated or active again, a new availability).
    StaffUpdated {
        /// The member as they are now.
        member: StaffMember,
    },
    /// To every staff connection: a support conversation was created, reopened, or had its
    /// status or assignee changed (the change is also an `event` message in `notes:<id>`).
    ConversationUpdated {
        /// The conversation as it is now.
        conversation: WireConversation,
        /// What happened.
        change: ConversationChange,
        /// The staff member who did it, the customer for a reopen; null for a creation.
        by: Option<UserInfo>,
    },
    /// To every staff connection: who on the staff has a support conversation open now
    /// (joined `room`), distinct users by id; sent whenever that changes.
    ConversationViewers {
        /// `support:<id>`.
        room: String,
        /// The staff members viewing it, sorted by id.
        viewers: Vec<UserInfo>,
    },
    /// The other side of a support conversation has read it up to `seq`: to the customer's
    /// connections when the staff's high-water mark moves (`by: "staff"`), to every staff
    /// connection when the customer's cursor moves (`by: "customer"`).
    Seen {
        /// The conversation, `support:<id>`.
        room: String,
        /// Read up to this seq.
        seq: i64,
        /// Who read it.
        by: SeenBy,
    },
    /// Something the client sent was refused.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Explanation.
        message: String,
        /// The cid of the refused `send`, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<String>,
        /// The room the refused request was about, once its name was valid.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
}

/// Which side of a support conversation a `seen` frame speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeenBy {
    /// A staff member read it (the staff's high-water mark moved).
    Staff,
    /// The customer read it.
    Customer,
}

impl ServerFrame {
    /// The frame as JSON text, ready to share between recipients.
    pub fn encode(&self) -> ByteString {
        // Plain structs and string-keyed values: serialization cannot fail.
        ByteString::from(serde_json::to_string(self).unwrap_or_default())
    }

    /// An `error` frame.
    pub fn error(
        code: ErrorCode,
        message: impl Into<String>,
        cid: Option<String>,
        room: Option<String>,
    ) -> ServerFrame {
        ServerFrame::Error {
            code,
            message: message.into(),
            cid,
            room,
        }
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {s}")))
    }
}

#[cfg(test)]
mod tests;
