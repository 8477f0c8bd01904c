//! The support desk's conversations (issue 15): a customer's first message opens one, the staff
//! set its status and assignee, a customer writing into a resolved one reopens it, every change
//! is an `event` in the staff's notes thread and a `conversation_updated` frame. The live side
//! (auto-assignment, viewers, the writer's part) is in `conversations_live.rs`, which shares
//! the helpers of this file.

use crate::helpers::{call, spawn_app, Backend, TestApp, TestData, WsClient};
use crate::on_both_backends;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use serde_json::{json, Value};

on_both_backends!(
    a_customers_first_message_opens_a_conversation_the_staff_set_pending_then_resolved,
    a_customer_writing_into_a_resolved_conversation_reopens_it_and_the_staff_hear_it,
    assigning_and_unassigning_are_recorded_in_the_staffs_notes_thread,
    the_list_filters_by_status_assignee_and_customer,
    customers_and_strangers_cannot_reach_the_conversations,
);

/// Runs a statement on the test's database, as an operator would (the team's endpoints are
/// another engineer's part of the issue).
pub(crate) fn run_sql(data: &TestData, sql: &str) {
    if data.database_url.starts_with("postgres") {
        let mut conn = PgConnection::establish(&data.database_url).expect("connect");
        diesel::sql_query(sql).execute(&mut conn).expect(sql);
    } else {
        let mut conn = SqliteConnection::establish(&data.database_url).expect("connect");
        // The running server's writer may hold the lock a moment: wait as the server does.
        diesel::sql_query("PRAGMA busy_timeout = 10000")
            .execute(&mut conn)
            .expect("busy_timeout");
        diesel::sql_query(sql).execute(&mut conn).expect(sql);
    }
}

/// A registered account made an agent: (token, id).
pub(crate) async fn agent(app: &TestApp, data: &TestData, name: &str) -> (String, i64) {
    let (token, id) = app.register(name).await;
    run_sql(
        data,
        &format!("UPDATE users SET role = 'agent' WHERE id = {id}"),
    );
    (token, id)
}

/// The next frame of type `kind`, passing over any other.
pub(crate) async fn next_of(ws: &mut WsClient, kind: &str) -> Value {
    loop {
        let frame = ws.recv().await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// The next `conversation_updated` about `room`.
pub(crate) async fn update_of(ws: &mut WsClient, room: &str) -> Value {
    loop {
        let frame = next_of(ws, "conversation_updated").await;
        if frame["conversation"]["room"] == room {
            return frame;
        }
    }
}

/// The next `conversation_viewers` about `room`, as the viewers' names.
pub(crate) async fn viewers_of(ws: &mut WsClient, room: &str) -> Vec<String> {
    loop {
        let frame = next_of(ws, "conversation_viewers").await;
        if frame["room"] == room {
            return names(&frame["viewers"]);
        }
    }
}

pub(crate) fn names(users: &Value) -> Vec<String> {
    users
        .as_array()
        .expect("a list")
        .iter()
        .map(|u| u["username"].as_str().expect("a name").to_owned())
        .collect()
}

/// The conversations `token` lists with this query string.
pub(crate) async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/admin/conversations{query}"), Some(token))
        .await;
    assert_eq!(status, 200, "{body}");
    body["conversations"].as_array().expect("a list").clone()
}

pub(crate) fn rooms(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|c| c["room"].as_str().expect("a room").to_owned())
        .collect()
}

/// The messages of `notes:<id>` as (kind, from, text).
pub(crate) async fn notes(
    app: &TestApp,
    token: &str,
    notes_room: &str,
) -> Vec<(String, String, String)> {
    let (status, page) = app
        .get(&format!("/api/rooms/{notes_room}/messages"), Some(token))
        .await;
    assert_eq!(status, 200, "{page}");
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap_or("text").to_owned(),
                m["from"]["username"].as_str().expect("from").to_owned(),
                m["text"].as_str().expect("text").to_owned(),
            )
        })
        .collect()
}

