//! The store's customers: `POST /api/auth/identify` with the hash the store computes, the same
//! customer on several devices, and the email asked for by the widget (`PATCH /api/me`). The
//! guest who signs in on the store is in `guest_merge.rs`.

use crate::helpers::*;
use crate::on_both_backends;
use chat_server::auth::signature::hmac_sha256_hex;
use chat_server::startup::Application;
use serde_json::{json, Value};

on_both_backends!(
    a_customer_the_store_vouches_for_gets_a_token_and_sees_themselves,
    the_same_customer_on_a_second_device_has_the_same_account_and_history,
    a_wrong_hash_is_unauthorized,
    without_an_identity_secret_identify_is_forbidden,
    a_short_identity_secret_refuses_to_start,
    the_store_renames_a_customer_and_changes_their_email,
    customers_may_share_a_name_with_each_other_and_with_a_registered_user,
    a_banned_customer_is_refused_like_a_banned_login,
    identify_requests_that_break_the_rules_are_bad_requests,
    a_customer_or_guest_sets_the_email_to_be_answered_by,
    the_console_lists_the_customers_email_and_external_id,
);

/// The store's secret in these stories.
pub const SECRET: &str = "the-store-and-the-chat-share-this-32+-byte-secret";

/// A server whose store shares [`SECRET`] with it.
pub async fn spawn_store_app(backend: Backend) -> (TestApp, TestData) {
    spawn_app_with(backend, |s| s.identity_secret = Some(SECRET.into())).await
}

/// What the store's backend computes for a customer.
pub fn hash_of(external_id: &str) -> String {
    hmac_sha256_hex(SECRET.as_bytes(), external_id.as_bytes())
}

/// The identify body the store puts on the script tag.
pub fn vouched(external_id: &str, name: &str, email: Option<&str>) -> Value {
    let mut body = json!({"external_id": external_id, "name": name, "hash": hash_of(external_id)});
    if let Some(email) = email {
        body["email"] = json!(email);
    }
    body
}

/// Identifies a customer the store vouches for: (token, user).
pub async fn identify(app: &TestApp, external_id: &str, name: &str) -> (String, Value) {
    let (status, body) = app
        .post("/api/auth/identify", vouched(external_id, name, None))
        .await;
    assert_eq!(status, 200, "{body}");
    (token_of(&body), body["user"].clone())
}

