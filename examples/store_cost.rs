//! What storing a message costs the message writer, in instructions: batches shaped like
//! chat-bench's durable-ack run (`fanout --rooms 500 --members 2 --senders 2`: two senders per
//! room, every message with a cid, consecutive messages in different rooms) stored through
//! `db::messages::store_batch_with` into a fresh database, the way the writer stores them.
//!
//! Wall time on a shared machine says little; instruction counts repeat whatever the load, so
//! run it under callgrind, counting only the stores (not the setup, not the checkpoints):
//!
//! ```sh
//! cargo build --release --example store_cost
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='store_cost::store_one' \
//!   target/release/examples/store_cost [--batches 200] [--batch 50] [--rooms 500] \
//!   [--url <postgres://... of an empty database>] [--cache-kib <SQLite page cache>] \
//!   [--resends on]
//! ```
//!
//! and divide the total (`callgrind_annotate`'s "PROGRAM TOTALS") by the messages it prints.
//! Before the measured batches, `--warmup` batches (default 20) create every room's row, as in
//! a server that has been running for a while. Results are checked: every message stored once,
//! with its room's next seq.

use chat_server::db::connection::{checkpoint, DbTarget, SqliteSync};
use chat_server::db::messages::{store_batch_with, Events, NewMessage, StoreOutcome};
use chat_server::db::{open_pool, users, DbConn};
use chat_server::domain::{MessageKind, Role, UserId};
use std::collections::HashMap;

struct Options {
    batches: usize,
    batch: usize,
    rooms: usize,
    warmup: usize,
    url: Option<String>,
    /// SQLite's page cache in KiB, instead of the server's own setting (`db::connection`).
    cache_kib: Option<usize>,
    /// Each measured batch also resends the first message of the batch before it (the worst
    /// case: after a reconnect, a resend in every batch).
    resends: bool,
}

fn options() -> Options {
    let mut o = Options {
        batches: 200,
        batch: 50,
        rooms: 500,
        warmup: 20,
        url: None,
        cache_kib: None,
        resends: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).expect("every option takes a value");
        let number = || value.parse::<usize>().expect("a number");
        match pair[0].as_str() {
            "--batches" => o.batches = number(),
            "--batch" => o.batch = number(),
            "--rooms" => o.rooms = number(),
            "--warmup" => o.warmup = number(),
            "--url" => o.url = Some(value.clone()),
            "--cache-kib" => o.cache_kib = Some(number()),
            "--resends" => o.resends = value == "on",
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// The one call callgrind counts (`--toggle-collect`).
#[inline(never)]
fn store_one(conn: &mut DbConn, batch: &[NewMessage]) -> Vec<StoreOutcome> {
    store_batch_with(conn, batch, Events::Off).expect("the batch is stored")
}

fn main() {
    let o = options();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = match &o.url {
        Some(url) => DbTarget::from_url(url),
        None => DbTarget::Sqlite(dir.path().join("chat.db")),
    };
    let pool = open_pool(&target, 1, SqliteSync::Full).expect("the database opens");
    let mut conn = pool.get().expect("a connection");
    if let (Some(kib), DbConn::Sqlite(c)) = (o.cache_kib, &mut *conn) {
        use diesel::connection::SimpleConnection;
        c.batch_execute(&format!("PRAGMA cache_size = -{kib}"))
            .expect("the cache size is set");
    }

    // Two members per room, both sending, as in the benchmark.
    let senders: Vec<UserId> = (0..o.rooms * 2)
        .map(|i| {
            let row = users::insert_user(&mut conn, &format!("bench-user-{i}"), Role::Guest, None)
                .expect("a user");
            UserId(row.id)
        })
        .collect();

    let mut next_seq: HashMap<String, i64> = HashMap::new();
    let mut sent = 0usize;
    let make_batch = |sent: &mut usize| -> Vec<NewMessage> {
        (0..o.batch)
            .map(|_| {
                let n = *sent;
                *sent += 1;
                let room = n % o.rooms;
                let sender = senders[room * 2 + (n / o.rooms) % 2];
                NewMessage {
                    room: format!("bench-{room}"),
                    sender,
                    cid: Some(format!("{}-{n}-0-1733500000{:09}", sender.0, n)),
                    text: format!("b|{}|{n}|0|1733500000{:09}|", sender.0, n) + &"x".repeat(24),
                    kind: MessageKind::Text,
                }
            })
            .collect()
    };

    let mut stored = 0usize;
    let mut previous: Option<NewMessage> = None;
    for b in 0..o.warmup + o.batches {
        let mut batch = make_batch(&mut sent);
        let first = batch[0].clone();
        if let (true, true, Some(resent)) = (o.resends, b >= o.warmup, previous.take()) {
            batch.push(resent);
        }
        previous = Some(first);
        let outcomes = if b < o.warmup {
            store_batch_with(&mut conn, &batch, Events::Off).expect("the batch is stored")
        } else {
            stored += o.batch;
            store_one(&mut conn, &batch)
        };
        if let Some(resent) = outcomes.get(o.batch) {
            assert!(
                matches!(resent, StoreOutcome::Duplicate { .. }),
                "a resend got {resent:?}"
            );
        }
        for (m, outcome) in batch.iter().zip(&outcomes).take(o.batch) {
            let seq = next_seq.entry(m.room.clone()).or_insert(0);
            *seq += 1;
            assert!(
                matches!(*outcome, StoreOutcome::Stored { seq: s, .. } if s == *seq),
                "{} got {outcome:?}, expected seq {seq}",
                m.room
            );
        }
        // The server checkpoints every 250 ms on another thread; here every 10 batches.
        if b % 10 == 9 {
            checkpoint(&mut conn).expect("a checkpoint");
        }
    }
    println!(
        "stored {stored} messages in {} batches of {}{} over {} rooms ({}{}; {} warm-up batches not counted)",
        o.batches,
        o.batch,
        if o.resends { " and a resend" } else { "" },
        o.rooms,
        target.describe(),
        o.cache_kib
            .map(|k| format!(", page cache {k} KiB"))
            .unwrap_or_default(),
        o.warmup
    );
}
