//! Joins and leaves on their way to the database. Two plain structs:
//!
//! - [`MembershipQueue`]: the stored membership changes of one user in one room go to the
//!   history actor one at a time, in the order they were asked for. Its threads would otherwise
//!   run a join and a leave that cross in either order, and the stored list would disagree with
//!   the live rooms (a room in the list that the user left, or the reverse). It also holds
//!   back a read of the user's list (a `Connect`'s rooms for `hello`) until the changes asked
//!   for before it are stored: a user who leaves a room and reloads the page must not find it
//!   in the list again because the read ran on another thread beside the leave.
//! - [`JoinsInFlight`]: a connection's messages to a room whose join is still being checked
//!   wait for the answer: stored once it is known that the room may be written to (a support
//!   room whose customer exists), refused with the join's error otherwise.

use super::messages::SessionId;
use super::outbox::PendingMessage;
use crate::domain::{RoomName, UserId, UserInfo};
use rustc_hash::FxHashMap;
use std::collections::{BTreeSet, VecDeque};
use tokio::sync::oneshot;

/// A stored membership change.
#[derive(Debug)]
pub enum Change {
    /// Put the room in the user's list and read the `joined` snapshot.
    Open(OpenRequest),
    /// Take the room out of the user's list.
    Forget {
        /// The connection that asked.
        session: SessionId,
        /// The room.
        room: RoomName,
    },
}

/// A join waiting for its snapshot, with what the chat server knew when it subscribed.
#[derive(Debug)]
pub struct OpenRequest {
    /// The connection joining.
    pub session: SessionId,
    /// The room.
    pub room: RoomName,
    /// Recover every message after this seq.
    pub since: Option<i64>,
    /// Whether the connection was in the room before (a re-join).
    pub was_in: bool,
    /// How many users are online in the room, and who.
    pub online: (usize, Vec<UserInfo>),
}

/// Changes in flight and waiting, per user and room, and the reads of a user's list waiting
/// for them. `W` is what waits (the chat server: the sender that lets a `Connect` read on).
pub struct MembershipQueue<W = oneshot::Sender<()>> {
    /// For each (user, room) with a change in flight, the changes that wait behind it (each
    /// with its number).
    waiting: FxHashMap<(UserId, RoomName), VecDeque<(u64, Change)>>,
    /// The numbers of each user's changes not yet done (in flight or waiting), in every room;
    /// no entry for a user with none.
    unfinished: FxHashMap<UserId, BTreeSet<u64>>,
    /// The number of the change in flight for each (user, room).
    in_flight: FxHashMap<(UserId, RoomName), u64>,
    /// Reads of a user's list waiting for the changes numbered up to theirs.
    readers: Vec<(UserId, u64, W)>,
    /// The number of the last change asked for.
    last: u64,
}

impl<W> Default for MembershipQueue<W> {
    fn default() -> Self {
        MembershipQueue {
            waiting: FxHashMap::default(),
            unfinished: FxHashMap::default(),
            in_flight: FxHashMap::default(),
            readers: Vec::new(),
            last: 0,
        }
    }
}

impl<W> MembershipQueue<W> {
    /// Asks for a change: handed back to be started now if nothing is in flight for that user
    /// and room, else queued.
    pub fn submit(&mut self, user: UserId, room: &RoomName, change: Change) -> Option<Change> {
        self.last += 1;
        let number = self.last;
        self.unfinished.entry(user).or_default().insert(number);
        let key = (user, room.clone());
        match self.waiting.get_mut(&key) {
            Some(queue) => {
                queue.push_back((number, change));
                None
            }
            None => {
                self.waiting.insert(key.clone(), VecDeque::new());
                self.in_flight.insert(key, number);
                Some(change)
            }
        }
    }

    /// Changes in flight (one per user and room at most) plus those waiting behind them.
    pub fn pending(&self) -> usize {
        self.waiting.len() + self.waiting.values().map(VecDeque::len).sum::<usize>()
    }

    /// The change in flight for that user and room is done: the next one to start, if any.
    /// Reads this made ready are taken with [`MembershipQueue::ready_readers`].
    pub fn finished(&mut self, user: UserId, room: &RoomName) -> Option<Change> {
        let key = (user, room.clone());
        if let Some(done) = self.in_flight.remove(&key) {
            if let Some(numbers) = self.unfinished.get_mut(&user) {
                numbers.remove(&done);
                if numbers.is_empty() {
                    self.unfinished.remove(&user);
                }
            }
        }
        let Some((number, next)) = self.waiting.get_mut(&key)?.pop_front() else {
            self.waiting.remove(&key);
            return None;
        };
        self.in_flight.insert(key, number);
        Some(next)
    }

