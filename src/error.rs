//! The error codes every client sees, and `AppError`, the one error shape of every layer: the
//! HTTP handlers answer with it (one status per code, the stable body
//! `{"error":{"code","message"}}`), and the chat server and the sessions send it as `error`
//! frames. Internal causes are logged, never sent.

use crate::db::StorageError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// The stable error codes of the protocol, over HTTP and on the socket alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed or invalid input.
    BadRequest,
    /// No valid token, or bad credentials.
    Unauthorized,
    /// Valid identity, but not allowed.
    Forbidden,
    /// No such thing.
    NotFound,
    /// A unique rule was broken (HTTP only: a taken username).
    Conflict,
    /// Over a size limit.
    TooLarge,
    /// Over a rate limit.
    RateLimited,
    /// Our fault; details are in the server log.
    Internal,
    /// The database does not answer or cannot keep up: nothing was stored; try again later.
    Unavailable,
    /// The server is stopping: nothing was stored; try again after reconnecting.
    ShuttingDown,
    /// A known path asked with the wrong method (HTTP only).
    MethodNotAllowed,
    /// A `join` past the cap of public rooms per user: leave one first. 409 over HTTP: the
    /// request conflicts with the state of the account, and asking again will not help until
    /// that state changes (429 would tell the client to wait and retry).
    TooManyRooms,
    /// The creation of a public room (a `join` of a new name, `POST /api/rooms`) by a customer
    /// who created as many as they may in the last hour. 429 over HTTP: asking again later
    /// helps; never retried by itself.
    TooManyRoomsCreated,
    /// A `read` of a room that is not in the user's list: join it first. 403 over HTTP: the
    /// caller is known but this is not theirs to change.
    NotMember,
    /// A ban placed by the staff covers this account, browser or address (HTTP only: a new
    /// guest or account refused while the ban holds). 403.
    Banned,
}

impl ErrorCode {
    /// Every code, in the order of the enum (a unit test keeps the list whole).
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        ErrorCode::ShuttingDown,
        ErrorCode::MethodNotAllowed,
        ErrorCode::TooManyRooms,
        ErrorCode::NotMember,
        ErrorCode::Banned,
        ErrorCode::TooManyRoomsCreated,
    ];

    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::NotMember => "not_member",
            ErrorCode::Banned => "banned",
            ErrorCode::TooManyRoomsCreated => "too_many_rooms_created",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unavailable | ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::TooManyRooms => StatusCode::CONFLICT,
            ErrorCode::NotMember => StatusCode::FORBIDDEN,
            ErrorCode::Banned => StatusCode::FORBIDDEN,
            ErrorCode::TooManyRoomsCreated => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl From<&crate::domain::TextError> for ErrorCode {
    /// Too long is `too_large`, anything else `bad_request`, over HTTP and on the socket alike.
    fn from(e: &crate::domain::TextError) -> Self {
        match e {
            crate::domain::TextError::TooLong(_) => ErrorCode::TooLarge,
            crate::domain::TextError::Empty => ErrorCode::BadRequest,
        }
    }
}

/// The one error shape of every layer: what a client is told when something is refused or
/// fails, a stable code and a message safe to show. Over HTTP it is the body
/// `{"error":{"code","message"}}` with the code's status; on the socket the chat server and the
/// session send it as an `error` frame (with the cid of a refused `send`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable explanation, safe to show.
    pub message: String,
}

impl AppError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError {
            code,
            message: message.into(),
        }
    }

    /// `bad_request` (400).
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::BadRequest, message)
    }

    /// `unauthorized` (401).
    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::Unauthorized, message)
    }

    /// `forbidden` (403).
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::Forbidden, message)
    }

    /// `internal` (500), logging the cause.
    pub fn internal(cause: impl fmt::Display) -> AppError {
        log::error!("internal error: {cause}");
        AppError::new(ErrorCode::Internal, "internal server error")
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// The JSON body of every error response and (inside an `error` frame) every socket error.
#[derive(Serialize)]
pub struct ErrorBody<'a> {
    /// `{"code","message"}`.
    pub error: ErrorDetail<'a>,
}

/// The inner object of [`ErrorBody`].
#[derive(Serialize)]
pub struct ErrorDetail<'a> {
    /// Stable code.
    pub code: ErrorCode,
    /// Explanation.
    pub message: &'a str,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        crate::metrics::refused(self.code.as_str());
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        })
    }
}

/// The inner object of a `banned` refusal: [`ErrorDetail`] and, for this code only, when the
/// ban ends (`expires_at`: ms, or `null` while it holds until lifted).
#[derive(Serialize)]
struct BannedDetail<'a> {
    code: ErrorCode,
    message: &'a str,
    expires_at: Option<i64>,
}

