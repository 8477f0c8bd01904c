//! Presence across nodes (issue 16): who is online, in a room and at all, is the union over
//! every live node. A user with tabs on two nodes is online once and goes offline with their
//! last tab; a node killed with -9 takes its users offline on the others within two
//! heartbeats; the admin stats and the support status count every node. SKIPPED loudly without
//! PostgreSQL or Redis.

use crate::cluster_live::two_nodes_with;
use crate::helpers::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How often the nodes of these stories renew their leases.
const HEARTBEAT: Duration = Duration::from_millis(1000);

/// Two nodes renewing their leases every [`HEARTBEAT`].
async fn two_nodes_beating(test: &str) -> Option<(TestApp, TestApp, TestData)> {
    two_nodes_with(test, |s| s.node_heartbeat = HEARTBEAT).await
}

/// Whether `user` is online in the room's `joined` frame.
fn listed(joined: &Value, user: &str) -> bool {
    joined["online"]
        .as_array()
        .is_some_and(|users| users.iter().any(|u| u["username"] == user))
}

/// The next `presence` frame of `room` about `user`, passing over any other frame.
async fn presence_of(socket: &mut WsClient, room: &str, user: &str) -> bool {
    let wait = async {
        loop {
            let frame = socket.recv_within(Duration::from_secs(20)).await;
            if frame["type"] == "presence"
                && frame["room"] == room
                && frame["user"]["username"] == user
            {
                return frame["online"].as_bool().expect("online");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("no presence of {user} in {room}"))
}

/// Waits for `user` to go offline in the room as `socket` sees it (a `presence` frame saying
/// they are online may come first: news of the other node that reached `socket`'s node after
/// its `joined`).
async fn goes_offline(socket: &mut WsClient, room: &str, user: &str) {
    while presence_of(socket, room, user).await {}
}

/// Whether `user` is online in the room as `socket` sees it after joining: named in `joined`,
/// or told by a `presence` frame soon after (the other node's news may come after `joined`).
async fn sees_online(socket: &mut WsClient, joined: &Value, room: &str, user: &str) -> bool {
    if listed(joined, user) {
        return true;
    }
    presence_of(socket, room, user).await
}

/// Asks until `check` holds for the body of GET `path`, for up to 10 s.
async fn until_body(
    app: &TestApp,
    path: &str,
    token: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = app.get(path, Some(token)).await;
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never held: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn a_user_with_tabs_on_two_nodes_is_online_once_and_leaves_with_the_last_tab() {
    let test = "a_user_with_tabs_on_two_nodes_is_online_once_and_leaves_with_the_last_tab";
    let Some((a, b, _data)) = two_nodes_beating(test).await else {
        return;
    };
    let (ann_token, _) = a.register("ann").await;
    let (cat_token, _) = b.register("cat").await;
    let mut cat = b.connect(&cat_token).await;
    cat.join("lobby").await;

    // Ann's first tab, on node A: cat on node B sees her come online.
    let mut ann_on_a = a.connect(&ann_token).await;
    ann_on_a.join("lobby").await;
    assert!(
        presence_of(&mut cat, "lobby", "ann").await,
        "ann came online"
    );

    // Her second tab, on node B: she is online already, nobody is told again.
    let mut ann_on_b = b.connect(&ann_token).await;
    let joined = ann_on_b.join("lobby").await;
    assert!(listed(&joined, "ann") && listed(&joined, "cat"), "{joined}");
    assert_eq!(joined["online_count"], 2, "ann counts once: {joined}");

    // The tab on A closes: the one on B keeps her online.
    ann_on_a.close().await;
    // Cat still hears the room's next news, and it is not ann going offline.
    let (dan_token, _) = a.register("dan").await;
    let mut dan = a.connect(&dan_token).await;
    dan.join("lobby").await;
    let frame = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let frame = cat.recv_within(Duration::from_secs(20)).await;
            if frame["type"] == "presence" {
                return frame;
            }
        }
    })
    .await
    .expect("a presence frame");
    assert_eq!(
        (
            frame["user"]["username"].as_str(),
            frame["online"].as_bool()
        ),
        (Some("dan"), Some(true)),
        "ann's first tab closing tells nobody: {frame}"
    );

    // The last tab closes: now she is offline, for the members on both nodes.
    ann_on_b.close().await;
    assert!(
        !presence_of(&mut cat, "lobby", "ann").await,
        "ann went offline"
    );
    // On node A too.
    goes_offline(&mut dan, "lobby", "ann").await;
}

