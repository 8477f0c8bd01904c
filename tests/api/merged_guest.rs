//! After a guest signed in on the store: the guest's conversation is closed for good (nothing
//! is acked into it, on this server or another one on the same database, and whoever had it
//! open is told where it went), the store's webhooks hear of the moved messages, and the
//! guest's email address and notifications are the customer's.

use crate::helpers::*;
use crate::identity::{error_code, guest_signs_in, patch_as, vouched};
use crate::on_both_backends;
use crate::webhook_receiver::Receiver;
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    a_staff_reply_into_the_guests_room_after_sign_in_is_refused_and_points_to_the_customer,
    a_second_server_still_holding_the_guests_room_refuses_a_reply_into_it,
    the_store_hears_of_the_messages_a_guest_wrote_before_signing_in,
    a_guest_who_signs_in_keeps_their_email_and_notifications,
    a_commit_stores_everything_but_the_messages_to_closed_rooms,
    the_staff_still_read_and_answer_the_conversation_of_a_guest_they_banned,
    a_guest_conversation_left_hours_ago_is_not_handed_to_the_next_customer,
);

/// A server with the store's identity secret and, if given, a webhook receiver.
async fn store_app(backend: Backend, webhook: Option<String>) -> (TestApp, TestData) {
    spawn_app_with(backend, move |s| {
        s.identity_secret = Some(crate::identity::SECRET.into());
        if let Some(url) = webhook {
            s.webhook_url = Some(url);
            s.webhook_secret = Some(crate::webhooks::SECRET.into());
            s.webhook_timeout = Duration::from_secs(2);
            s.webhook_retry_base = Duration::from_millis(50);
            s.webhook_retry_max = Duration::from_millis(200);
        }
    })
    .await
}

/// A guest asking in their support conversation: (token, id, room, socket).
async fn asking_guest(app: &TestApp, words: &[&str]) -> (String, i64, String, WsClient) {
    let (token, id, room, mut client) = app.guest_in_support("Visitor").await;
    for (i, text) in words.iter().enumerate() {
        client.say(&room, text, &format!("g{i}")).await;
    }
    (token, id, room, client)
}

/// The guest signs in on the store as `cust-42`: the customer's (token, id, room).
async fn signs_in(app: &TestApp, guest_token: &str, email: Option<&str>) -> (String, i64, String) {
    let body = guest_signs_in(app, guest_token, vouched("cust-42", "Ann", email)).await;
    let id = body["user"]["id"].as_i64().expect("id");
    (token_of(&body), id, format!("support:{id}"))
}

/// Sends a message and answers the frame that settles it: its ack or its refusal.
async fn try_say(client: &mut WsClient, room: &str, text: &str, cid: &str) -> Value {
    client
        .send(json!({"type": "send", "room": room, "text": text, "cid": cid}))
        .await;
    client
        .expect_ignoring_any(
            &["ack", "error"],
            &[
                "message",
                "presence",
                "typing",
                "support_activity",
                "conversation_updated",
                "conversation_viewers",
                "deleted",
                "online",
                "unread",
            ],
        )
        .await
}

async fn a_staff_reply_into_the_guests_room_after_sign_in_is_refused_and_points_to_the_customer(
    backend: Backend,
) {
    let (app, _data) = store_app(backend, None).await;
    let (staff_token, _) = app.staff().await;
    let mut staff = app.connect(&staff_token).await;
    let (guest_token, _, guest_room, _visitor) = asking_guest(&app, &["my order is late"]).await;
    staff.join(&guest_room).await;

    let (ann_token, _, room) = signs_in(&app, &guest_token, None).await;

    // The staff's page hears where the conversation went, and follows it.
    let moved = staff
        .expect_ignoring(
            "conversation_moved",
            &[
                "presence",
                "support_activity",
                "conversation_updated",
                "conversation_viewers",
                "deleted",
                "online",
            ],
        )
        .await;
    assert_eq!(
        moved,
        json!({"type": "conversation_moved", "from": guest_room, "into": room})
    );
    // A reply typed into the old room is refused, not acked into a room nobody sees.
    let refused = try_say(&mut staff, &guest_room, "found it", "s1").await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["cid"], "s1", "{refused}");
    // Nor can anyone open it again.
    staff
        .send(json!({"type": "join", "room": guest_room}))
        .await;
    let refused = staff
        .expect_ignoring(
            "error",
            &[
                "presence",
                "support_activity",
                "conversation_updated",
                "conversation_viewers",
                "online",
            ],
        )
        .await;
    assert_eq!(
        (refused["code"].clone(), refused["room"].clone()),
        (json!("not_found"), json!(guest_room))
    );
    // The answer goes where the customer sees it.
    staff.join(&room).await;
    assert_eq!(staff.say(&room, "found it", "s2").await, 2);
    assert_eq!(
        app.history(&ann_token, &room).await,
        ["my order is late", "found it"]
    );
    assert_eq!(app.console_rooms(&staff_token).await, [room.as_str()]);
}

