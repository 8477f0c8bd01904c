//! The room directory's question to the chat server: how many users are online in each live
//! public room now (`GET /api/rooms`), answered from the live rooms it keeps anyway (nothing is
//! counted per message or per join), and the directory's order, a plain function. Kept apart
//! from `handlers.rs`, like the metrics' gauges.
//!
//! With several nodes (`--redis-url`) a room live here counts its users on every node, each
//! once; a room live only elsewhere, the other nodes' own counts summed, as of their last
//! heartbeat (`cluster_presence.rs`).

use super::server::ChatServer;
use crate::db::directory::DirectoryRow;
use actix::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Directory API → chat server: the users online in each live public room, by room name
/// (a room nobody is in is absent).
#[derive(Message)]
#[rtype(result = "FxHashMap<String, usize>")]
pub struct CountOnlineByRoom;

impl Handler<CountOnlineByRoom> for ChatServer {
    type Result = MessageResult<CountOnlineByRoom>;

    /// One pass over the live rooms (and the other nodes' counts).
    fn handle(&mut self, _: CountOnlineByRoom, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.public_head_counts_anywhere())
    }
}

/// A public room as `GET /api/rooms` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryEntry {
    /// The room's name.
    pub name: String,
    /// Users with the room in their list.
    pub members: i64,
    /// Distinct users with a socket in it now.
    pub online: usize,
    /// When its newest message was written (ms), `null` without messages.
    pub last_activity: Option<i64>,
}

/// The directory as shown: each stored room with its online count, the busiest first (online,
/// then members, both descending), then by name; at most `limit` of them.
pub fn rank(
    rows: Vec<DirectoryRow>,
    online: &FxHashMap<String, usize>,
    limit: usize,
) -> Vec<DirectoryEntry> {
    let mut entries: Vec<DirectoryEntry> = rows
        .into_iter()
        .map(|row| DirectoryEntry {
            online: online.get(&row.name).copied().unwrap_or(0),
            name: row.name,
            members: row.members,
            last_activity: row.last_activity,
        })
        .collect();
    entries.sort_by(|a, b| {
        b.online
            .cmp(&a.online)
            .then(b.members.cmp(&a.members))
            .then_with(|| a.name.cmp(&b.name))
    });
    entries.truncate(limit);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, members: i64) -> DirectoryRow {
        DirectoryRow {
            name: name.to_owned(),
            members,
            last_activity: None,
        }
    }

    #[test]
    fn the_busiest_rooms_come_first_then_the_biggest_then_by_name() {
        let rows = vec![
            row("alpha", 1),
            row("beta", 9),
            row("gamma", 2),
            row("delta", 2),
            row("quiet", 50),
        ];
        let online = FxHashMap::from_iter([("gamma".to_owned(), 3), ("alpha".to_owned(), 3)]);
        let names: Vec<String> = rank(rows, &online, 10)
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["gamma", "alpha", "quiet", "beta", "delta"]);
    }

    #[test]
    fn the_online_counts_are_public_rooms_users_each_counted_once() {
        use crate::chat::messages::SessionId;
        use crate::chat::rooms::LiveRooms;
        use crate::domain::{Role, RoomName, UserId, UserInfo};
        let user = |id: i64| UserInfo {
            id: UserId(id),
            username: format!("user{id}"),
            role: Role::User,
            display_name: None,
            avatar_color: None,
        };
        let lobby = RoomName::parse("lobby").expect("a room");
        let support = RoomName::support(UserId(2));
        let mut rooms = LiveRooms::new(500);
        // User 1 in two tabs, user 2 in one; user 2 also in their support conversation.
        rooms.enter(&lobby, SessionId(1), &user(1));
        rooms.enter(&lobby, SessionId(2), &user(1));
        rooms.enter(&lobby, SessionId(3), &user(2));
        rooms.enter(&support, SessionId(3), &user(2));
        let counts: Vec<(String, usize)> = rooms
            .public_head_counts()
            .map(|(room, online)| (room.as_str().to_owned(), online))
            .collect();
        assert_eq!(counts, [("lobby".to_owned(), 2)]);
        rooms.leave(&lobby, SessionId(3), UserId(2));
        let counts: Vec<usize> = rooms.public_head_counts().map(|(_, n)| n).collect();
        assert_eq!(counts, [1]);
    }

    #[test]
    fn the_limit_keeps_the_busiest() {
        let rows = vec![row("a", 1), row("b", 2), row("c", 3)];
        let ranked = rank(rows, &FxHashMap::default(), 2);
        assert_eq!(ranked.len(), 2);
        assert_eq!(ranked[0].name, "c");
        assert_eq!(ranked[1].name, "b");
        assert_eq!(ranked[1].online, 0);
    }
}
