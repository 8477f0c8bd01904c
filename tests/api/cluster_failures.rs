//! Several nodes when something fails (issue 16): a node that starts while Redis is down serves
//! alone and joins the others once Redis answers; a publication lost in a room that then goes
//! quiet still reaches the members on the other nodes; a node killed with `kill -9` loses
//! nothing acked, and its clients recover on another node exactly what they missed; and three
//! nodes storing into one room at once give every member one gap-free order. SKIPPED loudly
//! without PostgreSQL or Redis.

use crate::cluster_live::messages_of;
use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A node of the deployment as a process of its own, on the test's database and this Redis.
fn node_process(data: &TestData, redis_url: &str, prefix: &str) -> ServerProcess {
    ServerProcess::start_with_env(
        data,
        &[
            ("CHAT_REDIS_URL", redis_url),
            ("CHAT_REDIS_PREFIX", prefix),
            ("CHAT_RATE_PER_SEC", "1000"),
            ("CHAT_RATE_BURST", "1000"),
        ],
    )
}

/// An in-process node on the test's database and this Redis, under this key prefix.
async fn node(data: &TestData, redis_url: &str, prefix: &str) -> TestApp {
    let mut settings = test_settings(data);
    settings.redis_url = Some(redis_url.to_owned());
    settings.redis_prefix = prefix.to_owned();
    // The stories below send in bursts.
    settings.rate_per_sec = 1000.0;
    settings.rate_burst = 1000.0;
    start(settings).await
}

/// A socket on the node process, its `hello` read.
async fn connect_to(server: &ServerProcess, token: &str) -> WsClient {
    let url = format!("ws://{}/ws?token={token}", server.address);
    let mut client = WsClient::open(&url, None).await.expect("upgrade");
    client.hello = client.expect("hello").await;
    client
}

