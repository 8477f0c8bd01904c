//! Fuzz target for the frame decoder (src/ws/decode.rs): whatever text a client sends, the
//! session gets a request or a refusal it can send back, never a panic. The same checks as the
//! property tests of src/ws/decode_properties.rs, for as long as libFuzzer is let run.
//!
//! `cargo +nightly fuzz run decode_frame -- -dict=fuzz/decode_frame.dict -max_total_time=120`
//! (from the repository root; see docs/operations.md).

#![no_main]

use chat_server::chat::messages::SessionId;
use chat_server::domain::ClientMessageId;
use chat_server::error::ErrorCode;
use chat_server::ws::decode::{check_size, parse_frame, to_request, Refusal, Request};
use libfuzzer_sys::fuzz_target;

/// What the session does with a text frame, less the rate budget.
fn decode(text: &str, max_frame: usize) -> Result<Request, Refusal> {
    check_size(text, max_frame)?;
    to_request(parse_frame(text)?, SessionId(1), 4000)
}

fuzz_target!(|data: &[u8]| {
    // The socket hands the session a text frame only once it is valid UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The default limit, and a small one so that the size check is crossed too.
    for max_frame in [16 * 1024, 64] {
        let Err(refusal) = decode(text, max_frame) else {
            continue;
        };
        let code = refusal.error.code;
        assert!(
            matches!(code, ErrorCode::BadRequest | ErrorCode::TooLarge),
            "unexpected code {code:?}"
        );
        assert!(!refusal.error.message.is_empty());
        assert!(refusal.error.message.len() <= 6 * text.len() + 256);
        if let Some(cid) = &refusal.cid {
            assert!(
                ClientMessageId::parse(cid).is_ok(),
                "invalid cid {cid:?} echoed"
            );
        }
    }
});
