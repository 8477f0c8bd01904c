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
    a_page_reloaded_while_its_leave_is_being_stored_does_not_list_the_room_again,
    a_user_cannot_join_more_public_rooms_than_the_cap,
    joins_sent_at_once_do_not_slip_past_the_cap,
    support_rooms_do_not_count_against_the_cap,
    reading_a_room_one_is_not_in_is_refused_and_changes_nothing,
    a_ban_that_lands_while_the_user_connects_never_leaves_a_socket_open,
    a_role_changed_by_another_process_reaches_the_socket_already_open,
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
    // One history thread: the join of the support room queues behind a join of the lobby,
    // which waits for the room lists' lock; so the send reaches the chat server while the
    // join is still being checked, however slow the machine (a send that came after the
    // join's refusal would be refused as not joined, a different path).
    let (app, data) = spawn_app_with(backend, |s| s.history_threads = 1).await;
    let (staff_token, _) = app.staff().await;
    let mut staff = RawClient::open(app.address, &staff_token, None).await;
    let nobody = "support:999999";
    let lock = RoomListLock::take(&data);
    let frames = [
        json!({"type": "join", "room": "lobby"}),
        json!({"type": "join", "room": nobody}),
        json!({"type": "send", "room": nobody, "text": "hello?", "cid": "s-1"}),
        // Answered by the chat server at once, after it has handled the frames before it.
        json!({"type": "send", "room": "elsewhere", "text": "probe", "cid": "probe"}),
    ]
    .map(|frame| frame.to_string());
    let texts: Vec<&str> = frames.iter().map(String::as_str).collect();
    staff.send_texts_at_once(&texts).await;
    let mut frames = Vec::new();
    loop {
        let (_, payload) = staff.read_frame().await.expect("a frame");
        let frame: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        if frame["cid"] == "probe" {
            assert_eq!(frame["code"], "bad_request", "{frame}");
            break;
        }
        frames.push(frame);
    }
    let types: Vec<&str> = frames.iter().filter_map(|f| f["type"].as_str()).collect();
    assert_eq!(types, ["hello"], "no join answered yet: {frames:?}");
    // The send waits behind the join; the lobby's join may go on now.
    drop(lock);
    let mut errors = Vec::new();
    while errors.len() < 2 {
        let (_, payload) = staff.read_frame().await.expect("a frame");
        frames.push(serde_json::from_slice(&payload).unwrap());
        let frame = frames.last().unwrap();
        assert_ne!(frame["type"], "ack", "nothing may be stored there: {frame}");
        if frame["type"] == "joined" {
            assert_eq!(frame["room"], "lobby", "{frame}");
        }
        if frame["type"] == "error" {
            errors.push(frame.clone());
        }
    }
    assert!(
        errors
            .iter()
            .all(|e| e["code"] == "not_found" && e["room"] == nobody),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e["cid"] == "s-1"),
        "the send is refused by its cid, with the join's error: {errors:?}"
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
    // The last leaves may still be on their way to the database: `hello` waits for them.
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

