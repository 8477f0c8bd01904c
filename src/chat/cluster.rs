//! The chat server as one node of several (`--redis-url`): its stored messages go to the
//! broker, the other nodes' come from it, and each room's messages reach this node's
//! connections in seq order with no gap ([`RoomSequencer`]), gaps closed from the database.
//! Without a broker none of this runs: the chat server delivers straight after each commit.

use super::cluster_watch::QuietRoomWatch;
use super::fanout::{self, Deliveries, Skip};
use super::sequencer::{GapRead, RoomSequencer, Sequenced};
use super::server::ChatServer;
use crate::broker::{Broker, BrokerHealth, BrokerPush, Envelope};
use crate::domain::{RoomKind, RoomName, UserId};
use crate::history::cluster::ReadRoomTail;
use crate::history::messages::RoomSnapshot;
use crate::protocol::{ServerFrame, WireMessage};
use actix::prelude::*;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// How long a message waits for its predecessor before the database is asked.
pub const GAP_PATIENCE: Duration = Duration::from_millis(150);

/// Most messages one gap read brings.
const GAP_READ_LIMIT: i64 = 1000;

/// This node's part of the deployment: the broker and the order of each live room.
pub struct Cluster {
    pub(super) broker: Broker,
    /// What the other nodes said of their users (`cluster_presence.rs`).
    pub(super) presence: super::node_view::ClusterPresence,
    pub(super) sequencer: RoomSequencer<WireMessage>,
    /// The periodic check for a lost publication in a quiet room (`cluster_watch.rs`).
    pub(super) watch: QuietRoomWatch,
    /// The broker's pushes, until the chat server starts and takes them as a stream.
    pushes: Option<UnboundedReceiver<BrokerPush>>,
    /// Whether a gap check is scheduled.
    check_scheduled: bool,
    /// Whether the connection to Redis was lost (and not yet back).
    degraded: bool,
    /// The same, for `/healthz`.
    health: BrokerHealth,
}

impl Cluster {
    /// The node's cluster part over a broker and the stream of its pushes; degraded from the
    /// start when `health` says so (Redis did not answer at start).
    pub fn new(
        broker: Broker,
        pushes: UnboundedReceiver<BrokerPush>,
        health: BrokerHealth,
    ) -> Cluster {
        let heartbeat = broker.presence().heartbeat_interval();
        Cluster {
            broker,
            presence: super::node_view::ClusterPresence::new(heartbeat),
            sequencer: RoomSequencer::new(GAP_PATIENCE),
            watch: QuietRoomWatch::default(),
            pushes: Some(pushes),
            check_scheduled: false,
            degraded: health.is_degraded(),
            health,
        }
    }

    /// The broker, for this node's other parts across nodes (`cluster_frames.rs`).
    pub(super) fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Whether the broker is away (the node serves its own connections meanwhile).
    pub fn is_degraded(&self) -> bool {
        self.degraded
    }
}

/// The broker's pushes as an actor stream.
struct Pushes(UnboundedReceiver<BrokerPush>);

impl Stream for Pushes {
    type Item = BrokerPush;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<BrokerPush>> {
        self.0.poll_recv(cx)
    }
}

impl ChatServer {
    /// At start: the broker's pushes become a stream of this actor.
    pub(super) fn cluster_started(&mut self, ctx: &mut Context<Self>) {
        if let Some(pushes) = self.cluster.as_mut().and_then(|c| c.pushes.take()) {
            ctx.add_stream(Pushes(pushes));
            self.cluster_watch_started(ctx);
        }
        self.presence_started(ctx);
    }

    /// A room got its first connection on this node: follow its channel.
    pub(super) fn cluster_room_opened(&mut self, room: &RoomName) {
        if let Some(cluster) = &mut self.cluster {
            cluster.sequencer.open(room);
            cluster.broker.subscribe(room.as_str());
        }
    }

    /// A room lost its last connection on this node: stop following it.
    pub(super) fn cluster_room_closed(&mut self, room: &RoomName) {
        if let Some(cluster) = &mut self.cluster {
            cluster.sequencer.close(room);
            cluster.broker.unsubscribe(room.as_str());
        }
    }

