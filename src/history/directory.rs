//! The history actor's part of the public room directory (`api/rooms.rs`) and of announcements
//! to chosen public rooms (`api/announcements.rs`). Each message sits next to its handler; each
//! handler only calls the plain queries of `db::directory`.

use super::actor::HistoryActor;
use crate::db::directory::{self, DirectoryRow};
use crate::db::StorageError;
use crate::domain::{RoomName, UserId};
use actix::{Handler, Message};

/// Directory API → history: the public rooms whose name matches `pattern`
/// (`db::directory::name_pattern`), with their member counts and last activity, by name.
#[derive(Message)]
#[rtype(result = "Result<Vec<DirectoryRow>, StorageError>")]
pub struct ListPublicRooms {
    /// The `LIKE` pattern of the filter.
    pub pattern: String,
}

impl Handler<ListPublicRooms> for HistoryActor {
    type Result = Result<Vec<DirectoryRow>, StorageError>;

    fn handle(&mut self, msg: ListPublicRooms, _: &mut Self::Context) -> Self::Result {
        directory::public_rooms(&mut *self.conn()?, &msg.pattern)
    }
}

/// Directory API → history: create a public room explicitly; `Conflict` when it exists.
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct CreatePublicRoom {
    /// The room, a public one.
    pub room: RoomName,
    /// Who creates it.
    pub creator: UserId,
    /// Most rooms the creator may create in an hour (`None`: no limit).
    pub budget: Option<i64>,
}

impl Handler<CreatePublicRoom> for HistoryActor {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, msg: CreatePublicRoom, _: &mut Self::Context) -> Self::Result {
        directory::create_room(
            &mut *self.conn()?,
            msg.room.as_str(),
            msg.creator,
            msg.budget,
        )
    }
}

/// Announcements API → history: which rooms an announcement goes to. `All` is every public
/// room; `Named` answers the names that exist among those given (the caller refuses the rest).
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, StorageError>")]
pub enum FindAnnouncementRooms {
    /// Every public room.
    All,
    /// These public rooms, if they exist.
    Named(Vec<String>),
}

impl Handler<FindAnnouncementRooms> for HistoryActor {
    type Result = Result<Vec<String>, StorageError>;

    fn handle(&mut self, msg: FindAnnouncementRooms, _: &mut Self::Context) -> Self::Result {
        let conn = &mut *self.conn()?;
        match msg {
            FindAnnouncementRooms::All => directory::public_room_names(conn),
            FindAnnouncementRooms::Named(names) => directory::existing_rooms(conn, &names),
        }
    }
}
