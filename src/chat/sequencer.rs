//! The order of each room's messages on one node of several (`--redis-url`).
//!
//! Seqs are assigned by the database; the nodes learn of each other's messages through the
//! broker, and two nodes may commit and publish in either order. So a node hands a room's
//! messages to its connections only in seq order with no gap: a message that arrives before
//! its predecessor is held back; if the predecessor has not come within a short time (a lost
//! publication, a slow node, the broker away), the node reads the missing messages from the
//! database ([`RoomSequencer::overdue`], [`RoomSequencer::filled`]). Nothing here is a source of
//! truth: the database is.
//!
//! A room's order starts from the first `joined` snapshot read for it on this node (everything
//! up to its `last_seq` is in that snapshot; what comes later is live). Messages that arrive
//! before it are held and handed out with it, in seq order: each session drops those its own
//! snapshot already holds.

use crate::domain::RoomName;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// A message as the sequencer keeps it: its seq and whatever the caller hands out with it.
pub type Sequenced<T> = (i64, T);

/// The state of every live room of this node.
#[derive(Debug)]
pub struct RoomSequencer<T> {
    rooms: HashMap<RoomName, RoomOrder<T>>,
    /// How long a message waits for its predecessor before the database is asked.
    patience: Duration,
}

#[derive(Debug)]
struct RoomOrder<T> {
    /// The seq handed out next; `None` until the room's first snapshot says where to start.
    next: Option<i64>,
    /// Messages that came before their turn, by seq.
    held: BTreeMap<i64, T>,
    /// Since when the oldest held message has waited (a gap is open).
    waiting_since: Option<Instant>,
    /// A read from the database for this room is under way (at most one at a time).
    reading: bool,
    /// A catch-up was asked for while a read was under way: read again when it answers.
    again: bool,
}

impl<T> Default for RoomOrder<T> {
    fn default() -> Self {
        RoomOrder {
            next: None,
            held: BTreeMap::new(),
            waiting_since: None,
            reading: false,
            again: false,
        }
    }
}

/// A read the sequencer asks for: the room's messages after `after`, from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapRead {
    /// The room.
    pub room: RoomName,
    /// Messages with a greater seq are wanted.
    pub after: i64,
}

impl<T> RoomSequencer<T> {
    /// No rooms yet; a held message waits `patience` before the database is asked.
    pub fn new(patience: Duration) -> Self {
        RoomSequencer {
            rooms: HashMap::new(),
            patience,
        }
    }

    /// The room is live on this node (its first connection entered).
    pub fn open(&mut self, room: &RoomName) {
        self.rooms.entry(room.clone()).or_default();
    }

    /// The room has no connection on this node any more: its order is forgotten.
    pub fn close(&mut self, room: &RoomName) {
        self.rooms.remove(room);
    }

    /// Whether the room is followed here.
    pub fn is_open(&self, room: &RoomName) -> bool {
        self.rooms.contains_key(room)
    }

    /// The seq the room hands out next, once known.
    pub fn next(&self, room: &RoomName) -> Option<i64> {
        self.rooms.get(room).and_then(|r| r.next)
    }

    /// A snapshot of the room up to `last_seq` was read: the first one starts the room's
    /// order, and every message held so far is handed out (in seq order; sessions drop what
    /// their snapshot holds). Later snapshots change nothing.
    pub fn snapshot_read(
        &mut self,
        room: &RoomName,
        last_seq: i64,
        now: Instant,
    ) -> Vec<Sequenced<T>> {
        let Some(order) = self.rooms.get_mut(room) else {
            return Vec::new();
        };
        if order.next.is_some() {
            return Vec::new();
        }
        let held = std::mem::take(&mut order.held);
        let mut out: Vec<Sequenced<T>> = Vec::with_capacity(held.len());
        let mut next = last_seq + 1;
        for (seq, item) in held {
            if seq <= next {
                next = next.max(seq + 1);
                out.push((seq, item));
            } else {
                // A gap after the snapshot: the rest waits until it is filled.
                order.held.insert(seq, item);
            }
        }
        order.next = Some(next);
        order.waiting_since = (!order.held.is_empty()).then_some(now);
        out
    }

    /// A stored message of the room (this node's or another's): what may be handed out now,
    /// in seq order. A message of a room not followed here, or already handed out, gives
    /// nothing.
    pub fn offer(&mut self, room: &RoomName, seq: i64, item: T, now: Instant) -> Vec<Sequenced<T>> {
        let Some(order) = self.rooms.get_mut(room) else {
            return Vec::new();
        };
        let Some(next) = order.next else {
            order.held.insert(seq, item);
            return Vec::new();
        };
        if seq < next {
            return Vec::new();
        }
        if seq > next {
            order.held.insert(seq, item);
            order.waiting_since.get_or_insert(now);
            return Vec::new();
        }
        let mut out = vec![(seq, item)];
        let mut next = seq + 1;
        while let Some(entry) = order.held.first_entry() {
            if *entry.key() > next {
                break;
            }
            let (held_seq, held_item) = entry.remove_entry();
            if held_seq == next {
                out.push((held_seq, held_item));
                next += 1;
            }
        }
        order.next = Some(next);
        order.waiting_since = (!order.held.is_empty()).then_some(now);
        out
    }

