//! The rooms a connection is still joining, and the frames about them held back until their
//! `joined` (or its refusal) comes: the client must see the snapshot before anything newer, and
//! nothing twice. A plain struct; the session writes what it hands back.
//!
//! Nothing twice, even when a commit stored before the snapshot was read is answered to the
//! chat server after the join was (the history actor runs both on threads of its own): the
//! newest seq shown in each room is kept, and a message at or below it is dropped, since the
//! messages of one room reach a connection in seq order. And the same room joined again before
//! its first `joined` stays held until the last one.

use crate::chat::messages::{About, OutFrame};
use crate::domain::RoomName;
use bytestring::ByteString;
use rustc_hash::FxHashMap;

struct JoiningRoom {
    room: RoomName,
    held: Vec<OutFrame>,
    /// Joins of the room sent and not answered yet.
    joins: u32,
}

/// What to do with a frame that arrives.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Write it now.
    Write(ByteString),
    /// Held back until its room is joined.
    Held,
    /// A message the connection was shown already (in a `joined`): not written again.
    Dropped,
    /// Too much is held back for one room: close the connection as too slow.
    Overflow,
}

/// Rooms being joined, each with what is held back for it.
pub struct JoiningRooms {
    rooms: Vec<JoiningRoom>,
    /// For each room joined, the newest seq shown: the last `joined`'s `last_seq`, then each
    /// message written. Forgotten when the connection leaves the room ([`JoiningRooms::left`]).
    shown: FxHashMap<RoomName, i64>,
    /// Most frames held for one room.
    max_held: usize,
}

impl JoiningRooms {
    /// No room being joined; at most `max_held` frames held for one room.
    pub fn new(max_held: usize) -> JoiningRooms {
        JoiningRooms {
            rooms: Vec::new(),
            shown: FxHashMap::default(),
            max_held,
        }
    }

    /// Starts holding back the room's frames; false if it was being joined already (it is
    /// then held until the answer of this join too).
    pub fn start(&mut self, room: &RoomName) -> bool {
        if let Some(joining) = self.rooms.iter_mut().find(|j| &j.room == room) {
            joining.joins += 1;
            return false;
        }
        self.rooms.push(JoiningRoom {
            room: room.clone(),
            held: Vec::new(),
            joins: 1,
        });
        true
    }

    /// Whether the room is being joined.
    pub fn is_joining(&self, room: &RoomName) -> bool {
        self.rooms.iter().any(|j| &j.room == room)
    }

    /// Starts joining `room` and hands the join on with `forward`; a join that could not be
    /// handed on (the chat server busy or gone) is forgotten at once, whether or not another
    /// join of the room is in flight, so that the room is not held for a `joined` that will
    /// never come.
    pub fn join_with<E>(
        &mut self,
        room: &RoomName,
        forward: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        self.start(room);
        let sent = forward();
        if sent.is_err() {
            self.abandon(room);
        }
        sent
    }

    /// Forgets a join that never reached the chat server, and what was held for it.
    pub fn abandon(&mut self, room: &RoomName) {
        if let Some(pos) = self.rooms.iter().position(|j| &j.room == room) {
            self.rooms[pos].joins -= 1;
            if self.rooms[pos].joins == 0 {
                self.rooms.swap_remove(pos);
            }
        }
    }

    /// The connection asked to leave the room: what was shown in it is forgotten, so that a
    /// connection wandering through many rooms does not keep one entry for each. A message of
    /// the room still on its way is then written (as before any join); a later join starts
    /// again from its own `joined`. A join of the room still unanswered stays held.
    pub fn left(&mut self, room: &RoomName) {
        self.shown.remove(room);
    }

    /// A frame from the chat server: written at once, unless its room is being joined or it
    /// is a message shown already.
    pub fn arrive(&mut self, frame: OutFrame) -> Arrival {
        let max_held = self.max_held;
        let Some(room) = frame.about.room() else {
            return Arrival::Write(frame.text);
        };
        let Some(joining) = self.rooms.iter_mut().find(|j| &j.room == room) else {
            return match self.newly_shown(&frame.about) {
                true => Arrival::Write(frame.text),
                false => Arrival::Dropped,
            };
        };
        if joining.held.len() >= max_held {
            return Arrival::Overflow;
        }
        joining.held.push(frame);
        Arrival::Held
    }