pub(crate) fn event(from: &str, text: &str) -> (String, String, String) {
    ("event".into(), from.into(), text.into())
}

async fn a_customers_first_message_opens_a_conversation_the_staff_set_pending_then_resolved(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (staff, _) = app.staff().await;
    assert!(listed(&app, &staff, "").await.is_empty());

    let (_, ann_id, room, mut ann) = app.guest_in_support("Ann").await;
    ann.say(&room, "my parcel never came", "a1").await;

    let list = listed(&app, &staff, "").await;
    assert_eq!(rooms(&list), [room.as_str()]);
    let item = &list[0];
    assert_eq!(item["status"], "open");
    assert_eq!(item["assignee"], Value::Null);
    assert_eq!(item["customer"]["id"], ann_id);
    assert_eq!(item["online"], true);
    assert_eq!(item["last_message"]["text"], "my parcel never came");
    assert_eq!(item["last_seq"], 1);
    assert_eq!(item["unread"], 1);
    assert!(item["created_at"].as_i64().unwrap() > 0);
    assert_eq!(item["created_at"], item["last_activity"]);
    assert_eq!(item["customer_read_seq"], 0);
    assert_eq!(item["staff_read_seq"], 0);

    let (status, one) = app
        .get(&format!("/api/admin/conversations/{room}"), Some(&staff))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["room"], room.as_str());
    assert_eq!(one["status"], "open");

    let path = format!("/api/admin/conversations/{room}/status");
    for status in ["pending", "resolved"] {
        let (code, body) = app
            .post_as(&staff, &path, json!({ "status": status }))
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["status"], status);
        assert_eq!(body["room"], room.as_str());
        assert_eq!(body["customer"]["id"], ann_id);
    }
    assert_eq!(listed(&app, &staff, "").await[0]["status"], "resolved");

    let (code, body) = app
        .post_as(&staff, &path, json!({ "status": "closed" }))
        .await;
    assert_eq!((code, &body["error"]["code"]), (400, &json!("bad_request")));
    for unknown in ["support:999999", "lobby", "notes:1"] {
        let (code, body) = app
            .post_as(
                &staff,
                &format!("/api/admin/conversations/{unknown}/status"),
                json!({ "status": "open" }),
            )
            .await;
        assert_eq!((code, &body["error"]["code"]), (404, &json!("not_found")));
        let (code, _) = app
            .get(&format!("/api/admin/conversations/{unknown}"), Some(&staff))
            .await;
        assert_eq!(code, 404);
    }
}

