//! The history actor's part of the team (`/api/admin/staff`, `/api/admin/availability`): its
//! messages and their handlers, each one call of `db::staff`. Kept in a file of its own, like
//! `server_api.rs`, so the team's queries sit together.

use super::actor::HistoryActor;
use crate::db::models::UserRow;
use crate::db::staff::{self, StaffChange};
use crate::db::StorageError;
use crate::domain::{Availability, UserId};
use actix::{Handler, Message};

/// Team API → history: every admin and agent, by username.
#[derive(Message)]
#[rtype(result = "Result<Vec<UserRow>, StorageError>")]
pub struct ListStaff;

/// Team API → history: change a staff member's role or whether they may sign in. `NotFound`
/// when the id is not a staff account.
#[derive(Message)]
#[rtype(result = "Result<UserRow, StorageError>")]
pub struct UpdateStaff {
    /// The staff member.
    pub user: UserId,
    /// What changes.
    pub change: StaffChange,
}

/// Team API → history: a staff member's own availability. `NotFound` when the id is not a
/// staff account.
#[derive(Message)]
#[rtype(result = "Result<UserRow, StorageError>")]
pub struct SetAvailability {
    /// The staff member.
    pub user: UserId,
    /// Online, busy or offline.
    pub availability: Availability,
}

impl Handler<ListStaff> for HistoryActor {
    type Result = Result<Vec<UserRow>, StorageError>;

    fn handle(&mut self, _: ListStaff, _: &mut Self::Context) -> Self::Result {
        staff::list_staff(&mut *self.conn()?)
    }
}

impl Handler<UpdateStaff> for HistoryActor {
    type Result = Result<UserRow, StorageError>;

    fn handle(&mut self, msg: UpdateStaff, _: &mut Self::Context) -> Self::Result {
        staff::update_staff(&mut *self.conn()?, msg.user, msg.change)
    }
}

impl Handler<SetAvailability> for HistoryActor {
    type Result = Result<UserRow, StorageError>;

    fn handle(&mut self, msg: SetAvailability, _: &mut Self::Context) -> Self::Result {
        staff::set_availability(&mut *self.conn()?, msg.user, msg.availability)
    }
}
