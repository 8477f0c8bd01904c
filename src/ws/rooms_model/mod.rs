//! A property test over a model of rooms: a few clients (two of them tabs of one user) join,
//! leave, send, resend with the same cid, disconnect and recover (`join` with `since`) in
//! random interleavings, while the history actor's requests run and are answered in random
//! order. Whatever happens, no client is shown a gap, a duplicate or a reorder of seqs: after
//! each `joined`, its messages and then the live `message` frames of the room go up one by one
//! from the seq it recovers from.
//!
//! The harness runs the real code a message passes through: the decoder ([`super::decode`]),
//! the chat server's plain state ([`Registry`], [`LiveRooms`], [`JoinsInFlight`],
//! [`MembershipQueue`], [`Outbox`], [`fanout`]), the real `store_batch` (seqs, resends by
//! cid) and `open_room` (the `joined` snapshot through the real read windows) on SQLite, and
//! the session's [`JoiningRooms`]. What it writes itself is the actors' routing, step by step
//! as `chat/handlers.rs`, `chat/server.rs`, `chat/membership_changes.rs` and
//! `ws/session.rs` do it (each step names its original), with the actors' asynchrony made
//! explicit: every history request is a task that the generated schedule runs, and answers,
//! when it likes. Left out, as they do not touch seqs: presence and typing frames, the
//! account read of `Connect`, support rooms, the rate budget.

mod chat;
mod client;

use super::decode::{self, Request};
use super::joining::{Arrival, JoiningRooms};
use crate::chat::fanout::{self, Deliveries, Skip};
use crate::chat::membership::{Change, JoinsInFlight, MembershipQueue, OpenRequest};
use crate::chat::messages::SessionId;
use crate::chat::messages::{
    About, FrameBatch, Join, JoinedParts, Leave, OutFrame, Outgoing, Publish,
};
use crate::chat::outbox::{Commit, Origin, Outbox, OutboxLimits, PendingMessage};
use crate::chat::refusals::not_joined;
use crate::chat::registry::Registry;
use crate::chat::rooms::LiveRooms;
use crate::db::messages::{read_window, store_batch, StoreOutcome, Window};
use crate::db::{open_pool, rooms as db_rooms, users, DbPool, DbTarget, SqliteSync, StorageError};
use crate::domain::{MessageKind, Role, RoomName, UserInfo};
use crate::history::actor::open_room;
use crate::history::messages::{OpenRoom, RoomSnapshot};
use crate::protocol::{ServerFrame, WireMessage};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Clients: 0 and 2 are two tabs of one user, 1 is another user.
const CLIENTS: usize = 3;
const ROOMS: usize = 2;
/// Messages of a `joined` without `since` (the server's default is 50: small here, so that
/// windows are cut).
const LATEST: i64 = 3;

/// One step of a schedule.
#[derive(Debug, Clone)]
enum Op {
    /// The client opens a socket (if it has none) and joins every room of its list again,
    /// with `since` where it has a first page: recovery.
    Connect(usize),
    /// The client joins a room (with `since` if it has a page of it).
    Join(usize, usize),
    /// The client leaves a room.
    Leave(usize, usize),
    /// The client sends a new message to a room.
    Send(usize, usize),
    /// The client sends one of its earlier messages again, same cid.
    Resend(usize, Index),
    /// The client's socket goes away.
    Disconnect(usize),
    /// The history actor carries out one of the requests waiting for it.
    Run(Index),
    /// The chat server handles one answer of the history actor.
    Answer(Index),
}

fn op() -> impl Strategy<Value = Op> {
    let client = || 0..CLIENTS;
    let room = || 0..ROOMS;
    prop_oneof![
        2 => client().prop_map(Op::Connect),
        3 => (client(), room()).prop_map(|(c, r)| Op::Join(c, r)),
        1 => (client(), room()).prop_map(|(c, r)| Op::Leave(c, r)),
        5 => (client(), room()).prop_map(|(c, r)| Op::Send(c, r)),
        2 => (client(), any::<Index>()).prop_map(|(c, i)| Op::Resend(c, i)),
        1 => client().prop_map(Op::Disconnect),
        6 => any::<Index>().prop_map(Op::Run),
        6 => any::<Index>().prop_map(Op::Answer),
    ]
}