async fn a_second_server_still_holding_the_guests_room_refuses_a_reply_into_it(backend: Backend) {
    let (first, data) = store_app(backend, None).await;
    // A second server on the same database, where the staff member is connected.
    let second = start(first.settings.clone()).await;
    let (staff_token, _) = second.staff().await;
    let mut staff = second.connect(&staff_token).await;
    let (guest_token, _, guest_room, _visitor) = asking_guest(&first, &["hello?"]).await;
    staff.join(&guest_room).await;

    // The guest signs in through the first server; the second does not know.
    let (ann_token, _, room) = signs_in(&first, &guest_token, None).await;
    let refused = try_say(&mut staff, &guest_room, "how can I help?", "s1").await;
    assert_eq!(
        (refused["type"].clone(), refused["code"].clone()),
        (json!("error"), json!("not_found")),
        "refused by the writer, never acked: {refused}"
    );
    assert_eq!(refused["cid"], "s1");
    assert_eq!(first.history(&ann_token, &room).await, ["hello?"]);
    // Nothing was written for the retired room, not even its row again.
    let pool = chat_server::db::connection::open_pool(
        &chat_server::db::connection::DbTarget::from_url(&data.database_url),
        1,
        chat_server::db::connection::SqliteSync::Normal,
    )
    .unwrap();
    let mut db = pool.get().unwrap();
    assert_eq!(
        chat_server::db::rooms::last_seq(&mut db, &guest_room).unwrap(),
        0
    );
    second.stop().await;
}

async fn the_store_hears_of_the_messages_a_guest_wrote_before_signing_in(backend: Backend) {
    // The store's backend is down while the guest writes.
    let receiver = Receiver::answering(|_| 503);
    let (app, _data) = store_app(backend, Some(receiver.url())).await;
    let (guest_token, guest_id, guest_room, _visitor) =
        asking_guest(&app, &["hello", "order late"]).await;
    receiver.wait_for(1, |_| true).await;

    let (ann_token, ann_id, room) = signs_in(&app, &guest_token, None).await;
    let mut ann = app.connect(&ann_token).await;
    ann.join(&room).await;
    ann.say(&room, "signed in now", "c1").await;
    receiver.answer(|_| 200);

    let delivered = || {
        receiver
            .delivered()
            .into_iter()
            .filter(|r| r.room() == room)
            .collect::<Vec<_>>()
    };
    receiver
        .wait_for(4, |r| r.status == 200 && r.room() == room)
        .await;
    let got = delivered();
    let events: Vec<(&str, &str, Value)> = got
        .iter()
        .map(|r| (r.event(), r.text(), r.json["message"]["seq"].clone()))
        .collect();
    assert_eq!(
        events,
        [
            ("conversation.created", "", Value::Null),
            ("message.created", "hello", json!(1)),
            ("message.created", "order late", json!(2)),
            ("message.created", "signed in now", json!(3)),
        ]
    );
    for r in &got {
        assert_eq!(r.json["conversation"]["customer"]["id"], ann_id);
        assert_eq!(r.json["conversation"]["customer"]["external_id"], "cust-42");
    }
    assert_eq!(got[1].json["message"]["from"]["id"], ann_id);
    // Whatever of the guest's own conversation reached the store says so consistently.
    for r in receiver.delivered() {
        if r.room() == guest_room {
            assert_eq!(r.json["conversation"]["customer"]["id"], guest_id);
            if r.event() == "message.created" {
                assert_eq!(r.json["message"]["from"]["id"], guest_id, "{}", r.json);
            }
        }
    }
}

