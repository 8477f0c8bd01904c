//! Staff notes: a staff member writes a private note on a support conversation (`send` with
//! `note: true`, or straight to `notes:<id>`); every staff member sees it, live and in the
//! notes thread's history; the customer never does, by any road a message could take: live
//! frames on each of their sockets, `joined` (with and without `since`), history over the
//! socket and over REST, the unread count of `hello`, webhooks, or asking for the thread.

use crate::helpers::*;
use crate::on_both_backends;
use crate::webhook_receiver::DownPort;
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

on_both_backends!(
    a_note_reaches_every_staff_member_and_never_the_customers_two_sockets,
    what_the_customer_reads_later_holds_no_note,
    a_customer_can_neither_write_nor_read_notes,
    staff_write_notes_from_the_conversation_or_the_thread_and_read_them_back,
    a_note_makes_no_webhook_event,
    notes_threads_do_not_count_against_the_public_room_cap,
);

/// Runs one SQL statement on the test's database: the rows it changed.
pub fn sql(data: &TestData, statement: &str) -> usize {
    let url = &data.database_url;
    let changed = if url.starts_with("postgres") {
        let mut conn = diesel::PgConnection::establish(url).expect("connect");
        diesel::sql_query(statement).execute(&mut conn)
    } else {
        let mut conn = diesel::SqliteConnection::establish(url).expect("open");
        // A server's threads may still be letting go of the file (a stopped server's writer,
        // its mail worker): wait for the lock as the server does, never fail at once.
        diesel::sql_query("PRAGMA busy_timeout = 10000")
            .execute(&mut conn)
            .expect("busy_timeout");
        diesel::sql_query(statement).execute(&mut conn)
    };
    changed.expect(statement)
}

