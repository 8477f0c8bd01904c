//! Bans that hold: a guest banned by staff is not back a minute later as a new guest from the
//! same browser (the `chat_device` cookie, or the `X-Chat-Device` header of the widget) or
//! the same address (the client behind trusted proxies, never a header anyone can forge); a
//! timed ban ends by itself; staff list the bans in force and lift them, and an unban lifts
//! them too.

use crate::helpers::*;
use crate::on_both_backends;
use chat_server::client_addr::Cidr;
use serde_json::{json, Value};

on_both_backends!(
    a_banned_guest_cannot_come_back_as_a_new_guest_from_the_same_browser,
    a_banned_guest_cannot_come_back_from_the_same_address_in_another_browser,
    a_timed_ban_ends_by_itself,
    lifting_a_ban_in_the_console_lets_the_guest_back,
    an_unban_lifts_every_ban_of_the_account,
    agents_list_and_lift_bans_but_customers_may_not,
    a_ban_with_bad_terms_is_refused_and_nothing_is_banned,
    a_ban_covers_where_the_customer_last_connected_from,
    a_banned_guest_cannot_come_back_as_a_store_customer_from_the_same_browser,
);

pub(crate) const BROWSER_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub(crate) const BROWSER_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A server behind a reverse proxy on the loopback (so each test visitor can have an address of
/// its own, given in `X-Forwarded-For`).
pub(crate) async fn behind_a_proxy(backend: Backend) -> (TestApp, TestData) {
    spawn_app_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse::<Cidr>().unwrap()];
    })
    .await
}

/// What a sign-in answered: status, body and the `Set-Cookie` header, if any.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    pub set_cookie: Option<String>,
}

/// `POST /api/auth/guest` as a visitor with these headers.
pub(crate) async fn guest_with(app: &TestApp, name: &str, headers: &[(&str, &str)]) -> Answer {
    sign_in_with(app, "/api/auth/guest", json!({ "name": name }), headers).await
}

/// A sign-in call (`path`, `body`) as a visitor with these headers.
pub(crate) async fn sign_in_with(
    app: &TestApp,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = awc::Client::new().post(format!("{}{path}", app.base));
    for &(name, value) in headers {
        request = request.insert_header((name, value));
    }
    let mut res = request.send_json(&body).await.expect("request");
    let set_cookie = res
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status: res.status().as_u16(),
        body: res.json::<Value>().await.unwrap_or(Value::Null),
        set_cookie,
    }
}

/// A guest who got in: (token, id).
pub(crate) fn admitted(answer: &Answer) -> (String, i64) {
    assert_eq!(answer.status, 200, "{}", answer.body);
    (
        token_of(&answer.body),
        answer.body["user"]["id"].as_i64().unwrap(),
    )
}

/// Asserts the answer is the `banned` refusal, ending at `expires_at`.
pub(crate) fn assert_refused(answer: &Answer, expires_at: Value) {
    assert_eq!(answer.status, 403, "{}", answer.body);
    let error = &answer.body["error"];
    assert_eq!(error["code"], "banned", "{}", answer.body);
    assert!(!error["message"].as_str().unwrap_or("").is_empty());
    assert_eq!(error["expires_at"], expires_at, "{}", answer.body);
    assert!(answer.body["token"].is_null());
}

/// Staff bans the user with this body (None: no body): (status, answer).
pub(crate) async fn ban(
    app: &TestApp,
    staff: &str,
    user: i64,
    body: Option<Value>,
) -> (u16, Value) {
    let path = format!("/api/admin/users/{user}/ban");
    call(app, "POST", &path, Some(staff), body).await
}

pub(crate) async fn bans_in_force(app: &TestApp, staff: &str) -> Vec<Value> {
    let (status, body) = app.get("/api/admin/bans", Some(staff)).await;
    assert_eq!(status, 200, "{body}");
    body["bans"].as_array().expect("bans").clone()
}

