//! The `ChatServer` actor: one per process, owning who is connected, who is in which room,
//! presence, typing state and the queue of messages waiting to be stored. It holds state, not
//! services: the database is reached only through the history actor.
//!
//! A message travels: session → [`Publish`] → outbox → one `StoreMessages` batch (one
//! transaction, which assigns the seqs) → fan-out to the room and `ack` to the sender. Only one
//! batch is in flight at a time; whatever arrives meanwhile forms the next batch, so commits
//! group themselves under load without a timer.

use super::messages::*;
use crate::db::messages::{NewMessage, StoreOutcome};
use crate::db::models::{MessageKind, StoredMessage};
use crate::db::StorageError;
use crate::domain::{Role, RoomKind, RoomName, UserId, UserInfo};
use crate::error::ErrorCode;
use crate::history::messages::{
    Checkpoint, FetchHistory, ForgetRoom, ListRooms, OpenRoom, StoreMessages,
};
use crate::history::HistoryActor;
use crate::ws::protocol::{RoomEntry, ServerFrame};
use actix::prelude::*;
use bytestring::ByteString;
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::smallvec;
use std::collections::{HashMap, VecDeque};
use tokio::sync::oneshot;

/// Limits of what the chat server reads for a connection.
#[derive(Debug, Clone, Copy)]
pub struct ChatConfig {
    /// Messages shown by `joined` without `since`.
    pub latest: i64,
    /// Most messages a recovery (`join` with `since`) returns; past it, `recovered: false`.
    pub recovery_cap: i64,
    /// Most users online in a room that still get `presence` frames and a full `online` list;
    /// past it the room is crowded until it falls a tenth below.
    pub presence_limit: usize,
    /// How often crowded rooms hear their head count when it has changed; zero: never.
    pub crowd_count_interval: std::time::Duration,
    /// Most messages stored in one transaction.
    pub max_batch: usize,
    /// Least time between the starts of two commits (group commit: fewer, larger transactions
    /// under load, at the price of this much latency at most).
    pub commit_interval: std::time::Duration,
    /// How often the history actor is asked to checkpoint the database's log
    /// ([`crate::db::DbTarget::checkpoint_every`]); `None`: never.
    pub checkpoint_every: Option<std::time::Duration>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            latest: 50,
            recovery_cap: 1000,
            presence_limit: 500,
            crowd_count_interval: std::time::Duration::from_secs(10),
            max_batch: 2048,
            commit_interval: std::time::Duration::ZERO,
            checkpoint_every: None,
        }
    }
}

/// WebSocket close code for a connection that cannot keep up (1013: try again later).
pub const CLOSE_SLOW_CONSUMER: u16 = 1013;
/// WebSocket close code for a banned account (1008: policy violation).
pub const CLOSE_POLICY: u16 = 1008;
/// WebSocket close code on shutdown (1001: going away).
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// The chat server actor. Start it once per process and share its address.
pub struct ChatServer {
    history: Addr<HistoryActor>,
    config: ChatConfig,
    sessions: FxHashMap<SessionId, SessionEntry>,
    rooms: HashMap<RoomName, RoomState>,
    /// Every open connection of each user ("tabs"): unread counts go to all of them.
    tabs: FxHashMap<UserId, Vec<SessionId>>,
    next_session: u64,
    /// Messages waiting for the next batch.
    outbox: Vec<PendingMessage>,
    /// Whether a batch is being stored now.
    writing: bool,
    /// When the last batch went to the history actor.
    last_commit: Option<std::time::Instant>,
    /// Whether a timer will start the next commit (see [`ChatConfig::commit_interval`]).
    commit_scheduled: bool,
    /// Whether a checkpoint is under way (at most one at a time).
    checkpointing: bool,
    /// Told when the outbox is empty and nothing is being written (shutdown waits on it).
    idle_waiters: Vec<oneshot::Sender<()>>,
    /// Staff connections: they hear of every message in every support conversation.
    staff: FxHashSet<SessionId>,
    /// Messages stored per second over the last minute, for the live figures.
    stored_per_second: VecDeque<(u64, u64)>,
    /// The frames being gathered for a delivery; kept empty between deliveries for its capacity.
    deliveries: Deliveries,
}

struct SessionEntry {
    user: UserInfo,
    recipient: Recipient<Deliver>,
    rooms: Vec<RoomName>,
}

