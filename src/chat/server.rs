//! The `ChatServer` actor: one per process. It owns the plain state of the chat package, who
//! is connected ([`Registry`]), the live rooms ([`LiveRooms`]), the commit [`Outbox`] and the
//! figures ([`StoredRate`]), and routes between them, the sessions and the history actor. It
//! holds state, not services: the database is reached only through the history actor.
//!
//! A message travels: session → `Publish` → outbox → one `StoreMessages` batch to the message
//! writer (one transaction, which assigns the seqs) → fan-out to the room and `ack` to the
//! sender ([`ChatServer::deliver_stored`]). The handlers of its messages are in `handlers.rs`.

use super::fanout::{self, Deliveries, Skip};
use super::history_load::HistoryLoad;
use super::membership::{JoinsInFlight, MembershipQueue};
use super::messages::*;
use super::notification_cursors::NotificationCursors;
use super::outbox::{Outbox, OutboxLimits};
use super::refusals::forbidden;
use super::registry::Registry;
use super::rooms::{LiveRooms, PresenceNews};
use super::stats::StoredRate;
use super::storage_health::StorageHealth;
use crate::domain::{RoomName, UserInfo};
use crate::error::AppError;
use crate::history::{HistoryActor, LogCheckpointer, MessageWriter};
use crate::protocol::ServerFrame;
use actix::prelude::*;
use bytestring::ByteString;
use smallvec::smallvec;
use std::time::{Duration, Instant};

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
    pub crowd_count_interval: Duration,
    /// Most messages stored in one transaction.
    pub max_batch: usize,
    /// Least time between the starts of two commits (group commit: fewer, larger transactions
    /// under load, at the price of this much latency at most).
    pub commit_interval: Duration,
    /// Most public rooms in one user's list (`too_many_rooms` past it).
    pub max_rooms_per_user: u32,
    /// Most public rooms a customer may create in an hour by joining new names
    /// (`too_many_rooms_created` past it); zero: no limit. Staff have none.
    pub max_rooms_created_per_hour: u32,
    /// How often the accounts of the connected users are read again (role and ban changes
    /// made by another process); zero: never.
    pub account_recheck_interval: Duration,
    /// How often the log checkpointer is asked to checkpoint the database's log
    /// ([`crate::db::DbTarget::checkpoint_every`]); `None`: never. Without a checkpointer
    /// ([`ChatServer::with_log_checkpointer`]) nothing is checkpointed either.
    pub checkpoint_every: Option<Duration>,
    /// Most messages waiting for the next commit; past it senders hear `unavailable`.
    pub max_queued: usize,
    /// A commit that has not come back after this long means the database is stalled: what
    /// waits behind it, and what arrives, is refused with `unavailable` until it answers.
    pub stall_after: Duration,
    /// `--auto-assign`: a new support conversation goes round robin to a connected staff
    /// member whose availability is `online`.
    pub auto_assign: bool,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            latest: 50,
            recovery_cap: 1000,
            presence_limit: 500,
            crowd_count_interval: Duration::from_secs(10),
            max_batch: 2048,
            commit_interval: Duration::ZERO,
            max_rooms_per_user: 200,
            max_rooms_created_per_hour: 20,
            account_recheck_interval: Duration::from_secs(5),
            checkpoint_every: None,
            max_queued: 20_000,
            stall_after: Duration::from_secs(5),
            auto_assign: false,
        }
    }
}

/// Most requests to the history actor in flight before clients' reads (connects, joins,
/// history pages, read cursors) are refused with `unavailable`: with two history threads and a
/// pool that gives up after 3 s, more would only be stale work by the time the database answers.
pub const MAX_READS_IN_FLIGHT: usize = 256;

