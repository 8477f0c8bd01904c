//! `StorageError`: what can go wrong below the history actor.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong below the history actor.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A unique rule was broken (a taken username).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or opened.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[source] DieselError),
    /// A join would give the user more public rooms than the cap (nothing was written).
    #[error("too many rooms")]
    TooManyRooms,
    /// The user created as many public rooms in the last hour as they may (nothing was
    /// written).
    #[error("too many rooms created")]
    TooManyRoomsCreated,
    /// The room is not in the user's list (nothing was written).
    #[error("not a member of the room")]
    NotMember,
    /// A batch met closed support rooms (`db::closed_rooms`): rolled back, and stored again
    /// without their messages (never seen outside `db::messages::store_batch_with`).
    #[error("closed rooms: {0:?}")]
    RoomsClosed(Vec<String>),
    /// The database answered something that cannot be (a row the same transaction wrote is
    /// missing from its answer).
    #[error("inconsistent answer: {0}")]
    Inconsistent(&'static str),
}

impl StorageError {
    /// Whether this is a failure of the database (unreachable, a query or migration that
    /// failed, an impossible answer), as opposed to an answer about the data (not found, taken,
    /// over a cap, not a member) that a client's request earned.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            StorageError::Unavailable(_)
                | StorageError::Migration(_)
                | StorageError::Query(_)
                | StorageError::Inconsistent(_)
        )
    }
}

impl From<DieselError> for StorageError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StorageError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StorageError::Conflict(info.message().to_owned())
            }
            other => StorageError::Query(other),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StorageError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}
