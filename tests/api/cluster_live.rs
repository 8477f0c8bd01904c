//! Two nodes behind a balancer, one PostgreSQL database and Redis (issue 16): a member on node
//! A and a member on node B of the same room hear each other's messages at once, with the same
//! seq and id, every connection in strictly increasing seq with no gap, also when both nodes
//! store into the room at the same moment; a support conversation's customer on one node and
//! the staff on the other answer each other. SKIPPED loudly without PostgreSQL or Redis.

use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Two nodes on the test's database and the machine's Redis, under a key prefix of their own.
pub(crate) async fn two_nodes(test: &str) -> Option<(TestApp, TestApp, TestData)> {
    two_nodes_with(test, |_| {}).await
}

/// [`two_nodes`], with the nodes' settings adjusted first.
pub(crate) async fn two_nodes_with(
    test: &str,
    adjust: impl Fn(&mut chat_server::config::Settings),
) -> Option<(TestApp, TestApp, TestData)> {
    let backend = Backend::postgres_or_skip(test)?;
    let (redis_url, prefix) = redis_or_skip(test)?;
    let data = TestData::new(&backend);
    let node = || {
        let mut settings = test_settings(&data);
        settings.redis_url = Some(redis_url.clone());
        settings.redis_prefix = prefix.clone();
        // The race below sends in bursts.
        settings.rate_per_sec = 1000.0;
        settings.rate_burst = 1000.0;
        adjust(&mut settings);
        settings
    };
    let a = start(node()).await;
    let b = start(node()).await;
    Some((a, b, data))
}

/// Two nodes on the test's database and a Redis of the story's own (which it may stop and
/// start), under `prefix`, with the nodes' settings adjusted first.
pub(crate) async fn two_nodes_on_own_redis(
    test: &str,
    prefix: &str,
    adjust: impl Fn(&mut chat_server::config::Settings),
) -> Option<(TestApp, TestApp, TestData, crate::redis_server::RedisServer)> {
    let backend = Backend::postgres_or_skip(test)?;
    let redis = crate::redis_server::RedisServer::start_or_skip(test)?;
    let data = TestData::new(&backend);
    let node = || {
        let mut settings = test_settings(&data);
        settings.redis_url = Some(redis.url());
        settings.redis_prefix = prefix.into();
        adjust(&mut settings);
        settings
    };
    let a = start(node()).await;
    let b = start(node()).await;
    Some((a, b, data, redis))
}

/// Ann on node A and bob on node B, both in the lobby: their sockets.
async fn ann_and_bob_in_the_lobby(a: &TestApp, b: &TestApp) -> (WsClient, WsClient) {
    let (ann_token, _) = a.register("ann").await;
    let (bob_token, _) = b.register("bob").await;
    let mut ann = a.connect(&ann_token).await;
    let mut bob = b.connect(&bob_token).await;
    ann.join("lobby").await;
    bob.join("lobby").await;
    (ann, bob)
}

/// Every `message` frame of `room` a socket gets until it has seen `count` of them, within
/// 20 s in all.
pub(crate) async fn messages_of(socket: &mut WsClient, room: &str, count: usize) -> Vec<Value> {
    let gather = async {
        let mut got = Vec::new();
        while got.len() < count {
            let frame = socket.recv_within(std::time::Duration::from_secs(20)).await;
            if frame["type"] == "message" && frame["room"] == room {
                got.push(frame);
            }
        }
        got
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), gather)
        .await
        .unwrap_or_else(|_| panic!("{count} message(s) of {room} did not all come"))
}