async fn a_banned_guest_cannot_come_back_as_a_new_guest_from_the_same_browser(backend: Backend) {
    let (app, _data) = behind_a_proxy(backend).await;
    let (staff, staff_id) = app.staff().await;
    // The chat page: no header, the server gives the browser its cookie.
    let first = guest_with(&app, "Troll", &[("X-Forwarded-For", "198.51.100.1")]).await;
    let (troll_token, troll) = admitted(&first);
    let cookie = first.set_cookie.clone().expect("a device cookie");
    assert!(cookie.starts_with("chat_device="), "{cookie}");
    for part in ["HttpOnly", "Path=/", "SameSite=Lax", "Max-Age=31536000"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let device_cookie = cookie.split(';').next().unwrap().to_owned();

    let (status, body) = ban(&app, &staff, troll, None).await;
    assert_eq!(status, 200, "{body}");
    let ban_id = body["ban"]["id"].as_i64().expect("ban id");
    assert_eq!(
        body,
        json!({
            "user": {"id": troll, "username": "Troll", "role": "guest"},
            "banned": true,
            "ban": {
                "id": ban_id,
                "user": {"id": troll, "username": "Troll", "role": "guest"},
                "device": true,
                "address": "198.51.100.1",
                "address_expires_at": body["ban"]["created_at"].as_i64().unwrap() + 86_400_000,
                "reason": "",
                "created_at": body["ban"]["created_at"],
                "expires_at": null,
                "created_by": {"id": staff_id, "username": "staff", "role": "admin"},
            }
        })
    );
    assert_eq!(app.get("/api/me", Some(&troll_token)).await.0, 401);

    // Same browser, another address (a phone moving between networks): refused.
    let again = guest_with(
        &app,
        "Nice Person",
        &[
            ("X-Forwarded-For", "203.0.113.77"),
            ("Cookie", &device_cookie),
        ],
    )
    .await;
    assert_refused(&again, Value::Null);
    // Nor by registering an account instead.
    let mut res = awc::Client::new()
        .post(format!("{}/api/auth/register", app.base))
        .insert_header(("X-Forwarded-For", "203.0.113.78"))
        .insert_header(("Cookie", device_cookie.as_str()))
        .send_json(&json!({"username": "nice", "password": "password-1"}))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "banned", "{body}");

    // The widget in a store's iframe sends its id as a header: a ban on it holds too.
    let widget = guest_with(
        &app,
        "Shopper",
        &[
            ("X-Forwarded-For", "198.51.100.9"),
            ("X-Chat-Device", BROWSER_A),
        ],
    )
    .await;
    let (_, shopper) = admitted(&widget);
    assert!(widget.set_cookie.unwrap().contains(BROWSER_A));
    let (status, _) = ban(&app, &staff, shopper, Some(json!({"minutes": null}))).await;
    assert_eq!(status, 200);
    let again = guest_with(
        &app,
        "Shopper 2",
        &[
            ("X-Forwarded-For", "192.0.2.200"),
            ("X-Chat-Device", BROWSER_A),
        ],
    )
    .await;
    assert_refused(&again, Value::Null);

    // Someone else, elsewhere, is welcome.
    let other = guest_with(
        &app,
        "Ann",
        &[
            ("X-Forwarded-For", "192.0.2.1"),
            ("X-Chat-Device", BROWSER_B),
        ],
    )
    .await;
    admitted(&other);
}

