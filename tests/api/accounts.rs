//! Accounts and tokens over HTTP, and who may open a socket.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::{json, Value};

on_both_backends!(
    a_customer_registers_logs_in_and_sees_themselves,
    a_taken_name_is_a_conflict_whatever_its_case,
    registrations_that_break_the_rules_are_bad_requests,
    a_wrong_password_is_unauthorized,
    guests_pick_a_display_name,
    guest_chat_can_be_switched_off,
    the_admin_from_the_environment_can_log_in,
    malformed_requests_get_json_errors,
    the_health_check_answers_when_the_database_does,
    a_socket_without_a_valid_token_is_refused_before_the_upgrade,
    a_socket_from_a_foreign_page_is_refused,
    sign_in_attempts_from_one_address_are_limited,
);

fn error_of(body: &Value) -> (&str, bool) {
    (
        body["error"]["code"].as_str().unwrap_or("<none>"),
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
    )
}

async fn a_customer_registers_logs_in_and_sees_themselves(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (status, body) = app
        .post(
            "/api/auth/register",
            json!({"username": "ann.b", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, 201);
    let user = body["user"].clone();
    assert_eq!(
        (user["username"].clone(), user["role"].clone()),
        (json!("ann.b"), json!("user"))
    );

    let (status, body) = app
        .post(
            "/api/auth/login",
            json!({"username": "ANN.B", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"], user);
    let (status, me) = app.get("/api/me", Some(&token_of(&body))).await;
    assert_eq!((status, me), (200, user));
}

async fn a_taken_name_is_a_conflict_whatever_its_case(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    app.register("ann").await;
    let (status, body) = app
        .post(
            "/api/auth/register",
            json!({"username": "Ann", "password": "password-2"}),
        )
        .await;
    assert_eq!((status, error_of(&body)), (409, ("conflict", true)));
    // Guests may share names with anyone.
    app.guest("ann").await;
    app.guest("ann").await;
}

async fn registrations_that_break_the_rules_are_bad_requests(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    for body in [
        json!({"username": "ab", "password": "password-1"}),
        json!({"username": "a".repeat(33), "password": "password-1"}),
        json!({"username": "ann smith", "password": "password-1"}),
        json!({"username": "ann", "password": "short"}),
        json!({"username": "ann"}),
        json!({"username": 5, "password": "password-1"}),
    ] {
        let (status, reply) = app.post("/api/auth/register", body.clone()).await;
        assert_eq!(
            (status, error_of(&reply)),
            (400, ("bad_request", true)),
            "{body}"
        );
    }
}

async fn a_wrong_password_is_unauthorized(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    app.register("ann").await;
    for body in [
        json!({"username": "ann", "password": "wrong-password"}),
        json!({"username": "nobody", "password": "password-1"}),
    ] {
        let (status, reply) = app.post("/api/auth/login", body).await;
        assert_eq!(status, 401);
        assert_eq!(
            reply,
            json!({"error": {"code": "unauthorized", "message": "wrong username or password"}})
        );
    }
}

async fn guests_pick_a_display_name(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (status, body) = app
        .post("/api/auth/guest", json!({"name": "  Visitor 7  "}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["user"]["username"].clone(),
            body["user"]["role"].clone()
        ),
        (json!("Visitor 7"), json!("guest"))
    );
    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(33)}),
        json!({"name": "a\u{0}b"}),
        json!({}),
    ] {
        let (status, reply) = app.post("/api/auth/guest", bad).await;
        assert_eq!((status, error_of(&reply).0), (400, "bad_request"));
    }
    // A guest cannot log in with a password.
    let (status, _) = app
        .post(
            "/api/auth/login",
            json!({"username": "Visitor 7", "password": "anything-at-all"}),
        )
        .await;
    assert_eq!(status, 401);
}

async fn guest_chat_can_be_switched_off(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| s.allow_guests = false).await;
    let (status, body) = app
        .post("/api/auth/guest", json!({"name": "Visitor"}))
        .await;
    assert_eq!((status, error_of(&body)), (403, ("forbidden", true)));
}

async fn the_admin_from_the_environment_can_log_in(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.staff().await;
    let (status, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!((status, me["role"].clone()), (200, json!("admin")));
    // Restarting with the same settings keeps one admin account.
    let settings = app.stop().await;
    let app = start(settings).await;
    let (again, _) = app.staff().await;
    let (_, me_again) = app.get("/api/me", Some(again.as_str())).await;
    assert_eq!(me_again["id"], me["id"]);
}

async fn malformed_requests_get_json_errors(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let client = awc::Client::new();
    let mut res = client
        .post(format!("{}/api/auth/register", app.base))
        .insert_header(("content-type", "application/json"))
        .send_body("{not json")
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(
        error_of(&res.json::<Value>().await.unwrap()).0,
        "bad_request"
    );

    let huge = json!({"username": "ann", "password": "x".repeat(20_000)});
    let (status, body) = app.post("/api/auth/register", huge).await;
    assert_eq!((status, error_of(&body).0), (413, "too_large"));

    let (status, body) = app.get("/api/auth/login", None).await;
    assert_eq!(
        (status, error_of(&body)),
        (405, ("method_not_allowed", true))
    );
    let (status, body) = app.get("/api/no-such-thing", None).await;
    assert_eq!((status, error_of(&body).0), (404, "not_found"));
    let (token, _) = app.register("ann").await;
    let (status, body) = app
        .get("/api/rooms/Bad%20Name/messages", Some(&token))
        .await;
    assert_eq!((status, error_of(&body).0), (400, "bad_request"));
    let (status, body) = app
        .get("/api/rooms/lobby/messages?before=abc", Some(&token))
        .await;
    assert_eq!((status, error_of(&body).0), (400, "bad_request"));
    let (status, body) = app.get("/api/me", Some("not-a-token")).await;
    assert_eq!((status, error_of(&body).0), (401, "unauthorized"));
}

async fn the_health_check_answers_when_the_database_does(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let head = awc::Client::new()
        .head(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status().as_u16(), 200);
}

async fn a_socket_without_a_valid_token_is_refused_before_the_upgrade(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let other_secret =
        chat_server::auth::jwt::TokenKeys::new(&[9u8; 32], std::time::Duration::from_secs(60))
            .unwrap();
    let forged = other_secret.issue(&chat_server::domain::UserInfo {
        id: chat_server::domain::UserId(1),
        username: "staff".into(),
        role: chat_server::domain::Role::Admin,
        display_name: None,
        avatar_color: None,
    });
    for url in [
        format!("ws://{}/ws", app.address),
        app.ws_url("garbage"),
        app.ws_url(&forged),
    ] {
        let refused = WsClient::open(&url, None).await.err().expect("refused");
        match refused {
            awc::error::WsClientError::InvalidResponseStatus(status) => {
                assert_eq!(status.as_u16(), 401)
            }
            other => panic!("expected 401, got {other:?}"),
        }
    }
    // Over plain HTTP the refusal is a JSON error.
    let (status, body) = app.get("/ws?token=garbage", None).await;
    assert_eq!((status, error_of(&body).0), (401, "unauthorized"));
    // A Bearer header works as well as the query parameter.
    let (token, _) = app.register("ann").await;
    let (_, mut framed) = awc::Client::new()
        .ws(format!("ws://{}/ws", app.address))
        .bearer_auth(&token)
        .connect()
        .await
        .expect("upgrade with a bearer token");
    use futures_util::StreamExt;
    let first = framed.next().await.unwrap().unwrap();
    assert!(matches!(first, awc::ws::Frame::Text(ref t) if t.starts_with(b"{\"type\":\"hello\"")));
}

async fn a_socket_from_a_foreign_page_is_refused(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (token, _) = app.register("ann").await;
    let url = app.ws_url(&token);
    match WsClient::open(&url, Some("https://evil.example"))
        .await
        .err()
    {
        Some(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    // The server's own page and the configured shop are allowed.
    for origin in [app.base.clone(), "https://shop.example".to_owned()] {
        let mut client = WsClient::open(&url, Some(&origin))
            .await
            .expect("allowed origin");
        assert_eq!(client.recv().await["type"], "hello");
    }
}

async fn sign_in_attempts_from_one_address_are_limited(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, |s| {
        s.auth_rate_per_min = 6.0;
        s.auth_rate_burst = 3.0;
    })
    .await;
    let wrong = json!({"username": "nobody", "password": "guess-number-1"});
    for _ in 0..3 {
        assert_eq!(app.post("/api/auth/login", wrong.clone()).await.0, 401);
    }
    let (status, body) = app.post("/api/auth/login", wrong).await;
    assert_eq!((status, error_of(&body)), (429, ("rate_limited", true)));
    // Registration and guest sign-in share the budget.
    let (status, _) = app.post("/api/auth/guest", json!({"name": "Flood"})).await;
    assert_eq!(status, 429);
}