/// WebSocket close code for a connection that cannot keep up (1013: try again later).
pub const CLOSE_SLOW_CONSUMER: u16 = 1013;
/// WebSocket close code for a banned account (1008: policy violation).
pub const CLOSE_POLICY: u16 = 1008;
/// WebSocket close code on shutdown (1001: going away).
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// The chat server actor. Start it once per process and share its address.
pub struct ChatServer {
    pub(super) history: Addr<HistoryActor>,
    /// Stores the message batches, on a thread and connection of its own.
    pub(super) writer: Addr<MessageWriter>,
    /// Copies SQLite's log into the database file on the timer (`None` on PostgreSQL).
    pub(super) checkpointer: Option<Addr<LogCheckpointer>>,
    pub(super) config: ChatConfig,
    pub(super) registry: Registry<Recipient<Deliver>>,
    pub(super) rooms: LiveRooms,
    pub(super) outbox: Outbox,
    pub(super) stored: StoredRate,
    pub(super) membership: MembershipQueue,
    pub(super) joins: JoinsInFlight,
    /// Whether commits work.
    pub(super) storage: StorageHealth,
    /// Requests to the history actor in flight (clients' reads are refused past a bound).
    pub(super) history_load: HistoryLoad,
    /// Set by `Shutdown`: new messages are refused with `shutting_down` while what was queued
    /// is stored.
    pub(super) draining: bool,
    /// Whether a checkpoint is under way (at most one at a time).
    pub(super) checkpointing: bool,
    /// Account reads asked for so far: the ticket of the last one (see `accounts.rs`).
    pub(super) account_reads: u64,
    /// Whether a re-check of the connected accounts is under way (at most one at a time).
    pub(super) rechecking: bool,
    /// Whether the last re-check failed (its failure is logged once, not at every period).
    pub(super) recheck_failing: bool,
    /// The frames being gathered for a delivery; kept empty between deliveries for its capacity.
    pub(super) deliveries: Deliveries,
    /// The per-connection batches of a delivery being handed out; kept for its capacity.
    handing_out: Vec<(SessionId, FrameBatch)>,
    /// When the messages acked by the delivery being handed out arrived (ack latency); kept
    /// for its capacity.
    pub(super) acked_arrivals: Vec<Instant>,
    /// Guests' conversations waiting to move into their customers' (`merging.rs`).
    pub(super) merges: super::merging::MergeQueue,
    /// What each connection was told of its user's notifications (`store_api.rs`).
    pub(super) notification_cursors: NotificationCursors,
    /// Who on the staff has each support conversation open (`conversations.rs`).
    pub(super) viewers: super::viewers::Viewers,
    /// Whose turn it is to get a new conversation with `--auto-assign`.
    pub(super) assignment: super::assignment::RoundRobin,
    /// With `--redis-url`: this node's part of the deployment (`cluster.rs`); `None` alone.
    pub(super) cluster: Option<super::cluster::Cluster>,
    /// With `--redis-url`: the viewers' writes to Redis (`cluster_frames.rs`).
    pub(super) cluster_frames: super::cluster_frames::ClusterFrames,
}

impl ChatServer {
    /// A chat server that stores messages through `writer` and reads through `history`.
    /// Makes this server one node of several, over a connected broker (`--redis-url`).
    pub fn with_cluster(mut self, cluster: super::cluster::Cluster) -> ChatServer {
        self.cluster = Some(cluster);
        self
    }

    /// Has `checkpointer` copy SQLite's log every [`ChatConfig::checkpoint_every`].
    pub fn with_log_checkpointer(mut self, checkpointer: Addr<LogCheckpointer>) -> ChatServer {
        self.checkpointer = Some(checkpointer);
        self
    }

    pub fn new(
        history: Addr<HistoryActor>,
        writer: Addr<MessageWriter>,
        config: ChatConfig,
    ) -> ChatServer {
        ChatServer {
            history,
            writer,
            checkpointer: None,
            config,
            registry: Registry::default(),
            rooms: LiveRooms::new(config.presence_limit),
            outbox: Outbox::new(OutboxLimits {
                max_batch: config.max_batch,
                commit_interval: config.commit_interval,
                max_queued: config.max_queued,
                stall_after: config.stall_after,
            }),
            storage: StorageHealth::default(),
            history_load: HistoryLoad::new(MAX_READS_IN_FLIGHT),
            draining: false,
            stored: StoredRate::default(),
            membership: MembershipQueue::default(),
            joins: JoinsInFlight::default(),
            checkpointing: false,
            account_reads: 0,
            rechecking: false,
            recheck_failing: false,
            deliveries: Deliveries::default(),
            handing_out: Vec::new(),
            acked_arrivals: Vec::new(),
            merges: Default::default(),
            notification_cursors: NotificationCursors::default(),
            viewers: Default::default(),
            assignment: Default::default(),
            cluster: None,
            cluster_frames: Default::default(),
        }
    }

