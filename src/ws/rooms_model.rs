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

    // ---- The client and its session (ws/session.rs) ----

    fn connect(&mut self, c: usize) {
        if self.clients[c].session.is_some() {
            return;
        }
        // `Handler<Connect>`: expected, then registered (the account read is left out).
        let session = SessionId::next();
        let user = self.clients[c].user.clone();
        self.chat.registry.expect(session, user.id);
        assert!(self.chat.registry.register(session, user, 0, ()));
        let client = &mut self.clients[c];
        client.session = Some(session);
        client.joining = JoiningRooms::new(10_000);
        self.trace
            .push(format!("client {c} connects as session {}", session.0));
        // The page's `hello`: every room of its list again.
        let rooms: Vec<usize> = client.pages.keys().copied().collect();
        for r in rooms {
            self.client_join(c, r);
        }
    }

    /// A frame through the real decoder, as `WsSession::check_and_forward` does.
    fn decode(&self, c: usize, frame: serde_json::Value) -> Option<Request> {
        let session = self.clients[c].session?;
        let text = frame.to_string();
        decode::check_size(&text, 16 * 1024).unwrap();
        let frame = decode::parse_frame(&text).unwrap();
        Some(decode::to_request(frame, session, 4000).unwrap())
    }

    fn client_join(&mut self, c: usize, r: usize) {
        let page = &self.clients[c].pages[&r];
        let since = page.loaded.then_some(page.seen);
        let mut frame = serde_json::json!({"type": "join", "room": self.names[r].as_str()});
        if let Some(since) = since {
            frame["since"] = since.into();
        }
        let Some(Request::Join(join)) = self.decode(c, frame) else {
            return;
        };
        self.trace
            .push(format!("client {c} joins room {r} since {since:?}"));
        let client = &mut self.clients[c];
        client.asked.entry(r).or_default().push_back(since);
        client.joining.start(&join.room);
        self.join(join);
    }

    fn client_leave(&mut self, c: usize, r: usize) {
        let frame = serde_json::json!({"type": "leave", "room": self.names[r].as_str()});
        let Some(Request::Leave(leave)) = self.decode(c, frame) else {
            return;
        };
        self.trace.push(format!("client {c} leaves room {r}"));
        self.clients[c].pages.remove(&r);
        self.leave(leave);
    }

    fn client_send(&mut self, c: usize, r: usize, cid: &str) {
        let frame = serde_json::json!({
            "type": "send", "room": self.names[r].as_str(), "text": format!("text of {cid}"), "cid": cid,
        });
        let Some(Request::Publish(publish)) = self.decode(c, frame) else {
            return;
        };
        self.trace
            .push(format!("client {c} sends {cid} to room {r}"));
        self.publish(publish);
    }

    fn disconnect(&mut self, c: usize) {
        let Some(session) = self.clients[c].session.take() else {
            return;
        };
        self.trace.push(format!("client {c} disconnects"));
        let client = &mut self.clients[c];
        client.asked.clear();
        for page in client.pages.values_mut() {
            page.shown = None;
        }
        // `Handler<Disconnect>` → `ChatServer::remove_session`.
        self.chat.joins.forget_session(session);
        if let Some(entry) = self.chat.registry.remove(session) {
            for room in &entry.rooms {
                self.chat.rooms.leave(room, session, entry.user.id);
            }
        }
    }

    /// `WsSession::on_deliver`: what the session writes, in order, to its page.
    fn session_receives(&mut self, c: usize, item: Outgoing) {
        let mut written = Vec::new();
        let joining = &mut self.clients[c].joining;
        match item {
            Outgoing::Frames(frames) => {
                for frame in frames {
                    match joining.arrive(frame) {
                        Arrival::Write(text) => written.push(text),
                        Arrival::Held | Arrival::Dropped => {}
                        Arrival::Overflow => panic!("10,000 frames held for one room"),
                    }
                }
            }
            Outgoing::Joined(joined) => {
                let room = joined.room.clone();
                let last_seq = joined.last_seq();
                written.push(joined.encode());
                written.extend(joining.joined(&room, last_seq));
            }
            Outgoing::JoinFailed {
                room,
                text,
                still_in_room,
            } => {
                written.push(text);
                written.extend(joining.failed(&room, still_in_room));
            }
            Outgoing::Close { .. } => panic!("nobody is closed in this model"),
        }
        for text in written {
            let frame: ServerFrame = serde_json::from_str(&text).expect("a server frame");
            self.page_reads(c, frame);
        }
    }

    /// The page reads a frame: here the property is checked.
    fn page_reads(&mut self, c: usize, frame: ServerFrame) {
        let user = self.clients[c].user.id.0;
        match frame {
            ServerFrame::Joined {
                room,
                messages,
                last_seq,
                recovered,
                ..
            } => {
                let r = self.room_index(&room);
                let asked = self.clients[c].asked.entry(r).or_default();
                let since = asked.pop_front().expect("a joined answers a join");
                if !self.clients[c].pages.contains_key(&r) {
                    return; // left meanwhile
                }
                let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
                self.trace.push(format!(
                    "client {c} is shown joined room {r} since {since:?}: {seqs:?}, last_seq {last_seq}"
                ));
                let first = match since {
                    Some(since) => since + 1,
                    None => seqs.first().copied().unwrap_or(last_seq + 1),
                };
                let expected: Vec<i64> = (first..first + seqs.len() as i64).collect();
                assert_eq!(
                    seqs,
                    expected,
                    "client {c}: joined {room}\n{}",
                    self.trace()
                );
                if recovered == Some(false) {
                    assert_eq!(seqs.len() as i64, self.recovery_cap, "a recovery cut short");
                } else {
                    assert_eq!(
                        seqs.last().copied().unwrap_or(first - 1),
                        last_seq,
                        "client {c}: joined {room} ends at its last_seq\n{}",
                        self.trace()
                    );
                }
                let page = self.clients[c].pages.get_mut(&r).unwrap();
                page.shown = Some(last_seq);
                page.loaded = true;
                page.seen = last_seq;
                for m in &messages {
                    self.saw(m);
                }
            }
            ServerFrame::Message(m) => {
                let r = self.room_index(&m.room);
                let Some(page) = self.clients[c].pages.get_mut(&r) else {
                    return; // left meanwhile
                };
                let shown = page.shown;
                self.trace
                    .push(format!("client {c} is shown message {} of room {r}", m.seq));
                let Some(shown) = shown else {
                    panic!(
                        "client {c}: message {} of {} before its joined\n{}",
                        m.seq,
                        m.room,
                        self.trace()
                    );
                };
                assert_eq!(
                    m.seq,
                    shown + 1,
                    "client {c}: after {shown} of {} comes {}\n{}",
                    m.room,
                    m.seq,
                    self.trace()
                );
                let page = self.clients[c].pages.get_mut(&r).unwrap();
                page.shown = Some(m.seq);
                page.seen = m.seq;
                self.saw(&m);
            }
            ServerFrame::Ack { cid, room, seq } => {
                self.trace
                    .push(format!("client {c} is shown ack {cid} = {seq} in {room}"));
                let earlier = *self
                    .acked
                    .entry((user, room.clone(), cid.clone()))
                    .or_insert(seq);
                assert_eq!(
                    earlier,
                    seq,
                    "{cid} acked as {earlier} and {seq}\n{}",
                    self.trace()
                );
            }
            ServerFrame::Error { cid, message, .. } => {
                assert!(cid.is_some(), "client {c}: unexpected error {message}");
            }
            _ => {}
        }
    }

    fn saw(&mut self, m: &WireMessage) {
        let id = *self.shown.entry((m.room.clone(), m.seq)).or_insert(m.id);
        assert_eq!(id, m.id, "seq {} of {} is two messages", m.seq, m.room);
    }

    fn room_index(&self, room: &str) -> usize {
        self.names.iter().position(|n| n.as_str() == room).unwrap()
    }

    fn client_of(&self, session: SessionId) -> Option<usize> {
        self.clients.iter().position(|c| c.session == Some(session))
    }

    fn trace(&self) -> String {
        self.trace.join("\n")
    }

    // ---- The chat server (chat/handlers.rs, chat/server.rs, chat/membership_changes.rs) ----

    /// `ChatServer::send_to`.
    fn send_to(&mut self, session: SessionId, item: Outgoing) {
        if self.chat.registry.get(session).is_none() {
            return;
        }
        let c = self
            .client_of(session)
            .expect("a registered session has a client");
        self.session_receives(c, item);
    }

    /// `Handler<Join>`.
    fn join(&mut self, msg: Join) {
        let Join {
            session,
            room,
            since,
        } = msg;
        let Some(user) = self.chat.registry.user(session).cloned() else {
            return;
        };
        assert!(room.admits(&user), "public rooms only");
        // `ChatServer::subscribe` (presence left out).
        let was_in = match self.chat.registry.enter(session, &room) {
            Some(false) => {
                self.chat.rooms.enter(&room, session, &user);
                false
            }
            Some(true) => true,
            None => false,
        };
        self.chat.joins.start(session, &room);
        let online = self.chat.rooms.online(&room);
        let open = OpenRequest {
            session,
            room: room.clone(),
            since,
            was_in,
            online,
        };
        self.change_membership(user, &room, Change::Open(open));
    }

    /// `Handler<Leave>`.
    fn leave(&mut self, msg: Leave) {
        let Some(user) = self.chat.registry.user(msg.session).cloned() else {
            return;
        };
        // `ChatServer::unsubscribe`.
        if self.chat.registry.leave(msg.session, &msg.room).is_some() {
            self.chat.rooms.leave(&msg.room, msg.session, user.id);
        }
        let forget = Change::Forget {
            session: msg.session,
            room: msg.room.clone(),
        };
        self.change_membership(user, &msg.room, forget);
    }

    /// `Handler<Publish>`.
    fn publish(&mut self, msg: Publish) {
        let Some(entry) = self.chat.registry.get(msg.session) else {
            return;
        };
        if !entry.rooms.contains(&msg.room) {
            let error = not_joined(&msg.room, &entry.user);
            let cid = Some(msg.cid.as_str().to_owned());
            let frame = ServerFrame::error(error.code, error.message, cid, None);
            let about = About::Nothing;
            let frame = OutFrame {
                text: frame.encode(),
                about,
            };
            let frames: FrameBatch = [frame].into_iter().collect();
            self.send_to(msg.session, Outgoing::Frames(frames));
            return;
        }
        let message = PendingMessage {
            origin: Origin::Session {
                session: msg.session,
                cid: msg.cid.as_str().to_owned(),
            },
            from: entry.user.clone(),
            room: msg.room,
            text: msg.text.into_string(),
            kind: MessageKind::Text,
            arrived: std::time::Instant::now(),
        };
        if let Some(message) = self.chat.joins.park(msg.session, message) {
            self.chat.outbox.push(message);
            self.flush();
        }
    }

    /// `ChatServer::flush`.
    fn flush(&mut self) {
        match self.chat.outbox.next_commit(Instant::now()) {
            Commit::NotNow => {}
            Commit::After(_) => unreachable!("no commit interval"),
            Commit::CatchUp => unreachable!("the model has no write-ahead log"),
            Commit::Now(pending) => self.tasks.push(Task::Store {
                pending,
                done: None,
            }),
        }
    }

    /// `ChatServer::change_membership` and `start_change`.
    fn change_membership(&mut self, user: UserInfo, room: &RoomName, change: Change) {
        if let Some(now) = self.chat.membership.submit(user.id, room, change) {
            self.start_change(user, now);
        }
    }

    fn start_change(&mut self, user: UserInfo, change: Change) {
        let task = match change {
            Change::Open(open) => Task::Open {
                user,
                open,
                done: None,
            },
            Change::Forget { room, .. } => Task::Forget {
                user,
                room,
                done: None,
            },
        };
        self.tasks.push(task);
    }

    /// The history actor carries out a request (`history/actor.rs`).
    fn run(&mut self, t: usize) {
        let mut conn = self.pool.get().unwrap();
        match &mut self.tasks[t] {
            Task::Store { pending, done } => {
                let batch: Vec<_> = pending.iter().map(PendingMessage::to_new_message).collect();
                *done = Some(store_batch(&mut conn, &batch));
            }
            Task::Open { user, open, done } => {
                let request = OpenRoom {
                    user: user.id,
                    room: open.room.clone(),
                    since: open.since,
                    latest: LATEST,
                    recovery_cap: self.recovery_cap,
                    max_public_rooms: i64::MAX,
                };
                *done = Some(open_room(&mut conn, &request));
            }
            Task::Forget { user, room, done } => {
                *done = Some(db_rooms::remove_member(&mut conn, user.id, room.as_str()));
            }
        }
    }

    /// The chat server handles the answer of a request.
    fn answer(&mut self, t: usize) {
        match self.tasks.remove(t) {
            Task::Store { pending, done } => {
                // `ChatServer::flush`, its answer.
                let outcomes = done.unwrap().expect("SQLite stores the batch");
                assert_eq!(outcomes.len(), pending.len());
                self.deliver_stored(pending, outcomes);
                self.chat.outbox.committed();
                self.flush();
            }
            Task::Open { user, open, done } => {
                // `ChatServer::open_room`, its answer.
                let OpenRequest {
                    session,
                    room,
                    online: (online_count, online),
                    ..
                } = open;
                let parked = self.chat.joins.finish(session, &room);
                let snapshot = done.unwrap().expect("SQLite reads the snapshot");
                let joined = Outgoing::Joined(Box::new(JoinedParts {
                    room: room.clone(),
                    online: (online_count, online),
                    snapshot,
                }));
                self.send_to(session, joined);
                for message in parked {
                    self.chat.outbox.push(message);
                }
                self.flush();
                self.change_done(user, &room);
            }
            Task::Forget { user, room, done } => {
                done.unwrap().expect("SQLite forgets the membership");
                self.change_done(user, &room);
            }
        }
    }

    /// `ChatServer::change_done`.
    fn change_done(&mut self, user: UserInfo, room: &RoomName) {
        if let Some(next) = self.chat.membership.finished(user.id, room) {
            self.start_change(user, next);
        }
    }

    /// `ChatServer::deliver_stored` and `dispatch`.
    fn deliver_stored(&mut self, pending: Vec<PendingMessage>, outcomes: Vec<StoreOutcome>) {
        let mut deliveries = Deliveries::default();
        for (p, outcome) in pending.into_iter().zip(outcomes) {
            let seq = outcome.seq();
            let cid = p.cid().map(str::to_owned);
            if let StoreOutcome::Stored { id, seq, ts } = outcome {
                let message = WireMessage {
                    room: p.room.to_string(),
                    seq,
                    id,
                    from: p.from.clone(),
                    text: p.text.clone(),
                    ts,
                    cid,
                    kind: p.kind,
                };
                let frame = ServerFrame::Message(message).encode();
                fanout::gather_room(
                    &self.chat.rooms,
                    &self.chat.registry,
                    &p.room,
                    &frame,
                    seq,
                    Skip::Nobody,
                    &mut deliveries,
                );
            }
            let Origin::Session { session, cid } = p.origin else {
                unreachable!("no announcements in this model");
            };
            deliveries.push_ack(session, fanout::ack_frame(cid, &p.room, seq));
        }
        let mut batches = Vec::new();
        deliveries.drain_into(&mut batches);
        for (session, frames) in batches {
            self.send_to(session, Outgoing::Frames(frames));
        }
    }

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
