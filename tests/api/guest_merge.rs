//! The guest who signs in on the store loses nothing: `POST /api/auth/identify` with the
//! guest's token moves the guest's support conversation into the customer's.

use crate::helpers::*;
use crate::identity::{customer_in_support, error_code, guest_signs_in, spawn_store_app, vouched};
use crate::on_both_backends;
use serde_json::{json, Value};

on_both_backends!(
    a_guest_who_signs_in_on_the_store_loses_nothing,
    the_moved_messages_reach_the_customers_other_device_in_order,
    what_the_guest_had_read_stays_read,
    only_a_guest_token_merges_and_only_the_guests_own_conversation,
    a_guest_who_also_wrote_in_a_public_room_is_deactivated_and_keeps_those_messages,
);

/// The frames a client gets until `count` of type `kind` came, skipping the others.
async fn collect(client: &mut WsClient, kind: &str, count: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < count {
        let frame = client.recv().await;
        if frame["type"] == kind {
            out.push(frame);
        }
    }
    out
}

async fn a_guest_who_signs_in_on_the_store_loses_nothing(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (staff_token, staff_id) = app.staff().await;
    let mut staff = app.connect(&staff_token).await;

    // A visitor asks as a guest, and the staff answer in the guest's conversation.
    let (guest_token, _, guest_room, mut visitor) = app.guest_in_support("Visitor").await;
    visitor.say(&guest_room, "hello, anyone?", "g1").await;
    visitor
        .say(&guest_room, "my order 1234 is late", "g2")
        .await;
    staff.join(&guest_room).await;
    staff.say(&guest_room, "let me look", "s1").await;
    visitor.expect_ignoring("message", &["presence"]).await;

    // Then signs in on the store: the widget identifies with the guest's token.
    let body = guest_signs_in(&app, &guest_token, vouched("cust-42", "Ann Smith", None)).await;
    let customer = body["user"].clone();
    let token = token_of(&body);
    let room = format!("support:{}", customer["id"]);

    // The guest is finished: its socket is closed and its token refused.
    assert_eq!(visitor.expect_close().await, Some(1008));
    let (status, refused) = app.get("/api/me", Some(&guest_token)).await;
    assert_eq!((status, error_code(&refused)), (401, "unauthorized"));

    // The customer's conversation holds it all, in order; the visitor's words are theirs now,
    // the staff's answer is still the staff's.
    let mut ann = app.connect(&token).await;
    let joined = ann.join(&room).await;
    assert_eq!(
        texts(&joined["messages"]),
        ["hello, anyone?", "my order 1234 is late", "let me look"]
    );
    assert_eq!(seqs(&joined["messages"]), [1, 2, 3]);
    let authors: Vec<Value> = joined["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from"]["id"].clone())
        .collect();
    assert_eq!(
        authors,
        [
            customer["id"].clone(),
            customer["id"].clone(),
            json!(staff_id)
        ]
    );

    // The staff saw the messages arrive in the customer's conversation and leave the guest's.
    let activity = collect(&mut staff, "support_activity", 3).await;
    let moved: Vec<(Value, Value)> = activity
        .iter()
        .map(|a| (a["room"].clone(), a["message"]["text"].clone()))
        .collect();
    assert_eq!(
        moved,
        [
            (json!(room), json!("hello, anyone?")),
            (json!(room), json!("my order 1234 is late")),
            (json!(room), json!("let me look")),
        ]
    );
    // The guest's conversation, open on the staff's screen, empties.
    let emptied: Vec<(Value, Value)> = collect(&mut staff, "deleted", 3)
        .await
        .iter()
        .map(|d| (d["room"].clone(), d["seq"].clone()))
        .collect();
    assert_eq!(
        emptied,
        [1, 2, 3].map(|seq| (json!(guest_room), json!(seq)))
    );
    // Then it tells where the conversation went.
    let moved = staff
        .expect_ignoring("conversation_moved", &["presence", "online"])
        .await;
    assert_eq!(
        (&moved["from"], &moved["into"]),
        (&json!(guest_room), &json!(room))
    );
    // And they answer there.
    staff.join(&room).await;
    staff.say(&room, "found it: it ships today", "s2").await;
    let answer = ann.expect_ignoring("message", &["presence"]).await;
    assert_eq!(
        (answer["seq"].clone(), answer["text"].clone()),
        (json!(4), json!("found it: it ships today"))
    );
    assert_eq!(
        app.console_rooms(&staff_token).await,
        [room.as_str()],
        "the guest's conversation is retired"
    );
    let (_, history) = app
        .get(&format!("/api/rooms/{room}/messages"), Some(&staff_token))
        .await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 4);

    // The same guest token again merges nothing more (the guest is gone); the customer is fine.
    let (status, again) = app
        .post_as(
            &guest_token,
            "/api/auth/identify",
            vouched("cust-42", "Ann Smith", None),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    let (_, history) = app
        .get(&format!("/api/rooms/{room}/messages"), Some(&token))
        .await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 4);
}

