//! The chat server's refusals, and what a failed trip to the history actor means for a client.
//! Internal causes are logged here and never sent.

use crate::db::StorageError;
use crate::domain::{RoomName, UserInfo};
use crate::error::AppError;
use crate::error::ErrorCode;
use actix::MailboxError;

/// What a history request can end in besides its answer: the database's error, or the actor
/// not answering at all.
pub type HistoryFailure = Result<StorageError, MailboxError>;

/// Splits an answer of the history actor into its value and a [`HistoryFailure`].
pub fn split<T>(
    result: Result<Result<T, StorageError>, MailboxError>,
) -> Result<T, HistoryFailure> {
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Ok(e)),
        Err(e) => Err(Err(e)),
    }
}

/// A message to (or a join of) a closed support conversation (`db::closed_rooms`).
pub fn conversation_closed(room: &RoomName) -> AppError {
    AppError::new(
        ErrorCode::NotFound,
        format!("the conversation {room} is closed: it moved into the customer's conversation"),
    )
}

/// The refusal for using a room the connection has not joined: `forbidden` where the user may
/// not enter at all (telling nothing more), else `bad_request`.
pub fn not_joined(room: &RoomName, user: &UserInfo) -> AppError {
    if room.admits(user) {
        AppError::new(
            ErrorCode::BadRequest,
            format!("join the room {room} before using it"),
        )
    } else {
        forbidden(room)
    }
}

/// The refusal for a room the user may not enter.
pub fn forbidden(room: &RoomName) -> AppError {
    AppError::new(
        ErrorCode::Forbidden,
        format!("you may not enter the room {room}"),
    )
}

/// What the client hears of a failed history request (`what` names it in the log).
pub fn storage_failure(what: &str, error: HistoryFailure) -> AppError {
    match error {
        Ok(StorageError::NotFound) => AppError::new(ErrorCode::NotFound, "no such room"),
        Ok(e) => AppError::from_storage(e, what),
        Err(e) => {
            crate::metrics::database_error(what);
            log::error!("{what}: history actor: {e}");
            AppError::new(ErrorCode::Internal, "internal server error")
        }
    }
}

/// The refusal of a read while too many requests wait for the database already.
pub fn busy() -> AppError {
    AppError::new(
        ErrorCode::Unavailable,
        "the database is not keeping up; try again shortly",
    )
}

/// The refusal of a message that could not be stored (the database failed, is stalled, or
/// the queue in front of it is full): the client keeps it and sends it again later.
pub fn not_stored() -> AppError {
    AppError::new(
        ErrorCode::Unavailable,
        "the message was not stored: the database is not available; send it again",
    )
}

/// The refusal of a message sent while the server stops: the client sends it again once it
/// has reconnected (to this server restarted, or another one).
pub fn shutting_down() -> AppError {
    AppError::new(
        ErrorCode::ShuttingDown,
        "the server is restarting: the message was not stored; send it again after reconnecting",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, UserId};

    #[test]
    fn a_room_one_may_enter_but_has_not_joined_is_a_bad_request_and_anothers_support_is_forbidden()
    {
        let ann = UserInfo {
            id: UserId(1),
            username: "ann".into(),
            role: Role::User,
            display_name: None,
            avatar_color: None,
        };
        let lobby = RoomName::parse("lobby").unwrap();
        assert_eq!(not_joined(&lobby, &ann).code, ErrorCode::BadRequest);
        let others = RoomName::parse("support:2").unwrap();
        let refusal = not_joined(&others, &ann);
        assert_eq!(refusal.code, ErrorCode::Forbidden);
        assert_eq!(refusal.message, "you may not enter the room support:2");
    }

    #[test]
    fn a_missing_room_is_not_found_and_other_failures_tell_nothing() {
        let missing = storage_failure("test", Ok(StorageError::NotFound));
        assert_eq!(missing.code, ErrorCode::NotFound);
        let down = storage_failure("test", Ok(StorageError::Unavailable("refused".into())));
        assert_eq!(down.code, ErrorCode::Unavailable);
        assert!(!down.message.contains("refused"), "{}", down.message);
        let broken = storage_failure("test", Ok(StorageError::Inconsistent("no row")));
        assert_eq!(broken.code, ErrorCode::Internal);
        assert!(!broken.message.contains("no row"), "{}", broken.message);
    }

    /// Found by review: a client's `read` of a room it is not in raised the database-error
    /// metric that operators alert on.
    #[test]
    fn answers_about_the_data_are_refusals_not_database_errors() {
        for answer in [
            StorageError::NotFound,
            StorageError::Conflict("taken".into()),
            StorageError::TooManyRooms,
            StorageError::TooManyRoomsCreated,
            StorageError::NotMember,
        ] {
            assert!(!answer.is_failure(), "{answer}");
        }
        assert!(StorageError::Unavailable("refused".into()).is_failure());
        assert!(StorageError::Inconsistent("no row").is_failure());
        let refused = storage_failure("test", Ok(StorageError::NotMember));
        assert_eq!(refused.code, ErrorCode::NotMember);
        let refused = storage_failure("test", Ok(StorageError::TooManyRooms));
        assert_eq!(refused.code, ErrorCode::TooManyRooms);
    }
}
