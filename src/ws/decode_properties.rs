//! Property tests of the frame decoder ([`super::decode`]), the first code that reads what a
//! client sends: whatever the bytes, the session gets a request or a refusal to send back,
//! never a panic (which would kill the connection's actor, or worse). Generated inputs go from
//! raw bytes to JSON-shaped text (nesting, huge numbers, escapes, unicode) to frames of the
//! right shape with random field values and types; proptest shrinks a failure to a small case.
//!
//! Run more cases with `PROPTEST_CASES=20000 cargo test --lib ws::decode_properties`; the fuzz
//! target (fuzz/fuzz_targets/decode_frame.rs) runs the same checks for as long as one likes.

use super::decode::{check_size, parse_frame, to_request, Refusal, Request};
use crate::chat::messages::SessionId;
use crate::domain::ClientMessageId;
use crate::error::ErrorCode;
use crate::protocol::ClientFrame;
use proptest::prelude::*;
use serde_json::{json, Value};

/// The server's defaults (`--max-frame-bytes`, `--max-message-chars`).
const MAX_FRAME: usize = 16 * 1024;
const MAX_CHARS: usize = 4000;

/// What the session does with a text frame, less the rate budget: size, JSON, field rules.
fn decode(text: &str, max_frame: usize, max_chars: usize) -> Result<Request, Refusal> {
    check_size(text, max_frame)?;
    to_request(parse_frame(text)?, SessionId(1), max_chars)
}

/// A refusal a client can act on: one of the codes a frame can earn, a message to show (which
/// may quote the input, escaped, but not grow without bound), and the cid only when valid.
fn assert_sensible(text: &str, refusal: &Refusal, max_frame: usize) {
    let code = refusal.error.code;
    assert!(
        matches!(code, ErrorCode::BadRequest | ErrorCode::TooLarge),
        "unexpected code {code:?} for {text:?}"
    );
    assert_eq!(
        text.len() > max_frame,
        refusal.error.message == format!("frame larger than {max_frame} bytes"),
        "a frame is refused for its size exactly when it is over the limit: {text:?}"
    );
    assert!(!refusal.error.message.is_empty());
    // Debug escaping writes a control byte as `\u{1f}`: at most six bytes per input byte.
    assert!(
        refusal.error.message.len() <= 6 * text.len() + 256,
        "a refusal of {} bytes for a frame of {}",
        refusal.error.message.len(),
        text.len()
    );
    if let Some(cid) = &refusal.cid {
        assert!(
            ClientMessageId::parse(cid).is_ok(),
            "an invalid cid echoed: {cid:?}"
        );
    }
}

/// Decodes and checks that the answer is a request or a sensible refusal.
fn decodes_or_refuses(text: &str, max_frame: usize) -> Result<Request, Refusal> {
    let answer = decode(text, max_frame, MAX_CHARS);
    if let Err(refusal) = &answer {
        assert_sensible(text, refusal, max_frame);
    }
    answer
}

/// The names of the protocol, so that generated objects often look like frames.
const TYPES: &[&str] = &[
    "join", "leave", "send", "typing", "history", "read", "Send", "",
];
const FIELDS: &[&str] = &[
    "type", "room", "text", "cid", "since", "before", "limit", "seq", "on",
];

/// A JSON number as text, from the ordinary to the absurd: i64 and u64 bounds, beyond them,
/// fractions, exponents past f64.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i128>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        prop_oneof![
            Just("-0"),
            Just("1e999"),
            Just("-1e999"),
            Just("1.5e-400"),
            Just("9223372036854775808"),
            Just("-9223372036854775809"),
            Just("18446744073709551616"),
            Just("123456789012345678901234567890123456789"),
            Just("0.0000000000000000000000000000001"),
        ]
        .prop_map(str::to_owned),
    ]
}

