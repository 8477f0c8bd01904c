//! Webhooks: the store's backend hears of every message of a support conversation, and of each
//! new conversation, signed, in order, at least once, even when it is down for a while or the
//! chat server restarts. Each story starts a real HTTP receiver of its own on a free port.

use crate::helpers::*;
use crate::on_both_backends;
use crate::webhook_receiver::{Received, Receiver};
use chat_server::auth::signature::verify_hmac_sha256_hex;
use chat_server::startup::{Application, StartupError};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

on_both_backends!(
    a_guests_messages_reach_the_store_signed_and_in_order,
    public_rooms_and_resends_make_no_event,
    a_receiver_that_fails_twice_gets_the_event_again_and_then_the_rest_in_order,
    a_4xx_is_given_up_and_the_conversation_moves_on,
    one_conversations_failing_receiver_does_not_hold_up_another,
    one_commit_of_many_conversations_enqueues_each_ones_events_in_order,
    a_receiver_too_slow_to_answer_gets_the_event_again_with_the_same_id,
    a_receiver_that_rate_limits_gets_the_event_again_up_to_a_cap,
);

/// The secret the stories share with their receivers.
pub const SECRET: &str = "the-store's-webhook-secret-of-32-bytes";

/// A chat server that sends its webhooks to `url`, retrying quickly.
async fn chat_server_for(backend: Backend, url: String) -> (TestApp, TestData) {
    spawn_app_with(backend, move |s| webhook_settings(s, url)).await
}

fn webhook_settings(s: &mut chat_server::config::Settings, url: String) {
    s.webhook_url = Some(url);
    s.webhook_secret = Some(SECRET.into());
    s.webhook_timeout = Duration::from_secs(2);
    s.webhook_retry_base = Duration::from_millis(50);
    s.webhook_retry_max = Duration::from_millis(200);
}

/// A receiver's answers: `status` to the first `n` requests, 200 to the rest.
fn first_answered(n: usize, status: u16) -> impl Fn(&Received) -> u16 + Send + Sync + 'static {
    let calls = AtomicUsize::new(0);
    move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) < n {
            status
        } else {
            200
        }
    }
}

/// A guest in their support conversation: (socket, room, user id).
async fn guest_in_support(app: &TestApp, name: &str) -> (WsClient, String, i64) {
    let (token, id) = app.guest(name).await;
    let mut client = app.connect(&token).await;
    let room = format!("support:{id}");
    client.join(&room).await;
    (client, room, id)
}

async fn a_guests_messages_reach_the_store_signed_and_in_order(backend: Backend) {
    let receiver = Receiver::start();
    let (app, _data) = chat_server_for(backend, receiver.url()).await;
    let (mut ann, room, ann_id) = guest_in_support(&app, "Ann").await;
    for (i, text) in ["Hello?", "Where is my order?", "It is #1234"]
        .iter()
        .enumerate()
    {
        ann.say(&room, text, &format!("c{i}")).await;
    }

    let got = receiver.wait_for(4, |_| true).await;
    let events: Vec<(&str, &str)> = got.iter().map(|r| (r.event(), r.text())).collect();
    assert_eq!(
        events,
        [
            ("conversation.created", ""),
            ("message.created", "Hello?"),
            ("message.created", "Where is my order?"),
            ("message.created", "It is #1234"),
        ]
    );
    for r in &got {
        // The signature is the HMAC of the exact bytes received, under the shared secret.
        let signature = &r.headers["x-chat-signature"];
        let hex = signature.strip_prefix("sha256=").expect("sha256=");
        assert!(
            verify_hmac_sha256_hex(SECRET.as_bytes(), &r.body, hex),
            "{signature}"
        );
        assert!(!verify_hmac_sha256_hex(b"another secret", &r.body, hex));
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["x-chat-delivery"], r.json["id"].to_string());
        assert_eq!(r.headers["x-chat-event"], r.event());
        assert_eq!(
            r.json["conversation"],
            json!({"room": room, "customer": {
                "id": ann_id, "name": "Ann", "role": "guest", "external_id": null, "email": null
            }})
        );
    }
    let ids: Vec<i64> = got.iter().map(|r| r.json["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(got[0].json.get("message").is_none(), "{}", got[0].json);
    let first = &got[1].json["message"];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["kind"], "text");
    assert_eq!(
        first["from"],
        json!({"id": ann_id, "username": "Ann", "role": "guest"})
    );
    assert_eq!(got[0].json["ts"], first["ts"]);
    let seqs: Vec<i64> = got[1..]
        .iter()
        .map(|r| r.json["message"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);

    // The staff's answer in the conversation is an event too.
    let (staff_token, staff_id) = app.staff().await;
    let mut staff = app.connect(&staff_token).await;
    staff.join(&room).await;
    staff.say(&room, "On its way!", "s1").await;
    let got = receiver.wait_for(5, |_| true).await;
    assert_eq!(got[4].text(), "On its way!");
    assert_eq!(got[4].json["message"]["from"]["id"], staff_id);
    assert_eq!(got[4].json["message"]["from"]["role"], "admin");
    assert_eq!(got[4].json["conversation"]["customer"]["id"], ann_id);
}

async fn public_rooms_and_resends_make_no_event(backend: Backend) {
    let receiver = Receiver::start();
    let (app, _data) = chat_server_for(backend, receiver.url()).await;
    let (mut ann, room, _) = guest_in_support(&app, "Ann").await;
    ann.join("lobby").await;
    ann.say("lobby", "hello everyone", "p1").await;
    ann.say(&room, "first", "c1").await;
    // The same message again (a client that lost the ack): acked again, stored once.
    assert_eq!(ann.say(&room, "first", "c1").await, 1);
    ann.say(&room, "second", "c2").await;

    receiver.wait_for(3, |_| true).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|r| (r.event().to_owned(), r.text().to_owned()))
        .collect();
    assert_eq!(
        events,
        [
            ("conversation.created".into(), "".into()),
            ("message.created".into(), "first".into()),
            ("message.created".into(), "second".into()),
        ]
    );
}