async fn the_moved_messages_reach_the_customers_other_device_in_order(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    // The customer is already signed in on their phone, with a conversation of their own.
    let (_, ann, room, mut phone) = customer_in_support(&app, "cust-42", "Ann").await;
    phone.say(&room, "asked from the phone", "p1").await;

    // On the laptop, a guest writes twice, then signs in.
    let (guest_token, _, guest_room, mut laptop) = app.guest_in_support("Visitor").await;
    laptop.say(&guest_room, "one", "g1").await;
    laptop.say(&guest_room, "two", "g2").await;
    let body = guest_signs_in(&app, &guest_token, vouched("cust-42", "Ann", None)).await;

    // The phone gets them live, after what it holds, and then whatever comes next.
    let live = collect(&mut phone, "message", 2).await;
    assert_eq!(
        live.iter()
            .map(|m| (
                m["seq"].as_i64().unwrap(),
                m["text"].as_str().unwrap().to_owned()
            ))
            .collect::<Vec<_>>(),
        [(2, "one".to_owned()), (3, "two".to_owned())]
    );
    assert_eq!(live[0]["from"]["id"], ann["id"]);
    let mut laptop = app.connect(&token_of(&body)).await;
    let joined = laptop.join(&room).await;
    assert_eq!(
        texts(&joined["messages"]),
        ["asked from the phone", "one", "two"]
    );
    laptop.say(&room, "three", "l1").await;
    let next = phone.expect_ignoring("message", &["presence"]).await;
    assert_eq!(
        (next["seq"].clone(), next["text"].clone()),
        (json!(4), json!("three"))
    );
}

async fn what_the_guest_had_read_stays_read(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let mut staff = app.connect(&staff_token).await;
    let (guest_token, _, guest_room, mut visitor) = app.guest_in_support("Visitor").await;
    visitor.say(&guest_room, "hi", "g1").await;
    staff.join(&guest_room).await;
    staff
        .say(&guest_room, "hello! how can we help?", "s1")
        .await;
    visitor.expect_ignoring("message", &["presence"]).await;
    visitor
        .send(json!({"type": "read", "room": guest_room, "seq": 2}))
        .await;
    visitor.expect_ignoring("unread", &["presence"]).await;
    staff.say(&guest_room, "are you still there?", "s2").await;
    visitor.expect_ignoring("message", &["presence"]).await;

    let body = guest_signs_in(&app, &guest_token, vouched("cust-7", "Ann", None)).await;
    let ann = app.connect(&token_of(&body)).await;
    let own = &ann.hello["rooms"][0];
    assert_eq!(
        own["room"],
        format!("support:{}", body["user"]["id"]).as_str()
    );
    assert_eq!(
        (own["last_seq"].clone(), own["unread"].clone()),
        (json!(3), json!(1)),
        "only the answer the guest had not read is unread: {}",
        ann.hello
    );
}

async fn only_a_guest_token_merges_and_only_the_guests_own_conversation(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    // Bob, another customer, has a conversation of his own.
    let (bob_token, _, bob_room, mut bob_client) =
        customer_in_support(&app, "cust-bob", "Bob").await;
    bob_client.say(&bob_room, "bob's question", "b1").await;
    // A guest and a registered user.
    let (guest_token, _, guest_room, mut visitor) = app.guest_in_support("Visitor").await;
    visitor.say(&guest_room, "guest's question", "g1").await;
    let (eve_token, _) = app.register("eve").await;

    // Without a token, with a registered user's token, with a broken one: nothing merges.
    for token in [None, Some(eve_token.as_str()), Some("not-a-token")] {
        let body = vouched("cust-ann", "Ann", None);
        let (status, reply) = match token {
            None => app.post("/api/auth/identify", body).await,
            Some(token) => app.post_as(token, "/api/auth/identify", body).await,
        };
        assert_eq!(status, 200, "{reply}");
        let room = format!("support:{}", reply["user"]["id"]);
        assert_eq!(
            app.history(&token_of(&reply), &room).await,
            Vec::<String>::new()
        );
    }
    let (status, _) = app.get("/api/me", Some(&guest_token)).await;
    assert_eq!(status, 200, "the guest is untouched");
    let (status, _) = app.get("/api/me", Some(&eve_token)).await;
    assert_eq!(status, 200, "the registered user is untouched");
    assert_eq!(
        app.history(&guest_token, &guest_room).await,
        ["guest's question"]
    );

    // With the guest's token: the guest's conversation moves to Ann's, and Bob's is as it was.
    let reply = guest_signs_in(&app, &guest_token, vouched("cust-ann", "Ann", None)).await;
    let ann_room = format!("support:{}", reply["user"]["id"]);
    assert_eq!(
        app.history(&token_of(&reply), &ann_room).await,
        ["guest's question"]
    );
    let (_, history) = app
        .get(&format!("/api/rooms/{bob_room}/messages"), Some(&bob_token))
        .await;
    assert_eq!(texts(&history["messages"]), ["bob's question"]);
    assert_eq!(seqs(&history["messages"]), [1]);
    bob_client
        .expect_silence(std::time::Duration::from_millis(200))
        .await;
}

async fn a_guest_who_also_wrote_in_a_public_room_is_deactivated_and_keeps_those_messages(
    backend: Backend,
) {
    let (app, _data) = spawn_store_app(backend).await;
    let (guest_token, guest_id) = app.guest("Visitor").await;
    let guest_room = format!("support:{guest_id}");
    let mut visitor = app.connect(&guest_token).await;
    visitor.join("lobby").await;
    visitor.say("lobby", "hi all", "l1").await;
    visitor.join(&guest_room).await;
    visitor.say(&guest_room, "a question", "g1").await;

    let body = guest_signs_in(&app, &guest_token, vouched("cust-42", "Ann", None)).await;
    assert_eq!(visitor.expect_close().await, Some(1008));
    // The lobby still shows the guest's message under the guest's name; the guest account can
    // no longer be used.
    let (status, refused) = app.get("/api/me", Some(&guest_token)).await;
    assert_eq!(
        (status, error_code(&refused)),
        (401, "unauthorized"),
        "{refused}"
    );
    let token = token_of(&body);
    let (_, lobby) = app.get("/api/rooms/lobby/messages", Some(&token)).await;
    assert_eq!(texts(&lobby["messages"]), ["hi all"]);
    assert_eq!(lobby["messages"][0]["from"]["id"], guest_id);
    let room = format!("support:{}", body["user"]["id"]);
    assert_eq!(app.history(&token, &room).await, ["a question"]);
}
