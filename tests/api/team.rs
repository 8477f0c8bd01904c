//! The team: an admin makes agents, who answer every customer but never touch the team, the
//! API keys or the settings; a deactivated member is shut out at once and let back in when
//! reactivated; the widget counts only the staff online and connected; every staff console
//! hears of every change of a member.

use crate::conversations::{event, listed, notes, rooms, update_of};
use crate::helpers::*;
use crate::identity::patch_as;
use crate::on_both_backends;
use serde_json::{json, Value};

on_both_backends!(
    an_admin_makes_an_agent_who_answers_customers_but_not_the_team,
    a_deactivated_agent_is_shut_out_at_once_and_let_back_in_when_reactivated,
    a_deactivated_agents_conversations_go_back_to_the_unassigned_queue,
    the_widget_counts_staff_online_and_connected_and_the_staff_hear_of_every_change,
);

/// The admin makes a staff member: their id.
async fn make_staff(app: &TestApp, admin: &str, username: &str, role: &str) -> i64 {
    let body = json!({"username": username, "password": "agent-password", "role": role});
    let (status, member) = app.post_as(admin, "/api/admin/staff", body).await;
    assert_eq!(status, 201, "{member}");
    member["id"].as_i64().expect("id")
}

/// Signs in with the staff password of [`make_staff`]: (status, body).
async fn sign_in(app: &TestApp, username: &str) -> (u16, Value) {
    let body = json!({"username": username, "password": "agent-password"});
    app.post("/api/auth/login", body).await
}

/// How many staff the widget says are online.
async fn staff_online(app: &TestApp) -> i64 {
    let (status, body) = app.get("/api/support/status", None).await;
    assert_eq!(status, 200, "{body}");
    body["staff_online"].as_i64().expect("staff_online")
}

/// The next `staff_updated` frame on a staff console, passing over the desk's other traffic.
async fn next_staff_update(console: &mut WsClient) -> Value {
    let frame = console
        .expect_ignoring("staff_updated", &["support_activity", "presence", "online"])
        .await;
    frame["member"].clone()
}

/// The first `staff_updated` frame about member `id` that `wanted` accepts (a member may be
/// told of twice as they are: when their last socket closes and when the change is done).
async fn staff_update_of(
    console: &mut WsClient,
    id: i64,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let member = next_staff_update(console).await;
        if member["id"] == id && wanted(&member) {
            return member;
        }
    }
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