    /// Hands `then` the snapshot a join read, completed when this node runs with others: the
    /// room's order here may have started after it (another join's snapshot, read later but
    /// answered first), and the messages between it and that start were handed out before
    /// this connection could show them. They are read from the database and added to its
    /// snapshot, so that `joined` and the live messages meet with no gap.
    pub(super) fn cluster_complete_snapshot(
        &mut self,
        room: &RoomName,
        mut snapshot: RoomSnapshot,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut ChatServer, RoomSnapshot, &mut Context<ChatServer>) + 'static,
    ) {
        let next = self.cluster.as_ref().and_then(|c| c.sequencer.next(room));
        let Some(next) = next.filter(|&next| snapshot.last_seq + 1 < next) else {
            return then(self, snapshot, ctx);
        };
        self.history
            .send(ReadRoomTail {
                room: room.clone(),
                after: snapshot.last_seq,
                limit: GAP_READ_LIMIT,
            })
            .into_actor(self)
            .map(move |result, act, ctx| {
                match result {
                    Ok(Ok(tail)) => {
                        let missing = tail.messages.into_iter().filter(|m| m.seq < next);
                        snapshot.messages.extend(missing);
                        snapshot.last_seq = snapshot.last_seq.max(next - 1);
                    }
                    Ok(Err(e)) => log::warn!("cluster: completing a snapshot failed: {e}"),
                    Err(e) => log::warn!("cluster: completing a snapshot failed: {e}"),
                }
                then(act, snapshot, ctx);
            })
            .spawn(ctx);
    }

    /// A `joined` snapshot of the room up to `last_seq` was read: the first one starts the
    /// room's order on this node.
    pub(super) fn cluster_snapshot_read(
        &mut self,
        room: &RoomName,
        last_seq: i64,
        ctx: &mut Context<Self>,
    ) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let released = cluster
            .sequencer
            .snapshot_read(room, last_seq, Instant::now());
        // What the broker may have carried before this node followed the room.
        let read = cluster.sequencer.catch_up(room);
        self.deliver_released(room, released);
        if let Some(read) = read {
            self.read_gap(read, ctx);
        }
        self.schedule_gap_check(ctx);
    }

    /// A message this node stored: published to the other nodes, and handed to this node's
    /// connections in its room's order. Given back when this node runs alone (the caller
    /// delivers it then).
    pub(super) fn cluster_stored(
        &mut self,
        message: WireMessage,
        deliveries: &mut Deliveries,
        ctx: &mut Context<Self>,
    ) -> Option<WireMessage> {
        let Some(cluster) = &mut self.cluster else {
            return Some(message);
        };
        cluster.broker.publish(&message);
        let Ok(room) = RoomName::parse(&message.room) else {
            return None;
        };
        if let RoomKind::Support(_) | RoomKind::Notes(_) = room.kind() {
            cluster.broker.publish_for_staff(&message);
        }
        if !cluster.sequencer.is_open(&room) {
            // Nobody here is in the room (a staff note into a thread nobody opened, a store's
            // message): only the staff connected here hear of it, at once.
            if let RoomKind::Support(owner) | RoomKind::Notes(owner) = room.kind() {
                self.gather_support_activity(owner, &message, deliveries);
            }
            return None;
        }
        let seq = message.seq;
        let released = cluster.sequencer.offer(&room, seq, message, Instant::now());
        self.gather_released(&room, released, deliveries);
        self.schedule_gap_check(ctx);
        None
    }

    /// A frame of the moment (`typing`, `deleted`) just handed to this node's members of the
    /// room: to the other nodes' members too.
    pub(super) fn cluster_forward(&self, room: &RoomName, frame: &str, skip_user: Option<UserId>) {
        if let Some(cluster) = &self.cluster {
            cluster
                .broker
                .publish_frame(room.as_str(), frame, skip_user.map(|u| u.0));
        }
    }

    /// An account changed through this node's API (a ban, a role): the other nodes read it
    /// again too, so that its sockets there close or change at once.
    pub(super) fn cluster_account_changed(&self, user: UserId) {
        if let Some(cluster) = &self.cluster {
            cluster.broker.publish_account_changed(user.0);
        }
    }

    /// Hands released messages to this node's connections.
    fn deliver_released(&mut self, room: &RoomName, released: Vec<Sequenced<WireMessage>>) {
        if released.is_empty() {
            return;
        }
        let mut deliveries = std::mem::take(&mut self.deliveries);
        self.gather_released(room, released, &mut deliveries);
        self.dispatch(deliveries);
    }

    /// Gathers released messages for the room's members (and, for a support conversation or
    /// its notes thread, the staff's `support_activity`).
    fn gather_released(
        &self,
        room: &RoomName,
        released: Vec<Sequenced<WireMessage>>,
        deliveries: &mut Deliveries,
    ) {
        for (seq, message) in released {
            if let RoomKind::Support(owner) | RoomKind::Notes(owner) = room.kind() {
                self.gather_support_activity(owner, &message, deliveries);
            }
            let frame = ServerFrame::Message(message).encode();
            fanout::gather_room(
                &self.rooms,
                &self.registry,
                room,
                &frame,
                seq,
                Skip::Nobody,
                deliveries,
            );
        }
    }

    /// Checks for gaps open too long once the patience has passed, while any is open.
    fn schedule_gap_check(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if cluster.check_scheduled || !cluster.sequencer.is_waiting() {
            return;
        }
        cluster.check_scheduled = true;
        ctx.run_later(GAP_PATIENCE, |act, ctx| {
            let reads = match &mut act.cluster {
                Some(cluster) => {
                    cluster.check_scheduled = false;
                    cluster.sequencer.overdue(Instant::now())
                }
                None => return,
            };
            for read in reads {
                act.read_gap(read, ctx);
            }
            act.schedule_gap_check(ctx);
        });
    }

    /// Reads a room's messages after a seq from the database and hands out what it closes.
    pub(super) fn read_gap(&mut self, read: GapRead, ctx: &mut Context<Self>) {
        let GapRead { room, after } = read;
        log::debug!("cluster: reading {room} after seq {after} from the database");
        self.history
            .send(ReadRoomTail {
                room: room.clone(),
                after,
                limit: GAP_READ_LIMIT,
            })
            .into_actor(self)
            .map(move |result, act, ctx| {
                let Some(cluster) = &mut act.cluster else {
                    return;
                };
                match result {
                    Ok(Ok(tail)) => {
                        log::debug!(
                            "cluster: read {room}: {} message(s), settled {}",
                            tail.messages.len(),
                            tail.settled
                        );
                        let messages = tail
                            .messages
                            .into_iter()
                            .map(|m| {
                                let m = WireMessage::from(m);
                                (m.seq, m)
                            })
                            .collect();
                        let released =
                            cluster
                                .sequencer
                                .filled(&room, messages, tail.settled, Instant::now());
                        let again = cluster.sequencer.take_again(&room);
                        act.deliver_released(&room, released);
                        if let Some(read) = again {
                            act.read_gap(read, ctx);
                        }
                    }
                    Ok(Err(e)) => {
                        cluster.sequencer.read_failed(&room);
                        log::warn!("cluster: reading {room} to close a gap failed: {e}");
                    }
                    Err(e) => {
                        cluster.sequencer.read_failed(&room);
                        log::warn!("cluster: reading {room} to close a gap failed: {e}");
                    }
                }
                act.schedule_gap_check(ctx);
            })
            .spawn(ctx);
    }

    /// Redis answers again (or for the first time, when the node started without it): every
    /// followed room is subscribed again and caught up from the database.
    fn broker_back(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        cluster.degraded = false;
        cluster.health.set_degraded(false);
        log::warn!(
            "cluster: the broker (Redis) answers; catching every followed room up from the \
             database"
        );
        // Subscriptions that failed while it was away were never confirmed, so not renewed by
        // the connection: ask for every followed room again.
        for followed in cluster.sequencer.rooms() {
            cluster.broker.subscribe(followed.as_str());
        }
        for read in cluster.sequencer.catch_up_all() {
            self.read_gap(read, ctx);
        }
        // Presence news was missed too, and what this node wrote may be gone or half written.
        self.reload_presence(ctx);
        self.rewrite_presence();
        self.cluster_frames_reconnected();
    }
}

