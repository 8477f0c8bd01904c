//! Read state both ways in a support conversation (issue 15): the customer sees when the staff
//! has read their messages, the staff see when the customer has read the reply (`seen`), and
//! `joined` of a support room says how far the other side has read (`seen_seq`).

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::json;

on_both_backends!(
    a_customer_sees_when_the_staff_has_read_their_messages,
    a_read_below_the_staffs_mark_tells_the_customer_nothing,
    the_staff_see_when_the_customer_has_read_the_reply,
);

/// Frames a support conversation's participants get besides the ones a story looks for.
const AROUND: &[&str] = &[
    "presence",
    "support_activity",
    "typing",
    "unread",
    "message",
    "ack",
    "conversation_viewers",
    "conversation_updated",
];

/// A second staff member, an agent, made in the database (the team API is another part of
/// the issue) and signed in: (token, id).
pub async fn agent(app: &TestApp, data: &TestData, name: &str) -> (String, i64) {
    use chat_server::auth::password::hash_password;
    use chat_server::db::{open_pool, users, DbTarget, SqliteSync};
    use chat_server::domain::Role;
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 1, SqliteSync::Full).unwrap();
    let hash = hash_password("password-1").unwrap();
    users::insert_user(&mut pool.get().unwrap(), name, Role::Agent, Some(&hash)).unwrap();
    let (status, body) = app
        .post(
            "/api/auth/login",
            json!({ "username": name, "password": "password-1" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (token_of(&body), body["user"]["id"].as_i64().expect("id"))
}

async fn a_customer_sees_when_the_staff_has_read_their_messages(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (ann_token, _, room, mut ann) = app.guest_in_support("Ann").await;
    ann.say(&room, "my order has not come", "c1").await;
    ann.say(&room, "it is order 42", "c2").await;

    let (staff_token, _) = app.staff().await;
    let mut staff = app.connect(&staff_token).await;
    let joined = staff.join(&room).await;
    assert_eq!(
        joined["seen_seq"], 0,
        "Ann has read nothing of theirs: {joined}"
    );

    staff
        .send(json!({"type": "read", "room": room, "seq": 2}))
        .await;
    assert_eq!(
        ann.expect_ignoring("seen", AROUND).await,
        json!({"type": "seen", "room": room, "seq": 2, "by": "staff"})
    );
    assert_eq!(staff.expect_ignoring("unread", AROUND).await["count"], 0);

    // After a reload the page knows it from `joined`.
    ann.close().await;
    let mut ann = app.connect(&ann_token).await;
    let joined = ann.join(&room).await;
    assert_eq!(joined["seen_seq"], 2, "{joined}");
    // Only support rooms carry it.
    let lobby = staff.join("lobby").await;
    assert!(lobby.get("seen_seq").is_none(), "{lobby}");
}

async fn a_read_below_the_staffs_mark_tells_the_customer_nothing(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (_, _, room, mut ann) = app.guest_in_support("Ann").await;
    for (text, cid) in [("one", "c1"), ("two", "c2"), ("three", "c3")] {
        ann.say(&room, text, cid).await;
    }
    let (admin_token, _) = app.staff().await;
    let mut admin = app.connect(&admin_token).await;
    admin.join(&room).await;
    let (bob_token, _) = agent(&app, &data, "bob").await;
    let mut bob = app.connect(&bob_token).await;
    bob.join(&room).await;

    admin
        .send(json!({"type": "read", "room": room, "seq": 2}))
        .await;
    assert_eq!(ann.expect_ignoring("seen", AROUND).await["seq"], 2);
    assert_eq!(admin.expect_ignoring("unread", AROUND).await["count"], 1);

    // Bob catches up to 1 and the admin reads 2 again: the staff's mark stays at 2. Each
    // reader's `unread` comes after anything the read sends the customer, so a message sent
    // once both came is the customer's next frame if no `seen` was sent.
    bob.send(json!({"type": "read", "room": room, "seq": 1}))
        .await;
    bob.expect_ignoring("unread", AROUND).await;
    admin
        .send(json!({"type": "read", "room": room, "seq": 2}))
        .await;
    admin.expect_ignoring("unread", AROUND).await;
    admin.say(&room, "looking into it", "s1").await;
    let next = ann
        .expect_ignoring_any(
            &["seen", "message"],
            &["presence", "typing", "unread", "conversation_viewers"],
        )
        .await;
    assert_eq!(
        next["type"], "message",
        "no seen for reads below the mark: {next}"
    );
    assert_eq!(next["text"], "looking into it");

    // Bob reads past the mark (the admin's reply included): the customer hears of it.
    bob.send(json!({"type": "read", "room": room, "seq": 4}))
        .await;
    assert_eq!(
        ann.expect_ignoring("seen", AROUND).await,
        json!({"type": "seen", "room": room, "seq": 4, "by": "staff"})
    );
}

async fn the_staff_see_when_the_customer_has_read_the_reply(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (_, _, room, mut ann) = app.guest_in_support("Ann").await;
    ann.say(&room, "hello?", "c1").await;
    let (admin_token, _) = app.staff().await;
    let mut admin = app.connect(&admin_token).await;
    admin.join(&room).await;
    // Another staff member, not in the conversation, hears of it too (the console's list).
    let (bob_token, _) = agent(&app, &data, "bob").await;
    let mut bob = app.connect(&bob_token).await;
    let reply = admin.say(&room, "hi Ann, how can I help?", "s1").await;

    ann.send(json!({"type": "read", "room": room, "seq": reply}))
        .await;
    let seen = json!({"type": "seen", "room": room, "seq": reply, "by": "customer"});
    assert_eq!(admin.expect_ignoring("seen", AROUND).await, seen);
    assert_eq!(bob.expect_ignoring("seen", AROUND).await, seen);
    // The customer hears nothing of their own read but the count.
    assert_eq!(
        ann.expect_ignoring_any(&["seen", "unread"], AROUND).await,
        json!({"type": "unread", "room": room, "count": 0})
    );

    // Reading the same seq again moves nothing: the admin's next frame is Ann's next message.
    ann.send(json!({"type": "read", "room": room, "seq": reply}))
        .await;
    ann.expect_ignoring("unread", AROUND).await;
    ann.say(&room, "thanks", "c2").await;
    let next = admin
        .expect_ignoring_any(
            &["seen", "message"],
            &["presence", "typing", "support_activity"],
        )
        .await;
    assert_eq!(next["type"], "message", "{next}");
    assert_eq!(next["text"], "thanks");

    // A staff member opening the conversation later knows it from `joined`.
    let joined = bob.join(&room).await;
    assert_eq!(joined["seen_seq"], reply, "{joined}");
}
