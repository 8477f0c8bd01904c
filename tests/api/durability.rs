//! What an ack promises: the message is in the database, whatever happens to the process
//! afterwards. These stories run the real binary in a child process and signal it.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

on_both_backends!(
    acked_messages_survive_kill_9,
    sigterm_stores_everything_queued_and_closes_sockets_with_1001,
);

async fn guest_token(base: &str) -> String {
    let mut res = awc::Client::new()
        .post(format!("{base}/api/auth/guest"))
        .send_json(&json!({"name": "Durable"}))
        .await
        .expect("guest");
    token_of(&res.json::<Value>().await.unwrap())
}

/// A new guest of the server process, connected and in the room `lobby`.
async fn guest_in_lobby(server: &ServerProcess) -> (String, WsClient) {
    let token = guest_token(&server.base()).await;
    let url = format!("ws://{}/ws?token={token}", server.address);
    let mut client = WsClient::open(&url, None).await.expect("upgrade");
    client.expect("hello").await;
    client.join("lobby").await;
    (token, client)
}

async fn stored_texts(base: &str, token: &str) -> BTreeMap<i64, String> {
    let mut stored = BTreeMap::new();
    let mut before: Option<i64> = None;
    loop {
        let query = before.map_or(String::new(), |b| format!("&before={b}"));
        let mut res = awc::Client::new()
            .get(format!("{base}/api/rooms/lobby/messages?limit=100{query}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let page: Value = res.json().limit(1 << 22).await.unwrap();
        for m in page["messages"].as_array().unwrap() {
            stored.insert(
                m["seq"].as_i64().unwrap(),
                m["text"].as_str().unwrap().to_owned(),
            );
        }
        if page["more"] != true {
            return stored;
        }
        before = stored.keys().next().copied();
    }
}

async fn acked_messages_survive_kill_9(backend: Backend) {
    let data = TestData::new(&backend);
    let server = ServerProcess::start(&data);
    let (token, mut client) = guest_in_lobby(&server).await;

    // Send without waiting, collect acks for a while, then kill the server mid-stream.
    let mut acked: BTreeMap<i64, String> = BTreeMap::new();
    for i in 0..30 {
        client.send(json!({"type": "send", "room": "lobby", "text": format!("m{i}"), "cid": format!("c{i}")})).await;
    }
    while acked.len() < 10 {
        let frame = client.recv().await;
        if frame["type"] == "ack" {
            let i: usize = frame["cid"].as_str().unwrap()[1..].parse().unwrap();
            acked.insert(frame["seq"].as_i64().unwrap(), format!("m{i}"));
        }
    }
    server.signal("KILL");
    while let Ok(Some(frame)) = client.next(Duration::from_secs(2)).await {
        if frame["type"] == "ack" {
            let i: usize = frame["cid"].as_str().unwrap()[1..].parse().unwrap();
            acked.insert(frame["seq"].as_i64().unwrap(), format!("m{i}"));
        }
    }
    assert!(!server.wait(), "killed");

    let server = ServerProcess::start(&data);
    let stored = stored_texts(&server.base(), &token).await;
    for (seq, text) in &acked {
        assert_eq!(
            stored.get(seq),
            Some(text),
            "acked message {seq} lost after kill -9"
        );
    }
    // Seqs have no holes: 1..=n.
    assert_eq!(
        stored.keys().copied().collect::<Vec<_>>(),
        (1..=stored.len() as i64).collect::<Vec<_>>()
    );
}

async fn sigterm_stores_everything_queued_and_closes_sockets_with_1001(backend: Backend) {
    let data = TestData::new(&backend);
    let server = ServerProcess::start(&data);
    let (token, mut client) = guest_in_lobby(&server).await;
    for i in 0..20 {
        client.send(json!({"type": "send", "room": "lobby", "text": format!("m{i}"), "cid": format!("c{i}")})).await;
    }
    // Let the server take them in, then ask it to stop while they may still be queued.
    client.expect_ignoring("message", &[]).await;
    server.signal("TERM");
    let mut acks = 0;
    let code = loop {
        match client.next(Duration::from_secs(10)).await {
            Ok(Some(frame)) => acks += usize::from(frame["type"] == "ack"),
            Ok(None) => panic!("no close after SIGTERM"),
            Err(Ended::Closed(reason)) => break reason.map(|r| u16::from(r.code)),
            Err(Ended::Dropped) => break None,
        }
    };
    assert_eq!(code, Some(1001), "sockets close with 1001 (going away)");
    assert_eq!(
        acks, 20,
        "every message sent before the stop was stored and acked"
    );
    assert!(server.wait(), "a graceful stop exits with success");

    let server = ServerProcess::start(&data);
    let stored = stored_texts(&server.base(), &token).await;
    assert_eq!(stored.len(), 20);
}