impl StreamHandler<BrokerPush> for ChatServer {
    fn handle(&mut self, push: BrokerPush, ctx: &mut Context<Self>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        match push {
            BrokerPush::Message { room, payload } => {
                let Ok(envelope) = serde_json::from_slice::<Envelope>(&payload) else {
                    log::warn!("cluster: an unreadable publication on room {room}: ignored");
                    return;
                };
                if envelope.node == cluster.broker.node() {
                    return;
                }
                let Ok(room) = RoomName::parse(&room) else {
                    return;
                };
                if let Some(change) = envelope.presence {
                    return self.room_presence_news(&room, change);
                }
                if let Some(frame) = envelope.frame {
                    let skip = envelope
                        .skip_user
                        .map_or(Skip::Nobody, |u| Skip::User(UserId(u)));
                    return self.fan_out(&room, frame.into(), skip);
                }
                let Some(message) = envelope.message.filter(|m| m.room == room.as_str()) else {
                    return;
                };
                let seq = message.seq;
                let released = cluster.sequencer.offer(&room, seq, message, Instant::now());
                self.deliver_released(&room, released);
                self.schedule_gap_check(ctx);
            }
            BrokerPush::Connected if cluster.degraded => self.broker_back(ctx),
            BrokerPush::Connected => {}
            BrokerPush::Subscribed { .. } if cluster.degraded => self.broker_back(ctx),
            BrokerPush::Subscribed { room } => {
                let Ok(room) = RoomName::parse(&room) else {
                    return;
                };
                // Who is in the room through the other nodes, now that their news comes.
                if self.rooms.is_live(&room) {
                    self.read_room_presence(room.clone(), ctx);
                }
                let Some(cluster) = &mut self.cluster else {
                    return;
                };
                // Publications before the subscription held are not in the channel: read them.
                if let Some(read) = cluster.sequencer.catch_up(&room) {
                    self.read_gap(read, ctx);
                }
            }
            BrokerPush::StaffActivity { payload } => {
                let Ok(envelope) = serde_json::from_slice::<Envelope>(&payload) else {
                    return;
                };
                let Some(message) = envelope.message else {
                    return self.cluster_staff_news(envelope);
                };
                let Ok(room) = RoomName::parse(&message.room) else {
                    return;
                };
                // A node that follows the room tells its staff when it hands the message out
                // in order; one that does not, now.
                if envelope.node == cluster.broker.node() || cluster.sequencer.is_open(&room) {
                    return;
                }
                if let RoomKind::Support(owner) | RoomKind::Notes(owner) = room.kind() {
                    let mut deliveries = std::mem::take(&mut self.deliveries);
                    self.gather_support_activity(owner, &message, &mut deliveries);
                    self.dispatch(deliveries);
                }
            }
            BrokerPush::UserFrame { user, payload } => {
                self.cluster_user_frame(UserId(user), &payload);
            }
            BrokerPush::AccountChanged { user } => {
                self.reread_account(UserId(user), ctx);
            }
            BrokerPush::Presence { payload } => self.presence_news(&payload, ctx),
            BrokerPush::Disconnected => {
                if !cluster.degraded {
                    cluster.degraded = true;
                    cluster.health.set_degraded(true);
                    log::error!(
                        "cluster: the connection to the broker (Redis) is lost: messages of other \
                         nodes reach this node's connections late (from the database, when a gap \
                         shows or once Redis is back); reconnecting"
                    );
                }
            }
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        // The broker's task ended (it never should): keep serving this node's connections.
        log::error!("cluster: the broker's stream ended");
    }
}