async fn a_customer_writing_into_a_resolved_conversation_reopens_it_and_the_staff_hear_it(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, staff_id) = app.staff().await;
    let mut console = app.connect(&staff_token).await;
    let (_, ann_id, room, mut ann) = app.guest_in_support("Ann").await;
    let notes_room = format!("notes:{ann_id}");

    ann.say(&room, "hello?", "a1").await;
    // A new conversation nobody is assigned to is told as its message (`support_activity`),
    // never as a `conversation_updated` (a client of an earlier version would not know it).
    let activity = next_of(&mut console, "support_activity").await;
    assert_eq!(activity["message"]["text"], "hello?");

    // The console keeps the notes thread open: the reopening's event arrives there live.
    console
        .send(json!({"type": "join", "room": notes_room}))
        .await;
    next_of(&mut console, "joined").await;

    let (code, _) = app
        .post_as(
            &staff_token,
            &format!("/api/admin/conversations/{room}/status"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(code, 200);
    let resolved = update_of(&mut console, &room).await;
    assert_eq!(resolved["change"], "status");
    assert_eq!(resolved["by"]["id"], staff_id);
    assert_eq!(resolved["conversation"]["status"], "resolved");

    ann.say(&room, "it came broken", "a2").await;
    let reopened = update_of(&mut console, &room).await;
    assert_eq!(reopened["change"], "reopened");
    assert_eq!(reopened["by"]["id"], ann_id);
    assert_eq!(reopened["conversation"]["status"], "open");
    assert_eq!(
        reopened["conversation"]["last_message"]["text"],
        "it came broken"
    );
    loop {
        let message = next_of(&mut console, "message").await;
        if message["room"] == notes_room.as_str() && message["kind"] == "event" {
            assert_eq!(message["text"], "reopened the conversation");
            assert_eq!(message["from"]["id"], ann_id);
            break;
        }
    }
    assert_eq!(listed(&app, &staff_token, "").await[0]["status"], "open");
    assert_eq!(
        notes(&app, &staff_token, &notes_room).await,
        [
            event("staff", "set the status to resolved"),
            event("Ann", "reopened the conversation"),
        ]
    );

    // A staff reply into a resolved conversation does not reopen it.
    app.post_as(
        &staff_token,
        &format!("/api/admin/conversations/{room}/status"),
        json!({"status": "resolved"}),
    )
    .await;
    console.send(json!({"type": "join", "room": room})).await;
    next_of(&mut console, "joined").await;
    console
        .say(&room, "sorry to hear that, a refund is on its way", "s1")
        .await;
    assert_eq!(
        listed(&app, &staff_token, "").await[0]["status"],
        "resolved"
    );
}

async fn assigning_and_unassigning_are_recorded_in_the_staffs_notes_thread(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (staff, _) = app.staff().await;
    let (bob_token, bob_id) = agent(&app, &data, "bob").await;
    let (_, ann_id, room, mut ann) = app.guest_in_support("Ann").await;
    ann.say(&room, "hi", "a1").await;
    let path = format!("/api/admin/conversations/{room}/assign");

    let (code, body) = app
        .post_as(&staff, &path, json!({ "agent_id": bob_id }))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["assignee"],
        json!({"id": bob_id, "username": "bob", "role": "agent"})
    );
    assert_eq!(
        listed(&app, &bob_token, "").await[0]["assignee"]["id"],
        bob_id
    );

    // Only an active staff member can have it.
    for nobody in [ann_id, 999_999] {
        let (code, body) = app
            .post_as(&staff, &path, json!({ "agent_id": nobody }))
            .await;
        assert_eq!(code, 400, "{body}");
        assert_eq!(
            body["error"]["message"],
            "agent_id must be an active staff member"
        );
    }
    run_sql(
        &data,
        &format!("UPDATE users SET active = false WHERE id = {bob_id}"),
    );
    let (code, _) = app
        .post_as(&staff, &path, json!({ "agent_id": bob_id }))
        .await;
    assert_eq!(
        code, 400,
        "a deactivated member cannot have it, even one who has it now"
    );
    run_sql(
        &data,
        &format!("UPDATE users SET active = true WHERE id = {bob_id}"),
    );

    // Bob passes it back.
    let (code, body) = app
        .post_as(&bob_token, &path, json!({ "agent_id": null }))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["assignee"], Value::Null);

    let (code, body) = app
        .post_as(
            &staff,
            "/api/admin/conversations/support:999999/assign",
            json!({ "agent_id": bob_id }),
        )
        .await;
    assert_eq!((code, &body["error"]["code"]), (404, &json!("not_found")));

    let thread = notes(&app, &staff, &format!("notes:{ann_id}")).await;
    assert_eq!(
        thread,
        [
            event("staff", "assigned the conversation to bob"),
            event("bob", "unassigned the conversation"),
        ]
    );
}

