//! Account changes reaching the open connections: a ban, an unban, a new role, a deactivated
//! or reactivated staff member or a new availability (`team.rs`), made by the
//! admin API of this process (`AccountChanged`, read again at once) or by another process on
//! the same database (`create-admin`, another server: found by the periodic re-check of every
//! connected user's account, one query per thousand users). Each read carries a ticket, so a
//! late answer of an older read never undoes a newer one ([`super::registry`]).

use super::desk::staff_state_of;
use super::messages::{Deliver, Outgoing, SessionId};
use super::refusals::{forbidden, split, storage_failure};
use super::registry::{Account, Ticket};
use super::server::{ChatServer, CLOSE_POLICY};
use crate::db::models::UserRow;
use crate::domain::UserId;
use crate::error::{AppError, ErrorCode};
use crate::history::messages::{GetUser, ListAccounts};
use actix::prelude::*;
use rustc_hash::FxHashMap;

/// What a read of an account found (`None`: no such account).
pub fn account_of(row: Option<&UserRow>) -> Account {
    match row {
        None => Account::Gone,
        Some(row) if row.banned => Account::Banned,
        Some(row) if !row.active => Account::Deactivated,
        Some(row) => Account::Active(row.info()),
    }
}

/// Why an account may not connect (the close reason); `None` for an active one.
pub fn refusal_reason(account: &Account) -> Option<&'static str> {
    match account {
        Account::Active(_) => None,
        Account::Banned => Some("this account is banned"),
        Account::Deactivated => Some("this account is deactivated"),
        Account::Gone => Some("this account no longer exists"),
    }
}

/// The reason an open connection is closed with when its account may no longer connect;
/// `None` for an active one. As [`refusal_reason`], but a deactivated staff member's console
/// reads "account deactivated" (the contract's words for the close).
pub fn close_reason(account: &Account) -> Option<&'static str> {
    match account {
        Account::Deactivated => Some("account deactivated"),
        other => refusal_reason(other),
    }
}

/// The refusal of a connection whose account may not connect; `None` for an active one.
pub fn refusal(account: &Account) -> Option<AppError> {
    refusal_reason(account).map(|reason| AppError::new(ErrorCode::Unauthorized, reason))
}

impl ChatServer {
    /// A ticket for a read of accounts about to be asked for.
    pub(super) fn next_ticket(&mut self) -> Ticket {
        self.account_reads += 1;
        self.account_reads
    }

    /// Reads the user's account again and applies it to their connections.
    pub(super) fn reread_account(&mut self, user: UserId, ctx: &mut Context<Self>) {
        let ticket = self.next_ticket();
        let permit = self.history_load.permit();
        self.history
            .send(GetUser { id: user })
            .into_actor(self)
            .map(move |result, act, _| {
                drop(permit);
                match split(result) {
                    Ok(row) => {
                        act.registry
                            .note_staff(user, ticket, staff_state_of(row.as_ref()));
                        act.apply_account(user, ticket, account_of(row.as_ref()));
                        act.tell_staff_news();
                    }
                    Err(e) => {
                        storage_failure("reading an account that changed", e);
                    }
                }
            })
            .spawn(ctx);
    }

    /// Reads the accounts of every user connected or connecting, in one request, and applies
    /// them. At most one re-check is in flight.
    pub(super) fn recheck_accounts(&mut self, ctx: &mut Context<Self>) {
        if self.rechecking {
            return;
        }
        let users = self.registry.known_users();
        if users.is_empty() {
            return;
        }
        self.rechecking = true;
        let ticket = self.next_ticket();
        let request = ListAccounts {
            users: users.clone(),
        };
        let permit = self.history_load.permit();
        self.history
            .send(request)
            .into_actor(self)
            .map(move |result, act, _| {
                drop(permit);
                act.rechecking = false;
                let rows = match split(result) {
                    Ok(rows) => rows,
                    Err(e) => {
                        // Once per outage, not every few seconds while the database is away.
                        if !act.recheck_failing {
                            act.recheck_failing = true;
                            storage_failure("re-checking the connected accounts", e);
                        }
                        return;
                    }
                };
                act.recheck_failing = false;
                let mut found: FxHashMap<i64, UserRow> =
                    rows.into_iter().map(|row| (row.id, row)).collect();
                for user in users {
                    let row = found.remove(&user.0);
                    act.registry
                        .note_staff(user, ticket, staff_state_of(row.as_ref()));
                    act.apply_account(user, ticket, account_of(row.as_ref()));
                }
                act.tell_staff_news();
            })
            .spawn(ctx);
    }

