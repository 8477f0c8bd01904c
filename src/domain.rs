//! Domain values, parsed once at the edge (HTTP handlers, the WebSocket session) and trusted
//! everywhere inside: a `RoomName` in the chat server is always a valid room name.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

pub mod api_key_name;
pub mod canned;
pub mod customer;
pub mod desk;
pub mod hours;
pub mod page_url;
pub mod profile;
pub use api_key_name::ApiKeyName;
pub use canned::{CannedText, Shortcut};
pub use customer::{Email, ExternalId};
pub use desk::{Availability, ConversationStatus};
pub use hours::BusinessHours;
pub use page_url::PageUrl;

/// A user's database id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a user may do: staff see every support conversation, customers and guests only their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Store staff who runs the desk: everything an agent may, plus the team, API keys and settings.
    Admin,
    /// Store staff who answers customers: every support conversation, notes, canned replies,
    /// status and assignment; not the team, API keys or settings.
    Agent,
    /// A registered customer.
    User,
    /// A store visitor who only picked a display name.
    Guest,
}

impl Role {
    /// The name stored in the database and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::User => "user",
            Role::Guest => "guest",
        }
    }

    /// Reads a stored role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            "user" => Some(Role::User),
            "guest" => Some(Role::Guest),
            _ => None,
        }
    }

    /// Whether this is store staff (admin or agent): sees and answers every support
    /// conversation and its notes.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Agent)
    }
}

/// The public face of a user: what the wire shows as `user`, `from` and `online` entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Database id.
    pub id: UserId,
    /// Login name for registered users, display name for guests.
    pub username: String,
    /// admin, agent, user or guest.
    pub role: Role,
    /// The name a staff member chose to sign replies with (`display_name`), if set: pages show
    /// it instead of `username`. Left out of the wire when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A staff member's avatar colour (`#rrggbb`), if set. Left out of the wire when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_color: Option<String>,
}

/// Why a value from outside was refused; the text goes back to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

fn invalid(message: impl Into<String>) -> InvalidInput {
    InvalidInput(message.into())
}

/// Which kind of room a name designates, and so who may enter it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoomKind {
    /// A public room, open to every role.
    Public,
    /// `support:<id>`: the private conversation between one customer and the staff.
    Support(UserId),
    /// `notes:<id>`: the staff's private notes and events of `support:<id>`, seqs of its own;
    /// staff only, never shown to the customer.
    Notes(UserId),
}

/// A valid room name: `[a-z0-9][a-z0-9_-]{0,63}` for public rooms, `support:<user id>` for a
/// customer's conversation with the staff. Cheap to clone (shared string).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RoomName {
    name: Arc<str>,
    kind: RoomKind,
}

/// Longest public room name.
pub const MAX_ROOM_NAME: usize = 64;
/// How every support conversation's name begins.
pub const SUPPORT_PREFIX: &str = "support:";
/// How the staff's notes thread of a support conversation begins.
pub const NOTES_PREFIX: &str = "notes:";

/// Reads the `<user id>` of `support:<user id>` or `notes:<user id>`.
fn owner_id(id: &str) -> Option<UserId> {
    let valid = !id.is_empty()
        && id.len() <= 18
        && id.bytes().all(|b| b.is_ascii_digit())
        && !id.starts_with('0');
    match id.parse::<i64>() {
        Ok(n) if valid => Some(UserId(n)),
        _ => None,
    }
}

impl RoomName {
    /// Checks a room name from outside.
    pub fn parse(raw: &str) -> Result<RoomName, InvalidInput> {
        if let Some(id) = raw.strip_prefix(SUPPORT_PREFIX) {
            return owner_id(id).map(RoomName::support).ok_or_else(|| {
                invalid(format!(
                    "invalid room name {raw:?}: a support room is support:<user id>"
                ))
            });
        }
        if let Some(id) = raw.strip_prefix(NOTES_PREFIX) {
            return owner_id(id).map(RoomName::notes).ok_or_else(|| {
                invalid(format!(
                    "invalid room name {raw:?}: a notes thread is notes:<user id>"
                ))
            });
        }
        let bytes = raw.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if first_ok && rest_ok && bytes.len() <= MAX_ROOM_NAME {
            Ok(RoomName {
                name: Arc::from(raw),
                kind: RoomKind::Public,
            })
        } else {
            Err(invalid(format!(
                "invalid room name {raw:?}: use 1-64 of a-z, 0-9, '_' and '-', starting with a letter or digit"
            )))
        }
    }

    /// The support conversation of `owner`.
    pub fn support(owner: UserId) -> RoomName {
        RoomName {
            name: Arc::from(format!("{SUPPORT_PREFIX}{owner}")),
            kind: RoomKind::Support(owner),
        }
    }

