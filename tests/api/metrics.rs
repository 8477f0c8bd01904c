//! `GET /metrics`: an operator's scraper reads the server's figures in the Prometheus text
//! format; a caller that is not on the machine needs the metrics token.
//!
//! The counters and histograms are per process and the tests of this binary share one, so the
//! stories read them as deltas; the gauges of connections and rooms are the server's own.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(a_guest_who_chats_shows_in_the_metrics);

/// Every metric docs/operations.md lists.
const DOCUMENTED: [&str; 17] = [
    "chat_connections",
    "chat_online_users",
    "chat_live_rooms",
    "chat_messages_stored_total",
    "chat_deliveries_total",
    "chat_ack_latency_seconds",
    "chat_store_batch_size",
    "chat_database_errors_total",
    "chat_refusals_total",
    "chat_outbox_queued",
    "chat_outbox_capacity",
    "chat_membership_changes_pending",
    "chat_webhook_deliveries_total",
    "chat_webhook_outbox",
    "chat_process_cpu_seconds_total",
    "chat_process_resident_memory_bytes",
    "chat_process_open_fds",
];

/// A scrape: status, content type and body.
async fn scrape(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut req = awc::Client::new().get(format!("{}/metrics", app.base));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    let mut res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.body().limit(1 << 22).await.expect("body");
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The value of the sample line `series` (name and labels exactly as rendered), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn a_guest_who_chats_shows_in_the_metrics(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (status, content_type, before) = scrape(&app, &[]).await;
    assert_eq!(status, 200, "{before}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for name in DOCUMENTED {
        assert!(
            before.contains(&format!("# HELP {name} ")),
            "{name} is missing:\n{before}"
        );
    }
    assert_eq!(sample(&before, "chat_connections{role=\"guest\"}"), 0.0);

    let (token, _) = app.guest("Ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    ann.say("lobby", "hello", "c-1").await;

    let (status, _, after) = scrape(&app, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&after, "chat_connections{role=\"guest\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(sample(&after, "chat_online_users"), 1.0);
    assert_eq!(sample(&after, "chat_live_rooms"), 1.0);
    for series in [
        "chat_messages_stored_total",
        "chat_ack_latency_seconds_count",
        "chat_store_batch_size_count",
        "chat_deliveries_total",
    ] {
        assert!(
            sample(&after, series) > sample(&before, series),
            "{series} did not grow:\n{after}"
        );
    }
    ann.close().await;
}

#[actix_rt::test]
async fn a_scrape_that_comes_through_a_proxy_needs_the_metrics_token() {
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        s.metrics_token = Some("scrape-s3cret".into());
    })
    .await;
    let relayed = ("X-Forwarded-For", "203.0.113.9");

    let (status, content_type, body) = scrape(&app, &[relayed]).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let error: Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(error["error"]["code"], "forbidden", "{error}");

    let wrong = ("Authorization", "Bearer not-the-token");
    let (status, _, _) = scrape(&app, &[relayed, wrong]).await;
    assert_eq!(status, 403);

    let right = ("Authorization", "Bearer scrape-s3cret");
    let (status, _, body) = scrape(&app, &[relayed, right]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("# TYPE chat_refusals_total counter"),
        "{body}"
    );
    // Both refusals above were counted.
    assert!(
        sample(&body, "chat_refusals_total{code=\"forbidden\"}") >= 2.0,
        "{body}"
    );
}

#[actix_rt::test]
async fn without_a_configured_token_only_loopback_scrapers_read_the_metrics() {
    let (app, _data) = spawn_app(Backend::Sqlite).await;
    let forwarded = ("Forwarded", "for=203.0.113.9");
    let guess = ("Authorization", "Bearer ");
    let (status, _, body) = scrape(&app, &[forwarded, guess]).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = scrape(&app, &[]).await;
    assert_eq!(status, 200);
}

#[actix_rt::test]
async fn a_database_that_cannot_keep_up_shows_as_a_full_outbox_and_unavailable_refusals() {
    let (app, data) = spawn_app_with(Backend::Sqlite, |s| {
        s.max_queued_messages = 2;
        s.store_stall_timeout = Duration::from_secs(30);
    })
    .await;
    let (_, _, before) = scrape(&app, &[]).await;
    assert_eq!(sample(&before, "chat_outbox_capacity"), 2.0, "{before}");
    let (token, _) = app.guest("Ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;

    let lock = WriteLock::take(&data);
    let send = |cid: &str| json!({"type": "send", "room": "lobby", "text": cid, "cid": cid});
    ann.send(send("b1")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for cid in ["b2", "b3", "b4"] {
        ann.send(send(cid)).await;
    }
    let refusal = ann.expect_ignoring("error", &["message", "presence"]).await;
    assert_eq!(refusal["code"], "unavailable", "{refusal}");

    // b1 is in the commit that waits for the lock; b2 and b3 fill the outbox.
    let (_, _, full) = scrape(&app, &[]).await;
    assert_eq!(sample(&full, "chat_outbox_queued"), 2.0, "{full}");
    let unavailable = "chat_refusals_total{code=\"unavailable\"}";
    assert!(
        sample(&full, unavailable) > sample(&before, unavailable),
        "{full}"
    );

    drop(lock);
    for _ in ["b1", "b2", "b3"] {
        ann.expect_ignoring("ack", &["message", "presence"]).await;
    }
    let (_, _, drained) = scrape(&app, &[]).await;
    assert_eq!(sample(&drained, "chat_outbox_queued"), 0.0, "{drained}");
    let batches = "chat_store_batch_size_count";
    assert!(
        sample(&drained, batches) >= sample(&before, batches) + 2.0,
        "{drained}"
    );
    ann.close().await;
}