#[derive(Default)]
struct RoomState {
    members: FxHashSet<SessionId>,
    /// Users with at least one connection in the room, and how many.
    online: FxHashMap<UserId, (UserInfo, u32)>,
    typing: FxHashSet<UserId>,
    /// Too many users online to name them (see [`ChatConfig::presence_limit`]).
    crowded: bool,
    /// The head count the members were last told in an `online` frame.
    count_told: usize,
}

struct PendingMessage {
    origin: Origin,
    from: UserInfo,
    room: RoomName,
    text: String,
    kind: MessageKind,
}

/// Who waits for a message to be stored.
enum Origin {
    /// A connection, acked with this cid.
    Session { session: SessionId, cid: String },
    /// An HTTP request (an announcement), answered through this channel.
    Http(oneshot::Sender<Result<StoredRef, ChatError>>),
}

impl PendingMessage {
    fn cid(&self) -> Option<&str> {
        match &self.origin {
            Origin::Session { cid, .. } => Some(cid),
            Origin::Http(_) => None,
        }
    }
}

/// Frames gathered for several connections, handed over as one mailbox item per connection.
#[derive(Default)]
struct Deliveries {
    frames: FxHashMap<SessionId, FrameBatch>,
    /// Connections that wait for an ack: served first, so that a sender in a room of
    /// thousands hears of its commit before the whole room has been written to.
    first: Vec<SessionId>,
}

impl Deliveries {
    fn push(&mut self, session: SessionId, frame: OutFrame) {
        self.frames.entry(session).or_default().push(frame);
    }

    fn push_ack(&mut self, session: SessionId, frame: OutFrame) {
        self.push(session, frame);
        self.first.push(session);
    }
}

/// Whom a room broadcast skips.
#[derive(Clone, Copy)]
enum Skip {
    Nobody,
    Session(SessionId),
    User(UserId),
}

impl ChatServer {
    /// A chat server that stores through `history`.
    pub fn new(history: Addr<HistoryActor>, config: ChatConfig) -> ChatServer {
        ChatServer {
            history,
            config,
            sessions: FxHashMap::default(),
            rooms: HashMap::new(),
            tabs: FxHashMap::default(),
            next_session: 1,
            outbox: Vec::new(),
            writing: false,
            last_commit: None,
            commit_scheduled: false,
            checkpointing: false,
            idle_waiters: Vec::new(),
            staff: FxHashSet::default(),
            stored_per_second: VecDeque::new(),
            deliveries: Deliveries::default(),
        }
    }

    fn register(&mut self, user: UserInfo, recipient: Recipient<Deliver>) -> SessionId {
        let id = SessionId(self.next_session);
        self.next_session += 1;
        self.tabs.entry(user.id).or_default().push(id);
        if user.role == Role::Admin {
            self.staff.insert(id);
        }
        self.sessions.insert(
            id,
            SessionEntry {
                user,
                recipient,
                rooms: Vec::new(),
            },
        );
        id
    }

    /// Hands one item to one connection. A full mailbox means the client does not read fast
    /// enough: it is closed rather than allowed to queue without bound.
    fn send_to(&mut self, session: SessionId, item: Outgoing) {
        let Some(entry) = self.sessions.get(&session) else {
            return;
        };
        match entry.recipient.try_send(Deliver(item)) {
            Ok(()) => {}
            Err(SendError::Full(_)) => self.evict(session),
            Err(SendError::Closed(_)) => self.remove_session(session),
        }
    }

    fn send_frame(&mut self, session: SessionId, frame: &ServerFrame) {
        let frame = OutFrame {
            text: frame.encode(),
            room: None,
            seq: 0,
        };
        self.send_to(session, Outgoing::Frames(smallvec![frame]));
    }

    fn send_error(
        &mut self,
        session: SessionId,
        error: ChatError,
        cid: Option<String>,
        room: &RoomName,
    ) {
        let frame = ServerFrame::error(error.code, error.message, cid, Some(room.to_string()));
        self.send_frame(session, &frame);
    }