async fn a_receiver_that_fails_twice_gets_the_event_again_and_then_the_rest_in_order(
    backend: Backend,
) {
    let receiver = Receiver::answering(first_answered(2, 500));
    let (app, _data) = chat_server_for(backend, receiver.url()).await;
    let (mut ann, room, _) = guest_in_support(&app, "Ann").await;
    ann.say(&room, "one", "c1").await;
    ann.say(&room, "two", "c2").await;

    let got = receiver.wait_for(5, |_| true).await;
    let seen: Vec<(u16, &str, &str)> = got
        .iter()
        .map(|r| (r.status, r.event(), r.text()))
        .collect();
    assert_eq!(
        seen,
        [
            (500, "conversation.created", ""),
            (500, "conversation.created", ""),
            (200, "conversation.created", ""),
            (200, "message.created", "one"),
            (200, "message.created", "two"),
        ]
    );
    // A retry is the same delivery: same id, same bytes, so the receiver can drop duplicates.
    assert_eq!(got[0].body, got[1].body);
    assert_eq!(got[1].body, got[2].body);
    assert_eq!(
        got[0].headers["x-chat-delivery"],
        got[2].headers["x-chat-delivery"]
    );

    // The operator sees the retries and an empty outbox.
    let metrics = metrics_text(&app).await;
    assert!(
        sample(
            &metrics,
            "chat_webhook_deliveries_total{outcome=\"retried\"}"
        ) >= 2.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE chat_webhook_outbox gauge"),
        "{metrics}"
    );
}

async fn a_receiver_too_slow_to_answer_gets_the_event_again_with_the_same_id(backend: Backend) {
    // The first request is answered after the chat server stopped waiting (a timeout); the
    // receiver had it all the same, and gets it again: it drops the repeat by its id.
    let calls = AtomicUsize::new(0);
    let receiver = Receiver::answering(move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1500));
        }
        200
    });
    let url = receiver.url();
    let (app, _data) = spawn_app_with(backend, move |s| {
        webhook_settings(s, url);
        s.webhook_timeout = Duration::from_millis(300);
    })
    .await;
    let (mut ann, room, _) = guest_in_support(&app, "Ann").await;
    ann.say(&room, "hello?", "c1").await;

    let got = receiver.wait_for(3, |_| true).await;
    let created: Vec<&Received> = got
        .iter()
        .filter(|r| r.event() == "conversation.created")
        .collect();
    assert_eq!(created.len(), 2, "sent twice: {got:#?}");
    assert_eq!(
        created[0].body, created[1].body,
        "the same bytes, the same id"
    );
    // In the order the answers went out: the retry, delivered at once; then the message's
    // event, which waited for it; the first, slow attempt last.
    let answered: Vec<(&str, &str)> = got.iter().map(|r| (r.event(), r.text())).collect();
    assert_eq!(
        answered,
        [
            ("conversation.created", ""),
            ("message.created", "hello?"),
            ("conversation.created", "")
        ]
    );
}