    /// The room's `joined` came, holding every message up to `last_seq`: what was held back
    /// for the room, less those messages, in order.
    pub fn joined(&mut self, room: &RoomName, last_seq: i64) -> Vec<ByteString> {
        self.shown.insert(room.clone(), last_seq);
        let held = self.take(room);
        self.release(held)
    }

    /// The join was refused. If the connection stays in the room (a failed re-join),
    /// everything held back; else only the acks of its own messages, which were stored and must
    /// not be lost with the room.
    pub fn failed(&mut self, room: &RoomName, still_in_room: bool) -> Vec<ByteString> {
        let held = self.take(room);
        let held = held
            .into_iter()
            .filter(|frame| still_in_room || matches!(frame.about, About::Ack(_)))
            .collect();
        self.release(held)
    }

    /// Held frames to write, less the messages shown already.
    fn release(&mut self, held: Vec<OutFrame>) -> Vec<ByteString> {
        held.into_iter()
            .filter(|frame| self.newly_shown(&frame.about))
            .map(|frame| frame.text)
            .collect()
    }

    /// Whether a frame is to be written: anything but a message at or below the newest seq
    /// shown in its room (which it then becomes).
    fn newly_shown(&mut self, about: &About) -> bool {
        let About::Message(room, seq) = about else {
            return true;
        };
        match self.shown.get_mut(room) {
            Some(shown) if *shown >= *seq => false,
            Some(shown) => {
                *shown = *seq;
                true
            }
            None => {
                self.shown.insert(room.clone(), *seq);
                true
            }
        }
    }