/// A JSON string literal: any unicode (escaped by serde_json), or escapes written by hand,
/// lone surrogates and NULs among them.
fn string_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_map(|s| Value::String(s).to_string()),
        "[a-z0-9_:-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        prop_oneof![
            Just(r#""\ud800""#),
            Just(r#""\udc00\ud800""#),
            Just(r#""\u0000""#),
            Just(r#""\uD83D\uDE00""#),
            Just(r#""support:1""#),
            Just(r#""support:0""#),
            Just(r#""support:99999999999999999999""#),
            Just(r#""lobby""#),
            Just(r#""   ""#),
        ]
        .prop_map(str::to_owned),
    ]
}

/// JSON-shaped text: values nested a few levels, objects keyed with the protocol's names (and
/// the same key twice now and then), sometimes cut short.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        number_text(),
        string_text(),
    ];
    let value = leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            3 => prop::sample::select(FIELDS).prop_map(|k| format!("\"{k}\"")),
            1 => string_text(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((key, inner), 0..6).prop_map(|fields| {
                let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    });
    (value, any::<bool>(), any::<prop::sample::Index>()).prop_map(|(text, cut, at)| {
        if cut && !text.is_empty() {
            // A frame cut anywhere, even inside a character.
            let end = at.index(text.len());
            String::from_utf8_lossy(&text.as_bytes()[..end]).into_owned()
        } else {
            text
        }
    })
}

/// A value of any JSON type for a field: often a plausible one, as often not.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z0-9][a-z0-9_-]{0,70}".prop_map(Value::String),
        "support:[0-9]{0,20}".prop_map(Value::String),
        "[ -~]{0,70}".prop_map(Value::String),
        prop::collection::vec(any::<i64>(), 0..3).prop_map(Value::from),
        Just(json!({"room": "lobby"})),
    ]
}

/// A JSON object shaped like a frame: a `type` (usually one of the protocol's), some of the
/// protocol's fields with values of random types, now and then a field of its own. The keys are
/// unique, so the cid a refusal should name is well defined.
fn frame_like() -> impl Strategy<Value = Value> {
    let typ = prop_oneof![
        8 => prop::sample::select(TYPES).prop_map(Value::from),
        1 => field_value(),
    ];
    let fields = prop::collection::btree_map(
        prop_oneof![
            8 => prop::sample::select(&FIELDS[1..]).prop_map(str::to_owned),
            1 => "[a-z]{1,6}",
        ],
        field_value(),
        0..6,
    );
    (prop::option::weighted(0.95, typ), fields).prop_map(|(typ, fields)| {
        let mut object: serde_json::Map<String, Value> = fields.into_iter().collect();
        if let Some(typ) = typ {
            object.insert("type".to_owned(), typ);
        }
        Value::Object(object)
    })
}

/// A room name that passes the rules.
fn valid_room() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9_-]{0,63}",
        (1i64..=999_999_999_999_999_999).prop_map(|id| format!("support:{id}")),
    ]
}

/// A cid that passes the rules: 1-64 printable ASCII characters.
fn valid_cid() -> impl Strategy<Value = String> {
    "[!-~]{1,64}"
}

/// A message text that passes the rules: not blank, at most `MAX_CHARS` characters of any
/// script (so up to four times as many bytes).
fn valid_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}[!-~][ -~]{0,40}",
        prop::collection::vec(any::<char>(), 1..200)
            .prop_map(|chars| chars.into_iter().collect::<String>())
            .prop_filter("not blank", |s| !s.trim().is_empty()),
        Just("é".repeat(MAX_CHARS)),
    ]
}

