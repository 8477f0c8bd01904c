//! Several nodes on one PostgreSQL database (issue 16): nodes started at the same moment
//! migrate once, and they agree on the JWT secret without anyone configuring one, so a token
//! issued by one node is good on every other (a client reconnecting through the balancer may
//! land anywhere). PostgreSQL only: SQLite is one process's database.

use crate::helpers::*;
use chat_server::db::{open_pool, DbTarget, SqliteSync};
use serde_json::json;

/// Four nodes of a fresh deployment start at once: every one of them must come up, and the
/// schema must be migrated once (no "relation already exists", no duplicate migration row).
#[test]
fn nodes_started_at_the_same_moment_migrate_the_database_once() {
    let Some(backend) =
        Backend::postgres_or_skip("nodes_started_at_the_same_moment_migrate_the_database_once")
    else {
        return;
    };
    let data = TestData::new(&backend);
    let nodes = 4;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(nodes));
    let starts: Vec<_> = (0..nodes)
        .map(|_| {
            let url = data.database_url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                open_pool(&DbTarget::from_url(&url), 1, SqliteSync::Full)
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    for (node, start) in starts.into_iter().enumerate() {
        let started = start.join().expect("no panic");
        assert!(started.is_ok(), "node {node} failed to start: {started:?}");
    }
}

/// No `--jwt-secret` anywhere: the first node makes one and keeps it in the shared database;
/// the second node (another machine: its own data folder) finds it there. A customer signed in
/// on node A opens a socket on node B and calls B's API with the same token.
#[actix_rt::test]
async fn a_token_issued_by_one_node_is_good_on_another_without_a_configured_secret() {
    let Some(backend) = Backend::postgres_or_skip(
        "a_token_issued_by_one_node_is_good_on_another_without_a_configured_secret",
    ) else {
        return;
    };
    let data = TestData::new(&backend);
    let node = |data_dir: &std::path::Path| {
        let mut settings = test_settings(&data);
        settings.jwt_secret = None;
        settings.data_dir = data_dir.to_path_buf();
        settings
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(node(dir_a.path())).await;
    let b = start(node(dir_b.path())).await;

    let (token, _) = a.register("ann").await;
    let (status, me) = b.get("/api/me", Some(&token)).await;
    assert_eq!(status, 200, "node B accepts node A's token: {me}");
    assert_eq!(me["username"], "ann");
    let socket = b.connect(&token).await;
    assert_eq!(
        socket.hello["user"]["username"], "ann",
        "node B opens A's socket"
    );

    // And the other way round, for a token B issued.
    let (status, body) = b
        .post(
            "/api/auth/login",
            json!({"username": "ann", "password": "password-1"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = a.get("/api/me", Some(&token_of(&body))).await;
    assert_eq!(status, 200, "node A accepts node B's token");
    // The secret is not left in either node's data folder: the database is where it lives.
    assert!(!dir_b.path().join("jwt_secret").exists());
}

/// A single node that ran before this version kept its generated secret in its data folder.
/// After the upgrade its users' tokens must still work: that secret becomes the shared one.
#[actix_rt::test]
async fn an_upgraded_node_keeps_the_secret_of_its_data_folder_so_tokens_stay_good() {
    let Some(backend) = Backend::postgres_or_skip(
        "an_upgraded_node_keeps_the_secret_of_its_data_folder_so_tokens_stay_good",
    ) else {
        return;
    };
    let data = TestData::new(&backend);
    let old_secret = "f".repeat(96);
    std::fs::write(data.dir.path().join("jwt_secret"), &old_secret).unwrap();
    let mut settings = test_settings(&data);
    settings.jwt_secret = None;
    let app = start(settings).await;
    let (token, id) = app.register("bob").await;
    let old_keys = chat_server::auth::jwt::TokenKeys::new(
        old_secret.as_bytes(),
        std::time::Duration::from_secs(600),
    )
    .unwrap();
    let claims = old_keys
        .verify(&token)
        .expect("signed with the data folder's secret");
    assert_eq!(claims.sub, id.to_string());
}
