//! The commit outbox: messages waiting to be stored, and when the next batch goes to the
//! history actor. A plain struct that decides; the chat server carries the decision out.
//!
//! Only one batch is in flight at a time; whatever arrives meanwhile forms the next batch, so
//! commits group themselves under load without a timer. With a commit interval, a batch also
//! waits until that long after the previous one started (unless it is full already).

use super::messages::{SessionId, StoredRef};
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
    /// An HTTP request (an announcement), answered through this channel.
    Http(oneshot::Sender<Result<StoredRef, AppError>>),
}

impl PendingMessage {
    /// The client's id for the message, if a connection sent it.
    pub fn cid(&self) -> Option<&str> {
        match &self.origin {
            Origin::Session { cid, .. } => Some(cid),
            Origin::Http(_) => None,
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
}

impl std::fmt::Debug for PendingMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PendingMessage({}, {:?})", self.room, self.cid())
    }
}

/// Messages waiting for the next batch.
pub struct Outbox {
    queue: Vec<PendingMessage>,
    /// Whether a batch is being stored now.
    writing: bool,
    /// When the last batch went to the history actor.
    last_commit: Option<Instant>,
    /// Whether a timer will come back to start the next commit.
    scheduled: bool,
    /// Told when the outbox is empty and nothing is being written (shutdown waits on it).
    idle_waiters: Vec<oneshot::Sender<()>>,
    max_batch: usize,
    commit_interval: Duration,
}

impl Outbox {
    /// An empty outbox storing at most `max_batch` messages per transaction, starting commits
    /// at least `commit_interval` apart.
    pub fn new(max_batch: usize, commit_interval: Duration) -> Outbox {
        Outbox {
            queue: Vec::new(),
            writing: false,
            last_commit: None,
            scheduled: false,
            idle_waiters: Vec::new(),
            max_batch: max_batch.max(1),
            commit_interval,
        }
    }

    /// Queues a message for the next batch.
    pub fn push(&mut self, message: PendingMessage) {
        self.queue.push(message);
    }

    /// Whether a batch should start now, later, or not at all.
    pub fn next_commit(&mut self, now: Instant) -> Commit {
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
        let take = self.queue.len().min(self.max_batch);
        Commit::Now(self.queue.drain(..take).collect())
    }

    /// The timer of [`Commit::After`] came back.
    pub fn timer_fired(&mut self) {
        self.scheduled = false;
    }

    /// The batch in flight is done (stored or failed). Wakes whoever waits for the outbox to
    /// be idle, if it is.
    pub fn committed(&mut self) {
        self.writing = false;
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
            },
            room: RoomName::parse("lobby").unwrap(),
            text: "hi".into(),
            kind: MessageKind::Text,
        }
    }

    fn cids(commit: Commit) -> Vec<String> {
        match commit {
            Commit::Now(batch) => batch.iter().map(|p| p.cid().unwrap().to_owned()).collect(),
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    #[test]
    fn what_arrives_while_a_batch_is_stored_forms_the_next_batch() {
        let mut outbox = Outbox::new(100, Duration::ZERO);
        let now = Instant::now();
        assert!(matches!(outbox.next_commit(now), Commit::NotNow), "empty");
        outbox.push(message("a"));
        assert_eq!(cids(outbox.next_commit(now)), vec!["a"]);
        outbox.push(message("b"));
        outbox.push(message("c"));
        assert!(
            matches!(outbox.next_commit(now), Commit::NotNow),
            "one in flight"
        );
        outbox.committed();
        assert_eq!(cids(outbox.next_commit(now)), vec!["b", "c"]);
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_messages_in_order() {
        let mut outbox = Outbox::new(2, Duration::ZERO);
        for cid in ["a", "b", "c"] {
            outbox.push(message(cid));
        }
        let now = Instant::now();
        assert_eq!(cids(outbox.next_commit(now)), vec!["a", "b"]);
        outbox.committed();
        assert_eq!(cids(outbox.next_commit(now)), vec!["c"]);
    }

    #[test]
    fn with_a_commit_interval_the_next_batch_waits_unless_it_is_full() {
        let interval = Duration::from_millis(5);
        let mut outbox = Outbox::new(3, interval);
        let start = Instant::now();
        outbox.push(message("a"));
        assert_eq!(
            cids(outbox.next_commit(start)),
            vec!["a"],
            "the first goes at once"
        );
        outbox.committed();

        outbox.push(message("b"));
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
            outbox.push(message(cid));
        }
        let full = cids(outbox.next_commit(start + interval));
        assert_eq!(full, vec!["c", "d", "e"], "a full batch does not wait");
    }

    #[test]
    fn idle_waiters_hear_when_everything_queued_is_stored() {
        let mut outbox = Outbox::new(10, Duration::ZERO);
        let (tx, mut rx) = oneshot::channel();
        outbox.when_idle(tx);
        assert!(rx.try_recv().is_ok(), "an idle outbox answers at once");

        outbox.push(message("a"));
        let (tx, mut rx) = oneshot::channel();
        outbox.when_idle(tx);
        let _batch = outbox.next_commit(Instant::now());
        outbox.push(message("b"));
        outbox.committed();
        assert!(rx.try_recv().is_err(), "b is still queued");
        let _batch = outbox.next_commit(Instant::now());
        outbox.committed();
        assert!(rx.try_recv().is_ok());
        assert!(outbox.is_idle());
    }
}