async fn a_banned_guest_cannot_come_back_from_the_same_address_in_another_browser(
    backend: Backend,
) {
    let (app, _data) = behind_a_proxy(backend).await;
    let (staff, _) = app.staff().await;
    let first = guest_with(
        &app,
        "Troll",
        &[
            ("X-Forwarded-For", "198.51.100.1"),
            ("X-Chat-Device", BROWSER_A),
        ],
    )
    .await;
    let (_, troll) = admitted(&first);
    let (status, body) = ban(&app, &staff, troll, Some(json!({"reason": "abuse"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ban"]["reason"], "abuse");
    // Many people may share an address: it stays banned a day, the browser until lifted.
    let address_end = body["ban"]["address_expires_at"].clone();
    assert!(address_end.is_i64(), "{body}");

    // A private window (no cookie, no stored id) from the same address: refused for the day.
    let private = guest_with(&app, "Troll 2", &[("X-Forwarded-For", "198.51.100.1")]).await;
    assert_refused(&private, address_end.clone());
    // The sign-in screen asks first, and is told until when.
    let mut res = awc::Client::new()
        .get(format!("{}/api/auth/ban", app.base))
        .insert_header(("X-Forwarded-For", "198.51.100.1"))
        .send()
        .await
        .unwrap();
    let standing: Value = res.json().await.unwrap();
    assert_eq!(standing, json!({"banned": true, "expires_at": address_end}));
    let mut res = awc::Client::new()
        .get(format!("{}/api/auth/ban", app.base))
        .insert_header(("X-Forwarded-For", "198.51.100.2"))
        .insert_header(("X-Chat-Device", BROWSER_B))
        .send()
        .await
        .unwrap();
    let standing: Value = res.json().await.unwrap();
    assert_eq!(standing, json!({"banned": false}));
    // Another browser on another network: welcome.
    let other = guest_with(
        &app,
        "Ann",
        &[
            ("X-Forwarded-For", "198.51.100.2"),
            ("X-Chat-Device", BROWSER_B),
        ],
    )
    .await;
    admitted(&other);
}

/// Without a trusted proxy, `X-Forwarded-For` is anyone's to write: it neither hides a
/// banned guest's address nor puts someone else's address under the ban.
#[actix_rt::test]
async fn a_forged_forwarding_header_neither_dodges_nor_causes_a_ban() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        s.trusted_proxies = vec!["10.0.0.0/8".parse::<Cidr>().unwrap()];
    })
    .await;
    let (staff, _) = app.staff().await;
    let first = guest_with(
        &app,
        "Troll",
        &[
            ("X-Forwarded-For", "192.0.2.55"),
            ("X-Chat-Device", BROWSER_A),
        ],
    )
    .await;
    let (_, troll) = admitted(&first);
    let (status, body) = ban(&app, &staff, troll, None).await;
    assert_eq!(status, 200, "{body}");
    // The ban is on the address the connection came from, not the one the header named.
    assert_eq!(body["ban"]["address"], "127.0.0.1", "{body}");
    let bans = bans_in_force(&app, &staff).await;
    assert_eq!(bans.len(), 1);
    assert_ne!(bans[0]["address"], "192.0.2.55");
    // Another made-up address and a fresh browser do not get the troll back in.
    let forged = guest_with(
        &app,
        "Troll 2",
        &[
            ("X-Forwarded-For", "203.0.113.1"),
            ("X-Chat-Device", BROWSER_B),
        ],
    )
    .await;
    assert_refused(&forged, body["ban"]["address_expires_at"].clone());
}

/// Sets the end of every ban to a moment just past, as if its time had run out.
fn run_out_every_ban(data: &TestData) {
    use chat_server::db::schema::bans;
    use chat_server::db::{open_pool, DbTarget, SqliteSync};
    use diesel::prelude::*;
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 1, SqliteSync::Full).unwrap();
    let mut conn = pool.get().unwrap();
    let past = chat_server::domain::now_millis() - 1;
    chat_server::with_backend!(&mut *conn, c => diesel::update(bans::table)
        .set(bans::expires_at.eq(Some(past)))
        .execute(c))
    .unwrap();
}

