//! Bans that hold where they should and no further: the address part of a ban lasts a day at
//! most (many people share one address) while the browser stays banned for the whole term; the
//! address of a trusted proxy is never banned; a guest finished by signing in on the store does
//! not come back when its old ban ends; a banned guest does not get back in by logging in to
//! another account from the same browser; and the ban screen's question is not free to ask
//! without end.

use crate::bans::{
    admitted, assert_refused, ban, bans_in_force, behind_a_proxy, guest_with, Answer, BROWSER_A,
    BROWSER_B,
};
use crate::helpers::*;
use crate::identity::{error_code, guest_signs_in, spawn_store_app, vouched};
use crate::on_both_backends;
use chat_server::client_addr::Cidr;
use serde_json::{json, Value};

on_both_backends!(
    a_ban_until_lifted_holds_an_address_for_a_day_and_the_browser_for_good,
    the_address_of_a_trusted_proxy_is_never_banned,
    a_guest_merged_after_its_ban_ended_stays_finished,
    a_banned_guest_cannot_log_in_to_another_account_from_the_same_browser,
    the_ban_screen_question_draws_on_the_sign_in_budget,
);

const DAY: i64 = 24 * 60 * 60 * 1000;

/// Moves the start of every ban `ms` into the past, as if that much time had gone by.
fn age_every_ban(data: &TestData, ms: i64) {
    use chat_server::db::schema::bans;
    use chat_server::db::{open_pool, DbTarget, SqliteSync};
    use diesel::prelude::*;
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 1, SqliteSync::Full).unwrap();
    let mut conn = pool.get().unwrap();
    chat_server::with_backend!(&mut *conn, c => diesel::update(bans::table)
        .set(bans::created_at.eq(bans::created_at - ms))
        .execute(c))
    .unwrap();
}

/// `POST /api/auth/login` with these headers.
async fn login_with(
    app: &TestApp,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = awc::Client::new().post(format!("{}/api/auth/login", app.base));
    for &(name, value) in headers {
        request = request.insert_header((name, value));
    }
    let mut res = request
        .send_json(&json!({ "username": username, "password": password }))
        .await
        .expect("request");
    Answer {
        status: res.status().as_u16(),
        body: res.json::<Value>().await.unwrap_or(Value::Null),
        set_cookie: None,
    }
}

/// `GET /api/auth/ban` with these headers: (status, body).
async fn standing(app: &TestApp, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = awc::Client::new().get(format!("{}/api/auth/ban", app.base));
    for &(name, value) in headers {
        request = request.insert_header((name, value));
    }
    let mut res = request.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json::<Value>().await.unwrap_or(Value::Null))
}

