//! The store's backend and the server API: admins manage its API keys (shown once, revoked for
//! good), only a key opens `/api/server/*`, and the store writes into a customer's support
//! conversation as the store. Notifications have their own file (`notifications.rs`).

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    an_api_key_is_shown_once_listed_without_it_and_refused_once_revoked,
    only_admins_manage_keys_and_only_a_key_opens_the_server_api,
    the_store_writes_to_a_customer_who_sees_it_live_as_does_the_staff,
    the_store_cannot_write_to_or_read_a_customer_it_never_identified,
    a_customer_with_the_longest_external_id_is_reachable_by_the_store,
    a_caller_without_a_valid_key_hears_unauthorized_whatever_it_sent,
    a_store_message_sent_again_with_its_cid_is_stored_once,
);

/// A customer the store has identified: a registered account bound to the store's
/// `external_id`, as `POST /api/auth/identify` binds one (set here in the database, so that
/// these stories do not depend on identify). Returns (token, user id).
pub async fn identified_customer(
    app: &TestApp,
    data: &TestData,
    username: &str,
    external_id: &str,
) -> (String, i64) {
    use diesel::{Connection, RunQueryDsl};
    let (token, id) = app.register(username).await;
    let update = format!("UPDATE users SET external_id = '{external_id}' WHERE id = {id}");
    let url = &data.database_url;
    let changed = if url.starts_with("postgres") {
        let mut conn = diesel::PgConnection::establish(url).expect("connect");
        diesel::sql_query(update).execute(&mut conn)
    } else {
        let mut conn = diesel::SqliteConnection::establish(url).expect("open");
        diesel::sql_query(update).execute(&mut conn)
    };
    assert_eq!(changed.expect("update"), 1);
    (token, id)
}

async fn an_api_key_is_shown_once_listed_without_it_and_refused_once_revoked(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    identified_customer(&app, &data, "ann", "cust-1").await;

    let (status, created) = app
        .post_as(
            &staff_token,
            "/api/admin/api-keys",
            json!({"name": "shop backend"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "shop backend");
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_i64().unwrap();
    assert!(key.starts_with("ck_") && key.len() > 40, "{key}");

    let (status, listed) = call(&app, "GET", "/api/admin/api-keys", Some(&staff_token), None).await;
    assert_eq!(status, 200, "{listed}");
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id);
    assert_eq!(keys[0]["name"], "shop backend");
    assert!(keys[0]["created_at"].as_i64().unwrap() > 0);
    assert!(
        keys[0].get("key").is_none(),
        "the key is never listed: {listed}"
    );
    assert!(!listed.to_string().contains(&key[3..]), "{listed}");

    // The key works ...
    let notification = json!({"external_id": "cust-1", "title": "Hi", "body": "Welcome"});
    let (status, body) = app
        .post_as(&key, "/api/server/notifications", notification.clone())
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, listed) = call(&app, "GET", "/api/admin/api-keys", Some(&staff_token), None).await;
    assert!(
        listed["keys"][0]["last_used_at"].as_i64().is_some(),
        "{listed}"
    );

    // ... until it is revoked; then it is refused and no longer listed.
    let path = format!("/api/admin/api-keys/{id}");
    let (status, _) = call(&app, "DELETE", &path, Some(&staff_token), None).await;
    assert_eq!(status, 204);
    let (status, body) = app
        .post_as(&key, "/api/server/notifications", notification)
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("unauthorized")),
        "{body}"
    );
    let (_, listed) = call(&app, "GET", "/api/admin/api-keys", Some(&staff_token), None).await;
    assert_eq!(listed["keys"], json!([]));
    let (status, body) = call(&app, "DELETE", &path, Some(&staff_token), None).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, _) = call(
        &app,
        "DELETE",
        "/api/admin/api-keys/999",
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A key needs a name.
    for name in [json!(""), json!("   "), json!("x".repeat(101))] {
        let (status, body) = app
            .post_as(&staff_token, "/api/admin/api-keys", json!({ "name": name }))
            .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("bad_request"))
        );
    }
}

