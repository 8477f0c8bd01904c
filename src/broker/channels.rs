//! The names of the broker's channels and what is published on them.

use super::presence::Change;
use crate::protocol::WireMessage;
use serde::{Deserialize, Serialize};

/// What a node publishes on a room's channel: its id (a node skips its own publications) and
/// either a stored message (handed out in the room's seq order) or a frame of the moment
/// (`typing`, `deleted`) for the room's members on every node as it is.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The publishing node.
    pub node: String,
    /// A stored message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<WireMessage>,
    /// An encoded frame for the room's members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
    /// With `frame`: the user whose own connections do not get it (the one typing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_user: Option<i64>,
    /// A user came into the room through the publishing node, or left it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<Change>,
}

#[derive(Serialize)]
pub(super) struct EnvelopeRef<'a> {
    pub node: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a WireMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_user: Option<i64>,
}

/// A room's presence news as published on its channel (read back as an [`Envelope`]).
#[derive(Serialize)]
pub(super) struct PresenceEnvelope<'a> {
    pub node: &'a str,
    pub presence: &'a Change,
}

/// The channel every node follows for the staff's live list of support conversations.
pub fn staff_channel(prefix: &str) -> String {
    format!("{prefix}:staff")
}

/// The channel every node follows for account changes.
pub fn accounts_channel(prefix: &str) -> String {
    format!("{prefix}:accounts")
}

/// The channel of a room.
pub fn room_channel(prefix: &str, room: &str) -> String {
    format!("{prefix}:room:{room}")
}
