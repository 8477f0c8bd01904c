//! Rows as they come out of the database, and their conversion to domain values.

use crate::domain::{MessageKind, Role, RoomName, UserId, UserInfo};
use diesel::prelude::*;

/// A `users` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = super::schema::users)]
pub struct UserRow {
    /// Database id.
    pub id: i64,
    /// Login or display name.
    pub username: String,
    /// admin, agent, user or guest.
    pub role: String,
    /// argon2id PHC string; none for guests.
    pub password_hash: Option<String>,
    /// A banned user's tokens are refused.
    pub banned: bool,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// The store's own id for this customer, for an account made by `POST /api/auth/identify`.
    pub external_id: Option<String>,
    /// Where the customer wants to be answered when no staff is online.
    pub email: Option<String>,
    /// For a guest finished by signing in on the store and kept (not deleted): the customer it
    /// became. Its support room is closed (`db::closed_rooms`).
    pub merged_into: Option<i64>,
    /// False for a deactivated staff member: their tokens are refused, their sockets closed.
    pub active: bool,
    /// A staff member's `online` / `busy` / `offline` (`domain::Availability`).
    pub availability: String,
    /// When the customer last had the chat open (ms), if known.
    pub last_seen_at: Option<i64>,
    /// The store page the customer was on when they last wrote (the widget sends it).
    pub last_page: Option<String>,
    /// The name a staff member's replies are signed with, if set (else the login name).
    pub display_name: Option<String>,
    /// A staff member's avatar colour, `#rrggbb`, if set.
    pub avatar_color: Option<String>,
    /// The device id (the pages' `chat_device`) the account last came from, for bans.
    pub last_device: Option<String>,
    /// The client address the account last came from, for bans.
    pub last_addr: Option<String>,
}

impl UserRow {
    /// The public face of this user.
    pub fn info(&self) -> UserInfo {
        UserInfo {
            id: UserId(self.id),
            username: self.username.clone(),
            // The CHECK constraint keeps roles valid; a foreign value is treated as least trusted.
            role: Role::parse(&self.role).unwrap_or(Role::Guest),
            display_name: self.display_name.clone(),
            avatar_color: self.avatar_color.clone(),
        }
    }
}

/// A stored message with its author, as history and recovery read it. The wire shows it as
/// `protocol::WireMessage`, converted explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The room it belongs to.
    pub room: String,
    /// Its place in the room: 1, 2, 3 ...
    pub seq: i64,
    /// Database id, unique across rooms.
    pub id: i64,
    /// The author.
    pub from: UserInfo,
    /// The text.
    pub text: String,
    /// Stored at, in milliseconds since the epoch.
    pub ts: i64,
    /// The sender's id for it, if it sent one.
    pub cid: Option<String>,
    /// Ordinary text or an announcement by the staff.
    pub kind: MessageKind,
}

/// A room in a user's list, as the `hello` frame shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoomSummary {
    /// The room.
    pub room: RoomName,
    /// The newest seq in the room (0 when empty).
    pub last_seq: i64,
    /// Messages by others after the user's read cursor.
    pub unread: i64,
}
