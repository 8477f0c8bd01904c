//! The database going away: a stalled or stopped database never costs an acked message, never
//! leaves a sender waiting in silence, and the server recovers by itself when it is back.

use crate::helpers::*;
use crate::pg_cluster::PgCluster;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn send(room: &str, text: &str) -> Value {
    json!({"type": "send", "room": room, "text": text, "cid": text})
}

/// The next `ack` or `error` frame, passing over room traffic.
async fn next_answer(client: &mut WsClient) -> Value {
    client
        .expect_ignoring_any(&["ack", "error"], &["message", "presence"])
        .await
}

/// Lobby texts as stored, oldest first.
async fn lobby_texts(app: &TestApp, token: &str) -> Vec<String> {
    let (status, page) = app
        .get("/api/rooms/lobby/messages?limit=100", Some(token))
        .await;
    assert_eq!(status, 200, "{page}");
    texts(&page["messages"])
}

#[actix_rt::test]
async fn a_send_during_a_stop_is_refused_with_shutting_down_and_not_stored() {
    let (app, data) = spawn_app(Backend::Sqlite).await;
    let (token, _) = app.guest("Ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;

    // The first message's commit waits for the lock, so the stop cannot finish before it.
    let lock = WriteLock::take(&data);
    ann.send(send("lobby", "first")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = actix_rt::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    ann.send(send("lobby", "second")).await;
    let refusal = next_answer(&mut ann).await;
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert_eq!(refusal["code"], "shutting_down", "{refusal}");
    assert_eq!(refusal["cid"], "second", "{refusal}");

    drop(lock);
    let ack = next_answer(&mut ann).await;
    assert_eq!(ack["type"], "ack", "what was queued is stored: {ack}");
    assert_eq!(ack["cid"], "first");
    assert_eq!(ann.expect_close().await, Some(1001));
    let settings = stopping.await.expect("stopped");

    let app = start(settings).await;
    assert_eq!(lobby_texts(&app, &token).await, ["first"]);
}

#[actix_rt::test]
async fn senders_behind_a_stalled_commit_hear_unavailable_at_once_and_their_resends_are_stored_once(
) {
    let stall = Duration::from_millis(300);
    let (app, data) = spawn_app_with(Backend::Sqlite, |s| s.store_stall_timeout = stall).await;
    let (token, _) = app.guest("Ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;

    let lock = WriteLock::take(&data);
    let locked_at = Instant::now();
    ann.send(send("lobby", "a1")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    ann.send(send("lobby", "a2")).await;
    ann.send(send("lobby", "a3")).await;
    // a1 is in the commit that waits; a2 and a3 wait behind it and hear so once it stalls.
    for cid in ["a2", "a3"] {
        let refusal = next_answer(&mut ann).await;
        assert_eq!(refusal["code"], "unavailable", "{refusal}");
        assert_eq!(refusal["cid"], cid, "{refusal}");
    }
    // What arrives while it is stalled is refused at once.
    ann.send(send("lobby", "a4")).await;
    let refusal = next_answer(&mut ann).await;
    assert_eq!(
        (refusal["code"].as_str(), refusal["cid"].as_str()),
        (Some("unavailable"), Some("a4"))
    );
    assert!(
        locked_at.elapsed() < Duration::from_secs(3),
        "refused while the lock is still held, not when it goes"
    );
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(
        status, 503,
        "a node that cannot store is not ready: {ready}"
    );
    assert_eq!(ready["storing"], "stalled", "{ready}");

    drop(lock);
    let ack = next_answer(&mut ann).await;
    assert_eq!(
        (ack["type"].as_str(), ack["cid"].as_str()),
        (Some("ack"), Some("a1"))
    );
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(
        status, 200,
        "ready again once the commit came back: {ready}"
    );
    // The page sends the refused ones again, with the same cids: each is stored once.
    for cid in ["a2", "a3", "a4", "a2"] {
        ann.send(send("lobby", cid)).await;
        let ack = next_answer(&mut ann).await;
        assert_eq!(
            (ack["type"].as_str(), ack["cid"].as_str()),
            (Some("ack"), Some(cid))
        );
    }
    assert_eq!(lobby_texts(&app, &token).await, ["a1", "a2", "a3", "a4"]);
}

#[actix_rt::test]
async fn a_full_queue_refuses_at_once_and_stores_what_it_took() {
    let (app, data) = spawn_app_with(Backend::Sqlite, |s| {
        s.max_queued_messages = 2;
        s.store_stall_timeout = Duration::from_secs(30);
    })
    .await;
    let (token, _) = app.guest("Ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;

    let lock = WriteLock::take(&data);
    ann.send(send("lobby", "b1")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for cid in ["b2", "b3", "b4"] {
        ann.send(send("lobby", cid)).await;
    }
    let refusal = next_answer(&mut ann).await;
    assert_eq!(
        (refusal["code"].as_str(), refusal["cid"].as_str()),
        (Some("unavailable"), Some("b4"))
    );
    drop(lock);
    for cid in ["b1", "b2", "b3"] {
        let ack = next_answer(&mut ann).await;
        assert_eq!(
            (ack["type"].as_str(), ack["cid"].as_str()),
            (Some("ack"), Some(cid))
        );
    }
    assert_eq!(lobby_texts(&app, &token).await, ["b1", "b2", "b3"]);
}

#[actix_rt::test]
async fn postgresql_stopped_under_traffic_costs_nothing_acked_and_the_server_recovers_by_itself() {
    let Some(cluster) = PgCluster::start_or_skip("postgresql_stopped_under_traffic") else {
        return;
    };
    let data = TestData::new(&Backend::Sqlite);
    let url = cluster.url();
    let server = ServerProcess::start_with_env(
        &data,
        &[("DATABASE_URL", &url), ("CHAT_STORE_STALL_TIMEOUT", "2s")],
    );
    let get = |path: &str| {
        let url = format!("{}{path}", server.base());
        async move {
            let res = awc::Client::new().get(url).send().await.expect("request");
            res.status().as_u16()
        }
    };
    let mut res = awc::Client::new()
        .post(format!("{}/api/auth/guest", server.base()))
        .send_json(&json!({"name": "Ann"}))
        .await
        .unwrap();
    let token = token_of(&res.json::<Value>().await.unwrap());
    let url = format!("ws://{}/ws?token={token}", server.address);
    let mut ann = WsClient::open(&url, None).await.expect("upgrade");
    ann.expect("hello").await;
    ann.join("lobby").await;
    let before = ann.say("lobby", "before", "before").await;
    assert_eq!(get("/readyz").await, 200);

    cluster.stop();
    let refused: Vec<String> = (1..=5).map(|i| format!("during-{i}")).collect();
    for cid in &refused {
        ann.send(send("lobby", cid)).await;
        let refusal = next_answer(&mut ann).await;
        assert_eq!(
            refusal["type"], "error",
            "nothing is acked while the database is down"
        );
        assert_eq!(refusal["code"], "unavailable", "{refusal}");
        assert_eq!(refusal["cid"], cid.as_str(), "{refusal}");
    }
    assert_eq!(get("/readyz").await, 503, "a balancer stops sending here");
    assert_eq!(get("/healthz").await, 503);

    cluster.start();
    // The page resends its pending messages with their cids until they are acked.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut acked = Vec::new();
    for cid in &refused {
        loop {
            ann.send(send("lobby", cid)).await;
            let answer = next_answer(&mut ann).await;
            if answer["type"] == "ack" {
                acked.push(answer["seq"].as_i64().unwrap());
                break;
            }
            assert_eq!(answer["code"], "unavailable", "{answer}");
            assert!(
                Instant::now() < deadline,
                "the server did not recover by itself"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(
        acked,
        [before + 1, before + 2, before + 3, before + 4, before + 5]
    );
    // A resend after its ack is stored once.
    assert_eq!(ann.say("lobby", "during-1", "during-1").await, before + 1);
    let deadline = Instant::now() + Duration::from_secs(15);
    while get("/readyz").await != 200 {
        assert!(
            Instant::now() < deadline,
            "/readyz stays 503 after the database is back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut res = awc::Client::new()
        .get(format!(
            "{}/api/rooms/lobby/messages?limit=100",
            server.base()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let page: Value = res.json().await.unwrap();
    let mut expected = vec!["before".to_owned()];
    expected.extend(refused.iter().cloned());
    assert_eq!(texts(&page["messages"]), expected);

    // The outage is in the log once when it starts and once when it ends, not per message.
    assert_eq!(server.log_lines_with("storing messages failed:").len(), 1);
    assert_eq!(
        server.log_lines_with("storing messages works again").len(),
        1
    );
}

/// A small tmpfs of a test's own, for a disk that fills up; unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// A 4 MiB filesystem; `None` (after saying so) where this process may not mount one.
    fn mount_or_skip(test: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {test} (needs to mount a small tmpfs: run it as root)"
            );
            return None;
        }
        Some(SmallDisk { dir })
    }

    /// Fills what is left of the disk with one file; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // The last blocks, smaller than 64 KiB.
        while file.write_all(&block[..512]).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}

#[actix_rt::test]
async fn a_full_disk_refuses_senders_with_unavailable_and_they_are_stored_once_room_is_made() {
    let Some(disk) = SmallDisk::mount_or_skip("a_full_disk_refuses_senders_with_unavailable")
    else {
        return;
    };
    let database = disk.dir.path().join("chat.db").display().to_string();
    let (app, _data) = spawn_app_with(Backend::Sqlite, |s| {
        s.database_url = Some(database.clone());
        s.rate_per_sec = 1000.0;
        s.rate_burst = 1000.0;
    })
    .await;
    let (token, _) = app.guest("Ann").await;
    let mut ann = app.connect(&token).await;
    ann.join("lobby").await;
    ann.say("lobby", "before", "before").await;

    let filler = disk.fill();
    // Each message of some size, so that the log cannot absorb them in its free pages.
    let text = |i: usize| format!("during-{i} {}", "x".repeat(3000));
    let mut refused = Vec::new();
    for i in 0..40 {
        let cid = format!("during-{i}");
        ann.send(json!({"type": "send", "room": "lobby", "text": text(i), "cid": cid}))
            .await;
        let answer = next_answer(&mut ann).await;
        assert_eq!(answer["cid"], cid.as_str(), "{answer}");
        if answer["type"] == "error" {
            assert_eq!(answer["code"], "unavailable", "{answer}");
            refused.push(i);
        }
    }
    assert!(!refused.is_empty(), "a full disk refuses messages");
    assert_eq!(
        app.get("/healthz", None).await.0,
        200,
        "the process stays up"
    );
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(status, 503, "but it cannot store: not ready {ready}");
    assert_eq!(ready["storing"], "failing", "{ready}");

    std::fs::remove_file(filler).expect("make room");
    for &i in &refused {
        let cid = format!("during-{i}");
        ann.send(json!({"type": "send", "room": "lobby", "text": text(i), "cid": cid}))
            .await;
        let ack = next_answer(&mut ann).await;
        assert_eq!(
            (ack["type"].as_str(), ack["cid"].as_str()),
            (Some("ack"), Some(cid.as_str())),
            "{ack}"
        );
    }
    assert_eq!(app.get("/readyz", None).await.0, 200, "storing works again");
    let (status, page) = app
        .get("/api/rooms/lobby/messages?limit=100", Some(&token))
        .await;
    assert_eq!(status, 200, "{page}");
    let stored = texts(&page["messages"]);
    assert_eq!(stored.len(), 41, "every message stored once");
    assert_eq!(stored[0], "before");
    let mut cids: Vec<String> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["cid"].as_str().map(str::to_owned))
        .collect();
    cids.sort();
    cids.dedup();
    assert_eq!(cids.len(), 41, "no duplicates");
}