    /// The one place that decides who in a room gets a frame. A later multi-node setup
    /// publishes to the broker here and gathers what comes back the same way.
    fn gather(
        &self,
        room: &RoomName,
        text: ByteString,
        seq: i64,
        skip: Skip,
        into: &mut Deliveries,
    ) {
        let Some(state) = self.rooms.get(room) else {
            return;
        };
        for &session in &state.members {
            let skipped = match skip {
                Skip::Nobody => false,
                Skip::Session(s) => s == session,
                Skip::User(u) => self.sessions.get(&session).is_some_and(|e| e.user.id == u),
            };
            if !skipped {
                into.push(
                    session,
                    OutFrame {
                        text: text.clone(),
                        room: Some(room.clone()),
                        seq,
                    },
                );
            }
        }
    }

    /// Hands each connection its gathered frames.
    fn dispatch(&mut self, mut deliveries: Deliveries) {
        for session in deliveries.first.drain(..) {
            if let Some(frames) = deliveries.frames.remove(&session) {
                self.send_to(session, Outgoing::Frames(frames));
            }
        }
        for (session, frames) in deliveries.frames.drain() {
            self.send_to(session, Outgoing::Frames(frames));
        }
        self.deliveries = deliveries;
    }

    /// One frame to a room's members.
    fn fan_out(&mut self, room: &RoomName, text: ByteString, seq: i64, skip: Skip) {
        let mut deliveries = std::mem::take(&mut self.deliveries);
        self.gather(room, text, seq, skip, &mut deliveries);
        self.dispatch(deliveries);
    }

    /// Closes a connection that cannot keep up. The close bypasses the full mailbox; the
    /// client reconnects and recovers with `since`.
    fn evict(&mut self, session: SessionId) {
        if let Some(entry) = self.sessions.get(&session) {
            log::warn!(
                "closing connection {} of user {}: it does not read its frames fast enough",
                session.0,
                entry.user.id
            );
            entry.recipient.do_send(Deliver(Outgoing::Close {
                code: CLOSE_SLOW_CONSUMER,
                reason: "too slow: reconnect and join with since",
            }));
        }
        self.remove_session(session);
    }

    fn remove_session(&mut self, session: SessionId) {
        let Some(entry) = self.sessions.remove(&session) else {
            return;
        };
        self.staff.remove(&session);
        if let Some(tabs) = self.tabs.get_mut(&entry.user.id) {
            tabs.retain(|s| *s != session);
            if tabs.is_empty() {
                self.tabs.remove(&entry.user.id);
            }
        }
        for room in &entry.rooms {
            self.leave_room_state(session, &entry.user, room);
        }
    }

    /// Puts a connection in a room; tells the room when its user comes online there. Returns
    /// whether it was in the room already.
    fn subscribe(&mut self, session: SessionId, room: &RoomName) -> bool {
        let Some(entry) = self.sessions.get_mut(&session) else {
            return false;
        };
        if entry.rooms.contains(room) {
            return true;
        }
        entry.rooms.push(room.clone());
        let user = entry.user.clone();
        let state = self.rooms.entry(room.clone()).or_default();
        state.members.insert(session);
        let count = &mut state.online.entry(user.id).or_insert((user.clone(), 0)).1;
        *count += 1;
        if *count == 1 {
            self.tell_presence(room, user, true, Skip::Session(session));
        }
        false
    }

    /// Takes a connection out of a room. Returns whether it was in it.
    fn unsubscribe(&mut self, session: SessionId, room: &RoomName) -> bool {
        let Some(entry) = self.sessions.get_mut(&session) else {
            return false;
        };
        let before = entry.rooms.len();
        entry.rooms.retain(|r| r != room);
        if entry.rooms.len() == before {
            return false;
        }
        let user = entry.user.clone();
        self.leave_room_state(session, &user, room);
        true
    }

    /// The room side of leaving: membership, presence (offline when the user's last connection
    /// leaves) and typing (stopped when they go).
    fn leave_room_state(&mut self, session: SessionId, user: &UserInfo, room: &RoomName) {
        let Some(state) = self.rooms.get_mut(room) else {
            return;
        };
        state.members.remove(&session);
        let mut went_offline = false;
        if let Some((_, count)) = state.online.get_mut(&user.id) {
            *count -= 1;
            if *count == 0 {
                state.online.remove(&user.id);
                went_offline = true;
            }
        }
        let stopped_typing = went_offline && state.typing.remove(&user.id);
        if state.members.is_empty() {
            self.rooms.remove(room);
            return;
        }
        if stopped_typing {
            let frame = ServerFrame::Typing {
                room: room.to_string(),
                user: user.clone(),
                on: false,
            };
            self.fan_out(room, frame.encode(), 0, Skip::Nobody);
        }
        if went_offline {
            self.tell_presence(room, user.clone(), false, Skip::Nobody);
        }
    }