    /// What was held for the room, answering one of its joins; the room stays held while
    /// another join of it is unanswered.
    fn take(&mut self, room: &RoomName) -> Vec<OutFrame> {
        let Some(pos) = self.rooms.iter().position(|j| &j.room == room) else {
            return Vec::new();
        };
        let joining = &mut self.rooms[pos];
        joining.joins -= 1;
        if joining.joins == 0 {
            self.rooms.swap_remove(pos).held
        } else {
            std::mem::take(&mut joining.held)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lobby() -> RoomName {
        RoomName::parse("lobby").unwrap()
    }

    fn frame(text: &'static str, about: About) -> OutFrame {
        let text = ByteString::from_static(text);
        OutFrame { text, about }
    }

    #[test]
    fn frames_of_a_room_being_joined_wait_and_those_in_the_snapshot_are_dropped() {
        let mut joining = JoiningRooms::new(10);
        assert!(joining.start(&lobby()));
        assert_eq!(
            joining.arrive(frame("m5", About::Message(lobby(), 5))),
            Arrival::Held
        );
        assert_eq!(
            joining.arrive(frame("m6", About::Message(lobby(), 6))),
            Arrival::Held
        );
        assert_eq!(
            joining.arrive(frame("ack", About::Ack(lobby()))),
            Arrival::Held
        );
        assert_eq!(
            joining.arrive(frame("unread", About::Nothing)),
            Arrival::Write(ByteString::from_static("unread"))
        );
        assert_eq!(joining.joined(&lobby(), 5), vec!["m6", "ack"]);
        assert!(!joining.is_joining(&lobby()));
        assert!(matches!(
            joining.arrive(frame("m7", About::Message(lobby(), 7))),
            Arrival::Write(_)
        ));
    }

    #[test]
    fn a_refused_join_still_delivers_the_acks_of_messages_that_were_stored() {
        let mut joining = JoiningRooms::new(10);
        joining.start(&lobby());
        joining.arrive(frame("m1", About::Message(lobby(), 1)));
        joining.arrive(frame("ack", About::Ack(lobby())));
        joining.arrive(frame("typing", About::Room(lobby())));
        assert_eq!(joining.failed(&lobby(), false), vec!["ack"]);

        joining.start(&lobby());
        joining.arrive(frame("m2", About::Message(lobby(), 2)));
        joining.arrive(frame("ack", About::Ack(lobby())));
        assert_eq!(
            joining.failed(&lobby(), true),
            vec!["m2", "ack"],
            "a failed re-join"
        );
    }

    /// Found by the model of rooms (`ws::rooms_model`): a commit stored before the snapshot
    /// was read, but answered to the chat server after the join was (two history threads).
    #[test]
    fn a_message_the_snapshot_holds_is_not_shown_again_when_it_comes_after_joined() {
        let mut joining = JoiningRooms::new(10);
        joining.start(&lobby());
        assert!(joining.joined(&lobby(), 1).is_empty(), "joined holds seq 1");
        assert_eq!(
            joining.arrive(frame("m1", About::Message(lobby(), 1))),
            Arrival::Dropped
        );
        assert_eq!(
            joining.arrive(frame("ack", About::Ack(lobby()))),
            Arrival::Write(ByteString::from_static("ack")),
            "its ack still reaches the sender"
        );
        assert_eq!(
            joining.arrive(frame("m2", About::Message(lobby(), 2))),
            Arrival::Write(ByteString::from_static("m2"))
        );
    }

    /// Found by the model of rooms: the same room joined twice before the first `joined`.
    #[test]
    fn a_second_join_in_flight_holds_the_room_until_its_own_joined() {
        let mut joining = JoiningRooms::new(10);
        assert!(joining.start(&lobby()));
        assert!(!joining.start(&lobby()), "already joining");
        joining.arrive(frame("m1", About::Message(lobby(), 1)));
        assert_eq!(joining.joined(&lobby(), 0), vec!["m1"]);
        // Stored after the second snapshot was read, delivered before its `joined`.
        assert_eq!(
            joining.arrive(frame("m2", About::Message(lobby(), 2))),
            Arrival::Held
        );
        assert_eq!(joining.joined(&lobby(), 1), vec!["m2"]);
        assert!(!joining.is_joining(&lobby()));
    }

    /// Found by review: a second join of a room that the chat server was too busy to take.
    #[test]
    fn a_second_join_that_never_left_the_session_does_not_hold_the_room() {
        let mut joining = JoiningRooms::new(10);
        assert_eq!(joining.join_with(&lobby(), || Ok::<(), ()>(())), Ok(()));
        assert_eq!(
            joining.join_with(&lobby(), || Err(())),
            Err(()),
            "server busy"
        );
        assert!(joining.joined(&lobby(), 0).is_empty());
        assert!(!joining.is_joining(&lobby()), "only one join was in flight");
        assert_eq!(
            joining.arrive(frame("m1", About::Message(lobby(), 1))),
            Arrival::Write(ByteString::from_static("m1")),
            "the room's messages flow again"
        );
    }

    #[test]
    fn leaving_a_room_forgets_the_newest_message_shown_in_it() {
        let mut joining = JoiningRooms::new(10);
        let general = RoomName::parse("general").unwrap();
        for room in [lobby(), general.clone()] {
            joining.start(&room);
            joining.joined(&room, 5);
        }
        assert_eq!(
            joining.arrive(frame("m6", About::Message(lobby(), 6))),
            Arrival::Write(ByteString::from_static("m6"))
        );
        joining.left(&lobby());
        assert_eq!(joining.shown.len(), 1, "only the room still joined");
        assert!(joining.shown.contains_key(&general));
        joining.left(&lobby()); // twice, or a room never joined: nothing
        joining.left(&RoomName::parse("elsewhere").unwrap());
        assert_eq!(joining.shown.len(), 1);
        // Joined again, the new snapshot decides what was shown.
        joining.start(&lobby());
        assert!(joining.joined(&lobby(), 7).is_empty());
        assert_eq!(
            joining.arrive(frame("m7", About::Message(lobby(), 7))),
            Arrival::Dropped
        );
        assert_eq!(
            joining.arrive(frame("m8", About::Message(lobby(), 8))),
            Arrival::Write(ByteString::from_static("m8"))
        );
    }

    #[test]
    fn too_much_held_for_one_room_is_an_overflow() {
        let mut joining = JoiningRooms::new(1);
        joining.start(&lobby());
        assert_eq!(
            joining.arrive(frame("a", About::Room(lobby()))),
            Arrival::Held
        );
        assert_eq!(
            joining.arrive(frame("b", About::Room(lobby()))),
            Arrival::Overflow
        );
    }
}
