//! Storing message batches the way the message writer does, statement by statement
//! (`db::store_statements`: every batch on SQLite, the small ones on PostgreSQL), called here
//! directly so that large batches take that way on PostgreSQL too: seqs per room without a gap,
//! rooms created by their first message, resends within a batch and across batches answered
//! with the first copy, webhook events in the same commit. The resend stories run the writer's
//! own way too (`db::messages::store_batch_with`): on PostgreSQL the one statement of
//! `db::store_pg_one` (public rooms) or the array statements of `db::store_pg_arrays` for three
//! messages or more; on SQLite that is the same way again.

use crate::helpers::{Backend, TestData};
use crate::on_both_backends;
use chat_server::db::messages::{
    read_window, store_batch_with, Events, NewMessage, StoreOutcome, Window,
};
use chat_server::db::store_statements::store_batch;
use chat_server::db::{
    open_pool, rooms, users, DbConn, DbPool, DbTarget, SqliteSync, StorageError,
};
use chat_server::domain::{MessageKind, Role, UserId};
use std::collections::HashMap;

on_both_backends!(
    a_batch_over_many_rooms_gets_gap_free_seqs_in_each_from_its_first_message_on,
    one_busy_room_takes_hundreds_of_messages_in_one_batch_in_order,
    resends_within_a_batch_and_across_batches_get_the_first_copys_seq_and_leave_no_gap,
    support_messages_stored_with_a_resend_get_their_events_once,
    the_writers_way_answers_resends_with_the_first_copys_seq_and_leaves_no_gap,
    the_writers_way_enqueues_the_events_of_a_batch_with_a_resend_once,
    a_batch_stored_again_with_its_rooms_locked_answers_its_resend_and_stores_the_rest,
);

/// A way of storing a batch: statement by statement, or the writer's.
type Store = fn(&mut DbConn, &[NewMessage], Events) -> Result<Vec<StoreOutcome>, StorageError>;

fn message(room: &str, sender: UserId, cid: Option<&str>, text: &str) -> NewMessage {
    NewMessage {
        room: room.to_owned(),
        sender,
        cid: cid.map(str::to_owned),
        text: text.to_owned(),
        kind: MessageKind::Text,
    }
}

fn database(backend: &Backend) -> (TestData, DbPool, UserId, UserId) {
    let data = TestData::new(backend);
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
    drop(db);
    (data, pool, ann, bob)
}

fn stored(outcome: &StoreOutcome) -> (i64, i64) {
    match *outcome {
        StoreOutcome::Stored { id, seq, .. } => (id, seq),
        other => panic!("expected a fresh message, got {other:?}"),
    }
}

/// A room's texts as a reader sees them, oldest first.
fn texts(db: &mut chat_server::db::DbConn, room: &str) -> Vec<String> {
    read_window(db, room, Window::After(0), 1000)
        .unwrap()
        .0
        .into_iter()
        .map(|m| m.text)
        .collect()
}

/// 150 rooms in one batch (more than one statement's worth of rows), in an order that is not
/// their byte order, some with a row already (joined, or with messages), most created by this
/// very batch; two senders in each, interleaved.
async fn a_batch_over_many_rooms_gets_gap_free_seqs_in_each_from_its_first_message_on(
    backend: Backend,
) {
    let (_data, pool, ann, bob) = database(&backend);
    let mut db = pool.get().unwrap();
    let room = |r: usize| format!("room-{}", (r * 37) % 150);
    rooms::add_member(&mut db, ann, &room(3)).unwrap();
    let earlier = store_batch(
        &mut db,
        &[message(&room(5), ann, Some("e1"), "earlier")],
        Events::Off,
    )
    .unwrap();
    assert_eq!(stored(&earlier[0]).1, 1);

    let mut batch = Vec::new();
    for round in 0..2 {
        for r in 0..150 {
            let sender = if round == 0 { ann } else { bob };
            let cid = format!("{round}-{r}");
            batch.push(message(
                &room(r),
                sender,
                Some(&cid),
                &format!("{round} in {r}"),
            ));
        }
    }
    let outcomes = store_batch(&mut db, &batch, Events::Off).unwrap();

    let mut ids = std::collections::HashSet::new();
    for (i, (m, outcome)) in batch.iter().zip(&outcomes).enumerate() {
        let (id, seq) = stored(outcome);
        assert!(ids.insert(id), "ids are unique");
        let before = if m.room == room(5) { 1 } else { 0 };
        assert_eq!(seq, before + 1 + (i / 150) as i64, "{} at {i}", m.room);
    }
    for r in [0, 3, 5, 149] {
        let expected_last = if r == 5 { 3 } else { 2 };
        assert_eq!(rooms::last_seq(&mut db, &room(r)).unwrap(), expected_last);
        let mut expected = if r == 5 {
            vec!["earlier".to_owned()]
        } else {
            vec![]
        };
        expected.extend([format!("0 in {r}"), format!("1 in {r}")]);
        assert_eq!(texts(&mut db, &room(r)), expected);
    }
}