    /// The staff's notes thread of `owner`'s support conversation.
    pub fn notes(owner: UserId) -> RoomName {
        RoomName {
            name: Arc::from(format!("{NOTES_PREFIX}{owner}")),
            kind: RoomKind::Notes(owner),
        }
    }

    /// The support conversation this room belongs to: itself for `support:<id>`, the
    /// conversation of a notes thread, none for a public room.
    pub fn conversation(&self) -> Option<RoomName> {
        match self.kind {
            RoomKind::Public => None,
            RoomKind::Support(_) => Some(self.clone()),
            RoomKind::Notes(owner) => Some(RoomName::support(owner)),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Public room or support conversation.
    pub fn kind(&self) -> RoomKind {
        self.kind
    }

    /// Whether `user` may join this room, read its history and write to it.
    pub fn admits(&self, user: &UserInfo) -> bool {
        match self.kind {
            RoomKind::Public => true,
            RoomKind::Support(owner) => user.role.is_staff() || user.id == owner,
            RoomKind::Notes(_) => user.role.is_staff(),
        }
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.name)
    }
}

impl Serialize for RoomName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

/// A registered user's login name: 3-32 of `[A-Za-z0-9_.-]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Checks a login name from outside.
    pub fn parse(raw: &str) -> Result<Username, InvalidInput> {
        let ok_len = (3..=32).contains(&raw.len());
        let ok_chars = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok_len && ok_chars {
            Ok(Username(raw.to_owned()))
        } else {
            Err(invalid(
                "username must be 3-32 characters of A-Z, a-z, 0-9, '_', '.' and '-'",
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the length rule (at least 8 characters, at most 1,024 bytes so that
/// hashing cannot be used to burn CPU).
pub struct Password(String);

impl Password {
    /// Checks a new password.
    pub fn parse(raw: &str) -> Result<Password, InvalidInput> {
        if raw.chars().count() < 8 {
            Err(invalid("password must be at least 8 characters"))
        } else if raw.len() > 1024 {
            Err(invalid("password must be at most 1024 bytes"))
        } else {
            Ok(Password(raw.to_owned()))
        }
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A guest's display name: 1-32 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Checks a guest's chosen name.
    pub fn parse(raw: &str) -> Result<DisplayName, InvalidInput> {
        let name = raw.trim();
        let count = name.chars().count();
        if count == 0 || count > 32 || name.chars().any(char::is_control) {
            Err(invalid(
                "name must be 1-32 characters without control characters",
            ))
        } else {
            Ok(DisplayName(name.to_owned()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a message text was refused: too long is `too_large`, anything else `bad_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    /// Empty or only white space.
    Empty,
    /// Longer than the configured number of characters.
    TooLong(usize),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Empty => f.write_str("text must not be empty"),
            TextError::TooLong(max) => write!(f, "message longer than {max} characters"),
        }
    }
}

/// The text of a chat message: not blank, at most the configured number of characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    /// Checks a message text against the character limit.
    pub fn parse(raw: String, max_chars: usize) -> Result<MessageText, TextError> {
        if raw.trim().is_empty() {
            return Err(TextError::Empty);
        }
        // Count characters only when the byte length could exceed the limit.
        if raw.len() > max_chars && raw.chars().count() > max_chars {
            return Err(TextError::TooLong(max_chars));
        }
        Ok(MessageText(raw))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Takes the text out.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A client's id for a message it sends (`cid`): 1-64 printable ASCII characters. The client
/// reuses it when it resends, so that the server can recognise the resend.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientMessageId(String);

impl ClientMessageId {
    /// Checks a cid from outside.
    pub fn parse(raw: &str) -> Result<ClientMessageId, InvalidInput> {
        if !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(ClientMessageId(raw.to_owned()))
        } else {
            Err(invalid("cid must be 1-64 printable ASCII characters"))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What sort of message a row is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A chat message.
    #[default]
    Text,
    /// A notice posted by the staff to a room.
    Announcement,
    /// Written by the store's backend into a customer's support conversation (server API).
    Store,
    /// A staff member's private note, in a conversation's notes thread (`notes:<id>`).
    Note,
    /// A change of a conversation's status or assignee, recorded in its notes thread.
    Event,
}

impl MessageKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Announcement => "announcement",
            MessageKind::Store => "store",
            MessageKind::Note => "note",
            MessageKind::Event => "event",
        }
    }

    /// Reads a stored name; anything unknown is plain text.
    pub fn parse(s: &str) -> MessageKind {
        match s {
            "announcement" => MessageKind::Announcement,
            "store" => MessageKind::Store,
            "note" => MessageKind::Note,
            "event" => MessageKind::Event,
            _ => MessageKind::Text,
        }
    }

    /// Whether this is an ordinary message (the wire leaves `kind` out then).
    pub fn is_text(&self) -> bool {
        *self == MessageKind::Text
    }
}

/// Milliseconds since the Unix epoch, the unit of every timestamp we store and send.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_room_names_follow_the_rule() {
        for ok in ["lobby", "a", "0", "general-chat_2", &"x".repeat(64)] {
            assert_eq!(
                RoomName::parse(ok).unwrap().kind(),
                RoomKind::Public,
                "{ok}"
            );
        }
        for bad in [
            "",
            "Lobby",
            "-x",
            "_x",
            "a b",
            "a/b",
            "é",
            &"x".repeat(65),
            "support",
        ] {
            if bad == "support" {
                continue; // a plain word, valid as a public room
            }
            assert!(RoomName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn notes_threads_belong_to_their_conversation_and_admit_staff_only() {
        let notes = RoomName::parse("notes:42").unwrap();
        assert_eq!(notes.kind(), RoomKind::Notes(UserId(42)));
        assert_eq!(notes.conversation(), Some(RoomName::support(UserId(42))));
        assert_eq!(
            RoomName::support(UserId(42)).conversation(),
            Some(RoomName::support(UserId(42)))
        );
        assert_eq!(RoomName::parse("lobby").unwrap().conversation(), None);
        let who = |id, role| UserInfo {
            id: UserId(id),
            username: "x".into(),
            role,
            display_name: None,
            avatar_color: None,
        };
        assert!(notes.admits(&who(1, Role::Agent)));
        assert!(notes.admits(&who(1, Role::Admin)));
        assert!(!notes.admits(&who(42, Role::User)), "the customer never");
        assert!(RoomName::support(UserId(42)).admits(&who(1, Role::Agent)));
        for bad in ["notes:", "notes:0", "notes:x", "notes:01"] {
            assert!(RoomName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_read_back_what_they_write_and_staff_are_admins_and_agents() {
        for role in [Role::Admin, Role::Agent, Role::User, Role::Guest] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(Role::Agent.is_staff() && Role::Admin.is_staff());
        assert!(!Role::User.is_staff() && !Role::Guest.is_staff());
        for k in ["note", "event"] {
            assert_eq!(MessageKind::parse(k).as_str(), k);
        }
    }

    #[test]
    fn support_rooms_name_their_owner() {
        let room = RoomName::parse("support:42").unwrap();
        assert_eq!(room.kind(), RoomKind::Support(UserId(42)));
        assert_eq!(room.as_str(), "support:42");
        for bad in [
            "support:",
            "support:0",
            "support:042",
            "support:-1",
            "support:x",
            "support:1 ",
        ] {
            assert!(RoomName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_owner_and_staff_enter_a_support_room() {
        let room = RoomName::support(UserId(7));
        let user = |id, role| UserInfo {
            id: UserId(id),
            username: "x".into(),
            role,
            display_name: None,
            avatar_color: None,
        };
        assert!(room.admits(&user(7, Role::Guest)));
        assert!(room.admits(&user(1, Role::Admin)));
        assert!(!room.admits(&user(8, Role::User)));
        assert!(RoomName::parse("lobby")
            .unwrap()
            .admits(&user(8, Role::Guest)));
    }

    #[test]
    fn message_text_limits_count_characters_not_bytes() {
        assert!(MessageText::parse("é".repeat(10), 10).is_ok());
        assert_eq!(
            MessageText::parse("é".repeat(11), 10),
            Err(TextError::TooLong(10))
        );
        assert_eq!(MessageText::parse("  \n".into(), 10), Err(TextError::Empty));
    }

    #[test]
    fn usernames_and_passwords_follow_the_rules() {
        assert!(Username::parse("ann.b-c_9").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("ann b").is_err());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert_eq!(DisplayName::parse("  Ann  ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("a\u{7}").is_err());
    }

    #[test]
    fn message_kinds_are_stored_and_sent_by_the_same_name() {
        for kind in [
            MessageKind::Text,
            MessageKind::Announcement,
            MessageKind::Store,
        ] {
            assert_eq!(MessageKind::parse(kind.as_str()), kind);
            let wire = serde_json::to_value(kind).unwrap();
            assert_eq!(wire, kind.as_str());
        }
        assert_eq!(MessageKind::parse("something new"), MessageKind::Text);
        // The store's account name can never be a login name (db/store_account.rs).
        assert!(Username::parse(crate::db::store_account::STORE_ACCOUNT_NAME).is_err());
    }
}