async fn only_admins_manage_keys_and_only_a_key_opens_the_server_api(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (customer_token, _) = identified_customer(&app, &data, "ann", "cust-1").await;
    let (guest_token, _) = app.guest("Visitor").await;
    let key = app.api_key("shop").await;

    let admin_routes = [
        ("GET", "/api/admin/api-keys", None),
        ("POST", "/api/admin/api-keys", Some(json!({"name": "mine"}))),
        ("DELETE", "/api/admin/api-keys/1", None),
    ];
    for (method, path, body) in admin_routes {
        let (status, reply) = call(&app, method, path, None, body.clone()).await;
        assert_eq!(
            (status, reply["error"]["code"].clone()),
            (401, json!("unauthorized"))
        );
        for token in [&customer_token, &guest_token] {
            let (status, reply) = call(&app, method, path, Some(token), body.clone()).await;
            assert_eq!(
                (status, reply["error"]["code"].clone()),
                (403, json!("forbidden")),
                "{method} {path}"
            );
        }
        // Nor does an API key manage keys.
        let (status, _) = call(&app, method, path, Some(&key), body.clone()).await;
        assert_eq!(status, 401, "{method} {path} with a key");
    }

    let server_routes = [
        (
            "POST",
            "/api/server/notifications",
            Some(json!({"external_id": "cust-1", "title": "t", "body": "b"})),
        ),
        (
            "POST",
            "/api/server/conversations/cust-1/messages",
            Some(json!({"text": "hello"})),
        ),
        ("GET", "/api/server/conversations/cust-1/messages", None),
    ];
    let not_keys = [
        None,
        Some(staff_token.as_str()),
        Some(customer_token.as_str()),
        Some(guest_token.as_str()),
        Some("ck_0000000000000000000000000000000000000000000000000000000000000000"),
        Some("not a key"),
    ];
    for (method, path, body) in server_routes {
        for token in not_keys {
            let (status, reply) = call(&app, method, path, token, body.clone()).await;
            assert_eq!(
                (status, reply["error"]["code"].clone()),
                (401, json!("unauthorized")),
                "{method} {path} with {token:?}"
            );
        }
        let (status, reply) = call(&app, method, path, Some(&key), body.clone()).await;
        assert!(
            status == 200 || status == 201,
            "{method} {path}: {status} {reply}"
        );
    }
    // The store's calls left no trace of their key in the list.
    let (_, listed) = call(&app, "GET", "/api/admin/api-keys", Some(&staff_token), None).await;
    assert!(!listed.to_string().contains(&key), "{listed}");
}