/// `GET` on the node process: (status, JSON body).
async fn get_from(server: &ServerProcess, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = awc::Client::new().get(format!("{}{path}", server.base()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut res = request.send().await.expect("request");
    let body = res
        .json::<Value>()
        .limit(1 << 22)
        .await
        .unwrap_or(Value::Null);
    (res.status().as_u16(), body)
}

/// Waits (up to 20 s) until the node's `/healthz` names its broker `want`; always 200.
async fn broker_becomes(server: &ServerProcess, want: &str) {
    let wait = async {
        loop {
            let (status, health) = get_from(server, "/healthz", None).await;
            assert_eq!(status, 200, "the node works: {health}");
            if health["broker"] == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("/healthz never said the broker is {want:?}"));
}

/// Waits (up to 10 s) until every channel has `count` subscribers (Redis's `PUBSUB NUMSUB`).
async fn subscribers_become(redis_url: &str, channels: &[&str], count: i64) {
    let mut redis = redis::Client::open(redis_url)
        .and_then(|client| client.get_connection())
        .expect("the test's Redis answers");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channels)
            .query(&mut redis)
            .expect("PUBSUB NUMSUB");
        if counts.iter().all(|(_, n)| *n == count) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "subscribers per channel: {counts:?}, {count} wanted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seqs_of(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

fn texts_of(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

/// Both nodes start while Redis is down: each serves its own connections (a message is stored,
/// acked and heard on its node), `/healthz` says the broker is degraded and the log says so
/// once. Redis comes up: both subscribe (the fixed channels and the room), `/healthz` says ok,
/// the member on the other node catches up from the database, once, in order, and later
/// messages cross both ways.
#[actix_rt::test]
async fn a_node_started_while_redis_is_down_serves_alone_then_joins_the_others() {
    let test = "a_node_started_while_redis_is_down_serves_alone_then_joins_the_others";
    let Some(backend) = Backend::postgres_or_skip(test) else {
        return;
    };
    let Some(mut redis) = crate::redis_server::RedisServer::start_or_skip(test) else {
        return;
    };
    redis.stop();
    let data = TestData::new(&backend);
    let a = node_process(&data, &redis.url(), "lazy");
    let b = node_process(&data, &redis.url(), "lazy");
    let (status, health) = get_from(&a, "/healthz", None).await;
    assert_eq!(
        (status, health.clone()),
        (200, json!({"status": "ok", "broker": "degraded"})),
        "the node works, its broker does not"
    );
    let loud = "does not answer at start";
    let said = a.log_lines_with(loud);
    assert_eq!(said.len(), 1, "{:#?}", a.log());
    assert!(said[0].contains("refused"), "says why: {}", said[0]);

    let ann_token = a.guest("Ann").await;
    let amy_token = a.guest("Amy").await;
    let bob_token = b.guest("Bob").await;
    let mut ann = connect_to(&a, &ann_token).await;
    let mut amy = connect_to(&a, &amy_token).await;
    let mut bob = connect_to(&b, &bob_token).await;
    for socket in [&mut ann, &mut amy, &mut bob] {
        socket.join("lobby").await;
    }
    let first = ann.say("lobby", "said while redis was down", "a-1").await;
    let heard = messages_of(&mut amy, "lobby", 1).await;
    assert_eq!(
        seqs_of(&heard),
        [first],
        "a member on the same node hears it"
    );

    redis.start();
    broker_becomes(&a, "ok").await;
    broker_becomes(&b, "ok").await;
    a.wait_for_line("the broker (Redis) answers").await;
    // Both nodes follow the fixed channels and the room their members are in.
    let channels = ["lazy:accounts", "lazy:staff", "lazy:room:lobby"];
    subscribers_become(&redis.url(), &channels, 2).await;

    let second = ann.say("lobby", "said once redis answered", "a-2").await;
    let got = messages_of(&mut bob, "lobby", 2).await;
    assert_eq!(
        seqs_of(&got),
        [first, second],
        "bob on the other node gets both, once, in order"
    );
    assert_eq!(
        texts_of(&got),
        ["said while redis was down", "said once redis answered"]
    );
    // (A sender's own copy comes with its ack: ann's next message is bob's.)
    let reply = bob.say("lobby", "hello from node B", "b-1").await;
    let got = messages_of(&mut ann, "lobby", 1).await;
    assert_eq!(seqs_of(&got), [reply], "and back the other way");
    assert_eq!(a.log_lines_with(loud).len(), 1, "said once");
}

/// A `--redis-url` that is no URL at all still refuses to start, saying which setting.
#[actix_rt::test]
async fn a_redis_url_that_does_not_parse_refuses_to_start() {
    let test = "a_redis_url_that_does_not_parse_refuses_to_start";
    let Some(backend) = Backend::postgres_or_skip(test) else {
        return;
    };
    let data = TestData::new(&backend);
    let mut settings = test_settings(&data);
    settings.redis_url = Some("no url at all".into());
    let message = match chat_server::startup::Application::build(settings).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a node must not start with a Redis URL that does not parse"),
    };
    assert!(message.contains("--redis-url"), "{message}");
}

/// A publication lost in a room that then goes quiet: a third node on the same database but
/// under another key prefix stores messages into the room (its publications reach nobody).
/// No later message reveals the gap and Redis never reconnects, yet within seconds the members
/// on the other two nodes get them, in order, once.
#[actix_rt::test]
async fn a_lost_publication_in_a_quiet_room_still_reaches_every_member() {
    let test = "a_lost_publication_in_a_quiet_room_still_reaches_every_member";
    let Some(backend) = Backend::postgres_or_skip(test) else {
        return;
    };
    let Some((redis_url, prefix)) = redis_or_skip(test) else {
        return;
    };
    let data = TestData::new(&backend);
    let a = node(&data, &redis_url, &prefix).await;
    let b = node(&data, &redis_url, &prefix).await;
    let deaf = node(&data, &redis_url, &format!("{prefix}-elsewhere")).await;
    let (ann_token, _) = a.register("ann").await;
    let (bob_token, _) = b.register("bob").await;
    let (cat_token, _) = deaf.register("cat").await;
    let mut ann = a.connect(&ann_token).await;
    let mut bob = b.connect(&bob_token).await;
    let mut cat = deaf.connect(&cat_token).await;
    for socket in [&mut ann, &mut bob, &mut cat] {
        socket.join("quiet").await;
    }
    let mut stored = Vec::new();
    for i in 1..=3 {
        let text = format!("lost {i}");
        stored.push(cat.say("quiet", &text, &format!("c-{i}")).await);
    }
    for (name, socket) in [("ann", &mut ann), ("bob", &mut bob)] {
        let got = tokio::time::timeout(Duration::from_secs(10), messages_of(socket, "quiet", 3))
            .await
            .unwrap_or_else(|_| panic!("{name} did not get the lost messages within seconds"));
        assert_eq!(seqs_of(&got), stored, "{name}: every one, in order");
        assert_eq!(texts_of(&got), ["lost 1", "lost 2", "lost 3"]);
    }
    // Once: the next message either of them gets is a new one (a sender's own copy comes
    // with its ack).
    let next = bob.say("quiet", "nothing twice", "b-1").await;
    let got = messages_of(&mut ann, "quiet", 1).await;
    assert_eq!(seqs_of(&got), [next], "ann gets nothing twice");
    let next = ann.say("quiet", "nor here", "a-1").await;
    let got = messages_of(&mut bob, "quiet", 1).await;
    assert_eq!(seqs_of(&got), [next], "bob gets nothing twice");
}

/// Ann sends through node A, which is killed with `kill -9` while her messages stream in.
/// Bob on node B goes on talking. Ann reconnects through the balancer to node B and joins with
/// `since` = the last seq she saw: she gets exactly what she missed (her messages stored but
/// never acked, and bob's), nothing twice, and every message A acked is in B's history.
#[actix_rt::test]
async fn a_client_of_a_killed_node_recovers_exactly_what_it_missed_on_another() {
    let test = "a_client_of_a_killed_node_recovers_exactly_what_it_missed_on_another";
    let Some(backend) = Backend::postgres_or_skip(test) else {
        return;
    };
    let Some((redis_url, prefix)) = redis_or_skip(test) else {
        return;
    };
    let data = TestData::new(&backend);
    let a = node_process(&data, &redis_url, &prefix);
    let b = node_process(&data, &redis_url, &prefix);
    let ann_token = a.guest("Ann").await;
    let bob_token = b.guest("Bob").await;
    let mut ann = connect_to(&a, &ann_token).await;
    let mut bob = connect_to(&b, &bob_token).await;
    ann.join("lobby").await;
    bob.join("lobby").await;

    // Everything ann saw of the lobby (acks and messages), and what was acked.
    let mut seen = BTreeSet::new();
    let mut acked = BTreeMap::new();
    let mut note = |frame: &Value, seen: &mut BTreeSet<i64>| {
        if frame["type"] == "ack" {
            let text = format!("ann {}", &frame["cid"].as_str().unwrap()[2..]);
            acked.insert(frame["seq"].as_i64().unwrap(), text);
        }
        if frame["type"] == "ack" || frame["type"] == "message" {
            seen.insert(frame["seq"].as_i64().unwrap());
        }
    };
    for i in 0..30 {
        ann.send(json!({"type": "send", "room": "lobby", "text": format!("ann {i}"), "cid": format!("a-{i}")}))
            .await;
    }
    let mut acks = 0;
    while acks < 5 {
        let frame = ann.recv().await;
        acks += usize::from(frame["type"] == "ack");
        note(&frame, &mut seen);
    }
    a.signal("KILL");
    while let Ok(Some(frame)) = ann.next(Duration::from_secs(2)).await {
        note(&frame, &mut seen);
    }
    assert!(!a.wait(), "node A was killed");
    let since = *seen.last().expect("ann saw her acks");

    // Bob goes on talking on node B while ann is away.
    let mut bobs = Vec::new();
    for i in 1..=3 {
        let text = format!("bob {i} while ann was away");
        bobs.push((bob.say("lobby", &text, &format!("b-{i}")).await, text));
    }

    // Ann comes back through node B.
    let mut ann = connect_to(&b, &ann_token).await;
    ann.send(json!({"type": "join", "room": "lobby", "since": since}))
        .await;
    let joined = ann
        .expect_ignoring("joined", &["presence", "message"])
        .await;
    assert_eq!(joined["recovered"], true, "{joined}");
    let recovered: Vec<Value> = joined["messages"].as_array().unwrap().clone();
    let recovered_seqs = seqs_of(&recovered);
    let newest = bobs.last().unwrap().0;
    assert_eq!(
        recovered_seqs,
        (since + 1..=newest).collect::<Vec<_>>(),
        "every seq after the last she saw, once, in order"
    );
    for (seq, text) in &bobs {
        assert!(
            recovered
                .iter()
                .any(|m| m["seq"] == *seq && m["text"] == *text),
            "bob's {text:?} is recovered"
        );
    }

    // B's history holds every message A acked, and exactly what ann saw or recovered.
    let (status, page) =
        get_from(&b, "/api/rooms/lobby/messages?limit=100", Some(&ann_token)).await;
    assert_eq!(status, 200, "{page}");
    let history: BTreeMap<i64, String> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["seq"].as_i64().unwrap(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (seq, text) in &acked {
        assert_eq!(history.get(seq), Some(text), "acked by A, kept: seq {seq}");
    }
    let mut heard: BTreeSet<i64> = seen.clone();
    heard.extend(recovered_seqs);
    assert_eq!(
        heard,
        history.keys().copied().collect::<BTreeSet<_>>(),
        "nothing missing, nothing extra"
    );
}

/// Members on three nodes all send into one room at the same moment: every connection sees
/// every message once, in strictly increasing seq with no gap, with the same ids.
#[actix_rt::test]
async fn members_on_three_nodes_sending_at_once_see_one_gap_free_order() {
    let test = "members_on_three_nodes_sending_at_once_see_one_gap_free_order";
    let Some(backend) = Backend::postgres_or_skip(test) else {
        return;
    };
    let Some((redis_url, prefix)) = redis_or_skip(test) else {
        return;
    };
    let data = TestData::new(&backend);
    let nodes = [
        node(&data, &redis_url, &prefix).await,
        node(&data, &redis_url, &prefix).await,
        node(&data, &redis_url, &prefix).await,
    ];
    let mut members = Vec::new();
    for (i, app) in nodes.iter().enumerate() {
        for name in ["first", "second"] {
            let (token, _) = app.register(&format!("{name}{i}")).await;
            let mut socket = app.connect(&token).await;
            socket.join("crowd").await;
            members.push((format!("{name} on node {i}"), socket));
        }
    }
    let per_sender = 30;
    for i in 0..per_sender {
        // One sender per node, interleaved: the nodes store at the same moments.
        for (n, (_, socket)) in members.iter_mut().step_by(2).enumerate() {
            let text = format!("n{n}-{i}");
            socket
                .send(json!({"type": "send", "room": "crowd", "text": text, "cid": text}))
                .await;
        }
    }
    let total = 3 * per_sender;
    let mut orders = Vec::new();
    for (name, socket) in &mut members {
        let got = messages_of(socket, "crowd", total).await;
        let seqs = seqs_of(&got);
        let expected: Vec<i64> = (seqs[0]..seqs[0] + total as i64).collect();
        assert_eq!(seqs, expected, "{name}: every seq once, in order, no gap");
        let ids: Vec<(i64, i64)> = got
            .iter()
            .map(|m| (m["seq"].as_i64().unwrap(), m["id"].as_i64().unwrap()))
            .collect();
        orders.push((name.clone(), ids));
    }
    for (name, ids) in &orders[1..] {
        assert_eq!(
            ids, &orders[0].1,
            "{name} and {}: the same order and ids",
            orders[0].0
        );
    }
}
