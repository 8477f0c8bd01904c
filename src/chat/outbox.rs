//! The commit outbox: messages waiting to be stored, and when the next batch goes to the
//! history actor. A plain struct that decides; the chat server carries the decision out.
//!
//! Only one batch is in flight at a time; whatever arrives meanwhile forms the next batch, so
//! commits group themselves under load without a timer. With a commit interval, a batch also
//! waits until that long after the previous one started (unless it is full already).
//!
//! On SQLite the writer also catches up on the write-ahead log between two batches once the
//! checkpoints find the log long ([`Outbox::log_checkpointed`]; when, in
//! [`super::log_catch_up`]): that goes first, and counts as the batch in flight.
//!
//! The queue is bounded, and so is the time a message may wait behind a commit that does not
//! come back: while the database is slow or gone, a sender hears `unavailable` at once (its
//! message is not stored, and it may send it again) instead of waiting without a word while
//! memory grows.

use super::log_catch_up::{LogCatchUp, NextCheckpoint};
use super::messages::{SessionId, StoredRef};
use crate::db::connection::WalProgress;
use crate::db::messages::NewMessage;
use crate::domain::MessageKind;
use crate::domain::{RoomName, UserInfo};
use crate::error::AppError;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A message waiting to be stored.
pub struct PendingMessage {
    /// Who waits for it.
    pub origin: Origin,
    /// Its author.
    pub from: UserInfo,
    /// Its room.
    pub room: RoomName,
    /// Its text, already checked.
    pub text: String,
    /// Ordinary or an announcement.
    pub kind: MessageKind,
    /// When it reached the chat server: the ack latency is counted from here.
    pub arrived: Instant,
}

/// Who waits for a message to be stored.
pub enum Origin {
    /// A connection, acked with this cid.
    Session {
        /// The connection.
        session: SessionId,
        /// The client's id for the message.
        cid: String,
    },
    /// An HTTP request (an announcement, a store message), answered through `reply`.
    Http {
        /// Where the answer goes.
        reply: oneshot::Sender<Result<StoredRef, AppError>>,
        /// The caller's id for the message, if it gave one (the store may).
        cid: Option<String>,
    },
}

impl PendingMessage {
    /// The client's id for the message: a connection's, or the one an HTTP caller gave.
    pub fn cid(&self) -> Option<&str> {
        match &self.origin {
            Origin::Session { cid, .. } => Some(cid),
            Origin::Http { cid, .. } => cid.as_deref(),
        }
    }

    /// The row to store.
    pub fn to_new_message(&self) -> NewMessage {
        NewMessage {
            room: self.room.to_string(),
            sender: self.from.id,
            cid: self.cid().map(str::to_owned),
            text: self.text.clone(),
            kind: self.kind,
        }
    }
}

/// What to do about the outbox now.
#[derive(Debug)]
pub enum Commit {
    /// Nothing: it is empty, a batch is being stored, or a timer will come back.
    NotNow,
    /// Come back after this long (the commit interval); the outbox counts the timer as set.
    After(Duration),
    /// Store these now; the outbox counts them as in flight until [`Outbox::committed`].
    Now(Vec<PendingMessage>),
    /// Have the writer catch up on the log's checkpoint now; it counts as the batch in flight
    /// until [`Outbox::committed`].
    CatchUp,
}

impl std::fmt::Debug for PendingMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PendingMessage({}, {:?})", self.room, self.cid())
    }
}

/// Messages waiting for the next batch.
pub struct Outbox {
    queue: Vec<PendingMessage>,
    /// Whether a batch (or the writer's catch-up) is being stored now.
    writing: bool,
    /// Since when.
    writing_since: Option<Instant>,
    /// When the last batch went to the history actor.
    last_commit: Option<Instant>,
    /// Whether a timer will come back to start the next commit.
    scheduled: bool,
    /// When the writer catches up on SQLite's log between two batches.
    log: LogCatchUp,
    /// Told when the outbox is empty and nothing is being written (shutdown waits on it).
    idle_waiters: Vec<oneshot::Sender<()>>,
    max_batch: usize,
    commit_interval: Duration,
    /// Most messages queued behind the batch in flight.
    max_queued: usize,
    /// How long a batch may be in flight before the database counts as stalled.
    stall_after: Duration,
}