async fn the_store_writes_to_a_customer_who_sees_it_live_as_does_the_staff(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let (staff_token, _) = app.staff().await;
    let (ann_token, ann_id) = identified_customer(&app, &data, "ann", "cust-42").await;
    let room = format!("support:{ann_id}");
    let mut ann = app.connect(&ann_token).await;
    ann.join(&room).await;
    ann.say(&room, "where is my parcel?", "a1").await;
    let mut staff = app.connect(&staff_token).await;

    let (status, stored) = app
        .post_as(
            &key,
            "/api/server/conversations/cust-42/messages",
            json!({"text": "Your parcel <b>ships</b> today"}),
        )
        .await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["room"], room);
    assert_eq!(stored["seq"], 2, "after Ann's message");
    let id = stored["id"].as_i64().unwrap();

    // Stored before the answer: the customer and the staff have it live, marked as the store's.
    let message = ann.expect_ignoring("message", &["presence"]).await;
    assert_eq!(message["id"], id);
    assert_eq!(message["seq"], 2);
    assert_eq!(message["kind"], "store");
    assert_eq!(message["text"], "Your parcel <b>ships</b> today");
    assert_eq!(message["from"]["username"], "The store");
    assert_ne!(message["from"]["id"], ann_id);
    let activity = staff.expect("support_activity").await;
    assert_eq!(activity["room"], room);
    assert_eq!(activity["message"]["kind"], "store");
    assert_eq!(activity["message"]["id"], id);

    // The same author every time.
    let (status, second) = app
        .post_as(
            &key,
            "/api/server/conversations/cust-42/messages",
            json!({"text": "Tracking: 123"}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let again = ann.expect("message").await;
    assert_eq!(again["from"], message["from"]);

    // In the history, for the store's records and for the customer.
    let (status, page) = call(
        &app,
        "GET",
        "/api/server/conversations/cust-42/messages",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        texts(&page["messages"]),
        [
            "where is my parcel?",
            "Your parcel <b>ships</b> today",
            "Tracking: 123"
        ]
    );
    assert_eq!(page["messages"][1]["kind"], "store");
    assert!(
        page["messages"][0].get("kind").is_none(),
        "plain text has none"
    );
    assert_eq!(page["more"], false);
    let (_, paged) = call(
        &app,
        "GET",
        "/api/server/conversations/cust-42/messages?before=3&limit=1",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(seqs(&paged["messages"]), [2]);
    assert_eq!(paged["more"], true);
    let (_, own) = app
        .get(&format!("/api/rooms/{room}/messages"), Some(&ann_token))
        .await;
    assert_eq!(own["messages"], page["messages"]);

    // The customer's unread count holds the store's messages, as it would a staff reply.
    let customer_again = app.connect(&ann_token).await;
    let entry = customer_again.hello["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == room.as_str())
        .cloned()
        .unwrap();
    assert_eq!(entry["unread"], 2, "{entry}");

    // A message the store cannot send is refused as a customer's would be.
    let path = "/api/server/conversations/cust-42/messages";
    let (status, body) = app.post_as(&key, path, json!({"text": "  "})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("bad_request"))
    );
    let long = "x".repeat(app.settings.max_message_chars + 1);
    let (status, body) = app.post_as(&key, path, json!({ "text": long })).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (413, json!("too_large"))
    );
    let (status, _) = app.post_as(&key, path, json!({"txt": "hi"})).await;
    assert_eq!(status, 400);
    ann.expect_silence(Duration::from_millis(200)).await;
}

async fn the_store_cannot_write_to_or_read_a_customer_it_never_identified(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    // A registered customer the store never identified has no external id.
    let (bob_token, bob_id) = app.register("bob").await;
    let mut bob = app.connect(&bob_token).await;
    bob.join(&format!("support:{bob_id}")).await;

    for external_id in ["nobody", "bob", &bob_id.to_string()] {
        let path = format!("/api/server/conversations/{external_id}/messages");
        let (status, body) = app.post_as(&key, &path, json!({"text": "hi"})).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (404, json!("not_found")),
            "{body}"
        );
        let (status, body) = call(&app, "GET", &path, Some(&key), None).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (404, json!("not_found"))
        );
    }
    bob.expect_silence(Duration::from_millis(200)).await;
    let (stats_token, _) = app.staff().await;
    let (_, stats) = call(&app, "GET", "/api/admin/stats", Some(&stats_token), None).await;
    assert_eq!(stats["messages_total"], 0, "nothing was stored");
}

async fn a_customer_with_the_longest_external_id_is_reachable_by_the_store(backend: Backend) {
    // Identify takes external ids of up to 256 bytes: the server API takes the same ones.
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let longest = "x".repeat(256);
    identified_customer(&app, &data, "ann", &longest).await;

    let path = format!("/api/server/conversations/{longest}/messages");
    let (status, body) = app.post_as(&key, &path, json!({"text": "hello"})).await;
    assert_eq!(status, 201, "{body}");
    let (status, page) = call(&app, "GET", &path, Some(&key), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(texts(&page["messages"]), ["hello"]);
    let notification = json!({"external_id": longest, "title": "Shipped", "body": "Today"});
    let (status, body) = app
        .post_as(&key, "/api/server/notifications", notification)
        .await;
    assert_eq!(status, 201, "{body}");

    // One byte more is no external id at all, nor is one with a control character.
    let too_long = "x".repeat(257);
    let path = format!("/api/server/conversations/{too_long}/messages");
    let (status, body) = app.post_as(&key, &path, json!({"text": "hello"})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("bad_request")),
        "{body}"
    );
    let notification = json!({"external_id": "a\u{7}b", "title": "t", "body": "b"});
    let (status, body) = app
        .post_as(&key, "/api/server/notifications", notification)
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("bad_request")),
        "{body}"
    );
}