/// The public rooms in a `hello`'s list, sorted.
fn public_rooms(hello: &serde_json::Value) -> Vec<String> {
    let mut rooms: Vec<String> = hello["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap().to_owned())
        .filter(|r| !r.starts_with("support:"))
        .collect();
    rooms.sort();
    rooms
}

async fn a_page_reloaded_while_its_leave_is_being_stored_does_not_list_the_room_again(
    backend: Backend,
) {
    let (app, data) = spawn_app(backend).await;
    let (token, id) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    // The leave reaches the database only once the lock is gone (a busy database, a slow
    // disk); reads go on meanwhile.
    let lock = RoomListLock::take(&data);
    ann.send(json!({"type": "leave", "room": "lobby"})).await;
    ann.send(json!({"type": "send", "room": "lobby", "text": "x", "cid": "c1"}))
        .await;
    // Refused: the chat server has taken her out of the live room.
    assert_eq!(ann.expect("error").await["cid"], "c1");
    ann.close().await;

    // She reloads the page. Her rooms may be read only after the leave is stored: a `hello`
    // that comes while the lock is held shows what it read beside the leave.
    let reload = app.connect(&token);
    tokio::pin!(reload);
    let ann = match tokio::time::timeout(Duration::from_millis(500), &mut reload).await {
        Ok(early) => early,
        Err(_) => {
            drop(lock);
            reload.await
        }
    };
    assert_eq!(
        ann.hello["rooms"],
        json!([{"room": format!("support:{id}"), "last_seq": 0, "unread": 0}])
    );
}

async fn a_user_cannot_join_more_public_rooms_than_the_cap(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| s.max_rooms_per_user = 3).await;
    let (bob_token, _) = app.register("bob").await;
    let mut bob = app.connect(&bob_token).await;
    bob.join("room-3").await;
    let (token, id) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    for room in ["room-0", "room-1", "room-2"] {
        ann.join(room).await;
    }
    // Her own support conversation does not count.
    ann.join(&format!("support:{id}")).await;
    ann.send(json!({"type": "join", "room": "room-3"})).await;
    let refused = ann.expect("error").await;
    assert_eq!(
        (refused["code"].clone(), refused["room"].clone()),
        (json!("too_many_rooms"), json!("room-3")),
        "{refused}"
    );
    // Refused means not in the room: a send there is refused, and Bob hears nothing of her.
    ann.send(json!({"type": "send", "room": "room-3", "text": "hi", "cid": "a1"}))
        .await;
    let not_in = ann.expect("error").await;
    assert_eq!(not_in["code"], "bad_request", "{not_in}");
    bob.say("room-3", "anyone?", "b1").await;
    ann.expect_silence(Duration::from_millis(200)).await;
    // A room already in her list may be joined again.
    ann.join("room-1").await;

    // The count is the stored one: a new connection finds the same three rooms and the same cap.
    let mut again = app.connect(&token).await;
    assert_eq!(public_rooms(&again.hello), ["room-0", "room-1", "room-2"]);
    again.send(json!({"type": "join", "room": "room-4"})).await;
    assert_eq!(again.expect("error").await["code"], "too_many_rooms");
    // Leaving one makes room for another.
    again.send(json!({"type": "leave", "room": "room-0"})).await;
    again.join("room-4").await;
    let third = app.connect(&token).await;
    assert_eq!(public_rooms(&third.hello), ["room-1", "room-2", "room-4"]);
}

async fn joins_sent_at_once_do_not_slip_past_the_cap(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| s.max_rooms_per_user = 3).await;
    let (token, _) = app.register("carl").await;
    let mut carl = app.connect(&token).await;
    carl.join("first").await;
    // Six joins read together: they reach the database at the same time, on both threads of
    // the history actor; two fit.
    let joins: Vec<String> = (0..6)
        .map(|i| json!({"type": "join", "room": format!("burst-{i}")}).to_string())
        .collect();
    let mut raw = RawClient::open(app.address, &token, None).await;
    let texts: Vec<&str> = joins.iter().map(String::as_str).collect();
    raw.send_texts_at_once(&texts).await;
    let (mut joined, mut refused) = (0, 0);
    while joined + refused < 6 {
        let (_, payload) = raw.read_frame().await.expect("a frame");
        let frame: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        match frame["type"].as_str() {
            Some("joined") => joined += 1,
            Some("error") => {
                assert_eq!(frame["code"], "too_many_rooms", "{frame}");
                refused += 1;
            }
            _ => {}
        }
    }
    assert_eq!((joined, refused), (2, 4));
    let again = app.connect(&token).await;
    assert_eq!(public_rooms(&again.hello).len(), 3, "{}", again.hello);
}

async fn support_rooms_do_not_count_against_the_cap(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| s.max_rooms_per_user = 2).await;
    let (staff_token, _) = app.staff().await;
    let mut customers = Vec::new();
    for i in 0..4 {
        customers.push(app.guest(&format!("Customer {i}")).await.1);
    }
    let mut staff = app.connect(&staff_token).await;
    for id in &customers {
        staff.join(&format!("support:{id}")).await;
    }
    staff.join("desk").await;
    staff.join("notices").await;
    staff.send(json!({"type": "join", "room": "lounge"})).await;
    let refused = staff
        .expect_ignoring("error", &["presence", "support_activity"])
        .await;
    assert_eq!(refused["code"], "too_many_rooms", "{refused}");
    let again = app.connect(&staff_token).await;
    assert_eq!(again.hello["rooms"].as_array().unwrap().len(), 1 + 4 + 2);
}