async fn a_timed_ban_ends_by_itself(backend: Backend) {
    let (app, data) = behind_a_proxy(backend).await;
    let (staff, _) = app.staff().await;
    let visitor = [
        ("X-Forwarded-For", "198.51.100.1"),
        ("X-Chat-Device", BROWSER_A),
    ];
    let (token, troll) = admitted(&guest_with(&app, "Troll", &visitor).await);
    // A second guest, banned for a day, whose conversation the staff see in their list.
    let (_, spammer, spam_room, mut spam) = app.guest_in_support("Spammer").await;
    spam.say(&spam_room, "cheap pills", "s1").await;
    assert_eq!(
        ban(&app, &staff, spammer, Some(json!({"minutes": 1440})))
            .await
            .0,
        200
    );
    let before = chat_server::domain::now_millis();
    let (status, body) = ban(&app, &staff, troll, Some(json!({"minutes": 60}))).await;
    assert_eq!(status, 200, "{body}");
    let expires_at = body["ban"]["expires_at"].as_i64().expect("an end");
    let hour = 60 * 60 * 1000;
    assert!(
        (before + hour..=chat_server::domain::now_millis() + hour).contains(&expires_at),
        "{body}"
    );
    assert_refused(
        &guest_with(&app, "Again", &visitor).await,
        json!(expires_at),
    );
    assert_eq!(app.get("/api/me", Some(&token)).await.0, 401);

    assert_eq!(
        conversation_of(&app, &staff, &spam_room).await["banned"],
        true
    );

    run_out_every_ban(&data);
    // The hour is over: the old token works again, the browser may start a new chat.
    let (status, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!((status, me["id"].as_i64()), (200, Some(troll)), "{me}");
    app.connect(&token).await;
    admitted(&guest_with(&app, "Again", &visitor).await);
    // The staff's Bans panel lists none in force, and their list of conversations no longer
    // shows the other guest as banned, though that guest has not come back yet.
    assert!(bans_in_force(&app, &staff).await.is_empty());
    assert_eq!(
        conversation_of(&app, &staff, &spam_room).await["banned"],
        false
    );
}

/// The staff's view of the conversation in `room`.
async fn conversation_of(app: &TestApp, staff: &str, room: &str) -> Value {
    let (status, list) = app.get("/api/admin/conversations", Some(staff)).await;
    assert_eq!(status, 200, "{list}");
    list["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .find(|c| c["room"] == room)
        .cloned()
        .expect("listed")
}

async fn lifting_a_ban_in_the_console_lets_the_guest_back(backend: Backend) {
    let (app, _data) = behind_a_proxy(backend).await;
    let (staff, _) = app.staff().await;
    let visitor = [
        ("X-Forwarded-For", "198.51.100.1"),
        ("X-Chat-Device", BROWSER_A),
    ];
    let (token, troll) = admitted(&guest_with(&app, "Troll", &visitor).await);
    let (_, body) = ban(&app, &staff, troll, Some(json!({"minutes": 1440}))).await;
    let ban_id = body["ban"]["id"].as_i64().unwrap();
    // Two bans: an older one of someone else is listed after it.
    let (_, other) = admitted(
        &guest_with(
            &app,
            "Spammer",
            &[
                ("X-Forwarded-For", "192.0.2.9"),
                ("X-Chat-Device", BROWSER_B),
            ],
        )
        .await,
    );
    let (_, body) = ban(&app, &staff, other, None).await;
    let other_ban = body["ban"]["id"].as_i64().unwrap();
    let listed: Vec<i64> = bans_in_force(&app, &staff)
        .await
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [other_ban, ban_id], "newest first");

    let path = format!("/api/admin/bans/{ban_id}");
    let (status, body) = call(&app, "DELETE", &path, Some(&staff), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ban"]["id"], ban_id);
    assert_eq!(body["ban"]["user"]["id"], troll);
    let listed = bans_in_force(&app, &staff).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], other_ban);
    // The account is unbanned, and the browser may start again.
    assert_eq!(app.get("/api/me", Some(&token)).await.0, 200);
    admitted(&guest_with(&app, "Troll again", &visitor).await);
    // Lifted once is lifted: no such ban in force any more.
    let (status, body) = call(&app, "DELETE", &path, Some(&staff), None).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, _) = call(&app, "DELETE", "/api/admin/bans/999999", Some(&staff), None).await;
    assert_eq!(status, 404);
}

