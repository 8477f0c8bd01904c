//! A user's frames and the staff's reach every node (issue 16): ann's tab on node B hears her
//! unread count after she reads on node A; a customer and the staff on two nodes see each
//! other's reads (`seen`); the staff on node B hear of a conversation changed and of a team
//! member changed through node A; who has a conversation open is the union over the nodes,
//! each staff member once, also as told by a node started later; a dead node's viewers leave;
//! after a Redis restart that lost them, a node writes its viewers again.
//! SKIPPED loudly without PostgreSQL or Redis.

use crate::cluster_live::two_nodes;
use crate::conversations::{agent, names, viewers_of};
use crate::helpers::*;
use chat_server::broker::{Broker, BrokerPush, BrokerSettings, Envelope};
use chat_server::domain::{Role, UserId, UserInfo};
use serde_json::{json, Value};
use std::time::Duration;

/// The next frame of type `kind`, passing over any other, within [`WAIT`].
async fn next_of(socket: &mut WsClient, kind: &str) -> Value {
    let wait = async {
        loop {
            let frame = socket.recv().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("no {kind} frame came"))
}

/// The viewers of `room` as `GET /api/admin/conversations/{room}` on `node` lists them.
async fn viewers_asked_of(node: &TestApp, token: &str, room: &str) -> Vec<String> {
    let path = format!("/api/admin/conversations/{room}");
    let (status, detail) = node.get(&path, Some(token)).await;
    assert_eq!(status, 200, "{detail}");
    names(&detail["viewers"])
}

#[actix_rt::test]
async fn ann_reads_on_node_a_and_her_tab_on_node_b_hears_her_unread_count() {
    let Some((a, b, _data)) =
        two_nodes("ann_reads_on_node_a_and_her_tab_on_node_b_hears_her_unread_count").await
    else {
        return;
    };
    let (ann_token, _) = a.register("ann").await;
    let (bob_token, _) = a.register("bob").await;
    let mut bob = a.connect(&bob_token).await;
    bob.join("lobby").await;
    let first = bob.say("lobby", "one", "b-1").await;
    bob.say("lobby", "two", "b-2").await;
    bob.say("lobby", "three", "b-3").await;

    let mut ann_on_b = b.connect(&ann_token).await;
    let mut ann_on_a = a.connect(&ann_token).await;
    ann_on_a.join("lobby").await;
    ann_on_a
        .send(json!({"type": "read", "room": "lobby", "seq": first}))
        .await;
    let unread = next_of(&mut ann_on_b, "unread").await;
    assert_eq!(unread["room"], "lobby");
    assert_eq!(unread["count"], 2, "two messages after the one she read");
    let unread = next_of(&mut ann_on_a, "unread").await;
    assert_eq!(unread["count"], 2, "and her tab on node A as before");
    // Once on node B, not also from her tab on node A's own publication.
    ann_on_b.expect_silence(Duration::from_millis(300)).await;
}

#[actix_rt::test]
async fn a_customer_on_node_a_and_the_staff_on_node_b_see_each_others_reads() {
    let Some((a, b, _data)) =
        two_nodes("a_customer_on_node_a_and_the_staff_on_node_b_see_each_others_reads").await
    else {
        return;
    };
    let (_, _, room, mut gail) = a.guest_in_support("Gail").await;
    let asked = gail.say(&room, "where is my parcel?", "g-1").await;
    let (staff_token, _) = b.staff().await;
    let mut staff = b.connect(&staff_token).await;
    staff.join(&room).await;

    staff
        .send(json!({"type": "read", "room": room, "seq": asked}))
        .await;
    let seen = next_of(&mut gail, "seen").await;
    assert_eq!(
        (&seen["room"], &seen["seq"], &seen["by"]),
        (&json!(room), &json!(asked), &json!("staff")),
        "{seen}"
    );

    next_of(&mut staff, "unread").await;
    let answered = staff.say(&room, "it left today", "s-1").await;
    gail.send(json!({"type": "read", "room": room, "seq": answered}))
        .await;
    let seen = next_of(&mut staff, "seen").await;
    assert_eq!(
        (&seen["room"], &seen["seq"], &seen["by"]),
        (&json!(room), &json!(answered), &json!("customer")),
        "{seen}"
    );
}

#[actix_rt::test]
async fn a_conversation_changed_through_node_a_is_news_for_the_staff_on_node_b() {
    let Some((a, b, _data)) =
        two_nodes("a_conversation_changed_through_node_a_is_news_for_the_staff_on_node_b").await
    else {
        return;
    };
    let (_, _, room, mut gail) = a.guest_in_support("Gail").await;
    gail.say(&room, "hello?", "g-1").await;
    let (staff_token, _) = a.staff().await;
    let mut console_on_b = b.connect(&staff_token).await;

    let path = format!("/api/admin/conversations/{room}/status");
    let (status, body) = a
        .post_as(&staff_token, &path, json!({"status": "pending"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let update = next_of(&mut console_on_b, "conversation_updated").await;
    assert_eq!(update["conversation"]["room"], room);
    assert_eq!(update["conversation"]["status"], "pending");
    assert_eq!(update["by"]["username"], "staff");
}

#[actix_rt::test]
async fn a_team_member_made_and_changed_through_node_a_is_news_for_the_staff_on_node_b() {
    let Some((a, b, _data)) =
        two_nodes("a_team_member_made_and_changed_through_node_a_is_news_for_the_staff_on_node_b")
            .await
    else {
        return;
    };
    let (admin_token, _) = a.staff().await;
    let mut console_on_b = b.connect(&admin_token).await;

    let body = json!({"username": "tina", "password": "agent-password", "role": "agent"});
    let (status, tina) = a.post_as(&admin_token, "/api/admin/staff", body).await;
    assert_eq!(status, 201, "{tina}");
    let update = next_of(&mut console_on_b, "staff_updated").await;
    assert_eq!(update["member"]["username"], "tina");
    assert_eq!(update["member"]["role"], "agent");

    let (status, signed_in) = a
        .post(
            "/api/auth/login",
            json!({"username": "tina", "password": "agent-password"}),
        )
        .await;
    assert_eq!(status, 200, "{signed_in}");
    let tina_token = token_of(&signed_in);
    let (status, body) = a
        .post_as(
            &tina_token,
            "/api/admin/availability",
            json!({"availability": "busy"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let update = next_of(&mut console_on_b, "staff_updated").await;
    assert_eq!(update["member"]["id"], tina["id"]);
    assert_eq!(update["member"]["availability"], "busy");
}

/// Alice opens the conversation on node A: the staff on node B see her among its viewers, and
/// node B (and a node started after she opened it) lists her. With it open on both nodes she
/// is one viewer; she stays one until her last tab on either node leaves.
#[actix_rt::test]
async fn the_viewers_of_a_conversation_are_one_list_over_every_node() {
    let Some((a, b, data)) =
        two_nodes("the_viewers_of_a_conversation_are_one_list_over_every_node").await
    else {
        return;
    };
    let (_, _, room, mut gail) = a.guest_in_support("Gail").await;
    gail.say(&room, "hi", "g-1").await;
    let (observer_token, _) = b.staff().await;
    let mut observer = b.connect(&observer_token).await;
    let (alice_token, _) = agent(&a, &data, "alice").await;

    let mut alice_on_a = a.connect(&alice_token).await;
    alice_on_a.join(&room).await;
    assert_eq!(viewers_of(&mut observer, &room).await, ["alice"]);
    assert_eq!(
        viewers_asked_of(&b, &observer_token, &room).await,
        ["alice"]
    );
    let c = start(a.settings.clone()).await;
    assert_eq!(
        viewers_asked_of(&c, &observer_token, &room).await,
        ["alice"],
        "a node started after she opened it"
    );

    let mut alice_on_b = b.connect(&alice_token).await;
    alice_on_b.join(&room).await;
    assert_eq!(
        viewers_of(&mut observer, &room).await,
        ["alice"],
        "open on two nodes, she is one viewer"
    );
    for node in [&a, &b, &c] {
        assert_eq!(
            viewers_asked_of(node, &observer_token, &room).await,
            ["alice"]
        );
    }

    alice_on_a.close().await;
    assert_eq!(
        viewers_of(&mut observer, &room).await,
        ["alice"],
        "still open on node B"
    );
    alice_on_b.close().await;
    assert!(viewers_of(&mut observer, &room).await.is_empty());
    assert!(viewers_asked_of(&c, &observer_token, &room)
        .await
        .is_empty());
}

/// A node dies with a conversation open: once another node finds it dead, its viewers leave
/// the conversation and every node's staff hear it (told by whichever node took them out).
#[actix_rt::test]
async fn a_dead_nodes_viewers_leave_every_conversation_it_had_open() {
    let test = "a_dead_nodes_viewers_leave_every_conversation_it_had_open";
    let Some((url, prefix)) = redis_or_skip(test) else {
        return;
    };
    let settings = BrokerSettings {
        url,
        prefix,
        node_heartbeat: std::time::Duration::from_secs(5),
    };
    let dead = Broker::connect(&settings, "dead-node".into())
        .await
        .expect("the dead node's broker")
        .broker;
    let alive = Broker::connect(&settings, "alive-node".into())
        .await
        .expect("the live node's broker");
    let (alive, mut heard) = (alive.broker, alive.pushes);
    let alice = UserInfo {
        id: UserId(7),
        username: "alice".into(),
        role: Role::Agent,
        display_name: None,
        avatar_color: None,
    };
    let (one, two) = ("support:41", "support:42");
    for room in [one, two] {
        dead.write_viewers(room, std::slice::from_ref(&alice), None)
            .await
            .expect("written");
    }
    let lists = alive.read_viewers(one).await.expect("read");
    assert_eq!(lists, [("dead-node".to_owned(), vec![alice.clone()])]);

    alive
        .forget_node_viewers("dead-node")
        .await
        .expect("forgotten");
    for room in [one, two] {
        assert!(alive.read_viewers(room).await.expect("read").is_empty());
    }
    // The staff channel carries each room's viewers, now nobody.
    let hear = async {
        let mut told = Vec::new();
        while told.len() < 2 {
            let Some(push) = heard.recv().await else {
                break;
            };
            let BrokerPush::StaffActivity { payload } = push else {
                continue;
            };
            let envelope: Envelope = serde_json::from_slice(&payload).expect("an envelope");
            if let Some(news) = envelope.viewers.filter(|_| envelope.node == "alive-node") {
                assert!(news.lists.is_empty(), "{:?}", news.lists);
                told.push(news.room);
            }
        }
        told
    };
    let mut told = tokio::time::timeout(WAIT, hear)
        .await
        .expect("both rooms' news came");
    told.sort();
    assert_eq!(told, [one, two]);
    // A second node finding it dead takes out nothing more.
    alive
        .forget_node_viewers("dead-node")
        .await
        .expect("nothing to forget");
}

/// Redis restarts empty in the middle of a conversation alice has open on node A: node A
/// writes its viewers again once Redis is back, and node B lists her again.
#[actix_rt::test]
async fn the_viewers_are_written_again_after_a_redis_restart_that_lost_them() {
    let test = "the_viewers_are_written_again_after_a_redis_restart_that_lost_them";
    let Some((a, b, data, mut redis)) =
        crate::cluster_live::two_nodes_on_own_redis(test, "viewers-restart", |_| {}).await
    else {
        return;
    };
    let (_, _, room, mut gail) = a.guest_in_support("Gail").await;
    gail.say(&room, "hi", "g-1").await;
    let (observer_token, _) = b.staff().await;
    let mut observer = b.connect(&observer_token).await;
    let (alice_token, _) = agent(&a, &data, "alice").await;
    let mut alice = a.connect(&alice_token).await;
    alice.join(&room).await;
    assert_eq!(viewers_of(&mut observer, &room).await, ["alice"]);

    redis.stop();
    let degraded = async {
        loop {
            let (_, health) = a.get("/healthz", None).await;
            if health["broker"] == "degraded" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, degraded)
        .await
        .expect("node A notices that Redis is away");
    redis.start();

    // Nothing to await on node B's sockets (its subscription may come back after node A's
    // news): ask node B until it lists her.
    let listed = async {
        loop {
            if viewers_asked_of(&b, &observer_token, &room).await == ["alice"] {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, listed)
        .await
        .expect("node B lists alice again");
}

/// The store's notification, sent through node A, reaches ann's tabs on both nodes, each once;
/// read on node B, the new unread count reaches her tab on node A.
#[actix_rt::test]
async fn a_stores_notification_reaches_every_tab_on_every_node() {
    let Some((a, b, data)) =
        two_nodes("a_stores_notification_reaches_every_tab_on_every_node").await
    else {
        return;
    };
    let key = a.api_key("shop").await;
    let (ann_token, _) = crate::server_api::identified_customer(&a, &data, "ann", "cust-1").await;
    let mut ann_on_a = a.connect(&ann_token).await;
    let mut ann_on_b = b.connect(&ann_token).await;
    // Both tabs are followed by their nodes before the store writes (an `unread` round trip).
    ann_on_b.join("lobby").await;
    ann_on_b
        .send(json!({"type": "read", "room": "lobby", "seq": 0}))
        .await;
    next_of(&mut ann_on_a, "unread").await;

    let (status, reply) = a
        .post_as(
            &key,
            "/api/server/notifications",
            json!({"external_id": "cust-1", "title": "Shipped", "body": "Order #42"}),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    for tab in [&mut ann_on_a, &mut ann_on_b] {
        let frame = next_of(tab, "notification").await;
        assert_eq!(frame["id"], reply["id"], "{frame}");
    }

    ann_on_b
        .send(json!({"type": "notification_read", "id": reply["id"]}))
        .await;
    for tab in [&mut ann_on_b, &mut ann_on_a] {
        let frame = next_of(tab, "notifications_unread").await;
        assert_eq!(frame["count"], 0, "{frame}");
    }
}
