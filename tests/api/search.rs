//! Search: the staff find the messages of every support conversation and notes thread that
//! hold every word they typed, newest first, with the customer of each; public rooms and
//! deleted messages are never found, and nothing typed can break the query.

use crate::helpers::*;
use crate::notes::{agent, sql};
use crate::on_both_backends;
use serde_json::{json, Value};

on_both_backends!(
    staff_find_messages_and_notes_of_every_conversation_newest_first,
    every_word_must_occur_and_nothing_typed_is_query_syntax,
    a_deleted_message_is_no_longer_found,
    only_staff_search_and_the_query_is_checked,
    messages_stored_before_search_existed_are_found_once_it_does,
);

/// The results of a search as `token` sees them.
async fn search(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/admin/search?{query}"), Some(token))
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    body["results"].as_array().expect("results").clone()
}

/// The texts of search results.
fn found(results: &[Value]) -> Vec<&str> {
    results
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect()
}

/// Ann and Carl each in their conversation, the staff on a socket in both; a parcel story.
/// Returns (staff token, Ann's id, Carl's id, staff socket).
async fn parcel_story(app: &TestApp) -> (String, i64, i64, WsClient) {
    let (_, ann_id, ann_room, mut ann) = app.guest_in_support("Ann").await;
    let (carl_token, carl_id) = app.register("carl").await;
    let carl_room = format!("support:{carl_id}");
    let mut carl = app.connect(&carl_token).await;
    carl.join(&carl_room).await;
    let (admin_token, _) = app.staff().await;
    let mut admin = app.connect(&admin_token).await;
    admin.join(&ann_room).await;
    admin.join("lobby").await;
    carl.join("lobby").await;

    ann.say(&ann_room, "My parcel 1234 is late", "a1").await;
    carl.say(&carl_room, "Parcel arrived broken", "c1").await;
    carl.say("lobby", "any parcel news in the lobby?", "c2")
        .await;
    admin
        .send(json!({"type":"send","room":ann_room,"text":"parcel lost by the courier","note":true,"cid":"n1"}))
        .await;
    admin
        .expect_ignoring("ack", &["message", "presence", "support_activity"])
        .await;
    admin
        .say(&ann_room, "We will resend the parcel", "s1")
        .await;
    (admin_token, ann_id, carl_id, admin)
}

async fn staff_find_messages_and_notes_of_every_conversation_newest_first(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (admin, ann_id, carl_id, _socket) = parcel_story(&app).await;

    let results = search(&app, &admin, "q=parcel").await;
    assert_eq!(
        found(&results),
        [
            "We will resend the parcel",
            "parcel lost by the courier",
            "Parcel arrived broken",
            "My parcel 1234 is late",
        ],
        "newest first, never the lobby's"
    );
    let ann = json!({"id": ann_id, "username": "Ann", "role": "guest"});
    let reply = &results[0];
    assert_eq!(reply["room"], format!("support:{ann_id}"));
    assert_eq!(reply["seq"], 2);
    assert_eq!(reply["note"], false);
    assert!(reply.get("kind").is_none(), "{reply}");
    assert_eq!(reply["from"]["username"], "staff");
    assert_eq!(reply["customer"], ann);
    assert!(reply["id"].as_i64().is_some() && reply["ts"].as_i64().is_some());
    let note = &results[1];
    assert_eq!(note["room"], format!("notes:{ann_id}"));
    assert_eq!(
        (&note["note"], &note["kind"]),
        (&json!(true), &json!("note"))
    );
    assert_eq!((&note["seq"], &note["customer"]), (&json!(1), &ann));
    let carl = &results[2];
    assert_eq!(
        carl["customer"],
        json!({"id": carl_id, "username": "carl", "role": "user"})
    );
    assert_eq!(carl["from"]["username"], "carl");

    let first_two = search(&app, &admin, "q=parcel&limit=2").await;
    assert_eq!(found(&first_two), found(&results[..2]));
    assert_eq!(
        found(&search(&app, &admin, "q=PARCEL&limit=100").await).len(),
        4
    );

    // An agent finds the same.
    let (bob, _) = agent(&app, &data, "bob").await;
    assert_eq!(
        found(&search(&app, &bob, "q=parcel").await),
        found(&results)
    );
}

