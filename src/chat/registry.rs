//! Who is connected: every open connection with its user and rooms, every user's connections
//! ("tabs"), the staff connections, and the connections still connecting. A plain struct; the
//! chat server routes to it.
//!
//! Accounts change under open connections (a ban, a role given by `create-admin`): every read
//! of an account carries a [`Ticket`], taken when the read is asked for, and the registry keeps
//! for each connection the newest one it has seen, so that an older read answering late never
//! undoes a newer one.
//!
//! The staff members among them are on the [`StaffDesk`]: their availability and whether they
//! are active, and the news of them the staff must hear (`staff_updated`: a first connection
//! opened, the last one closed, a new availability or role).
//!
//! Generic over the way a connection is reached (`R`): a `Recipient<Deliver>` in the server,
//! anything at all in unit tests, which then need no actor system.

use super::desk::{StaffDesk, StaffState};
use super::messages::SessionId;
use crate::domain::{Availability, Role, RoomName, UserId, UserInfo};
use crate::protocol::StaffMember;
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
    /// A staff member deactivated by an admin: every connection closes (1008).
    Deactivated,
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
    /// The staff members connected or connecting: availability, active, news of them.
    desk: StaffDesk,
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
            desk: StaffDesk::default(),
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
        self.forget_if_gone(connecting.user);
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
        if !self.connecting.contains_key(&id) {
            return false;
        }
        let tabs = self.tabs.entry(user.id).or_default();
        tabs.push(id);
        self.stop_connecting(id);
        // A staff member's first connection is not news for the team: `staff_updated` is for
        // changes made through the team API (an older client that never asked for it would
        // see a frame at every colleague's arrival); the console reads `online` from the list.
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
        if user.role != entry.user.role && user.role.is_staff() {
            self.desk.changed(&user, true);
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
        self.forget_if_gone(entry.user.id);
        Some(entry)
    }

    /// Forgets every connection, handing each one out.
    pub fn drain(&mut self) -> impl Iterator<Item = SessionEntry<R>> + '_ {
        self.tabs.clear();
        self.staff.clear();
        self.connecting.clear();
        self.connecting_by_user.clear();
        self.desk = StaffDesk::default();
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

    /// Every user with a connection open, once.
    pub fn users(&self) -> impl Iterator<Item = &UserInfo> + '_ {
        self.tabs
            .values()
            .filter_map(|tabs| self.sessions.get(tabs.first()?).map(|e| &e.user))
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

    /// Staff members with a connection open and their availability `online` (one with three
    /// tabs counts once): what the widget tells a customer before the first message.
    pub fn staff_online(&self) -> usize {
        self.staff_available().len()
    }

    /// The staff members with a connection open and their availability `online`, by id: who
    /// may take a conversation now.
    pub fn staff_available(&self) -> Vec<UserId> {
        let mut users = self.connected_staff();
        users.retain(|u| self.desk.state(*u).availability == Availability::Online);
        users
    }

    /// The staff members with a connection open, whatever their availability, by id.
    pub fn connected_staff(&self) -> Vec<UserId> {
        let mut users: Vec<UserId> = self
            .staff
            .iter()
            .filter_map(|s| self.sessions.get(s).map(|e| e.user.id))
            .collect();
        users.sort_unstable_by_key(|u| u.0);
        users.dedup();
        users
    }

    /// A read of `user`'s account (`ticket`) found this staff state (`None`: not staff). Kept
    /// if the user is connected or connecting and the read is the newest; the staff then hear
    /// of a connected member whose state changed ([`Registry::take_staff_news`]).
    pub fn note_staff(&mut self, user: UserId, ticket: Ticket, state: Option<StaffState>) {
        if !self.tabs.contains_key(&user) && !self.connecting_by_user.contains_key(&user) {
            return;
        }
        if !self.desk.note(user, ticket, state) {
            return;
        }
        let staff_tab = self.tabs(user).iter().find(|s| self.staff.contains(s));
        if let Some(info) = staff_tab.and_then(|s| self.user(*s)).cloned() {
            self.desk.changed(&info, true);
        }
    }

    /// The members the staff must hear of (`staff_updated`), each once.
    pub fn take_staff_news(&mut self) -> Vec<StaffMember> {
        self.desk.take_news()
    }

    /// Forgets the desk's state of a user with no connection open or connecting.
    fn forget_if_gone(&mut self, user: UserId) {
        if !self.tabs.contains_key(&user) && !self.connecting_by_user.contains_key(&user) {
            self.desk.forget(user);
        }
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.sessions.len()
    }

    /// Users with at least one connection.
    pub fn online_users(&self) -> usize {
        self.tabs.len()
    }

    /// Open connections by the role of their user: (guests, users, agents, admins). Counted
    /// when asked (a scrape every few seconds), so that connecting and leaving stay as cheap
    /// as they were.
    pub fn connections_by_role(&self) -> (usize, usize, usize, usize) {
        let (mut guests, mut users, mut agents, mut admins) = (0, 0, 0, 0);
        for entry in self.sessions.values() {
            match entry.user.role {
                Role::Guest => guests += 1,
                Role::User => users += 1,
                Role::Agent => agents += 1,
                Role::Admin => admins += 1,
            }
        }
        (guests, users, agents, admins)
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
mod tests;
