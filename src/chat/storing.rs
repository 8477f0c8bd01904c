//! The chat server's storing of messages: the outbox is handed to the message writer one
//! batch at a time (`flush`), what it cannot take is refused at once (`enqueue`,
//! `refuse_stalled`), an outage is noted once (`storage_answered`), and each stored message is
//! delivered to its room and acked to its sender (`deliver_stored`). Also the SQLite
//! checkpoint timer and the readiness figures. Routing only: the decisions are
//! [`Outbox`](super::outbox::Outbox)'s and [`StorageHealth`](super::storage_health::StorageHealth)'s.

use super::fanout::{self, Deliveries, Skip};
use super::log_catch_up::NextCheckpoint;
use super::messages::*;
use super::outbox::{Commit, Origin, PendingMessage};
use super::refusals::{conversation_closed, not_stored, shutting_down, split, storage_failure};
use super::server::ChatServer;
use super::stats::unix_seconds;
use super::storage_health::Change;
use crate::db::messages::StoreOutcome;
use crate::domain::{RoomKind, RoomName, UserId};
use crate::error::AppError;
use crate::history::messages::{CatchUpCheckpoint, Checkpoint, StoreMessages};
use crate::protocol::{ServerFrame, WireMessage};
use actix::prelude::*;
use std::time::Instant;

impl ChatServer {
    /// Has the log checkpointer copy the write-ahead log on its own thread, so that the
    /// writer's commits never wait for it. The passes right before the writer's catch-up
    /// (`before_catch_up`) also sync the database file, off the commit path.
    pub(super) fn checkpoint(&mut self, before_catch_up: bool, ctx: &mut Context<Self>) {
        if self.checkpointing || self.outbox.is_catching_up() {
            return;
        }
        let Some(checkpointer) = &self.checkpointer else {
            return;
        };
        self.checkpointing = true;
        checkpointer
            .send(Checkpoint {
                sync_database: before_catch_up,
            })
            .into_actor(self)
            .map(move |result, act, ctx| {
                act.checkpointing = false;
                match split(result) {
                    Ok(Some(progress)) => {
                        if act.outbox.log_checkpointed(progress, Instant::now())
                            == NextCheckpoint::AtOnce
                        {
                            act.checkpoint(true, ctx);
                        }
                        act.flush(ctx);
                    }
                    Ok(None) => act.outbox.log_checkpoint_missed(),
                    Err(e) => {
                        act.outbox.log_checkpoint_missed();
                        storage_failure("checkpoint", e);
                    }
                }
            })
            .spawn(ctx);
    }

    /// Has the message writer copy, between two commits, what the last checkpoint left in the
    /// log ([`CatchUpCheckpoint`]); the outbox holds the next batch until it is done.
    fn catch_up_checkpoint(&mut self, ctx: &mut Context<Self>) {
        self.writer
            .send(CatchUpCheckpoint)
            .into_actor(self)
            .map(|result, act, ctx| {
                if let Err(e) = split(result) {
                    storage_failure("checkpoint", e);
                }
                act.outbox.committed();
                act.flush(ctx);
            })
            .spawn(ctx);
    }

    /// Queues a message for the next commit and starts one if it may; a message the outbox
    /// cannot take (shutting down, queue full, database stalled) is refused at once.
    pub(super) fn enqueue(&mut self, message: PendingMessage, ctx: &mut Context<Self>) {
        if self.draining {
            return self.refuse_unstored(vec![message], shutting_down);
        }
        if self.outbox.admits(Instant::now()) {
            self.outbox.push(message);
            self.flush(ctx);
        } else {
            self.refuse_unstored(vec![message], not_stored);
        }
    }

    /// Starts storing the outbox when [`Outbox::next_commit`] says so.
    pub(super) fn flush(&mut self, ctx: &mut Context<Self>) {
        // A guest's conversation waiting to move goes between two batches (`merging.rs`).
        if !self.merges.is_empty() && self.start_merge(ctx) {
            return;
        }
        let pending = match self.outbox.next_commit(Instant::now()) {
            Commit::NotNow => return,
            Commit::After(wait) => {
                ctx.run_later(wait, |act, ctx| {
                    act.outbox.timer_fired();
                    act.flush(ctx);
                });
                return;
            }
            Commit::CatchUp => return self.catch_up_checkpoint(ctx),
            Commit::Now(pending) => pending,
        };
        crate::metrics::store_batch(pending.len());
        let batch = pending.iter().map(PendingMessage::to_new_message).collect();
        self.writer
            .send(StoreMessages { batch })
            .into_actor(self)
            .map(move |result, act, ctx| {
                match split(result) {
                    Ok(stored) if stored.outcomes.len() == pending.len() => {
                        act.storage_answered(Ok(()));
                        act.deliver_stored(pending, stored.outcomes, ctx);
                        // After the messages: the staff hear of the conversations they made.
                        act.conversations_changed(stored.conversations, ctx);
                    }
                    other => {
                        let count = pending.len();
                        act.storage_answered(Err(match other {
                            Ok(stored) => {
                                format!("{} outcomes for {count} messages", stored.outcomes.len())
                            }
                            Err(Ok(e)) => e.to_string(),
                            Err(Err(e)) => format!("message writer: {e}"),
                        }));
                        act.refuse_unstored(pending, not_stored);
                    }
                }
                act.outbox.committed();
                act.flush(ctx);
            })
            .spawn(ctx);
    }