    /// Hands one item to one connection. A full mailbox means the client does not read fast
    /// enough: it is closed rather than allowed to queue without bound.
    pub(super) fn send_to(&mut self, session: SessionId, item: Outgoing) {
        let Some(entry) = self.registry.get(session) else {
            return;
        };
        match entry.recipient.try_send(Deliver(item)) {
            Ok(()) => {}
            Err(SendError::Full(_)) => self.evict(session),
            Err(SendError::Closed(_)) => self.remove_session(session),
        }
    }

    /// One frame, not about a room, to one connection.
    pub(super) fn send_frame(&mut self, session: SessionId, text: ByteString) {
        let frame = OutFrame {
            text,
            about: About::Nothing,
        };
        self.send_to(session, Outgoing::Frames(smallvec![frame]));
    }

    /// An `error` frame about a room to one connection.
    pub(super) fn send_error(
        &mut self,
        session: SessionId,
        error: AppError,
        cid: Option<String>,
        room: &RoomName,
    ) {
        crate::metrics::refused(error.code.as_str());
        let frame = ServerFrame::error(error.code, error.message, cid, Some(room.to_string()));
        self.send_frame(session, frame.encode());
    }

    /// Hands each connection its gathered frames, those waiting for an ack first.
    pub(super) fn dispatch(&mut self, mut deliveries: Deliveries) {
        let mut batches = std::mem::take(&mut self.handing_out);
        deliveries.drain_into(&mut batches);
        self.deliveries = deliveries;
        // Counted once per delivery, not per connection: this loop is the fan-out's hot path.
        let mut handed_out = 0;
        for (session, frames) in batches.drain(..) {
            handed_out += frames.len();
            self.send_to(session, Outgoing::Frames(frames));
        }
        crate::metrics::delivered(handed_out as u64);
        self.handing_out = batches;
    }

    /// One frame to a room's members.
    pub(super) fn fan_out(&mut self, room: &RoomName, text: ByteString, skip: Skip) {
        let mut deliveries = std::mem::take(&mut self.deliveries);
        fanout::gather_room(
            &self.rooms,
            &self.registry,
            room,
            &text,
            0,
            skip,
            &mut deliveries,
        );
        self.dispatch(deliveries);
    }

