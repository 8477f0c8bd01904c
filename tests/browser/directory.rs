//! The public room directory and announcements, as people use them in their browsers: a
//! customer sees the public rooms with their member and online counts, joins one with a click,
//! and a name that does not exist is only created when they say so (a guest cannot); the staff
//! post an announcement to a public room chosen from the directory, and the customer whose
//! conversation is open in the console does not get it.

use crate::chat_kit::{guest_signs_in, send_from_chat, staff_signs_in};
use crate::driver::{driver_or_skip, Browser, ENTER};
use crate::helpers::{spawn_app, Backend, TestApp, WsClient};
use serde_json::{json, Value};
use std::time::Duration;

/// Registers `username` on the chat page and waits until the socket is connected.
async fn registers_on_the_page(app: &TestApp, browser: &Browser, username: &str) {
    browser.open(app, "/").await;
    browser.type_into("#register-username", username).await;
    browser.type_into("#register-password", "password-1").await;
    browser.click("#register-submit").await;
    browser.find("#chat").await;
    browser
        .wait_until(
            "the socket is connected",
            "return document.querySelector('#connection-status').dataset.state === 'connected';",
        )
        .await;
}

/// Waits until the directory shows `room` with these counts.
async fn directory_shows(browser: &Browser, room: &str, counts: &str) {
    browser
        .wait_for_text(
            &format!(".directory-room[data-room=\"{room}\"] .directory-counts"),
            counts,
        )
        .await;
}

/// The directory as the API lists it for `token`.
async fn listed(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = app.get("/api/rooms", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["rooms"].as_array().expect("rooms").clone()
}

/// A registered user with a socket in `rooms` (created first when missing): their token and
/// socket.
async fn member_of(app: &TestApp, username: &str, rooms: &[&str]) -> (String, WsClient) {
    let (token, _) = app.register(username).await;
    let mut socket = app.connect(&token).await;
    for room in rooms {
        let (status, body) = app
            .post_as(&token, "/api/rooms", json!({ "name": room }))
            .await;
        assert!(status == 201 || status == 409, "{body}");
        socket.join(room).await;
    }
    (token, socket)
}

#[actix_rt::test]
async fn a_customer_joins_a_room_from_the_directory_and_creates_one_only_when_asked() {
    let mut driver = driver_or_skip!(
        "a_customer_joins_a_room_from_the_directory_and_creates_one_only_when_asked"
    );
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let (alice, mut alice_socket) = member_of(&app, "alice", &["lobby", "book-club"]).await;
    alice_socket.say("lobby", "hello everyone", "a1").await;
    let (_, _bob_socket) = member_of(&app, "bob", &["lobby"]).await;

    let vera = driver.browser(1280, 800).await;
    registers_on_the_page(&app, &vera, "vera").await;
    // The busiest room first, with its counts; nothing was created by looking.
    directory_shows(&vera, "lobby", "2 members · 2 online").await;
    directory_shows(&vera, "book-club", "1 member · 1 online").await;
    let order = vera
        .eval("return [...document.querySelectorAll('.directory-room')].map(e => e.dataset.room);")
        .await;
    assert_eq!(order, json!(["lobby", "book-club"]));
    vera.screenshot("directory-sidebar").await;

    // A click joins the room: its messages, and the directory counts Vera in.
    vera.click(".directory-room[data-room=\"lobby\"]").await;
    vera.wait_for_text("#room-title", "lobby").await;
    vera.wait_for_text("#messages .message-text", "hello everyone")
        .await;
    directory_shows(&vera, "lobby", "3 members · 3 online").await;
    vera.wait_for_text(
        ".directory-room[data-room=\"lobby\"] .directory-tag",
        "Joined",
    )
    .await;

    // A typo is not a new room: the page offers to create it, and Enter alone does not.
    vera.type_into("#join-room-name", "bookclub").await;
    vera.wait_for_text("#create-room", "Create room “bookclub”")
        .await;
    vera.wait_for_text("#directory-empty", "No room called “bookclub” yet.")
        .await;
    vera.type_into("#join-room-name", ENTER).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !listed(&app, &alice)
            .await
            .iter()
            .any(|r| r["name"] == "bookclub"),
        "typing a name created nothing"
    );
    vera.wait_for_text("#room-title", "lobby").await;
    vera.screenshot("directory-create-offer").await;

    // Creating is the explicit action: the room is made, joined and opened.
    vera.click("#create-room").await;
    vera.wait_for_text("#room-title", "bookclub").await;
    vera.wait_for_text(".room-item[data-room=\"bookclub\"] .room-name", "bookclub")
        .await;
    let rooms = listed(&app, &alice).await;
    let made = rooms
        .iter()
        .find(|r| r["name"] == "bookclub")
        .expect("bookclub is listed");
    assert_eq!(made["members"], 1, "{made}");
    vera.close().await;

    // A guest sees the rooms but creates none.
    let gus = driver.browser(1280, 800).await;
    guest_signs_in(&app, &gus, "Gus Guest").await;
    // Vera closed her page: still a member, no longer online.
    directory_shows(&gus, "lobby", "3 members · 2 online").await;
    gus.type_into("#join-room-name", "gus-room").await;
    gus.wait_for_text(
        "#directory-empty",
        "No room called “gus-room”. Sign in with an account to create rooms.",
    )
    .await;
    let offered = gus
        .eval("return !document.querySelector('#directory-create').hidden;")
        .await;
    assert_eq!(offered, json!(false), "no create action for a guest");
    gus.screenshot("directory-guest").await;
    gus.close().await;
}

