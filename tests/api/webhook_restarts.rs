//! Webhooks across a stop of the chat server (the real binary in a child process): events
//! wait in the database for a receiver that is down and are sent after a restart, and a stop
//! never waits for a receiver that hangs.

use crate::helpers::*;
use crate::on_both_backends;
use crate::webhook_receiver::{DownPort, Receiver};
use crate::webhooks::SECRET;
use std::time::Duration;

on_both_backends!(
    events_written_while_the_receiver_is_down_are_delivered_after_a_restart,
    a_stop_does_not_wait_for_a_receiver_that_hangs,
    a_stop_lets_the_attempt_in_flight_finish_so_a_restart_sends_its_event_at_once,
);

/// A guest of the server process in their support conversation: (socket, room).
async fn guest_in_support(server: &ServerProcess, name: &str) -> (WsClient, String) {
    let token = server.guest(name).await;
    let mut client = WsClient::open(&format!("ws://{}/ws?token={token}", server.address), None)
        .await
        .expect("upgrade");
    let hello = client.expect("hello").await;
    let room = format!("support:{}", hello["user"]["id"]);
    client.join(&room).await;
    (client, room)
}

/// Waits until a webhook request reached the receiver (answered or not).
async fn until_a_webhook_arrives(receiver: &Receiver) {
    let deadline = std::time::Instant::now() + WAIT;
    while receiver.arrived() == 0 {
        assert!(std::time::Instant::now() < deadline, "no webhook was sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops the server process with SIGTERM and checks that it exits cleanly.
async fn stops_cleanly(server: ServerProcess) {
    server.signal("TERM");
    let exited = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(exited, "a clean stop");
}

async fn events_written_while_the_receiver_is_down_are_delivered_after_a_restart(backend: Backend) {
    // A port nobody listens on (kept, so that no other socket takes it meanwhile): the
    // store's backend is down.
    let port = DownPort::new();
    let url = port.url();
    let data = TestData::new(&backend);
    let env = [
        ("CHAT_WEBHOOK_URL", url.as_str()),
        ("CHAT_WEBHOOK_SECRET", SECRET),
        ("CHAT_WEBHOOK_RETRY_BASE", "50ms"),
        ("CHAT_WEBHOOK_RETRY_MAX", "200ms"),
    ];
    let server = ServerProcess::start_with_env(&data, &env);
    let (mut ann, room) = guest_in_support(&server, "Ann").await;
    ann.say(&room, "anyone there?", "c1").await;
    ann.say(&room, "hello?", "c2").await;
    let line = server.wait_for_line("not delivered").await;
    assert!(line.contains("connection refused"), "{line}");
    assert!(
        server.log().iter().all(|l| !l.contains(SECRET)),
        "the log never shows the secret: {:#?}",
        server.log()
    );
    ann.close().await;
    server.signal("TERM");
    assert!(server.wait(), "a clean stop");

    // The store comes back, then the chat server: the outbox was in the database.
    let receiver = Receiver::start_on(port);
    let server = ServerProcess::start_with_env(&data, &env);
    let got = receiver.wait_for(3, |_| true).await;
    let events: Vec<(&str, &str)> = got.iter().map(|r| (r.event(), r.text())).collect();
    assert_eq!(
        events,
        [
            ("conversation.created", ""),
            ("message.created", "anyone there?"),
            ("message.created", "hello?"),
        ]
    );
    drop(server);
}

async fn a_stop_does_not_wait_for_a_receiver_that_hangs(backend: Backend) {
    // The store's backend takes the request and sits on it for longer than the test lasts.
    let receiver = Receiver::answering(|_| {
        std::thread::sleep(Duration::from_secs(60));
        200
    });
    let url = receiver.url();
    let data = TestData::new(&backend);
    let env = [
        ("CHAT_WEBHOOK_URL", url.as_str()),
        ("CHAT_WEBHOOK_SECRET", SECRET),
        ("CHAT_WEBHOOK_TIMEOUT", "60s"),
        ("CHAT_SHUTDOWN_TIMEOUT", "2s"),
    ];
    let server = ServerProcess::start_with_env(&data, &env);
    let (mut ann, room) = guest_in_support(&server, "Ann").await;
    ann.say(&room, "hello?", "c1").await;
    // The request is on its way; its answer will not come.
    until_a_webhook_arrives(&receiver).await;

    let stopping = std::time::Instant::now();
    stops_cleanly(server).await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "the stop took {:?}",
        stopping.elapsed()
    );
}

async fn a_stop_lets_the_attempt_in_flight_finish_so_a_restart_sends_its_event_at_once(
    backend: Backend,
) {
    // The store's backend takes its time, then fails.
    let receiver = Receiver::answering(|_| {
        std::thread::sleep(Duration::from_millis(1500));
        503
    });
    let url = receiver.url();
    let data = TestData::new(&backend);
    let env = [
        ("CHAT_WEBHOOK_URL", url.as_str()),
        ("CHAT_WEBHOOK_SECRET", SECRET),
        // An attempt's claim lasts twice this and a second: longer than the story waits.
        ("CHAT_WEBHOOK_TIMEOUT", "5s"),
        ("CHAT_WEBHOOK_RETRY_BASE", "50ms"),
        ("CHAT_WEBHOOK_RETRY_MAX", "200ms"),
    ];
    let server = ServerProcess::start_with_env(&data, &env);
    let (mut ann, room) = guest_in_support(&server, "Ann").await;
    ann.say(&room, "hello?", "c1").await;
    until_a_webhook_arrives(&receiver).await;

    // Stopped while the request is in flight: the stop waits for its answer (within the
    // shutdown timeout) and stores it, instead of leaving the event claimed.
    stops_cleanly(server).await;
    let first = receiver.received();
    assert_eq!(first.len(), 1, "answered before the process ended");
    assert_eq!(first[0].event(), "conversation.created");

    // The store is fine again; the restarted server sends the event at once, then the next.
    receiver.answer(|_| 200);
    let server = ServerProcess::start_with_env(&data, &env);
    let delivered = receiver
        .wait_for(2, |r| (200..300).contains(&r.status))
        .await;
    let events: Vec<(&str, &str)> = delivered.iter().map(|r| (r.event(), r.text())).collect();
    assert_eq!(
        events,
        [("conversation.created", ""), ("message.created", "hello?")]
    );
    assert_eq!(
        delivered[0].headers["x-chat-delivery"], first[0].headers["x-chat-delivery"],
        "the same event"
    );
    drop(server);
}
