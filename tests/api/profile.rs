//! The staff's profile: each staff member signs their replies with a name and an avatar colour
//! of their choosing (or an admin's), which customers see on every reply — live, in the
//! history and on recovery — from the very next message, without the member reconnecting.
//! Customers have no such fields, and users without them show none on the wire.

use crate::helpers::*;
use crate::identity::{error_code, patch_as};
use crate::on_both_backends;
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    a_staff_member_signs_with_a_name_and_colour_of_their_own_choosing,
    a_customer_may_not_take_a_staff_members_name_or_colour,
    an_admin_names_an_agent_and_the_team_list_shows_it,
    a_customer_sees_the_new_name_on_the_next_reply_live_in_history_and_on_recovery,
    a_rename_sends_the_customer_no_presence_only_the_next_reply_shows_it,
);

/// Frames a customer's or a member's socket may hear around the messages a story waits for.
const ROOM_TRAFFIC: &[&str] = &[
    "presence",
    "typing",
    "seen",
    "support_activity",
    "conversation_updated",
    "conversation_viewers",
    "staff_updated",
];

/// A staff member replies on their socket and waits for the ack (passing over the echo and
/// the desk's traffic, the team's `staff_updated` news included): the seq.
async fn staff_reply(agent: &mut WsClient, room: &str, text: &str, cid: &str) -> i64 {
    agent
        .send(json!({"type": "send", "room": room, "text": text, "cid": cid}))
        .await;
    let mut ignoring = ROOM_TRAFFIC.to_vec();
    ignoring.push("message");
    let ack = agent.expect_ignoring("ack", &ignoring).await;
    assert_eq!(ack["cid"], cid, "{ack}");
    ack["seq"].as_i64().expect("seq")
}

/// The admin makes an agent: (token, id).
async fn make_agent(app: &TestApp, admin: &str, username: &str) -> (String, i64) {
    let body = json!({"username": username, "password": "agent-password", "role": "agent"});
    let (status, member) = app.post_as(admin, "/api/admin/staff", body).await;
    assert_eq!(status, 201, "{member}");
    let login = json!({"username": username, "password": "agent-password"});
    let (status, body) = app.post("/api/auth/login", login).await;
    assert_eq!(status, 200, "{body}");
    (token_of(&body), member["id"].as_i64().expect("id"))
}