/// A request of the chat server to the history actor, and its result once it has run.
enum Task {
    /// `StoreMessages`: one batch of the outbox.
    Store {
        pending: Vec<PendingMessage>,
        done: Option<Result<Vec<StoreOutcome>, StorageError>>,
    },
    /// `OpenRoom`: the membership and the `joined` snapshot.
    Open {
        user: UserInfo,
        open: OpenRequest,
        done: Option<Result<RoomSnapshot, StorageError>>,
    },
    /// `ForgetRoom`.
    Forget {
        user: UserInfo,
        room: RoomName,
        done: Option<Result<(), StorageError>>,
    },
}

impl Task {
    fn has_run(&self) -> bool {
        match self {
            Task::Store { done, .. } => done.is_some(),
            Task::Open { done, .. } => done.is_some(),
            Task::Forget { done, .. } => done.is_some(),
        }
    }
}

/// What a page knows of a room it lists (static/lib/rooms.js: `loaded`, `seenSeq`).
#[derive(Default)]
struct Page {
    loaded: bool,
    seen: i64,
    /// The seq the current socket has shown last, from its latest `joined` on: the next live
    /// message must be the one after it. `None` until that `joined`.
    shown: Option<i64>,
}

/// A browser tab: its socket's session (the session actor's [`JoiningRooms`]) and its page.
struct Client {
    user: UserInfo,
    session: Option<SessionId>,
    joining: JoiningRooms,
    pages: BTreeMap<usize, Page>,
    /// For each room, `since` of each join sent on this socket and not yet answered, oldest
    /// first (kept when the page leaves the room: the answer may still come).
    asked: BTreeMap<usize, VecDeque<Option<i64>>>,
    /// (room, cid) of every message it sent.
    sent: Vec<(usize, String)>,
}

/// The chat server's state, as in `chat/server.rs`.
struct Chat {
    registry: Registry<()>,
    rooms: LiveRooms,
    outbox: Outbox,
    membership: MembershipQueue,
    joins: JoinsInFlight,
}

struct Model {
    pool: DbPool,
    /// Most messages a recovery returns (`recovered: false` past it).
    recovery_cap: i64,
    names: Vec<RoomName>,
    chat: Chat,
    clients: Vec<Client>,
    tasks: Vec<Task>,
    /// Every (user, room, cid) acked, with its seq: a resend is acked with the same seq.
    acked: HashMap<(i64, String, String), i64>,
    /// Every message shown, by room and seq: one seq is always the same message.
    shown: HashMap<(String, i64), i64>,
    trace: Vec<String>,
}

impl Model {
    fn new(pool: DbPool, users: &[UserInfo; 2], case: u64, recovery_cap: i64) -> Model {
        let names = (0..ROOMS)
            .map(|r| RoomName::parse(&format!("case{case}-r{r}")).unwrap())
            .collect();
        let clients = (0..CLIENTS)
            .map(|c| Client {
                user: users[c % 2].clone(),
                session: None,
                joining: JoiningRooms::new(10_000),
                pages: BTreeMap::new(),
                asked: BTreeMap::new(),
                sent: Vec::new(),
            })
            .collect();
        Model {
            pool,
            recovery_cap,
            names,
            chat: Chat {
                registry: Registry::default(),
                rooms: LiveRooms::new(500),
                outbox: Outbox::new(OutboxLimits {
                    max_batch: 4,
                    commit_interval: Duration::ZERO,
                    max_queued: usize::MAX,
                    stall_after: Duration::MAX,
                }),
                membership: MembershipQueue::default(),
                joins: JoinsInFlight::default(),
            },
            clients,
            tasks: Vec::new(),
            acked: HashMap::new(),
            shown: HashMap::new(),
            trace: Vec::new(),
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Connect(c) => self.connect(c),
            Op::Join(c, r) => {
                self.clients[c].pages.entry(r).or_default();
                self.client_join(c, r);
            }
            Op::Leave(c, r) => self.client_leave(c, r),
            Op::Send(c, r) => {
                let cid = format!("c{c}-{}", self.clients[c].sent.len());
                self.clients[c].sent.push((r, cid.clone()));
                self.client_send(c, r, &cid);
            }
            Op::Resend(c, i) => {
                if self.clients[c].sent.is_empty() {
                    return;
                }
                let (r, cid) = self.clients[c].sent[i.index(self.clients[c].sent.len())].clone();
                self.client_send(c, r, &cid);
            }
            Op::Disconnect(c) => self.disconnect(c),
            Op::Run(i) => {
                let waiting: Vec<usize> = (0..self.tasks.len())
                    .filter(|&t| !self.tasks[t].has_run())
                    .collect();
                if !waiting.is_empty() {
                    self.run(waiting[i.index(waiting.len())]);
                }
            }
            Op::Answer(i) => {
                let ran: Vec<usize> = (0..self.tasks.len())
                    .filter(|&t| self.tasks[t].has_run())
                    .collect();
                if !ran.is_empty() {
                    self.answer(ran[i.index(ran.len())]);
                }
            }
        }
    }