#[actix_rt::test]
async fn a_member_joining_on_one_node_sees_who_is_in_the_room_on_the_other() {
    let test = "a_member_joining_on_one_node_sees_who_is_in_the_room_on_the_other";
    let Some((a, b, _data)) = two_nodes_beating(test).await else {
        return;
    };
    let (ann_token, _) = a.register("ann").await;
    let (bob_token, _) = b.register("bob").await;
    let mut ann = a.connect(&ann_token).await;
    ann.join("lobby").await;

    let mut bob = b.connect(&bob_token).await;
    let joined = bob.join("lobby").await;
    assert!(sees_online(&mut bob, &joined, "lobby", "ann").await);
    // And ann, on A, hears of bob.
    assert!(presence_of(&mut ann, "lobby", "bob").await);
    // Ann leaves the room: bob hears it.
    ann.send(json!({"type": "leave", "room": "lobby"})).await;
    assert!(!presence_of(&mut bob, "lobby", "ann").await);
}

#[actix_rt::test]
async fn the_admin_stats_and_the_support_status_count_every_node() {
    let test = "the_admin_stats_and_the_support_status_count_every_node";
    let Some((a, b, _data)) = two_nodes_beating(test).await else {
        return;
    };
    let (staff_token, _) = a.staff().await;
    let _staff_socket = a.connect(&staff_token).await;
    let (ann_token, _) = b.register("ann").await;
    let _ann_on_b = b.connect(&ann_token).await;
    let _ann_again_on_a = a.connect(&ann_token).await;
    let (bob_token, _) = b.register("bob").await;
    let mut bob = b.connect(&bob_token).await;
    bob.join("lobby").await;

    // Asked of node B: the staff member connected to A is online for customers.
    let status = until_body(&b, "/api/support/status", &bob_token, |s| {
        s["staff_online"] == 1
    })
    .await;
    assert_eq!(status["staff_online"], 1, "{status}");

    // Asked of either node: four connections, three users (ann counts once), on two nodes.
    for node in [&a, &b] {
        let stats = until_body(node, "/api/admin/stats", &staff_token, |s| {
            s["connections"] == 4 && s["online_users"] == 3
        })
        .await;
        assert_eq!(stats["online_users"], 3, "{stats}");
    }
}

#[actix_rt::test]
async fn the_room_directory_counts_the_users_in_a_room_on_another_node() {
    let test = "the_room_directory_counts_the_users_in_a_room_on_another_node";
    let Some((a, b, _data)) = two_nodes_beating(test).await else {
        return;
    };
    let (ann_token, _) = a.register("ann").await;
    let mut ann = a.connect(&ann_token).await;
    ann.join("cafe").await;
    // Nobody on node B is in the cafe: B counts ann from A's heartbeat.
    let (bob_token, _) = b.register("bob").await;
    let online_in_cafe = |body: &Value| {
        body["rooms"]
            .as_array()
            .and_then(|rooms| rooms.iter().find(|r| r["name"] == "cafe"))
            .map(|cafe| cafe["online"].clone())
    };
    until_body(&b, "/api/rooms", &bob_token, |body| {
        online_in_cafe(body) == Some(json!(1))
    })
    .await;
    // Once bob is in the cafe too, B counts both, each once, from its own view of the room.
    let mut bob = b.connect(&bob_token).await;
    bob.join("cafe").await;
    until_body(&b, "/api/rooms", &bob_token, |body| {
        online_in_cafe(body) == Some(json!(2))
    })
    .await;
}

#[actix_rt::test]
async fn a_crowded_room_counts_its_members_on_every_node() {
    let test = "a_crowded_room_counts_its_members_on_every_node";
    let Some((a, b, _data)) = two_nodes_with(test, |s| {
        s.node_heartbeat = HEARTBEAT;
        s.presence_limit = 2;
    })
    .await
    else {
        return;
    };
    let mut sockets = Vec::new();
    for (i, node) in [&a, &b, &a].into_iter().enumerate() {
        let (token, _) = node.register(&format!("user{i}")).await;
        let mut socket = node.connect(&token).await;
        socket.join("square").await;
        sockets.push(socket);
    }
    // The third user tips the room over the limit of two, counted over both nodes: every
    // member, on either node, gets an `online` frame naming nobody with the head count.
    for socket in &mut sockets[..2] {
        let frame = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let frame = socket.recv_within(Duration::from_secs(20)).await;
                if frame["type"] == "online" && frame["online_count"] == 3 {
                    return frame;
                }
            }
        })
        .await
        .expect("an online frame with three");
        assert_eq!(frame["online"], json!([]), "{frame}");
    }
}