    /// The rooms whose gap has been open longer than the patience, each once until its read
    /// answers ([`Self::filled`]): read their messages after the gap's start.
    pub fn overdue(&mut self, now: Instant) -> Vec<GapRead> {
        let patience = self.patience;
        self.rooms
            .iter_mut()
            .filter(|(_, o)| !o.reading && o.next.is_some())
            .filter(|(_, o)| {
                o.waiting_since
                    .is_some_and(|t| now.duration_since(t) >= patience)
            })
            .map(|(room, o)| {
                o.reading = true;
                GapRead {
                    room: room.clone(),
                    after: o.next.unwrap_or(0) - 1,
                }
            })
            .collect()
    }

    /// A catch-up read of a room (after the broker came back, or once its subscription is
    /// confirmed): its messages after the room's next seq, unless a read is under way or the
    /// room's order has not started.
    pub fn catch_up(&mut self, room: &RoomName) -> Option<GapRead> {
        let order = self.rooms.get_mut(room)?;
        let next = order.next?;
        if order.reading {
            // What the read under way started before may have been missed: once more after it.
            order.again = true;
            return None;
        }
        order.reading = true;
        Some(GapRead {
            room: room.clone(),
            after: next - 1,
        })
    }

    /// Every followed room's catch-up read (the broker came back).
    pub fn catch_up_all(&mut self) -> Vec<GapRead> {
        let rooms: Vec<RoomName> = self.rooms.keys().cloned().collect();
        rooms.iter().filter_map(|r| self.catch_up(r)).collect()
    }

    /// A read asked for by [`Self::overdue`] or [`Self::catch_up`] answered: `messages` (in seq
    /// order) are the room's stored messages after the read's start, and every seq up to
    /// `settled` is final (committed, so a seq missing from `messages` up to there was
    /// deleted and will never come). Hands out what can go now.
    pub fn filled(
        &mut self,
        room: &RoomName,
        messages: Vec<Sequenced<T>>,
        settled: i64,
        now: Instant,
    ) -> Vec<Sequenced<T>> {
        let Some(order) = self.rooms.get_mut(room) else {
            return Vec::new();
        };
        order.reading = false;
        let mut out = Vec::new();
        for (seq, item) in messages {
            out.extend(self.offer(room, seq, item, now));
        }
        // Seqs up to `settled` that never came were deleted: skip them, run after run.
        loop {
            let Some(order) = self.rooms.get_mut(room) else {
                return out;
            };
            let Some(next) = order.next else {
                break;
            };
            if next > settled {
                break;
            }
            let skip_to = match order.held.keys().next().copied() {
                Some(held) if held <= settled + 1 => held,
                _ => settled + 1,
            };
            order.next = Some(skip_to.max(next));
            match order.held.remove(&skip_to) {
                Some(item) => out.extend(self.offer(room, skip_to, item, now)),
                None => break,
            }
        }
        if let Some(order) = self.rooms.get_mut(room) {
            order.waiting_since = (!order.held.is_empty()).then_some(now);
        }
        out
    }

    /// The catch-up asked for while the last read was under way, if any (see [`Self::catch_up`]).
    pub fn take_again(&mut self, room: &RoomName) -> Option<GapRead> {
        let order = self.rooms.get_mut(room)?;
        if !std::mem::take(&mut order.again) {
            return None;
        }
        self.catch_up(room)
    }

    /// The rooms followed here.
    pub fn rooms(&self) -> impl Iterator<Item = &RoomName> {
        self.rooms.keys()
    }

    /// A read failed: it may be asked again at the next check.
    pub fn read_failed(&mut self, room: &RoomName) {
        if let Some(order) = self.rooms.get_mut(room) {
            order.reading = false;
        }
    }

