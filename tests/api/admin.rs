//! The staff console's API: conversations, live figures, moderation. Staff only.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    every_admin_endpoint_refuses_anonymous_callers_and_customers,
    the_console_lists_support_conversations_newest_first_with_unread_and_online,
    staff_connections_hear_of_every_support_message_without_joining,
    a_deleted_message_disappears_for_members_and_from_history,
    a_client_back_from_offline_learns_which_messages_it_holds_were_deleted,
    a_banned_customer_is_disconnected_and_refused_until_unbanned,
    an_announcement_reaches_the_room_marked_as_one,
    live_figures_count_connections_users_rooms_and_messages,
);

async fn every_admin_endpoint_refuses_anonymous_callers_and_customers(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (user_token, user_id) = app.register("customer").await;
    let (guest_token, _) = app.guest("Visitor").await;
    let endpoints = [
        ("GET", "/api/admin/conversations".to_owned(), None),
        ("GET", "/api/admin/stats".to_owned(), None),
        ("DELETE", "/api/admin/messages/1".to_owned(), None),
        ("POST", format!("/api/admin/users/{user_id}/ban"), None),
        ("POST", format!("/api/admin/users/{user_id}/unban"), None),
        (
            "POST",
            "/api/admin/rooms/lobby/announcements".to_owned(),
            Some(json!({"text": "hi"})),
        ),
    ];
    for (method, path, body) in endpoints {
        let (status, reply) = call(&app, method, &path, None, body.clone()).await;
        assert_eq!(
            (status, reply["error"]["code"].clone()),
            (401, json!("unauthorized")),
            "{method} {path}"
        );
        for token in [&user_token, &guest_token] {
            let (status, reply) = call(&app, method, &path, Some(token), body.clone()).await;
            assert_eq!(
                (status, reply["error"]["code"].clone()),
                (403, json!("forbidden")),
                "{method} {path}"
            );
        }
    }
    // Nothing happened: the customer is not banned.
    assert_eq!(app.get("/api/me", Some(&user_token)).await.0, 200);
}

