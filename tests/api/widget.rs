//! The chat widget from the server's side: who may frame `/widget`, what the loader is told
//! about a store site, whether staff are online, and what the console shows of the settings.

use crate::helpers::*;
use crate::on_both_backends;
use chat_server::embed::EmbedOrigin;
use serde_json::json;

const STORE: &str = "https://store.example";

fn with_store(s: &mut chat_server::config::Settings) {
    s.embed_origins = vec![
        EmbedOrigin::parse(STORE).unwrap(),
        EmbedOrigin::parse("http://127.0.0.1:9000").unwrap(),
    ];
}

/// The status and the named headers of a GET.
async fn headers_of(app: &TestApp, path: &str, names: &[&str]) -> (u16, Vec<String>) {
    let res = awc::Client::new()
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("request");
    let values = names
        .iter()
        .map(|name| {
            res.headers()
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    (res.status().as_u16(), values)
}

#[actix_rt::test]
async fn only_the_store_sites_may_frame_the_widget_and_every_other_page_still_refuses() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, with_store).await;
    let names = ["content-security-policy", "x-frame-options", "content-type"];
    let (status, widget) = headers_of(&app, "/widget", &names).await;
    assert_eq!(status, 200);
    assert!(
        widget[0].contains("frame-ancestors https://store.example http://127.0.0.1:9000"),
        "{}",
        widget[0]
    );
    assert!(widget[0].contains("script-src 'self'") && !widget[0].contains("unsafe-inline"));
    assert_eq!(
        widget[1], "",
        "no X-Frame-Options: it cannot name the stores"
    );
    assert!(widget[2].starts_with("text/html"));

    for page in ["/", "/admin", "/static/widget-app.js"] {
        let (status, headers) = headers_of(&app, page, &names).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            headers[0].contains("frame-ancestors 'none'"),
            "{page}: {}",
            headers[0]
        );
        assert_eq!(headers[1], "DENY", "{page}");
    }

    // The loader is a plain script any site may load.
    let (status, loader) = headers_of(&app, "/widget.js", &names).await;
    assert_eq!(status, 200);
    assert!(loader[2].starts_with("text/javascript"), "{}", loader[2]);
}

#[actix_rt::test]
async fn without_store_sites_nobody_may_frame_the_widget() {
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let (status, headers) = headers_of(&app, "/widget", &["content-security-policy"]).await;
    assert_eq!(status, 200);
    assert!(
        headers[0].contains("frame-ancestors 'none'"),
        "{}",
        headers[0]
    );
    let (status, body) = app
        .get("/widget/config?origin=https://store.example", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["allowed"], false);
}

#[actix_rt::test]
async fn the_loader_asks_whether_its_site_is_set_up_and_learns_nothing_else() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, with_store).await;
    for (origin, allowed) in [
        ("https://store.example", true),
        ("https://STORE.example/", true),
        ("http://127.0.0.1:9000", true),
        ("http://localhost:9000", false),
        ("https://evil.example", false),
        ("null", false),
        ("", false),
    ] {
        let path = format!("/widget/config?origin={}", urlencode(origin));
        let (status, body) = app.get(&path, None).await;
        assert_eq!(status, 200, "{origin}: {body}");
        assert_eq!(body["allowed"], allowed, "{origin}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    }
    let (status, body) = app.get("/widget/config", None).await;
    assert_eq!((status, &body["allowed"]), (200, &json!(false)));
    // Readable by the store's page.
    let (_, cors) = headers_of(
        &app,
        "/widget/config?origin=https%3A%2F%2Fstore.example",
        &["access-control-allow-origin"],
    )
    .await;
    assert_eq!(cors[0], "*");
    // A huge origin is just not listed.
    let (status, body) = app
        .get(&format!("/widget/config?origin={}", "a".repeat(5000)), None)
        .await;
    assert_eq!((status, &body["allowed"]), (200, &json!(false)));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn a_customer_learns_whether_staff_are_online_before_writing(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, with_store).await;
    let (status, body) = app.get("/api/support/status", None).await;
    assert_eq!(
        (status, body.clone()),
        (
            200,
            json!({ "staff_online": 0, "open": true, "next_open_at": null,
                    "away_message": null, "reply_time": null })
        ),
        "{body}"
    );

    // Customers online do not count; a staff member with two tabs counts once.
    let (guest, _) = app.guest("Vera").await;
    let _visitor = app.connect(&guest).await;
    let (staff, _) = app.staff().await;
    let first_tab = app.connect(&staff).await;
    let _second_tab = app.connect(&staff).await;
    let (_, body) = app.get("/api/support/status", None).await;
    assert_eq!(body["staff_online"], 1, "{body}");

    drop(first_tab);
    drop(_second_tab);
    let started = std::time::Instant::now();
    loop {
        let (_, body) = app.get("/api/support/status", None).await;
        if body["staff_online"] == 0 {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the staff never went offline: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn the_console_shows_the_store_sites_to_staff_only(backend: Backend) {
    let (app, _data) = spawn_app_with(backend, with_store).await;
    let (staff, _) = app.staff().await;
    let (status, body) = app.get("/api/admin/settings", Some(&staff)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["embed_origins"],
        json!(["https://store.example", "http://127.0.0.1:9000"])
    );
    assert_eq!(body["embed_origins_env"], "CHAT_EMBED_ORIGINS");

    let (customer, _) = app.register("customer").await;
    let (status, body) = app.get("/api/admin/settings", Some(&customer)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = app.get("/api/admin/settings", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
}

on_both_backends!(
    a_customer_learns_whether_staff_are_online_before_writing,
    the_console_shows_the_store_sites_to_staff_only,
);

#[actix_rt::test]
async fn a_store_site_may_frame_the_widget_but_not_open_a_socket_itself() {
    // The widget's socket comes from the iframe, whose origin is the chat server's own: the
    // store's origin is not let in by --embed-origins.
    let (app, _data) = spawn_app_with(Backend::Sqlite, with_store).await;
    let (token, _) = app.guest("Vera").await;
    let refused = WsClient::open(&app.ws_url(&token), Some(STORE)).await;
    assert!(refused.is_err(), "the store's origin opened a socket");
    let own = WsClient::open(&app.ws_url(&token), Some(&app.base)).await;
    assert!(own.is_ok(), "the widget's own origin is refused");
}