async fn a_4xx_is_given_up_and_the_conversation_moves_on(backend: Backend) {
    let receiver = Receiver::answering(|r| if r.text() == "refused" { 422 } else { 200 });
    let (app, _data) = chat_server_for(backend, receiver.url()).await;
    let (mut ann, room, _) = guest_in_support(&app, "Ann").await;
    for (i, text) in ["before", "refused", "after"].iter().enumerate() {
        ann.say(&room, text, &format!("c{i}")).await;
    }
    receiver.wait_for(4, |_| true).await;
    // With retries 50 ms apart, a retried 422 would have come back several times by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen: Vec<(u16, String)> = receiver
        .received()
        .iter()
        .map(|r| (r.status, r.text().to_owned()))
        .collect();
    assert_eq!(
        seen,
        [
            (200, "".into()),
            (200, "before".into()),
            (422, "refused".into()),
            (200, "after".into()),
        ]
    );
    let metrics = metrics_text(&app).await;
    assert!(
        sample(
            &metrics,
            "chat_webhook_deliveries_total{outcome=\"failed\"}"
        ) >= 1.0,
        "{metrics}"
    );
}

async fn one_conversations_failing_receiver_does_not_hold_up_another(backend: Backend) {
    let receiver = Receiver::start();
    let (app, _data) = chat_server_for(backend, receiver.url()).await;
    let (mut ann, ann_room, _) = guest_in_support(&app, "Ann").await;
    let (mut bob, bob_room, _) = guest_in_support(&app, "Bob").await;
    // The store's handling of Ann's conversation is broken for now.
    let broken = ann_room.clone();
    receiver.answer(move |r| if r.room() == broken { 503 } else { 200 });

    ann.say(&ann_room, "ann 1", "a1").await;
    ann.say(&ann_room, "ann 2", "a2").await;
    bob.say(&bob_room, "bob 1", "b1").await;
    bob.say(&bob_room, "bob 2", "b2").await;

    // Bob's events arrive while Ann's first one is tried again and again.
    let bobs = receiver.wait_for(3, |r| r.room() == bob_room).await;
    let texts: Vec<&str> = bobs.iter().map(Received::text).collect();
    assert_eq!(texts, ["", "bob 1", "bob 2"]);
    receiver.wait_for(3, |r| r.room() == ann_room).await;
    assert!(
        receiver
            .received()
            .iter()
            .filter(|r| r.room() == ann_room)
            .all(|r| r.event() == "conversation.created" && r.status == 503),
        "Ann's later events wait for her first one"
    );

    // Fixed: Ann's conversation goes on, in order.
    receiver.answer(|_| 200);
    receiver
        .wait_for(3, |r| r.room() == ann_room && r.status == 200)
        .await;
    let anns: Vec<String> = receiver
        .delivered()
        .iter()
        .filter(|r| r.room() == ann_room)
        .map(|r| format!("{} {}", r.event(), r.text()))
        .collect();
    assert_eq!(
        anns,
        [
            "conversation.created ",
            "message.created ann 1",
            "message.created ann 2"
        ]
    );
}