    /// Whether any room has a gap open (the check timer runs only then).
    pub fn is_waiting(&self) -> bool {
        self.rooms.values().any(|o| o.waiting_since.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> RoomName {
        RoomName::parse("lobby").unwrap()
    }

    fn seqs(out: &[Sequenced<&str>]) -> Vec<i64> {
        out.iter().map(|(s, _)| *s).collect()
    }

    fn started(last: i64) -> (RoomSequencer<&'static str>, Instant) {
        let mut s = RoomSequencer::new(Duration::from_millis(100));
        let now = Instant::now();
        s.open(&room());
        assert!(s.snapshot_read(&room(), last, now).is_empty());
        (s, now)
    }

    #[test]
    fn messages_in_order_go_at_once() {
        let (mut s, now) = started(4);
        assert_eq!(seqs(&s.offer(&room(), 5, "a", now)), [5]);
        assert_eq!(seqs(&s.offer(&room(), 6, "b", now)), [6]);
        assert!(!s.is_waiting());
    }

    #[test]
    fn a_message_before_its_predecessor_waits_for_it_and_both_go_in_order() {
        let (mut s, now) = started(4);
        assert!(s.offer(&room(), 6, "b", now).is_empty(), "6 waits for 5");
        assert!(s.is_waiting());
        assert_eq!(seqs(&s.offer(&room(), 5, "a", now)), [5, 6]);
        assert!(!s.is_waiting());
    }

    #[test]
    fn what_was_handed_out_or_is_in_the_snapshot_is_never_handed_out_again() {
        let (mut s, now) = started(4);
        assert!(s.offer(&room(), 3, "old", now).is_empty());
        assert_eq!(seqs(&s.offer(&room(), 5, "a", now)), [5]);
        assert!(s.offer(&room(), 5, "a again", now).is_empty());
    }

    #[test]
    fn a_gap_that_stays_open_asks_the_database_once_and_the_read_closes_it() {
        let (mut s, now) = started(4);
        s.offer(&room(), 7, "c", now);
        assert!(
            s.overdue(now + Duration::from_millis(50)).is_empty(),
            "still patient"
        );
        let later = now + Duration::from_millis(150);
        let reads = s.overdue(later);
        assert_eq!(
            reads,
            [GapRead {
                room: room(),
                after: 4
            }]
        );
        assert!(s.overdue(later).is_empty(), "one read at a time");
        // The database has 5 and 6 (and 7).
        let out = s.filled(&room(), vec![(5, "a"), (6, "b"), (7, "c")], 7, later);
        assert_eq!(seqs(&out), [5, 6, 7]);
        assert!(!s.is_waiting());
        assert_eq!(s.next(&room()), Some(8));
    }

    #[test]
    fn a_deleted_message_does_not_hold_the_room_for_ever() {
        let (mut s, now) = started(4);
        s.offer(&room(), 6, "b", now);
        let later = now + Duration::from_millis(150);
        assert_eq!(s.overdue(later).len(), 1);
        // 5 was deleted: the database has only 6, and everything up to 6 is final.
        let out = s.filled(&room(), vec![(6, "b")], 6, later);
        assert_eq!(seqs(&out), [6]);
        assert_eq!(s.next(&room()), Some(7));
        assert!(!s.is_waiting());
    }

    #[test]
    fn messages_before_the_first_snapshot_are_held_then_handed_out_in_order() {
        let mut s = RoomSequencer::new(Duration::from_millis(100));
        let now = Instant::now();
        s.open(&room());
        assert!(s.offer(&room(), 6, "b", now).is_empty());
        assert!(s.offer(&room(), 4, "z", now).is_empty());
        assert!(s.offer(&room(), 5, "a", now).is_empty());
        let out = s.snapshot_read(&room(), 4, now);
        assert_eq!(
            seqs(&out),
            [4, 5, 6],
            "sessions drop what their snapshot holds"
        );
        assert_eq!(s.next(&room()), Some(7));
    }

    #[test]
    fn a_catch_up_read_finds_what_the_broker_lost() {
        let (mut s, now) = started(4);
        let read = s.catch_up(&room()).expect("a read");
        assert_eq!(read.after, 4);
        assert!(s.catch_up(&room()).is_none(), "one at a time");
        let out = s.filled(&room(), vec![(5, "a")], 5, now);
        assert_eq!(seqs(&out), [5]);
        assert!(s.offer(&room(), 5, "a late copy", now).is_empty());
    }

    #[test]
    fn a_catch_up_asked_for_during_a_read_runs_after_it() {
        let (mut s, now) = started(4);
        let first = s.catch_up(&room()).expect("a read");
        assert!(s.catch_up(&room()).is_none(), "asked again during the read");
        s.filled(&room(), vec![], 4, now);
        let again = s.take_again(&room()).expect("the read asked for meanwhile");
        assert_eq!(again.after, first.after);
        assert!(s.take_again(&room()).is_none(), "once");
    }

    #[test]
    fn several_deleted_seqs_in_one_gap_are_skipped_by_one_read() {
        let (mut s, now) = started(4);
        s.offer(&room(), 9, "e", now);
        let later = now + Duration::from_millis(150);
        assert_eq!(s.overdue(later).len(), 1);
        // 5 and 7 were deleted; 6 and 8 are in the database.
        let out = s.filled(&room(), vec![(6, "b"), (8, "d"), (9, "e")], 9, later);
        assert_eq!(seqs(&out), [6, 8, 9]);
        assert_eq!(s.next(&room()), Some(10));
        assert!(!s.is_waiting());
    }

    #[test]
    fn a_room_not_followed_here_hands_out_nothing() {
        let (mut s, now) = started(4);
        let other = RoomName::parse("elsewhere").unwrap();
        assert!(s.offer(&other, 1, "x", now).is_empty());
        s.close(&room());
        assert!(s.offer(&room(), 5, "a", now).is_empty());
    }
}
