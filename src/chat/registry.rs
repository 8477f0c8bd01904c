//! Who is connected: every open connection with its user and rooms, every user's connections
//! ("tabs"), the staff connections, and the connections still connecting. A plain struct; the
//! chat server routes to it.
//!
//! Accounts change under open connections (a ban, a role given by `create-admin`): every read
//! of an account carries a [`Ticket`], taken when the read is asked for, and the registry keeps
//! for each connection the newest one it has seen, so that an older read answering late never
//! undoes a newer one.
//!
//! Generic over the way a connection is reached (`R`): a `Recipient<Deliver>` in the server,
//! anything at all in unit tests, which then need no actor system.

use super::messages::SessionId;
use crate::domain::{Role, RoomName, UserId, UserInfo};
use rustc_hash::{FxHashMap, FxHashSet};

/// The order in which account reads were asked for: a larger ticket is a newer read.
pub type Ticket = u64;

/// An account as one read found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// It may connect, with this face and role.
    Active(UserInfo),
    /// It is banned: every connection closes (1008).
    Banned,
    /// It no longer exists: every connection closes (1008).
    Gone,
}

/// One open connection.
pub struct SessionEntry<R> {
    /// Its user, as last read.
    pub user: UserInfo,
    /// The read that user came from.
    pub ticket: Ticket,
    /// Where its frames go.
    pub recipient: R,
    /// The rooms it is in, in the order it joined them.
    pub rooms: Vec<RoomName>,
}

/// Every open connection of this process.
pub struct Registry<R> {
    sessions: FxHashMap<SessionId, SessionEntry<R>>,
    /// Every open connection of each user: unread counts go to all of them.
    tabs: FxHashMap<UserId, Vec<SessionId>>,
    /// Staff connections: they hear of every message in every support conversation.
    staff: FxHashSet<SessionId>,
    /// Connections whose `Connect` is in flight (the account is being read): their user, and
    /// the newest account read that answered meanwhile.
    connecting: FxHashMap<SessionId, Connecting>,
    /// The same connections by user, so that a read of one user's account (every user's,
    /// every few seconds, by the re-check) visits that user's connections only, not every
    /// connection still connecting. No entry for a user with none.
    connecting_by_user: FxHashMap<UserId, Vec<SessionId>>,
}

/// A connection whose `Connect` is in flight.
struct Connecting {
    user: UserId,
    newer: Option<(Ticket, Account)>,
}

impl<R> Default for Registry<R> {
    fn default() -> Self {
        Registry {
            sessions: FxHashMap::default(),
            tabs: FxHashMap::default(),
            staff: FxHashSet::default(),
            connecting: FxHashMap::default(),
            connecting_by_user: FxHashMap::default(),
        }
    }
}

impl<R> Registry<R> {
    /// Notes that a connection of `user` is on its way in ([`Registry::arrive`] follows).
    pub fn expect(&mut self, session: SessionId, user: UserId) {
        let newer = None;
        if let Some(was) = self.connecting.insert(session, Connecting { user, newer }) {
            self.unindex_connecting(session, was.user);
        }
        self.connecting_by_user
            .entry(user)
            .or_default()
            .push(session);
    }

    /// Forgets a connection that was connecting, in both maps; what it had, if it was.
    fn stop_connecting(&mut self, session: SessionId) -> Option<Connecting> {
        let connecting = self.connecting.remove(&session)?;
        self.unindex_connecting(session, connecting.user);
        Some(connecting)
    }

    fn unindex_connecting(&mut self, session: SessionId, user: UserId) {
        if let Some(sessions) = self.connecting_by_user.get_mut(&user) {
            sessions.retain(|s| *s != session);
            if sessions.is_empty() {
                self.connecting_by_user.remove(&user);
            }
        }
    }