/// The answer refusing a new guest or account while a ban covers the caller's browser or
/// address: 403 `{"error":{"code":"banned","message","expires_at"}}`.
pub fn banned_response(message: &str, expires_at: Option<i64>) -> HttpResponse {
    crate::metrics::refused(ErrorCode::Banned.as_str());
    HttpResponse::build(ErrorCode::Banned.status()).json(serde_json::json!({
        "error": BannedDetail {
            code: ErrorCode::Banned,
            message,
            expires_at,
        }
    }))
}

/// The refusals the database decides, told the same way over HTTP and on the socket.
pub fn refusal(e: &StorageError) -> AppError {
    match e {
        StorageError::TooManyRooms => AppError::new(
            ErrorCode::TooManyRooms,
            "you are in too many rooms: leave one first",
        ),
        StorageError::TooManyRoomsCreated => AppError::new(
            ErrorCode::TooManyRoomsCreated,
            "you created too many rooms in the last hour: join one that exists, or try again later",
        ),
        StorageError::NotMember => AppError::new(
            ErrorCode::NotMember,
            "this room is not in your list: join it first",
        ),
        _ => AppError::new(ErrorCode::Internal, "internal server error"),
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        AppError::from_storage(e, "api")
    }
}

impl AppError {
    /// What a client is told of a storage error, over HTTP and on the socket alike (`what`
    /// names the operation in the log and the metrics). Answers the database gave (not found,
    /// taken, over a cap, not a member) are refusals; only real failures count as database
    /// errors, and only unexpected ones are logged as errors (an unavailable database is
    /// reported once by the chat server and by `/readyz`).
    pub fn from_storage(e: StorageError, what: &str) -> AppError {
        if e.is_failure() {
            crate::metrics::database_error(what);
        }
        match e {
            StorageError::NotFound => AppError::new(ErrorCode::NotFound, "not found"),
            StorageError::Conflict(_) => AppError::new(ErrorCode::Conflict, "already exists"),
            StorageError::TooManyRooms
            | StorageError::TooManyRoomsCreated
            | StorageError::NotMember => refusal(&e),
            StorageError::Unavailable(cause) => {
                log::debug!("{what}: database unavailable: {cause}");
                AppError::new(
                    ErrorCode::Unavailable,
                    "the database is not available; try again shortly",
                )
            }
            other => AppError::internal(format_args!("{what}: {other}")),
        }
    }
}

impl From<actix::MailboxError> for AppError {
    fn from(e: actix::MailboxError) -> Self {
        AppError::internal(format!("actor mailbox: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::internal(format!("blocking pool: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_in_all() {
        // A new variant fails to compile here until it is added to this match, and then this
        // test until it is in ALL too.
        fn position(code: ErrorCode) -> usize {
            match code {
                ErrorCode::BadRequest => 0,
                ErrorCode::Unauthorized => 1,
                ErrorCode::Forbidden => 2,
                ErrorCode::NotFound => 3,
                ErrorCode::Conflict => 4,
                ErrorCode::TooLarge => 5,
                ErrorCode::RateLimited => 6,
                ErrorCode::Internal => 7,
                ErrorCode::Unavailable => 8,
                ErrorCode::ShuttingDown => 9,
                ErrorCode::MethodNotAllowed => 10,
                ErrorCode::TooManyRooms => 11,
                ErrorCode::NotMember => 12,
                ErrorCode::Banned => 13,
                ErrorCode::TooManyRoomsCreated => 14,
            }
        }
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(position(code), i, "{code:?} out of place in ALL");
        }
    }

    #[test]
    fn the_refusals_the_database_decides_keep_their_codes_over_http() {
        let too_many = AppError::from(StorageError::TooManyRooms);
        assert_eq!(too_many.code.as_str(), "too_many_rooms");
        assert_eq!(too_many.status_code(), StatusCode::CONFLICT);
        let not_member = AppError::from(StorageError::NotMember);
        assert_eq!(not_member.code.as_str(), "not_member");
        assert_eq!(not_member.status_code(), StatusCode::FORBIDDEN);
        let json = serde_json::to_value(ErrorCode::TooManyRooms).unwrap();
        assert_eq!(json, "too_many_rooms", "serialized as sent");
    }

    #[test]
    fn every_code_is_counted_as_a_refusal_without_a_registry_lookup() {
        for code in ErrorCode::ALL {
            assert!(
                crate::metrics::REFUSAL_CODES.contains(&code.as_str()),
                "{} has no pre-registered refusal counter",
                code.as_str()
            );
        }
    }
}