    /// Tells a room that a user came online or went offline there, as far as its crowding
    /// allows: a `presence` frame in an ordinary room, nothing in a crowded one, and an
    /// `online` frame to every member when the room becomes crowded or stops being so. It
    /// stops only well below the limit, so that a room hovering at it does not flip back and
    /// forth. Support rooms are never crowded.
    fn tell_presence(&mut self, room: &RoomName, user: UserInfo, online: bool, skip: Skip) {
        let limit = self.config.presence_limit;
        let Some(state) = self.rooms.get_mut(room) else {
            return;
        };
        let count = state.online.len();
        let was_crowded = state.crowded;
        if matches!(room.kind(), RoomKind::Support(_)) {
            state.crowded = false;
        } else if !was_crowded && count > limit {
            state.crowded = true;
        } else if was_crowded && count <= limit.saturating_sub((limit / 10).max(1)) {
            state.crowded = false;
        }
        if state.crowded != was_crowded {
            self.tell_online(room);
        } else if !state.crowded {
            let frame = ServerFrame::Presence {
                room: room.to_string(),
                user,
                online,
            };
            self.fan_out(room, frame.encode(), 0, skip);
        }
    }

    /// An `online` frame to every member of the room: who is online (nobody named while it is
    /// crowded) and how many, which is then the count they were last told.
    fn tell_online(&mut self, room: &RoomName) {
        let (online_count, online) = self.online_in(room);
        if let Some(state) = self.rooms.get_mut(room) {
            state.count_told = online_count;
        }
        let frame = ServerFrame::Online {
            room: room.to_string(),
            online,
            online_count,
        };
        self.fan_out(room, frame.encode(), 0, Skip::Nobody);
    }

    /// Tells each crowded room its head count, if it changed since it was last told: without
    /// `presence` frames, members would otherwise keep the count of the moment they joined.
    fn tell_crowd_counts(&mut self) {
        let changed: Vec<RoomName> = self
            .rooms
            .iter()
            .filter(|(_, state)| state.crowded && state.online.len() != state.count_told)
            .map(|(room, _)| room.clone())
            .collect();
        for room in changed {
            self.tell_online(&room);
        }
    }