/// The outbox's limits.
#[derive(Debug, Clone, Copy)]
pub struct OutboxLimits {
    /// Most messages stored in one transaction.
    pub max_batch: usize,
    /// Least time between the starts of two commits.
    pub commit_interval: Duration,
    /// Most messages waiting for the next batch; past it senders hear `unavailable`.
    pub max_queued: usize,
    /// A batch in flight for longer than this means the database is stalled: what waits behind
    /// it is refused (`unavailable`), and so is what arrives, until it comes back.
    pub stall_after: Duration,
}

impl Outbox {
    /// An empty outbox within these limits.
    pub fn new(limits: OutboxLimits) -> Outbox {
        Outbox {
            queue: Vec::new(),
            writing: false,
            writing_since: None,
            last_commit: None,
            scheduled: false,
            log: LogCatchUp::default(),
            idle_waiters: Vec::new(),
            max_batch: limits.max_batch.max(1),
            commit_interval: limits.commit_interval,
            max_queued: limits.max_queued.max(1),
            stall_after: limits.stall_after,
        }
    }

    /// Whether a message may be queued now: not when the queue is full or the batch in flight
    /// has stalled (then it would not be stored, and its sender must hear so at once).
    pub fn admits(&self, now: Instant) -> bool {
        self.queue.len() < self.max_queued && !self.is_stalled(now)
    }

    /// Queues a message for the next batch (ask [`Outbox::admits`] first).
    pub fn push(&mut self, message: PendingMessage) {
        self.queue.push(message);
    }

    /// Whether the batch in flight has taken longer than the stall limit.
    pub fn is_stalled(&self, now: Instant) -> bool {
        self.writing
            && self
                .writing_since
                .is_some_and(|started| now.saturating_duration_since(started) > self.stall_after)
    }

    /// When the batch in flight has stalled, everything queued behind it, taken out: none of
    /// it has reached the database, so its senders can be told at once to send it again.
    pub fn take_stalled(&mut self, now: Instant) -> Vec<PendingMessage> {
        if self.is_stalled(now) {
            std::mem::take(&mut self.queue)
        } else {
            Vec::new()
        }
    }

    /// Messages waiting for the next batch (not counting the batch in flight).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// A checkpoint copied SQLite's log: whether another should follow at once, and the
    /// writer's catch-up before the next batch if due ([`LogCatchUp`]).
    pub fn log_checkpointed(&mut self, progress: WalProgress, now: Instant) -> NextCheckpoint {
        self.log.checkpointed(progress, now)
    }

    /// A checkpoint copied nothing (busy) or failed ([`LogCatchUp::missed`]).
    pub fn log_checkpoint_missed(&mut self) {
        self.log.missed();
    }

    /// Whether the writer's catch-up on the log is due or under way: no timed checkpoint now.
    pub fn is_catching_up(&self) -> bool {
        self.log.is_busy()
    }

    /// Whether a batch (or the writer's catch-up) should start now, later, or not at all.
    pub fn next_commit(&mut self, now: Instant) -> Commit {
        if !self.writing && self.log.start() {
            self.writing = true;
            self.writing_since = Some(now);
            return Commit::CatchUp;
        }
        if self.writing || self.scheduled || self.queue.is_empty() {
            return Commit::NotNow;
        }
        let since_last = self
            .last_commit
            .map_or(Duration::MAX, |t| now.saturating_duration_since(t));
        let wait = self.commit_interval.saturating_sub(since_last);
        if !wait.is_zero() && self.queue.len() < self.max_batch {
            self.scheduled = true;
            return Commit::After(wait);
        }
        self.last_commit = Some(now);
        self.writing = true;
        self.writing_since = Some(now);
        self.log.wrote();
        let take = self.queue.len().min(self.max_batch);
        Commit::Now(self.queue.drain(..take).collect())
    }

    /// Starts a write that must not overlap a batch (a merge of conversations,
    /// `chat/merging.rs`): false while a batch is in flight; else it counts as the batch in
    /// flight (no batch starts, and it may stall like one) until [`Outbox::committed`].
    pub fn begin_exclusive(&mut self, now: Instant) -> bool {
        if self.writing {
            return false;
        }
        self.writing = true;
        self.writing_since = Some(now);
        self.log.wrote();
        self.last_commit = Some(now);
        true
    }

    /// Whether a message to this room waits in the queue.
    pub fn holds_room(&self, room: &RoomName) -> bool {
        self.queue.iter().any(|m| &m.room == room)
    }

    /// The timer of [`Commit::After`] came back.
    pub fn timer_fired(&mut self) {
        self.scheduled = false;
    }