/// A staff member of role `agent` (made from a registered account in the database, as the
/// team's API is not what these stories are about): (token, user id).
pub async fn agent(app: &TestApp, data: &TestData, username: &str) -> (String, i64) {
    let (_, id) = app.register(username).await;
    let changed = sql(
        data,
        &format!("UPDATE users SET role = 'agent' WHERE id = {id}"),
    );
    assert_eq!(changed, 1);
    let (status, body) = app
        .post(
            "/api/auth/login",
            json!({ "username": username, "password": "password-1" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "agent", "{body}");
    (token_of(&body), id)
}

/// Sends a note on `room` and returns its ack.
async fn note(client: &mut WsClient, room: &str, text: &str, cid: &str) -> Value {
    client
        .send(json!({"type": "send", "room": room, "text": text, "note": true, "cid": cid}))
        .await;
    let ack = client
        .expect_ignoring(
            "ack",
            &["message", "presence", "typing", "support_activity"],
        )
        .await;
    assert_eq!(ack["cid"], cid, "{ack}");
    ack
}

/// The frames a customer's socket gets up to (and with) the message `text`.
async fn frames_until_message(client: &mut WsClient, text: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = client.recv().await;
        let last = frame["type"] == "message" && frame["text"] == text;
        frames.push(frame);
        if last {
            return frames;
        }
    }
}

async fn a_note_reaches_every_staff_member_and_never_the_customers_two_sockets(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (ann_token, ann_id, support, mut ann1) = app.guest_in_support("Ann").await;
    let notes = format!("notes:{ann_id}");
    let mut ann2 = app.connect(&ann_token).await;
    ann2.join(&support).await;
    let (admin_token, _) = app.staff().await;
    let mut admin = app.connect(&admin_token).await;
    admin.join(&support).await;
    let (agent_token, _) = agent(&app, &data, "bob").await;
    let mut bob = app.connect(&agent_token).await;

    ann1.say(&support, "Hello, my parcel is late", "a1").await;
    let activity = bob.expect("support_activity").await;
    assert_eq!(activity["message"]["text"], "Hello, my parcel is late");

    let ack = note(
        &mut admin,
        &support,
        "VIP customer: refund without asking",
        "n1",
    )
    .await;
    assert_eq!(ack, json!({"type":"ack","cid":"n1","room":notes,"seq":1}));
    // Bob, in no room, hears of it as activity of the conversation.
    let activity = bob.expect("support_activity").await;
    assert_eq!(activity["room"], support.as_str(), "{activity}");
    let message = &activity["message"];
    assert_eq!(message["room"], notes.as_str(), "{activity}");
    assert_eq!(message["text"], "VIP customer: refund without asking");
    assert_eq!(message["kind"], "note");
    assert_eq!(message["note"], true);
    assert_eq!(message["seq"], 1);
    assert_eq!(message["from"]["username"], "staff");

    admin.say(&support, "Hi Ann, let me check", "r1").await;
    for ann in [&mut ann1, &mut ann2] {
        let frames = frames_until_message(ann, "Hi Ann, let me check").await;
        for frame in &frames {
            let text = frame.to_string();
            assert!(
                !text.contains("VIP") && !text.contains("notes:"),
                "the customer got {text}"
            );
        }
    }
    // Nothing else is on its way to either socket: the note was stored before the reply.
    ann1.expect_silence(std::time::Duration::from_millis(200))
        .await;
    ann2.expect_silence(std::time::Duration::from_millis(50))
        .await;
}

async fn what_the_customer_reads_later_holds_no_note(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (ann_token, ann_id, support, mut ann) = app.guest_in_support("Ann").await;
    let notes = format!("notes:{ann_id}");
    let (admin_token, _) = app.staff().await;
    let mut admin = app.connect(&admin_token).await;
    admin.join(&support).await;
    ann.say(&support, "Hello", "a1").await;
    note(&mut admin, &support, "VIP", "n1").await;
    admin.say(&support, "Hi Ann", "r1").await;
    note(&mut admin, &support, "VIP again", "n2").await;
    ann.close().await;

    // hello: her conversation only, one unread (the reply), no notes thread.
    let mut ann = app.connect(&ann_token).await;
    let rooms = ann.hello["rooms"].as_array().expect("rooms").clone();
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    assert_eq!(rooms[0]["room"], support.as_str());
    assert_eq!(rooms[0]["unread"], 1);
    assert_eq!(rooms[0]["last_seq"], 2);

    let joined = ann.join(&support).await;
    assert_eq!(texts(&joined["messages"]), ["Hello", "Hi Ann"]);
    ann.send(json!({"type": "join", "room": support, "since": 0}))
        .await;
    let recovered = ann.expect("joined").await;
    assert_eq!(texts(&recovered["messages"]), ["Hello", "Hi Ann"]);
    assert_eq!(recovered["recovered"], true);
    ann.send(json!({"type": "history", "room": support})).await;
    let page = ann.expect("history").await;
    assert_eq!(texts(&page["messages"]), ["Hello", "Hi Ann"]);
    assert_eq!(app.history(&ann_token, &support).await, ["Hello", "Hi Ann"]);
    let (status, body) = app
        .get(&format!("/api/rooms/{notes}/messages"), Some(&ann_token))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");

    // The staff read them in the thread, in order, marked as notes.
    let (status, page) = app
        .get(&format!("/api/rooms/{notes}/messages"), Some(&admin_token))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(texts(&page["messages"]), ["VIP", "VIP again"]);
    assert_eq!(seqs(&page["messages"]), [1, 2]);
    for m in page["messages"].as_array().unwrap() {
        assert_eq!((&m["kind"], &m["note"]), (&json!("note"), &json!(true)));
    }
}

async fn a_customer_can_neither_write_nor_read_notes(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (_, ann_id, support, mut ann) = app.guest_in_support("Ann").await;
    let notes = format!("notes:{ann_id}");

    ann.send(json!({"type":"send","room":support,"text":"let me in","note":true,"cid":"c1"}))
        .await;
    let refused = ann.expect("error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    assert_eq!(refused["cid"], "c1");
    ann.send(json!({"type":"send","room":notes,"text":"let me in","cid":"c2"}))
        .await;
    let refused = ann.expect("error").await;
    assert_eq!(
        (&refused["code"], &refused["cid"]),
        (&json!("forbidden"), &json!("c2"))
    );
    for frame in [
        json!({"type": "join", "room": notes}),
        json!({"type": "join", "room": notes, "since": 0}),
        json!({"type": "history", "room": notes}),
    ] {
        ann.send(frame.clone()).await;
        let refused = ann.expect("error").await;
        assert_eq!(refused["code"], "forbidden", "{frame} -> {refused}");
        assert_eq!(refused["room"], notes.as_str());
    }
    // A registered customer is refused alike, and nothing was stored for any of it.
    let (carl_token, _) = app.register("carl").await;
    let mut carl = app.connect(&carl_token).await;
    carl.send(json!({"type":"send","room":"lobby","text":"psst","note":true,"cid":"c3"}))
        .await;
    let refused = carl.expect("error").await;
    assert_eq!(
        (&refused["code"], &refused["cid"]),
        (&json!("forbidden"), &json!("c3"))
    );
    let (admin_token, _) = app.staff().await;
    let (status, page) = app
        .get(&format!("/api/rooms/{notes}/messages"), Some(&admin_token))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(texts(&page["messages"]), Vec::<String>::new());
}

async fn staff_write_notes_from_the_conversation_or_the_thread_and_read_them_back(
    backend: Backend,
) {
    let (app, data) = spawn_app(backend).await;
    let (_, ann_id, support, mut ann) = app.guest_in_support("Ann").await;
    let notes = format!("notes:{ann_id}");
    ann.say(&support, "Hello", "a1").await;
    let (admin_token, _) = app.staff().await;
    let mut admin = app.connect(&admin_token).await;
    let (bob_token, _) = agent(&app, &data, "bob").await;
    let mut bob = app.connect(&bob_token).await;

    // A note needs the conversation (or its thread) joined, and a support conversation.
    admin
        .send(json!({"type":"send","room":support,"text":"x","note":true,"cid":"n0"}))
        .await;
    let refused = admin.expect("error").await;
    assert_eq!(
        (&refused["code"], &refused["cid"]),
        (&json!("bad_request"), &json!("n0"))
    );
    admin.join("lobby").await;
    admin
        .send(json!({"type":"send","room":"lobby","text":"x","note":true,"cid":"n00"}))
        .await;
    let refused = admin.expect_ignoring("error", &["presence"]).await;
    assert_eq!(
        (&refused["code"], &refused["cid"]),
        (&json!("bad_request"), &json!("n00"))
    );

    // Bob follows the thread itself; the admin writes from the conversation.
    let joined = bob.join(&notes).await;
    assert_eq!(joined["last_seq"], 0);
    admin.join(&support).await;
    let ack = note(&mut admin, &support, "Ordered twice", "n1").await;
    assert_eq!((&ack["room"], &ack["seq"]), (&json!(notes), &json!(1)));
    let live = bob
        .expect_ignoring("message", &["support_activity", "conversation_viewers"])
        .await;
    assert_eq!(live["room"], notes.as_str());
    assert_eq!(
        (&live["text"], &live["note"]),
        (&json!("Ordered twice"), &json!(true))
    );

    // A send straight to the thread is a note too, flag or not.
    let seq = bob.say(&notes, "Refund the second one", "b1").await;
    assert_eq!(seq, 2);
    let activity = admin.expect_ignoring("support_activity", &[]).await;
    assert_eq!(activity["room"], support.as_str());
    assert_eq!(activity["message"]["kind"], "note");
    assert_eq!(activity["message"]["from"]["username"], "bob");
    // The same cid again is the same note.
    assert_eq!(bob.say(&notes, "Refund the second one", "b1").await, 2);

    // Reading back: recovery after seq 1, and history.
    let mut admin2 = app.connect(&admin_token).await;
    admin2
        .send(json!({"type": "join", "room": notes, "since": 1}))
        .await;
    let recovered = admin2.expect_ignoring("joined", &["presence"]).await;
    assert_eq!(texts(&recovered["messages"]), ["Refund the second one"]);
    assert_eq!(recovered["messages"][0]["note"], true);
    admin2.send(json!({"type": "history", "room": notes})).await;
    let page = admin2.expect_ignoring("history", &["presence"]).await;
    assert_eq!(
        texts(&page["messages"]),
        ["Ordered twice", "Refund the second one"]
    );
    // The conversation itself holds only Ann's message.
    assert_eq!(app.history(&admin_token, &support).await, ["Hello"]);
}

async fn a_note_makes_no_webhook_event(backend: Backend) {
    // The store's backend is down, so every event stays in the outbox, where it was written
    // in the transaction of its message: what is there once the messages are acked is every
    // event there will ever be.
    let down = DownPort::new();
    let (app, data) = spawn_app_with(backend, |s| {
        s.webhook_url = Some(down.url());
        s.webhook_secret = Some("the-store's-webhook-secret-of-32-bytes".into());
    })
    .await;
    let (_, ann_id, support, mut ann) = app.guest_in_support("Ann").await;
    let (admin_token, _) = app.staff().await;
    let mut admin = app.connect(&admin_token).await;
    admin.join(&support).await;
    admin.join(&format!("notes:{ann_id}")).await;
    ann.say(&support, "Hello", "a1").await;
    note(&mut admin, &support, "VIP", "n1").await;
    admin
        .say(&format!("notes:{ann_id}"), "VIP again", "n2")
        .await;
    ann.say(&support, "Anyone?", "a2").await;

    let events =
        "SELECT COUNT(*) AS n FROM webhook_outbox o JOIN messages m ON m.id = o.message_id";
    assert_eq!(
        count(&data, events),
        3,
        "conversation.created and two messages"
    );
    let of_notes = format!("{events} WHERE m.kind = 'note' OR o.room NOT LIKE 'support:%'");
    assert_eq!(count(&data, &of_notes), 0);
}

async fn notes_threads_do_not_count_against_the_public_room_cap(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| s.max_rooms_per_user = 2).await;
    let (admin_token, _) = app.staff().await;
    let mut admin = app.connect(&admin_token).await;
    // Staff follow the threads of as many conversations as they answer, like the conversations.
    for name in ["Ann", "Bea", "Cid"] {
        let (_, id) = app.guest(name).await;
        let joined = admin.join(&format!("notes:{id}")).await;
        assert_eq!(joined["last_seq"], 0);
    }
    // Two public rooms still fit; a third does not.
    admin.join("lobby").await;
    admin.join("kitchen").await;
    admin.send(json!({"type": "join", "room": "garden"})).await;
    let refused = admin.expect_ignoring("error", &["presence"]).await;
    assert_eq!(refused["code"], "too_many_rooms", "{refused}");
}

/// The `n` of a `SELECT COUNT(*) AS n` on the test's database.
pub fn count(data: &TestData, query: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let url = &data.database_url;
    let row: Count = if url.starts_with("postgres") {
        let mut conn = diesel::PgConnection::establish(url).expect("connect");
        diesel::sql_query(query).get_result(&mut conn)
    } else {
        let mut conn = diesel::SqliteConnection::establish(url).expect("open");
        diesel::sql_query("PRAGMA busy_timeout = 10000")
            .execute(&mut conn)
            .expect("busy_timeout");
        diesel::sql_query(query).get_result(&mut conn)
    }
    .expect(query);
    row.n
}
