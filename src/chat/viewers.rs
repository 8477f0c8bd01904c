//! Who on the staff has each support conversation open: the staff connections whose join of
//! `support:<id>` succeeded (`joined` sent), per user (a staff member with two tabs on it views
//! it once). The chat server tells it of every successful join and of every leave of a support
//! room (a leave of a connection it never counted changes nothing, so a refused join is no
//! viewer); an answer of `Some` means the set of users changed and every staff connection hears
//! `conversation_viewers`.

use super::messages::SessionId;
use crate::domain::{RoomName, UserId, UserInfo};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The viewers of every support conversation that has any.
#[derive(Debug, Default)]
pub struct Viewers {
    /// Per room: each viewing user, with their connections that have it open.
    rooms: HashMap<RoomName, BTreeMap<UserId, (UserInfo, HashSet<SessionId>)>>,
}

impl Viewers {
    /// `session` of `user` opened `room`: the new list of viewers (sorted by id) when the
    /// user was not viewing it yet.
    pub fn enter(
        &mut self,
        room: &RoomName,
        session: SessionId,
        user: &UserInfo,
    ) -> Option<Vec<UserInfo>> {
        let viewers = self.rooms.entry(room.clone()).or_default();
        let entry = viewers
            .entry(user.id)
            .or_insert_with(|| (user.clone(), HashSet::new()));
        let first = entry.1.is_empty();
        entry.1.insert(session);
        first.then(|| list(viewers))
    }

    /// `session` of `user` left `room` (or closed): the new list when it was the user's last
    /// connection on it.
    pub fn leave(
        &mut self,
        room: &RoomName,
        session: SessionId,
        user: UserId,
    ) -> Option<Vec<UserInfo>> {
        let viewers = self.rooms.get_mut(room)?;
        let entry = viewers.get_mut(&user)?;
        if !entry.1.remove(&session) || !entry.1.is_empty() {
            return None;
        }
        viewers.remove(&user);
        let now = list(viewers);
        if viewers.is_empty() {
            self.rooms.remove(room);
        }
        Some(now)
    }

    /// The rooms anybody views.
    pub fn rooms(&self) -> impl Iterator<Item = &RoomName> + '_ {
        self.rooms.keys()
    }

    /// The viewers of `room` now, sorted by id.
    pub fn of(&self, room: &RoomName) -> Vec<UserInfo> {
        self.rooms.get(room).map(list).unwrap_or_default()
    }
}

fn list(viewers: &BTreeMap<UserId, (UserInfo, HashSet<SessionId>)>) -> Vec<UserInfo> {
    viewers.values().map(|(user, _)| user.clone()).collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::Role;

    /// An agent named `name` (shared with the cluster's viewer stories).
    pub(in crate::chat) fn staff(id: i64, name: &str) -> UserInfo {
        UserInfo {
            id: UserId(id),
            username: name.into(),
            role: Role::Agent,
            display_name: None,
            avatar_color: None,
        }
    }

    fn names(list: &[UserInfo]) -> Vec<&str> {
        list.iter().map(|u| u.username.as_str()).collect()
    }

    #[test]
    fn a_user_views_once_however_many_tabs_and_the_list_is_sorted_by_id() {
        let room = RoomName::support(UserId(9));
        let mut viewers = Viewers::default();
        let (ann, bob) = (staff(3, "ann"), staff(2, "bob"));
        let (ann1, ann2, bob1) = (SessionId(1), SessionId(2), SessionId(3));

        assert_eq!(names(&viewers.enter(&room, ann1, &ann).unwrap()), ["ann"]);
        assert_eq!(
            names(&viewers.enter(&room, bob1, &bob).unwrap()),
            ["bob", "ann"]
        );
        assert_eq!(viewers.enter(&room, ann2, &ann), None, "a second tab");
        assert_eq!(viewers.enter(&room, ann2, &ann), None, "a re-join");

        assert_eq!(
            viewers.leave(&room, ann1, ann.id),
            None,
            "ann2 is still open"
        );
        assert_eq!(names(&viewers.leave(&room, ann2, ann.id).unwrap()), ["bob"]);
        assert_eq!(
            viewers.leave(&room, ann2, ann.id),
            None,
            "ann is gone already"
        );
        assert_eq!(viewers.leave(&room, bob1, bob.id).unwrap(), []);
        assert!(viewers.of(&room).is_empty());
        assert!(viewers.rooms.is_empty(), "an empty room is forgotten");
    }

    #[test]
    fn a_connection_never_counted_changes_nothing_and_rooms_are_apart() {
        let (one, two) = (RoomName::support(UserId(1)), RoomName::support(UserId(2)));
        let mut viewers = Viewers::default();
        let eve = staff(5, "eve");
        viewers.enter(&one, SessionId(1), &eve);
        // Eve's second tab was refused the room: its leave is not hers leaving.
        assert_eq!(viewers.leave(&one, SessionId(2), eve.id), None);
        assert_eq!(viewers.leave(&two, SessionId(1), eve.id), None);
        assert!(viewers.of(&two).is_empty());
        assert_eq!(names(&viewers.of(&one)), ["eve"]);
    }
}
