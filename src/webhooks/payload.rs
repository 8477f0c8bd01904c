//! The body of a webhook and its signature: the shape docs/protocol.md ("Webhooks") promises
//! the store's backend. Fields are written in the order declared here; the shape only grows.

use crate::auth::signature::hmac_sha256_hex;
use crate::db::models::{StoredMessage, UserRow};
use crate::db::webhooks::{OutboxRow, MESSAGE_CREATED};
use crate::domain::UserInfo;
use serde::Serialize;

/// The JSON the receiver gets.
#[derive(Debug, Serialize)]
struct EventBody<'a> {
    /// The delivery id: the same on every retry, so a receiver drops duplicates by it.
    id: i64,
    /// `conversation.created` or `message.created`.
    event: &'a str,
    /// When it happened (ms since the epoch): when the message was stored.
    ts: i64,
    conversation: Conversation<'a>,
    /// On `message.created` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Message<'a>>,
}

#[derive(Debug, Serialize)]
struct Conversation<'a> {
    /// `support:<customer id>`.
    room: &'a str,
    customer: Customer<'a>,
}

#[derive(Debug, Serialize)]
struct Customer<'a> {
    id: i64,
    name: &'a str,
    role: &'a str,
    /// The store's own id for the customer (identified customers), else null.
    external_id: Option<&'a str>,
    email: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Message<'a> {
    seq: i64,
    id: i64,
    text: &'a str,
    ts: i64,
    kind: &'a str,
    from: &'a UserInfo,
}

/// The body of `row`'s event, from its message and the conversation's customer.
pub fn event_body(row: &OutboxRow, message: &StoredMessage, customer: &UserRow) -> String {
    let body = EventBody {
        id: row.id,
        event: &row.event,
        ts: row.created_at,
        conversation: Conversation {
            room: &row.room,
            customer: Customer {
                id: customer.id,
                name: &customer.username,
                role: &customer.role,
                external_id: customer.external_id.as_deref(),
                email: customer.email.as_deref(),
            },
        },
        message: (row.event == MESSAGE_CREATED).then(|| Message {
            seq: message.seq,
            id: message.id,
            text: &message.text,
            ts: message.ts,
            kind: message.kind.as_str(),
            from: &message.from,
        }),
    };
    // Strings, integers and options only: serialising cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

/// The `X-Chat-Signature` header: `sha256=<hex HMAC-SHA256(secret, body)>` over the exact
/// bytes sent.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(secret, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::signature::verify_hmac_sha256_hex;
    use crate::db::webhooks::CONVERSATION_CREATED;
    use crate::domain::{MessageKind, Role, UserId};

    fn row(event: &str) -> OutboxRow {
        OutboxRow {
            id: 7,
            room: "support:5".into(),
            event: event.into(),
            message_id: 42,
            created_at: 1_765_000_000_000,
            attempts: 1,
            next_attempt_at: 0,
            body: None,
        }
    }

    fn customer() -> UserRow {
        UserRow {
            id: 5,
            username: "Ann".into(),
            role: "user".into(),
            password_hash: Some("never shown".into()),
            banned: false,
            created_at: 0,
            external_id: Some("cust-5".into()),
            email: None,
            merged_into: None,
            active: true,
            availability: "online".into(),
            last_seen_at: None,
            last_page: None,
            display_name: None,
            avatar_color: None,
            last_device: None,
            last_addr: None,
        }
    }

    fn message() -> StoredMessage {
        StoredMessage {
            room: "support:5".into(),
            seq: 1,
            id: 42,
            from: UserInfo {
                id: UserId(5),
                username: "Ann".into(),
                role: Role::User,
                display_name: None,
                avatar_color: None,
            },
            text: "Where is my <order>?".into(),
            ts: 1_765_000_000_000,
            cid: Some("c1".into()),
            kind: MessageKind::Text,
        }
    }

    #[test]
    fn a_message_event_has_the_documented_shape_in_the_documented_order() {
        let body = event_body(&row(MESSAGE_CREATED), &message(), &customer());
        assert_eq!(
            body,
            r#"{"id":7,"event":"message.created","ts":1765000000000,"conversation":{"room":"support:5","customer":{"id":5,"name":"Ann","role":"user","external_id":"cust-5","email":null}},"message":{"seq":1,"id":42,"text":"Where is my <order>?","ts":1765000000000,"kind":"text","from":{"id":5,"username":"Ann","role":"user"}}}"#
        );
    }

    #[test]
    fn a_conversation_event_has_no_message() {
        let body = event_body(&row(CONVERSATION_CREATED), &message(), &customer());
        assert_eq!(
            body,
            r#"{"id":7,"event":"conversation.created","ts":1765000000000,"conversation":{"room":"support:5","customer":{"id":5,"name":"Ann","role":"user","external_id":"cust-5","email":null}}}"#
        );
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_exact_body() {
        let body = event_body(&row(MESSAGE_CREATED), &message(), &customer());
        let header = signature(b"webhook secret", body.as_bytes());
        let hex = header.strip_prefix("sha256=").expect("prefix");
        assert!(verify_hmac_sha256_hex(
            b"webhook secret",
            body.as_bytes(),
            hex
        ));
        assert!(!verify_hmac_sha256_hex(
            b"another secret",
            body.as_bytes(),
            hex
        ));
    }
}