    /// Runs and answers every request until none is left (the server at rest).
    fn settle(&mut self) {
        while !self.tasks.is_empty() {
            if let Some(t) = (0..self.tasks.len()).find(|&t| !self.tasks[t].has_run()) {
                self.run(t);
            }
            if let Some(t) = (0..self.tasks.len()).find(|&t| self.tasks[t].has_run()) {
                self.answer(t);
            }
        }
    }

    // The client and its session (ws/session.rs): `client.rs`; the chat server
    // (chat/handlers.rs, chat/server.rs, chat/membership_changes.rs): `chat.rs`.

    /// At rest, every client still in a room has been shown all of it, and every message
    /// shown is the one stored under its seq.
    fn check_at_rest(&mut self) {
        let mut conn = self.pool.get().unwrap();
        for (c, client) in self.clients.iter().enumerate() {
            if client.session.is_none() {
                continue;
            }
            for (r, page) in &client.pages {
                let last = db_rooms::last_seq(&mut conn, self.names[*r].as_str()).unwrap();
                assert_eq!(
                    page.shown,
                    Some(last),
                    "client {c} at rest in room {r}, whose last seq is {last}\n{}",
                    self.trace()
                );
            }
        }
        for ((room, seq), id) in &self.shown {
            let (stored, _) = read_window(&mut conn, room, Window::After(seq - 1), 1).unwrap();
            assert_eq!(stored[0].id, *id, "seq {seq} of {room}");
        }
    }
}

/// A database shared by every case (each case has rooms of its own), with the two users.
fn database() -> (tempfile::TempDir, DbPool, [UserInfo; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let target = DbTarget::Sqlite(dir.path().join("chat.db"));
    let pool = open_pool(&target, 1, SqliteSync::Normal).unwrap();
    let mut conn = pool.get().unwrap();
    let mut user = |name: &str| {
        let row = users::insert_user(&mut conn, name, Role::User, None).unwrap();
        row.info()
    };
    let users = [user("ann"), user("bob")];
    drop(conn);
    (dir, pool, users)
}

/// Runs a schedule to its end, then lets the server come to rest.
fn run_schedule(pool: &DbPool, users: &[UserInfo; 2], case: u64, cap: i64, ops: &[Op]) {
    let mut model = Model::new(pool.clone(), users, case, cap);
    for op in ops {
        model.step(op);
    }
    model.settle();
    model.check_at_rest();
}

#[test]
fn no_member_is_shown_a_gap_a_duplicate_or_a_reorder() {
    let (_dir, pool, users) = database();
    let mut runner = TestRunner::new(Config {
        // Each case stores and reads on SQLite: fewer cases than the decoder's, more with
        // PROPTEST_CASES.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::cell::Cell::new(0u64);
    // The server's recovery cap (1000), or one so small that recoveries are cut short.
    let cap = prop_oneof![Just(1000i64), 1i64..3];
    let schedule = (prop::collection::vec(op(), 1..60), cap);
    let result = runner.run(&schedule, |(ops, cap)| {
        case.set(case.get() + 1);
        run_schedule(&pool, &users, case.get(), cap, &ops);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
