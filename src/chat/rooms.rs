//! Live rooms: which connections are in each room right now, who is online there (a user with
//! several connections in a room counts once), who is typing, and whether the room is too
//! crowded to name its users. A plain struct: it says what the members must be told, and the
//! chat server turns that into frames.
//!
//! A room lives while it has a connection in it; its stored side (messages, members, read
//! cursors) is the history actor's.

use super::messages::SessionId;
use crate::domain::{RoomKind, RoomName, UserId, UserInfo};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;

#[derive(Default)]
struct RoomState {
    members: FxHashSet<SessionId>,
    /// Users with at least one connection in the room, and how many.
    online: FxHashMap<UserId, (UserInfo, u32)>,
    typing: FxHashSet<UserId>,
    /// Too many users online to name them (see [`LiveRooms::new`]).
    crowded: bool,
    /// The head count the members were last told in an `online` frame.
    count_told: usize,
}

/// What a room's members must hear after a user came online or went offline there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceNews {
    /// Nothing: the user's other connections keep them online (or offline), or the room is
    /// crowded and stays so.
    Nothing,
    /// A `presence` frame.
    Presence {
        /// Whether the user came online.
        online: bool,
    },
    /// The room became crowded or stopped being so: an `online` frame to every member.
    Online,
}

/// What a room's members must hear after a connection left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    /// The user's last connection in the room went while they were typing: `typing` off.
    pub stopped_typing: bool,
    /// Presence news, after the typing frame.
    pub news: PresenceNews,
}

/// Every room with a connection in it.
pub struct LiveRooms {
    rooms: HashMap<RoomName, RoomState>,
    /// Most users online in a public room that still get `presence` frames and a full list.
    presence_limit: usize,
}

impl LiveRooms {
    /// No rooms yet. A public room with more than `presence_limit` users online is crowded
    /// until it falls a tenth below; support rooms never are.
    pub fn new(presence_limit: usize) -> LiveRooms {
        LiveRooms {
            rooms: HashMap::new(),
            presence_limit,
        }
    }

    /// Whether a connection of this process is in the room.
    pub fn is_live(&self, room: &RoomName) -> bool {
        self.rooms.contains_key(room)
    }

    /// Puts a connection of `user` in the room (the caller knows it was not in it).
    pub fn enter(&mut self, room: &RoomName, session: SessionId, user: &UserInfo) -> PresenceNews {
        let limit = self.presence_limit;
        let state = self.rooms.entry(room.clone()).or_default();
        state.members.insert(session);
        let count = &mut state.online.entry(user.id).or_insert((user.clone(), 0)).1;
        *count += 1;
        if *count > 1 {
            return PresenceNews::Nothing;
        }
        state.news(room, limit, true)
    }

    /// Takes a connection of `user` out of the room: offline there when it was the user's
    /// last, and no longer typing then. A room left empty is forgotten (and nobody is told).
    pub fn leave(&mut self, room: &RoomName, session: SessionId, user: UserId) -> Departure {
        let quiet = Departure {
            stopped_typing: false,
            news: PresenceNews::Nothing,
        };
        let limit = self.presence_limit;
        let Some(state) = self.rooms.get_mut(room) else {
            return quiet;
        };
        state.members.remove(&session);
        let mut went_offline = false;
        if let Some((_, count)) = state.online.get_mut(&user) {
            *count -= 1;
            if *count == 0 {
                state.online.remove(&user);
                went_offline = true;
            }
        }
        let stopped_typing = went_offline && state.typing.remove(&user);
        if state.members.is_empty() {
            self.rooms.remove(room);
            return quiet;
        }
        if !went_offline {
            return quiet;
        }
        Departure {
            stopped_typing,
            news: state.news(room, limit, false),
        }
    }

