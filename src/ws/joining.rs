//! The rooms a connection is still joining, and the frames about them held back until their
//! `joined` (or its refusal) comes: the client must see the snapshot before anything newer, and
//! nothing twice. A plain struct; the session writes what it hands back.

use crate::chat::messages::{About, OutFrame};
use crate::domain::RoomName;
use bytestring::ByteString;

struct JoiningRoom {
    room: RoomName,
    held: Vec<OutFrame>,
}

/// What to do with a frame that arrives.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Write it now.
    Write(ByteString),
    /// Held back until its room is joined.
    Held,
    /// Too much is held back for one room: close the connection as too slow.
    Overflow,
}

/// Rooms being joined, each with what is held back for it.
pub struct JoiningRooms {
    rooms: Vec<JoiningRoom>,
    /// Most frames held for one room.
    max_held: usize,
}

impl JoiningRooms {
    /// No room being joined; at most `max_held` frames held for one room.
    pub fn new(max_held: usize) -> JoiningRooms {
        JoiningRooms {
            rooms: Vec::new(),
            max_held,
        }
    }

    /// Starts holding back the room's frames; false if it was being joined already.
    pub fn start(&mut self, room: &RoomName) -> bool {
        if self.is_joining(room) {
            return false;
        }
        let held = Vec::new();
        self.rooms.push(JoiningRoom {
            room: room.clone(),
            held,
        });
        true
    }

    /// Whether the room is being joined.
    pub fn is_joining(&self, room: &RoomName) -> bool {
        self.rooms.iter().any(|j| &j.room == room)
    }

    /// Forgets a join that never reached the chat server, and what was held for it.
    pub fn abandon(&mut self, room: &RoomName) {
        self.rooms.retain(|j| &j.room != room);
    }

    /// A frame from the chat server: written at once, unless its room is being joined.
    pub fn arrive(&mut self, frame: OutFrame) -> Arrival {
        let max_held = self.max_held;
        let Some(room) = frame.about.room() else {
            return Arrival::Write(frame.text);
        };
        let Some(joining) = self.rooms.iter_mut().find(|j| &j.room == room) else {
            return Arrival::Write(frame.text);
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
        self.take(room)
            .into_iter()
            .filter(|frame| !matches!(frame.about, About::Message(_, seq) if seq <= last_seq))
            .map(|frame| frame.text)
            .collect()
    }

    /// The join was refused. If the connection stays in the room (a failed re-join),
    /// everything held back; else only the acks of its own messages, which were stored and must
    /// not be lost with the room.
    pub fn failed(&mut self, room: &RoomName, still_in_room: bool) -> Vec<ByteString> {
        self.take(room)
            .into_iter()
            .filter(|frame| still_in_room || matches!(frame.about, About::Ack(_)))
            .map(|frame| frame.text)
            .collect()
    }

    fn take(&mut self, room: &RoomName) -> Vec<OutFrame> {
        match self.rooms.iter().position(|j| &j.room == room) {
            Some(pos) => self.rooms.swap_remove(pos).held,
            None => Vec::new(),
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
        assert!(!joining.start(&lobby()), "already joining");
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
