//! Canned replies: the staff (admins and agents alike) keep a list of answers they insert by
//! shortcut; a shortcut is unique whatever its case; customers cannot see or touch the list.

use crate::helpers::*;
use crate::notes::agent;
use crate::on_both_backends;
use serde_json::{json, Value};

on_both_backends!(
    an_agent_keeps_canned_replies_that_every_staff_member_sees_sorted_by_shortcut,
    a_shortcut_is_taken_whatever_its_case_and_bad_ones_are_refused,
    only_staff_reach_the_canned_replies,
);

/// PATCHes JSON with a token, or none: (status, JSON body).
async fn patch(app: &TestApp, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
    call(app, "PATCH", path, token, Some(body)).await
}

/// The shortcuts of the list, as `token` sees it.
async fn shortcuts(app: &TestApp, token: &str) -> Vec<String> {
    let (status, body) = app.get("/api/admin/canned", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["canned"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["shortcut"].as_str().expect("shortcut").to_owned())
        .collect()
}

async fn an_agent_keeps_canned_replies_that_every_staff_member_sees_sorted_by_shortcut(
    backend: Backend,
) {
    let (app, data) = spawn_app(backend).await;
    let (bob, _) = agent(&app, &data, "bob").await;
    let (admin, _) = app.staff().await;

    let (status, thanks) = app
        .post_as(
            &bob,
            "/api/admin/canned",
            json!({"shortcut": "/thanks", "text": "Thank you for writing!\nBob"}),
        )
        .await;
    assert_eq!(status, 201, "{thanks}");
    assert_eq!(thanks["shortcut"], "thanks", "the leading / is dropped");
    assert_eq!(thanks["text"], "Thank you for writing!\nBob");
    let id = thanks["id"].as_i64().expect("id");
    let created_at = thanks["created_at"].as_i64().expect("created_at");
    assert_eq!(thanks["updated_at"], created_at);
    let mut keys: Vec<&String> = thanks.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "id", "shortcut", "text", "updated_at"]);
    for (shortcut, text) in [("Refund", "Your refund is on its way."), ("hello", "Hi!")] {
        let body = json!({"shortcut": shortcut, "text": text});
        let (status, _) = app.post_as(&admin, "/api/admin/canned", body).await;
        assert_eq!(status, 201);
    }
    assert_eq!(shortcuts(&app, &admin).await, ["hello", "Refund", "thanks"]);
    assert_eq!(shortcuts(&app, &bob).await, ["hello", "Refund", "thanks"]);

    // The admin edits Bob's reply: the text alone, then the shortcut alone.
    let path = format!("/api/admin/canned/{id}");
    let (status, edited) = patch(&app, Some(&admin), &path, json!({"text": "Thanks!"})).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (&edited["shortcut"], &edited["text"]),
        (&json!("thanks"), &json!("Thanks!"))
    );
    assert_eq!(edited["created_at"], created_at);
    assert!(edited["updated_at"].as_i64().unwrap() >= created_at);
    let (status, edited) = patch(&app, Some(&bob), &path, json!({"shortcut": "ty"})).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (&edited["shortcut"], &edited["text"]),
        (&json!("ty"), &json!("Thanks!"))
    );
    let (_, list) = app.get("/api/admin/canned", Some(&bob)).await;
    assert_eq!(list["canned"][2], edited);

    let (status, body) = call(&app, "DELETE", &path, Some(&bob), None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(shortcuts(&app, &admin).await, ["hello", "Refund"]);
    let (status, body) = call(&app, "DELETE", &path, Some(&bob), None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = patch(&app, Some(&bob), &path, json!({"text": "x"})).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
}

async fn a_shortcut_is_taken_whatever_its_case_and_bad_ones_are_refused(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let create = |shortcut: &str, text: &str| {
        let body = json!({"shortcut": shortcut, "text": text});
        let admin = admin.clone();
        let app = &app;
        async move { app.post_as(&admin, "/api/admin/canned", body).await }
    };
    let (status, _) = create("thanks", "Thanks!").await;
    assert_eq!(status, 201);
    let (status, other) = create("other", "Other").await;
    assert_eq!(status, 201);

    for taken in ["THANKS", "/Thanks", "thanks"] {
        let (status, body) = create(taken, "Again").await;
        assert_eq!(status, 409, "{taken}: {body}");
        assert_eq!(
            body,
            json!({"error": {"code": "conflict", "message": "shortcut is already taken"}})
        );
    }
    let path = format!("/api/admin/canned/{}", other["id"]);
    let (status, body) = patch(&app, Some(&admin), &path, json!({"shortcut": "Thanks"})).await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("conflict")));

    let long_text = "x".repeat(4001);
    let long_shortcut = "x".repeat(33);
    for (shortcut, text) in [
        ("", "Hi"),
        ("/", "Hi"),
        ("two words", "Hi"),
        ("café", "Hi"),
        (long_shortcut.as_str(), "Hi"),
        ("ok", ""),
        ("ok", "  \n "),
        ("ok", long_text.as_str()),
    ] {
        let (status, body) = create(shortcut, text).await;
        assert_eq!(status, 400, "{shortcut:?} {text:?}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    let (status, body) = create("ok", &"é".repeat(4000)).await;
    assert_eq!(status, 201, "4000 characters is the longest: {body}");
    let (status, body) = patch(&app, Some(&admin), &path, json!({"text": " "})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("bad_request"))
    );
    let (status, _) = app
        .post_as(&admin, "/api/admin/canned", json!({"shortcut": "no-text"}))
        .await;
    assert_eq!(status, 400);
}

async fn only_staff_reach_the_canned_replies(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let body = json!({"shortcut": "thanks", "text": "Thanks!"});
    let (_, created) = app.post_as(&admin, "/api/admin/canned", body.clone()).await;
    let path = format!("/api/admin/canned/{}", created["id"]);

    let (status, answer) = app.get("/api/admin/canned", None).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let (status, _) = patch(&app, None, &path, json!({"text": "x"})).await;
    assert_eq!(status, 401);
    let (guest, _) = app.guest("Ann").await;
    let (user, _) = app.register("carl").await;
    for token in [&guest, &user] {
        let (status, answer) = app.get("/api/admin/canned", Some(token)).await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(
            answer,
            json!({"error": {"code": "forbidden", "message": "staff only"}})
        );
        let (status, _) = app.post_as(token, "/api/admin/canned", body.clone()).await;
        assert_eq!(status, 403);
        let (status, _) = patch(&app, Some(token), &path, json!({"text": "x"})).await;
        assert_eq!(status, 403);
        let (status, _) = call(&app, "DELETE", &path, Some(token), None).await;
        assert_eq!(status, 403);
    }
    assert_eq!(shortcuts(&app, &admin).await, ["thanks"]);
    let (_, list) = app.get("/api/admin/canned", Some(&admin)).await;
    assert_eq!(list["canned"][0]["text"], "Thanks!");
}
