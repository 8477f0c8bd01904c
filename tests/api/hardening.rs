//! Defects a first deployment would hit, each found by review or probes and pinned by a story
//! that failed before its fix.

use crate::helpers::*;
use crate::on_both_backends;
use std::time::{Duration, Instant};

on_both_backends!(sockets_dropped_right_after_the_upgrade_leave_nobody_online,);

/// The live figures once they settle (or after two seconds): `(connections, online_users)`.
async fn settled_live_counts(app: &TestApp, staff_token: &str, want: (i64, i64)) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (status, stats) = app.get("/api/admin/stats", Some(staff_token)).await;
        assert_eq!(status, 200, "{stats}");
        let counts = (
            stats["connections"].as_i64().unwrap(),
            stats["online_users"].as_i64().unwrap(),
        );
        if counts == want || Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sockets_dropped_right_after_the_upgrade_leave_nobody_online(backend: Backend) {
    let (app, _data) = spawn_app(backend).await;
    let (staff_token, _) = app.staff().await;
    let (token, _) = app.guest("Flaky").await;
    // Each socket goes away while its registration with the chat server is still in flight.
    let opening = (0..50).map(|_| RawClient::open(app.address, &token, None));
    for raw in futures_util::future::join_all(opening).await {
        raw.abort();
    }
    let counts = settled_live_counts(&app, &staff_token, (0, 0)).await;
    assert_eq!(
        counts,
        (0, 0),
        "(connections, online users) after every socket closed"
    );
}
