//! The history actor's messages and handlers about knowing the customer: a read in a support
//! conversation (and whether the other side is to hear of it), when the customer was last
//! there, the page they are on, and the staff's customer panel. Each handler only calls the
//! plain queries of `db::rooms` and `db::customer_panel`.

use super::actor::{check_support_owner, HistoryActor};
use crate::db::customer_panel::{self, CustomerPanel};
use crate::db::models::UserRow;
use crate::db::rooms;
use crate::db::StorageError;
use crate::domain::{PageUrl, RoomName, UserId};
use actix::{Handler, Message};

/// Chat server → history: move the user's read cursor in a support room (`read`); returns the
/// unread count after it and, if the read moved the reader's side, the seq the other side is
/// to be told of (`db::rooms::advance_support_read`). `NotMember` when the room is not in the
/// user's list.
#[derive(Message)]
#[rtype(result = "Result<SupportReadOutcome, StorageError>")]
pub struct MarkSupportRead {
    /// Whose cursor.
    pub user: UserId,
    /// The support room.
    pub room: RoomName,
    /// Read up to this seq.
    pub seq: i64,
}

/// What [`MarkSupportRead`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportReadOutcome {
    /// The reader's unread count after the read.
    pub unread: i64,
    /// The other side hears `seen` with this seq.
    pub seen: Option<i64>,
}

/// Chat server → history (fire and forget): the user's first connection opened, or their last
/// one closed, at `at` (ms): `users.last_seen_at`.
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct RecordLastSeen {
    /// Whose account.
    pub user: UserId,
    /// When (ms).
    pub at: i64,
}

/// `PATCH /api/me` → history: store the page the customer is on; returns the account.
/// `NotFound` when it is gone.
#[derive(Message)]
#[rtype(result = "Result<UserRow, StorageError>")]
pub struct SetPage {
    /// Whose account.
    pub user: UserId,
    /// The page, checked.
    pub page: PageUrl,
}

/// Customer panel API → history: the panel of a support conversation
/// (`db::customer_panel::customer_panel`). `NotFound` when there is no such conversation.
#[derive(Message)]
#[rtype(result = "Result<CustomerPanel, StorageError>")]
pub struct GetCustomerPanel {
    /// The support room.
    pub room: RoomName,
}

impl Handler<MarkSupportRead> for HistoryActor {
    type Result = Result<SupportReadOutcome, StorageError>;

    fn handle(&mut self, msg: MarkSupportRead, _: &mut Self::Context) -> Self::Result {
        let mut conn = self.conn()?;
        check_support_owner(&mut conn, &msg.room)?;
        let read = rooms::advance_support_read(&mut conn, msg.user, &msg.room, msg.seq)?;
        let unread = rooms::unread_after(&mut conn, msg.user, msg.room.as_str(), read.cursor)?;
        Ok(SupportReadOutcome {
            unread,
            seen: read.seen,
        })
    }
}

impl Handler<RecordLastSeen> for HistoryActor {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, msg: RecordLastSeen, _: &mut Self::Context) -> Self::Result {
        customer_panel::set_last_seen(&mut *self.conn()?, msg.user, msg.at)
    }
}

impl Handler<SetPage> for HistoryActor {
    type Result = Result<UserRow, StorageError>;

    fn handle(&mut self, msg: SetPage, _: &mut Self::Context) -> Self::Result {
        customer_panel::set_last_page(&mut *self.conn()?, msg.user, msg.page.as_str())
    }
}

impl Handler<GetCustomerPanel> for HistoryActor {
    type Result = Result<CustomerPanel, StorageError>;

    fn handle(&mut self, msg: GetCustomerPanel, _: &mut Self::Context) -> Self::Result {
        customer_panel::customer_panel(&mut *self.conn()?, &msg.room)
    }
}