    /// Notes a commit's outcome; logs an outage when it starts and when it ends, not once per
    /// message.
    fn storage_answered(&mut self, outcome: Result<(), String>) {
        let now = Instant::now();
        match outcome {
            Ok(()) => {
                if let Change::CameBack {
                    after,
                    failed_commits,
                } = self.storage.succeeded(now)
                {
                    log::warn!(
                        "storing messages works again, after {:.1} s and {failed_commits} failed commit(s)",
                        after.as_secs_f64()
                    );
                }
            }
            Err(cause) => {
                crate::metrics::database_error("store");
                match self.storage.failed(now) {
                    Change::WentDown => log::error!(
                        "storing messages failed: {cause}. Senders are told `unavailable` (their \
                         messages are not stored) until the database answers again"
                    ),
                    _ => log::debug!("storing messages failed again: {cause}"),
                }
            }
        }
    }

    /// Refuses, at once, what waits behind a commit that has not come back for too long: none
    /// of it has reached the database, and its senders should not wait in silence.
    pub(super) fn refuse_stalled(&mut self) {
        let stalled = self.outbox.take_stalled(Instant::now());
        if !stalled.is_empty() {
            log::warn!(
                "a commit has not come back for {:?}: refusing {} queued message(s) with `unavailable`",
                self.config.stall_after,
                stalled.len()
            );
            self.refuse_unstored(stalled, not_stored);
        }
    }

    /// Tells whoever waits for each of these messages that it was not stored, and why.
    pub(super) fn refuse_unstored(&mut self, pending: Vec<PendingMessage>, why: fn() -> AppError) {
        for p in pending {
            match p.origin {
                Origin::Session { session, cid } => {
                    self.send_error(session, why(), Some(cid), &p.room)
                }
                Origin::Http { reply, .. } => {
                    let _ = reply.send(Err(why()));
                }
            }
        }
    }

    /// Whether the server can serve: not draining, and storing messages works.
    pub(super) fn readiness(&self) -> Readiness {
        let now = Instant::now();
        Readiness {
            draining: self.draining,
            failing: self.storage.failed_lately(now),
            stalled: self.outbox.is_stalled(now),
            queued: self.outbox.queued(),
        }
    }

    /// After a commit: every new message to its room (sender included) and, for support
    /// conversations and their notes threads, to every staff connection; then the ack. Each
    /// connection gets all of its frames of the batch at once.
    fn deliver_stored(
        &mut self,
        pending: Vec<PendingMessage>,
        outcomes: Vec<StoreOutcome>,
        ctx: &mut Context<Self>,
    ) {
        let mut deliveries = std::mem::take(&mut self.deliveries);
        let mut stored = 0;
        for (p, outcome) in pending.into_iter().zip(outcomes) {
            if outcome == StoreOutcome::Refused {
                refuse_closed(p, &mut deliveries);
                continue;
            }
            let seq = outcome.seq();
            let cid = p.cid().map(str::to_owned);
            if let StoreOutcome::Stored { id, seq, ts } = outcome {
                stored += 1;
                let message = WireMessage {
                    room: p.room.to_string(),
                    seq,
                    id,
                    from: p.from,
                    text: p.text,
                    ts,
                    cid,
                    kind: p.kind,
                };
                // One node of several: published, and handed out in the room's order
                // (`cluster.rs`).
                if let Some(message) = self.cluster_stored(message, &mut deliveries, ctx) {
                    // A notes thread's notes and events reach the staff as activity of its
                    // conversation, like the conversation's own messages.
                    if let RoomKind::Support(owner) | RoomKind::Notes(owner) = p.room.kind() {
                        self.gather_support_activity(owner, &message, &mut deliveries);
                    }
                    let frame = ServerFrame::Message(message).encode();
                    fanout::gather_room(
                        &self.rooms,
                        &self.registry,
                        &p.room,
                        &frame,
                        seq,
                        Skip::Nobody,
                        &mut deliveries,
                    );
                }
            }
            let id = match outcome {
                StoreOutcome::Stored { id, .. } | StoreOutcome::Duplicate { id, .. } => id,
                StoreOutcome::Refused => continue,
            };
            match p.origin {
                Origin::Session { session, cid } => {
                    self.acked_arrivals.push(p.arrived);
                    deliveries.push_ack(session, fanout::ack_frame(cid, &p.room, seq));
                }
                Origin::Http { reply, .. } => {
                    let room = p.room.to_string();
                    let _ = reply.send(Ok(StoredRef { room, seq, id }));
                }
            }
        }
        self.stored.count(unix_seconds(), stored);
        crate::metrics::messages_stored(stored);
        // The acks are the first frames `dispatch` hands out.
        crate::metrics::acks_handed_out(&self.acked_arrivals);
        self.acked_arrivals.clear();
        self.dispatch(deliveries);
    }

    /// A `support_activity` frame for every staff connection.
    pub(super) fn gather_support_activity(
        &self,
        owner: UserId,
        message: &WireMessage,
        into: &mut Deliveries,
    ) {
        if !self.registry.has_staff() {
            return;
        }
        let frame = ServerFrame::SupportActivity {
            // The conversation, also for a message of its notes thread.
            room: RoomName::support(owner).to_string(),
            customer: fanout::support_customer(&self.registry, owner, &message.from),
            message: message.clone(),
        }
        .encode();
        fanout::gather_staff(&self.registry, &frame, into);
    }
}

/// A message the writer refused because its room is a closed support conversation (a guest's,
/// after the guest signed in on the store): `not_found` to its sender, never an ack.
fn refuse_closed(p: PendingMessage, deliveries: &mut Deliveries) {
    let error = conversation_closed(&p.room);
    match p.origin {
        Origin::Session { session, cid } => {
            crate::metrics::refused(error.code.as_str());
            let room = Some(p.room.to_string());
            let frame = ServerFrame::error(error.code, error.message, Some(cid), room);
            let frame = OutFrame {
                text: frame.encode(),
                about: About::Nothing,
            };
            deliveries.push(session, frame);
        }
        Origin::Http { reply, .. } => {
            let _ = reply.send(Err(error));
        }
    }
}