async fn a_caller_without_a_valid_key_hears_unauthorized_whatever_it_sent(backend: Backend) {
    // The key is checked before the request is read: a caller without a valid key learns
    // nothing about what the API would make of its body or query.
    let (app, data) = spawn_app(backend).await;
    identified_customer(&app, &data, "ann", "cust-1").await;
    let unknown_key = "ck_0000000000000000000000000000000000000000000000000000000000000000";
    let bad_calls = [
        (
            "POST",
            "/api/server/notifications",
            Some(json!({"title": 5})),
        ),
        ("POST", "/api/server/notifications", Some(json!([]))),
        (
            "POST",
            "/api/server/conversations/cust-1/messages",
            Some(json!({"txt": "hi"})),
        ),
        (
            "GET",
            "/api/server/conversations/cust-1/messages?limit=many",
            None,
        ),
        (
            "GET",
            "/api/server/conversations/cust-1/messages?limit=1000",
            None,
        ),
    ];
    for (method, path, body) in bad_calls.clone() {
        for token in [Some(unknown_key), None] {
            let (status, reply) = call(&app, method, path, token, body.clone()).await;
            assert_eq!(
                (status, reply["error"]["code"].clone()),
                (401, json!("unauthorized")),
                "{method} {path} {body:?} with {token:?}: {reply}"
            );
        }
    }
    // With a valid key, the same calls are bad requests.
    let key = app.api_key("shop").await;
    for (method, path, body) in bad_calls {
        let (status, reply) = call(&app, method, path, Some(&key), body.clone()).await;
        assert_eq!(
            (status, reply["error"]["code"].clone()),
            (400, json!("bad_request")),
            "{method} {path} {body:?}: {reply}"
        );
    }
}

async fn a_store_message_sent_again_with_its_cid_is_stored_once(backend: Backend) {
    // The store's backend timed out waiting for the answer and sends the message again, with
    // the same cid: it is stored once, and the second answer names the first copy.
    let (app, data) = spawn_app(backend).await;
    let key = app.api_key("shop").await;
    let (ann_token, ann_id) = identified_customer(&app, &data, "ann", "cust-7").await;
    let room = format!("support:{ann_id}");
    let mut ann = app.connect(&ann_token).await;
    ann.join(&room).await;
    let path = "/api/server/conversations/cust-7/messages";
    let shipped = json!({"text": "Your order shipped", "cid": "order-7-shipped"});

    let (status, first) = app.post_as(&key, path, shipped.clone()).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = app.post_as(&key, path, shipped.clone()).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again, first, "the same room, seq and id");
    let message = ann.expect_ignoring("message", &["presence"]).await;
    assert_eq!(message["cid"], "order-7-shipped");
    ann.expect_silence(Duration::from_millis(200)).await;

    // Another cid, or none, is another message.
    let (_, other) = app
        .post_as(
            &key,
            path,
            json!({"text": "Your order shipped", "cid": "order-7-again"}),
        )
        .await;
    assert_eq!(other["seq"], 2, "{other}");
    let (_, plain) = app
        .post_as(&key, path, json!({"text": "Your order shipped"}))
        .await;
    assert_eq!(plain["seq"], 3, "{plain}");
    let (_, page) = call(&app, "GET", path, Some(&key), None).await;
    assert_eq!(seqs(&page["messages"]), [1, 2, 3]);

    // A cid is what a client's would be: 1-64 printable ASCII characters.
    for cid in [json!(""), json!("x".repeat(65)), json!("café"), json!(7)] {
        let (status, body) = app
            .post_as(&key, path, json!({"text": "hi", "cid": cid}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("bad_request")),
            "{cid}: {body}"
        );
    }
}