/// The message of `room` with this text, passing over any other.
async fn heard(socket: &mut WsClient, room: &str, text: &str) -> Value {
    let wait = async {
        loop {
            let frame = socket.recv_within(std::time::Duration::from_secs(20)).await;
            if frame["type"] == "message" && frame["room"] == room && frame["text"] == text {
                return frame;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("{text:?} never came in {room}"))
}

#[actix_rt::test]
async fn members_on_two_nodes_hear_each_other_with_the_same_seq_and_id() {
    let Some((a, b, _data)) =
        two_nodes("members_on_two_nodes_hear_each_other_with_the_same_seq_and_id").await
    else {
        return;
    };
    let (mut ann, mut bob) = ann_and_bob_in_the_lobby(&a, &b).await;

    let seq = ann.say("lobby", "hello from node A", "a-1").await;
    let message = heard(&mut bob, "lobby", "hello from node A").await;
    assert_eq!(message["seq"], seq, "the same seq on every node");

    let seq = bob.say("lobby", "and hello from node B", "b-1").await;
    let message = heard(&mut ann, "lobby", "and hello from node B").await;
    assert_eq!(message["seq"], seq);
}

/// Both nodes store into one room as fast as they can: they commit and publish in either
/// order, and every connection on either node still sees every message once, in seq order,
/// with no gap.
#[actix_rt::test]
async fn two_nodes_storing_into_one_room_at_once_give_every_member_one_gap_free_order() {
    let Some((a, b, _data)) =
        two_nodes("two_nodes_storing_into_one_room_at_once_give_every_member_one_gap_free_order")
            .await
    else {
        return;
    };
    let (ann_token, _) = a.register("ann").await;
    let (bob_token, _) = b.register("bob").await;
    let (cat_token, _) = b.register("cat").await;
    let mut ann = a.connect(&ann_token).await;
    let mut bob = b.connect(&bob_token).await;
    let mut cat = b.connect(&cat_token).await;
    for socket in [&mut ann, &mut bob, &mut cat] {
        socket.join("race").await;
    }
    let per_sender = 40;
    for i in 0..per_sender {
        ann.send(json!({"type":"send","room":"race","text":format!("a{i}"),"cid":format!("a{i}")}))
            .await;
        bob.send(json!({"type":"send","room":"race","text":format!("b{i}"),"cid":format!("b{i}")}))
            .await;
    }
    let total = 2 * per_sender;
    let mut orders = BTreeMap::new();
    for (name, socket) in [("ann", &mut ann), ("bob", &mut bob), ("cat", &mut cat)] {
        let got = messages_of(socket, "race", total).await;
        let seqs: Vec<i64> = got.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        let first = seqs[0];
        let expected: Vec<i64> = (first..first + total as i64).collect();
        assert_eq!(
            seqs, expected,
            "{name} sees every seq once, in order, no gap"
        );
        let ids: Vec<(i64, i64)> = got
            .iter()
            .map(|m| (m["seq"].as_i64().unwrap(), m["id"].as_i64().unwrap()))
            .collect();
        orders.insert(name, ids);
    }
    assert_eq!(
        orders["ann"], orders["bob"],
        "the same ids for the same seqs on both nodes"
    );
    assert_eq!(orders["bob"], orders["cat"]);
}

#[actix_rt::test]
async fn a_customer_on_one_node_and_the_staff_on_the_other_answer_each_other() {
    let Some((a, b, _data)) =
        two_nodes("a_customer_on_one_node_and_the_staff_on_the_other_answer_each_other").await
    else {
        return;
    };
    let (guest_token, guest_id) = a.guest("Gail").await;
    let (staff_token, _) = b.staff().await;
    let room = format!("support:{guest_id}");
    let mut gail = a.connect(&guest_token).await;
    gail.join(&room).await;
    gail.say(&room, "where is my parcel?", "g-1").await;
    let mut staff = b.connect(&staff_token).await;
    let joined = staff.join(&room).await;
    assert_eq!(texts(&joined["messages"]), ["where is my parcel?"]);
    let seq = staff.say(&room, "it left the warehouse today", "s-1").await;
    let reply = heard(&mut gail, &room, "it left the warehouse today").await;
    assert_eq!(reply["seq"], seq);
    let seq = gail.say(&room, "thank you!", "g-2").await;
    let thanks = heard(&mut staff, &room, "thank you!").await;
    assert_eq!(thanks["seq"], seq);
}

#[actix_rt::test]
async fn a_sqlite_database_with_a_redis_url_refuses_to_start() {
    let data = TestData::new(&Backend::Sqlite);
    let mut settings = test_settings(&data);
    settings.redis_url = Some("redis://127.0.0.1:6379/0".into());
    let refused = chat_server::startup::Application::build(settings).await;
    let message = match refused {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a SQLite node must not start with --redis-url"),
    };
    assert!(message.contains("PostgreSQL"), "{message}");
}

/// Redis restarts in the middle of a conversation: while it is away each node keeps serving
/// its own members (their messages are stored and acked, and the members of the same node hear
/// them); when it is back, the other node's members catch up from the database, in order, with
/// no gap, and later messages cross again at once.
#[actix_rt::test]
async fn a_redis_restart_delays_cross_node_delivery_but_loses_nothing() {
    let test = "a_redis_restart_delays_cross_node_delivery_but_loses_nothing";
    let Some((a, b, _data, mut redis)) = two_nodes_on_own_redis(test, "restart", |_| {}).await
    else {
        return;
    };
    let (mut ann, mut bob) = ann_and_bob_in_the_lobby(&a, &b).await;
    ann.say("lobby", "before", "a-0").await;
    heard(&mut bob, "lobby", "before").await;

    let (status, health) = b.get("/healthz", None).await;
    assert_eq!(
        (status, health["broker"].as_str()),
        (200, Some("ok")),
        "{health}"
    );

    redis.stop();
    // Acked while Redis is away: stored in PostgreSQL.
    let first = ann.say("lobby", "while redis was away 1", "a-1").await;
    let second = ann.say("lobby", "while redis was away 2", "a-2").await;
    assert_eq!(second, first + 1);
    // The node still works (200) and says its broker is degraded.
    let degraded = async {
        loop {
            let (status, health) = b.get("/healthz", None).await;
            assert_eq!(status, 200, "{health}");
            if health["broker"] == "degraded" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), degraded)
        .await
        .expect("/healthz says the broker is degraded while Redis is away");
    redis.start();

    let caught_up = messages_of(&mut bob, "lobby", 2).await;
    let seqs: Vec<i64> = caught_up
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        [first, second],
        "bob catches up in order, nothing lost"
    );
    assert_eq!(caught_up[0]["text"], "while redis was away 1");

    // And messages cross at once again (the subscription is back).
    let seq = ann.say("lobby", "after", "a-3").await;
    let after = heard(&mut bob, "lobby", "after").await;
    assert_eq!(after["seq"], seq);
    let (_, health) = b.get("/healthz", None).await;
    assert_eq!(health["broker"], "ok", "{health}");
}

/// Frames of the moment cross nodes too: bob on node B sees ann on node A typing (and ann's
/// own connections do not), and a message the staff delete through node A leaves bob's view on
/// node B at once.
#[actix_rt::test]
async fn typing_and_a_deletion_reach_the_members_on_the_other_node() {
    let Some((a, b, _data)) =
        two_nodes("typing_and_a_deletion_reach_the_members_on_the_other_node").await
    else {
        return;
    };
    let (ann_token, _) = a.register("ann").await;
    let (bob_token, _) = b.register("bob").await;
    let (staff_token, _) = a.staff().await;
    let mut ann = a.connect(&ann_token).await;
    let mut bob = b.connect(&bob_token).await;
    ann.join("lobby").await;
    bob.join("lobby").await;

    ann.send(json!({"type": "typing", "room": "lobby", "on": true}))
        .await;
    let typing = bob
        .expect_ignoring("typing", &["presence", "message"])
        .await;
    assert_eq!(typing["user"]["username"], "ann");
    assert_eq!(typing["on"], true);

    ann.say("lobby", "a message to remove", "a-1").await;
    let message = heard(&mut bob, "lobby", "a message to remove").await;
    let id = message["id"].as_i64().unwrap();
    let (status, body) = call(
        &a,
        "DELETE",
        &format!("/api/admin/messages/{id}"),
        Some(&staff_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let deleted = bob
        .expect_ignoring("deleted", &["presence", "typing", "message"])
        .await;
    assert_eq!(deleted["id"], id);
    assert_eq!(deleted["seq"], message["seq"]);
}

/// A ban placed through node A closes the banned user's socket on node B at once, not at the
/// next periodic re-check of the accounts (set to a minute here, so only the broker can do it).
#[actix_rt::test]
async fn a_ban_placed_on_one_node_closes_the_users_socket_on_the_other_at_once() {
    let test = "a_ban_placed_on_one_node_closes_the_users_socket_on_the_other_at_once";
    let Some((a, b, _data)) = two_nodes_with(test, |settings| {
        settings.account_recheck_interval = std::time::Duration::from_secs(60);
    })
    .await
    else {
        return;
    };
    let (staff_token, _) = a.staff().await;
    let (troll_token, troll) = b.register("troll").await;
    let mut socket = b.connect(&troll_token).await;
    let (status, body) = a
        .post_as(
            &staff_token,
            &format!("/api/admin/users/{troll}/ban"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), socket.expect_close())
        .await
        .expect("the socket on the other node closes within seconds");
    assert_eq!(closed, Some(1008), "closed as a policy violation");
}

/// The staff's live list works across nodes: an agent connected to node B, who has not opened
/// the conversation, hears of a customer's message on node A (`support_activity`) once.
#[actix_rt::test]
async fn the_staff_on_one_node_hear_of_a_customers_message_on_another() {
    let Some((a, b, _data)) =
        two_nodes("the_staff_on_one_node_hear_of_a_customers_message_on_another").await
    else {
        return;
    };
    let (staff_token, _) = b.staff().await;
    let mut staff = b.connect(&staff_token).await;
    let (guest_token, guest_id) = a.guest("Gail").await;
    let room = format!("support:{guest_id}");
    let mut gail = a.connect(&guest_token).await;
    gail.join(&room).await;
    let seq = gail.say(&room, "is anyone there?", "g-1").await;
    let activity = staff
        .expect_ignoring("support_activity", &["presence", "staff_updated", "seen"])
        .await;
    assert_eq!(activity["room"], room);
    assert_eq!(activity["message"]["text"], "is anyone there?");
    assert_eq!(activity["message"]["seq"], seq);
    // Once: nothing more about it.
    staff
        .expect_silence(std::time::Duration::from_millis(500))
        .await;
}

/// An announcement posted through node A reaches the room's members on node B, once, with the
/// seq the API answered.
#[actix_rt::test]
async fn an_announcement_posted_on_one_node_reaches_the_members_on_the_other() {
    let Some((a, b, _data)) =
        two_nodes("an_announcement_posted_on_one_node_reaches_the_members_on_the_other").await
    else {
        return;
    };
    let (mut ann, mut bob) = ann_and_bob_in_the_lobby(&a, &b).await;
    let (staff_token, _) = a.staff().await;
    let (status, body) = a
        .post_as(
            &staff_token,
            "/api/admin/announcements",
            json!({"text": "We close at six today", "rooms": ["lobby"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let message = heard(&mut bob, "lobby", "We close at six today").await;
    assert_eq!(message["kind"], "announcement");
    assert_eq!(message["seq"], body["announcements"][0]["seq"]);
    // Once: the room's next message is ann's, not the announcement again.
    ann.say("lobby", "thanks", "a-1").await;
    let next = messages_of(&mut bob, "lobby", 1).await;
    assert_eq!(next[0]["text"], "thanks");
}
