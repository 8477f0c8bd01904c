//! Queries behind the staff console: the support conversations, moderation and totals.

use super::connection::DbConn;
use super::error::StorageError;
use super::messages::{read_window, Window};
use super::models::{StoredMessage, UserRow};
use super::schema::{messages, users};
use super::{rooms, users as user_queries};
use crate::domain::{RoomKind, RoomName, UserId};
use crate::with_backend;
use diesel::dsl::max;
use diesel::prelude::*;

/// A support conversation as the console lists it.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// `support:<id>`.
    pub room: RoomName,
    /// The customer.
    pub customer: UserRow,
    /// Messages by others after the asking admin's read cursor.
    pub unread: i64,
    /// The room's newest seq.
    pub last_seq: i64,
    /// The newest visible message.
    pub last_message: Option<StoredMessage>,
    /// When that message was stored (ms).
    pub last_activity: i64,
}

/// The support conversations with at least one visible message, newest activity first, at most
/// `limit`; unread counts are those of `admin`.
pub fn support_conversations(
    conn: &mut DbConn,
    admin: UserId,
    limit: i64,
) -> Result<Vec<Conversation>, StorageError> {
    let active: Vec<(String, Option<i64>)> = with_backend!(conn, c => messages::table
        .filter(messages::room.like("support:%"))
        .filter(messages::deleted.eq(false))
        .group_by(messages::room)
        .select((messages::room, max(messages::created_at)))
        .order(max(messages::created_at).desc())
        .limit(limit)
        .load(c))?;
    let mut out = Vec::with_capacity(active.len());
    for (name, last_activity) in active {
        let Ok(room) = RoomName::parse(&name) else {
            continue;
        };
        let RoomKind::Support(owner) = room.kind() else {
            continue;
        };
        let Some(customer) = user_queries::find_by_id(conn, owner)? else {
            continue;
        };
        let (mut latest, _) = read_window(conn, &name, Window::Latest, 1)?;
        out.push(Conversation {
            unread: rooms::unread_count(conn, admin, &name)?,
            last_seq: rooms::last_seq(conn, &name)?,
            last_message: latest.pop(),
            last_activity: last_activity.unwrap_or(0),
            customer,
            room,
        });
    }
    Ok(out)
}

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