    /// How many users are online in the room, and who, sorted; nobody is named in a crowded
    /// room (see [`ChatConfig::presence_limit`]).
    fn online_in(&self, room: &RoomName) -> (usize, Vec<UserInfo>) {
        let Some(state) = self.rooms.get(room) else {
            return (0, Vec::new());
        };
        let count = state.online.len();
        if state.crowded {
            return (count, Vec::new());
        }
        let mut users: Vec<UserInfo> = state.online.values().map(|(u, _)| u.clone()).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username).then(a.id.cmp(&b.id)));
        (count, users)
    }

    /// The connection's user, if it is connected and may enter `room`; otherwise tells the
    /// connection why not.
    fn admitted(&mut self, session: SessionId, room: &RoomName) -> Option<UserInfo> {
        let user = self.sessions.get(&session)?.user.clone();
        if room.admits(&user) {
            Some(user)
        } else {
            self.send_error(session, forbidden(room), None, room);
            None
        }
    }

    /// Has the history actor checkpoint the write-ahead log on one of its threads, so that
    /// the commits on the others never wait for it.
    fn checkpoint(&mut self, ctx: &mut Context<Self>) {
        if self.checkpointing {
            return;
        }
        self.checkpointing = true;
        self.history
            .send(Checkpoint)
            .into_actor(self)
            .map(|result, act, _| {
                act.checkpointing = false;
                if let Err(e) = split(result) {
                    storage_failure("checkpoint", e);
                }
            })
            .spawn(ctx);
    }

    /// Starts storing the outbox unless a batch is already being stored.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.commit_scheduled || self.outbox.is_empty() {
            return;
        }
        let since_last = self
            .last_commit
            .map_or(std::time::Duration::MAX, |t| t.elapsed());
        let wait = self.config.commit_interval.saturating_sub(since_last);
        if !wait.is_zero() && self.outbox.len() < self.config.max_batch {
            self.commit_scheduled = true;
            ctx.run_later(wait, |act, ctx| {
                act.commit_scheduled = false;
                act.flush(ctx);
            });
            return;
        }
        self.last_commit = Some(std::time::Instant::now());
        self.writing = true;
        let take = self.outbox.len().min(self.config.max_batch);
        let pending: Vec<PendingMessage> = self.outbox.drain(..take).collect();
        let batch = pending
            .iter()
            .map(|p| NewMessage {
                room: p.room.to_string(),
                sender: p.from.id,
                cid: p.cid().map(str::to_owned),
                text: p.text.clone(),
                kind: p.kind,
            })
            .collect();
        self.history
            .send(StoreMessages { batch })
            .into_actor(self)
            .map(move |result, act, ctx| {
                act.writing = false;
                match result {
                    Ok(Ok(outcomes)) if outcomes.len() == pending.len() => {
                        act.deliver_stored(pending, outcomes)
                    }
                    other => {
                        log::error!(
                            "storing {} message(s) failed: {:?}",
                            pending.len(),
                            other.map(|r| r.map(|o| o.len()))
                        );
                        for p in pending {
                            let error = ChatError::new(
                                ErrorCode::Internal,
                                "the message was not stored; send it again",
                            );
                            match p.origin {
                                Origin::Session { session, cid } => {
                                    act.send_error(session, error, Some(cid), &p.room)
                                }
                                Origin::Http(reply) => {
                                    let _ = reply.send(Err(error));
                                }
                            }
                        }
                    }
                }
                if act.outbox.is_empty() {
                    for waiter in act.idle_waiters.drain(..) {
                        let _ = waiter.send(());
                    }
                } else {
                    act.flush(ctx);
                }
            })
            .spawn(ctx);
    }

    /// After a commit: every new message to its room (sender included) and, for support
    /// conversations, to every staff connection; then the ack. Each connection gets all of its
    /// frames of the batch at once.
    fn deliver_stored(&mut self, pending: Vec<PendingMessage>, outcomes: Vec<StoreOutcome>) {
        let mut deliveries = std::mem::take(&mut self.deliveries);
        let mut stored = 0;
        for (p, outcome) in pending.into_iter().zip(outcomes) {
            let seq = outcome.seq();
            let cid = p.cid().map(str::to_owned);
            if let StoreOutcome::Stored { id, seq, ts } = outcome {
                stored += 1;
                let message = StoredMessage {
                    room: p.room.to_string(),
                    seq,
                    id,
                    from: p.from,
                    text: p.text,
                    ts,
                    cid: cid.clone(),
                    kind: p.kind,
                };
                if let RoomKind::Support(owner) = p.room.kind() {
                    self.gather_for_staff(owner, &message, &mut deliveries);
                }
                let frame = ServerFrame::Message(message).encode();
                self.gather(&p.room, frame, seq, Skip::Nobody, &mut deliveries);
            }
            let id = match outcome {
                StoreOutcome::Stored { id, .. } | StoreOutcome::Duplicate { id, .. } => id,
            };
            match p.origin {
                Origin::Session { session, cid } => {
                    let ack = ServerFrame::Ack {
                        cid,
                        room: p.room.to_string(),
                        seq,
                    };
                    // Named with its room (seq 0): a connection still joining holds it back
                    // behind the message it acknowledges.
                    let ack = OutFrame {
                        text: ack.encode(),
                        room: Some(p.room.clone()),
                        seq: 0,
                    };
                    deliveries.push_ack(session, ack);
                }
                Origin::Http(reply) => {
                    let room = p.room.to_string();
                    let _ = reply.send(Ok(StoredRef { room, seq, id }));
                }
            }
        }
        self.count_stored(stored);
        self.dispatch(deliveries);
    }

    /// A `support_activity` frame for every staff connection.
    fn gather_for_staff(&self, owner: UserId, message: &StoredMessage, into: &mut Deliveries) {
        if self.staff.is_empty() {
            return;
        }
        let customer = if message.from.id == owner {
            Some(message.from.clone())
        } else {
            self.tabs
                .get(&owner)
                .and_then(|tabs| tabs.first())
                .and_then(|s| self.sessions.get(s))
                .map(|e| e.user.clone())
        };
        let frame = ServerFrame::SupportActivity {
            room: message.room.clone(),
            customer,
            message: message.clone(),
        }
        .encode();
        for &session in &self.staff {
            into.push(
                session,
                OutFrame {
                    text: frame.clone(),
                    room: None,
                    seq: 0,
                },
            );
        }
    }

    fn count_stored(&mut self, count: u64) {
        let now = unix_seconds();
        match self.stored_per_second.back_mut() {
            Some((second, n)) if *second == now => *n += count,
            _ => self.stored_per_second.push_back((now, count)),
        }
        self.forget_old_counts(now);
    }

    fn forget_old_counts(&mut self, now: u64) {
        while self
            .stored_per_second
            .front()
            .is_some_and(|(second, _)| *second + 60 <= now)
        {
            self.stored_per_second.pop_front();
        }
    }

    fn close_all(&mut self, code: u16, reason: &'static str) {
        for (_, entry) in self.sessions.drain() {
            entry
                .recipient
                .do_send(Deliver(Outgoing::Close { code, reason }));
        }
        self.rooms.clear();
        self.tabs.clear();
    }
}

