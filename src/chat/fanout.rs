//! Fan-out: who gets which frame. A frame is encoded once and its bytes are shared by every
//! recipient; the frames of one commit are gathered per connection, so that each connection
//! gets one mailbox item per commit however many frames it holds.

use super::messages::{About, FrameBatch, OutFrame, SessionId};
use super::registry::Registry;
use super::rooms::LiveRooms;
use crate::domain::{RoomName, UserId, UserInfo};
use crate::protocol::ServerFrame;
use bytestring::ByteString;
use rustc_hash::FxHashMap;

/// Whom a room broadcast skips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Every member gets it.
    Nobody,
    /// Not this connection (its own presence).
    Session(SessionId),
    /// No connection of this user (their own typing).
    User(UserId),
}

/// Frames gathered for several connections, handed over as one mailbox item per connection.
#[derive(Default)]
pub struct Deliveries {
    frames: FxHashMap<SessionId, FrameBatch>,
    /// Connections that wait for an ack: served first, so that a sender in a room of
    /// thousands hears of its commit before the whole room has been written to.
    first: Vec<SessionId>,
}

impl Deliveries {
    /// Adds a frame for a connection, after its earlier ones.
    pub fn push(&mut self, session: SessionId, frame: OutFrame) {
        self.frames.entry(session).or_default().push(frame);
    }

    /// Adds an ack: its connection is served before the others.
    pub fn push_ack(&mut self, session: SessionId, frame: OutFrame) {
        self.push(session, frame);
        self.first.push(session);
    }

    /// Moves every connection's frames into `out`, the ones waiting for an ack first. What is
    /// left keeps its capacity for the next commit.
    pub fn drain_into(&mut self, out: &mut Vec<(SessionId, FrameBatch)>) {
        for session in self.first.drain(..) {
            if let Some(frames) = self.frames.remove(&session) {
                out.push((session, frames));
            }
        }
        out.extend(self.frames.drain());
    }

