//! What an ack promises: the message is in the database, whatever happens to the process
//! afterwards. These stories run the real binary in a child process and signal it.

use crate::helpers::*;
use crate::on_both_backends;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

on_both_backends!(
    acked_messages_survive_kill_9,
    sigterm_stores_everything_queued_and_closes_sockets_with_1001,
    sigterm_under_steady_traffic_refuses_new_sends_and_exits_within_the_timeout,
    one_commit_of_several_rooms_with_resends_stores_each_message_once_in_order,
);

/// A new guest of the server process, connected and in the room `lobby`.
async fn guest_in_lobby(server: &ServerProcess) -> (String, WsClient) {
    let token = server.guest("Durable").await;
    let url = format!("ws://{}/ws?token={token}", server.address);
    let mut client = WsClient::open(&url, None).await.expect("upgrade");
    client.expect("hello").await;
    client.join("lobby").await;
    (token, client)
}

async fn stored_texts(base: &str, token: &str) -> BTreeMap<i64, String> {
    let mut stored = BTreeMap::new();
    let mut before: Option<i64> = None;
    loop {
        let query = before.map_or(String::new(), |b| format!("&before={b}"));
        let mut res = awc::Client::new()
            .get(format!("{base}/api/rooms/lobby/messages?limit=100{query}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let page: Value = res.json().limit(1 << 22).await.unwrap();
        for m in page["messages"].as_array().unwrap() {
            stored.insert(
                m["seq"].as_i64().unwrap(),
                m["text"].as_str().unwrap().to_owned(),
            );
        }
        if page["more"] != true {
            return stored;
        }
        before = stored.keys().next().copied();
    }
}

async fn acked_messages_survive_kill_9(backend: Backend) {
    let data = TestData::new(&backend);
    let server = ServerProcess::start(&data);
    let (token, mut client) = guest_in_lobby(&server).await;

    // Send without waiting, collect acks for a while, then kill the server mid-stream.
    let mut acked: BTreeMap<i64, String> = BTreeMap::new();
    for i in 0..30 {
        client.send(json!({"type": "send", "room": "lobby", "text": format!("m{i}"), "cid": format!("c{i}")})).await;
    }
    while acked.len() < 10 {
        let frame = client.recv().await;
        if frame["type"] == "ack" {
            let i: usize = frame["cid"].as_str().unwrap()[1..].parse().unwrap();
            acked.insert(frame["seq"].as_i64().unwrap(), format!("m{i}"));
        }
    }
    server.signal("KILL");
    while let Ok(Some(frame)) = client.next(Duration::from_secs(2)).await {
        if frame["type"] == "ack" {
            let i: usize = frame["cid"].as_str().unwrap()[1..].parse().unwrap();
            acked.insert(frame["seq"].as_i64().unwrap(), format!("m{i}"));
        }
    }
    assert!(!server.wait(), "killed");

    let server = ServerProcess::start(&data);
    let stored = stored_texts(&server.base(), &token).await;
    for (seq, text) in &acked {
        assert_eq!(
            stored.get(seq),
            Some(text),
            "acked message {seq} lost after kill -9"
        );
    }
    // Seqs have no holes: 1..=n.
    assert_eq!(
        stored.keys().copied().collect::<Vec<_>>(),
        (1..=stored.len() as i64).collect::<Vec<_>>()
    );
}

async fn sigterm_stores_everything_queued_and_closes_sockets_with_1001(backend: Backend) {
    let data = TestData::new(&backend);
    let server = ServerProcess::start(&data);
    let (token, mut client) = guest_in_lobby(&server).await;
    for i in 0..20 {
        client.send(json!({"type": "send", "room": "lobby", "text": format!("m{i}"), "cid": format!("c{i}")})).await;
    }
    // Let the server take them in, then ask it to stop while they may still be queued.
    client.expect_ignoring("message", &[]).await;
    server.signal("TERM");
    // What the chat server had taken in is stored and acked; what reached it after the stop
    // began is refused with `shutting_down` (and not stored): every message gets one answer.
    let mut acked = BTreeMap::new();
    let mut refused = Vec::new();
    let code = loop {
        match client.next(Duration::from_secs(10)).await {
            Ok(Some(frame)) if frame["type"] == "ack" => {
                let cid = frame["cid"].as_str().unwrap().to_owned();
                acked.insert(frame["seq"].as_i64().unwrap(), cid);
            }
            Ok(Some(frame)) if frame["type"] == "error" => {
                assert_eq!(frame["code"], "shutting_down", "{frame}");
                refused.push(frame["cid"].as_str().unwrap().to_owned());
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("no close after SIGTERM"),
            Err(Ended::Closed(reason)) => break reason.map(|r| u16::from(r.code)),
            Err(Ended::Dropped) => break None,
        }
    };
    assert_eq!(code, Some(1001), "sockets close with 1001 (going away)");
    assert_eq!(
        acked.len() + refused.len(),
        20,
        "every message sent before the stop was acked (stored) or refused (not stored)"
    );
    assert!(
        !acked.is_empty(),
        "what was taken in before the stop is stored"
    );
    assert!(server.wait(), "a graceful stop exits with success");

    let server = ServerProcess::start(&data);
    let stored = stored_texts(&server.base(), &token).await;
    let stored_cids: BTreeMap<i64, String> = stored
        .into_iter()
        .map(|(seq, text)| (seq, format!("c{}", &text[1..])))
        .collect();
    assert_eq!(stored_cids, acked, "exactly the acked messages are stored");
}

/// A stored message's id and time.
type IdAndTime = (i64, i64);

/// The history actor stores what arrived during the previous commit as one batch: several
/// rooms interleaved, resends inside the batch and of earlier messages. Each backend has its
/// own way of storing a batch (PostgreSQL in three statements from three messages); both must
/// give these outcomes.
async fn one_commit_of_several_rooms_with_resends_stores_each_message_once_in_order(
    backend: Backend,
) {
    use chat_server::db::messages::{read_window, store_batch, NewMessage, StoreOutcome, Window};
    use chat_server::db::{open_pool, rooms, users, DbTarget, SqliteSync};
    use chat_server::domain::MessageKind;
    use chat_server::domain::{Role, UserId};

    let data = TestData::new(&backend);
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 1, SqliteSync::Full).unwrap();
    let mut db = pool.get().unwrap();
    let mut guest = |name| {
        UserId(
            users::insert_user(&mut db, name, Role::Guest, None)
                .unwrap()
                .id,
        )
    };
    let (ann, bob) = (guest("ann"), guest("bob"));
    let message = |room: &str, sender, cid: Option<&str>, text: &str, kind| NewMessage {
        room: room.to_owned(),
        sender,
        cid: cid.map(str::to_owned),
        text: text.to_owned(),
        kind,
    };
    let text = MessageKind::Text;

    // Rooms interleaved, a room with no row yet, Ann's a1 twice (and once more in another
    // room), two messages without a cid, one cid used by two senders.
    let first = [
        message("lobby", ann, Some("a1"), "hi lobby", text),
        message("games", ann, Some("a2"), "hi games", text),
        message("lobby", bob, Some("b1"), "hi ann", text),
        message("lobby", ann, Some("a1"), "hi lobby", text),
        message(
            "news",
            bob,
            None,
            "Shop opens at 9",
            MessageKind::Announcement,
        ),
        message("games", bob, Some("a2"), "same cid, other sender", text),
        message(
            "news",
            bob,
            None,
            "Sale until Sunday",
            MessageKind::Announcement,
        ),
        message("games", ann, Some("a1"), "same cid, other room", text),
    ];
    let stored_as = store_batch(&mut db, &first).unwrap();
    let seqs: Vec<i64> = stored_as.iter().map(StoreOutcome::seq).collect();
    assert_eq!(
        seqs,
        [1, 1, 2, 1, 1, 2, 2, 3],
        "seqs per room, in batch order"
    );
    let as_duplicate = |o: StoreOutcome| match o {
        StoreOutcome::Stored { id, seq, ts } => StoreOutcome::Duplicate { id, seq, ts },
        duplicate => duplicate,
    };
    assert_eq!(
        stored_as[3],
        as_duplicate(stored_as[0]),
        "the resend inside the batch names the first copy"
    );
    let fresh = stored_as
        .iter()
        .filter(|o| matches!(o, StoreOutcome::Stored { .. }));
    assert_eq!(fresh.count(), 7);

    // The next commit: resends of earlier messages (one of them twice), and a new one.
    let second = [
        message("lobby", bob, Some("b1"), "hi ann", text),
        message("lobby", ann, Some("a3"), "anyone?", text),
        message("games", ann, Some("a2"), "hi games", text),
        message("lobby", bob, Some("b1"), "hi ann", text),
    ];
    let outcomes = store_batch(&mut db, &second).unwrap();
    let seqs: Vec<i64> = outcomes.iter().map(StoreOutcome::seq).collect();
    assert_eq!(seqs, [2, 3, 1, 2]);
    assert!(matches!(outcomes[1], StoreOutcome::Stored { .. }));
    // A resend is answered with its first copy's id, seq and time.
    for (resend, first) in [(0, 2), (2, 1), (3, 2)] {
        assert_eq!(
            outcomes[resend],
            as_duplicate(stored_as[first]),
            "message {resend} of the second batch is message {first} of the first"
        );
    }
    assert_eq!(rooms::last_seq(&mut db, "lobby").unwrap(), 3);
    assert_eq!(rooms::last_seq(&mut db, "games").unwrap(), 3);

    // Each column landed where it belongs, under the id and time the store answered.
    let id_and_ts = |o: &StoreOutcome| match *o {
        StoreOutcome::Stored { id, ts, .. } | StoreOutcome::Duplicate { id, ts, .. } => (id, ts),
        StoreOutcome::Refused => panic!("public rooms are never closed"),
    };
    let (lobby, _) = read_window(&mut db, "lobby", Window::Latest, 10).unwrap();
    let lobby: Vec<(IdAndTime, i64, &str, i64, Option<&str>)> = lobby
        .iter()
        .map(|m| {
            (
                (m.id, m.ts),
                m.seq,
                m.text.as_str(),
                m.from.id.0,
                m.cid.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        lobby,
        [
            (id_and_ts(&stored_as[0]), 1, "hi lobby", ann.0, Some("a1")),
            (id_and_ts(&stored_as[2]), 2, "hi ann", bob.0, Some("b1")),
            (id_and_ts(&outcomes[1]), 3, "anyone?", ann.0, Some("a3")),
        ]
    );
    let (news, _) = read_window(&mut db, "news", Window::Latest, 10).unwrap();
    let news: Vec<(i64, &str, MessageKind, Option<&str>)> = news
        .iter()
        .map(|m| (m.id, m.text.as_str(), m.kind, m.cid.as_deref()))
        .collect();
    let announcement = MessageKind::Announcement;
    assert_eq!(
        news,
        [
            (
                id_and_ts(&stored_as[4]).0,
                "Shop opens at 9",
                announcement,
                None
            ),
            (
                id_and_ts(&stored_as[6]).0,
                "Sale until Sunday",
                announcement,
                None
            ),
        ]
    );
    let (games, _) = read_window(&mut db, "games", Window::Latest, 10).unwrap();
    let games: Vec<(i64, &str)> = games.iter().map(|m| (m.seq, m.text.as_str())).collect();
    assert_eq!(
        games,
        [
            (1, "hi games"),
            (2, "same cid, other sender"),
            (3, "same cid, other room")
        ]
    );
}

/// What one client saw while it sent as fast as it could through a graceful stop.
#[derive(Default)]
struct Blast {
    /// Acked: cid -> seq.
    acked: BTreeMap<String, i64>,
    /// Refused with `shutting_down`.
    refused: Vec<String>,
    /// The close code.
    close: Option<u16>,
}

/// Sends messages (text = cid) as fast as the socket takes them until the server closes it.
async fn blast_until_closed(mut client: WsClient, name: String) -> Blast {
    let mut seen = Blast::default();
    let mut next = 0;
    loop {
        for _ in 0..10 {
            let cid = format!("{name}-{next}");
            next += 1;
            let frame = json!({"type": "send", "room": "lobby", "text": cid, "cid": cid});
            // The server may close while we write: then the reads below see how.
            if client.try_send(frame).await.is_err() {
                break;
            }
        }
        loop {
            match client.next(Duration::from_millis(2)).await {
                Ok(Some(frame)) if frame["type"] == "ack" => {
                    let cid = frame["cid"].as_str().unwrap().to_owned();
                    seen.acked.insert(cid, frame["seq"].as_i64().unwrap());
                }
                Ok(Some(frame)) if frame["type"] == "error" => {
                    assert_eq!(frame["code"], "shutting_down", "{frame}");
                    seen.refused.push(frame["cid"].as_str().unwrap().to_owned());
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(Ended::Closed(reason)) => {
                    seen.close = reason.map(|r| u16::from(r.code));
                    return seen;
                }
                Err(Ended::Dropped) => return seen,
            }
        }
    }
}

async fn sigterm_under_steady_traffic_refuses_new_sends_and_exits_within_the_timeout(
    backend: Backend,
) {
    let data = TestData::new(&backend);
    let env = [
        ("CHAT_SHUTDOWN_TIMEOUT", "4s"),
        ("CHAT_RATE_PER_SEC", "100000"),
        ("CHAT_RATE_BURST", "100000"),
        ("CHAT_SESSION_QUEUE", "100000"),
    ];
    let server = ServerProcess::start_with_env(&data, &env);
    let mut senders = Vec::new();
    let mut token = String::new();
    for i in 0..4 {
        let (t, client) = guest_in_lobby(&server).await;
        token = t;
        senders.push(actix_rt::spawn(blast_until_closed(client, format!("s{i}"))));
    }
    // Traffic is flowing: the outbox is never empty for long.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let signalled = std::time::Instant::now();
    server.signal("TERM");
    let mut seen = Vec::new();
    for sender in senders {
        seen.push(sender.await.expect("sender"));
    }
    assert!(server.wait(), "a graceful stop exits with success");
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "the process exits within the shutdown timeout (4 s), took {took:?}"
    );
    for blast in &seen {
        assert_eq!(blast.close, Some(1001), "sockets close with 1001");
    }
    // Sends that arrive while the queue drains are refused with `shutting_down` (how many
    // depends on timing; `a_send_during_a_stop_is_refused_and_not_stored` pins it down).

    let server = ServerProcess::start(&data);
    let stored = stored_texts(&server.base(), &token).await;
    let stored_texts: std::collections::HashSet<&String> = stored.values().collect();
    for blast in &seen {
        for (cid, seq) in &blast.acked {
            assert_eq!(stored.get(seq), Some(cid), "acked {cid} is stored as {seq}");
        }
        for cid in &blast.refused {
            assert!(!stored_texts.contains(cid), "refused {cid} was not stored");
        }
    }
}
