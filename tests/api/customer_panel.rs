//! The customer panel of the staff console (issue 15): `GET /api/admin/conversations/{room}`
//! says who the customer is, when they were last there, the store page they are on (reported
//! by the widget through `PATCH /api/me`) and their earlier conversations.

use crate::helpers::*;
use crate::identity::{error_code, patch_as, spawn_store_app, vouched};
use crate::on_both_backends;
use crate::read_state::agent;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(
    the_panel_shows_who_the_customer_is_and_their_earlier_conversations,
    last_seen_follows_the_customers_connections,
    the_page_must_be_a_web_address,
    only_staff_open_the_panel_of_a_conversation_that_exists,
);

/// The panel of `room` as `token` sees it.
async fn panel(app: &TestApp, token: &str, room: &str) -> (u16, Value) {
    app.get(&format!("/api/admin/conversations/{room}"), Some(token))
        .await
}

/// The panel once `done` holds of it. `users.last_seen_at` is written off the connection's
/// path (fire and forget), and no frame tells when: asking again until it shows is the only
/// way to wait for it.
async fn panel_once(
    app: &TestApp,
    token: &str,
    room: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = panel(app, token, room).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(start.elapsed() < WAIT, "the panel never got there: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn the_panel_shows_who_the_customer_is_and_their_earlier_conversations(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    // Ann first came as a guest, left her email for an answer, and went away.
    let (guest_token, _, guest_room, mut guest) = app.guest_in_support("Visitor").await;
    guest.say(&guest_room, "do you ship to Norway?", "g1").await;
    let (status, body) = patch_as(
        &app,
        &guest_token,
        "/api/me",
        json!({"email": "ann@shop.example"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    guest.close().await;
    // Someone else left another address; their conversation is not Ann's.
    let (other_token, _, other_room, mut other) = app.guest_in_support("Other").await;
    other.say(&other_room, "hello", "o1").await;
    patch_as(
        &app,
        &other_token,
        "/api/me",
        json!({"email": "bob@shop.example"}),
    )
    .await;

    // Later she signs in on the store (the same address, written otherwise), on the boots page.
    let (status, body) = app
        .post(
            "/api/auth/identify",
            vouched("cust-42", "Ann", Some("Ann@Shop.Example")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ann_token = token_of(&body);
    let ann_id = body["user"]["id"].as_i64().unwrap();
    let room = format!("support:{ann_id}");
    let page = "https://shop.example/boots?size=42";
    let (status, me) = patch_as(&app, &ann_token, "/api/me", json!({ "page": page })).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], ann_id);
    let mut ann = app.connect(&ann_token).await;
    ann.join(&room).await;
    ann.say(&room, "the boots are too small", "a1").await;

    let (staff_token, _) = app.staff().await;
    let body = panel_once(&app, &staff_token, &room, |b| {
        b["panel"]["last_seen"].is_i64()
    })
    .await;
    let shown = &body["panel"];
    assert_eq!(body["room"], room);
    assert_eq!(
        (
            shown["name"].clone(),
            shown["email"].clone(),
            shown["external_id"].clone(),
            shown["page"].clone(),
            shown["online"].clone(),
        ),
        (
            json!("Ann"),
            json!("Ann@Shop.Example"),
            json!("cust-42"),
            json!(page),
            json!(true)
        )
    );
    let first_seen = shown["first_seen"].as_i64().expect("first_seen");
    assert!(
        shown["last_seen"].as_i64().unwrap() >= first_seen,
        "{shown}"
    );
    let earlier = shown["earlier"].as_array().expect("earlier");
    assert_eq!(
        earlier.len(),
        1,
        "only the guest session with her email: {shown}"
    );
    assert_eq!(
        (earlier[0]["room"].clone(), earlier[0]["status"].clone()),
        (json!(guest_room), json!("open"))
    );
    assert!(earlier[0]["last_activity"].is_i64(), "{shown}");
    assert_eq!(
        (
            body["customer_read_seq"].clone(),
            body["staff_read_seq"].clone()
        ),
        (json!(0), json!(0))
    );

    // The read state follows both sides.
    let mut staff = app.connect(&staff_token).await;
    staff.join(&room).await;
    staff
        .send(json!({"type": "read", "room": room, "seq": 1}))
        .await;
    ann.expect_ignoring("seen", &["presence", "unread"]).await;
    let (_, body) = panel(&app, &staff_token, &room).await;
    assert_eq!(body["staff_read_seq"], 1, "{body}");

    // The guest's own panel points back to Ann's conversation.
    let (_, body) = panel(&app, &staff_token, &guest_room).await;
    assert_eq!(body["panel"]["online"], false);
    let rooms: Vec<&Value> = body["panel"]["earlier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["room"])
        .collect();
    assert_eq!(rooms, vec![&json!(room)], "{body}");
}

async fn last_seen_follows_the_customers_connections(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (_, _, room, mut ann) = app.guest_in_support("Ann").await;
    ann.say(&room, "hello", "c1").await;
    let opened = panel_once(&app, &staff_token, &room, |b| {
        b["panel"]["last_seen"].is_i64()
    })
    .await;
    assert_eq!(opened["panel"]["online"], true);
    let opened_at = opened["panel"]["last_seen"].as_i64().unwrap();

    ann.close().await;
    let closed = panel_once(&app, &staff_token, &room, |b| {
        b["panel"]["online"] == false && b["panel"]["last_seen"].as_i64() > Some(opened_at)
    })
    .await;
    assert!(closed["panel"]["page"].is_null(), "{closed}");
}

async fn the_page_must_be_a_web_address(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.guest("Ann").await;
    let long = format!("https://shop.example/{}", "a".repeat(2000));
    for bad in [
        json!({"page": "javascript:alert(1)"}),
        json!({"page": "/boots"}),
        json!({"page": "https:///boots"}),
        json!({"page": "https://shop.example/red boots"}),
        json!({ "page": long }),
        json!({"page": 7}),
        json!({}),
        // Both are checked before either is stored.
        json!({"email": "ann@shop.example", "page": "ftp://shop.example/"}),
    ] {
        let (status, body) = patch_as(&app, &token, "/api/me", bad.clone()).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "bad_request"),
            "{bad}: {body}"
        );
    }
    let (_, me) = app.get("/api/me", Some(&token)).await;
    assert!(me.get("email").is_none(), "nothing stored: {me}");

    let (status, me) = patch_as(
        &app,
        &token,
        "/api/me",
        json!({"email": "ann@shop.example", "page": "http://shop.example:8080/"}),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "ann@shop.example");
}

async fn only_staff_open_the_panel_of_a_conversation_that_exists(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (ann_token, _, room, mut ann) = app.guest_in_support("Ann").await;
    ann.say(&room, "hello", "c1").await;
    let (bob_token, bob_id) = app.guest("Bob").await;

    let (status, body) = app
        .get(&format!("/api/admin/conversations/{room}"), None)
        .await;
    assert_eq!((status, error_code(&body)), (401, "unauthorized"));
    for customer in [&ann_token, &bob_token] {
        let (status, body) = panel(&app, customer, &room).await;
        assert_eq!(
            (status, body),
            (
                403,
                json!({"error": {"code": "forbidden", "message": "staff only"}})
            )
        );
    }

    let (agent_token, _) = agent(&app, &data, "carol").await;
    let (status, body) = panel(&app, &agent_token, &room).await;
    assert_eq!(status, 200, "agents see the panel too: {body}");
    assert_eq!(body["panel"]["name"], "Ann");

    // Bob never wrote: no conversation. Nobody is user 999999.
    for missing in [format!("support:{bob_id}"), "support:999999".to_owned()] {
        let (status, body) = panel(&app, &agent_token, &missing).await;
        assert_eq!(
            (status, body),
            (
                404,
                json!({"error": {"code": "not_found", "message": "no such conversation"}})
            ),
            "{missing}"
        );
    }
    for not_support in ["lobby", "notes:1", "Not%20a%20room!"] {
        let (status, body) = panel(&app, &agent_token, not_support).await;
        assert_eq!(
            (status, error_code(&body)),
            (404, "not_found"),
            "{not_support}: {body}"
        );
    }
}