/// 200 messages of one room in one batch (several statements of different sizes), among them
/// messages without a cid, which are never taken for resends.
async fn one_busy_room_takes_hundreds_of_messages_in_one_batch_in_order(backend: Backend) {
    let (_data, pool, ann, _) = database(&backend);
    let mut db = pool.get().unwrap();
    let batch: Vec<NewMessage> = (0..200)
        .map(|n| {
            let cid = (n % 3 != 0).then(|| format!("c{n}"));
            message("lobby", ann, cid.as_deref(), "same text")
        })
        .collect();
    let outcomes = store_batch(&mut db, &batch, Events::Off).unwrap();
    let seqs: Vec<i64> = outcomes.iter().map(|o| stored(o).1).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<i64>>());
    let ids: Vec<i64> = outcomes.iter().map(|o| stored(o).0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids follow the seqs");
    assert_eq!(texts(&mut db, "lobby").len(), 200);
}

/// A page that reconnects resends what it has not seen acked, possibly twice in one batch,
/// beside fresh messages of several rooms: each resend is answered with the first copy's seq,
/// nothing is stored twice, and the fresh messages close up behind the stored ones.
async fn resends_within_a_batch_and_across_batches_get_the_first_copys_seq_and_leave_no_gap(
    backend: Backend,
) {
    resends_get_the_first_copys_seq(backend, store_batch);
}

/// The same, the way the message writer stores (on PostgreSQL: one statement for a batch of
/// public rooms, which fails whole on a resend, and then the array statements, which look the
/// earlier copies up first).
async fn the_writers_way_answers_resends_with_the_first_copys_seq_and_leaves_no_gap(
    backend: Backend,
) {
    resends_get_the_first_copys_seq(backend, store_batch_with);
}

fn resends_get_the_first_copys_seq(backend: Backend, store_batch: Store) {
    let (_data, pool, ann, bob) = database(&backend);
    let mut db = pool.get().unwrap();
    let first = [
        message("lobby", ann, Some("a1"), "a1"),
        message("games", bob, Some("b1"), "b1"),
        message("lobby", ann, Some("a2"), "a2"),
        message("lobby", ann, Some("a1"), "a1 again in the same batch"),
    ];
    let outcomes = store_batch(&mut db, &first, Events::Off).unwrap();
    let (a1, a2) = (stored(&outcomes[0]), stored(&outcomes[2]));
    assert_eq!((a1.1, stored(&outcomes[1]).1, a2.1), (1, 1, 2));
    assert!(matches!(outcomes[3], StoreOutcome::Duplicate { id, seq: 1, .. } if id == a1.0));

    // Reconnected: a2 resent twice, then new ones; Bob's b1 cid in another room is new there;
    // the same cid from Bob in the lobby is not Ann's.
    let second = [
        message("news", ann, Some("n1"), "n1"),
        message("lobby", ann, Some("a2"), "a2 resent"),
        message("lobby", ann, Some("a3"), "a3"),
        message("lobby", bob, Some("a2"), "bob's own a2"),
        message("lobby", ann, Some("a2"), "a2 resent twice"),
        message("games", bob, Some("b2"), "b2"),
        message("lobby", bob, Some("b1"), "b1 in the lobby"),
    ];
    let outcomes = store_batch(&mut db, &second, Events::Off).unwrap();
    let seq = |i: usize| outcomes[i].seq();
    assert_eq!(stored(&outcomes[0]).1, 1, "a room's first message");
    assert!(matches!(outcomes[1], StoreOutcome::Duplicate { id, seq: 2, .. } if id == a2.0));
    assert!(matches!(outcomes[4], StoreOutcome::Duplicate { id, seq: 2, .. } if id == a2.0));
    assert_eq!(
        (seq(2), seq(3), seq(6)),
        (3, 4, 5),
        "no gap where the resends were"
    );
    assert_eq!(stored(&outcomes[5]).1, 2);
    assert_eq!(rooms::last_seq(&mut db, "lobby").unwrap(), 5);
    assert_eq!(
        texts(&mut db, "lobby"),
        ["a1", "a2", "a3", "bob's own a2", "b1 in the lobby"]
    );

    // A batch of nothing but resends stores nothing and moves no counter.
    let again = store_batch(&mut db, &second[1..2], Events::Off).unwrap();
    assert!(matches!(again[0], StoreOutcome::Duplicate { seq: 2, .. }));
    assert_eq!(rooms::last_seq(&mut db, "lobby").unwrap(), 5);
}

