//! What the subscription connection hears, as the chat server wants it.

use redis::{PushInfo, PushKind, Value};

/// What the subscription connection tells the chat server.
#[derive(Debug)]
pub enum BrokerPush {
    /// A publication on a room's channel.
    Message {
        /// The room's name (the channel without its prefix).
        room: String,
        /// The payload, an [`Envelope`](super::Envelope) in JSON.
        payload: Vec<u8>,
    },
    /// The subscription to a room's channel is in place (also after a reconnect).
    Subscribed {
        /// The room's name.
        room: String,
    },
    /// A message another node stored in a support conversation or its notes thread, for the
    /// staff connected here (an [`Envelope`](super::Envelope) in JSON).
    StaffActivity {
        /// The payload.
        payload: Vec<u8>,
    },
    /// A publication on a user's channel (an [`Envelope`](super::Envelope) in JSON with a
    /// `frame` for the user's connections).
    UserFrame {
        /// The user's id.
        user: i64,
        /// The payload.
        payload: Vec<u8>,
    },
    /// An account changed on another node (a ban, a role): read it again here.
    AccountChanged {
        /// The account's id.
        user: i64,
    },
    /// The connection to Redis was lost: publications are missed until it is back.
    Disconnected,
    /// The subscription to a channel every node follows is in place: Redis answers (at the
    /// first connection, also when the node started while Redis was away, and after every
    /// reconnect, also when no room is followed here).
    Connected,
    /// A node's presence news (a [`Change`](super::presence::Change) in JSON).
    Presence {
        /// The payload.
        payload: Vec<u8>,
    },
}

/// A RESP3 push as the chat server wants it, or nothing for pushes it does not care about.
pub(super) fn translate(
    room_prefix: &str,
    user_prefix: &str,
    accounts: &str,
    staff: &str,
    push: PushInfo,
) -> Option<BrokerPush> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    };
    let room_of = |v: &Value| {
        let channel = String::from_utf8(text(v)?).ok()?;
        channel.strip_prefix(room_prefix).map(str::to_owned)
    };
    match push.kind {
        PushKind::Message => {
            let channel = text(push.data.first()?)?;
            if channel == staff.as_bytes() {
                return Some(BrokerPush::StaffActivity {
                    payload: text(push.data.get(1)?)?,
                });
            }
            if channel == accounts.as_bytes() {
                let user = String::from_utf8(text(push.data.get(1)?)?).ok()?;
                return Some(BrokerPush::AccountChanged {
                    user: user.parse().ok()?,
                });
            }
            if let Some(user) = channel.strip_prefix(user_prefix.as_bytes()) {
                return Some(BrokerPush::UserFrame {
                    user: std::str::from_utf8(user).ok()?.parse().ok()?,
                    payload: text(push.data.get(1)?)?,
                });
            }
            let room = room_of(push.data.first()?)?;
            let payload = text(push.data.get(1)?)?;
            Some(BrokerPush::Message { room, payload })
        }
        PushKind::Subscribe => {
            let channel = text(push.data.first()?)?;
            if channel == accounts.as_bytes() || channel == staff.as_bytes() {
                return Some(BrokerPush::Connected);
            }
            Some(BrokerPush::Subscribed {
                room: room_of(push.data.first()?)?,
            })
        }
        PushKind::Disconnection => Some(BrokerPush::Disconnected),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the chat server hears of a push, in the deployment `chat`.
    fn heard(kind: PushKind, channel: &str, second: Value) -> Option<BrokerPush> {
        let push = PushInfo {
            kind,
            data: vec![Value::BulkString(channel.as_bytes().to_vec()), second],
        };
        translate(
            "chat:room:",
            "chat:user:",
            "chat:accounts",
            "chat:staff",
            push,
        )
    }

    /// A publication of `payload` on `channel`.
    fn published(channel: &str, payload: &str) -> Option<BrokerPush> {
        let payload = Value::BulkString(payload.as_bytes().to_vec());
        heard(PushKind::Message, channel, payload)
    }

    #[test]
    fn a_publication_on_a_room_channel_becomes_a_message_of_that_room() {
        match published("chat:room:lobby", "{}") {
            Some(BrokerPush::Message { room, payload }) => {
                assert_eq!(room, "lobby");
                assert_eq!(payload, b"{}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_account_change_names_its_user() {
        match published("chat:accounts", "42") {
            Some(BrokerPush::AccountChanged { user }) => assert_eq!(user, 42),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_publication_on_a_users_channel_names_its_user() {
        match published("chat:user:7", "{}") {
            Some(BrokerPush::UserFrame { user, payload }) => {
                assert_eq!(user, 7);
                assert_eq!(payload, b"{}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_subscription_to_a_fixed_channel_says_redis_answers() {
        for channel in ["chat:accounts", "chat:staff"] {
            let said = heard(PushKind::Subscribe, channel, Value::Int(1));
            assert!(matches!(said, Some(BrokerPush::Connected)), "{said:?}");
        }
        match heard(PushKind::Subscribe, "chat:room:lobby", Value::Int(1)) {
            Some(BrokerPush::Subscribed { room }) => assert_eq!(room, "lobby"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_deployments_channel_is_ignored() {
        assert!(published("other:room:lobby", "{}").is_none());
    }
}
