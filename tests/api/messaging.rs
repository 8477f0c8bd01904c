//! Messages: stored, then delivered to every member and acked; seqs; resends; history;
//! recovery after a reconnect; typing; read state.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    hello_lists_the_users_own_support_room_first,
    hello_announces_the_limits_the_server_was_started_with,
    a_message_reaches_every_member_and_is_acked_after_it_is_stored,
    seqs_grow_by_one_per_message_and_survive_a_restart,
    a_resend_with_the_same_cid_is_acked_with_the_same_seq_and_stored_once,
    joining_shows_the_latest_fifty_messages,
    a_reconnecting_client_recovers_every_missed_message_with_since,
    a_recovery_past_the_limit_says_it_is_incomplete,
    older_history_pages_backwards_over_the_socket_and_http,
    typing_reaches_the_other_users_but_not_the_typist,
    reading_updates_the_unread_count_in_every_tab,
    leaving_a_room_takes_it_out_of_the_users_list,
    chat_text_is_stored_and_sent_exactly_as_written,
    messages_sent_close_together_wait_for_the_next_commit_and_are_all_acked,
    newcomers_to_a_busy_room_see_every_message_once_and_in_order,
);

async fn hello_lists_the_users_own_support_room_first(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, id) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    ann.close().await;

    let ann = app.connect(&token).await;
    let hello = &ann.hello;
    assert_eq!(
        hello["user"],
        json!({"id": id, "username": "ann", "role": "user"})
    );
    let rooms: Vec<&str> = hello["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap())
        .collect();
    assert_eq!(rooms, vec![format!("support:{id}").as_str(), "lobby"]);
    assert_eq!(hello["rooms"][0]["last_seq"], 0);
    assert_eq!(hello["rooms"][0]["unread"], 0);
}

async fn hello_announces_the_limits_the_server_was_started_with(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.max_message_chars = 1200;
        s.max_frame_bytes = 9000;
        s.rate_per_sec = 5.0;
        s.rate_burst = 12.0;
    })
    .await;
    let (token, _) = app.guest("Ann").await;
    let ann = app.connect(&token).await;
    assert_eq!(
        ann.hello["limits"],
        json!({
            "max_message_chars": 1200,
            "max_frame_bytes": 9000,
            "history_page_max": 100,
            "history_page_default": 50,
            "rate_per_sec": 5.0,
            "rate_burst": 12.0,
        })
    );
}

async fn a_message_reaches_every_member_and_is_acked_after_it_is_stored(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (ann_token, ann_id) = app.register("ann").await;
    let (bob_token, _) = app.guest("Bob").await;
    let mut ann = app.connect(&ann_token).await;
    let mut bob = app.connect(&bob_token).await;
    ann.join("lobby").await;
    bob.join("lobby").await;
    ann.expect("presence").await; // Bob came online

    ann.send(json!({"type": "send", "room": "lobby", "text": "hello all", "cid": "a-1"}))
        .await;
    let echo = ann.expect("message").await;
    let ack = ann.expect("ack").await;
    let seen = bob.expect("message").await;

    assert_eq!(
        ack,
        json!({"type": "ack", "cid": "a-1", "room": "lobby", "seq": 1})
    );
    assert_eq!(echo, seen);
    assert_eq!(seen["room"], "lobby");
    assert_eq!(seen["seq"], 1);
    assert_eq!(seen["text"], "hello all");
    assert_eq!(seen["cid"], "a-1");
    assert_eq!(
        seen["from"],
        json!({"id": ann_id, "username": "ann", "role": "user"})
    );
    assert!(seen["id"].as_i64().unwrap() > 0);
    let now = chat_server::domain::now_millis();
    assert!((now - seen["ts"].as_i64().unwrap()).abs() < 60_000);

    // Stored before it was delivered: the history shows it.
    let (status, page) = app.get("/api/rooms/lobby/messages", Some(&bob_token)).await;
    assert_eq!(status, 200);
    assert_eq!(texts(&page["messages"]), vec!["hello all"]);
}