async fn the_console_lists_support_conversations_newest_first_with_unread_and_online(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (ann_token, ann_id) = app.guest("Ann").await;
    let (bob_token, bob_id) = app.register("bob").await;
    let mut ann = app.connect(&ann_token).await;
    let ann_room = format!("support:{ann_id}");
    ann.join(&ann_room).await;
    ann.say(&ann_room, "first question", "a1").await;
    ann.say(&ann_room, "<b>second</b>", "a2").await;
    {
        let mut bob = app.connect(&bob_token).await;
        let bob_room = format!("support:{bob_id}");
        bob.join(&bob_room).await;
        bob.say(&bob_room, "bob asks", "b1").await;
        bob.close().await;
    }
    // A customer who only opened the page is not a conversation yet.
    let (idle_token, _) = app.guest("Idle").await;
    let _idle = app.connect(&idle_token).await;

    let (status, body) = call(
        &app,
        "GET",
        "/api/admin/conversations",
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let list = body["conversations"].as_array().unwrap();
    let rooms: Vec<&str> = list.iter().map(|c| c["room"].as_str().unwrap()).collect();
    assert_eq!(rooms, vec![format!("support:{bob_id}"), ann_room.clone()]);
    let bob_entry = &list[0];
    assert_eq!(
        bob_entry["customer"],
        json!({"id": bob_id, "username": "bob", "role": "user"})
    );
    assert_eq!(
        (bob_entry["online"].clone(), bob_entry["unread"].clone()),
        (json!(false), json!(1))
    );
    assert_eq!(bob_entry["last_message"]["text"], "bob asks");
    let ann_entry = &list[1];
    assert_eq!(
        (ann_entry["online"].clone(), ann_entry["unread"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(
        (
            ann_entry["last_seq"].clone(),
            ann_entry["last_message"]["text"].clone()
        ),
        (json!(2), json!("<b>second</b>"))
    );
    assert!(
        ann_entry["last_activity"].as_i64().unwrap()
            <= bob_entry["last_activity"].as_i64().unwrap()
    );

    // Reading Ann's conversation clears its unread count for this admin.
    let mut staff = app.connect(&staff_token).await;
    staff.join(&ann_room).await;
    staff
        .send(json!({"type": "read", "room": ann_room, "seq": 2}))
        .await;
    staff
        .expect_ignoring(
            "unread",
            &["presence", "support_activity", "conversation_viewers"],
        )
        .await;
    let (_, body) = call(
        &app,
        "GET",
        "/api/admin/conversations",
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(body["conversations"][1]["unread"], 0);
}

async fn staff_connections_hear_of_every_support_message_without_joining(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (ann_token, ann_id) = app.guest("Ann").await;
    let mut staff = app.connect(&staff_token).await;
    let mut ann = app.connect(&ann_token).await;
    let room = format!("support:{ann_id}");
    ann.join(&room).await;
    ann.say(&room, "anyone there?", "a1").await;

    let activity = staff.expect("support_activity").await;
    assert_eq!(activity["room"], room.as_str());
    assert_eq!(
        activity["customer"],
        json!({"id": ann_id, "username": "Ann", "role": "guest"})
    );
    assert_eq!(
        (
            activity["message"]["text"].clone(),
            activity["message"]["seq"].clone()
        ),
        (json!("anyone there?"), json!(1))
    );
    // Public rooms are not support conversations.
    ann.join("lobby").await;
    ann.say("lobby", "public", "a2").await;
    staff.expect_silence(Duration::from_millis(300)).await;
    // Customers never get these frames.
    let (eve_token, eve_id) = app.guest("Eve").await;
    let mut eve = app.connect(&eve_token).await;
    eve.join(&format!("support:{eve_id}")).await;
    ann.say(&room, "again", "a3").await;
    staff.expect("support_activity").await;
    eve.expect_silence(Duration::from_millis(300)).await;
}

async fn a_deleted_message_disappears_for_members_and_from_history(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (ann_token, _) = app.register("ann").await;
    let (bob_token, _) = app.register("bob").await;
    let mut ann = app.connect(&ann_token).await;
    let mut bob = app.connect(&bob_token).await;
    ann.join("lobby").await;
    bob.join("lobby").await;
    ann.say("lobby", "keep me", "a1").await;
    ann.say("lobby", "rude words", "a2").await;
    let kept = bob.expect_ignoring("message", &["presence"]).await;
    let rude = bob.expect("message").await;
    let id = rude["id"].as_i64().unwrap();

    let (status, body) = call(
        &app,
        "DELETE",
        &format!("/api/admin/messages/{id}"),
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"room": "lobby", "seq": 2, "id": id}))
    );
    for client in [&mut ann, &mut bob] {
        let gone = client.expect("deleted").await;
        assert_eq!(
            gone,
            json!({"type": "deleted", "room": "lobby", "seq": 2, "id": id})
        );
    }
    let (_, page) = app.get("/api/rooms/lobby/messages", Some(&bob_token)).await;
    assert_eq!(
        texts(&page["messages"]),
        vec![kept["text"].as_str().unwrap()]
    );
    let joined = app.connect(&bob_token).await.join("lobby").await;
    assert_eq!(seqs(&joined["messages"]), vec![1]);
    let (status, body) = call(
        &app,
        "DELETE",
        &format!("/api/admin/messages/{id}"),
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
}

async fn a_client_back_from_offline_learns_which_messages_it_holds_were_deleted(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (ann_token, _) = app.register("ann").await;
    let (bob_token, _) = app.register("bob").await;
    let mut ann = app.connect(&ann_token).await;
    let mut bob = app.connect(&bob_token).await;
    ann.join("lobby").await;
    bob.join("lobby").await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        ann.say("lobby", &format!("message {i}"), &format!("a{i}"))
            .await;
        ids.push(bob.expect_ignoring("message", &["presence"]).await["id"].clone());
    }
    // Bob has seen 1-3 and goes offline; meanwhile 2 is deleted and 4 is sent and deleted.
    bob.close().await;
    ann.expect("presence").await; // Bob went offline
    ann.send(json!({"type": "send", "room": "lobby", "text": "message 4", "cid": "a4"}))
        .await;
    let four = ann.expect("message").await;
    ann.expect("ack").await;
    let deleted_ids = [ids[1].clone(), four["id"].clone()];
    for id in &deleted_ids {
        let (status, _) = call(
            &app,
            "DELETE",
            &format!("/api/admin/messages/{id}"),
            Some(&staff_token),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }

    // Back with `since: 3`: message 4 is not recovered, and message 2, which Bob's screen still
    // shows, is named as deleted.
    let mut bob = app.connect(&bob_token).await;
    bob.send(json!({"type": "join", "room": "lobby", "since": 3}))
        .await;
    let joined = bob.expect_ignoring("joined", &["presence"]).await;
    assert_eq!(joined["messages"], json!([]));
    assert_eq!(joined["recovered"], true);
    assert_eq!(joined["deleted"], json!([2]));
    // Without `since` nothing needs removing: the snapshot simply leaves deleted ones out.
    let joined = app.connect(&bob_token).await.join("lobby").await;
    assert_eq!(seqs(&joined["messages"]), vec![1, 3]);
    assert!(joined.get("deleted").is_none(), "{joined}");
}

async fn a_banned_customer_is_disconnected_and_refused_until_unbanned(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, staff_id) = app.staff().await;
    let (troll_token, troll_id) = app.register("troll").await;
    let mut tab1 = app.connect(&troll_token).await;
    let mut tab2 = app.connect(&troll_token).await;

    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/admin/users/{troll_id}/ban"),
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(
        (status, body["banned"].clone(), body["user"]["id"].clone()),
        (200, json!(true), json!(troll_id))
    );
    assert_eq!(tab1.expect_close().await, Some(1008));
    assert_eq!(tab2.expect_close().await, Some(1008));
    // Old tokens and new sign-ins are refused.
    match WsClient::open(&app.ws_url(&troll_token), None).await.err() {
        Some(awc::error::WsClientError::InvalidResponseStatus(s)) => assert_eq!(s.as_u16(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    assert_eq!(app.get("/api/me", Some(&troll_token)).await.0, 401);
    assert_eq!(
        app.get("/api/rooms/lobby/messages", Some(&troll_token))
            .await
            .0,
        401
    );
    let login = json!({"username": "troll", "password": "password-1"});
    let (status, body) = app.post("/api/auth/login", login.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("forbidden"))
    );

    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/admin/users/{troll_id}/unban"),
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!((status, body["banned"].clone()), (200, json!(false)));
    assert_eq!(app.post("/api/auth/login", login).await.0, 200);
    app.connect(&troll_token).await;

    let (status, _) = call(
        &app,
        "POST",
        &format!("/api/admin/users/{staff_id}/ban"),
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(status, 400, "staff cannot be banned");
    let (status, _) = call(
        &app,
        "POST",
        "/api/admin/users/999999/ban",
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

async fn an_announcement_reaches_the_room_marked_as_one(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, staff_id) = app.staff().await;
    let (ann_token, _) = app.guest("Ann").await;
    let mut ann = app.connect(&ann_token).await;
    ann.join("lobby").await;
    ann.say("lobby", "hello", "a1").await;

    let path = "/api/admin/rooms/lobby/announcements";
    let (status, body) = call(
        &app,
        "POST",
        path,
        Some(&staff_token),
        Some(json!({"text": "Store closes at 6 pm"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["room"].clone(), body["seq"].clone()),
        (json!("lobby"), json!(2))
    );
    let message = ann.expect("message").await;
    assert_eq!(message["kind"], "announcement");
    assert_eq!(message["text"], "Store closes at 6 pm");
    assert_eq!(message["from"]["id"], staff_id);
    assert!(message.get("cid").is_none());
    let (_, page) = app.get("/api/rooms/lobby/messages", Some(&ann_token)).await;
    assert_eq!(page["messages"][1]["kind"], "announcement");
    assert!(
        page["messages"][0].get("kind").is_none(),
        "ordinary messages carry no kind"
    );

    for (room, body, expected) in [
        ("Bad%20Room", json!({"text": "x"}), 400),
        ("lobby", json!({"text": "  "}), 400),
        ("lobby", json!({"text": "x".repeat(4001)}), 413),
        ("lobby", json!({}), 400),
    ] {
        let (status, _) = call(
            &app,
            "POST",
            &format!("/api/admin/rooms/{room}/announcements"),
            Some(&staff_token),
            Some(body),
        )
        .await;
        assert_eq!(status, expected, "{room}");
    }
}

async fn live_figures_count_connections_users_rooms_and_messages(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (ann_token, _) = app.guest("Ann").await;
    let mut tab1 = app.connect(&ann_token).await;
    let mut tab2 = app.connect(&ann_token).await;
    tab1.join("lobby").await;
    tab2.join("kitchen").await;
    for i in 0..3 {
        tab1.say("lobby", "m", &format!("c{i}")).await;
    }
    let (status, stats) = call(&app, "GET", "/api/admin/stats", Some(&staff_token), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            stats["connections"].clone(),
            stats["online_users"].clone(),
            stats["rooms"].clone(),
            stats["messages_per_minute"].clone()
        ),
        (json!(2), json!(1), json!(2), json!(3))
    );
    assert_eq!(stats["messages_total"], 3);
    assert_eq!(stats["users_total"], 2, "staff and Ann");
}