proptest! {
    #[test]
    fn any_bytes_give_a_request_or_a_refusal(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        max_frame in prop_oneof![Just(MAX_FRAME), 0usize..64],
    ) {
        // The socket hands over text only once it is valid UTF-8; the lossy view keeps every
        // byte pattern the decoder could otherwise meet.
        let text = String::from_utf8_lossy(&bytes);
        decodes_or_refuses(&text, max_frame).ok();
    }

    #[test]
    fn any_string_gives_a_request_or_a_refusal(text in any::<String>()) {
        decodes_or_refuses(&text, MAX_FRAME).ok();
    }

    #[test]
    fn json_shaped_text_gives_a_request_or_a_refusal(
        text in json_text(),
        max_frame in prop_oneof![4 => Just(MAX_FRAME), 1 => 0usize..200],
    ) {
        decodes_or_refuses(&text, max_frame).ok();
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack(
        // serde_json stops at 128 levels; well past that is enough (one deeper case below).
        depth in 0usize..1_000,
        open in prop::sample::select(vec!["[", "{\"room\":", "{\"type\":\"send\",\"cid\":\"c\",\"text\":"]),
    ) {
        let close = if open == "[" { "]" } else { "}" };
        let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        decodes_or_refuses(&text, usize::MAX).ok();
    }

    #[test]
    fn frames_with_random_fields_give_a_request_or_a_refusal_naming_a_readable_cid(
        frame in frame_like(),
    ) {
        let text = frame.to_string();
        let Err(refusal) = decodes_or_refuses(&text, MAX_FRAME) else {
            return Ok(());
        };
        let is_send = frame["type"] == "send";
        let cid = frame["cid"].as_str().filter(|c| ClientMessageId::parse(c).is_ok());
        if let (true, Some(cid)) = (is_send, cid) {
            prop_assert_eq!(refusal.cid.as_deref(), Some(cid), "{}", text);
        }
    }

    #[test]
    fn a_valid_send_round_trips_its_room_text_and_cid(
        room in valid_room(),
        text in valid_text(),
        cid in valid_cid(),
    ) {
        let frame = json!({"type": "send", "room": room, "text": text, "cid": cid}).to_string();
        let request = decodes_or_refuses(&frame, MAX_FRAME);
        let Ok(Request::Publish(publish)) = request else {
            panic!("{frame} gave {request:?}");
        };
        prop_assert_eq!(publish.room.as_str(), room.as_str());
        prop_assert_eq!(publish.text.as_str(), text.as_str());
        prop_assert_eq!(publish.cid.as_str(), cid.as_str());
    }

    #[test]
    fn a_refused_send_with_a_valid_cid_names_it(
        room in prop_oneof![valid_room(), any::<String>()],
        text in prop_oneof![valid_text(), "\\s{0,5}", Just("x".repeat(MAX_CHARS + 1))],
        cid in valid_cid(),
        // Any other field, known or not; never the cid itself, which would void the premise.
        extra in prop::option::of((
            "[a-z]{1,5}".prop_filter("not the cid", |key| key != "cid"),
            field_value(),
        )),
    ) {
        let mut frame = json!({"type": "send", "room": room, "text": text, "cid": cid});
        if let Some((key, value)) = extra {
            frame[key] = value;
        }
        let frame = frame.to_string();
        if let Err(refusal) = decodes_or_refuses(&frame, MAX_FRAME) {
            prop_assert_eq!(refusal.cid.as_deref(), Some(cid.as_str()), "{}", frame);
        }
    }

    #[test]
    fn every_client_frame_parses_back_to_itself(frame in client_frame()) {
        let text = serde_json::to_string(&frame).expect("a frame encodes");
        prop_assert_eq!(parse_frame(&text).expect("its own encoding parses"), frame);
    }
}

#[test]
fn a_hundred_thousand_levels_of_nesting_are_refused_too() {
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let refusal = decodes_or_refuses(&text, usize::MAX).expect_err("not a frame");
    assert_eq!(refusal.error.code, ErrorCode::BadRequest);
}

/// Any client frame, field values of the right types but otherwise arbitrary.
fn client_frame() -> impl Strategy<Value = ClientFrame> {
    let s = || any::<String>();
    let n = || any::<i64>();
    prop_oneof![
        (s(), prop::option::of(n())).prop_map(|(room, since)| ClientFrame::Join { room, since }),
        s().prop_map(|room| ClientFrame::Leave { room }),
        (s(), s(), s(), any::<bool>()).prop_map(|(room, text, cid, note)| {
            ClientFrame::Send {
                room,
                text,
                cid,
                note,
            }
        }),
        (s(), any::<bool>()).prop_map(|(room, on)| ClientFrame::Typing { room, on }),
        (s(), prop::option::of(n()), prop::option::of(n())).prop_map(|(room, before, limit)| {
            ClientFrame::History {
                room,
                before,
                limit,
            }
        }),
        (s(), n()).prop_map(|(room, seq)| ClientFrame::Read { room, seq }),
        n().prop_map(|id| ClientFrame::NotificationRead { id }),
    ]
}