/// The guest with `guest_token` signs in on the store, which vouches for them with `vouched`:
/// the identify response (the customer's token and user).
pub async fn guest_signs_in(app: &TestApp, guest_token: &str, vouched: Value) -> Value {
    let (status, body) = app
        .post_as(guest_token, "/api/auth/identify", vouched)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A customer the store vouches for, on a socket in their own support conversation:
/// (token, user, room, socket).
pub async fn customer_in_support(
    app: &TestApp,
    external_id: &str,
    name: &str,
) -> (String, Value, String, WsClient) {
    let (token, user) = identify(app, external_id, name).await;
    let room = format!("support:{}", user["id"]);
    let mut client = app.connect(&token).await;
    client.join(&room).await;
    (token, user, room, client)
}

/// `PATCH path` with a JSON body as `token`.
pub async fn patch_as(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    call(app, "PATCH", path, Some(token), Some(body)).await
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

async fn a_customer_the_store_vouches_for_gets_a_token_and_sees_themselves(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (status, body) = app
        .post(
            "/api/auth/identify",
            vouched("cust-42", "Ann Smith", Some("ann@shop.example")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let user = &body["user"];
    assert_eq!(
        (&user["username"], &user["role"]),
        (&json!("Ann Smith"), &json!("user"))
    );
    let token = token_of(&body);

    let (status, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({"id": user["id"], "username": "Ann Smith", "role": "user",
               "email": "ann@shop.example", "external_id": "cust-42"})
    );
    // The customer's socket opens with their support conversation.
    let client = app.connect(&token).await;
    let own = format!("support:{}", user["id"]);
    assert_eq!(
        client.hello["rooms"][0]["room"],
        own.as_str(),
        "{}",
        client.hello
    );
    // A customer has no password: nobody logs in as them.
    let (status, _) = app
        .post(
            "/api/auth/login",
            json!({"username": "Ann Smith", "password": ""}),
        )
        .await;
    assert_eq!(status, 401);
}

async fn the_same_customer_on_a_second_device_has_the_same_account_and_history(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (_, ann, room, mut laptop) = customer_in_support(&app, "cust-42", "Ann").await;
    laptop.say(&room, "where is my parcel?", "l1").await;

    let (phone_token, same) = identify(&app, "cust-42", "Ann").await;
    assert_eq!(same, ann, "one account per external id");
    let mut phone = app.connect(&phone_token).await;
    let joined = phone.join(&room).await;
    assert_eq!(texts(&joined["messages"]), ["where is my parcel?"]);
    // Live on both devices from now on.
    phone.say(&room, "order 1234", "p1").await;
    let live = laptop.expect_ignoring("message", &["presence"]).await;
    assert_eq!(live["text"], "order 1234");
}

async fn a_wrong_hash_is_unauthorized(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let other_customers = hmac_sha256_hex(SECRET.as_bytes(), b"cust-43");
    let another_secrets = hmac_sha256_hex(b"not the store's secret, though long", b"cust-42");
    for hash in [
        other_customers.as_str(),
        another_secrets.as_str(),
        "",
        "not hex",
        &other_customers[..40],
    ] {
        let (status, body) = app
            .post(
                "/api/auth/identify",
                json!({"external_id": "cust-42", "name": "Ann", "hash": hash}),
            )
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "unauthorized"),
            "{hash}: {body}"
        );
    }
    // Nothing was created by the refusals: the first right call makes the account.
    let (_, ann) = identify(&app, "cust-42", "Ann").await;
    let (staff_token, _) = app.staff().await;
    let (_, stats) = app.get("/api/admin/stats", Some(&staff_token)).await;
    assert_eq!(stats["users_total"], 2, "staff and Ann: {stats} {ann}");
}

async fn without_an_identity_secret_identify_is_forbidden(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (status, body) = app
        .post("/api/auth/identify", vouched("cust-42", "Ann", None))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        json!({"error": {"code": "forbidden", "message": "identity is not configured"}})
    );
}

async fn a_short_identity_secret_refuses_to_start(backend: Backend) {
    let data = TestData::new(&backend);
    let mut settings = test_settings(&data);
    settings.identity_secret = Some("only-31-bytes-long-secret-12345".into());
    let refused = match Application::build(settings).await {
        Ok(_) => panic!("a server with a 31-byte identity secret started"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("--identity-secret") && refused.contains("at least 32 bytes"),
        "{refused}"
    );
}

async fn the_store_renames_a_customer_and_changes_their_email(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (status, first) = app
        .post(
            "/api/auth/identify",
            vouched("cust-42", "Ann", Some("ann@old.example")),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post(
            "/api/auth/identify",
            vouched("cust-42", "Ann Smith", Some("ann@new.example")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], first["user"]["id"]);
    assert_eq!(body["user"]["username"], "Ann Smith");
    // Without an email the stored one stays.
    let (_, body) = app
        .post("/api/auth/identify", vouched("cust-42", "Ann Smith", None))
        .await;
    let (_, me) = app.get("/api/me", Some(&token_of(&body))).await;
    assert_eq!(me["email"], "ann@new.example");
    assert_eq!(me["username"], "Ann Smith");
}

async fn customers_may_share_a_name_with_each_other_and_with_a_registered_user(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (_, registered_id) = app.register("ann").await;
    let (_, first) = identify(&app, "cust-1", "ann").await;
    let (_, second) = identify(&app, "cust-2", "ann").await;
    assert_ne!(first["id"], second["id"]);
    assert_ne!(first["id"], json!(registered_id));
    // The registered Ann still logs in, as herself.
    let (status, body) = app
        .post(
            "/api/auth/login",
            json!({"username": "ann", "password": "password-1"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], registered_id);
    // And her name is still taken for registration.
    let (status, _) = app
        .post(
            "/api/auth/register",
            json!({"username": "ANN", "password": "password-2"}),
        )
        .await;
    assert_eq!(status, 409);
}

async fn a_banned_customer_is_refused_like_a_banned_login(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (_, ann) = identify(&app, "cust-42", "Ann").await;
    let (staff_token, _) = app.staff().await;
    let (status, _) = app
        .post_as(
            &staff_token,
            &format!("/api/admin/users/{}/ban", ann["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .post("/api/auth/identify", vouched("cust-42", "Ann", None))
        .await;
    assert_eq!(
        body,
        json!({"error": {"code": "forbidden", "message": "this account is banned"}})
    );
    assert_eq!(status, 403);
}

async fn identify_requests_that_break_the_rules_are_bad_requests(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let long_id = "x".repeat(257);
    for body in [
        json!({"name": "Ann", "hash": hash_of("cust-42")}),
        json!({"external_id": "cust-42", "hash": hash_of("cust-42")}),
        json!({"external_id": "cust-42", "name": "Ann"}),
        json!({"external_id": 42, "name": "Ann", "hash": hash_of("42")}),
        json!({"external_id": "", "name": "Ann", "hash": hash_of("")}),
        json!({"external_id": long_id, "name": "Ann", "hash": hash_of(&long_id)}),
        json!({"external_id": "a\u{0}b", "name": "Ann", "hash": hash_of("a\u{0}b")}),
        vouched("cust-42", "", None),
        vouched("cust-42", &"n".repeat(33), None),
        vouched("cust-42", "Ann", Some("not an address")),
        vouched("cust-42", "Ann", Some("ann@localhost")),
        json!("not an object"),
    ] {
        let (status, reply) = app.post("/api/auth/identify", body.clone()).await;
        assert_eq!(
            (status, error_code(&reply)),
            (400, "bad_request"),
            "{body}: {reply}"
        );
        assert!(reply["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // An empty email is no email.
    let (status, body) = app
        .post("/api/auth/identify", vouched("cust-42", "Ann", Some("")))
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn a_customer_or_guest_sets_the_email_to_be_answered_by(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (ann_token, ann) = identify(&app, "cust-42", "Ann").await;
    let (status, me) = app.get("/api/me", Some(&ann_token)).await;
    assert_eq!(status, 200);
    assert!(me.get("email").is_none(), "no email yet: {me}");

    let (status, body) = patch_as(
        &app,
        &ann_token,
        "/api/me",
        json!({"email": " ann@shop.example "}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "ann@shop.example");
    assert_eq!(body["id"], ann["id"]);
    let (_, me) = app.get("/api/me", Some(&ann_token)).await;
    assert_eq!(me["email"], "ann@shop.example");

    let (guest_token, guest_id) = app.guest("Visitor").await;
    let (status, body) = patch_as(
        &app,
        &guest_token,
        "/api/me",
        json!({"email": "v@mail.example"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": guest_id, "username": "Visitor", "role": "guest", "email": "v@mail.example"})
    );

    for bad in [json!({"email": "nope"}), json!({}), json!({"email": 7})] {
        let (status, body) = patch_as(&app, &guest_token, "/api/me", bad.clone()).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "bad_request"),
            "{bad}: {body}"
        );
    }
    let (status, body) = patch_as(
        &app,
        "not-a-token",
        "/api/me",
        json!({"email": "a@b.example"}),
    )
    .await;
    assert_eq!((status, error_code(&body)), (401, "unauthorized"));
}

async fn the_console_lists_the_customers_email_and_external_id(backend: Backend) {
    let (app, _data) = spawn_store_app(backend).await;
    let (ann_token, ann) = identify(&app, "cust-42", "Ann").await;
    let (status, _) = patch_as(
        &app,
        &ann_token,
        "/api/me",
        json!({"email": "ann@shop.example"}),
    )
    .await;
    assert_eq!(status, 200);
    let (guest_token, guest_id) = app.guest("Visitor").await;
    for (token, room) in [
        (&ann_token, format!("support:{}", ann["id"])),
        (&guest_token, format!("support:{guest_id}")),
    ] {
        let mut client = app.connect(token).await;
        client.join(&room).await;
        client.say(&room, "hello?", "c1").await;
    }
    let (staff_token, _) = app.staff().await;
    let (status, body) = app
        .get("/api/admin/conversations", Some(&staff_token))
        .await;
    assert_eq!(status, 200);
    let list = body["conversations"].as_array().expect("a list");
    let of = |id: &Value| {
        list.iter()
            .find(|c| &c["customer"]["id"] == id)
            .unwrap_or_else(|| panic!("no conversation of {id} in {body}"))
    };
    let ann_row = of(&ann["id"]);
    assert_eq!(
        (&ann_row["email"], &ann_row["external_id"]),
        (&json!("ann@shop.example"), &json!("cust-42"))
    );
    let guest_row = of(&json!(guest_id));
    assert_eq!(
        (&guest_row["email"], &guest_row["external_id"]),
        (&Value::Null, &Value::Null)
    );
}