/// A troll at a café (one address for everyone there) is banned until lifted: the café's
/// other visitors are refused that day, and welcome the next; the troll's browser stays banned.
async fn a_ban_until_lifted_holds_an_address_for_a_day_and_the_browser_for_good(backend: Backend) {
    let (app, data) = behind_a_proxy(backend).await;
    let (staff, _) = app.staff().await;
    let troll_browser = [
        ("X-Forwarded-For", "198.51.100.1"),
        ("X-Chat-Device", BROWSER_A),
    ];
    let (_, troll) = admitted(&guest_with(&app, "Troll", &troll_browser).await);
    let (status, body) = ban(&app, &staff, troll, None).await;
    assert_eq!(status, 200, "{body}");
    let placed = body["ban"]["created_at"].as_i64().expect("created_at");
    assert_eq!(body["ban"]["expires_at"], Value::Null, "{body}");
    assert_eq!(body["ban"]["address"], "198.51.100.1");
    assert_eq!(body["ban"]["address_expires_at"], placed + DAY, "{body}");

    // Today, someone else at the café is refused, and told until when.
    let neighbour = [
        ("X-Forwarded-For", "198.51.100.1"),
        ("X-Chat-Device", BROWSER_B),
    ];
    assert_refused(
        &guest_with(&app, "Neighbour", &neighbour).await,
        json!(placed + DAY),
    );
    assert_eq!(
        standing(&app, &neighbour).await.1,
        json!({"banned": true, "expires_at": placed + DAY})
    );

    age_every_ban(&data, DAY + 1);
    // A day later the café's visitors are welcome again...
    assert_eq!(standing(&app, &neighbour).await.1, json!({"banned": false}));
    admitted(&guest_with(&app, "Neighbour", &neighbour).await);
    // ...but the troll's browser, from anywhere, is still refused for good.
    let elsewhere = [
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Chat-Device", BROWSER_A),
    ];
    assert_refused(&guest_with(&app, "Troll 2", &elsewhere).await, Value::Null);
    assert_refused(
        &guest_with(&app, "Troll 3", &troll_browser).await,
        Value::Null,
    );
    // The staff still see the ban in force, and that its address part is over.
    let listed = bans_in_force(&app, &staff).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["address"], "198.51.100.1");
    assert_eq!(listed[0]["address_expires_at"], placed - 1, "{}", listed[0]);

    // A ban shorter than a day holds the address to its own end.
    let (_, other) = admitted(
        &guest_with(
            &app,
            "Spammer",
            &[
                ("X-Forwarded-For", "192.0.2.7"),
                ("X-Chat-Device", "c".repeat(32).as_str()),
            ],
        )
        .await,
    );
    let (_, body) = ban(&app, &staff, other, Some(json!({"minutes": 30}))).await;
    assert_eq!(
        body["ban"]["address_expires_at"], body["ban"]["expires_at"],
        "{body}"
    );
}