async fn the_list_filters_by_status_assignee_and_customer(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (staff, staff_id) = app.staff().await;
    let (_, carla_id) = agent(&app, &data, "carla").await;
    let mut rooms_of = Vec::new();
    for name in ["Ann Smith", "Bob", "Cy"] {
        let (_, id, room, mut ws) = app.guest_in_support(name).await;
        ws.say(&room, "hello", "c1").await;
        rooms_of.push((id, room));
    }
    let [(ann_id, ann), (_, bob), (_, cy)] = rooms_of.try_into().expect("three");
    run_sql(
        &data,
        &format!("UPDATE users SET external_id = 'shop-77', email = 'cy@mail.example' WHERE id = (SELECT customer_id FROM conversations WHERE room = '{cy}')"),
    );
    for (path, body) in [
        (format!("{ann}/status"), json!({"status": "resolved"})),
        (format!("{ann}/assign"), json!({"agent_id": staff_id})),
        (format!("{cy}/assign"), json!({"agent_id": carla_id})),
    ] {
        let path = format!("/api/admin/conversations/{path}");
        let (code, reply) = app.post_as(&staff, &path, body).await;
        assert_eq!(code, 200, "{reply}");
    }

    // Newest activity first.
    assert_eq!(
        rooms(&listed(&app, &staff, "").await),
        [cy.as_str(), bob.as_str(), ann.as_str()]
    );
    assert_eq!(
        rooms(&listed(&app, &staff, "?status=resolved").await),
        [ann.as_str()]
    );
    assert_eq!(
        rooms(&listed(&app, &staff, "?status=open").await),
        [cy.as_str(), bob.as_str()]
    );
    assert_eq!(
        rooms(&listed(&app, &staff, "?assignee=me").await),
        [ann.as_str()]
    );
    assert_eq!(
        rooms(&listed(&app, &staff, "?assignee=none").await),
        [bob.as_str()]
    );
    assert_eq!(
        rooms(&listed(&app, &staff, &format!("?assignee={carla_id}")).await),
        [cy.as_str()]
    );
    assert_eq!(
        rooms(&listed(&app, &staff, "?q=sMiTh").await),
        [ann.as_str()]
    );
    assert_eq!(
        rooms(&listed(&app, &staff, "?q=SHOP-7").await),
        [cy.as_str()]
    );
    assert_eq!(
        rooms(&listed(&app, &staff, "?q=cy%40mail").await),
        [cy.as_str()]
    );
    assert!(
        listed(&app, &staff, "?q=%25").await.is_empty(),
        "% is no wildcard"
    );
    assert_eq!(
        rooms(&listed(&app, &staff, "?status=resolved&assignee=me&q=ann").await),
        [ann.as_str()]
    );
    assert!(listed(&app, &staff, "?status=open&assignee=me")
        .await
        .is_empty());
    assert_eq!(
        listed(&app, &staff, "?q=ann").await[0]["customer"]["id"],
        ann_id
    );

    for bad in ["?status=closed", "?assignee=someone"] {
        let (code, body) = app
            .get(&format!("/api/admin/conversations{bad}"), Some(&staff))
            .await;
        assert_eq!(
            (code, &body["error"]["code"]),
            (400, &json!("bad_request")),
            "{bad}"
        );
    }
}

async fn customers_and_strangers_cannot_reach_the_conversations(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (_, _, room, mut ann) = app.guest_in_support("Ann").await;
    ann.say(&room, "hi", "a1").await;
    let (user_token, _) = app.register("customer").await;
    let (guest_token, _) = app.guest("Visitor").await;
    let endpoints = [
        (
            "GET",
            "/api/admin/conversations?status=open".to_owned(),
            None,
        ),
        ("GET", format!("/api/admin/conversations/{room}"), None),
        (
            "POST",
            format!("/api/admin/conversations/{room}/status"),
            Some(json!({"status": "resolved"})),
        ),
        (
            "POST",
            format!("/api/admin/conversations/{room}/assign"),
            Some(json!({"agent_id": null})),
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
                (
                    status,
                    reply["error"]["code"].clone(),
                    reply["error"]["message"].clone()
                ),
                (403, json!("forbidden"), json!("staff only")),
                "{method} {path}"
            );
        }
    }
    let (staff, _) = app.staff().await;
    assert_eq!(listed(&app, &staff, "").await[0]["status"], "open");
}