/// The caller as `GET /api/me` shows them.
async fn me(app: &TestApp, token: &str) -> Value {
    let (status, body) = app.get("/api/me", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn a_staff_member_signs_with_a_name_and_colour_of_their_own_choosing(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let (maya, maya_id) = make_agent(&app, &admin, "maya").await;

    // Nothing set yet: the fields are not on the wire at all.
    let before = me(&app, &maya).await;
    assert!(before.get("display_name").is_none(), "{before}");
    assert!(before.get("avatar_color").is_none(), "{before}");

    let body = json!({"display_name": "  Maya from Support ", "avatar_color": "#1F6FEB"});
    let (status, shown) = patch_as(&app, &maya, "/api/me", body).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["id"], maya_id);
    assert_eq!(shown["display_name"], "Maya from Support");
    assert_eq!(shown["avatar_color"], "#1f6feb");
    let after = me(&app, &maya).await;
    assert_eq!(after["display_name"], "Maya from Support");
    assert_eq!(after["avatar_color"], "#1f6feb");
    assert_eq!(after["username"], "maya");

    // Bad values are refused with a clear reason, and nothing changes.
    let refusals = [
        json!({"avatar_color": "blue"}),
        json!({"avatar_color": "#12345"}),
        json!({"display_name": "M".repeat(41)}),
        json!({"display_name": "   "}),
        json!({"display_name": "Maya\u{7}"}),
        json!({"display_name": "Maya", "avatar_color": "#zzzzzz"}),
    ];
    for body in refusals {
        let (status, error) = patch_as(&app, &maya, "/api/me", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {error}");
        assert_eq!(error_code(&error), "bad_request", "{error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("display_name") || message.contains("avatar_color"),
            "{message}"
        );
    }
    let (status, _) = patch_as(&app, &maya, "/api/me", json!({"display_name": 7})).await;
    assert_eq!(status, 400);
    let unchanged = me(&app, &maya).await;
    assert_eq!(unchanged["display_name"], "Maya from Support");
    assert_eq!(unchanged["avatar_color"], "#1f6feb");

    // Forty characters are fine; null clears one field and leaves the other.
    let forty = "é".repeat(40);
    let (status, shown) = patch_as(&app, &maya, "/api/me", json!({"display_name": forty})).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["display_name"], forty);
    let (status, shown) = patch_as(&app, &maya, "/api/me", json!({"avatar_color": null})).await;
    assert_eq!(status, 200, "{shown}");
    assert!(shown.get("avatar_color").is_none(), "{shown}");
    assert_eq!(shown["display_name"], forty);
    let (status, shown) = patch_as(&app, &maya, "/api/me", json!({"display_name": null})).await;
    assert_eq!(status, 200, "{shown}");
    assert!(shown.get("display_name").is_none(), "{shown}");

    // An empty body still says what it wants.
    let (status, error) = patch_as(&app, &maya, "/api/me", json!({})).await;
    assert_eq!(status, 400, "{error}");
}

async fn a_customer_may_not_take_a_staff_members_name_or_colour(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (ann, _) = app.register("ann").await;
    let (guest, _) = app.guest("Gus").await;
    for token in [&ann, &guest] {
        for body in [
            json!({"display_name": "Support Team"}),
            json!({"avatar_color": "#ff0000"}),
            json!({"display_name": null}),
        ] {
            let (status, error) = patch_as(&app, token, "/api/me", body.clone()).await;
            assert_eq!(status, 403, "{body} -> {error}");
            assert_eq!(error_code(&error), "forbidden", "{error}");
        }
        // Nothing was stored, and the customer's own fields still work.
        let shown = me(&app, token).await;
        assert!(shown.get("display_name").is_none(), "{shown}");
        assert!(shown.get("avatar_color").is_none(), "{shown}");
        let page = json!({"page": "https://shop.example/boots"});
        let (status, body) = patch_as(&app, token, "/api/me", page).await;
        assert_eq!(status, 200, "{body}");
    }
    // Nor through the team API, which is the admins' (and holds staff alone).
    let (admin, _) = app.staff().await;
    let (_, ann_id) = app.register("ann2").await;
    let path = format!("/api/admin/staff/{ann_id}");
    let (status, error) = patch_as(&app, &admin, &path, json!({"display_name": "X"})).await;
    assert_eq!(status, 404, "{error}");
}

async fn an_admin_names_an_agent_and_the_team_list_shows_it(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let (bob, bob_id) = make_agent(&app, &admin, "bob").await;
    let (cleo, cleo_id) = make_agent(&app, &admin, "cleo").await;
    let mut console = app.connect(&admin).await;

    let path = format!("/api/admin/staff/{bob_id}");
    let body = json!({"display_name": "Bob (Returns)", "avatar_color": "#0a7f3f"});
    let (status, member) = patch_as(&app, &admin, &path, body).await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["display_name"], "Bob (Returns)");
    assert_eq!(member["avatar_color"], "#0a7f3f");
    assert_eq!(member["role"], "agent");
    assert_eq!(member["active"], true);

    // Every console hears of it, the list shows it, and Bob sees it as his own.
    let update = loop {
        let frame = console
            .expect_ignoring("staff_updated", &["support_activity", "presence", "online"])
            .await;
        if frame["member"]["id"] == bob_id && frame["member"]["display_name"].is_string() {
            break frame;
        }
    };
    assert_eq!(update["member"]["display_name"], "Bob (Returns)");
    let (status, list) = app.get("/api/admin/staff", Some(&admin)).await;
    assert_eq!(status, 200, "{list}");
    let members = list["staff"].as_array().expect("a list");
    let listed = |id: i64| members.iter().find(|m| m["id"] == id).cloned();
    let listed_bob = listed(bob_id).expect("bob listed");
    assert_eq!(listed_bob["display_name"], "Bob (Returns)");
    assert_eq!(listed_bob["avatar_color"], "#0a7f3f");
    let listed_cleo = listed(cleo_id).expect("cleo listed");
    assert!(listed_cleo.get("display_name").is_none(), "{listed_cleo}");
    assert_eq!(me(&app, &bob).await["display_name"], "Bob (Returns)");

    // A role change leaves the name; a bad colour is refused whole; null clears.
    let (status, member) = patch_as(&app, &admin, &path, json!({"role": "admin"})).await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["display_name"], "Bob (Returns)");
    let bad = json!({"role": "agent", "avatar_color": "green"});
    let (status, error) = patch_as(&app, &admin, &path, bad).await;
    assert_eq!(status, 400, "{error}");
    let (_, list) = app.get("/api/admin/staff", Some(&admin)).await;
    let bob_now = list["staff"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == bob_id).cloned())
        .expect("bob listed");
    assert_eq!(
        bob_now["role"], "admin",
        "the refused change changed nothing"
    );
    let (status, member) = patch_as(&app, &admin, &path, json!({"display_name": null})).await;
    assert_eq!(status, 200, "{member}");
    assert!(member.get("display_name").is_none(), "{member}");
    assert_eq!(member["avatar_color"], "#0a7f3f");

    // An agent names nobody else through the team API.
    let cleo_path = format!("/api/admin/staff/{cleo_id}");
    let (status, _) = patch_as(&app, &cleo, &cleo_path, json!({"display_name": "Boss"})).await;
    assert_eq!(status, 403);
}