async fn an_admin_makes_an_agent_who_answers_customers_but_not_the_team(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let body = json!({"username": "bob", "password": "agent-password", "role": "agent"});
    let (status, bob) = app.post_as(&admin, "/api/admin/staff", body.clone()).await;
    assert_eq!(status, 201, "{bob}");
    let bob_id = bob["id"].as_i64().expect("id");
    assert_eq!(
        bob,
        json!({"id": bob_id, "username": "bob", "role": "agent", "active": true,
               "availability": "online", "online": false})
    );
    // The same name again, in any case; a role that is not staff; a short password.
    let (status, taken) = app
        .post_as(
            &admin,
            "/api/admin/staff",
            json!({"username": "BOB", "password": "agent-password", "role": "admin"}),
        )
        .await;
    assert_eq!(
        (status, taken["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    assert_eq!(error_message(&taken), "username is already taken");
    let (status, bad) = app
        .post_as(
            &admin,
            "/api/admin/staff",
            json!({"username": "cyd", "password": "agent-password", "role": "user"}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    let (status, bad) = app
        .post_as(
            &admin,
            "/api/admin/staff",
            json!({"username": "cyd", "password": "x", "role": "agent"}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");

    // A customer writes in; the agent signs in, finds the conversation and answers it.
    let (customer, customer_id, room, mut customer_socket) = app.guest_in_support("dana").await;
    customer_socket
        .say(&room, "where is my parcel?", "c-1")
        .await;
    let (status, signed_in) = sign_in(&app, "bob").await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(signed_in["user"]["role"], "agent");
    let agent = token_of(&signed_in);
    assert_eq!(app.console_rooms(&agent).await, vec![room.clone()]);
    let (status, me) = app.get("/api/me", Some(&agent)).await;
    assert_eq!(
        (status, &me["availability"]),
        (200, &json!("online")),
        "{me}"
    );
    let (_, customer_me) = app.get("/api/me", Some(&customer)).await;
    assert!(customer_me.get("availability").is_none(), "{customer_me}");
    let mut console = app.connect(&agent).await;
    console.join(&room).await;
    console.say(&room, "it left this morning", "a-1").await;
    let answer = customer_socket
        .expect_ignoring("message", &["presence", "typing"])
        .await;
    assert_eq!(
        (answer["text"].as_str(), answer["from"]["role"].as_str()),
        (Some("it left this morning"), Some("agent"))
    );

    // Not the team, the API keys or the settings: those are the admins'.
    for (method, path) in [
        ("GET", "/api/admin/staff"),
        ("POST", "/api/admin/staff"),
        ("GET", "/api/admin/api-keys"),
        ("GET", "/api/admin/settings"),
    ] {
        let body = (method == "POST")
            .then(|| json!({"username": "eve", "password": "agent-password", "role": "admin"}));
        let (status, refused) = call(&app, method, path, Some(&agent), body).await;
        assert_eq!(status, 403, "{method} {path}: {refused}");
        assert_eq!(refused["error"]["code"], "forbidden", "{path}");
        assert_eq!(error_message(&refused), "admins only", "{path}");
    }
    let (status, _) = patch_as(
        &app,
        &agent,
        &format!("/api/admin/staff/{bob_id}"),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(status, 403, "an agent does not promote themselves");
    // But an agent sees whom a conversation can go to: the active members.
    let (status, listed) = app.get("/api/admin/assignees", Some(&agent)).await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["assignees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"bob") && names.len() >= 2, "{listed}");
    let (status, _) = app.get("/api/admin/assignees", Some(&customer)).await;
    assert_eq!(status, 403, "customers never");
    // Customers are refused as on every admin endpoint; nobody without a token.
    let (status, refused) = app.get("/api/admin/staff", Some(&customer)).await;
    assert_eq!((status, error_message(&refused)), (403, "staff only"));
    let (status, refused) = app
        .post_as(
            &customer,
            "/api/admin/availability",
            json!({"availability": "busy"}),
        )
        .await;
    assert_eq!((status, error_message(&refused)), (403, "staff only"));
    let (status, _) = app.get("/api/admin/staff", None).await;
    assert_eq!(status, 401);

    // The admin sees the team by name, bob online now, and makes him an admin.
    let (status, team) = app.get("/api/admin/staff", Some(&admin)).await;
    assert_eq!(status, 200, "{team}");
    let members = team["staff"].as_array().expect("a list");
    let names: Vec<&str> = members
        .iter()
        .filter_map(|m| m["username"].as_str())
        .collect();
    assert_eq!(names, vec!["bob", "staff"]);
    assert_eq!(members[0]["online"], true);
    assert_eq!(members[1]["role"], "admin");
    assert!(!names.contains(&"dana"), "customers are not the team");
    let (status, promoted) = patch_as(
        &app,
        &admin,
        &format!("/api/admin/staff/{bob_id}"),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(status, 200, "{promoted}");
    assert_eq!(
        (promoted["role"].as_str(), promoted["online"].as_bool()),
        (Some("admin"), Some(true))
    );
    let (status, keys) = app.get("/api/admin/api-keys", Some(&agent)).await;
    assert_eq!(status, 200, "the same token, now an admin's: {keys}");
    // Not a staff account, no account at all, not a role.
    let path = format!("/api/admin/staff/{customer_id}");
    let (status, missing) = patch_as(&app, &admin, &path, json!({"active": false})).await;
    assert_eq!(
        (status, error_message(&missing)),
        (404, "no such staff member")
    );
    let (status, _) = patch_as(
        &app,
        &admin,
        "/api/admin/staff/999999",
        json!({"role": "agent"}),
    )
    .await;
    assert_eq!(status, 404);
    let path = format!("/api/admin/staff/{bob_id}");
    let (status, _) = patch_as(&app, &admin, &path, json!({"role": "guest"})).await;
    assert_eq!(status, 400);
}

async fn a_deactivated_agent_is_shut_out_at_once_and_let_back_in_when_reactivated(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, admin_id) = app.staff().await;
    let bob_id = make_staff(&app, &admin, "bob", "agent").await;
    let mut admin_console = app.connect(&admin).await;
    let (_, signed_in) = sign_in(&app, "bob").await;
    let agent = token_of(&signed_in);
    let mut agent_console = app.connect(&agent).await;
    // The team list says who is connected (a colleague's arrival is no `staff_updated`).
    let (status, team) = app.get("/api/admin/staff", Some(&admin)).await;
    assert_eq!(status, 200);
    let bob = team["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == bob_id);
    assert_eq!(
        bob.map(|b| b["online"].clone()),
        Some(json!(true)),
        "{team}"
    );

    // An admin cannot lock themselves out.
    let own = format!("/api/admin/staff/{admin_id}");
    for change in [json!({"active": false}), json!({"role": "agent"})] {
        let (status, refused) = patch_as(&app, &admin, &own, change).await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(
            error_message(&refused),
            "you cannot demote or deactivate yourself"
        );
    }

    let bob_path = format!("/api/admin/staff/{bob_id}");
    let (status, off) = patch_as(&app, &admin, &bob_path, json!({"active": false})).await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["active"], false);
    // The agent's open console closes at once, with the reason.
    match agent_console.next(WAIT).await {
        Err(Ended::Closed(Some(reason))) => {
            assert_eq!(u16::from(reason.code), 1008);
            assert_eq!(reason.description.as_deref(), Some("account deactivated"));
        }
        other => panic!("expected the close, got {other:?}"),
    }
    // The other consoles see bob inactive.
    let member = staff_update_of(&mut admin_console, bob_id, |m| m["active"] == false).await;
    assert_eq!(member["role"], "agent", "{member}");
    // His token, his password and his sockets are all refused.
    let (status, refused) = app.get("/api/me", Some(&agent)).await;
    assert_eq!(
        (status, error_message(&refused)),
        (401, "this account is deactivated")
    );
    let (status, refused) = app.get("/api/admin/conversations", Some(&agent)).await;
    assert_eq!(
        (status, error_message(&refused)),
        (401, "this account is deactivated")
    );
    let (status, refused) = sign_in(&app, "bob").await;
    assert_eq!(
        (status, error_message(&refused)),
        (403, "this account is deactivated")
    );
    let upgrade = WsClient::open(&app.ws_url(&agent), None).await;
    assert!(upgrade.is_err(), "the upgrade is refused");
    let (status, team) = app.get("/api/admin/staff", Some(&admin)).await;
    assert_eq!(status, 200);
    let bob = team["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == bob_id)
        .cloned();
    assert_eq!(bob.map(|b| b["active"].clone()), Some(json!(false)));

    // Reactivated: the old token works again, and so does signing in.
    let (status, on) = patch_as(&app, &admin, &bob_path, json!({"active": true})).await;
    assert_eq!((status, on["active"].as_bool()), (200, Some(true)), "{on}");
    staff_update_of(&mut admin_console, bob_id, |m| m["active"] == true).await;
    let (status, _) = app.get("/api/me", Some(&agent)).await;
    assert_eq!(status, 200);
    let (status, signed_in) = sign_in(&app, "bob").await;
    assert_eq!(status, 200, "{signed_in}");
    let console = app.connect(&token_of(&signed_in)).await;
    assert_eq!(console.hello["user"]["role"], "agent");
}

/// A member who leaves the team leaves no customer waiting on them: every conversation they
/// had goes back to the unassigned queue, each change recorded and told as if the admin had
/// unassigned it; the colleagues' conversations stay theirs.
async fn a_deactivated_agents_conversations_go_back_to_the_unassigned_queue(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, admin_id) = app.staff().await;
    let bob_id = make_staff(&app, &admin, "bob", "agent").await;
    let (_, ann_id, ann_room, mut ann) = app.guest_in_support("Ann").await;
    let (_, _, cy_room, mut cy) = app.guest_in_support("Cy").await;
    let (_, _, dee_room, mut dee) = app.guest_in_support("Dee").await;
    ann.say(&ann_room, "my parcel is late", "a1").await;
    cy.say(&cy_room, "wrong size", "c1").await;
    dee.say(&dee_room, "where is my refund", "d1").await;
    for (room, agent_id) in [
        (&ann_room, bob_id),
        (&cy_room, bob_id),
        (&dee_room, admin_id),
    ] {
        let path = format!("/api/admin/conversations/{room}/assign");
        let (status, body) = app
            .post_as(&admin, &path, json!({ "agent_id": agent_id }))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // Cy's is resolved: were Cy to write again, it would reopen with nobody gone in charge.
    let path = format!("/api/admin/conversations/{cy_room}/status");
    let (status, body) = app
        .post_as(&admin, &path, json!({"status": "resolved"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut admin_console = app.connect(&admin).await;

    let bob_path = format!("/api/admin/staff/{bob_id}");
    let (status, off) = patch_as(&app, &admin, &bob_path, json!({"active": false})).await;
    assert_eq!(
        (status, off["active"].as_bool()),
        (200, Some(false)),
        "{off}"
    );

    // Answered once it is done: nothing is left with bob, the admin's stays hers.
    let with_bob = listed(&app, &admin, &format!("?assignee={bob_id}")).await;
    assert_eq!(rooms(&with_bob), Vec::<String>::new());
    let unassigned = listed(&app, &admin, "?assignee=none").await;
    let mut unassigned = rooms(&unassigned);
    unassigned.sort();
    let mut expected = vec![ann_room.clone(), cy_room.clone()];
    expected.sort();
    assert_eq!(unassigned, expected);
    let with_admin = listed(&app, &admin, "?assignee=me").await;
    assert_eq!(rooms(&with_admin), [dee_room]);
    // Every console hears of each, and the notes thread records it, as the admin's doing.
    let update = update_of(&mut admin_console, &ann_room).await;
    assert_eq!(update["change"], "assign", "{update}");
    assert_eq!(update["conversation"]["assignee"], Value::Null, "{update}");
    assert_eq!(update["by"]["id"], admin_id, "{update}");
    let cy_now = listed(&app, &admin, "?status=resolved").await;
    assert_eq!(rooms(&cy_now), [cy_room], "a resolved one stays resolved");
    let thread = notes(&app, &admin, &format!("notes:{ann_id}")).await;
    assert_eq!(
        thread,
        [
            event("staff", "assigned the conversation to bob"),
            event("staff", "unassigned the conversation"),
        ]
    );
}

async fn the_widget_counts_staff_online_and_connected_and_the_staff_hear_of_every_change(
    backend: Backend,
) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, admin_id) = app.staff().await;
    assert_eq!(staff_online(&app).await, 0, "nobody connected");
    let mut admin_console = app.connect(&admin).await;
    assert_eq!(staff_online(&app).await, 1);

    // A new member: every console hears of them, not connected yet.
    let bob_id = make_staff(&app, &admin, "bob", "agent").await;
    let member = next_staff_update(&mut admin_console).await;
    assert_eq!(
        member,
        json!({"id": bob_id, "username": "bob", "role": "agent", "active": true,
               "availability": "online", "online": false})
    );
    assert_eq!(staff_online(&app).await, 1, "bob is not connected");
    let (_, signed_in) = sign_in(&app, "bob").await;
    let agent = token_of(&signed_in);
    let mut agent_console = app.connect(&agent).await;
    assert_eq!(staff_online(&app).await, 2);

    // Busy: still connected, no longer counted; the other consoles hear of it.
    let (status, busy) = app
        .post_as(
            &agent,
            "/api/admin/availability",
            json!({"availability": "busy"}),
        )
        .await;
    assert_eq!(status, 200, "{busy}");
    assert_eq!(
        (busy["availability"].as_str(), busy["online"].as_bool()),
        (Some("busy"), Some(true))
    );
    assert_eq!(staff_online(&app).await, 1);
    let member = next_staff_update(&mut admin_console).await;
    assert_eq!(
        (member["id"].as_i64(), member["availability"].as_str()),
        (Some(bob_id), Some("busy"))
    );
    // Every staff connection hears of it, the member's own too (another tab of theirs).
    let own = next_staff_update(&mut agent_console).await;
    assert_eq!(
        (own["id"].as_i64(), own["availability"].as_str()),
        (Some(bob_id), Some("busy"))
    );
    let (_, me) = app.get("/api/me", Some(&agent)).await;
    assert_eq!(me["availability"], "busy");
    let (status, bad) = app
        .post_as(
            &agent,
            "/api/admin/availability",
            json!({"availability": "away"}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");

    // The admin goes offline: nobody is counted, and bob's console hears of it.
    let (status, _) = app
        .post_as(
            &admin,
            "/api/admin/availability",
            json!({"availability": "offline"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(staff_online(&app).await, 0);
    let own = next_staff_update(&mut admin_console).await;
    assert_eq!(
        (own["id"].as_i64(), own["availability"].as_str()),
        (Some(admin_id), Some("offline"))
    );
    let member = next_staff_update(&mut agent_console).await;
    assert_eq!(
        (member["id"].as_i64(), member["availability"].as_str()),
        (Some(admin_id), Some("offline"))
    );

    // Bob back online counts again; his last tab closing takes him off.
    app.post_as(
        &agent,
        "/api/admin/availability",
        json!({"availability": "online"}),
    )
    .await;
    assert_eq!(staff_online(&app).await, 1);
    assert_eq!(
        next_staff_update(&mut admin_console).await["availability"],
        "online"
    );
    agent_console.close().await;
    // His last tab closing takes him off (no frame says so: the count is polled).
    let deadline = std::time::Instant::now() + WAIT;
    while staff_online(&app).await != 0 {
        assert!(std::time::Instant::now() < deadline, "bob still counted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Reconnected, bob's availability was kept.
    let _again = app.connect(&agent).await;
    assert_eq!(staff_online(&app).await, 1);
}