    /// Whether nothing is gathered.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Gathers one frame for the members of a room. The one place that decides who in a room gets
/// a frame: a later multi-node setup publishes to the broker here and gathers what comes back
/// the same way.
/// `seq` is the message's seq, or 0 for a frame that is not a message.
pub fn gather_room<R>(
    rooms: &LiveRooms,
    registry: &Registry<R>,
    room: &RoomName,
    text: &ByteString,
    seq: i64,
    skip: Skip,
    into: &mut Deliveries,
) {
    for session in rooms.members(room) {
        let skipped = match skip {
            Skip::Nobody => false,
            Skip::Session(s) => s == session,
            Skip::User(u) => registry.user(session).is_some_and(|user| user.id == u),
        };
        if !skipped {
            let about = match seq {
                0 => About::Room(room.clone()),
                seq => About::Message(room.clone(), seq),
            };
            let frame = OutFrame {
                text: text.clone(),
                about,
            };
            into.push(session, frame);
        }
    }
}

/// Gathers one frame (not about a room a connection joins) for every staff connection.
pub fn gather_staff<R>(registry: &Registry<R>, text: &ByteString, into: &mut Deliveries) {
    for session in registry.staff() {
        let frame = OutFrame {
            text: text.clone(),
            about: About::Nothing,
        };
        into.push(session, frame);
    }
}

/// The customer of a support conversation, as far as this process knows them: the author
/// when it is them, else their account as connected now.
pub fn support_customer<R>(
    registry: &Registry<R>,
    owner: UserId,
    author: &UserInfo,
) -> Option<UserInfo> {
    if author.id == owner {
        return Some(author.clone());
    }
    let tab = registry.tabs(owner).first()?;
    registry.user(*tab).cloned()
}

/// The sender's `ack` of a message stored in `room` at `seq`. It is about its room: a connection
/// still joining the room holds it back behind the message it acknowledges.
pub fn ack_frame(cid: String, room: &RoomName, seq: i64) -> OutFrame {
    let ack = ServerFrame::Ack {
        cid,
        room: room.to_string(),
        seq,
    };
    OutFrame {
        text: ack.encode(),
        about: About::Ack(room.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn user(id: i64, role: Role) -> UserInfo {
        UserInfo {
            id: UserId(id),
            username: format!("u{id}"),
            role,
            display_name: None,
            avatar_color: None,
        }
    }

    /// Two users in the lobby, Ann with two tabs.
    fn lobby_of_ann_and_bob() -> (LiveRooms, Registry<()>, RoomName, [SessionId; 3]) {
        let mut registry = Registry::default();
        let mut rooms = LiveRooms::new(500);
        let lobby = RoomName::parse("lobby").unwrap();
        let ann = user(1, Role::User);
        let bob = user(2, Role::Guest);
        let tabs = [
            registry.connect(ann.clone(), ()),
            registry.connect(ann.clone(), ()),
            registry.connect(bob.clone(), ()),
        ];
        for (session, who) in tabs.iter().zip([&ann, &ann, &bob]) {
            registry.enter(*session, &lobby);
            rooms.enter(&lobby, *session, who);
        }
        (rooms, registry, lobby, tabs)
    }

    fn receivers(deliveries: &mut Deliveries) -> Vec<SessionId> {
        let mut out = Vec::new();
        deliveries.drain_into(&mut out);
        let mut sessions: Vec<SessionId> = out.into_iter().map(|(s, _)| s).collect();
        sessions.sort();
        sessions
    }

    #[test]
    fn a_room_frame_reaches_every_member_but_the_skipped_ones() {
        let (rooms, registry, lobby, [ann1, ann2, bob]) = lobby_of_ann_and_bob();
        let text = ByteString::from_static("{}");
        let mut deliveries = Deliveries::default();

        gather_room(
            &rooms,
            &registry,
            &lobby,
            &text,
            5,
            Skip::Nobody,
            &mut deliveries,
        );
        assert_eq!(receivers(&mut deliveries), vec![ann1, ann2, bob]);
        gather_room(
            &rooms,
            &registry,
            &lobby,
            &text,
            0,
            Skip::User(UserId(1)),
            &mut deliveries,
        );
        assert_eq!(
            receivers(&mut deliveries),
            vec![bob],
            "Ann's typing skips both her tabs"
        );
        gather_room(
            &rooms,
            &registry,
            &lobby,
            &text,
            0,
            Skip::Session(ann1),
            &mut deliveries,
        );
        assert_eq!(receivers(&mut deliveries), vec![ann2, bob]);
        assert!(deliveries.is_empty());
    }

    #[test]
    fn a_connection_gets_all_its_frames_of_a_commit_in_one_batch_and_acks_come_first() {
        let (rooms, registry, lobby, [ann1, _, _]) = lobby_of_ann_and_bob();
        let mut deliveries = Deliveries::default();
        for seq in [1, 2] {
            let text = ByteString::from(format!("message {seq}"));
            gather_room(
                &rooms,
                &registry,
                &lobby,
                &text,
                seq,
                Skip::Nobody,
                &mut deliveries,
            );
        }
        let ack = OutFrame {
            text: ByteString::from_static("ack"),
            about: About::Ack(lobby.clone()),
        };
        deliveries.push_ack(ann1, ack);
        let mut out = Vec::new();
        deliveries.drain_into(&mut out);
        assert_eq!(out.len(), 3);
        let (first, frames) = &out[0];
        assert_eq!(*first, ann1, "the sender waiting for its ack goes first");
        let texts: Vec<&str> = frames.iter().map(|f| &*f.text).collect();
        assert_eq!(texts, vec!["message 1", "message 2", "ack"]);
        assert_eq!(frames[1].about, About::Message(lobby, 2));
    }

    #[test]
    fn staff_frames_reach_every_staff_connection_only() {
        let mut registry = Registry::default();
        registry.connect(user(1, Role::Guest), ());
        let staff = registry.connect(user(2, Role::Admin), ());
        let mut deliveries = Deliveries::default();
        gather_staff(&registry, &ByteString::from_static("{}"), &mut deliveries);
        assert_eq!(receivers(&mut deliveries), vec![staff]);
    }

    #[test]
    fn the_support_customer_is_the_author_or_the_owner_as_connected() {
        let mut registry = Registry::default();
        let ann = user(1, Role::Guest);
        let staff = user(2, Role::Admin);
        assert_eq!(support_customer(&registry, ann.id, &ann), Some(ann.clone()));
        assert_eq!(
            support_customer(&registry, ann.id, &staff),
            None,
            "Ann is away"
        );
        registry.connect(ann.clone(), ());
        assert_eq!(support_customer(&registry, ann.id, &staff), Some(ann));
    }
}