async fn a_customer_sees_the_new_name_on_the_next_reply_live_in_history_and_on_recovery(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let (maya, _) = make_agent(&app, &admin, "maya").await;
    let (ann, _, room, mut customer) = app.guest_in_support("Ann").await;
    customer.say(&room, "Where is my parcel?", "c1").await;
    let mut agent = app.connect(&maya).await;
    agent.join(&room).await;

    // Before she has a name, her reply carries none (the field is absent, not null).
    let first = staff_reply(&mut agent, &room, "Let me look.", "m1").await;
    let reply = customer.expect_ignoring("message", ROOM_TRAFFIC).await;
    assert_eq!(reply["seq"], first);
    assert_eq!(reply["from"]["username"], "maya");
    assert!(reply["from"].get("display_name").is_none(), "{reply}");
    assert!(reply["from"].get("avatar_color").is_none(), "{reply}");
    let last_seen = reply["seq"].as_i64().expect("seq");
    customer.close().await;

    // She names herself while her socket stays open: her very next reply is signed with it.
    let body = json!({"display_name": "Maya from Support", "avatar_color": "#c2410c"});
    let (status, shown) = patch_as(&app, &maya, "/api/me", body).await;
    assert_eq!(status, 200, "{shown}");
    let second = staff_reply(&mut agent, &room, "It ships today.", "m2").await;

    // The customer comes back and recovers what they missed: signed with the new name.
    let mut customer = app.connect(&ann).await;
    customer
        .send(json!({"type": "join", "room": room, "since": last_seen}))
        .await;
    let joined = customer.expect_ignoring("joined", ROOM_TRAFFIC).await;
    let missed = joined["messages"].as_array().expect("messages").clone();
    assert_eq!(missed.len(), 1, "{joined}");
    assert_eq!(missed[0]["seq"], second);
    assert_eq!(missed[0]["from"]["display_name"], "Maya from Support");
    assert_eq!(missed[0]["from"]["avatar_color"], "#c2410c");

    // Live, the next reply too.
    let third = staff_reply(&mut agent, &room, "Anything else?", "m3").await;
    let live = customer.expect_ignoring("message", ROOM_TRAFFIC).await;
    assert_eq!(live["seq"], third);
    assert_eq!(live["from"]["display_name"], "Maya from Support");
    assert_eq!(live["from"]["avatar_color"], "#c2410c");

    // The history shows every reply of hers under the name she has now; the customer's own
    // messages carry no such fields.
    let (status, page) = app
        .get(&format!("/api/rooms/{room}/messages"), Some(&ann))
        .await;
    assert_eq!(status, 200, "{page}");
    let messages = page["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 4, "{page}");
    for message in messages {
        if message["from"]["username"] == "maya" {
            assert_eq!(message["from"]["display_name"], "Maya from Support");
            assert_eq!(message["from"]["avatar_color"], "#c2410c");
        } else {
            assert!(message["from"].get("display_name").is_none(), "{message}");
            assert!(message["from"].get("avatar_color").is_none(), "{message}");
        }
    }

    // A change by an admin reaches her open socket just the same. The customer hears of it
    // on her next reply, and from nothing else: a `presence` comes only when a user's first
    // connection joins (a client never asked to hear of a new name on its own).
    let path = format!("/api/admin/staff/{}", shown["id"]);
    let (status, _) = patch_as(&app, &admin, &path, json!({"display_name": "Maya R."})).await;
    assert_eq!(status, 200);
    let without_presence: Vec<&str> = ROOM_TRAFFIC
        .iter()
        .copied()
        .filter(|k| *k != "presence")
        .collect();
    let fourth = staff_reply(&mut agent, &room, "Bye!", "m4").await;
    let live = customer.expect_ignoring("message", &without_presence).await;
    assert_eq!(live["seq"], fourth);
    assert_eq!(live["from"]["display_name"], "Maya R.");
    assert_eq!(live["from"]["avatar_color"], "#c2410c");
}

async fn a_rename_sends_the_customer_no_presence_only_the_next_reply_shows_it(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let (maya, _) = make_agent(&app, &admin, "maya").await;
    let (_, _, room, mut customer) = app.guest_in_support("Ann").await;
    customer.say(&room, "Hello?", "c1").await;
    let mut agent = app.connect(&maya).await;
    agent.join(&room).await;
    // Her arrival is the one `presence` the customer hears of her.
    let arrival = customer.expect_ignoring("presence", ROOM_TRAFFIC).await;
    assert_eq!(arrival["online"], true);
    assert_eq!(arrival["user"]["username"], "maya");
    let first = staff_reply(&mut agent, &room, "Hi, I'm here.", "m1").await;
    let reply = customer.expect_ignoring("message", ROOM_TRAFFIC).await;
    assert_eq!(reply["seq"], first);

    // She renames herself and changes her colour with her socket open, then replies: the
    // customer's next frame of hers is that reply, signed anew, with no `presence` before it.
    let body = json!({"display_name": "Maya from Support", "avatar_color": "#0a7f3f"});
    let (status, shown) = patch_as(&app, &maya, "/api/me", body).await;
    assert_eq!(status, 200, "{shown}");
    let second = staff_reply(&mut agent, &room, "How can I help?", "m2").await;
    let without_presence: Vec<&str> = ROOM_TRAFFIC
        .iter()
        .copied()
        .filter(|k| *k != "presence")
        .collect();
    let live = customer.expect_ignoring("message", &without_presence).await;
    assert_eq!(live["seq"], second);
    assert_eq!(live["from"]["display_name"], "Maya from Support");
    assert_eq!(live["from"]["avatar_color"], "#0a7f3f");
    // And nothing about her name trails the reply either.
    customer.expect_silence(Duration::from_millis(300)).await;
}