    /// Closes a connection that cannot keep up. The close bypasses the full mailbox; the
    /// client reconnects and recovers with `since`.
    fn evict(&mut self, session: SessionId) {
        crate::metrics::refused("slow_consumer");
        if let Some(entry) = self.registry.get(session) {
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

    /// Forgets a connection and takes it out of every room it was in.
    pub(super) fn remove_session(&mut self, session: SessionId) {
        self.joins.forget_session(session);
        self.notification_cursors.forget(session);
        let Some(entry) = self.registry.remove(session) else {
            return;
        };
        if !self.registry.is_online(entry.user.id) {
            self.record_last_seen(entry.user.id);
            self.cluster_user_presence(&entry.user, false);
            self.cluster_user_gone(entry.user.id);
        }
        for room in &entry.rooms {
            self.leave_live_room(session, &entry.user, room);
        }
    }

    /// Puts a connection in a room and tells the room when its user comes online there.
    /// Returns whether it was in the room already.
    pub(super) fn subscribe(&mut self, session: SessionId, room: &RoomName) -> bool {
        match self.registry.enter(session, room) {
            Some(false) => {}
            Some(true) => return true,
            None => return false,
        }
        let Some(user) = self.registry.user(session).cloned() else {
            return false;
        };
        if !self.rooms.is_live(room) {
            self.cluster_room_opened(room);
        }
        let was_here = self.rooms.is_here(room, user.id);
        let news = self.rooms.enter(room, session, &user);
        if !was_here {
            self.cluster_room_presence(room, &user, true);
        }
        self.tell_presence(room, &user, news, Skip::Session(session));
        false
    }

    /// Takes a connection out of a room. Returns whether it was in it.
    pub(super) fn unsubscribe(&mut self, session: SessionId, room: &RoomName) -> bool {
        let Some(user) = self.registry.leave(session, room) else {
            return false;
        };
        self.leave_live_room(session, &user, room);
        true
    }

    /// The live room's side of leaving: typing off and presence, as [`LiveRooms::leave`] says.
    fn leave_live_room(&mut self, session: SessionId, user: &UserInfo, room: &RoomName) {
        let was_here = self.rooms.is_here(room, user.id);
        let departure = self.rooms.leave(room, session, user.id);
        if was_here && !self.rooms.is_here(room, user.id) {
            self.cluster_room_presence(room, user, false);
        }
        if !self.rooms.is_live(room) {
            self.cluster_room_closed(room);
        }
        self.viewer_left(session, room, user.id);
        if departure.stopped_typing {
            let frame = ServerFrame::Typing {
                room: room.to_string(),
                user: user.clone(),
                on: false,
            }
            .encode();
            self.cluster_forward(room, &frame, None);
            self.fan_out(room, frame, Skip::Nobody);
        }
        self.tell_presence(room, user, departure.news, Skip::Nobody);
    }

    /// Tells a room what [`LiveRooms`] says it must hear of a user's presence.
    pub(super) fn tell_presence(
        &mut self,
        room: &RoomName,
        user: &UserInfo,
        news: PresenceNews,
        skip: Skip,
    ) {
        match news {
            PresenceNews::Nothing => {}
            PresenceNews::Presence { online } => {
                let frame = ServerFrame::Presence {
                    room: room.to_string(),
                    user: user.clone(),
                    online,
                };
                self.fan_out(room, frame.encode(), skip);
            }
            PresenceNews::Online => self.tell_online(room),
        }
    }

    /// An `online` frame to every member of the room: who is online (nobody named while it is
    /// crowded) and how many.
    pub(super) fn tell_online(&mut self, room: &RoomName) {
        let (online_count, online) = self.rooms.tell_online(room);
        let frame = ServerFrame::Online {
            room: room.to_string(),
            online,
            online_count,
        };
        self.fan_out(room, frame.encode(), Skip::Nobody);
    }

    /// Tells each crowded room its head count, if it changed since it was last told: without
    /// `presence` frames, members would otherwise keep the count of the moment they joined.
    fn tell_crowd_counts(&mut self) {
        for room in self.rooms.crowd_counts_changed() {
            self.tell_online(&room);
        }
    }

    /// The connection's user, if it is connected and may enter `room`; otherwise tells the
    /// connection why not.
    pub(super) fn admitted(&mut self, session: SessionId, room: &RoomName) -> Option<UserInfo> {
        let user = self.registry.user(session)?.clone();
        if room.admits(&user) {
            Some(user)
        } else {
            self.send_error(session, forbidden(room), None, room);
            None
        }
    }

    /// Closes every connection with this code and reason, and forgets every live room.
    pub(super) fn close_all(&mut self, code: u16, reason: &'static str) {
        for entry in self.registry.drain() {
            entry
                .recipient
                .do_send(Deliver(Outgoing::Close { code, reason }));
        }
        self.rooms.clear();
    }
}

impl Actor for ChatServer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Sessions reach the chat server with `try_send`; a full mailbox is answered with
        // `rate_limited` instead of letting it grow without bound.
        ctx.set_mailbox_capacity(64 * 1024);
        self.cluster_started(ctx);
        self.cluster_frames_started(ctx);
        if let Some(every) = self.config.checkpoint_every {
            ctx.run_interval(every, |act, ctx| act.checkpoint(false, ctx));
        }
        let stall_check = (self.config.stall_after / 4).max(Duration::from_millis(50));
        ctx.run_interval(stall_check, |act, _| act.refuse_stalled());
        if !self.config.account_recheck_interval.is_zero() {
            let every = self.config.account_recheck_interval;
            ctx.run_interval(every, |act, ctx| act.recheck_accounts(ctx));
        }
        if !self.config.crowd_count_interval.is_zero() {
            ctx.run_interval(self.config.crowd_count_interval, |act, _| {
                act.tell_crowd_counts()
            });
        }
    }
}