/// The refusal for using a room the connection has not joined: `forbidden` where the user may
/// not enter at all (telling nothing more), else `bad_request`.
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn not_joined(room: &RoomName, user: &UserInfo) -> ChatError {
    if room.admits(user) {
        ChatError::new(
            ErrorCode::BadRequest,
            format!("join the room {room} before using it"),
        )
    } else {
        forbidden(room)
    }
}

fn forbidden(room: &RoomName) -> ChatError {
    ChatError::new(
        ErrorCode::Forbidden,
        format!("you may not enter the room {room}"),
    )
}

fn storage_failure(what: &str, error: Result<StorageError, MailboxError>) -> ChatError {
    match error {
        Ok(StorageError::NotFound) => ChatError::new(ErrorCode::NotFound, "no such room"),
        Ok(e) => {
            log::error!("{what}: {e}");
            ChatError::new(ErrorCode::Internal, "internal server error")
        }
        Err(e) => {
            log::error!("{what}: history actor: {e}");
            ChatError::new(ErrorCode::Internal, "internal server error")
        }
    }
}

fn split<T>(
    result: Result<Result<T, StorageError>, MailboxError>,
) -> Result<T, Result<StorageError, MailboxError>> {
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Ok(e)),
        Err(e) => Err(Err(e)),
    }
}

impl Actor for ChatServer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Sessions reach the chat server with `try_send`; a full mailbox is answered with
        // `rate_limited` instead of letting it grow without bound.
        ctx.set_mailbox_capacity(64 * 1024);
        if let Some(every) = self.config.checkpoint_every {
            ctx.run_interval(every, |act, ctx| act.checkpoint(ctx));
        }
        if !self.config.crowd_count_interval.is_zero() {
            ctx.run_interval(self.config.crowd_count_interval, |act, _| {
                act.tell_crowd_counts()
            });
        }
    }
}

impl Handler<Connect> for ChatServer {
    type Result = ResponseActFuture<Self, Result<Connected, ChatError>>;

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> Self::Result {
        let request = ListRooms { user: msg.user.id };
        Box::pin(
            self.history
                .send(request)
                .into_actor(self)
                .map(move |result, act, _| {
                    let (row, rooms) = match split(result) {
                        Ok(found) => found,
                        Err(Ok(StorageError::NotFound)) => {
                            return Err(ChatError::new(
                                ErrorCode::Unauthorized,
                                "this account no longer exists",
                            ))
                        }
                        Err(e) => return Err(storage_failure("listing rooms", e)),
                    };
                    if row.banned {
                        return Err(ChatError::new(
                            ErrorCode::Unauthorized,
                            "this account is banned",
                        ));
                    }
                    let user = row.info();
                    let session = act.register(user.clone(), msg.recipient);
                    let rooms = rooms
                        .into_iter()
                        .map(|r| RoomEntry {
                            room: r.room.to_string(),
                            last_seq: r.last_seq,
                            unread: r.unread,
                        })
                        .collect();
                    Ok(Connected {
                        session,
                        user,
                        rooms,
                    })
                }),
        )
    }
}

impl Handler<Disconnect> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.remove_session(msg.session);
    }
}

impl Handler<Join> for ChatServer {
    type Result = ();

