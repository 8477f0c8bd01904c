//! Live rooms: which connections are in each room right now, who is online there (a user with
//! several connections in a room counts once), who is typing, and whether the room is too
//! crowded to name its users. A plain struct: it says what the members must be told, and the
//! chat server turns that into frames.
//!
//! A room lives while it has a connection in it; its stored side (messages, members, read
//! cursors) is the history actor's.

use super::messages::SessionId;
use super::remote::{NodeId, RemoteSet, Transition};
use crate::domain::{RoomKind, RoomName, UserId, UserInfo};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;
use std::time::Instant;

#[derive(Default)]
struct RoomState {
    members: FxHashSet<SessionId>,
    /// Users with at least one connection in the room, and how many.
    online: FxHashMap<UserId, (UserInfo, u32)>,
    /// Users in the room through other nodes (`--redis-url`): online here too.
    remote: RemoteSet<UserInfo>,
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
        if *count > 1 || state.remote.present(user.id).is_some() {
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
        if !went_offline || state.remote.present(user).is_some() {
            return Departure {
                stopped_typing,
                news: PresenceNews::Nothing,
            };
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
        let count = state.head_count();
        if state.crowded {
            return (count, Vec::new());
        }
        let mut users: Vec<UserInfo> = state.online.values().map(|(u, _)| u.clone()).collect();
        let elsewhere = state
            .remote
            .iter()
            .filter(|(u, _)| !state.online.contains_key(u));
        users.extend(elsewhere.map(|(_, u)| u.clone()));
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
            .filter(|(_, state)| state.crowded && state.head_count() != state.count_told)
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// Each live public room and how many users are online in it (a user with several
    /// connections counts once): the room directory's online counts, read when asked.
    pub fn public_head_counts(&self) -> impl Iterator<Item = (&RoomName, usize)> + '_ {
        self.rooms
            .iter()
            .filter(|(room, _)| room.kind() == RoomKind::Public)
            .map(|(room, state)| (room, state.head_count()))
    }

    /// Whether a connection of this process has the user in the room.
    pub fn is_here(&self, room: &RoomName, user: UserId) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|state| state.online.contains_key(&user))
    }

    /// The users in the room through this process's connections.
    pub fn here(&self, room: &RoomName) -> impl Iterator<Item = &UserInfo> + '_ {
        self.rooms
            .get(room)
            .into_iter()
            .flat_map(|state| state.online.values().map(|(u, _)| u))
    }

    /// Every live room's name.
    pub fn names(&self) -> impl Iterator<Item = &RoomName> + '_ {
        self.rooms.keys()
    }

    /// Another node said, at its version `v`, that `user` is in the room through it
    /// (`Some(face)`) or left it: what this room's members must hear, and of whom. Nothing
    /// for a room that is not live here.
    pub fn remote_changed(
        &mut self,
        room: &RoomName,
        node: &NodeId,
        user: UserId,
        v: u64,
        here: Option<UserInfo>,
        now: Instant,
    ) -> Option<(UserInfo, PresenceNews)> {
        let limit = self.presence_limit;
        let state = self.rooms.get_mut(room)?;
        let transition = state.remote.apply(node, user, v, here, now);
        state.told(room, limit, user, transition)
    }

    /// A snapshot of who is in the room through `node`, taken at its `version`: what this
    /// room's members must hear of each change it brings.
    pub fn remote_snapshot(
        &mut self,
        room: &RoomName,
        node: &NodeId,
        version: u64,
        listed: Vec<(UserId, u64, UserInfo)>,
        now: Instant,
    ) -> Vec<(UserInfo, PresenceNews)> {
        let limit = self.presence_limit;
        let Some(state) = self.rooms.get_mut(room) else {
            return Vec::new();
        };
        let changes = state.remote.replace(node, version, listed, now);
        changes
            .into_iter()
            .filter_map(|(user, t)| state.told(room, limit, user, t))
            .collect()
    }

    /// A node is dead: its users leave every room here (unless another connection keeps them).
    pub fn forget_node(&mut self, node: &str) -> Vec<(RoomName, UserInfo, PresenceNews)> {
        let limit = self.presence_limit;
        let mut news = Vec::new();
        for (room, state) in &mut self.rooms {
            for (user, t) in state.remote.forget_node(node) {
                if let Some((info, n)) = state.told(room, limit, user, t) {
                    news.push((room.clone(), info, n));
                }
            }
        }
        news
    }

    /// Forgets, in every room, the other nodes' departures old enough to need no memory.
    pub fn prune_remote(&mut self, now: Instant) {
        for state in self.rooms.values_mut() {
            state.remote.prune(now);
        }
    }

    /// Each live public room and how many users this process's connections have in it (the
    /// other nodes' left out): what this node tells the others for their room directory.
    pub fn public_local_counts(&self) -> impl Iterator<Item = (&RoomName, usize)> + '_ {
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
    /// Users online in the room, through this node or another, each once.
    fn head_count(&self) -> usize {
        let elsewhere = self.remote.iter();
        self.online.len()
            + elsewhere
                .filter(|(u, _)| !self.online.contains_key(u))
                .count()
    }

    /// What the members must hear of a change of a user's presence through other nodes:
    /// nothing while a connection of this node keeps the user here.
    fn told(
        &mut self,
        room: &RoomName,
        limit: usize,
        user: UserId,
        transition: Transition<UserInfo>,
    ) -> Option<(UserInfo, PresenceNews)> {
        if self.online.contains_key(&user) {
            return None;
        }
        match transition {
            Transition::Came(info) => Some((info, self.news(room, limit, true))),
            Transition::Went(info) => {
                self.typing.remove(&user);
                Some((info, self.news(room, limit, false)))
            }
            Transition::Changed(_) | Transition::Same => None,
        }
    }

    /// After a user came online or went offline: a `presence` frame in an ordinary room,
    /// nothing in a crowded one, and an `online` frame when the room becomes crowded or stops
    /// being so. It stops only well below the limit, so that a room hovering at the limit does
    /// not flip back and forth.
    fn news(&mut self, room: &RoomName, limit: usize, online: bool) -> PresenceNews {
        let count = self.head_count();
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
mod tests;