    /// The batch in flight is done (stored or failed). Wakes whoever waits for the outbox to
    /// be idle, if it is.
    pub fn committed(&mut self) {
        self.writing = false;
        self.log.finished();
        if self.queue.is_empty() {
            for waiter in self.idle_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    /// Whether nothing is queued or being stored.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && !self.writing
    }

    /// Tells `waiter` once the outbox is idle (at once if it is).
    pub fn when_idle(&mut self, waiter: oneshot::Sender<()>) {
        if self.is_idle() {
            let _ = waiter.send(());
        } else {
            self.idle_waiters.push(waiter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connection::CATCH_UP_PAGES;
    use crate::domain::{Role, UserId};

    fn message(cid: &str) -> PendingMessage {
        PendingMessage {
            origin: Origin::Session {
                session: SessionId(1),
                cid: cid.into(),
            },
            from: UserInfo {
                id: UserId(1),
                username: "ann".into(),
                role: Role::User,
                display_name: None,
                avatar_color: None,
            },
            room: RoomName::parse("lobby").unwrap(),
            text: "hi".into(),
            kind: MessageKind::Text,
            arrived: Instant::now(),
        }
    }

    fn outbox(max_batch: usize, commit_interval: Duration) -> Outbox {
        Outbox::new(OutboxLimits {
            max_batch,
            commit_interval,
            max_queued: 1000,
            stall_after: Duration::from_secs(5),
        })
    }

    fn push(outbox: &mut Outbox, cid: &str) {
        assert!(outbox.admits(Instant::now()));
        outbox.push(message(cid));
    }

    fn cids(commit: Commit) -> Vec<String> {
        match commit {
            Commit::Now(batch) => batch.iter().map(|p| p.cid().unwrap().to_owned()).collect(),
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    #[test]
    fn what_arrives_while_a_batch_is_stored_forms_the_next_batch() {
        let mut outbox = outbox(100, Duration::ZERO);
        let now = Instant::now();
        assert!(matches!(outbox.next_commit(now), Commit::NotNow), "empty");
        push(&mut outbox, "a");
        assert_eq!(cids(outbox.next_commit(now)), vec!["a"]);
        push(&mut outbox, "b");
        push(&mut outbox, "c");
        assert!(
            matches!(outbox.next_commit(now), Commit::NotNow),
            "one in flight"
        );
        outbox.committed();
        assert_eq!(cids(outbox.next_commit(now)), vec!["b", "c"]);
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_messages_in_order() {
        let mut outbox = outbox(2, Duration::ZERO);
        for cid in ["a", "b", "c"] {
            push(&mut outbox, cid);
        }
        let now = Instant::now();
        assert_eq!(cids(outbox.next_commit(now)), vec!["a", "b"]);
        outbox.committed();
        assert_eq!(cids(outbox.next_commit(now)), vec!["c"]);
    }

    #[test]
    fn with_a_commit_interval_the_next_batch_waits_unless_it_is_full() {
        let interval = Duration::from_millis(5);
        let mut outbox = outbox(3, interval);
        let start = Instant::now();
        push(&mut outbox, "a");
        assert_eq!(
            cids(outbox.next_commit(start)),
            vec!["a"],
            "the first goes at once"
        );
        outbox.committed();

        push(&mut outbox, "b");
        let soon = start + Duration::from_millis(2);
        match outbox.next_commit(soon) {
            Commit::After(wait) => assert_eq!(wait, Duration::from_millis(3)),
            other => panic!("expected a wait, got {other:?}"),
        }
        assert!(
            matches!(outbox.next_commit(soon), Commit::NotNow),
            "timer set"
        );
        outbox.timer_fired();
        assert_eq!(cids(outbox.next_commit(start + interval)), vec!["b"]);
        outbox.committed();

        for cid in ["c", "d", "e"] {
            push(&mut outbox, cid);
        }
        let full = cids(outbox.next_commit(start + interval));
        assert_eq!(full, vec!["c", "d", "e"], "a full batch does not wait");
    }

    #[test]
    fn idle_waiters_hear_when_everything_queued_is_stored() {
        let mut outbox = outbox(10, Duration::ZERO);
        let (tx, mut rx) = oneshot::channel();
        outbox.when_idle(tx);
        assert!(rx.try_recv().is_ok(), "an idle outbox answers at once");

        push(&mut outbox, "a");
        let (tx, mut rx) = oneshot::channel();
        outbox.when_idle(tx);
        let _batch = outbox.next_commit(Instant::now());
        push(&mut outbox, "b");
        outbox.committed();
        assert!(rx.try_recv().is_err(), "b is still queued");
        let _batch = outbox.next_commit(Instant::now());
        outbox.committed();
        assert!(rx.try_recv().is_ok());
        assert!(outbox.is_idle());
    }

    #[test]
    fn an_exclusive_write_waits_for_the_batch_in_flight_and_holds_the_next_one() {
        let mut outbox = outbox(10, Duration::ZERO);
        let now = Instant::now();
        push(&mut outbox, "a1");
        let _in_flight = outbox.next_commit(now);
        assert!(!outbox.begin_exclusive(now), "a batch is being stored");
        push(&mut outbox, "a2");
        let lobby = RoomName::parse("lobby").unwrap();
        assert!(outbox.holds_room(&lobby));
        assert!(!outbox.holds_room(&RoomName::parse("games").unwrap()));
        outbox.committed();
        assert!(outbox.begin_exclusive(now));
        assert!(matches!(outbox.next_commit(now), Commit::NotNow));
        assert!(!outbox.is_idle());
        outbox.committed();
        assert_eq!(cids(outbox.next_commit(now)), ["a2"]);
    }

    #[test]
    fn a_full_queue_admits_nothing_more_until_a_batch_takes_from_it() {
        let mut outbox = Outbox::new(OutboxLimits {
            max_batch: 10,
            commit_interval: Duration::ZERO,
            max_queued: 2,
            stall_after: Duration::from_secs(5),
        });
        let now = Instant::now();
        push(&mut outbox, "a");
        push(&mut outbox, "b");
        assert!(!outbox.admits(now), "full");
        assert_eq!(outbox.queued(), 2);
        // Once a batch takes them, there is room again.
        let _batch = outbox.next_commit(now);
        assert!(outbox.admits(now));
    }

    #[test]
    fn behind_a_stalled_batch_nothing_waits_in_silence() {
        let stall_after = Duration::from_secs(5);
        let mut outbox = Outbox::new(OutboxLimits {
            max_batch: 10,
            commit_interval: Duration::ZERO,
            max_queued: 100,
            stall_after,
        });
        let start = Instant::now();
        push(&mut outbox, "a");
        let _in_flight = outbox.next_commit(start);
        push(&mut outbox, "b");
        let soon = start + Duration::from_secs(1);
        assert!(
            outbox.take_stalled(soon).is_empty(),
            "a slow commit is not yet a stall"
        );
        assert!(outbox.admits(soon));
        outbox.push(message("c"));

        let late = start + stall_after + Duration::from_millis(1);
        assert!(outbox.is_stalled(late));
        let refused: Vec<_> = outbox.take_stalled(late);
        let refused: Vec<_> = refused.iter().map(|p| p.cid().unwrap()).collect();
        assert_eq!(refused, ["b", "c"], "what waited behind it is given back");
        assert!(!outbox.admits(late), "and so is what arrives");

        outbox.committed();
        assert!(!outbox.is_stalled(late), "the database answered");
        assert!(outbox.admits(late));
    }

    /// Checkpoints that find the log long: the second copied little, so the writer is due.
    fn log_long_enough_to_catch_up(outbox: &mut Outbox) {
        let long = i64::from(CATCH_UP_PAGES);
        for log_pages in [long, long + 1] {
            outbox.log_checkpointed(
                WalProgress {
                    log_pages,
                    copied_pages: log_pages,
                },
                Instant::now(),
            );
        }
    }

    #[test]
    fn the_writers_catch_up_on_the_log_goes_between_two_batches_before_what_waits() {
        let mut outbox = outbox(100, Duration::from_millis(5));
        let now = Instant::now();
        push(&mut outbox, "a");
        assert_eq!(cids(outbox.next_commit(now)), vec!["a"]);
        push(&mut outbox, "b");
        log_long_enough_to_catch_up(&mut outbox);
        assert!(
            matches!(outbox.next_commit(now), Commit::NotNow),
            "not while a batch is in flight"
        );
        outbox.committed();
        assert!(
            matches!(outbox.next_commit(now), Commit::CatchUp),
            "first, whatever the commit interval"
        );
        assert!(
            matches!(outbox.next_commit(now), Commit::NotNow),
            "the catch-up is in flight"
        );
        assert!(!outbox.is_idle());
        outbox.committed();
        let later = now + Duration::from_millis(5);
        assert_eq!(cids(outbox.next_commit(later)), vec!["b"], "then the batch");
        outbox.committed();
        assert!(outbox.is_idle());
        assert!(matches!(outbox.next_commit(later), Commit::NotNow), "once");
    }
}
