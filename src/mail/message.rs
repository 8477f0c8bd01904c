//! The email itself: subject and plain text with each unread staff reply (author, time, text)
//! and the link back to the conversation. Plain text only: nothing from the chat is ever
//! interpreted as markup, and every mail client shows it.

use crate::db::email_outbox::Reply;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;
use std::time::{Duration, UNIX_EPOCH};

/// The parts of one email, before they become a MIME message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// Where the customer reads the conversation: the chat page of this server, which opens their
/// support conversation once they are signed in.
pub fn link(public_url: &str) -> String {
    format!("{}/", public_url.trim_end_matches('/'))
}

/// The subject and body for `name` with `replies` (oldest first, at least one).
pub fn compose(name: &str, replies: &[Reply], public_url: &str) -> Composed {
    let subject = match replies.len() {
        1 => "You have a new reply from support".to_owned(),
        n => format!("You have {n} new replies from support"),
    };
    let mut body = format!("Hello {name},\n\n");
    body.push_str("Our support team answered you while you were away:\n\n");
    for reply in replies {
        body.push_str(&format!(
            "{} wrote at {}:\n{}\n\n",
            reply.author,
            when(reply.ts),
            reply.text
        ));
    }
    body.push_str(&format!(
        "Read and answer in your support conversation: {}\n\n\
         You get this email because these replies were not read in the chat. Once you read \
         them there, no email is sent for them.\n",
        link(public_url)
    ));
    Composed { subject, body }
}

/// A time stored in ms as a person reads it, in UTC: "2026-12-06 18:40 UTC".
pub fn when(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    let stamp = humantime::format_rfc3339_seconds(at).to_string();
    // "2026-12-06T18:40:00Z"
    format!("{} {} UTC", &stamp[..10], &stamp[11..16])
}

/// The MIME message from `from` to `to` (an address stored by `PATCH /api/me` or identify, so
/// already checked; refused here only if the email library disagrees).
pub fn build(from: &Mailbox, to: &str, composed: &Composed) -> Result<Message, String> {
    let to: Mailbox = to
        .parse()
        .map_err(|e| format!("the address {to:?} is not usable: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(composed.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(composed.body.clone())
        .map_err(|e| format!("the email could not be built: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(seq: i64, author: &str, text: &str) -> Reply {
        Reply {
            seq,
            // 2026-12-06 18:40:00 UTC
            ts: 1_796_582_400_000,
            author: author.into(),
            text: text.into(),
        }
    }

    #[test]
    fn an_email_lists_each_reply_with_author_time_and_text_and_links_back() {
        let composed = compose(
            "ann",
            &[
                reply(2, "bob", "Your parcel left today."),
                reply(4, "eve", "Tracking: 123"),
            ],
            "https://chat.shop.example/",
        );
        assert_eq!(composed.subject, "You have 2 new replies from support");
        let body = &composed.body;
        assert!(body.starts_with("Hello ann,"), "{body}");
        assert!(body.contains("bob wrote at 2026-12-06 18:40 UTC:\nYour parcel left today."));
        assert!(body.contains("eve wrote at"), "{body}");
        assert!(
            body.find("bob").unwrap() < body.find("eve").unwrap(),
            "oldest first"
        );
        assert!(body.contains("https://chat.shop.example/\n"), "{body}");
        let one = compose("ann", &[reply(2, "bob", "hi")], "http://127.0.0.1:8080");
        assert_eq!(one.subject, "You have a new reply from support");
    }

    #[test]
    fn the_mime_message_has_sender_recipient_and_subject() {
        let from: Mailbox = "Shop support <support@shop.example>".parse().unwrap();
        let composed = compose("ann", &[reply(1, "bob", "héllo")], "http://x");
        let message = build(&from, "ann@example.com", &composed).unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(text.contains("To: ann@example.com"), "{text}");
        assert!(text.contains("Subject: You have a new reply from support"));
        assert!(build(&from, "not an address", &composed).is_err());
    }
}
