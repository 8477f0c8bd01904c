//! Who on the staff has each support conversation open: the staff connections joined to
//! `support:<id>`, counted per user (a staff member with two tabs on it views it once). The
//! chat server asks on every join and leave of a support room; an answer of `Some` means the
//! set of users changed and every staff connection hears `conversation_viewers`.

use crate::domain::{RoomName, UserId, UserInfo};
use std::collections::{BTreeMap, HashMap};

/// The viewers of every support conversation that has any.
#[derive(Debug, Default)]
pub struct Viewers {
    /// Per room: each viewing user, with how many of their connections have it open.
    rooms: HashMap<RoomName, BTreeMap<UserId, (UserInfo, usize)>>,
}

impl Viewers {
    /// A connection of `user` opened `room`: the new list of viewers (sorted by id) when the
    /// user was not viewing it yet.
    pub fn enter(&mut self, room: &RoomName, user: &UserInfo) -> Option<Vec<UserInfo>> {
        let viewers = self.rooms.entry(room.clone()).or_default();
        let entry = viewers.entry(user.id).or_insert_with(|| (user.clone(), 0));
        entry.1 += 1;
        (entry.1 == 1).then(|| list(viewers))
    }

    /// A connection of `user` left `room` (or closed): the new list when that was the user's
    /// last connection on it.
    pub fn leave(&mut self, room: &RoomName, user: UserId) -> Option<Vec<UserInfo>> {
        let viewers = self.rooms.get_mut(room)?;
        let entry = viewers.get_mut(&user)?;
        entry.1 -= 1;
        if entry.1 > 0 {
            return None;
        }
        viewers.remove(&user);
        let now = list(viewers);
        if viewers.is_empty() {
            self.rooms.remove(room);
        }
        Some(now)
    }

    /// The viewers of `room` now, sorted by id.
    pub fn of(&self, room: &RoomName) -> Vec<UserInfo> {
        self.rooms.get(room).map(list).unwrap_or_default()
    }
}

fn list(viewers: &BTreeMap<UserId, (UserInfo, usize)>) -> Vec<UserInfo> {
    viewers.values().map(|(user, _)| user.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn staff(id: i64, name: &str) -> UserInfo {
        UserInfo {
            id: UserId(id),
            username: name.into(),
            role: Role::Agent,
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

        assert_eq!(names(&viewers.enter(&room, &ann).unwrap()), ["ann"]);
        assert_eq!(names(&viewers.enter(&room, &bob).unwrap()), ["bob", "ann"]);
        assert_eq!(
            viewers.enter(&room, &ann),
            None,
            "a second tab changes nothing"
        );

        assert_eq!(
            viewers.leave(&room, ann.id),
            None,
            "one of ann's tabs is still open"
        );
        assert_eq!(names(&viewers.leave(&room, ann.id).unwrap()), ["bob"]);
        assert_eq!(viewers.leave(&room, ann.id), None, "ann is gone already");
        assert_eq!(viewers.leave(&room, bob.id).unwrap(), []);
        assert!(viewers.of(&room).is_empty());
        assert!(viewers.rooms.is_empty(), "an empty room is forgotten");
    }

    #[test]
    fn rooms_are_apart() {
        let (one, two) = (RoomName::support(UserId(1)), RoomName::support(UserId(2)));
        let mut viewers = Viewers::default();
        viewers.enter(&one, &staff(5, "eve"));
        assert!(viewers.of(&two).is_empty());
        assert_eq!(viewers.leave(&two, UserId(5)), None);
        assert_eq!(names(&viewers.of(&one)), ["eve"]);
    }
}