/// A writer whose insert met another writer's copy of one of its resends stores the batch again
/// inside a transaction that holds its rooms' locks (`db::messages`): that way too, the resend
/// is answered with the first copy's seq and the batch's fresh messages are stored, gap-free.
async fn a_batch_stored_again_with_its_rooms_locked_answers_its_resend_and_stores_the_rest(
    backend: Backend,
) {
    use diesel::Connection;
    let (_data, pool, ann, bob) = database(&backend);
    let mut db = pool.get().unwrap();
    let a1 = [message("lobby", ann, Some("a1"), "a1")];
    let first = store_batch_with(&mut db, &a1, Events::Off).unwrap();
    let batch = [
        message("lobby", ann, Some("a1"), "a1 resent"),
        message("lobby", bob, Some("b1"), "b1"),
        message("games", ann, None, "g1"),
    ];
    let outcomes = db
        .transaction(|db| {
            rooms::lock_rooms(db, ["games", "lobby"])?;
            store_batch_with(db, &batch, Events::Off)
        })
        .expect("stored inside the rooms' lock");
    assert!(
        matches!(outcomes[0], StoreOutcome::Duplicate { id, seq: 1, .. } if id == stored(&first[0]).0)
    );
    assert_eq!((stored(&outcomes[1]).1, stored(&outcomes[2]).1), (2, 1));
    assert_eq!(texts(&mut db, "lobby"), ["a1", "b1"]);
    assert_eq!(rooms::last_seq(&mut db, "lobby").unwrap(), 2);
}

/// With webhooks on, a batch that holds a resend (stored again after its first attempt is rolled
/// back) enqueues each fresh support message's event once, and a new conversation's
/// `conversation.created` first.
async fn support_messages_stored_with_a_resend_get_their_events_once(backend: Backend) {
    events_once_beside_a_resend(backend, store_batch);
}

/// The same, the way the message writer stores.
async fn the_writers_way_enqueues_the_events_of_a_batch_with_a_resend_once(backend: Backend) {
    events_once_beside_a_resend(backend, store_batch_with);
}