    /// The room's connections.
    pub fn members(&self, room: &RoomName) -> impl Iterator<Item = SessionId> + '_ {
        self.rooms
            .get(room)
            .into_iter()
            .flat_map(|state| state.members.iter().copied())
    }

    /// How many users are online in the room, and who, sorted by name; nobody is named in a
    /// crowded room.
    pub fn online(&self, room: &RoomName) -> (usize, Vec<UserInfo>) {
        let Some(state) = self.rooms.get(room) else {
            return (0, Vec::new());
        };
        let count = state.online.len();
        if state.crowded {
            return (count, Vec::new());
        }
        let mut users: Vec<UserInfo> = state.online.values().map(|(u, _)| u.clone()).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username).then(a.id.cmp(&b.id)));
        (count, users)
    }

    /// [`LiveRooms::online`], for an `online` frame: the count becomes the one last told.
    pub fn tell_online(&mut self, room: &RoomName) -> (usize, Vec<UserInfo>) {
        let online = self.online(room);
        if let Some(state) = self.rooms.get_mut(room) {
            state.count_told = online.0;
        }
        online
    }

    /// The user's account changed (a new role, display name or avatar colour): the room's
    /// online list shows it from now on. Whether the user is online there and the room names its
    /// users (not crowded), so that its members may be told of the new face.
    pub fn update_user(&mut self, room: &RoomName, user: &UserInfo) -> bool {
        let Some(state) = self.rooms.get_mut(room) else {
            return false;
        };
        let Some((info, _)) = state.online.get_mut(&user.id) else {
            return false;
        };
        *info = user.clone();
        !state.crowded
    }

    /// Notes that the user started or stopped typing; false if the room is not live.
    pub fn set_typing(&mut self, room: &RoomName, user: UserId, on: bool) -> bool {
        let Some(state) = self.rooms.get_mut(room) else {
            return false;
        };
        if on {
            state.typing.insert(user);
        } else {
            state.typing.remove(&user);
        }
        true
    }

    /// Crowded rooms whose head count changed since they were last told it.
    pub fn crowd_counts_changed(&self) -> Vec<RoomName> {
        self.rooms
            .iter()
            .filter(|(_, state)| state.crowded && state.online.len() != state.count_told)
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// Each live public room and how many users are online in it (a user with several
    /// connections counts once): the room directory's online counts, read when asked.
    pub fn public_head_counts(&self) -> impl Iterator<Item = (&RoomName, usize)> + '_ {
        self.rooms
            .iter()
            .filter(|(room, _)| room.kind() == RoomKind::Public)
            .map(|(room, state)| (room, state.online.len()))
    }

    /// Rooms with a connection in them.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether no room is live.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Forgets every room.
    pub fn clear(&mut self) {
        self.rooms.clear();
    }
}