#[actix_rt::test]
async fn staff_announce_to_a_chosen_public_room_and_the_open_conversation_does_not_get_it() {
    let mut driver = driver_or_skip!(
        "staff_announce_to_a_chosen_public_room_and_the_open_conversation_does_not_get_it"
    );
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let (_, mut alice_socket) = member_of(&app, "alice", &["lobby", "sales"]).await;

    let carla = driver.browser(1280, 800).await;
    guest_signs_in(&app, &carla, "Carla Customer").await;
    send_from_chat(&carla, "where is my parcel?").await;

    let staff = driver.browser(1280, 800).await;
    staff_signs_in(&app, &staff).await;
    let room = staff
        .eval(
            "return new Promise(done => { const find = () => {
               const c = document.querySelector('#conversation-list .conversation');
               if (c) done(c.dataset.room); else setTimeout(find, 100); }; find(); });",
        )
        .await;
    let room = room.as_str().expect("a conversation").to_owned();
    staff
        .click(&format!(".conversation[data-room=\"{room}\"]"))
        .await;
    staff
        .wait_for_text(
            "#conversation-messages .message-text",
            "where is my parcel?",
        )
        .await;

    // The public rooms are offered, none chosen: the open conversation is not a target.
    staff.find(".announce-option[data-room=\"sales\"]").await;
    staff
        .wait_for_text("#announce-rooms-note", "Choose the rooms to post to.")
        .await;
    let ticked = staff
        .eval("return document.querySelectorAll('#announce-form input:checked').length;")
        .await;
    assert_eq!(ticked, json!(0));
    let offered = staff
        .eval("return [...document.querySelectorAll('.announce-option[data-room]')].map(e => e.dataset.room);")
        .await;
    assert_eq!(offered, json!(["lobby", "sales"]));

    // Without a choice nothing is posted.
    staff
        .type_into("#announce-text", "Free shipping today")
        .await;
    staff.click("#announce-send").await;
    staff
        .wait_for_text(
            "#announce-result",
            "Choose at least one public room, or All public rooms.",
        )
        .await;

    staff
        .click(".announce-option[data-room=\"lobby\"] input")
        .await;
    staff
        .wait_for_text("#announce-rooms-note", "Goes to lobby.")
        .await;
    staff.screenshot("console-announcement-rooms").await;
    staff.click("#announce-send").await;
    staff
        .wait_for_text("#announce-result", "Posted to lobby.")
        .await;

    let live = alice_socket.expect_ignoring("message", &["presence"]).await;
    assert_eq!(live["room"], "lobby");
    assert_eq!(live["kind"], "announcement");
    assert_eq!(live["text"], "Free shipping today");
    // The customer's conversation, open on the console, did not get it.
    let carla_token = carla
        .eval("return localStorage.getItem('chat.token');")
        .await;
    let texts = app
        .history(carla_token.as_str().expect("a token"), &room)
        .await;
    assert_eq!(texts, ["where is my parcel?"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shown = carla
        .eval("return [...document.querySelectorAll('#messages .message-text')].map(e => e.textContent);")
        .await;
    assert_eq!(shown, json!(["where is my parcel?"]));
    // The choice is forgotten after posting.
    let ticked = staff
        .eval("return document.querySelectorAll('#announce-form input:checked').length;")
        .await;
    assert_eq!(ticked, json!(0));
    staff.screenshot("console-announcement-posted").await;
    staff.close().await;
    carla.close().await;
}
