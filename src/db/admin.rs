//! Queries behind the staff console: moderation and totals (the support conversations are
//! `db::conversations`).

use super::connection::DbConn;
use super::error::StorageError;
use super::models::UserRow;
use super::schema::{messages, users};
use crate::domain::UserId;
use crate::with_backend;
use diesel::prelude::*;

/// Hides a message; returns its room and seq, or `NotFound` if there is no such visible message.
pub fn delete_message(conn: &mut DbConn, id: i64) -> Result<(String, i64), StorageError> {
    let found = with_backend!(conn, c => diesel::update(
        messages::table
            .filter(messages::id.eq(id))
            .filter(messages::deleted.eq(false)),
    )
    .set(messages::deleted.eq(true))
    .returning((messages::room, messages::seq))
    .get_result::<(String, i64)>(c)
    .optional())?;
    found.ok_or(StorageError::NotFound)
}

/// Bans or unbans an account; returns it.
pub fn set_banned(conn: &mut DbConn, user: UserId, banned: bool) -> Result<UserRow, StorageError> {
    let row = with_backend!(conn, c => diesel::update(users::table.find(user.0))
        .set(users::banned.eq(banned))
        .returning(UserRow::as_returning())
        .get_result(c)
        .optional())?;
    row.ok_or(StorageError::NotFound)
}

/// (stored messages, accounts).
pub fn totals(conn: &mut DbConn) -> Result<(i64, i64), StorageError> {
    let messages = with_backend!(conn, c => messages::table.count().get_result::<i64>(c))?;
    let users = with_backend!(conn, c => users::table.count().get_result::<i64>(c))?;
    Ok((messages, users))
}