    /// A read of the user's list: handed back to be made now if none of the user's changes is
    /// unfinished, else kept until every change asked for so far (in any room) is done.
    /// Changes asked for after it do not hold it up.
    pub fn read_after_changes(&mut self, user: UserId, reader: W) -> Option<W> {
        if !self.unfinished.contains_key(&user) {
            return Some(reader);
        }
        self.readers.push((user, self.last, reader));
        None
    }

    /// The reads of the user's list that no unfinished change holds up any more.
    pub fn ready_readers(&mut self, user: UserId) -> Vec<W> {
        if self.readers.is_empty() {
            return Vec::new();
        }
        let oldest = self
            .unfinished
            .get(&user)
            .and_then(|numbers| numbers.first().copied());
        // Another user's read, or one waiting for a change still unfinished, stays.
        let (kept, ready): (Vec<_>, Vec<_>) = std::mem::take(&mut self.readers)
            .into_iter()
            .partition(|(u, upto, _)| *u != user || oldest.is_some_and(|o| o <= *upto));
        self.readers = kept;
        ready.into_iter().map(|(_, _, reader)| reader).collect()
    }
}

/// Joins whose snapshot has not come yet, and the messages waiting for them.
#[derive(Default)]
pub struct JoinsInFlight {
    joins: FxHashMap<(SessionId, RoomName), (u32, Vec<PendingMessage>)>,
}

impl JoinsInFlight {
    /// A join of the room by the connection has started.
    pub fn start(&mut self, session: SessionId, room: &RoomName) {
        self.joins.entry((session, room.clone())).or_default().0 += 1;
    }

    /// Parks a message if the connection is still joining its room; hands it back otherwise.
    pub fn park(&mut self, session: SessionId, message: PendingMessage) -> Option<PendingMessage> {
        if self.joins.is_empty() {
            return Some(message);
        }
        match self.joins.get_mut(&(session, message.room.clone())) {
            Some((_, parked)) => {
                parked.push(message);
                None
            }
            None => Some(message),
        }
    }

    /// A join's answer came: the messages parked for it, in order.
    pub fn finish(&mut self, session: SessionId, room: &RoomName) -> Vec<PendingMessage> {
        let key = (session, room.clone());
        let Some((count, parked)) = self.joins.get_mut(&key) else {
            return Vec::new();
        };
        *count -= 1;
        let parked = std::mem::take(parked);
        if *count == 0 {
            self.joins.remove(&key);
        }
        parked
    }

    /// Every message parked so far, taken out (the joins stay in flight, parking nothing more
    /// until new messages come): for a server that stops and must refuse them before it
    /// closes their connections.
    pub fn take_parked(&mut self) -> Vec<PendingMessage> {
        self.joins
            .values_mut()
            .flat_map(|(_, parked)| std::mem::take(parked))
            .collect()
    }