async fn seqs_grow_by_one_per_message_and_survive_a_restart(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    ann.join("other").await;
    let mut seen = Vec::new();
    for i in 0..5 {
        seen.push(ann.say("lobby", &format!("m{i}"), &format!("c{i}")).await);
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    assert_eq!(
        ann.say("other", "elsewhere", "o1").await,
        1,
        "seq is per room"
    );
    ann.close().await;

    let settings = app.stop().await;
    let app = start(settings).await;
    let mut ann = app.connect(&token).await;
    let lobby = ann.hello["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == "lobby")
        .cloned()
        .unwrap();
    assert_eq!(lobby["last_seq"], 5);
    let joined = ann.join("lobby").await;
    assert_eq!(seqs(&joined["messages"]), vec![1, 2, 3, 4, 5]);
    assert_eq!(ann.say("lobby", "after restart", "c5").await, 6);
}

async fn a_resend_with_the_same_cid_is_acked_with_the_same_seq_and_stored_once(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.register("ann").await;
    let (bob_token, _) = app.register("bob").await;
    let mut bob = app.connect(&bob_token).await;
    bob.join("lobby").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    bob.expect("presence").await;

    assert_eq!(ann.say("lobby", "once", "same-cid").await, 1);
    bob.expect("message").await;
    ann.close().await;
    bob.expect("presence").await; // Ann went offline

    // After a reconnect the client does not know whether its send landed, and sends again.
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    bob.expect("presence").await;
    ann.send(json!({"type": "send", "room": "lobby", "text": "once", "cid": "same-cid"}))
        .await;
    let ack = ann.expect("ack").await;
    assert_eq!(ack["seq"], 1);
    // Nobody sees it twice, and the next message takes the next seq.
    assert_eq!(ann.say("lobby", "twice", "other-cid").await, 2);
    let next = bob.expect("message").await;
    assert_eq!(next["seq"], 2);
    let (_, page) = app.get("/api/rooms/lobby/messages", Some(&token)).await;
    assert_eq!(texts(&page["messages"]), vec!["once", "twice"]);
}

async fn joining_shows_the_latest_fifty_messages(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| s.rate_burst = 200.0).await;
    let (token, _) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    for i in 1..=60 {
        ann.say("lobby", &format!("m{i}"), &format!("c{i}")).await;
    }
    let (bob_token, _) = app.guest("Bob").await;
    let mut bob = app.connect(&bob_token).await;
    let joined = bob.join("lobby").await;
    assert_eq!(seqs(&joined["messages"]), (11..=60).collect::<Vec<_>>());
    assert_eq!(joined["last_seq"], 60);
    assert!(joined.get("recovered").is_none());
    let online: Vec<&str> = joined["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(online, vec!["Bob", "ann"]);
}

async fn a_reconnecting_client_recovers_every_missed_message_with_since(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (ann_token, _) = app.register("ann").await;
    let (bob_token, _) = app.register("bob").await;
    let mut ann = app.connect(&ann_token).await;
    let mut bob = app.connect(&bob_token).await;
    ann.join("lobby").await;
    bob.join("lobby").await;
    ann.say("lobby", "before", "a1").await;
    let seen = bob.expect_ignoring("message", &["presence"]).await;
    let last_seen = seen["seq"].as_i64().unwrap();
    bob.close().await;

    for i in 2..=4 {
        ann.say("lobby", &format!("missed {i}"), &format!("a{i}"))
            .await;
    }
    let mut bob = app.connect(&bob_token).await;
    bob.send(json!({"type": "join", "room": "lobby", "since": last_seen}))
        .await;
    let joined = bob.expect("joined").await;
    assert_eq!(
        texts(&joined["messages"]),
        vec!["missed 2", "missed 3", "missed 4"]
    );
    assert_eq!(joined["recovered"], true);
    assert_eq!(joined["last_seq"], 4);
    // And then live, without a gap or a duplicate.
    ann.say("lobby", "live", "a5").await;
    let live = bob.expect_ignoring("message", &["presence"]).await;
    assert_eq!(live["seq"], 5);
}

async fn a_recovery_past_the_limit_says_it_is_incomplete(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| s.recovery_limit = 3).await;
    let (token, _) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    for i in 1..=5 {
        ann.say("lobby", &format!("m{i}"), &format!("c{i}")).await;
    }
    let (bob_token, _) = app.register("bob").await;
    let mut bob = app.connect(&bob_token).await;
    bob.send(json!({"type": "join", "room": "lobby", "since": 1}))
        .await;
    let joined = bob.expect("joined").await;
    assert_eq!(seqs(&joined["messages"]), vec![2, 3, 4]);
    assert_eq!(joined["recovered"], false);
    assert_eq!(joined["last_seq"], 5);
}

async fn older_history_pages_backwards_over_the_socket_and_http(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    for i in 1..=7 {
        ann.say("lobby", &format!("m{i}"), &format!("c{i}")).await;
    }
    // Each page: (seqs, more), oldest first, paging backwards.
    for (before, expected, more) in [
        (None, vec![5, 6, 7], true),
        (Some(5), vec![2, 3, 4], true),
        (Some(2), vec![1], false),
    ] {
        let mut request = json!({"type": "history", "room": "lobby", "limit": 3});
        if let Some(before) = before {
            request["before"] = json!(before);
        }
        ann.send(request).await;
        let page = ann.expect("history").await;
        assert_eq!(
            (seqs(&page["messages"]), page["more"].clone()),
            (expected, json!(more))
        );
    }

    let (status, page) = app
        .get("/api/rooms/lobby/messages?before=6&limit=2", Some(&token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (seqs(&page["messages"]), page["more"].clone()),
        (vec![4, 5], json!(true))
    );
    let (status, body) = app
        .get("/api/rooms/lobby/messages?limit=500", Some(&token))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_request");
    let (status, _) = app.get("/api/rooms/lobby/messages", None).await;
    assert_eq!(status, 401);
}

async fn typing_reaches_the_other_users_but_not_the_typist(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (ann_token, ann_id) = app.register("ann").await;
    let (bob_token, _) = app.register("bob").await;
    let mut ann = app.connect(&ann_token).await;
    let mut ann_other_tab = app.connect(&ann_token).await;
    let mut bob = app.connect(&bob_token).await;
    ann.join("lobby").await;
    ann_other_tab.join("lobby").await;
    bob.join("lobby").await;
    ann.expect("presence").await; // Bob

    ann.send(json!({"type": "typing", "room": "lobby", "on": true}))
        .await;
    let typing = bob.expect("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "room": "lobby", "user": {"id": ann_id, "username": "ann", "role": "user"}, "on": true})
    );
    ann.expect_silence(Duration::from_millis(300)).await;
    ann_other_tab.expect_ignoring("presence", &[]).await; // Bob, nothing about typing
    ann_other_tab
        .expect_silence(Duration::from_millis(100))
        .await;

    // When Ann goes away while typing, Bob is told she stopped.
    ann.close().await;
    ann_other_tab.close().await;
    let stopped = bob.expect("typing").await;
    assert_eq!(stopped["on"], false);
    let offline = bob.expect("presence").await;
    assert_eq!(offline["online"], false);
}

async fn reading_updates_the_unread_count_in_every_tab(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (ann_token, _) = app.register("ann").await;
    let (bob_token, _) = app.register("bob").await;
    let mut ann = app.connect(&ann_token).await;
    ann.join("lobby").await;
    ann.say("lobby", "my own", "a1").await;
    ann.close().await;

    let mut bob = app.connect(&bob_token).await;
    bob.join("lobby").await;
    for i in 2..=4 {
        bob.say("lobby", &format!("b{i}"), &format!("b{i}")).await;
    }
    let mut tab1 = app.connect(&ann_token).await;
    let mut tab2 = app.connect(&ann_token).await;
    let lobby = tab1.hello["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == "lobby")
        .cloned()
        .unwrap();
    assert_eq!(
        (lobby["last_seq"].clone(), lobby["unread"].clone()),
        (json!(4), json!(3)),
        "own messages are not unread"
    );

    tab1.send(json!({"type": "read", "room": "lobby", "seq": 3}))
        .await;
    assert_eq!(
        tab1.expect("unread").await,
        json!({"type": "unread", "room": "lobby", "count": 1})
    );
    assert_eq!(
        tab2.expect("unread").await,
        json!({"type": "unread", "room": "lobby", "count": 1})
    );
    // A cursor never moves back.
    tab2.send(json!({"type": "read", "room": "lobby", "seq": 1}))
        .await;
    assert_eq!(tab2.expect("unread").await["count"], 1);
    tab1.expect("unread").await;
    tab1.send(json!({"type": "read", "room": "lobby", "seq": 99}))
        .await;
    assert_eq!(tab1.expect("unread").await["count"], 0);
    let again = app.connect(&ann_token).await;
    let lobby = again.hello["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == "lobby")
        .cloned()
        .unwrap();
    assert_eq!(lobby["unread"], 0);
}

async fn leaving_a_room_takes_it_out_of_the_users_list(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, id) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    ann.send(json!({"type": "leave", "room": "lobby"})).await;
    ann.send(json!({"type": "send", "room": "lobby", "text": "x", "cid": "c1"}))
        .await;
    let refused = ann.expect("error").await;
    assert_eq!(
        (refused["code"].clone(), refused["cid"].clone()),
        (json!("bad_request"), json!("c1"))
    );
    ann.close().await;
    let ann = app.connect(&token).await;
    assert_eq!(
        ann.hello["rooms"],
        json!([{"room": format!("support:{id}"), "last_seq": 0, "unread": 0}])
    );
}

async fn chat_text_is_stored_and_sent_exactly_as_written(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.register("ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    let tricky = "<img src=x onerror=alert(1)> \"quotes\" 'single' & ünïcödé 🎉\nsecond line";
    ann.send(json!({"type": "send", "room": "lobby", "text": tricky, "cid": "x1"}))
        .await;
    let message = ann.expect("message").await;
    assert_eq!(message["text"], tricky);
    ann.expect("ack").await;
    let (_, page) = app.get("/api/rooms/lobby/messages", Some(&token)).await;
    assert_eq!(page["messages"][0]["text"], tricky);
}

async fn messages_sent_close_together_wait_for_the_next_commit_and_are_all_acked(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.commit_interval = Duration::from_secs(1);
    })
    .await;
    let (ann_token, _) = app.guest("Ann").await;
    let (bob_token, _) = app.guest("Bob").await;
    let mut ann = app.connect(&ann_token).await;
    let mut bob = app.connect(&bob_token).await;
    ann.join("lobby").await;
    bob.join("lobby").await;

    // Nothing was committed lately: the first message is stored at once.
    assert_eq!(ann.say("lobby", "first", "c-1").await, 1);

    // The next two wait for the next commit, a second after the first began, and go together.
    let sent = std::time::Instant::now();
    for (text, cid) in [("second", "c-2"), ("third", "c-3")] {
        ann.send(json!({"type": "send", "room": "lobby", "text": text, "cid": cid}))
            .await;
    }
    let mut acked = Vec::new();
    while acked.len() < 2 {
        let frame = ann.recv().await;
        if frame["type"] == "ack" {
            acked.push((frame["cid"].clone(), frame["seq"].clone()));
        }
    }
    assert!(
        sent.elapsed() >= Duration::from_millis(500),
        "acked after {:?}, before the commit interval was over",
        sent.elapsed()
    );
    assert_eq!(acked, [(json!("c-2"), json!(2)), (json!("c-3"), json!(3))]);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let frame = bob.expect_ignoring("message", &["presence"]).await;
        seen.push(frame["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["first", "second", "third"]);
}

async fn newcomers_to_a_busy_room_see_every_message_once_and_in_order(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.rate_per_sec = 10_000.0;
        s.rate_burst = 10_000.0;
        // Nobody reads until the end: no one may count as a slow consumer meanwhile.
        s.session_queue = 10_000;
    })
    .await;
    let (ann_token, _) = app.guest("Ann").await;
    let (bob_token, _) = app.guest("Bob").await;
    let mut ann = app.connect(&ann_token).await;
    let mut bob = app.connect(&bob_token).await;
    ann.join("lobby").await;
    bob.join("lobby").await;

    // Ann and Bob talk without waiting for their acks; between their bursts a newcomer
    // arrives, every other one asking for the whole story (`since: 0`).
    const BURSTS: usize = 6;
    const PER_BURST: usize = 40;
    let mut newcomers = Vec::new();
    for burst in 0..BURSTS {
        for i in 0..PER_BURST {
            for (who, client) in [("ann", &mut ann), ("bob", &mut bob)] {
                let cid = format!("{who}-{burst}-{i}");
                client
                    .send(json!({"type": "send", "room": "lobby", "text": cid, "cid": cid}))
                    .await;
            }
        }
        let (token, _) = app.guest(&format!("Newcomer {burst}")).await;
        let mut newcomer = app.connect(&token).await;
        let from_the_start = burst % 2 == 0;
        let join = if from_the_start {
            json!({"type": "join", "room": "lobby", "since": 0})
        } else {
            json!({"type": "join", "room": "lobby"})
        };
        newcomer.send(join).await;
        newcomers.push((from_the_start, newcomer));
    }

    let last = (BURSTS * PER_BURST * 2) as i64;
    for (from_the_start, mut newcomer) in newcomers {
        let joined = newcomer.expect_ignoring("joined", &["presence"]).await;
        let mut seen = seqs(&joined["messages"]);
        while seen.last().copied().unwrap_or(0) < last {
            let message = newcomer.expect_ignoring("message", &["presence"]).await;
            seen.push(message["seq"].as_i64().unwrap());
        }
        let first = if from_the_start { 1 } else { seen[0] };
        assert_eq!(
            seen,
            (first..=last).collect::<Vec<_>>(),
            "a newcomer saw a gap, a duplicate or a message out of order"
        );
    }
}
