//! The public room directory: anyone signed in sees the public rooms with how many members
//! each has and how many are online now (never a support conversation or a notes thread),
//! filters it by name and limits its length; registered users create a room explicitly (a guest
//! may not, a taken or reserved name is refused); staff announce to chosen public rooms or to
//! every one of them, never to a customer's conversation by this way.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    a_user_sees_each_public_room_with_its_members_and_who_is_online_now,
    the_directory_filters_by_name_and_keeps_to_its_limit,
    a_registered_user_creates_a_room_explicitly_and_a_guest_cannot,
    staff_announce_to_chosen_public_rooms_or_to_all_but_never_to_a_customer,
    a_customer_creates_only_so_many_rooms_an_hour_and_staff_as_many_as_they_need,
);

/// The directory as `token` sees it, with `query` (e.g. `?q=gen`).
async fn directory(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/rooms{query}"), Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["rooms"].as_array().expect("rooms").clone()
}

/// The room names of a directory, in its order.
fn names(rooms: &[Value]) -> Vec<&str> {
    rooms
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect()
}

/// Creates a public room as `token`: the status and body.
async fn create(app: &TestApp, token: &str, name: &str) -> (u16, Value) {
    app.post_as(token, "/api/rooms", json!({ "name": name }))
        .await
}

/// Waits until the directory shows `room` with `online` users online (a socket that closed is
/// counted out once the chat server has heard of it).
async fn until_online(app: &TestApp, token: &str, room: &str, online: i64) -> Value {
    for _ in 0..100 {
        let rooms = directory(app, token, "").await;
        if let Some(found) = rooms.iter().find(|r| r["name"] == room) {
            if found["online"] == online {
                return found.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{room} never showed {online} online");
}

async fn a_user_sees_each_public_room_with_its_members_and_who_is_online_now(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (alice, _) = app.register("alice").await;
    let (bob, _) = app.register("bob").await;
    let (carol, _) = app.guest("Carol").await;

    // Alice is in the lobby and in sales, and says hello in the lobby.
    let mut alice_socket = app.connect(&alice).await;
    alice_socket.join("lobby").await;
    alice_socket.join("sales").await;
    alice_socket.say("lobby", "hello all", "a1").await;
    // Bob has the lobby open in two tabs: online once.
    let mut bob_tab1 = app.connect(&bob).await;
    bob_tab1.join("lobby").await;
    let mut bob_tab2 = app.connect(&bob).await;
    bob_tab2.join("lobby").await;
    // Carol the guest joined the lobby and closed her tab: a member, not online.
    let mut carol_socket = app.connect(&carol).await;
    carol_socket.join("lobby").await;
    carol_socket.close().await;
    // A customer writes to the desk, and the staff open the conversation and its notes.
    let (_, dave_id, dave_room, mut dave_socket) = app.guest_in_support("Dave").await;
    dave_socket.say(&dave_room, "my order?", "d1").await;
    let (staff, _) = app.staff().await;
    let mut console = app.connect(&staff).await;
    console.join(&dave_room).await;
    console.join(&format!("notes:{dave_id}")).await;

    let lobby = until_online(&app, &carol, "lobby", 2).await;
    assert_eq!(lobby["members"], 3, "{lobby}");
    assert!(lobby["last_activity"].as_i64().expect("a time") > 1_700_000_000_000);
    // Busiest first; support conversations and notes threads are nobody's business here.
    let rooms = directory(&app, &carol, "").await;
    assert_eq!(
        rooms,
        [
            lobby.clone(),
            json!({"name": "sales", "members": 1, "online": 1, "last_activity": null}),
        ]
    );

    // Bob closes one tab: still online; then the other: the lobby has one online.
    bob_tab1.close().await;
    until_online(&app, &alice, "lobby", 2).await;
    bob_tab2.close().await;
    let lobby = until_online(&app, &alice, "lobby", 1).await;
    assert_eq!(lobby["members"], 3, "{lobby}");

    // Only signed-in users see it.
    let (status, body) = app.get("/api/rooms", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
}

async fn the_directory_filters_by_name_and_keeps_to_its_limit(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (alice, _) = app.register("alice").await;
    for name in ["general", "gen-z", "sales", "support-team", "a_b", "axb"] {
        let (status, body) = create(&app, &alice, name).await;
        assert_eq!(status, 201, "{body}");
    }
    // Two members in sales, one in general: the bigger first, then by name.
    let (bob, _) = app.register("bob").await;
    for (token, room) in [(&alice, "sales"), (&bob, "sales"), (&alice, "general")] {
        let mut socket = app.connect(token).await;
        socket.join(room).await;
        socket.close().await;
    }
    let all = directory(&app, &bob, "").await;
    assert_eq!(
        names(&all),
        ["sales", "general", "a_b", "axb", "gen-z", "support-team"]
    );

    // Any part of the name, whatever its case; "_" is an underscore, not any character.
    assert_eq!(
        names(&directory(&app, &bob, "?q=GEN").await),
        ["general", "gen-z"]
    );
    assert_eq!(names(&directory(&app, &bob, "?q=a_").await), ["a_b"]);
    assert_eq!(
        names(&directory(&app, &bob, "?q=team").await),
        ["support-team"]
    );
    // Nothing a name can hold: an empty list, not an error.
    assert!(directory(&app, &bob, "?q=50%25").await.is_empty());
    assert!(directory(&app, &bob, "?q=support:").await.is_empty());

    assert_eq!(
        names(&directory(&app, &bob, "?limit=2").await),
        ["sales", "general"]
    );
    assert_eq!(directory(&app, &bob, "?limit=100000").await.len(), 6);
    for bad in ["?limit=0", "?limit=-1", "?limit=many"] {
        let (status, body) = app.get(&format!("/api/rooms{bad}"), Some(&bob)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
    }
}

async fn a_registered_user_creates_a_room_explicitly_and_a_guest_cannot(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (alice, _) = app.register("alice").await;
    let (status, body) = create(&app, &alice, "book-club").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({"room": {"name": "book-club", "members": 0, "online": 0, "last_activity": null}})
    );
    assert_eq!(
        directory(&app, &alice, "").await,
        [json!({"name": "book-club", "members": 0, "online": 0, "last_activity": null})]
    );

    // Taken, whoever took it: created by hand, or by a join of an older client.
    let (status, body) = create(&app, &alice, "book-club").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    let mut socket = app.connect(&alice).await;
    socket.join("joined-by-name").await;
    let (status, _) = create(&app, &alice, "joined-by-name").await;
    assert_eq!(status, 409);

    // Reserved and invalid names.
    for bad in [
        "support:5",
        "notes:5",
        "support:",
        "Book Club",
        "",
        "x".repeat(65).as_str(),
    ] {
        let (status, body) = create(&app, &alice, bad).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
    }
    let (status, body) = app.post_as(&alice, "/api/rooms", json!({})).await;
    assert_eq!(status, 400, "{body}");

    // A guest sees the directory but creates nothing; nobody signed out does.
    let (guest, _) = app.guest("Gus").await;
    assert_eq!(directory(&app, &guest, "").await.len(), 2);
    let (status, body) = create(&app, &guest, "guest-room").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = app.post("/api/rooms", json!({"name": "anon-room"})).await;
    assert_eq!(status, 401);
    let listed = directory(&app, &alice, "").await;
    assert_eq!(names(&listed), ["joined-by-name", "book-club"]);

    // Joining the created room makes its creator its first member.
    socket.join("book-club").await;
    let club = until_online(&app, &alice, "book-club", 1).await;
    assert_eq!(club["members"], 1, "{club}");
}

async fn staff_announce_to_chosen_public_rooms_or_to_all_but_never_to_a_customer(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff, _) = app.staff().await;
    let (alice, _) = app.register("alice").await;
    for room in ["lobby", "sales", "quiet"] {
        let (status, body) = create(&app, &alice, room).await;
        assert_eq!(status, 201, "{body}");
    }
    let mut alice_socket = app.connect(&alice).await;
    alice_socket.join("lobby").await;
    // A customer in their conversation with the desk.
    let (dave, _, dave_room, mut dave_socket) = app.guest_in_support("Dave").await;

    // Two chosen rooms: each gets the announcement as the per-room endpoint would post it.
    let body = json!({"text": "Sale starts at noon", "rooms": ["lobby", "sales"]});
    let (status, posted) = app.post_as(&staff, "/api/admin/announcements", body).await;
    assert_eq!(status, 201, "{posted}");
    let posted = posted["announcements"].as_array().expect("list").clone();
    assert_eq!(posted.len(), 2);
    assert_eq!(
        (&posted[0]["room"], &posted[0]["seq"]),
        (&json!("lobby"), &json!(1))
    );
    assert_eq!(
        (&posted[1]["room"], &posted[1]["seq"]),
        (&json!("sales"), &json!(1))
    );
    assert!(posted.iter().all(|a| a["id"].as_i64().is_some()));
    let live = alice_socket.expect_ignoring("message", &["presence"]).await;
    assert_eq!(live["room"], "lobby");
    assert_eq!(live["text"], "Sale starts at noon");
    assert_eq!(live["kind"], "announcement");
    assert_eq!(app.history(&alice, "sales").await, ["Sale starts at noon"]);
    assert!(app.history(&alice, "quiet").await.is_empty());

    // Every public room; the customer's conversation is not one of them.
    let body = json!({"text": "Closing early today", "rooms": "all"});
    let (status, posted) = app.post_as(&staff, "/api/admin/announcements", body).await;
    assert_eq!(status, 201, "{posted}");
    let rooms: Vec<&str> = posted["announcements"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["room"].as_str().expect("room"))
        .collect();
    assert_eq!(rooms, ["lobby", "quiet", "sales"]);
    assert_eq!(app.history(&alice, "quiet").await, ["Closing early today"]);
    assert!(app.history(&dave, &dave_room).await.is_empty());
    dave_socket.expect_silence(Duration::from_millis(300)).await;

    // A support conversation or notes thread among the rooms: refused, and nothing is posted.
    for rooms in [json!(["lobby", dave_room]), json!(["notes:1"])] {
        let body = json!({"text": "Your order shipped", "rooms": rooms});
        let (status, refused) = app.post_as(&staff, "/api/admin/announcements", body).await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(refused["error"]["code"], "bad_request");
    }
    assert_eq!(app.history(&alice, "lobby").await.len(), 2);
    assert!(app.history(&dave, &dave_room).await.is_empty());
    // A room that does not exist is not made by an announcement; nor is an empty choice valid.
    let body = json!({"text": "Hi", "rooms": ["lobby", "lobyy"]});
    let (status, refused) = app.post_as(&staff, "/api/admin/announcements", body).await;
    assert_eq!(status, 404, "{refused}");
    assert_eq!(refused["error"]["code"], "not_found");
    for rooms in [json!([]), json!("everyone"), json!(5)] {
        let body = json!({"text": "Hi", "rooms": rooms});
        let (status, _) = app.post_as(&staff, "/api/admin/announcements", body).await;
        assert_eq!(status, 400, "{rooms}");
    }
    let body = json!({"text": "   ", "rooms": ["lobby"]});
    let (status, _) = app.post_as(&staff, "/api/admin/announcements", body).await;
    assert_eq!(status, 400);
    assert_eq!(app.history(&alice, "lobby").await.len(), 2);

    // Agents may announce; customers may not.
    let body = json!({"username": "agnes", "password": "agent-password", "role": "agent"});
    let (status, _) = app.post_as(&staff, "/api/admin/staff", body).await;
    assert_eq!(status, 201);
    let (status, agnes) = app
        .post(
            "/api/auth/login",
            json!({"username": "agnes", "password": "agent-password"}),
        )
        .await;
    assert_eq!(status, 200, "{agnes}");
    let body = json!({"text": "Agent here", "rooms": ["quiet"]});
    let (status, posted) = app
        .post_as(&token_of(&agnes), "/api/admin/announcements", body.clone())
        .await;
    assert_eq!(status, 201, "{posted}");
    assert_eq!(posted["announcements"][0]["room"], "quiet");
    let (status, refused) = app.post_as(&alice, "/api/admin/announcements", body).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "forbidden");
}

/// A customer cannot fill the directory with rooms: past the hourly budget, neither
/// `POST /api/rooms` nor a `join` of a new name creates one, and nothing of the refused room
/// is stored; joining rooms that exist goes on, and the staff have no budget.
async fn a_customer_creates_only_so_many_rooms_an_hour_and_staff_as_many_as_they_need(
    backend: Backend,
) {
    let (app, _data) = spawn_app_with(backend, |s| s.max_rooms_created_per_hour = 2).await;
    let (alice, _) = app.register("alice").await;
    let (bob, _) = app.register("bob").await;
    let (status, body) = create(&app, &alice, "knitting").await;
    assert_eq!(status, 201, "{body}");
    let mut socket = app.connect(&alice).await;
    socket.join("crochet").await;

    // The third in the hour, either way: refused, and not there.
    let (status, body) = create(&app, &alice, "weaving").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_rooms_created", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last hour"),
        "{body}"
    );
    socket
        .send(json!({"type": "join", "room": "spinning"}))
        .await;
    let refused = socket.expect("error").await;
    assert_eq!(
        (refused["code"].clone(), refused["room"].clone()),
        (json!("too_many_rooms_created"), json!("spinning")),
        "{refused}"
    );
    let listed = directory(&app, &bob, "").await;
    let mut listed = names(&listed);
    listed.sort_unstable();
    assert_eq!(listed, ["crochet", "knitting"]);
    let fresh = app.connect(&alice).await;
    assert_eq!(
        fresh.hello["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["room"] == "spinning")
            .count(),
        0,
        "the refused room is not in her list: {}",
        fresh.hello
    );

    // Rooms that exist are joined as before; another customer has a budget of their own.
    let (status, _) = create(&app, &bob, "weaving").await;
    assert_eq!(status, 201);
    socket.join("weaving").await;
    // The staff set up as many as they need, either way.
    let (staff, _) = app.staff().await;
    for room in ["news", "events", "offers"] {
        let (status, body) = create(&app, &staff, room).await;
        assert_eq!(status, 201, "{body}");
    }
    let mut desk = app.connect(&staff).await;
    for room in ["help-1", "help-2", "help-3"] {
        desk.join(room).await;
    }
}
