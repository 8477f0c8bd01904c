//! Who may enter which room: a customer's support conversation is theirs and the staff's only.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::json;

on_both_backends!(
    a_customer_cannot_read_another_customers_support_room,
    staff_can_join_and_answer_any_support_conversation,
    a_support_room_of_nobody_is_forbidden_to_customers_and_not_found_for_staff,
    public_rooms_are_open_to_every_role,
);

async fn a_customer_cannot_read_another_customers_support_room(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (ann_token, ann_id) = app.guest("Ann").await;
    let (eve_token, _) = app.register("eve").await;
    let mut ann = app.connect(&ann_token).await;
    let room = format!("support:{ann_id}");
    ann.join(&room).await;
    ann.say(&room, "my order number is 1234", "a1").await;

    let mut eve = app.connect(&eve_token).await;
    for frame in [
        json!({"type": "join", "room": room}),
        json!({"type": "history", "room": room}),
        json!({"type": "read", "room": room, "seq": 1}),
        json!({"type": "typing", "room": room, "on": true}),
        json!({"type": "leave", "room": room}),
    ] {
        eve.send(frame.clone()).await;
        let refused = eve.expect("error").await;
        assert_eq!(refused["code"], "forbidden", "{frame} -> {refused}");
        assert_eq!(refused["room"], room.as_str());
        assert!(!refused.to_string().contains("1234"));
    }
    eve.send(json!({"type": "send", "room": room, "text": "hi", "cid": "e1"}))
        .await;
    let refused = eve.expect("error").await;
    assert_eq!(
        (refused["code"].clone(), refused["cid"].clone()),
        (json!("forbidden"), json!("e1"))
    );

    let (status, body) = app
        .get(&format!("/api/rooms/{room}/messages"), Some(&eve_token))
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "forbidden");
    // Ann saw nothing of Eve's attempts.
    ann.expect_silence(std::time::Duration::from_millis(200))
        .await;
    // The owner reads her own conversation.
    let (status, body) = app
        .get(&format!("/api/rooms/{room}/messages"), Some(&ann_token))
        .await;
    assert_eq!(
        (status, texts(&body["messages"])),
        (200, vec!["my order number is 1234".to_owned()])
    );
}

async fn staff_can_join_and_answer_any_support_conversation(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (guest_token, guest_id) = app.guest("Visitor").await;
    let (staff_token, staff_id) = app.staff().await;
    let room = format!("support:{guest_id}");
    let mut guest = app.connect(&guest_token).await;
    guest.join(&room).await;
    guest.say(&room, "where is my parcel?", "g1").await;

    let mut staff = app.connect(&staff_token).await;
    assert_eq!(staff.hello["user"]["role"], "admin");
    let joined = staff.join(&room).await;
    assert_eq!(texts(&joined["messages"]), vec!["where is my parcel?"]);
    assert_eq!(joined["online"].as_array().unwrap().len(), 2);
    guest.expect("presence").await;

    staff.say(&room, "It ships today.", "s1").await;
    let answer = guest.expect("message").await;
    assert_eq!(answer["text"], "It ships today.");
    assert_eq!(
        answer["from"],
        json!({"id": staff_id, "username": "staff", "role": "admin"})
    );
    let (status, _) = app
        .get(&format!("/api/rooms/{room}/messages"), Some(&staff_token))
        .await;
    assert_eq!(status, 200);
}

async fn a_support_room_of_nobody_is_forbidden_to_customers_and_not_found_for_staff(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (guest_token, _) = app.guest("Visitor").await;
    let (staff_token, _) = app.staff().await;
    let mut guest = app.connect(&guest_token).await;
    guest
        .send(json!({"type": "join", "room": "support:999999"}))
        .await;
    assert_eq!(guest.expect("error").await["code"], "forbidden");
    let mut staff = app.connect(&staff_token).await;
    staff
        .send(json!({"type": "join", "room": "support:999999"}))
        .await;
    let refused = staff.expect("error").await;
    assert_eq!(
        (refused["code"].clone(), refused["room"].clone()),
        (json!("not_found"), json!("support:999999"))
    );
    staff
        .send(json!({"type": "read", "room": "support:999999", "seq": 1}))
        .await;
    assert_eq!(staff.expect("error").await["code"], "not_found");
    // The failed join left nothing behind: sending there is refused, and the staff's room list
    // did not grow a room for nobody.
    staff
        .send(json!({"type": "send", "room": "support:999999", "text": "x", "cid": "s1"}))
        .await;
    assert_eq!(staff.expect("error").await["code"], "bad_request");
    let again = app.connect(&staff_token).await;
    assert_eq!(
        again.hello["rooms"].as_array().unwrap().len(),
        1,
        "{}",
        again.hello
    );
}

async fn public_rooms_are_open_to_every_role(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    for (token, _) in [
        app.guest("G").await,
        app.register("user1").await,
        app.staff().await,
    ] {
        let mut client = app.connect(&token).await;
        let joined = client.join("open-room_1").await;
        assert_eq!(joined["last_seq"], 0);
        client.close().await;
    }
}
