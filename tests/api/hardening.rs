//! Defects a first deployment would hit, each found by review or probes and pinned by a story
//! that failed before its fix.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::json;
use std::time::{Duration, Instant};

on_both_backends!(
    sockets_dropped_right_after_the_upgrade_leave_nobody_online,
    staff_cannot_write_into_the_support_room_of_a_customer_who_does_not_exist,
    a_join_and_a_leave_that_cross_leave_the_list_as_the_last_one_said,
);

/// The live figures once they settle (or after two seconds): `(connections, online_users)`.
async fn settled_live_counts(app: &TestApp, staff_token: &str, want: (i64, i64)) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (status, stats) = app.get("/api/admin/stats", Some(staff_token)).await;
        assert_eq!(status, 200, "{stats}");
        let counts = (
            stats["connections"].as_i64().unwrap(),
            stats["online_users"].as_i64().unwrap(),
        );
        if counts == want || Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sockets_dropped_right_after_the_upgrade_leave_nobody_online(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (token, _) = app.guest("Flaky").await;
    // Each socket goes away while its registration with the chat server is still in flight.
    let opening = (0..50).map(|_| RawClient::open(app.address, &token, None));
    for raw in futures_util::future::join_all(opening).await {
        raw.abort();
    }
    let counts = settled_live_counts(&app, &staff_token, (0, 0)).await;
    assert_eq!(
        counts,
        (0, 0),
        "(connections, online users) after every socket closed"
    );
}

async fn staff_cannot_write_into_the_support_room_of_a_customer_who_does_not_exist(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let mut staff = RawClient::open(app.address, &staff_token, None).await;
    let nobody = "support:999999";
    // The send is read together with the join, while the join is still being checked.
    let join = json!({"type": "join", "room": nobody}).to_string();
    let send = json!({"type": "send", "room": nobody, "text": "hello?", "cid": "s-1"});
    staff.send_texts_at_once(&[&join, &send.to_string()]).await;
    let mut errors = Vec::new();
    while errors.len() < 2 {
        let (_, payload) = staff.read_frame().await.expect("a frame");
        let frame: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_ne!(frame["type"], "ack", "nothing may be stored there: {frame}");
        assert_ne!(frame["type"], "joined", "{frame}");
        if frame["type"] == "error" {
            errors.push(frame);
        }
    }
    assert!(
        errors.iter().all(|e| e["code"] == "not_found"),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e["cid"] == "s-1"),
        "the send is refused by its cid"
    );

    let (status, body) = app
        .post_as(
            &staff_token,
            &format!("/api/admin/rooms/{nobody}/announcements"),
            json!({"text": "notice"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    let (_, conversations) = app
        .get("/api/admin/conversations", Some(&staff_token))
        .await;
    let rooms: Vec<&str> = conversations["conversations"]
        .as_array()
        .map(|list| list.iter().filter_map(|c| c["room"].as_str()).collect())
        .unwrap_or_default();
    assert!(!rooms.contains(&nobody), "{conversations}");
}

async fn a_join_and_a_leave_that_cross_leave_the_list_as_the_last_one_said(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, id) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    // Eight rooms: 24 frames, within the default burst of 40.
    let rooms: Vec<String> = (0..8).map(|i| format!("room-{i}")).collect();
    for room in &rooms {
        ann.join(room).await;
    }
    // Even rooms: leave then join again at once; odd rooms: join then leave at once.
    for (i, room) in rooms.iter().enumerate() {
        let (first, second) = if i % 2 == 0 {
            ("leave", "join")
        } else {
            ("join", "leave")
        };
        ann.send(json!({"type": first, "room": room})).await;
        ann.send(json!({"type": second, "room": room})).await;
    }
    // Every join is answered; then the stored list is read back through a new connection.
    let mut answered = 0;
    while answered < rooms.len() {
        if ann.recv().await["type"] == "joined" {
            answered += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = app.connect(&token).await;
    let mut listed: Vec<String> = again.hello["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap().to_owned())
        .filter(|r| r != &format!("support:{id}"))
        .collect();
    listed.sort();
    let mut expected: Vec<String> = rooms.iter().step_by(2).cloned().collect();
    expected.sort();
    assert_eq!(
        listed, expected,
        "the stored list follows the last of each pair"
    );

    // Live membership agrees: only the even rooms still deliver to Ann's first socket.
    let (bob_token, _) = app.register("bob").await;
    let mut bob = app.connect(&bob_token).await;
    for room in &rooms {
        bob.join(room).await;
        bob.say(room, "ping", &format!("b-{room}")).await;
    }
    let mut heard = Vec::new();
    while let Ok(Some(frame)) = ann.next(Duration::from_millis(500)).await {
        if frame["type"] == "message" {
            heard.push(frame["room"].as_str().unwrap().to_owned());
        }
    }
    heard.sort();
    assert_eq!(
        heard, expected,
        "live membership agrees with the stored list"
    );
}