/// The outbox as a commit leaves it, on both ways of storing a batch (PostgreSQL stores three
/// messages or more in a few statements for the whole batch): the events of every fresh
/// support message, `conversation.created` first for a new conversation, in seq order within
/// each conversation; none for a public room or a resend.
async fn one_commit_of_many_conversations_enqueues_each_ones_events_in_order(backend: Backend) {
    use chat_server::db::messages::{store_batch_with, Events, NewMessage};
    use chat_server::db::webhooks::{due_heads, pending_count};
    use chat_server::db::{open_pool, users, DbTarget, SqliteSync};
    use chat_server::domain::{now_millis, MessageKind, Role, UserId};

    let data = TestData::new(&backend);
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 1, SqliteSync::Full).unwrap();
    let mut db = pool.get().unwrap();
    let mut guest = |name| {
        users::insert_user(&mut db, name, Role::Guest, None)
            .unwrap()
            .id
    };
    let (ann, bob) = (guest("ann"), guest("bob"));
    let (ann_room, bob_room) = (format!("support:{ann}"), format!("support:{bob}"));
    let message = |room: &str, sender, cid: &str| NewMessage {
        room: room.to_owned(),
        sender: UserId(sender),
        cid: Some(cid.to_owned()),
        text: format!("text {cid}"),
        kind: MessageKind::Text,
    };
    let first = [
        message(&bob_room, bob, "b1"),
        message("lobby", ann, "l1"),
        message(&ann_room, ann, "a1"),
        message(&bob_room, bob, "b2"),
        message(&ann_room, ann, "a1"),
        message(&ann_room, ann, "a2"),
    ];
    store_batch_with(&mut db, &first, Events::Webhooks).unwrap();
    let second = [
        message(&ann_room, ann, "a2"),
        message(&ann_room, ann, "a3"),
        message("lobby", bob, "l2"),
    ];
    store_batch_with(&mut db, &second, Events::Webhooks).unwrap();
    assert_eq!(pending_count(&mut db).unwrap(), 7);

    // Deliver the outbox as the worker would: each conversation's head, oldest first.
    let mut order: Vec<(String, String, i64)> = Vec::new();
    loop {
        let heads = due_heads(&mut db, now_millis() + 1000, 10).unwrap();
        if heads.is_empty() {
            break;
        }
        for head in heads {
            let (message, _) = chat_server::db::webhooks::event_parts(&mut db, &head)
                .unwrap()
                .unwrap();
            order.push((head.room.clone(), head.event.clone(), message.seq));
            chat_server::db::webhooks::delivered(&mut db, head.id).unwrap();
        }
    }
    let of = |room: &str| -> Vec<(String, i64)> {
        order
            .iter()
            .filter(|(r, _, _)| r == room)
            .map(|(_, event, seq)| (event.clone(), *seq))
            .collect()
    };
    let created = |seq| ("conversation.created".to_owned(), seq);
    let message_event = |seq| ("message.created".to_owned(), seq);
    assert_eq!(
        of(&ann_room),
        [
            created(1),
            message_event(1),
            message_event(2),
            message_event(3)
        ]
    );
    assert_eq!(
        of(&bob_room),
        [created(1), message_event(1), message_event(2)]
    );
    assert_eq!(order.len(), 7, "nothing for the lobby: {order:?}");
}

#[actix_rt::test]
async fn a_webhook_url_without_a_secret_refuses_to_start() {
    let data = TestData::new(&Backend::Sqlite);
    let mut settings = test_settings(&data);
    settings.webhook_url = Some("https://shop.example/chat-events".into());
    let error = match Application::build(settings.clone()).await {
        Err(StartupError::Config(message)) => message,
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("the server started without a webhook secret"),
    };
    assert!(error.contains("--webhook-secret"), "{error}");
    assert!(error.contains("CHAT_WEBHOOK_SECRET"), "{error}");

    settings.webhook_secret = Some(SECRET.into());
    settings.webhook_url = Some("ftp://shop.example/chat-events".into());
    assert!(matches!(
        Application::build(settings).await,
        Err(StartupError::Config(message)) if message.contains("http")
    ));
}

/// `GET /metrics` (the test is on loopback: no token needed).
async fn metrics_text(app: &TestApp) -> String {
    let mut res = awc::Client::new()
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("request");
    let body = res.body().limit(1 << 22).await.expect("body");
    String::from_utf8_lossy(&body).into_owned()
}

/// The value of the sample line `series`, 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn a_receiver_that_rate_limits_gets_the_event_again_up_to_a_cap(backend: Backend) {
    // 429 (and 408, 425) says "not now", not "never": the event is sent again, as after a 5xx,
    // but only so many times, so that a receiver refusing it for good does not hold up the
    // conversation forever.
    let first_two = first_answered(2, 429);
    let receiver = Receiver::answering(move |r| {
        if r.text() == "always throttled" {
            429
        } else {
            first_two(r)
        }
    });
    let (app, _data) = chat_server_for(backend, receiver.url()).await;
    let (mut ann, room, _) = guest_in_support(&app, "Ann").await;
    ann.say(&room, "one", "c1").await;
    ann.say(&room, "always throttled", "c2").await;
    ann.say(&room, "three", "c3").await;

    receiver.wait_for(1, |r| r.text() == "three").await;
    let got = receiver.received();
    let seen: Vec<(u16, &str, &str)> = got
        .iter()
        .map(|r| (r.status, r.event(), r.text()))
        .collect();
    let throttled = (429, "message.created", "always throttled");
    let mut expected = vec![
        (429, "conversation.created", ""),
        (429, "conversation.created", ""),
        (200, "conversation.created", ""),
        (200, "message.created", "one"),
    ];
    expected.extend(std::iter::repeat(throttled).take(8));
    expected.push((200, "message.created", "three"));
    assert_eq!(seen, expected);
}
