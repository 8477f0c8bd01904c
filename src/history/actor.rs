//! The history actor: runs on a few threads of its own (a `SyncArbiter`), so that database
//! work never blocks an async worker. Each handler takes a pooled connection and calls the
//! plain query functions of `db`. Message batches are not stored here but by the
//! [`MessageWriter`](super::MessageWriter), so that reads never queue in front of them.

use super::messages::*;
use crate::db::closed_rooms::closes_support_room;
use crate::db::messages::{deleted_seqs, read_window, Window};
use crate::db::models::UserRow;
use crate::db::{admin, notifications, rooms, users, DbConn, DbPool, StorageError};
use crate::domain::{RoomKind, RoomName};
use actix::{Actor, Handler, SyncContext};
use diesel::connection::SimpleConnection;
use r2d2::PooledConnection;

/// Owns the connection pool; one instance per thread.
pub struct HistoryActor {
    pool: DbPool,
}

impl HistoryActor {
    /// An actor over `pool`.
    pub fn new(pool: DbPool) -> HistoryActor {
        HistoryActor { pool }
    }

    /// A pooled connection (the server API's handlers, `server_api.rs`, use it too).
    pub(super) fn conn(
        &self,
    ) -> Result<PooledConnection<crate::db::connection::DbConnectionManager>, StorageError> {
        Ok(self.pool.get()?)
    }
}

/// A support room exists for every account and for nobody else: `NotFound` for a support
/// room whose owner does not exist or is a finished guest (`db::closed_rooms`: its messages
/// moved to the customer's conversation), so that no row is ever created for it.
pub(super) fn check_support_owner(conn: &mut DbConn, room: &RoomName) -> Result<(), StorageError> {
    // A notes thread exists with its conversation (and is closed with it).
    let (RoomKind::Support(owner) | RoomKind::Notes(owner)) = room.kind() else {
        return Ok(());
    };
    let owner = users::find_by_id(conn, owner)?;
    if closes_support_room(owner.as_ref().map(|o| o.merged_into.is_some())) {
        return Err(StorageError::NotFound);
    }
    Ok(())
}

impl Actor for HistoryActor {
    type Context = SyncContext<Self>;
}

impl Handler<OpenRoom> for HistoryActor {
    type Result = Result<RoomSnapshot, StorageError>;

    fn handle(&mut self, msg: OpenRoom, _: &mut Self::Context) -> Self::Result {
        open_room(&mut *self.conn()?, &msg)
    }
}

/// What [`OpenRoom`] does: the membership stored and the `joined` snapshot read. A plain
/// function, so that tests can run it between the steps of a chat server of their own.
pub fn open_room(conn: &mut DbConn, msg: &OpenRoom) -> Result<RoomSnapshot, StorageError> {
    check_support_owner(conn, &msg.room)?;
    rooms::join_room(
        conn,
        msg.user,
        &msg.room,
        msg.max_public_rooms,
        msg.creation_budget,
    )?;
    let room = msg.room.as_str();
    // Read the counter before the messages: every seq up to it is committed, so it is
    // visible to the read that follows (seqs of a room commit in order).
    let counter = rooms::last_seq(conn, room)?;
    let (messages, recovered, deleted) = match msg.since {
        Some(since) => {
            let (messages, more) = read_window(conn, room, Window::After(since), msg.recovery_cap)?;
            let deleted = deleted_seqs(conn, room, since - msg.recovery_cap, since)?;
            (messages, Some(!more), Some(deleted))
        }
        None => (
            read_window(conn, room, Window::Latest, msg.latest)?.0,
            None,
            None,
        ),
    };
    let newest_listed = messages.last().map_or(0, |m| m.seq);
    let seen_seq = rooms::seen_seq(conn, msg.user, &msg.room)?;
    Ok(RoomSnapshot {
        messages,
        last_seq: counter.max(newest_listed),
        recovered,
        deleted,
        seen_seq,
    })
}

impl Handler<ForgetRoom> for HistoryActor {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, msg: ForgetRoom, _: &mut Self::Context) -> Self::Result {
        rooms::remove_member(&mut *self.conn()?, msg.user, msg.room.as_str())
    }
}

impl Handler<FetchHistory> for HistoryActor {
    type Result = Result<HistoryPage, StorageError>;