async fn a_guest_who_signs_in_keeps_their_email_and_notifications(backend: Backend) {
    let (app, _data) = store_app(backend, None).await;
    // Nobody was online: the guest left an address to be answered by.
    let (guest_token, guest_id, _, _visitor) = asking_guest(&app, &["call me back"]).await;
    let (status, body) = patch_as(
        &app,
        &guest_token,
        "/api/me",
        json!({"email": "visitor@mail.example"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The store already sent the visitor a notification.
    let key = app.api_key("shop").await;
    let (status, sent) = app
        .post_as(
            &key,
            "/api/server/notifications",
            json!({"user_id": guest_id, "title": "Welcome", "body": "10% off today"}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");

    // Signing in without an email keeps the guest's; the notification is the customer's.
    let (ann_token, _, _) = signs_in(&app, &guest_token, None).await;
    let (_, me) = app.get("/api/me", Some(&ann_token)).await;
    assert_eq!(me["email"], "visitor@mail.example", "{me}");
    let (_, page) = app.get("/api/notifications", Some(&ann_token)).await;
    assert_eq!(page["notifications"][0]["id"], sent["id"], "{page}");
    assert_eq!(page["notifications"][0]["title"], "Welcome");
    let ann = app.connect(&ann_token).await;
    assert_eq!(ann.hello["notifications_unread"], 1, "{}", ann.hello);
    // The guest account is gone, not merely banned: nothing held it any more.
    let (status, refused) = app.get("/api/me", Some(&guest_token)).await;
    assert_eq!((status, error_code(&refused)), (401, "unauthorized"));

    // A customer whose store gives an address keeps the store's.
    let (other_guest, _, _, _other) = asking_guest(&app, &["hi"]).await;
    patch_as(
        &app,
        &other_guest,
        "/api/me",
        json!({"email": "old@mail.example"}),
    )
    .await;
    let body = guest_signs_in(
        &app,
        &other_guest,
        vouched("cust-7", "Bob", Some("bob@shop.example")),
    )
    .await;
    let (_, me) = app.get("/api/me", Some(&token_of(&body))).await;
    assert_eq!(me["email"], "bob@shop.example");
}

async fn a_commit_stores_everything_but_the_messages_to_closed_rooms(backend: Backend) {
    use chat_server::db::connection::{open_pool, DbTarget, SqliteSync};
    use chat_server::db::messages::{store_batch, NewMessage, StoreOutcome};
    use chat_server::db::{admin, rooms, users};
    use chat_server::domain::{MessageKind, Role, UserId};

    let data = TestData::new(&backend);
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 1, SqliteSync::Full).unwrap();
    let mut db = pool.get().unwrap();
    let mut account =
        |name, role| UserId(users::insert_user(&mut db, name, role, None).unwrap().id);
    let (ann, finished, banned, staff) = (
        account("ann", Role::User),
        account("visitor", Role::Guest),
        account("troll", Role::Guest),
        account("staff", Role::Admin),
    );
    // A guest finished by a merge and kept (banned and marked), a guest the staff banned (whose
    // conversation stays open to them), and a room whose owner never existed.
    {
        use chat_server::db::schema::users as table;
        use diesel::prelude::*;
        chat_server::with_backend!(&mut *db, c => diesel::update(table::table.find(finished.0))
            .set((table::banned.eq(true), table::merged_into.eq(ann.0)))
            .execute(c))
        .unwrap();
    }
    admin::set_banned(&mut db, banned, true).unwrap();
    let gone = UserId(staff.0 + 1000);
    let message = |room: String, cid: &str| NewMessage {
        room,
        sender: staff,
        cid: Some(cid.to_owned()),
        text: format!("text {cid}"),
        kind: MessageKind::Text,
    };
    // Small and large batches (PostgreSQL stores them in two different ways).
    for round in 0..2 {
        let cid = |name: &str| format!("{name}{round}");
        let mut batch = vec![
            message("lobby".into(), &cid("a")),
            message(format!("support:{}", finished.0), &cid("b")),
            message(format!("support:{}", ann.0), &cid("c")),
            message(format!("support:{}", gone.0), &cid("d")),
            message(format!("support:{}", banned.0), &cid("f")),
        ];
        if round == 1 {
            let more =
                (0..4).map(|i| message(format!("support:{}", ann.0), &cid(&format!("e{i}"))));
            batch.extend(more);
        }
        let outcomes = store_batch(&mut db, &batch).unwrap();
        let refused: Vec<bool> = outcomes
            .iter()
            .map(|o| *o == StoreOutcome::Refused)
            .collect();
        let mut expected = vec![false, true, false, true, false];
        expected.resize(batch.len(), false);
        assert_eq!(refused, expected, "round {round}: {outcomes:?}");
    }
    assert_eq!(rooms::last_seq(&mut db, "lobby").unwrap(), 2);
    assert_eq!(
        rooms::last_seq(&mut db, &format!("support:{}", ann.0)).unwrap(),
        6
    );
    for closed in [finished, gone] {
        let room = format!("support:{}", closed.0);
        assert_eq!(
            rooms::last_seq(&mut db, &room).unwrap(),
            0,
            "{room}: no row, no seq"
        );
    }
}

/// A ban is not a sign-in: the banned guest's conversation stays open to the staff, who read
/// what was written and may answer it (for the record, or for when the ban is lifted).
async fn the_staff_still_read_and_answer_the_conversation_of_a_guest_they_banned(backend: Backend) {
    let (app, _data) = store_app(backend, None).await;
    let (_guest_token, guest_id, room, mut guest) =
        asking_guest(&app, &["you are all useless", "refund NOW"]).await;
    let (staff_token, _) = app.staff().await;
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/admin/users/{guest_id}/ban"),
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(guest.expect_close().await, Some(1008));

    let mut staff = app.connect(&staff_token).await;
    let joined = staff.join(&room).await;
    assert_eq!(
        texts(&joined["messages"]),
        ["you are all useless", "refund NOW"]
    );
    let answer = try_say(&mut staff, &room, "We have noted your request.", "s1").await;
    assert_eq!(
        (answer["type"].clone(), answer["seq"].clone()),
        (json!("ack"), json!(3))
    );
    assert_eq!(
        app.history(&staff_token, &room).await,
        [
            "you are all useless",
            "refund NOW",
            "We have noted your request."
        ]
    );
}

/// A shared computer: a visitor asked something as a guest this morning and left without
/// signing in; hours later another person signs in on the store in the same browser, which still
/// holds the guest's token. The morning's conversation is not theirs: it stays the guest's.
async fn a_guest_conversation_left_hours_ago_is_not_handed_to_the_next_customer(backend: Backend) {
    use chat_server::db::connection::{open_pool, DbTarget, SqliteSync};
    use chat_server::db::schema::{messages, users};
    use diesel::prelude::*;

    let (app, data) = store_app(backend, None).await;
    let (guest_token, guest_id, room, visitor) =
        asking_guest(&app, &["my address is 12 Elm Street", "order 5521"]).await;
    visitor.close().await;
    // Three hours pass.
    let three_hours = 3 * 60 * 60 * 1000;
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 1, SqliteSync::Full).unwrap();
    let mut db = pool.get().unwrap();
    chat_server::with_backend!(&mut *db, c => {
        diesel::update(messages::table.filter(messages::room.eq(&room)))
            .set(messages::created_at.eq(messages::created_at - three_hours))
            .execute(c)
            .unwrap();
        diesel::update(users::table.find(guest_id))
            .set(users::created_at.eq(users::created_at - three_hours))
            .execute(c)
    })
    .unwrap();

    let (ann_token, _, ann_room) = signs_in(&app, &guest_token, None).await;
    assert!(
        app.history(&ann_token, &ann_room).await.is_empty(),
        "the morning's guest conversation was handed to the customer"
    );
    // It stays where it was, the guest's, for the staff to see.
    let (staff_token, _) = app.staff().await;
    assert_eq!(
        app.history(&staff_token, &room).await,
        ["my address is 12 Elm Street", "order 5521"]
    );
    let (status, _) = app.get("/api/me", Some(&guest_token)).await;
    assert_eq!(status, 200, "the guest was not finished");
}
