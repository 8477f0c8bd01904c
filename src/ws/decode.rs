//! From a client's text frame to a request for the chat server: the size limit, the JSON and
//! the field rules, each refusal with the code and message the client gets (and the cid of a
//! refused `send`). Plain functions: the session spends the rate budget between
//! [`check_size`] and [`parse_frame`], and forwards what [`to_request`] gives.

use crate::chat::messages::{
    GetHistory, Join, Leave, MarkNotificationRead, MarkRead, Publish, SessionId, SetTyping,
};
use crate::domain::{ClientMessageId, MessageText, RoomName};
use crate::error::{AppError, ErrorCode};
use crate::protocol::ClientFrame;

/// Page size of `history` when the client names none.
pub const DEFAULT_PAGE: i64 = 50;
/// The largest `history` page.
pub const MAX_PAGE: i64 = 100;

/// Why a frame was refused (the one error shape of every layer), and the cid to echo if it
/// was a `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the client is told.
    pub error: AppError,
    /// The cid of the refused `send`, if it had a usable one.
    pub cid: Option<String>,
}

impl Refusal {
    /// A refusal with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal::from(AppError::new(code, message))
    }

    /// `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new(ErrorCode::BadRequest, message)
    }

    /// The same refusal naming this cid.
    pub fn with_cid(mut self, cid: Option<&str>) -> Refusal {
        self.cid = cid.map(str::to_owned);
        self
    }
}

impl From<AppError> for Refusal {
    fn from(error: AppError) -> Refusal {
        Refusal { error, cid: None }
    }
}

/// A checked request, ready for the chat server.
#[derive(Debug)]
pub enum Request {
    /// `join`.
    Join(Join),
    /// `leave`.
    Leave(Leave),
    /// `send`.
    Publish(Publish),
    /// `typing`.
    Typing(SetTyping),
    /// `history`.
    History(GetHistory),
    /// `read`.
    Read(MarkRead),
    /// `notification_read`.
    NotificationRead(MarkNotificationRead),
}

/// Refuses a frame over `max_frame_bytes` before anything else is done with it.
pub fn check_size(text: &str, max_frame_bytes: usize) -> Result<(), Refusal> {
    if text.len() > max_frame_bytes {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!("frame larger than {max_frame_bytes} bytes"),
        ));
    }
    Ok(())
}

/// The frame as JSON, if it is one of the client frames.
pub fn parse_frame(text: &str) -> Result<ClientFrame, Refusal> {
    serde_json::from_str::<ClientFrame>(text).map_err(|e| {
        Refusal::bad_request(format!("invalid frame: {e}")).with_cid(probe_cid(text).as_deref())
    })
}

/// The refusal of a frame over the connection's rate.
pub fn rate_refusal(rate_per_sec: f64, rate_burst: f64) -> Refusal {
    Refusal::new(
        ErrorCode::RateLimited,
        format!("too many frames: at most {rate_per_sec} per second (bursts of {rate_burst})"),
    )
}

/// The cid of a `send` frame, for refusals that name it.
pub fn send_cid(frame: &ClientFrame) -> Option<&str> {
    match frame {
        ClientFrame::Send { cid, .. } => Some(cid.as_str()),
        _ => None,
    }
}

/// The request a frame asks for, once its fields pass the rules of docs/protocol.md.
pub fn to_request(
    frame: ClientFrame,
    session: SessionId,
    max_message_chars: usize,
) -> Result<Request, Refusal> {
    let request = match frame {
        ClientFrame::Join { room: name, since } => {
            let room = room(&name)?;
            if since.is_some_and(|s| s < 0) {
                return Err(Refusal::bad_request("since must be 0 or more"));
            }
            Request::Join(Join {
                session,
                room,
                since,
            })
        }
        ClientFrame::Leave { room: name } => Request::Leave(Leave {
            session,
            room: room(&name)?,
        }),
        ClientFrame::Send {
            room: name,
            text,
            cid,
            note,
        } => {
            let cid = ClientMessageId::parse(&cid).map_err(|e| Refusal::bad_request(e.0))?;
            let with_cid = |r: Refusal| r.with_cid(Some(cid.as_str()));
            let room = room(&name).map_err(with_cid)?;
            let text = MessageText::parse(text, max_message_chars)
                .map_err(|e| with_cid(Refusal::new(ErrorCode::from(&e), e.to_string())))?;
            Request::Publish(Publish {
                session,
                room,
                text,
                cid,
                note,
            })
        }
        ClientFrame::Typing { room: name, on } => Request::Typing(SetTyping {
            session,
            room: room(&name)?,
            on,
        }),
        ClientFrame::History {
            room: name,
            before,
            limit,
        } => {
            let room = room(&name)?;
            if before.is_some_and(|b| b < 1) {
                return Err(Refusal::bad_request("before must be 1 or more"));
            }
            let limit = limit.unwrap_or(DEFAULT_PAGE);
            if !(1..=MAX_PAGE).contains(&limit) {
                return Err(Refusal::bad_request(format!("limit must be 1-{MAX_PAGE}")));
            }
            Request::History(GetHistory {
                session,
                room,
                before,
                limit,
            })
        }
        ClientFrame::Read { room: name, seq } => {
            let room = room(&name)?;
            if seq < 0 {
                return Err(Refusal::bad_request("seq must be 0 or more"));
            }
            Request::Read(MarkRead { session, room, seq })
        }
        ClientFrame::NotificationRead { id } => {
            if id < 1 {
                return Err(Refusal::bad_request("id must be 1 or more"));
            }
            Request::NotificationRead(MarkNotificationRead { session, id })
        }
    };
    Ok(request)
}