    fn handle(&mut self, msg: FetchHistory, _: &mut Self::Context) -> Self::Result {
        let window = msg.before.map_or(Window::Latest, Window::Before);
        let (messages, more) =
            read_window(&mut *self.conn()?, msg.room.as_str(), window, msg.limit)?;
        Ok(HistoryPage { messages, more })
    }
}

impl Handler<MarkRead> for HistoryActor {
    type Result = Result<i64, StorageError>;

    fn handle(&mut self, msg: MarkRead, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        check_support_owner(&mut conn, &msg.room)?;
        let cursor = rooms::advance_read_cursor(&mut conn, msg.user, &msg.room, msg.seq)?;
        rooms::unread_after(&mut conn, msg.user, msg.room.as_str(), cursor)
    }
}

impl Handler<ListRooms> for HistoryActor {
    type Result = Result<ConnectSnapshot, StorageError>;

    fn handle(&mut self, msg: ListRooms, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        let account = users::find_by_id(&mut conn, msg.user)?.ok_or(StorageError::NotFound)?;
        Ok(ConnectSnapshot {
            account,
            rooms: rooms::summaries(&mut conn, msg.user)?,
            notifications: notifications::unread_notifications_counted(&mut conn, msg.user)?,
        })
    }
}

impl Handler<CreateUser> for HistoryActor {
    type Result = Result<UserRow, StorageError>;

    fn handle(&mut self, msg: CreateUser, _: &mut Self::Context) -> Self::Result {
        users::insert_user(
            &mut *self.conn()?,
            &msg.username,
            msg.role,
            msg.password_hash.as_deref(),
        )
    }
}

impl Handler<FindLogin> for HistoryActor {
    type Result = Result<Option<UserRow>, StorageError>;

    fn handle(&mut self, msg: FindLogin, _: &mut Self::Context) -> Self::Result {
        users::find_by_login(&mut *self.conn()?, &msg.username)
    }
}

impl Handler<GetUser> for HistoryActor {
    type Result = Result<Option<UserRow>, StorageError>;

    fn handle(&mut self, msg: GetUser, _: &mut Self::Context) -> Self::Result {
        users::find_by_id(&mut *self.conn()?, msg.id)
    }
}

impl Handler<ListAccounts> for HistoryActor {
    type Result = Result<Vec<UserRow>, StorageError>;

    fn handle(&mut self, msg: ListAccounts, _: &mut Self::Context) -> Self::Result {
        users::find_many(&mut *self.conn()?, &msg.users)
    }
}

impl Handler<CheckDatabase> for HistoryActor {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, _: CheckDatabase, _: &mut Self::Context) -> Self::Result {
        self.conn()?
            .batch_execute("SELECT 1")
            .map_err(StorageError::from)
    }
}

impl Handler<DeleteMessage> for HistoryActor {
    type Result = Result<(String, i64), StorageError>;

    fn handle(&mut self, msg: DeleteMessage, _: &mut Self::Context) -> Self::Result {
        admin::delete_message(&mut *self.conn()?, msg.id)
    }
}

impl Handler<SetBanned> for HistoryActor {
    type Result = Result<UserRow, StorageError>;

    fn handle(&mut self, msg: SetBanned, _: &mut Self::Context) -> Self::Result {
        admin::set_banned(&mut *self.conn()?, msg.user, msg.banned)
    }
}

impl Handler<CountTotals> for HistoryActor {
    type Result = Result<(i64, i64), StorageError>;

    fn handle(&mut self, _: CountTotals, _: &mut Self::Context) -> Self::Result {
        admin::totals(&mut *self.conn()?)
    }
}

impl Handler<IdentifyCustomer> for HistoryActor {
    type Result = Result<(UserRow, bool), StorageError>;

    fn handle(&mut self, msg: IdentifyCustomer, _: &mut Self::Context) -> Self::Result {
        users::identify_customer(
            &mut *self.conn()?,
            &msg.external_id,
            &msg.name,
            msg.email.as_deref(),
        )
    }
}

impl Handler<SetEmail> for HistoryActor {
    type Result = Result<UserRow, StorageError>;

    fn handle(&mut self, msg: SetEmail, _: &mut Self::Context) -> Self::Result {
        users::set_email(&mut *self.conn()?, msg.user, &msg.email)
    }
}
