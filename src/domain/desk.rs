//! The support desk's values: a staff member's availability and a conversation's status, read
//! from the wire or the database once and trusted inside.

use super::{invalid, InvalidInput};
use serde::{Deserialize, Serialize};

/// Whether a staff member takes conversations now: shown to the team; only `online` staff with
/// an open console count as "staff online" for customers and get conversations assigned
/// automatically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Answering customers.
    Online,
    /// At the desk but not taking new conversations.
    Busy,
    /// Away.
    Offline,
}

impl Availability {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Online => "online",
            Availability::Busy => "busy",
            Availability::Offline => "offline",
        }
    }

    /// Reads a stored or sent name.
    pub fn parse(s: &str) -> Result<Availability, InvalidInput> {
        match s {
            "online" => Ok(Availability::Online),
            "busy" => Ok(Availability::Busy),
            "offline" => Ok(Availability::Offline),
            _ => Err(invalid(format!(
                "invalid availability {s:?}: use online, busy or offline"
            ))),
        }
    }
}

/// Where a support conversation stands: `open` (waiting for the staff), `pending` (waiting for
/// the customer or a third party), `resolved` (done; the customer's next message reopens it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// Needs the staff.
    Open,
    /// Waiting on the customer or someone else.
    Pending,
    /// Done.
    Resolved,
}

impl ConversationStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Pending => "pending",
            ConversationStatus::Resolved => "resolved",
        }
    }

    /// Reads a stored or sent name.
    pub fn parse(s: &str) -> Result<ConversationStatus, InvalidInput> {
        match s {
            "open" => Ok(ConversationStatus::Open),
            "pending" => Ok(ConversationStatus::Pending),
            "resolved" => Ok(ConversationStatus::Resolved),
            _ => Err(invalid(format!(
                "invalid status {s:?}: use open, pending or resolved"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_availabilities_read_back_what_they_write() {
        for s in ["open", "pending", "resolved"] {
            assert_eq!(ConversationStatus::parse(s).unwrap().as_str(), s);
        }
        for a in ["online", "busy", "offline"] {
            assert_eq!(Availability::parse(a).unwrap().as_str(), a);
        }
        assert!(ConversationStatus::parse("closed").is_err());
        assert!(Availability::parse("away").is_err());
    }
}