    /// The connection is gone: its joins and what was parked for them (never acked) with it.
    pub fn forget_session(&mut self, session: SessionId) {
        if !self.joins.is_empty() {
            self.joins.retain(|(s, _), _| *s != session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::outbox::Origin;
    use crate::domain::{MessageKind, Role};

    fn lobby() -> RoomName {
        RoomName::parse("lobby").unwrap()
    }

    fn forget(session: u64) -> Change {
        Change::Forget {
            session: SessionId(session),
            room: lobby(),
        }
    }

    fn session_of(change: Option<Change>) -> Option<u64> {
        change.map(|c| match c {
            Change::Forget { session, .. } => session.0,
            Change::Open(open) => open.session.0,
        })
    }

    fn message(session: u64, cid: &str) -> PendingMessage {
        PendingMessage {
            origin: Origin::Session {
                session: SessionId(session),
                cid: cid.into(),
            },
            from: UserInfo {
                id: UserId(1),
                username: "ann".into(),
                role: Role::User,
                display_name: None,
                avatar_color: None,
            },
            room: lobby(),
            text: "hi".into(),
            kind: MessageKind::Text,
            arrived: std::time::Instant::now(),
        }
    }

    #[test]
    fn changes_of_one_user_and_room_go_one_at_a_time_in_order() {
        let mut queue: MembershipQueue = MembershipQueue::default();
        let ann = UserId(1);
        assert_eq!(session_of(queue.submit(ann, &lobby(), forget(1))), Some(1));
        assert_eq!(session_of(queue.submit(ann, &lobby(), forget(2))), None);
        assert_eq!(session_of(queue.submit(ann, &lobby(), forget(3))), None);
        assert_eq!(
            session_of(queue.submit(UserId(2), &lobby(), forget(9))),
            Some(9),
            "another user does not wait"
        );
        assert_eq!(queue.pending(), 4, "two in flight, two waiting");
        assert_eq!(session_of(queue.finished(ann, &lobby())), Some(2));
        assert_eq!(session_of(queue.finished(ann, &lobby())), Some(3));
        assert_eq!(session_of(queue.finished(ann, &lobby())), None);
        assert_eq!(queue.pending(), 1, "the other user's");
        assert_eq!(
            session_of(queue.submit(ann, &lobby(), forget(4))),
            Some(4),
            "idle again"
        );
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn a_read_of_the_list_waits_for_the_users_changes_asked_for_before_it() {
        // Ann leaves the lobby, reloads the page: the new connection's list must not be read
        // beside the leave still in flight (the history actor's threads run either first).
        let mut queue: MembershipQueue<&str> = MembershipQueue::default();
        let ann = UserId(1);
        assert!(queue.submit(ann, &lobby(), forget(1)).is_some());
        assert_eq!(queue.read_after_changes(ann, "reload"), None, "held");
        assert_eq!(
            queue.read_after_changes(UserId(2), "bob"),
            Some("bob"),
            "another user's read is not held"
        );
        assert_eq!(queue.finished(ann, &lobby()).map(|_| ()), None);
        assert_eq!(queue.ready_readers(ann), vec!["reload"]);
        assert!(queue.ready_readers(ann).is_empty(), "handed out once");
        assert_eq!(queue.read_after_changes(ann, "idle"), Some("idle"));
    }

    #[test]
    fn a_read_waits_for_every_room_and_the_changes_queued_behind_but_not_later_ones() {
        let mut queue: MembershipQueue<&str> = MembershipQueue::default();
        let ann = UserId(1);
        assert!(queue.submit(ann, &lobby(), forget(1)).is_some());
        assert!(queue.submit(ann, &lobby(), forget(2)).is_none(), "queued");
        assert!(queue.submit(ann, &room("games"), forget(3)).is_some());
        assert_eq!(queue.read_after_changes(ann, "read"), None);
        // Asked for after the read: it does not hold the read up.
        assert!(queue.submit(ann, &room("music"), forget(4)).is_some());

        assert_eq!(session_of(queue.finished(ann, &lobby())), Some(2));
        assert!(queue.ready_readers(ann).is_empty(), "the lobby's second");
        assert_eq!(session_of(queue.finished(ann, &room("games"))), None);
        assert!(
            queue.ready_readers(ann).is_empty(),
            "still the lobby's second"
        );
        assert_eq!(session_of(queue.finished(ann, &lobby())), None);
        assert_eq!(queue.ready_readers(ann), vec!["read"], "music is later");
        assert_eq!(queue.pending(), 1, "music still in flight");
        assert_eq!(session_of(queue.finished(ann, &room("music"))), None);
        assert_eq!(queue.pending(), 0);
    }

    #[test]
    fn messages_to_a_room_being_joined_wait_for_the_answer() {
        let mut joins = JoinsInFlight::default();
        assert!(
            joins.park(SessionId(1), message(1, "a")).is_some(),
            "not joining"
        );
        joins.start(SessionId(1), &lobby());
        assert!(joins.park(SessionId(1), message(1, "b")).is_none());
        assert!(
            joins.park(SessionId(2), message(2, "c")).is_some(),
            "another connection"
        );
        let parked = joins.finish(SessionId(1), &lobby());
        let cids: Vec<_> = parked.iter().map(|p| p.cid().unwrap().to_owned()).collect();
        assert_eq!(cids, vec!["b"]);
        assert!(
            joins.park(SessionId(1), message(1, "d")).is_some(),
            "joined now"
        );
    }

    #[test]
    fn a_connection_that_goes_away_takes_its_parked_messages_with_it() {
        let mut joins = JoinsInFlight::default();
        joins.start(SessionId(1), &lobby());
        assert!(joins.park(SessionId(1), message(1, "a")).is_none());
        joins.forget_session(SessionId(1));
        assert!(joins.finish(SessionId(1), &lobby()).is_empty());
    }

    #[test]
    fn a_stopping_server_takes_every_parked_message_and_the_joins_go_on() {
        let mut joins = JoinsInFlight::default();
        joins.start(SessionId(1), &lobby());
        joins.start(SessionId(2), &lobby());
        assert!(joins.park(SessionId(1), message(1, "a")).is_none());
        assert!(joins.park(SessionId(2), message(2, "b")).is_none());
        let mut cids: Vec<_> = joins
            .take_parked()
            .iter()
            .map(|p| p.cid().unwrap().to_owned())
            .collect();
        cids.sort();
        assert_eq!(cids, vec!["a", "b"]);
        assert!(joins.take_parked().is_empty());
        assert!(joins.finish(SessionId(1), &lobby()).is_empty());
        assert!(
            joins.park(SessionId(2), message(2, "c")).is_none(),
            "still joining"
        );
    }
}