async fn an_unban_lifts_every_ban_of_the_account(backend: Backend) {
    let (app, _data) = behind_a_proxy(backend).await;
    let (staff, _) = app.staff().await;
    let visitor = [
        ("X-Forwarded-For", "198.51.100.1"),
        ("X-Chat-Device", BROWSER_A),
    ];
    let (token, troll) = admitted(&guest_with(&app, "Troll", &visitor).await);
    assert_eq!(ban(&app, &staff, troll, None).await.0, 200);
    assert_eq!(
        ban(&app, &staff, troll, Some(json!({"minutes": 5})))
            .await
            .0,
        200
    );
    assert_eq!(bans_in_force(&app, &staff).await.len(), 2);

    let path = format!("/api/admin/users/{troll}/unban");
    let (status, body) = call(&app, "POST", &path, Some(&staff), None).await;
    assert_eq!(
        (status, body["banned"].clone()),
        (200, json!(false)),
        "{body}"
    );
    assert!(bans_in_force(&app, &staff).await.is_empty());
    assert_eq!(app.get("/api/me", Some(&token)).await.0, 200);
    admitted(&guest_with(&app, "Troll again", &visitor).await);
}

async fn agents_list_and_lift_bans_but_customers_may_not(backend: Backend) {
    let (app, _data) = behind_a_proxy(backend).await;
    let (admin, _) = app.staff().await;
    let member = json!({"username": "bob", "password": "agent-password", "role": "agent"});
    let (status, bob) = app.post_as(&admin, "/api/admin/staff", member).await;
    assert_eq!(status, 201, "{bob}");
    let (_, login) = app
        .post(
            "/api/auth/login",
            json!({"username": "bob", "password": "agent-password"}),
        )
        .await;
    let agent = token_of(&login);
    let visitor = [
        ("X-Forwarded-For", "198.51.100.1"),
        ("X-Chat-Device", BROWSER_A),
    ];
    let (_, troll) = admitted(&guest_with(&app, "Troll", &visitor).await);
    let (status, body) = ban(&app, &agent, troll, Some(json!({"minutes": 60}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ban"]["created_by"]["username"], "bob");
    let ban_id = body["ban"]["id"].as_i64().unwrap();

    let (customer, _) = app.register("carol").await;
    let path = format!("/api/admin/bans/{ban_id}");
    for token in [Some(customer.as_str()), None] {
        let expected = if token.is_some() { 403 } else { 401 };
        let (status, body) = call(&app, "GET", "/api/admin/bans", token, None).await;
        assert_eq!(status, expected, "{body}");
        assert!(body["bans"].is_null());
        let (status, _) = call(&app, "DELETE", &path, token, None).await;
        assert_eq!(status, expected);
    }
    assert_eq!(bans_in_force(&app, &agent).await.len(), 1, "still in force");
    let (status, body) = call(&app, "DELETE", &path, Some(&agent), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(bans_in_force(&app, &admin).await.is_empty());
}

async fn a_ban_with_bad_terms_is_refused_and_nothing_is_banned(backend: Backend) {
    let (app, _data) = behind_a_proxy(backend).await;
    let (staff, staff_id) = app.staff().await;
    let visitor = [
        ("X-Forwarded-For", "198.51.100.1"),
        ("X-Chat-Device", BROWSER_A),
    ];
    let (token, troll) = admitted(&guest_with(&app, "Troll", &visitor).await);
    for body in [
        json!({"minutes": 0}),
        json!({"minutes": 525_601}),
        json!({"minutes": -60}),
        json!({"minutes": "60"}),
        json!({"minutes": 1.5}),
        json!({"reason": "x".repeat(201)}),
        json!({"reason": 5}),
        json!([60]),
    ] {
        let (status, answer) = ban(&app, &staff, troll, Some(body.clone())).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], "bad_request");
    }
    assert!(bans_in_force(&app, &staff).await.is_empty());
    assert_eq!(app.get("/api/me", Some(&token)).await.0, 200);
    admitted(&guest_with(&app, "Ann", &visitor).await);
    // Nobody to ban, and staff are never banned.
    assert_eq!(ban(&app, &staff, 999_999, None).await.0, 404);
    assert_eq!(ban(&app, &staff, staff_id, None).await.0, 400);
    assert!(bans_in_force(&app, &staff).await.is_empty());
}

/// A customer registered at home and chats later from a phone: the ban covers the browser and
/// the address of their last socket, not those of the sign-up.
async fn a_ban_covers_where_the_customer_last_connected_from(backend: Backend) {
    let (app, _data) = behind_a_proxy(backend).await;
    let (staff, _) = app.staff().await;
    let mut res = awc::Client::new()
        .post(format!("{}/api/auth/register", app.base))
        .insert_header(("X-Forwarded-For", "198.51.100.1"))
        .insert_header(("X-Chat-Device", BROWSER_A))
        .send_json(&json!({"username": "carl", "password": "password-1"}))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().await.unwrap();
    let (token, carl) = (token_of(&body), body["user"]["id"].as_i64().unwrap());

    let (response, _phone) = awc::Client::new()
        .ws(app.ws_url(&token))
        .set_header("X-Forwarded-For", "203.0.113.5")
        .set_header("Cookie", format!("chat_device={BROWSER_B}"))
        .connect()
        .await
        .expect("upgrade");
    assert_eq!(response.status().as_u16(), 101);

    // The socket's record is written beside the session's start: ask until it is there.
    let mut ban_body = Value::Null;
    for _ in 0..50 {
        let (status, body) = ban(&app, &staff, carl, None).await;
        assert_eq!(status, 200, "{body}");
        if body["ban"]["address"] == "203.0.113.5" {
            ban_body = body;
            break;
        }
        let unban = format!("/api/admin/users/{carl}/unban");
        assert_eq!(call(&app, "POST", &unban, Some(&staff), None).await.0, 200);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(ban_body["ban"]["device"], true, "{ban_body}");
    let refused = guest_with(
        &app,
        "Carl again",
        &[
            ("X-Forwarded-For", "192.0.2.77"),
            ("X-Chat-Device", BROWSER_B),
        ],
    )
    .await;
    assert_refused(&refused, Value::Null);
    // The sign-up's browser, elsewhere, is not the one banned.
    let home = guest_with(
        &app,
        "Someone at Carl's old place",
        &[
            ("X-Forwarded-For", "192.0.2.78"),
            ("X-Chat-Device", BROWSER_A),
        ],
    )
    .await;
    admitted(&home);
}

/// The store's sign-in is a sign-in like any other: a banned visitor's browser does not get
/// back in by being identified as one of the store's customers, and where an identified
/// customer signs in from is recorded, so that banning them covers it.
async fn a_banned_guest_cannot_come_back_as_a_store_customer_from_the_same_browser(
    backend: Backend,
) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse::<Cidr>().unwrap()];
        s.identity_secret = Some(crate::identity::SECRET.into());
    })
    .await;
    let (staff, _) = app.staff().await;
    let widget = guest_with(
        &app,
        "Troll",
        &[
            ("X-Forwarded-For", "198.51.100.1"),
            ("X-Chat-Device", BROWSER_A),
        ],
    )
    .await;
    let (_, troll) = admitted(&widget);
    let (status, body) = ban(&app, &staff, troll, None).await;
    assert_eq!(status, 200, "{body}");

    // The same browser, on another network, as a customer the store vouches for: refused.
    let vouched = crate::identity::vouched("cust-17", "Troll Again", None);
    let again = sign_in_with(
        &app,
        "/api/auth/identify",
        vouched.clone(),
        &[
            ("X-Forwarded-For", "203.0.113.5"),
            ("X-Chat-Device", BROWSER_A),
        ],
    )
    .await;
    assert_refused(&again, Value::Null);

    // Another customer, elsewhere, gets in; banning them covers the browser they came from.
    let ann = sign_in_with(
        &app,
        "/api/auth/identify",
        crate::identity::vouched("cust-18", "Ann", None),
        &[
            ("X-Forwarded-For", "192.0.2.1"),
            ("X-Chat-Device", BROWSER_B),
        ],
    )
    .await;
    let (_, ann_id) = admitted(&ann);
    let (status, body) = ban(&app, &staff, ann_id, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ban"]["device"], true, "{body}");
    assert_eq!(body["ban"]["address"], "192.0.2.1", "{body}");
    let guest = guest_with(
        &app,
        "Ann's alias",
        &[
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Chat-Device", BROWSER_B),
        ],
    )
    .await;
    assert_refused(&guest, Value::Null);
}