impl RoomState {
    /// After a user came online or went offline: a `presence` frame in an ordinary room,
    /// nothing in a crowded one, and an `online` frame when the room becomes crowded or stops
    /// being so. It stops only well below the limit, so that a room hovering at the limit does
    /// not flip back and forth.
    fn news(&mut self, room: &RoomName, limit: usize, online: bool) -> PresenceNews {
        let count = self.online.len();
        let was_crowded = self.crowded;
        if matches!(room.kind(), RoomKind::Support(_)) {
            self.crowded = false;
        } else if !was_crowded && count > limit {
            self.crowded = true;
        } else if was_crowded && count <= limit.saturating_sub((limit / 10).max(1)) {
            self.crowded = false;
        }
        if self.crowded != was_crowded {
            PresenceNews::Online
        } else if self.crowded {
            PresenceNews::Nothing
        } else {
            PresenceNews::Presence { online }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn user(id: i64) -> UserInfo {
        UserInfo {
            id: UserId(id),
            username: format!("user{id:03}"),
            role: Role::User,
            display_name: None,
            avatar_color: None,
        }
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn a_user_comes_online_with_their_first_tab_and_goes_offline_with_their_last() {
        let mut rooms = LiveRooms::new(500);
        let lobby = room("lobby");
        let ann = user(1);
        assert_eq!(
            rooms.enter(&lobby, SessionId(1), &ann),
            PresenceNews::Presence { online: true }
        );
        assert_eq!(
            rooms.enter(&lobby, SessionId(2), &ann),
            PresenceNews::Nothing
        );
        rooms.enter(&lobby, SessionId(3), &user(2));
        assert_eq!(rooms.online(&lobby).0, 2);

        let quiet = rooms.leave(&lobby, SessionId(1), ann.id);
        assert_eq!(quiet.news, PresenceNews::Nothing, "a tab is still open");
        let gone = rooms.leave(&lobby, SessionId(2), ann.id);
        assert_eq!(gone.news, PresenceNews::Presence { online: false });
        assert_eq!(rooms.online(&lobby), (1, vec![user(2)]));
    }

    #[test]
    fn the_last_connection_leaving_forgets_the_room_without_news() {
        let mut rooms = LiveRooms::new(500);
        let lobby = room("lobby");
        rooms.enter(&lobby, SessionId(1), &user(1));
        rooms.set_typing(&lobby, UserId(1), true);
        let departure = rooms.leave(&lobby, SessionId(1), UserId(1));
        assert_eq!(departure.news, PresenceNews::Nothing);
        assert!(!departure.stopped_typing);
        assert!(rooms.is_empty());
        assert!(!rooms.set_typing(&lobby, UserId(1), true), "no live room");
    }

    #[test]
    fn a_typist_who_goes_offline_stops_typing() {
        let mut rooms = LiveRooms::new(500);
        let lobby = room("lobby");
        rooms.enter(&lobby, SessionId(1), &user(1));
        rooms.enter(&lobby, SessionId(2), &user(2));
        rooms.set_typing(&lobby, UserId(1), true);
        let departure = rooms.leave(&lobby, SessionId(1), UserId(1));
        assert!(departure.stopped_typing);
        assert_eq!(departure.news, PresenceNews::Presence { online: false });
    }

    #[test]
    fn a_room_past_the_limit_is_crowded_until_a_tenth_below() {
        let mut rooms = LiveRooms::new(20);
        let hall = room("hall");
        for id in 1..=20 {
            let news = rooms.enter(&hall, SessionId(id as u64), &user(id));
            assert_eq!(news, PresenceNews::Presence { online: true });
        }
        assert_eq!(
            rooms.enter(&hall, SessionId(21), &user(21)),
            PresenceNews::Online,
            "the 21st user makes the room crowded"
        );
        assert_eq!(rooms.online(&hall), (21, Vec::new()), "nobody is named");
        assert_eq!(
            rooms.enter(&hall, SessionId(22), &user(22)),
            PresenceNews::Nothing
        );

        // 22 online; the room stops being crowded at 18 (20 less a tenth).
        let mut last = PresenceNews::Nothing;
        for id in (19..=22).rev() {
            last = rooms.leave(&hall, SessionId(id as u64), UserId(id)).news;
        }
        assert_eq!(rooms.online(&hall).0, 18);
        assert_eq!(last, PresenceNews::Online, "at 18 the names come back");
        assert_eq!(rooms.online(&hall).1.len(), 18);
    }

    #[test]
    fn the_online_list_shows_a_users_new_role() {
        let mut rooms = LiveRooms::new(500);
        let lobby = room("lobby");
        rooms.enter(&lobby, SessionId(1), &user(1));
        let promoted = UserInfo {
            role: Role::Admin,
            ..user(1)
        };
        assert!(
            rooms.update_user(&lobby, &promoted),
            "a room that names its users"
        );
        assert!(!rooms.update_user(&room("elsewhere"), &promoted));
        assert_eq!(rooms.online(&lobby), (1, vec![promoted]));
    }

    #[test]
    fn support_rooms_are_never_crowded() {
        let mut rooms = LiveRooms::new(0);
        let support = room("support:1");
        assert_eq!(
            rooms.enter(&support, SessionId(1), &user(1)),
            PresenceNews::Presence { online: true }
        );
        assert_eq!(rooms.online(&support).1, vec![user(1)]);
    }

    #[test]
    fn a_crowded_room_is_listed_for_its_head_count_only_when_it_changed() {
        let mut rooms = LiveRooms::new(1);
        let hall = room("hall");
        rooms.enter(&hall, SessionId(1), &user(1));
        rooms.enter(&hall, SessionId(2), &user(2));
        assert_eq!(rooms.crowd_counts_changed(), vec![hall.clone()]);
        assert_eq!(rooms.tell_online(&hall).0, 2);
        assert!(rooms.crowd_counts_changed().is_empty());
        rooms.enter(&hall, SessionId(3), &user(3));
        assert_eq!(rooms.crowd_counts_changed(), vec![hall]);
    }
}
