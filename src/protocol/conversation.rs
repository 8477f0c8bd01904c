//! The support conversation as the staff's console and its frames show it
//! ([`WireConversation`]), built from the database's [`Conversation`] by an explicit
//! conversion, and what changed it ([`ConversationChange`]).

use super::WireMessage;
use crate::db::conversations::Conversation;
use crate::domain::{ConversationStatus, UserInfo};
use serde::{Deserialize, Serialize};

/// One conversation: an item of `GET /api/admin/conversations`, the answer of its other
/// endpoints and the `conversation` of a `conversation_updated` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireConversation {
    /// `support:<id>`.
    pub room: String,
    /// The customer.
    pub customer: UserInfo,
    /// Whether the customer is banned.
    pub banned: bool,
    /// Whether the customer has a connection open.
    pub online: bool,
    /// Messages by others after the asking staff member's read cursor (in a frame about a
    /// change nobody on the staff made: after the furthest staff read cursor).
    pub unread: i64,
    /// The room's newest seq.
    pub last_seq: i64,
    /// The newest visible message.
    pub last_message: Option<WireMessage>,
    /// When its newest message was stored (ms).
    pub last_activity: i64,
    /// The address the customer wants to be answered by (null when not given).
    pub email: Option<String>,
    /// The store's id for an identified customer (null for others).
    pub external_id: Option<String>,
    /// `open`, `pending` or `resolved`.
    pub status: ConversationStatus,
    /// The staff member who handles it.
    pub assignee: Option<UserInfo>,
    /// When its first message was stored (ms).
    pub created_at: i64,
    /// How far the customer has read.
    pub customer_read_seq: i64,
    /// How far the staff member who read furthest has read.
    pub staff_read_seq: i64,
}

impl WireConversation {
    /// The wire form of a stored conversation; `online` is the chat server's to say.
    pub fn new(c: Conversation, online: bool) -> WireConversation {
        WireConversation {
            room: c.room.to_string(),
            banned: c.customer.banned,
            customer: c.customer.info(),
            online,
            unread: c.unread,
            last_seq: c.last_seq,
            last_message: c.last_message.map(WireMessage::from),
            last_activity: c.last_activity,
            email: c.customer.email,
            external_id: c.customer.external_id,
            status: c.status,
            assignee: c.assignee,
            created_at: c.created_at,
            customer_read_seq: c.customer_read_seq,
            staff_read_seq: c.staff_read_seq,
        }
    }
}

/// What a `conversation_updated` frame is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationChange {
    /// Its first message was stored (and, with `--auto-assign`, it may have an assignee).
    Created,
    /// A staff member set its status.
    Status,
    /// A staff member assigned or unassigned it.
    Assign,
    /// The customer (or the store) wrote into it while it was resolved.
    Reopened,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, UserId};
    use crate::protocol::ServerFrame;
    use serde_json::json;

    fn user(id: i64, username: &str, role: Role) -> UserInfo {
        UserInfo {
            id: UserId(id),
            username: username.into(),
            role,
            display_name: None,
            avatar_color: None,
        }
    }

    fn round_trip(frame: &ServerFrame, expected: serde_json::Value) {
        let value: serde_json::Value = serde_json::from_str(&frame.encode()).unwrap();
        assert_eq!(value, expected);
        let back: ServerFrame = serde_json::from_value(value).unwrap();
        assert_eq!(&back, frame);
    }

    #[test]
    fn a_conversation_update_names_the_change_and_who_made_it() {
        let frame = ServerFrame::ConversationUpdated {
            conversation: WireConversation {
                room: "support:7".into(),
                customer: user(7, "ann", Role::Guest),
                banned: false,
                online: true,
                unread: 2,
                last_seq: 4,
                last_message: None,
                last_activity: 1000,
                email: None,
                external_id: Some("c-7".into()),
                status: ConversationStatus::Resolved,
                assignee: Some(user(2, "bob", Role::Agent)),
                created_at: 900,
                customer_read_seq: 3,
                staff_read_seq: 4,
            },
            change: ConversationChange::Status,
            by: Some(user(2, "bob", Role::Agent)),
        };
        round_trip(
            &frame,
            json!({
                "type": "conversation_updated",
                "conversation": {
                    "room": "support:7",
                    "customer": {"id": 7, "username": "ann", "role": "guest"},
                    "banned": false, "online": true, "unread": 2, "last_seq": 4,
                    "last_message": null, "last_activity": 1000, "email": null,
                    "external_id": "c-7", "status": "resolved",
                    "assignee": {"id": 2, "username": "bob", "role": "agent"},
                    "created_at": 900, "customer_read_seq": 3, "staff_read_seq": 4
                },
                "change": "status",
                "by": {"id": 2, "username": "bob", "role": "agent"}
            }),
        );
        for (change, name) in [
            (ConversationChange::Created, "created"),
            (ConversationChange::Assign, "assign"),
            (ConversationChange::Reopened, "reopened"),
        ] {
            assert_eq!(serde_json::to_value(change).unwrap(), json!(name));
        }
    }

    #[test]
    fn the_viewers_of_a_conversation_are_listed_by_user() {
        let frame = ServerFrame::ConversationViewers {
            room: "support:7".into(),
            viewers: vec![user(1, "staff", Role::Admin), user(2, "bob", Role::Agent)],
        };
        round_trip(
            &frame,
            json!({
                "type": "conversation_viewers",
                "room": "support:7",
                "viewers": [
                    {"id": 1, "username": "staff", "role": "admin"},
                    {"id": 2, "username": "bob", "role": "agent"}
                ]
            }),
        );
    }
}
