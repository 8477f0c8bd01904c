//! Bad input never crashes anything: a clear `error` frame, and the connection stays open
//! where that is safe; closes with the right code where it is not.

use crate::helpers::*;
use crate::on_both_backends;
use actix_http::ws::Item;
use awc::ws::Message;
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    frames_that_are_not_valid_requests_get_bad_request_and_the_connection_stays_open,
    binary_frames_are_refused_and_the_connection_stays_open,
    a_message_over_the_character_limit_is_too_large,
    a_frame_over_the_size_limit_is_too_large_and_one_far_over_closes_with_1009,
    a_fragmented_message_is_reassembled_within_the_size_limit,
    text_that_is_not_utf8_closes_the_connection_with_1007,
    a_client_sending_too_fast_is_rate_limited,
    a_client_that_stops_reading_is_closed_instead_of_filling_memory,
);

/// The connection still works: a join is answered.
async fn still_open(client: &mut WsClient) {
    let joined = client.join("still-open").await;
    assert_eq!(joined["type"], "joined");
    client
        .send(json!({"type": "leave", "room": "still-open"}))
        .await;
}

async fn frames_that_are_not_valid_requests_get_bad_request_and_the_connection_stays_open(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    let cases: Vec<(String, Option<&str>)> = vec![
        ("not json at all".into(), None),
        ("null".into(), None),
        ("[1, 2]".into(), None),
        ("{}".into(), None),
        (json!({"type": "shout", "room": "lobby"}).to_string(), None),
        (json!({"type": "join"}).to_string(), None),
        (
            json!({"type": "join", "room": "Not A Room"}).to_string(),
            None,
        ),
        (
            json!({"type": "join", "room": "support:abc"}).to_string(),
            None,
        ),
        (
            json!({"type": "join", "room": "lobby", "since": -5}).to_string(),
            None,
        ),
        (
            json!({"type": "send", "room": "lobby", "text": "hi"}).to_string(),
            None,
        ),
        (
            json!({"type": "send", "room": "lobby", "text": "   ", "cid": "c-blank"}).to_string(),
            Some("c-blank"),
        ),
        (
            json!({"type": "send", "room": "lobby", "text": 7, "cid": "c-num"}).to_string(),
            Some("c-num"),
        ),
        (
            json!({"type": "send", "room": "lobby", "text": "hi", "cid": ""}).to_string(),
            None,
        ),
        (
            json!({"type": "send", "room": "lobby", "text": "hi", "cid": "x".repeat(65)})
                .to_string(),
            None,
        ),
        (
            json!({"type": "send", "room": "BAD", "text": "hi", "cid": "c-room"}).to_string(),
            Some("c-room"),
        ),
        (
            json!({"type": "typing", "room": "lobby", "on": "yes"}).to_string(),
            None,
        ),
        (
            json!({"type": "typing", "room": "elsewhere", "on": true}).to_string(),
            None,
        ),
        (
            json!({"type": "history", "room": "lobby", "limit": 0}).to_string(),
            None,
        ),
        (
            json!({"type": "history", "room": "lobby", "limit": 101}).to_string(),
            None,
        ),
        (
            json!({"type": "history", "room": "lobby", "before": 0}).to_string(),
            None,
        ),
        (
            json!({"type": "read", "room": "lobby", "seq": -1}).to_string(),
            None,
        ),
        (
            json!({"type": "join", "room": "lobby", "extra": 1}).to_string(),
            None,
        ),
    ];
    for (text, cid) in cases {
        ann.send_text(&text).await;
        let refused = ann.expect("error").await;
        assert_eq!(refused["code"], "bad_request", "{text} -> {refused}");
        assert!(refused["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(
            refused.get("cid").and_then(Value::as_str),
            cid,
            "{text} -> {refused}"
        );
    }
    still_open(&mut ann).await;
}

async fn binary_frames_are_refused_and_the_connection_stays_open(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.guest("G").await;
    let mut client = app.connect(&token).await;
    client
        .send_raw(Message::Binary(actix_web::web::Bytes::from_static(
            b"\x00\x01binary",
        )))
        .await;
    assert_eq!(client.expect("error").await["code"], "bad_request");
    client
        .send_raw(Message::Continuation(Item::FirstBinary(
            actix_web::web::Bytes::from_static(b"ab"),
        )))
        .await;
    client
        .send_raw(Message::Continuation(Item::Last(
            actix_web::web::Bytes::from_static(b"cd"),
        )))
        .await;
    assert_eq!(client.expect("error").await["code"], "bad_request");
    still_open(&mut client).await;
}

async fn a_message_over_the_character_limit_is_too_large(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.guest("G").await;
    let mut client = app.connect(&token).await;
    client.join("lobby").await;
    // 4,000 characters of two bytes each: at the limit, and accepted.
    let at_limit = "é".repeat(4000);
    assert_eq!(client.say("lobby", &at_limit, "ok-1").await, 1);
    client
        .send(json!({"type": "send", "room": "lobby", "text": "é".repeat(4001), "cid": "long-1"}))
        .await;
    let refused = client.expect("error").await;
    assert_eq!(
        (refused["code"].clone(), refused["cid"].clone()),
        (json!("too_large"), json!("long-1"))
    );
    assert_eq!(client.say("lobby", "short again", "ok-2").await, 2);
}

async fn a_frame_over_the_size_limit_is_too_large_and_one_far_over_closes_with_1009(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.guest("G").await;
    let mut client = app.connect(&token).await;
    let over =
        json!({"type": "send", "room": "lobby", "text": "x".repeat(17 * 1024), "cid": "big"})
            .to_string();
    client.send_text(&over).await;
    assert_eq!(client.expect("error").await["code"], "too_large");
    still_open(&mut client).await;

    let far_over = "x".repeat(1 << 20);
    client.send_text(&far_over).await;
    let refused = client.expect("error").await;
    assert_eq!(refused["code"], "too_large");
    assert_eq!(client.expect_close().await, Some(1009));
}

async fn a_fragmented_message_is_reassembled_within_the_size_limit(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.guest("G").await;
    let mut client = app.connect(&token).await;
    client.join("lobby").await;
    client
        .send_fragmented(&[
            r#"{"type":"send","room":"lob"#,
            r#"by","text":"in three "#,
            r#"pieces","cid":"f1"}"#,
        ])
        .await;
    let message = client.expect("message").await;
    assert_eq!(message["text"], "in three pieces");
    client.expect("ack").await;

    let chunk = "y".repeat(8 * 1024);
    client
        .send_fragmented(&[
            r#"{"type":"send","room":"lobby","text":""#,
            &chunk,
            &chunk,
            &chunk,
            r#"","cid":"f2"}"#,
        ])
        .await;
    assert_eq!(client.expect("error").await["code"], "too_large");
    assert_eq!(client.say("lobby", "still here", "f3").await, 2);
}

async fn text_that_is_not_utf8_closes_the_connection_with_1007(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.guest("G").await;
    let mut raw = RawClient::open(app.address, &token, None).await;
    let (opcode, hello) = raw.read_frame().await.expect("hello");
    assert_eq!(opcode, 1);
    assert!(hello.starts_with(br#"{"type":"hello""#));
    raw.send_frame(1, b"{\"type\":\"join\",\"room\":\"\xff\xfe\"}")
        .await;
    assert_eq!(raw.read_until_close().await, Some(1007));

    // The same inside a fragmented message.
    let mut client = app.connect(&token).await;
    client
        .send_raw(Message::Continuation(Item::FirstText(
            actix_web::web::Bytes::from_static(b"{\"a\":\"\xc3"),
        )))
        .await;
    client
        .send_raw(Message::Continuation(Item::Last(
            actix_web::web::Bytes::from_static(b"\x28\"}"),
        )))
        .await;
    assert_eq!(client.expect_close().await, Some(1007));
}

async fn a_client_sending_too_fast_is_rate_limited(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.rate_per_sec = 2.0;
        s.rate_burst = 4.0;
    })
    .await;
    let (token, _) = app.guest("G").await;
    let mut client = app.connect(&token).await;
    client.join("lobby").await; // 1 of 4
    for i in 0..5 {
        client
            .send(json!({"type": "send", "room": "lobby", "text": "spam", "cid": format!("s{i}")}))
            .await;
    }
    let mut acked = Vec::new();
    let mut limited = Vec::new();
    while acked.len() + limited.len() < 5 {
        let frame = client.recv().await;
        match frame["type"].as_str() {
            Some("ack") => acked.push(frame["cid"].as_str().unwrap().to_owned()),
            Some("error") => {
                assert_eq!(frame["code"], "rate_limited");
                limited.push(frame["cid"].as_str().unwrap().to_owned());
            }
            _ => {}
        }
    }
    assert_eq!(acked, vec!["s0", "s1", "s2"]);
    assert_eq!(limited, vec!["s3", "s4"]);
    // The budget comes back with time.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(client.say("lobby", "patient", "s5").await, 4);
}

async fn a_client_that_stops_reading_is_closed_instead_of_filling_memory(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.session_queue = 32;
        s.rate_per_sec = 100_000.0;
        s.rate_burst = 100_000.0;
    })
    .await;
    let (bob_token, _) = app.register("bob").await;
    let (slow_token, _) = app.register("slowpoke").await;
    let mut bob = app.connect(&bob_token).await;
    bob.join("lobby").await;
    let mut slow = RawClient::open(app.address, &slow_token, Some(4096)).await;
    slow.send_frame(1, br#"{"type":"join","room":"lobby"}"#)
        .await;
    assert_eq!(bob.expect("presence").await["online"], true);

    // Bob talks; the slow client never reads a byte. Its socket buffers fill, then its bounded
    // queue, and the server closes it: Bob sees it go offline.
    let text = "z".repeat(4000);
    let mut went_offline = false;
    'talk: for round in 0..200 {
        for i in 0..25 {
            bob.send(json!({"type": "send", "room": "lobby", "text": text, "cid": format!("r{round}-{i}")})).await;
        }
        let mut acks = 0;
        while acks < 25 {
            let frame = bob.recv().await;
            match frame["type"].as_str() {
                Some("ack") => acks += 1,
                Some("presence") if frame["online"] == false => {
                    went_offline = true;
                    break 'talk;
                }
                _ => {}
            }
        }
    }
    assert!(
        went_offline,
        "the slow client was never closed: its frames pile up without bound"
    );
    // What it finally reads ends with the close that tells it to resume with since.
    assert_eq!(slow.read_until_close().await, Some(1013));
}
