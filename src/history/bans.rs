//! The history actor's part of the bans (`/api/admin/users/{id}/ban`, `/api/admin/bans`, the
//! sign-in checks): its messages and their handlers, each one call of `db::bans`, at the time
//! the message is handled.

use super::actor::HistoryActor;
use crate::db::bans::{self, BanOrder, BanRecord};
use crate::db::models::UserRow;
use crate::db::StorageError;
use crate::domain::{now_millis, UserId};
use actix::{Handler, Message};

/// Admin API → history: ban an account and record the ban on its device and address.
/// `NotFound` when there is no such account.
#[derive(Message)]
#[rtype(result = "Result<(UserRow, BanRecord), StorageError>")]
pub struct PlaceBan {
    /// Who, by whom, why, until when.
    pub order: BanOrder,
}

/// Admin API → history: the bans in force now, newest first (accounts whose bans have all
/// ended are unbanned first).
#[derive(Message)]
#[rtype(result = "Result<Vec<BanRecord>, StorageError>")]
pub struct ListBans;

/// Admin API → history: lift one ban in force (`NotFound` if none); answers the ban and the
/// account unbanned by it, if no other ban holds it.
#[derive(Message)]
#[rtype(result = "Result<(BanRecord, Option<UserId>), StorageError>")]
pub struct LiftBan {
    /// The ban's id.
    pub id: i64,
}

/// Admin API → history: unban an account and lift all its bans. `NotFound` when there is no
/// such account.
#[derive(Message)]
#[rtype(result = "Result<UserRow, StorageError>")]
pub struct Unban {
    /// Whose account.
    pub user: UserId,
}

/// Sign-in (guest, register) → history: the end of a ban in force covering this device or
/// address: `None` when there is none, `Some(None)` when it holds until lifted.
#[derive(Message)]
#[rtype(result = "Result<Option<Option<i64>>, StorageError>")]
pub struct FindBanCovering {
    /// The device ids the caller carries (none, one, or a header's and a cookie's).
    pub devices: Vec<String>,
    /// The caller's address, if known.
    pub addr: Option<String>,
}

/// Account checks → history: a banned account whose bans have all run out is unbanned;
/// answers the account as stored now (`None`: no such account).
#[derive(Message)]
#[rtype(result = "Result<Option<UserRow>, StorageError>")]
pub struct ReleaseEndedBan {
    /// Whose account.
    pub user: UserId,
}

/// Sign-in and socket → history: where the account was just seen from.
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct RecordSeen {
    /// Whose account.
    pub user: UserId,
    /// The device id, if any (`None` keeps the stored one).
    pub device: Option<String>,
    /// The address, if known (`None` keeps the stored one).
    pub addr: Option<String>,
}

impl Handler<PlaceBan> for HistoryActor {
    type Result = Result<(UserRow, BanRecord), StorageError>;

    fn handle(&mut self, msg: PlaceBan, _: &mut Self::Context) -> Self::Result {
        bans::place_ban(&mut *self.conn()?, &msg.order, now_millis())
    }
}

impl Handler<ListBans> for HistoryActor {
    type Result = Result<Vec<BanRecord>, StorageError>;

    fn handle(&mut self, _: ListBans, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        let now = now_millis();
        // The staff look at the bans: accounts whose bans all ran out are free in their lists
        // too, not only once they come back.
        bans::release_all_ended(&mut conn, now)?;
        bans::list_in_force(&mut conn, now)
    }
}

impl Handler<LiftBan> for HistoryActor {
    type Result = Result<(BanRecord, Option<UserId>), StorageError>;

    fn handle(&mut self, msg: LiftBan, _: &mut Self::Context) -> Self::Result {
        bans::lift(&mut *self.conn()?, msg.id, now_millis())
    }
}

impl Handler<Unban> for HistoryActor {
    type Result = Result<UserRow, StorageError>;

    fn handle(&mut self, msg: Unban, _: &mut Self::Context) -> Self::Result {
        bans::unban(&mut *self.conn()?, msg.user, now_millis())
    }
}

impl Handler<FindBanCovering> for HistoryActor {
    type Result = Result<Option<Option<i64>>, StorageError>;

    fn handle(&mut self, msg: FindBanCovering, _: &mut Self::Context) -> Self::Result {
        bans::end_of_ban_covering(
            &mut *self.conn()?,
            &msg.devices,
            msg.addr.as_deref(),
            now_millis(),
        )
    }
}

impl Handler<ReleaseEndedBan> for HistoryActor {
    type Result = Result<Option<UserRow>, StorageError>;

    fn handle(&mut self, msg: ReleaseEndedBan, _: &mut Self::Context) -> Self::Result {
        bans::release_if_ended(&mut *self.conn()?, msg.user, now_millis())
    }
}

impl Handler<RecordSeen> for HistoryActor {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, msg: RecordSeen, _: &mut Self::Context) -> Self::Result {
        bans::record_seen(
            &mut *self.conn()?,
            msg.user,
            msg.device.as_deref(),
            msg.addr.as_deref(),
        )
    }
}