/// The chat runs behind a proxy on the loopback; a visitor whose request came through it without
/// naming the client is seen at the proxy's own address. Banning that visitor must not ban
/// everyone behind the proxy.
async fn the_address_of_a_trusted_proxy_is_never_banned(backend: Backend) {
    let (app, _data) = behind_a_proxy(backend).await;
    let (staff, _) = app.staff().await;
    let (_, troll) = admitted(&guest_with(&app, "Troll", &[("X-Chat-Device", BROWSER_A)]).await);
    let (status, body) = ban(&app, &staff, troll, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ban"]["device"], true, "{body}");
    assert_eq!(body["ban"]["address"], Value::Null, "{body}");
    assert_eq!(body["ban"]["address_expires_at"], Value::Null, "{body}");
    // Another visitor through the same proxy: welcome.
    admitted(&guest_with(&app, "Ann", &[("X-Chat-Device", BROWSER_B)]).await);
    // The troll's browser is not.
    assert_refused(
        &guest_with(&app, "Troll 2", &[("X-Chat-Device", BROWSER_A)]).await,
        Value::Null,
    );
}

/// A guest chatted in the lobby, was banned for an hour and let back in early; later the guest
/// signed in on the store, which finished the guest account. Its old token stays refused, even
/// after the staff look at their bans (which frees accounts whose bans ended).
async fn a_guest_merged_after_its_ban_ended_stays_finished(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (staff, _) = app.staff().await;
    let (guest_token, guest_id) = app.guest("Visitor").await;
    let mut visitor = app.connect(&guest_token).await;
    visitor.join("lobby").await;
    visitor.say("lobby", "hi all", "l1").await;
    let (status, body) = ban(&app, &staff, guest_id, Some(json!({"minutes": 60}))).await;
    assert_eq!(status, 200, "{body}");
    let lift = format!("/api/admin/bans/{}", body["ban"]["id"]);
    assert_eq!(call(&app, "DELETE", &lift, Some(&staff), None).await.0, 200);
    assert_eq!(app.get("/api/me", Some(&guest_token)).await.0, 200);

    let customer = guest_signs_in(&app, &guest_token, vouched("cust-42", "Ann", None)).await;
    assert_ne!(customer["user"]["id"], guest_id);
    let refused = |status: u16, body: &Value| {
        assert_eq!((status, error_code(body)), (401, "unauthorized"), "{body}");
    };
    let (status, body) = app.get("/api/me", Some(&guest_token)).await;
    refused(status, &body);
    // The staff open their Bans panel: nothing in force, and the guest stays finished.
    assert!(bans_in_force(&app, &staff).await.is_empty());
    let (status, body) = app.get("/api/me", Some(&guest_token)).await;
    refused(status, &body);
    let (status, body) = app.get("/api/me", Some(&guest_token)).await;
    refused(status, &body);
    // Nor does an unban by the staff bring the finished guest back.
    let unban = format!("/api/admin/users/{guest_id}/unban");
    assert_eq!(call(&app, "POST", &unban, Some(&staff), None).await.0, 200);
    let (status, body) = app.get("/api/me", Some(&guest_token)).await;
    refused(status, &body);
    // The customer the guest became is fine.
    assert_eq!(app.get("/api/me", Some(&token_of(&customer))).await.0, 200);
}

/// A troll banned as a guest has a customer account made earlier: logging in to it from the
/// banned browser is refused like a new guest. Staff are never held by such a ban.
async fn a_banned_guest_cannot_log_in_to_another_account_from_the_same_browser(backend: Backend) {
    let (app, _data) = behind_a_proxy(backend).await;
    let (staff, _) = app.staff().await;
    app.register("sleeper").await;
    let (_, troll) = admitted(
        &guest_with(
            &app,
            "Troll",
            &[
                ("X-Forwarded-For", "198.51.100.1"),
                ("X-Chat-Device", BROWSER_A),
            ],
        )
        .await,
    );
    assert_eq!(ban(&app, &staff, troll, None).await.0, 200);

    let from_banned_browser = [
        ("X-Forwarded-For", "203.0.113.50"),
        ("X-Chat-Device", BROWSER_A),
    ];
    let refused = login_with(&app, "sleeper", "password-1", &from_banned_browser).await;
    assert_refused(&refused, Value::Null);
    // A wrong password still says only that.
    let wrong = login_with(&app, "sleeper", "nope-nope-1", &from_banned_browser).await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    // The same customer from their own browser elsewhere is welcome.
    let own = login_with(
        &app,
        "sleeper",
        "password-1",
        &[
            ("X-Forwarded-For", "192.0.2.60"),
            ("X-Chat-Device", BROWSER_B),
        ],
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
    // A staff member at the banned browser and address signs in all the same.
    let agent = login_with(
        &app,
        "staff",
        "staff-password",
        &[
            ("X-Forwarded-For", "198.51.100.1"),
            ("X-Chat-Device", BROWSER_A),
        ],
    )
    .await;
    assert_eq!(agent.status, 200, "{}", agent.body);
}

/// The ban screen asks `GET /api/auth/ban` without a token: an address asking over and over is
/// told to wait, like one signing in over and over, and others are not.
async fn the_ban_screen_question_draws_on_the_sign_in_budget(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse::<Cidr>().unwrap()];
        s.auth_rate_per_min = 6.0;
        s.auth_rate_burst = 3.0;
    })
    .await;
    let busy = [("X-Forwarded-For", "198.51.100.1")];
    for _ in 0..3 {
        let (status, body) = standing(&app, &busy).await;
        assert_eq!((status, body), (200, json!({"banned": false})));
    }
    let (status, body) = standing(&app, &busy).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(!body["error"]["message"].as_str().unwrap_or("").is_empty());
    // The budget is one: a guest sign-in from there waits too.
    assert_eq!(guest_with(&app, "Ann", &busy).await.status, 429);
    // Another address is not held up.
    let (status, _) = standing(&app, &[("X-Forwarded-For", "198.51.100.2")]).await;
    assert_eq!(status, 200);
}
