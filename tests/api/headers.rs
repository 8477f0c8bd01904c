//! What every answer of the API tells the browser: never store it (`Cache-Control: no-store`:
//! tokens, accounts and conversations stay out of every cache) and never guess its type
//! (`X-Content-Type-Options: nosniff`). Sign-ins, the account, the console's endpoints and the
//! errors (401, 404 of an unknown path, 405, 400 of a bad body) all say so; the pages keep
//! their own caching and are not sniffed either.

use crate::helpers::*;
use crate::identity::{spawn_store_app, vouched};
use crate::on_both_backends;
use serde_json::{json, Value};

on_both_backends!(
    every_answer_of_the_api_is_never_stored_nor_sniffed,
    the_pages_keep_their_caching_and_are_not_sniffed,
);

/// One request: its status, its two headers (`Cache-Control`, `X-Content-Type-Options`) and its
/// JSON body (null when it has none).
struct Answer {
    status: u16,
    cache_control: Option<String>,
    nosniff: Option<String>,
    body: Value,
}

async fn ask(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let client = awc::Client::new();
    let url = format!("{}{path}", app.base);
    let mut req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "PUT" => client.put(url),
        "DELETE" => client.delete(url),
        other => panic!("method {other}"),
    };
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let mut res = match body {
        Some(body) => req.send_json(&body).await.expect("request"),
        None => req.send().await.expect("request"),
    };
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let cache_control = header("cache-control");
    let nosniff = header("x-content-type-options");
    let status = res.status().as_u16();
    let body = res
        .json::<Value>()
        .limit(1 << 22)
        .await
        .unwrap_or(Value::Null);
    Answer {
        status,
        cache_control,
        nosniff,
        body,
    }
}

/// Asserts the answer has the status it should and both headers of the API.
fn never_stored(what: &str, answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(
        answer.cache_control.as_deref(),
        Some("no-store"),
        "{what}: Cache-Control"
    );
    assert_eq!(
        answer.nosniff.as_deref(),
        Some("nosniff"),
        "{what}: X-Content-Type-Options"
    );
}

async fn every_answer_of_the_api_is_never_stored_nor_sniffed(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;

    // Signing in, in each of the ways a customer or the staff can.
    let guest = ask(
        &app,
        "POST",
        "/api/auth/guest",
        None,
        Some(json!({"name": "ann"})),
    )
    .await;
    never_stored("a guest", &guest, 200);
    let registered = ask(
        &app,
        "POST",
        "/api/auth/register",
        None,
        Some(json!({"username": "bob", "password": "password-1"})),
    )
    .await;
    never_stored("register", &registered, 201);
    let login = ask(
        &app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"username": "staff", "password": "staff-password"})),
    )
    .await;
    never_stored("login", &login, 200);
    let identified = ask(
        &app,
        "POST",
        "/api/auth/identify",
        None,
        Some(vouched("cust-1", "Carla", None)),
    )
    .await;
    never_stored("identify", &identified, 200);

    // The account, and an endpoint of the console.
    let customer = token_of(&registered.body);
    let staff = token_of(&login.body);
    never_stored(
        "the account",
        &ask(&app, "GET", "/api/me", Some(&customer), None).await,
        200,
    );
    never_stored(
        "the console's conversations",
        &ask(&app, "GET", "/api/admin/conversations", Some(&staff), None).await,
        200,
    );

    // The errors say so too.
    let no_token = ask(&app, "GET", "/api/me", None, None).await;
    never_stored("no token", &no_token, 401);
    assert_eq!(no_token.body["error"]["code"], "unauthorized");
    let unknown = ask(&app, "GET", "/api/no-such-thing", Some(&customer), None).await;
    never_stored("an unknown path", &unknown, 404);
    assert_eq!(unknown.body["error"]["code"], "not_found");
    let wrong_method = ask(&app, "PUT", "/api/me", Some(&customer), None).await;
    never_stored("a wrong method", &wrong_method, 405);
    let bad_body = ask(
        &app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"username": 7})),
    )
    .await;
    never_stored("a bad body", &bad_body, 400);
    let forbidden = ask(
        &app,
        "GET",
        "/api/admin/conversations",
        Some(&customer),
        None,
    )
    .await;
    never_stored("a customer in the console", &forbidden, 403);
}

async fn the_pages_keep_their_caching_and_are_not_sniffed(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    for path in [
        "/",
        "/admin",
        "/widget",
        "/static/app.js",
        "/static/lib/format.js",
    ] {
        let page = ask(&app, "GET", path, None, None).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.nosniff.as_deref(), Some("nosniff"), "{path}");
        assert_ne!(
            page.cache_control.as_deref(),
            Some("no-store"),
            "{path}: a page may be cached"
        );
    }
    // Even a page that does not exist is not sniffed.
    let missing = ask(&app, "GET", "/static/no-such-page.js", None, None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.nosniff.as_deref(), Some("nosniff"));
}