fn events_once_beside_a_resend(backend: Backend, store_batch: Store) {
    use chat_server::db::webhooks::{due_heads, pending_count};
    let (_data, pool, ann, bob) = database(&backend);
    let mut db = pool.get().unwrap();
    let (support_ann, support_bob) = (format!("support:{}", ann.0), format!("support:{}", bob.0));
    let first = [message(&support_ann, ann, Some("a1"), "a1")];
    store_batch(&mut db, &first, Events::Webhooks).unwrap();
    let second = [
        message(&support_bob, bob, Some("b1"), "b1"),
        message(&support_ann, ann, Some("a1"), "a1 resent"),
        message("lobby", ann, Some("l1"), "l1"),
        message(&support_ann, ann, Some("a2"), "a2"),
    ];
    let outcomes = store_batch(&mut db, &second, Events::Webhooks).unwrap();
    assert!(matches!(
        outcomes[1],
        StoreOutcome::Duplicate { seq: 1, .. }
    ));
    assert_eq!(outcomes[3].seq(), 2);
    // a1: created + message; b1: created + message; a2: message.
    assert_eq!(pending_count(&mut db).unwrap(), 5);

    let mut events: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    loop {
        let heads = due_heads(&mut db, chat_server::domain::now_millis() + 1000, 10).unwrap();
        if heads.is_empty() {
            break;
        }
        for head in heads {
            let (m, _) = chat_server::db::webhooks::event_parts(&mut db, &head)
                .unwrap()
                .unwrap();
            events
                .entry(head.room.clone())
                .or_default()
                .push((head.event.clone(), m.seq));
            chat_server::db::webhooks::delivered(&mut db, head.id).unwrap();
        }
    }
    let event = |name: &str, seq| (name.to_owned(), seq);
    assert_eq!(
        events[&support_ann],
        [
            event("conversation.created", 1),
            event("message.created", 1),
            event("message.created", 2)
        ]
    );
    assert_eq!(
        events[&support_bob],
        [
            event("conversation.created", 1),
            event("message.created", 1)
        ]
    );
}

/// Two nodes on one PostgreSQL database store the same resend at the same moment (a client
/// that sent on node A, lost its socket and resent through the balancer to node B): each
/// writer must answer the same seq, the message must be stored once, and the room must stay
/// gap-free. Both ways of storing are raced: one message (statement by statement) and a batch
/// of five (the one statement of `db::store_pg_one`, its rooms being public).
#[test]
fn two_writers_storing_the_same_cids_at_once_store_each_message_once_with_one_seq() {
    let Some(backend) = Backend::postgres_or_skip(
        "two_writers_storing_the_same_cids_at_once_store_each_message_once_with_one_seq",
    ) else {
        return;
    };
    let (data, _one, ann, _bob) = database(&backend);
    // Two writers, two connections.
    let pool = open_pool(&DbTarget::from_url(&data.database_url), 2, SqliteSync::Full).unwrap();
    for batch_size in [1usize, 5] {
        let room = format!("race-{batch_size}");
        let rounds = 40;
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                let barrier = barrier.clone();
                let room = room.clone();
                std::thread::spawn(move || {
                    let mut db = pool.get().unwrap();
                    let mut answers = Vec::new();
                    for round in 0..rounds {
                        let batch: Vec<NewMessage> = (0..batch_size)
                            .map(|i| {
                                let cid = format!("r{round}-m{i}");
                                message(&room, ann, Some(&cid), &cid)
                            })
                            .collect();
                        barrier.wait();
                        // Kept, not unwrapped: a panic here would leave the other writer
                        // waiting at the barrier for ever.
                        answers.push(
                            chat_server::db::messages::store_batch(&mut db, &batch)
                                .map_err(|e| format!("round {round}: the store failed: {e}")),
                        );
                    }
                    answers
                })
            })
            .collect();
        let answers: Vec<Vec<Vec<StoreOutcome>>> = writers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap()
                    .into_iter()
                    .collect::<Result<_, _>>()
                    .unwrap()
            })
            .collect();
        let seq_of = |outcome: &StoreOutcome| match *outcome {
            StoreOutcome::Stored { seq, .. } | StoreOutcome::Duplicate { seq, .. } => seq,
            other => panic!("expected a stored message, got {other:?}"),
        };
        for (round, (a, b)) in answers[0].iter().zip(&answers[1]).enumerate() {
            for (i, (a, b)) in a.iter().zip(b).enumerate() {
                assert_eq!(
                    seq_of(a),
                    seq_of(b),
                    "round {round}, message {i}: both writers answer the first copy's seq"
                );
            }
        }
        let mut db = pool.get().unwrap();
        let stored = read_window(&mut db, &room, Window::After(0), 1000)
            .unwrap()
            .0;
        assert_eq!(
            stored.len(),
            rounds * batch_size,
            "each message stored once"
        );
        let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        let gap_free: Vec<i64> = (1..=(rounds * batch_size) as i64).collect();
        assert_eq!(seqs, gap_free, "the room's seqs have no gap");
    }
}
