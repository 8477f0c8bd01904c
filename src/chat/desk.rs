//! What the chat server knows of each staff member with a connection open or connecting:
//! their availability and whether their account is active, as the newest read of their account
//! found it, and the members whose face changed since the staff were last told
//! (`staff_updated`). A plain struct, held by the [`super::registry::Registry`], which knows
//! who is connected; applied in `team.rs`.
//!
//! Like the accounts, each read carries a [`Ticket`]: an older read answering late never undoes
//! a newer one (a `POST /api/admin/availability` answered before the periodic re-check that
//! was asked for earlier).

use super::registry::Ticket;
use crate::db::models::UserRow;
use crate::domain::{Availability, Role, UserId, UserInfo};
use crate::protocol::StaffMember;
use rustc_hash::FxHashMap;

/// A staff member's state as one read of their account found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffState {
    /// Online, busy or offline, as they set it.
    pub availability: Availability,
    /// False once deactivated.
    pub active: bool,
}

impl Default for StaffState {
    /// What a new staff account starts with (the columns' defaults).
    fn default() -> Self {
        StaffState {
            availability: Availability::Online,
            active: true,
        }
    }
}

/// The staff state a read of an account found; `None` for a customer's (or no) account.
pub fn staff_state_of(row: Option<&UserRow>) -> Option<StaffState> {
    let row = row?;
    if !Role::parse(&row.role).is_some_and(Role::is_staff) {
        return None;
    }
    Some(StaffState {
        // The CHECK constraint keeps it valid; a foreign value counts as the default.
        availability: Availability::parse(&row.availability).unwrap_or(Availability::Online),
        active: row.active,
    })
}

/// The member as the team API and `staff_updated` show them.
pub fn member(user: &UserInfo, state: StaffState, online: bool) -> StaffMember {
    StaffMember {
        id: user.id,
        username: user.username.clone(),
        role: user.role,
        active: state.active,
        availability: state.availability,
        online,
        display_name: user.display_name.clone(),
        avatar_color: user.avatar_color.clone(),
    }
}

/// The staff members the chat server knows of, and what the staff must hear of them.
#[derive(Default)]
pub struct StaffDesk {
    /// Each known member's state and the ticket of the read it came from.
    members: FxHashMap<UserId, (Ticket, StaffState)>,
    /// Members whose face changed, in the order it changed, not told yet.
    news: Vec<StaffMember>,
}

impl StaffDesk {
    /// A read of `user`'s account (ticket `ticket`) found `state` (`None`: not staff). Kept if
    /// newer than what is known; returns whether it changed the state.
    pub fn note(&mut self, user: UserId, ticket: Ticket, state: Option<StaffState>) -> bool {
        let known = self.members.get(&user).copied();
        if known.is_some_and(|(t, _)| t > ticket) {
            return false;
        }
        match state {
            Some(state) => {
                self.members.insert(user, (ticket, state));
                !matches!(known, Some((_, was)) if was == state)
            }
            None => self.members.remove(&user).is_some(),
        }
    }

    /// What is known of a member: the newest read, or the defaults before any.
    pub fn state(&self, user: UserId) -> StaffState {
        self.members
            .get(&user)
            .map_or_else(StaffState::default, |(_, s)| *s)
    }

    /// Forgets a member with nothing open or connecting any more.
    pub fn forget(&mut self, user: UserId) {
        self.members.remove(&user);
    }

    /// Notes that the staff must hear of this member as they are now.
    pub fn changed(&mut self, user: &UserInfo, online: bool) {
        let member = member(user, self.state(user.id), online);
        self.news.push(member);
    }

    /// The members to tell the staff of, each once (as they were last noted), in the order
    /// they first changed.
    pub fn take_news(&mut self) -> Vec<StaffMember> {
        let mut news: Vec<StaffMember> = Vec::with_capacity(self.news.len());
        for member in self.news.drain(..) {
            match news.iter_mut().find(|m| m.id == member.id) {
                Some(older) => *older = member,
                None => news.push(member),
            }
        }
        news
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob() -> UserInfo {
        UserInfo {
            id: UserId(5),
            username: "bob".into(),
            role: Role::Agent,
            display_name: None,
            avatar_color: None,
        }
    }

    fn busy() -> Option<StaffState> {
        Some(StaffState {
            availability: Availability::Busy,
            active: true,
        })
    }

    #[test]
    fn the_newest_read_of_a_member_wins_and_says_when_it_changed_something() {
        let mut desk = StaffDesk::default();
        assert_eq!(desk.state(UserId(5)), StaffState::default());
        assert!(desk.note(UserId(5), 2, busy()));
        assert!(!desk.note(UserId(5), 3, busy()), "the same state again");
        assert!(
            !desk.note(UserId(5), 1, Some(StaffState::default())),
            "older"
        );
        assert_eq!(desk.state(UserId(5)).availability, Availability::Busy);
        assert!(desk.note(UserId(5), 4, None), "no longer staff");
        assert_eq!(desk.state(UserId(5)), StaffState::default());
        desk.note(UserId(5), 5, busy());
        desk.forget(UserId(5));
        assert_eq!(desk.state(UserId(5)), StaffState::default());
    }

    #[test]
    fn news_of_a_member_is_told_once_as_they_were_last_noted() {
        let mut desk = StaffDesk::default();
        desk.changed(&bob(), true);
        let ann = UserInfo {
            id: UserId(6),
            username: "ann".into(),
            role: Role::Admin,
            display_name: None,
            avatar_color: None,
        };
        desk.changed(&ann, true);
        desk.note(UserId(5), 1, busy());
        desk.changed(&bob(), false);
        let news = desk.take_news();
        assert_eq!(news.len(), 2);
        assert_eq!((news[0].id, news[0].online), (UserId(5), false));
        assert_eq!(news[0].availability, Availability::Busy);
        assert_eq!(news[1].username, "ann");
        assert!(desk.take_news().is_empty());
    }

    #[test]
    fn only_staff_rows_have_a_staff_state() {
        let mut row = UserRow {
            id: 5,
            username: "bob".into(),
            role: "agent".into(),
            password_hash: None,
            banned: false,
            created_at: 0,
            external_id: None,
            email: None,
            merged_into: None,
            active: false,
            availability: "offline".into(),
            last_seen_at: None,
            last_page: None,
            display_name: None,
            avatar_color: None,
            last_device: None,
            last_addr: None,
        };
        let state = staff_state_of(Some(&row)).unwrap();
        assert_eq!(state.availability, Availability::Offline);
        assert!(!state.active);
        row.role = "user".into();
        assert_eq!(staff_state_of(Some(&row)), None);
        assert_eq!(staff_state_of(None), None);
    }
}