    /// Applies a read of the user's account to each of their connections whose last read is
    /// older (and to those still connecting, which register with it): a banned or deleted
    /// account's close with 1008; a new role changes their rights at once, and takes them out
    /// of the rooms it may no longer enter (each told by a `forbidden` error about the room).
    pub(super) fn apply_account(&mut self, user: UserId, ticket: Ticket, account: Account) {
        let news = self.registry.note_account(user, ticket, &account);
        if let Some(reason) = close_reason(&account) {
            for session in news {
                log::info!("closing connection {} of user {user}: {reason}", session.0);
                self.close_session(session, CLOSE_POLICY, reason);
            }
            return;
        }
        let Account::Active(info) = account else {
            return;
        };
        let mut changed = false;
        for session in news {
            if self.registry.user(session) == Some(&info) {
                continue;
            }
            changed = true;
            for room in self.registry.set_user(session, info.clone()) {
                self.unsubscribe(session, &room);
                self.send_error(session, forbidden(&room), None, &room);
            }
            // The rooms it stays in list the user with the new role and, for a staff member,
            // the new display name and avatar colour (the `online` lists of later joins). No
            // frame tells the rooms: a `presence` comes only when a user's first connection
            // joins, and the user's next message carries the new face.
            let rooms = self.registry.get(session).map(|e| e.rooms.clone());
            for room in rooms.unwrap_or_default() {
                self.rooms.update_user(&room, &info);
            }
        }
        if changed {
            // The other nodes' lists show the new face too.
            self.cluster_face_changed(&info);
        }
    }

    /// Closes one connection with this code and reason, and forgets it.
    pub(super) fn close_session(&mut self, session: SessionId, code: u16, reason: &'static str) {
        if let Some(entry) = self.registry.get(session) {
            let close = Outgoing::Close { code, reason };
            entry.recipient.do_send(Deliver(close));
        }
        self.remove_session(session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, UserInfo};

    fn row(role: &str, banned: bool) -> UserRow {
        row_active(role, banned, true)
    }

    fn row_active(role: &str, banned: bool, active: bool) -> UserRow {
        UserRow {
            id: 4,
            username: "dee".into(),
            role: role.into(),
            password_hash: None,
            banned,
            created_at: 0,
            external_id: None,
            email: None,
            merged_into: None,
            active,
            availability: "online".into(),
            last_seen_at: None,
            last_page: None,
            display_name: None,
            avatar_color: None,
            last_device: None,
            last_addr: None,
        }
    }

    #[test]
    fn a_read_account_is_active_banned_or_gone() {
        let dee = UserInfo {
            id: UserId(4),
            username: "dee".into(),
            role: Role::Admin,
            display_name: None,
            avatar_color: None,
        };
        assert_eq!(account_of(Some(&row("admin", false))), Account::Active(dee));
        assert_eq!(account_of(Some(&row("user", true))), Account::Banned);
        assert_eq!(account_of(None), Account::Gone);
        assert_eq!(
            refusal(&Account::Banned).unwrap().code,
            ErrorCode::Unauthorized
        );
        assert!(refusal(&account_of(Some(&row("user", false)))).is_none());
    }

    #[test]
    fn a_deactivated_account_is_refused_as_deactivated_and_a_ban_says_banned_first() {
        let off = account_of(Some(&row_active("agent", false, false)));
        assert_eq!(off, Account::Deactivated);
        let refused = refusal(&off).unwrap();
        assert_eq!(refused.code, ErrorCode::Unauthorized);
        assert_eq!(refused.message, "this account is deactivated");
        let both = account_of(Some(&row_active("agent", true, false)));
        assert_eq!(refusal_reason(&both), Some("this account is banned"));
        assert_eq!(close_reason(&off), Some("account deactivated"));
        assert_eq!(close_reason(&both), Some("this account is banned"));
    }
}