async fn reading_a_room_one_is_not_in_is_refused_and_changes_nothing(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (bob_token, _) = app.register("bob").await;
    let mut bob = app.connect(&bob_token).await;
    bob.join("lobby").await;
    bob.say("lobby", "one", "b1").await;
    bob.say("lobby", "two", "b2").await;

    let (token, id) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.send(json!({"type": "read", "room": "lobby", "seq": 2}))
        .await;
    let refused = ann.expect("error").await;
    assert_eq!(
        (refused["code"].clone(), refused["room"].clone()),
        (json!("not_member"), json!("lobby")),
        "{refused}"
    );
    // A room she joined and left is not hers either.
    ann.join("garden").await;
    ann.send(json!({"type": "leave", "room": "garden"})).await;
    ann.send(json!({"type": "read", "room": "garden", "seq": 0}))
        .await;
    assert_eq!(ann.expect("error").await["code"], "not_member");
    // Her own support conversation is always hers, joined or not.
    let own = format!("support:{id}");
    ann.send(json!({"type": "read", "room": own, "seq": 0}))
        .await;
    assert_eq!(ann.expect("unread").await["count"], 0);

    // Nothing was stored: no lobby (and so no unread counter for it) on the next connect.
    let again = app.connect(&token).await;
    assert!(public_rooms(&again.hello).is_empty(), "{}", again.hello);
    // A room of her stored list may be read from a connection that has not joined it.
    ann.join("lobby").await;
    let mut other_tab = app.connect(&token).await;
    other_tab
        .send(json!({"type": "read", "room": "lobby", "seq": 2}))
        .await;
    assert_eq!(other_tab.expect("unread").await["count"], 0);
}

/// Whether the socket closes (1008) within a while; false if it stays open.
async fn closes_with_policy(client: &mut WsClient) -> bool {
    loop {
        match client.next(Duration::from_secs(3)).await {
            Ok(Some(_)) => continue,
            Ok(None) => return false,
            Err(Ended::Closed(reason)) => {
                let code = reason.map(|r| u16::from(r.code));
                assert_eq!(code, Some(1008), "a banned user's socket closes with 1008");
                return true;
            }
            Err(Ended::Dropped) => return true,
        }
    }
}

async fn a_ban_that_lands_while_the_user_connects_never_leaves_a_socket_open(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (token, id) = app.register("troll").await;
    let ban = format!("/api/admin/users/{id}/ban");
    let unban = format!("/api/admin/users/{id}/unban");
    let url = app.ws_url(&token);
    let mut left_open = 0;
    for round in 0..40 {
        // The socket opens while the ban is being stored; sometimes a little after it starts.
        let delay = Duration::from_millis(round % 4);
        let opening = async {
            tokio::time::sleep(delay).await;
            WsClient::open(&url, None).await
        };
        let banning = app.post_as(&staff_token, &ban, json!({}));
        let (opened, (status, body)) = tokio::join!(opening, banning);
        assert_eq!(status, 200, "{body}");
        if let Ok(mut socket) = opened {
            if !closes_with_policy(&mut socket).await {
                left_open += 1;
            }
        }
        let (status, body) = app.post_as(&staff_token, &unban, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(left_open, 0, "sockets of a banned user left open");
}

async fn a_role_changed_by_another_process_reaches_the_socket_already_open(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.account_recheck_interval = Duration::from_millis(200);
    })
    .await;
    let (carol_token, _) = app.register("carol").await;
    let mut carol = app.connect(&carol_token).await;
    assert_eq!(carol.hello["user"]["role"], "user");
    let (visitor_token, visitor_id) = app.guest("Visitor").await;
    let mut visitor = app.connect(&visitor_token).await;
    let support = format!("support:{visitor_id}");
    visitor.join(&support).await;
    visitor.say(&support, "anyone there?", "v1").await;
    carol.expect_silence(Duration::from_millis(300)).await;

    // `create-admin carol` run on the same database, by another process.
    let settings = app.settings.clone();
    let pool = chat_server::db::open_pool(&settings.db_target(), 1, settings.sqlite_sync).unwrap();
    let promote = pool.clone();
    actix_rt::task::spawn_blocking(move || {
        chat_server::startup::create_admin(&promote, "carol", "carols-new-password")
    })
    .await
    .unwrap()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    visitor.say(&support, "hello?", "v2").await;
    // Staff now, she first hears of herself as a member of the team (`staff_updated`).
    let activity = carol
        .expect_ignoring("support_activity", &["staff_updated"])
        .await;
    assert_eq!(activity["message"]["text"], "hello?");
    // Staff rights on the same socket: the support room opens to her.
    carol.join(&support).await;

    // Demoted the same way (an admin endpoint would do the same): out of the support room.
    let mut conn = pool.get().unwrap();
    let carol_id = carol.hello["user"]["id"].as_i64().unwrap();
    chat_server::db::users::set_role(
        &mut conn,
        chat_server::domain::UserId(carol_id),
        chat_server::domain::Role::User,
    )
    .unwrap();
    let refused = carol
        .expect_ignoring(
            "error",
            &[
                "presence",
                "support_activity",
                "message",
                "conversation_viewers",
            ],
        )
        .await;
    assert_eq!(
        (refused["code"].clone(), refused["room"].clone()),
        (json!("forbidden"), json!(support.as_str())),
        "{refused}"
    );
    visitor.say(&support, "bye", "v3").await;
    carol.expect_silence(Duration::from_millis(400)).await;
}