    /// Subscribes first, then reads the snapshot: a message stored meanwhile is either in the
    /// snapshot or delivered live (the session drops live ones the snapshot already holds).
    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) {
        let Join {
            session,
            room,
            since,
        } = msg;
        let Some(user) = self.sessions.get(&session).map(|e| e.user.clone()) else {
            return;
        };
        if !room.admits(&user) {
            let name = Some(room.to_string());
            let text =
                ServerFrame::error(ErrorCode::Forbidden, forbidden(&room).message, None, name)
                    .encode();
            let still_in_room = false;
            self.send_to(
                session,
                Outgoing::JoinFailed {
                    room,
                    text,
                    still_in_room,
                },
            );
            return;
        }
        let was_in = self.subscribe(session, &room);
        let (online_count, online) = self.online_in(&room);
        let request = OpenRoom {
            user: user.id,
            room: room.clone(),
            since,
            latest: self.config.latest,
            recovery_cap: self.config.recovery_cap,
        };
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, _| match split(result) {
                Ok(snapshot) => {
                    let last_seq = snapshot.last_seq;
                    let text = ServerFrame::Joined {
                        room: room.to_string(),
                        online,
                        online_count,
                        messages: snapshot.messages,
                        last_seq,
                        recovered: snapshot.recovered,
                        deleted: snapshot.deleted,
                    }
                    .encode();
                    act.send_to(
                        session,
                        Outgoing::Joined {
                            room,
                            text,
                            last_seq,
                        },
                    );
                }
                Err(e) => {
                    let error = storage_failure("opening a room", e);
                    if !was_in {
                        act.unsubscribe(session, &room);
                    }
                    let text =
                        ServerFrame::error(error.code, error.message, None, Some(room.to_string()))
                            .encode();
                    let still_in_room = was_in;
                    act.send_to(
                        session,
                        Outgoing::JoinFailed {
                            room,
                            text,
                            still_in_room,
                        },
                    );
                }
            })
            .spawn(ctx);
    }
}

impl Handler<Leave> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: Leave, ctx: &mut Context<Self>) {
        let Some(user) = self.admitted(msg.session, &msg.room) else {
            return;
        };
        self.unsubscribe(msg.session, &msg.room);
        let (session, room) = (msg.session, msg.room);
        self.history
            .send(ForgetRoom {
                user: user.id,
                room: room.clone(),
            })
            .into_actor(self)
            .map(move |result, act, _| {
                if let Err(e) = split(result) {
                    act.send_error(session, storage_failure("leaving a room", e), None, &room);
                }
            })
            .spawn(ctx);
    }
}

impl Handler<Publish> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) {
        let Some(entry) = self.sessions.get(&msg.session) else {
            return;
        };
        if !entry.rooms.contains(&msg.room) {
            let error = not_joined(&msg.room, &entry.user);
            let cid = Some(msg.cid.as_str().to_owned());
            self.send_error(msg.session, error, cid, &msg.room);
            return;
        }
        self.outbox.push(PendingMessage {
            origin: Origin::Session {
                session: msg.session,
                cid: msg.cid.as_str().to_owned(),
            },
            from: entry.user.clone(),
            room: msg.room,
            text: msg.text.into_string(),
            kind: MessageKind::Text,
        });
        self.flush(ctx);
    }
}

impl Handler<SetTyping> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: SetTyping, _: &mut Context<Self>) {
        let Some(entry) = self.sessions.get(&msg.session) else {
            return;
        };
        let user = entry.user.clone();
        let joined = entry.rooms.contains(&msg.room);
        let Some(state) = self.rooms.get_mut(&msg.room).filter(|_| joined) else {
            let error = not_joined(&msg.room, &user);
            self.send_error(msg.session, error, None, &msg.room);
            return;
        };
        if msg.on {
            state.typing.insert(user.id);
        } else {
            state.typing.remove(&user.id);
        }
        let frame = ServerFrame::Typing {
            room: msg.room.to_string(),
            user: user.clone(),
            on: msg.on,
        };
        self.fan_out(&msg.room, frame.encode(), 0, Skip::User(user.id));
    }
}

impl Handler<GetHistory> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: GetHistory, ctx: &mut Context<Self>) {
        if self.admitted(msg.session, &msg.room).is_none() {
            return;
        }
        let session = msg.session;
        let room_name = msg.room.clone();
        let room = msg.room.to_string();
        let request = FetchHistory {
            room: msg.room,
            before: msg.before,
            limit: msg.limit,
        };
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, _| match split(result) {
                Ok(page) => act.send_frame(
                    session,
                    &ServerFrame::History {
                        room,
                        messages: page.messages,
                        more: page.more,
                    },
                ),
                Err(e) => {
                    let error = storage_failure("reading history", e);
                    act.send_error(session, error, None, &room_name);
                }
            })
            .spawn(ctx);
    }
}