async fn every_word_must_occur_and_nothing_typed_is_query_syntax(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _, _, _socket) = parcel_story(&app).await;

    assert_eq!(
        found(&search(&app, &admin, "q=parcel+late").await),
        ["My parcel 1234 is late"]
    );
    assert_eq!(
        found(&search(&app, &admin, "q=Late+PARCEL+1234").await),
        ["My parcel 1234 is late"]
    );
    assert!(search(&app, &admin, "q=parcel+missing").await.is_empty());
    assert!(search(&app, &admin, "q=lobby").await.is_empty());
    // Quotes, stars, parentheses and operators are words like any other.
    let typed = [
        r#""parcel" (late*)"#,
        r#"parcel "late"#,
        "parcel AND late",
        "(parcel late",
        "parcel* late",
    ];
    for q in typed {
        let query = format!("q={}", urlencode(q));
        let (status, body) = app
            .get(&format!("/api/admin/search?{query}"), Some(&admin))
            .await;
        assert_eq!(status, 200, "{q}: {body}");
        let texts = found(body["results"].as_array().unwrap()).join("|");
        assert!(
            texts.is_empty() || texts == "My parcel 1234 is late",
            "{q}: {texts}"
        );
    }
    assert_eq!(
        found(
            &search(
                &app,
                &admin,
                &format!("q={}", urlencode(r#""parcel" (late*)"#))
            )
            .await
        ),
        ["My parcel 1234 is late"]
    );
    for q in ["\"", "*", "AND", "(", "NEAR(", "\"\"\"", "-", ":"] {
        let (status, body) = app
            .get(
                &format!("/api/admin/search?q={}", urlencode(q)),
                Some(&admin),
            )
            .await;
        assert_eq!(status, 200, "{q}: {body}");
        assert_eq!(body["results"], json!([]), "{q}");
    }
}

async fn a_deleted_message_is_no_longer_found(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _, _, _socket) = parcel_story(&app).await;
    let results = search(&app, &admin, "q=broken").await;
    assert_eq!(found(&results), ["Parcel arrived broken"]);
    let path = format!("/api/admin/messages/{}", results[0]["id"]);
    let (status, body) = call(&app, "DELETE", &path, Some(&admin), None).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert!(search(&app, &admin, "q=broken").await.is_empty());
    assert_eq!(found(&search(&app, &admin, "q=parcel").await).len(), 3);
}

async fn only_staff_search_and_the_query_is_checked(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (admin, _) = app.staff().await;
    let (status, body) = app.get("/api/admin/search?q=parcel", None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let (guest, _) = app.guest("Ann").await;
    let (user, _) = app.register("carl").await;
    for token in [&guest, &user] {
        let (status, body) = app.get("/api/admin/search?q=parcel", Some(token)).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(
            body,
            json!({"error": {"code": "forbidden", "message": "staff only"}})
        );
    }
    for query in [
        "",
        "q=",
        "q=+++",
        "q=parcel&limit=0",
        "q=parcel&limit=101",
        "q=parcel&limit=many",
    ] {
        let (status, body) = app
            .get(&format!("/api/admin/search?{query}"), Some(&admin))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    let (status, body) = app
        .get("/api/admin/search?q=parcel&limit=100", Some(&admin))
        .await;
    assert_eq!((status, body), (200, json!({"results": []})));
}

async fn messages_stored_before_search_existed_are_found_once_it_does(backend: Backend) {
    let (app, data) = spawn_app(backend).await;
    let (admin, ann_id, _, socket) = parcel_story(&app).await;
    socket.close().await;
    let settings = app.stop().await;
    // Back to the schema before the support desk's search: its migration undone (down.sql),
    // as on a database upgraded from the version before.
    let down = match data.database_url.starts_with("postgres") {
        true => include_str!("../../migrations/postgres/2026-12-06-000010_canned_search/down.sql"),
        false => include_str!("../../migrations/sqlite/2026-12-06-000010_canned_search/down.sql"),
    };
    for statement in down.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        sql(&data, statement);
    }
    let forget = "DELETE FROM __diesel_schema_migrations WHERE version = '20261206000010'";
    assert_eq!(sql(&data, forget), 1);

    // The migration runs again as the server starts, and indexes what is there.
    let app = start(settings).await;
    let results = search(&app, &admin, "q=parcel").await;
    assert_eq!(
        found(&results),
        [
            "We will resend the parcel",
            "parcel lost by the courier",
            "Parcel arrived broken",
            "My parcel 1234 is late",
        ]
    );
    assert_eq!(results[1]["room"], format!("notes:{ann_id}"));
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