    /// The account of an expected connection, from the read its `Connect` made (`read`, with
    /// its ticket) or from a newer one that answered meanwhile ([`Registry::note_account`]);
    /// `None` if the connection was removed meanwhile (its socket closed while it was
    /// connecting, and registering it would leave a ghost online forever). The connection
    /// stays expected: [`Registry::register`] or [`Registry::remove`] follows.
    pub fn arrive(&self, session: SessionId, read: (Ticket, Account)) -> Option<(Ticket, Account)> {
        let connecting = self.connecting.get(&session)?;
        match &connecting.newer {
            Some(newer) if newer.0 > read.0 => Some(newer.clone()),
            _ => Some(read),
        }
    }

    /// Registers a connection of `user` that was expected. False (and nothing registered) if
    /// it was removed meanwhile.
    pub fn register(
        &mut self,
        id: SessionId,
        user: UserInfo,
        ticket: Ticket,
        recipient: R,
    ) -> bool {
        if self.stop_connecting(id).is_none() {
            return false;
        }
        self.tabs.entry(user.id).or_default().push(id);
        if user.role.is_staff() {
            self.staff.insert(id);
        }
        let rooms = Vec::new();
        let entry = SessionEntry {
            user,
            ticket,
            recipient,
            rooms,
        };
        self.sessions.insert(id, entry);
        true
    }

    /// A read of `user`'s account answered: every connection of the user still connecting
    /// keeps it if it is newer than what it has. Returns the registered connections to which
    /// it is news (their last read is older), for the chat server to apply.
    pub fn note_account(
        &mut self,
        user: UserId,
        ticket: Ticket,
        account: &Account,
    ) -> Vec<SessionId> {
        let sessions = self
            .connecting_by_user
            .get(&user)
            .map_or(&[][..], Vec::as_slice);
        for session in sessions {
            let Some(connecting) = self.connecting.get_mut(session) else {
                continue;
            };
            let older = !matches!(&connecting.newer, Some((t, _)) if *t >= ticket);
            if older {
                connecting.newer = Some((ticket, account.clone()));
            }
        }
        let mut news = Vec::new();
        for session in self.tabs.get(&user).map_or(&[][..], Vec::as_slice) {
            if let Some(entry) = self.sessions.get_mut(session) {
                if entry.ticket < ticket {
                    entry.ticket = ticket;
                    news.push(*session);
                }
            }
        }
        news
    }

    /// Gives a registered connection its user as newly read (a new role: in or out of the
    /// staff). Returns the rooms it is in that the user may no longer enter.
    pub fn set_user(&mut self, session: SessionId, user: UserInfo) -> Vec<RoomName> {
        let Some(entry) = self.sessions.get_mut(&session) else {
            return Vec::new();
        };
        if user.role.is_staff() {
            self.staff.insert(session);
        } else {
            self.staff.remove(&session);
        }
        let barred = entry.rooms.iter().filter(|r| !r.admits(&user)).cloned();
        let barred = barred.collect();
        entry.user = user;
        barred
    }

    /// Every user with a connection open or connecting, once each.
    pub fn known_users(&self) -> Vec<UserId> {
        let mut users: FxHashSet<UserId> = self.tabs.keys().copied().collect();
        users.extend(self.connecting_by_user.keys().copied());
        users.into_iter().collect()
    }

    /// Forgets a connection, registered or still connecting; returns it (with the rooms it was
    /// in) if it was registered.
    pub fn remove(&mut self, session: SessionId) -> Option<SessionEntry<R>> {
        self.stop_connecting(session);
        let entry = self.sessions.remove(&session)?;
        self.staff.remove(&session);
        if let Some(tabs) = self.tabs.get_mut(&entry.user.id) {
            tabs.retain(|s| *s != session);
            if tabs.is_empty() {
                self.tabs.remove(&entry.user.id);
            }
        }
        Some(entry)
    }