impl Handler<MarkRead> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: MarkRead, ctx: &mut Context<Self>) {
        let Some(user) = self.admitted(msg.session, &msg.room) else {
            return;
        };
        let session = msg.session;
        let room_name = msg.room.clone();
        let room = msg.room.to_string();
        let request = crate::history::messages::MarkRead {
            user: user.id,
            room: msg.room,
            seq: msg.seq,
        };
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, _| match split(result) {
                Ok(count) => {
                    // One encode for every tab of the user.
                    let text = ServerFrame::Unread { room, count }.encode();
                    let tabs = act.tabs.get(&user.id).cloned().unwrap_or_default();
                    for tab in tabs {
                        let frame = OutFrame {
                            text: text.clone(),
                            room: None,
                            seq: 0,
                        };
                        act.send_to(tab, Outgoing::Frames(smallvec![frame]));
                    }
                }
                Err(e) => {
                    let error = storage_failure("marking read", e);
                    act.send_error(session, error, None, &room_name);
                }
            })
            .spawn(ctx);
    }
}

impl Handler<Shutdown> for ChatServer {
    type Result = ResponseActFuture<Self, ()>;

    /// Waits until every queued message is stored (and acked), then closes every connection.
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        let (done, idle) = oneshot::channel();
        if self.outbox.is_empty() && !self.writing {
            let _ = done.send(());
        } else {
            self.idle_waiters.push(done);
            self.flush(ctx);
        }
        Box::pin(
            async move {
                let _ = idle.await;
            }
            .into_actor(self)
            .map(|_, act, _| act.close_all(CLOSE_GOING_AWAY, "server restarting")),
        )
    }
}

impl Handler<Announce> for ChatServer {
    type Result = ResponseFuture<Result<StoredRef, ChatError>>;

    /// Joins the outbox like any message, so it gets its seq and reaches the room the same way.
    fn handle(&mut self, msg: Announce, ctx: &mut Context<Self>) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        self.outbox.push(PendingMessage {
            origin: Origin::Http(reply),
            from: msg.from,
            room: msg.room,
            text: msg.text.into_string(),
            kind: MessageKind::Announcement,
        });
        self.flush(ctx);
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(ChatError::new(
                    ErrorCode::Internal,
                    "the server is stopping",
                ))
            })
        })
    }
}

impl Handler<MessageDeleted> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: MessageDeleted, _: &mut Context<Self>) {
        let Ok(room) = RoomName::parse(&msg.message.room) else {
            return;
        };
        let frame = ServerFrame::Deleted {
            room: msg.message.room,
            seq: msg.message.seq,
            id: msg.message.id,
        };
        self.fan_out(&room, frame.encode(), 0, Skip::Nobody);
    }
}

impl Handler<DisconnectUser> for ChatServer {
    type Result = ();

    fn handle(&mut self, msg: DisconnectUser, _: &mut Context<Self>) {
        let tabs = self.tabs.get(&msg.user).cloned().unwrap_or_default();
        for session in tabs {
            if let Some(entry) = self.sessions.get(&session) {
                entry.recipient.do_send(Deliver(Outgoing::Close {
                    code: CLOSE_POLICY,
                    reason: "this account is banned",
                }));
            }
            self.remove_session(session);
        }
    }
}

impl Handler<GetLiveStats> for ChatServer {
    type Result = MessageResult<GetLiveStats>;

    fn handle(&mut self, _: GetLiveStats, _: &mut Context<Self>) -> Self::Result {
        self.forget_old_counts(unix_seconds());
        MessageResult(LiveStats {
            connections: self.sessions.len(),
            online_users: self.tabs.len(),
            rooms: self.rooms.len(),
            messages_per_minute: self.stored_per_second.iter().map(|(_, n)| n).sum(),
        })
    }
}

impl Handler<ListOnline> for ChatServer {
    type Result = MessageResult<ListOnline>;

    fn handle(&mut self, msg: ListOnline, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            msg.users
                .into_iter()
                .filter(|u| self.tabs.contains_key(u))
                .collect(),
        )
    }
}
