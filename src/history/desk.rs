//! The history actor's part of the support desk's staff tools: canned replies and search.
//! Each message sits next to its handler (a few small ones, used only by `api/canned.rs` and
//! `api/search.rs`); each handler only calls the plain queries of `db::canned` and
//! `db::search`.

use super::actor::HistoryActor;
use crate::db::canned::{self, CannedRow};
use crate::db::search::{self, SearchHit};
use crate::db::StorageError;
use crate::domain::{now_millis, CannedText, Shortcut, UserId};
use actix::{Handler, Message};

/// Canned replies API → history: every canned reply, by shortcut.
#[derive(Message)]
#[rtype(result = "Result<Vec<CannedRow>, StorageError>")]
pub struct ListCanned;

impl Handler<ListCanned> for HistoryActor {
    type Result = Result<Vec<CannedRow>, StorageError>;

    fn handle(&mut self, _: ListCanned, _: &mut Self::Context) -> Self::Result {
        canned::list_canned(&mut *self.conn()?)
    }
}

/// Canned replies API → history: a new canned reply; `Conflict` when its shortcut is taken.
#[derive(Message)]
#[rtype(result = "Result<CannedRow, StorageError>")]
pub struct CreateCanned {
    /// Its shortcut.
    pub shortcut: Shortcut,
    /// Its text.
    pub text: CannedText,
    /// The staff member making it.
    pub by: UserId,
}

impl Handler<CreateCanned> for HistoryActor {
    type Result = Result<CannedRow, StorageError>;

    fn handle(&mut self, msg: CreateCanned, _: &mut Self::Context) -> Self::Result {
        let conn = &mut *self.conn()?;
        canned::insert_canned(conn, &msg.shortcut, &msg.text, msg.by, now_millis())
    }
}

/// Canned replies API → history: change the fields given; `NotFound` for an unknown id,
/// `Conflict` when the new shortcut is taken.
#[derive(Message)]
#[rtype(result = "Result<CannedRow, StorageError>")]
pub struct UpdateCanned {
    /// Which one.
    pub id: i64,
    /// Its new shortcut, if it changes.
    pub shortcut: Option<Shortcut>,
    /// Its new text, if it changes.
    pub text: Option<CannedText>,
}

impl Handler<UpdateCanned> for HistoryActor {
    type Result = Result<CannedRow, StorageError>;

    fn handle(&mut self, msg: UpdateCanned, _: &mut Self::Context) -> Self::Result {
        let conn = &mut *self.conn()?;
        let (shortcut, text) = (msg.shortcut.as_ref(), msg.text.as_ref());
        canned::update_canned(conn, msg.id, shortcut, text, now_millis())
    }
}

/// Canned replies API → history: delete one; `NotFound` for an unknown id.
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct DeleteCanned {
    /// Which one.
    pub id: i64,
}

impl Handler<DeleteCanned> for HistoryActor {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, msg: DeleteCanned, _: &mut Self::Context) -> Self::Result {
        canned::delete_canned(&mut *self.conn()?, msg.id)
    }
}

/// Search API → history: the newest messages of support conversations and notes threads
/// holding every word of `q`.
#[derive(Message)]
#[rtype(result = "Result<Vec<SearchHit>, StorageError>")]
pub struct SearchMessages {
    /// What the staff member typed (not blank).
    pub q: String,
    /// Most results (1-100).
    pub limit: i64,
}

impl Handler<SearchMessages> for HistoryActor {
    type Result = Result<Vec<SearchHit>, StorageError>;

    fn handle(&mut self, msg: SearchMessages, _: &mut Self::Context) -> Self::Result {
        search::search_messages(&mut *self.conn()?, &msg.q, msg.limit)
    }
}