    /// Forgets every connection, handing each one out.
    pub fn drain(&mut self) -> impl Iterator<Item = SessionEntry<R>> + '_ {
        self.tabs.clear();
        self.staff.clear();
        self.connecting.clear();
        self.connecting_by_user.clear();
        self.sessions.drain().map(|(_, entry)| entry)
    }

    /// A connection, if it is registered.
    pub fn get(&self, session: SessionId) -> Option<&SessionEntry<R>> {
        self.sessions.get(&session)
    }

    /// The user of a connection.
    pub fn user(&self, session: SessionId) -> Option<&UserInfo> {
        self.sessions.get(&session).map(|e| &e.user)
    }

    /// Whether the connection is in the room.
    pub fn is_in(&self, session: SessionId, room: &RoomName) -> bool {
        self.sessions
            .get(&session)
            .is_some_and(|e| e.rooms.contains(room))
    }

    /// Notes that the connection entered the room. `None` if it is not registered, else
    /// whether it was in the room already.
    pub fn enter(&mut self, session: SessionId, room: &RoomName) -> Option<bool> {
        let entry = self.sessions.get_mut(&session)?;
        if entry.rooms.contains(room) {
            return Some(true);
        }
        entry.rooms.push(room.clone());
        Some(false)
    }

    /// Notes that the connection left the room; its user if it was in it.
    pub fn leave(&mut self, session: SessionId, room: &RoomName) -> Option<UserInfo> {
        let entry = self.sessions.get_mut(&session)?;
        let before = entry.rooms.len();
        entry.rooms.retain(|r| r != room);
        (entry.rooms.len() < before).then(|| entry.user.clone())
    }

    /// The user's connections still connecting (their account and snapshot being read).
    pub fn connecting_tabs(&self, user: UserId) -> &[SessionId] {
        self.connecting_by_user
            .get(&user)
            .map_or(&[], Vec::as_slice)
    }

    /// Every open connection of the user.
    pub fn tabs(&self, user: UserId) -> &[SessionId] {
        self.tabs.get(&user).map_or(&[], Vec::as_slice)
    }

    /// Whether the user has a connection open.
    pub fn is_online(&self, user: UserId) -> bool {
        self.tabs.contains_key(&user)
    }

    /// Every staff connection.
    pub fn staff(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.staff.iter().copied()
    }

    /// Whether any staff member is connected.
    pub fn has_staff(&self) -> bool {
        !self.staff.is_empty()
    }

    /// Staff members with a connection open (one with three tabs counts once): what the
    /// widget tells a customer before the first message.
    pub fn staff_online(&self) -> usize {
        let mut users: Vec<UserId> = self
            .staff
            .iter()
            .filter_map(|s| self.sessions.get(s).map(|e| e.user.id))
            .collect();
        users.sort_unstable_by_key(|u| u.0);
        users.dedup();
        users.len()
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.sessions.len()
    }

    /// Users with at least one connection.
    pub fn online_users(&self) -> usize {
        self.tabs.len()
    }

    /// Open connections by the role of their user: (guests, users, admins). Counted when asked
    /// (a scrape every few seconds), so that connecting and leaving stay as cheap as they were.
    pub fn connections_by_role(&self) -> (usize, usize, usize) {
        let admins = self.staff.len();
        let guests = self
            .sessions
            .values()
            .filter(|e| e.user.role == Role::Guest)
            .count();
        (guests, self.sessions.len() - guests - admins, admins)
    }

    /// Expects and registers a new connection at once (unit tests).
    #[cfg(test)]
    pub fn connect(&mut self, user: UserInfo, recipient: R) -> SessionId {
        let id = SessionId::next();
        self.expect(id, user.id);
        assert!(self.register(id, user, 0, recipient));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, role: Role) -> UserInfo {
        UserInfo {
            id: UserId(id),
            username: format!("u{id}"),
            role,
        }
    }

    fn lobby() -> RoomName {
        RoomName::parse("lobby").unwrap()
    }

    #[test]
    fn a_user_with_two_tabs_is_online_once_until_the_last_tab_closes() {
        let mut registry = Registry::default();
        let first = registry.connect(user(7, Role::User), ());
        let second = registry.connect(user(7, Role::User), ());
        assert_ne!(first, second);
        assert_eq!(registry.connections(), 2);
        assert_eq!(registry.online_users(), 1);
        assert_eq!(registry.tabs(UserId(7)), &[first, second]);

        registry.remove(first);
        assert!(registry.is_online(UserId(7)));
        assert_eq!(registry.tabs(UserId(7)), &[second]);
        registry.remove(second);
        assert!(!registry.is_online(UserId(7)));
        assert_eq!(registry.connections(), 0);
        assert!(registry.tabs(UserId(7)).is_empty());
    }

    #[test]
    fn a_connection_gone_while_it_was_connecting_is_never_registered() {
        let mut registry = Registry::default();
        let early = SessionId::next();
        registry.expect(early, UserId(5));
        registry.remove(early); // the socket closed while its account was read
        let read = (1, Account::Active(user(5, Role::Guest)));
        assert_eq!(registry.arrive(early, read), None);
        assert!(!registry.register(early, user(5, Role::Guest), 1, ()));
        assert_eq!(registry.connections(), 0);
        assert!(!registry.is_online(UserId(5)));

        let unexpected = SessionId::next();
        assert!(!registry.register(unexpected, user(6, Role::Guest), 1, ()));
        assert_eq!(registry.online_users(), 0);
    }

    #[test]
    fn a_ban_read_while_a_connection_connects_wins_over_the_older_read_of_its_connect() {
        let mut registry: Registry<()> = Registry::default();
        let troll = user(8, Role::User);
        let session = SessionId::next();
        registry.expect(session, troll.id);
        // Its Connect read the account (ticket 1) before the ban; the read the ban asked for
        // (ticket 2) answers first.
        assert!(registry
            .note_account(troll.id, 2, &Account::Banned)
            .is_empty());
        let connect_read = (1, Account::Active(troll.clone()));
        assert_eq!(
            registry.arrive(session, connect_read),
            Some((2, Account::Banned))
        );
        // An older read answering even later changes nothing.
        registry.note_account(troll.id, 1, &Account::Active(troll.clone()));
        let connect_read = (1, Account::Active(troll.clone()));
        assert_eq!(
            registry.arrive(session, connect_read),
            Some((2, Account::Banned))
        );
        // A read newer than the noted one wins.
        let late = (3, Account::Active(troll.clone()));
        assert_eq!(registry.arrive(session, late.clone()), Some(late));
    }

    #[test]
    fn connections_still_connecting_are_indexed_by_user_until_they_register_or_go() {
        let mut registry: Registry<()> = Registry::default();
        let (a, b, c) = (SessionId::next(), SessionId::next(), SessionId::next());
        registry.expect(a, UserId(5));
        registry.expect(b, UserId(5));
        registry.expect(c, UserId(6));
        assert_eq!(registry.connecting_by_user[&UserId(5)], vec![a, b]);
        assert_eq!(registry.connecting_by_user[&UserId(6)], vec![c]);
        // A read of user 5 reaches both of its connections, and not user 6's.
        assert!(registry
            .note_account(UserId(5), 2, &Account::Banned)
            .is_empty());
        let connect_read = |id| (1, Account::Active(user(id, Role::User)));
        assert_eq!(
            registry.arrive(a, connect_read(5)),
            Some((2, Account::Banned))
        );
        assert_eq!(
            registry.arrive(b, connect_read(5)),
            Some((2, Account::Banned))
        );
        assert_eq!(registry.arrive(c, connect_read(6)), Some(connect_read(6)));

        // One registers, the other goes while connecting: nothing of user 5 is left connecting.
        assert!(registry.register(a, user(5, Role::User), 2, ()));
        registry.remove(b);
        assert!(!registry.connecting_by_user.contains_key(&UserId(5)));
        assert_eq!(registry.connecting_by_user[&UserId(6)], vec![c]);
        let mut users = registry.known_users();
        users.sort();
        assert_eq!(users, vec![UserId(5), UserId(6)]);

        registry.remove(c);
        assert!(registry.connecting_by_user.is_empty());
        assert!(registry.connecting.is_empty());
        assert_eq!(registry.known_users(), vec![UserId(5)]);
        // Expected and gone again before anything else: no trace either.
        registry.expect(b, UserId(7));
        registry.drain().for_each(drop);
        assert!(registry.connecting_by_user.is_empty() && registry.connecting.is_empty());
    }

    #[test]
    fn a_newer_read_is_news_to_registered_connections_once() {
        let mut registry = Registry::default();
        let carol = user(9, Role::User);
        let tab = registry.connect(carol.clone(), ());
        let other = registry.connect(user(10, Role::User), ());
        let promoted = Account::Active(user(9, Role::Admin));
        assert_eq!(registry.note_account(carol.id, 4, &promoted), vec![tab]);
        assert!(registry.note_account(carol.id, 4, &promoted).is_empty());
        assert!(
            registry.note_account(carol.id, 3, &promoted).is_empty(),
            "older"
        );
        let mut users = registry.known_users();
        users.sort();
        assert_eq!(users, vec![carol.id, UserId(10)]);
        assert_eq!(registry.get(other).unwrap().ticket, 0);
    }

    #[test]
    fn a_role_change_moves_a_connection_in_or_out_of_the_staff_and_names_the_barred_rooms() {
        let mut registry = Registry::default();
        let carol = user(9, Role::User);
        let tab = registry.connect(carol.clone(), ());
        assert!(registry.set_user(tab, user(9, Role::Admin)).is_empty());
        assert_eq!(registry.staff().collect::<Vec<_>>(), vec![tab]);
        let support = RoomName::parse("support:12").unwrap();
        registry.enter(tab, &support);
        registry.enter(tab, &lobby());
        assert_eq!(registry.set_user(tab, carol.clone()), vec![support]);
        assert!(!registry.has_staff());
        assert_eq!(registry.user(tab), Some(&carol));
    }

    #[test]
    fn connections_are_counted_by_the_role_of_their_user() {
        let mut registry = Registry::default();
        registry.connect(user(1, Role::Guest), ());
        registry.connect(user(2, Role::User), ());
        registry.connect(user(2, Role::User), ());
        let staff = registry.connect(user(3, Role::Admin), ());
        assert_eq!(registry.connections_by_role(), (1, 2, 1));
        registry.remove(staff);
        assert_eq!(registry.connections_by_role(), (1, 2, 0));
    }

    #[test]
    fn only_admin_connections_count_as_staff() {
        let mut registry = Registry::default();
        registry.connect(user(1, Role::Guest), ());
        let staff = registry.connect(user(2, Role::Admin), ());
        assert_eq!(registry.staff().collect::<Vec<_>>(), vec![staff]);
        registry.remove(staff);
        assert!(!registry.has_staff());
    }

    #[test]
    fn entering_twice_is_noticed_and_leaving_returns_the_user_once() {
        let mut registry = Registry::default();
        let s = registry.connect(user(3, Role::User), ());
        assert_eq!(registry.enter(s, &lobby()), Some(false));
        assert_eq!(registry.enter(s, &lobby()), Some(true));
        assert!(registry.is_in(s, &lobby()));
        assert_eq!(registry.leave(s, &lobby()).map(|u| u.id), Some(UserId(3)));
        assert_eq!(registry.leave(s, &lobby()), None);
        assert!(!registry.is_in(s, &lobby()));
        assert_eq!(registry.enter(SessionId(99), &lobby()), None);
    }

    #[test]
    fn a_removed_connection_hands_back_its_rooms() {
        let mut registry = Registry::default();
        let s = registry.connect(user(3, Role::User), ());
        registry.enter(s, &lobby());
        let entry = registry.remove(s).unwrap();
        assert_eq!(entry.rooms, vec![lobby()]);
        assert!(registry.remove(s).is_none(), "removing is idempotent");
    }

    #[test]
    fn staff_online_counts_staff_members_not_their_tabs() {
        let mut registry: Registry<()> = Registry::default();
        assert_eq!(registry.staff_online(), 0);
        registry.connect(user(1, Role::Guest), ());
        let first = registry.connect(user(2, Role::Admin), ());
        registry.connect(user(2, Role::Admin), ());
        registry.connect(user(3, Role::Admin), ());
        assert_eq!(registry.staff_online(), 2);
        registry.remove(first);
        assert_eq!(registry.staff_online(), 2, "a second tab keeps them online");
    }
}