#[actix_rt::test]
async fn a_node_killed_with_minus_nine_takes_its_users_offline_within_two_heartbeats() {
    let test = "a_node_killed_with_minus_nine_takes_its_users_offline_within_two_heartbeats";
    let Some(backend) = Backend::postgres_or_skip(test) else {
        return;
    };
    let Some((redis_url, prefix)) = redis_or_skip(test) else {
        return;
    };
    let data = TestData::new(&backend);
    let mut settings = test_settings(&data);
    settings.redis_url = Some(redis_url.clone());
    settings.redis_prefix = prefix.clone();
    settings.node_heartbeat = HEARTBEAT;
    let b = start(settings).await;
    let doomed = ServerProcess::start_with_env(
        &data,
        &[
            ("CHAT_REDIS_URL", redis_url.as_str()),
            ("CHAT_REDIS_PREFIX", prefix.as_str()),
            ("CHAT_NODE_HEARTBEAT", "1s"),
        ],
    );

    let (bob_token, _) = b.register("bob").await;
    let mut bob = b.connect(&bob_token).await;
    bob.join("lobby").await;
    let ann_token = doomed.guest("ann").await;
    let mut ann = WsClient::open(
        &format!("ws://{}/ws?token={ann_token}", doomed.address),
        None,
    )
    .await
    .expect("ann connects to the doomed node");
    ann.expect("hello").await;
    ann.join("lobby").await;
    assert!(
        presence_of(&mut bob, "lobby", "ann").await,
        "ann came online"
    );
    let (staff_token, _) = b.staff().await;
    until_body(&b, "/api/admin/stats", &staff_token, |s| {
        s["online_users"] == 2
    })
    .await;

    doomed.signal("KILL");
    let killed = Instant::now();
    assert!(
        !presence_of(&mut bob, "lobby", "ann").await,
        "ann went offline"
    );
    let took = killed.elapsed();
    // Two heartbeats, and a little for a test machine's load.
    assert!(
        took < HEARTBEAT * 2 + Duration::from_millis(1500),
        "ann went offline {took:?} after the kill"
    );
    let stats = until_body(&b, "/api/admin/stats", &staff_token, |s| {
        s["online_users"] == 1
    })
    .await;
    assert_eq!(stats["connections"], 1, "bob's: {stats}");
    drop(ann);
}

/// Redis restarts empty while users come and go on node A: when it is back, node A finds its
/// lease gone and writes its presence again, and bob on node B learns what he missed: dan came,
/// ann left.
#[actix_rt::test]
async fn after_a_redis_restart_the_nodes_learn_whom_they_missed() {
    let test = "after_a_redis_restart_the_nodes_learn_whom_they_missed";
    let Some((a, b, _data, mut redis)) =
        crate::cluster_live::two_nodes_on_own_redis(test, "presence-restart", |s| {
            s.node_heartbeat = HEARTBEAT
        })
        .await
    else {
        return;
    };
    let (ann_token, _) = a.register("ann").await;
    let (dan_token, _) = a.register("dan").await;
    let (bob_token, _) = b.register("bob").await;
    let mut ann = a.connect(&ann_token).await;
    ann.join("lobby").await;
    let mut bob = b.connect(&bob_token).await;
    let joined = bob.join("lobby").await;
    assert!(sees_online(&mut bob, &joined, "lobby", "ann").await);

    redis.stop();
    let mut dan = a.connect(&dan_token).await;
    dan.join("lobby").await;
    ann.close().await;
    redis.start();

    let mut told = std::collections::BTreeMap::new();
    let wait = async {
        while told.get("dan") != Some(&true) || told.get("ann") != Some(&false) {
            let frame = bob.recv_within(Duration::from_secs(20)).await;
            if frame["type"] == "presence" {
                let who = frame["user"]["username"].as_str().unwrap().to_owned();
                told.insert(who, frame["online"].as_bool().unwrap());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("bob never learnt: {told:?}"));
}