/// The refusal of a binary frame.
pub fn binary_refusal() -> Refusal {
    Refusal::bad_request("binary frames are not supported: send JSON text frames")
}

fn room(raw: &str) -> Result<RoomName, Refusal> {
    RoomName::parse(raw).map_err(|e| Refusal::bad_request(e.0))
}

/// The `cid` of a frame that did not parse, so that the error can name the failed send.
fn probe_cid(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        cid: Option<String>,
    }
    let probe: Probe = serde_json::from_str(text).ok()?;
    probe.cid.filter(|cid| ClientMessageId::parse(cid).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<Request, Refusal> {
        check_size(text, 1024)?;
        to_request(parse_frame(text)?, SessionId(1), 10)
    }

    fn refusal(text: &str) -> Refusal {
        decode(text).expect_err(text)
    }

    #[test]
    fn a_valid_send_becomes_a_publish_with_its_checked_fields() {
        let request = decode(r#"{"type":"send","room":"lobby","text":"hi","cid":"c-1"}"#);
        let Ok(Request::Publish(publish)) = request else {
            panic!("{request:?}");
        };
        assert_eq!(publish.room.as_str(), "lobby");
        assert_eq!(publish.text.as_str(), "hi");
        assert_eq!(publish.cid.as_str(), "c-1");
        assert!(!publish.note, "a send without note is not one");
        let request =
            decode(r#"{"type":"send","room":"support:5","text":"vip","cid":"c-2","note":true}"#);
        let Ok(Request::Publish(note)) = request else {
            panic!("{request:?}");
        };
        assert!(note.note);
        assert_eq!(
            note.room.as_str(),
            "support:5",
            "the chat server picks the thread"
        );
        let not_a_flag =
            refusal(r#"{"type":"send","room":"support:5","text":"x","cid":"c-3","note":1}"#);
        assert_eq!(not_a_flag.error.code, ErrorCode::BadRequest);
        assert_eq!(not_a_flag.cid.as_deref(), Some("c-3"));
    }

    #[test]
    fn a_refused_send_names_its_cid_even_when_the_frame_does_not_parse() {
        let too_long =
            refusal(r#"{"type":"send","room":"lobby","text":"0123456789x","cid":"c-2"}"#);
        assert_eq!(too_long.error.code, ErrorCode::TooLarge);
        assert_eq!(too_long.cid.as_deref(), Some("c-2"));
        let bad_room = refusal(r#"{"type":"send","room":"No Room","text":"hi","cid":"c-3"}"#);
        assert_eq!(bad_room.cid.as_deref(), Some("c-3"));
        let unknown_field =
            refusal(r#"{"type":"send","room":"lobby","text":"hi","cid":"c-4","x":1}"#);
        assert_eq!(unknown_field.error.code, ErrorCode::BadRequest);
        assert_eq!(unknown_field.cid.as_deref(), Some("c-4"));
    }

    #[test]
    fn field_rules_refuse_out_of_range_numbers() {
        for text in [
            r#"{"type":"join","room":"lobby","since":-1}"#,
            r#"{"type":"history","room":"lobby","before":0}"#,
            r#"{"type":"history","room":"lobby","limit":101}"#,
            r#"{"type":"read","room":"lobby","seq":-5}"#,
            r#"{"type":"notification_read","id":0}"#,
            r#"{"type":"notification_read","id":"7"}"#,
        ] {
            assert_eq!(refusal(text).error.code, ErrorCode::BadRequest, "{text}");
        }
        let Ok(Request::History(page)) = decode(r#"{"type":"history","room":"lobby"}"#) else {
            panic!("a history frame without limit is valid");
        };
        assert_eq!(page.limit, DEFAULT_PAGE);
        let read = decode(r#"{"type":"notification_read","id":7}"#);
        let Ok(Request::NotificationRead(read)) = read else {
            panic!("{read:?}");
        };
        assert_eq!(read.id, 7);
    }

    #[test]
    fn a_frame_over_the_size_limit_is_too_large_before_it_is_parsed() {
        let refusal = check_size(&"x".repeat(1025), 1024).unwrap_err();
        assert_eq!(refusal.error.code, ErrorCode::TooLarge);
        assert_eq!(refusal.error.message, "frame larger than 1024 bytes");
    }
}
