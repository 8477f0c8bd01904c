//! The notifications the store sends its customers ("your order has shipped"): stored by the
//! server API, listed and marked read by their user.

use super::connection::DbConn;
use super::error::StorageError;
use super::schema::{notifications, users};
use crate::domain::UserId;
use crate::with_backend;
use diesel::prelude::*;

/// A `notifications` row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = super::schema::notifications)]
pub struct NotificationRow {
    /// Database id, increasing: newer notifications have larger ids.
    pub id: i64,
    /// Whose it is.
    pub user_id: i64,
    /// One line.
    pub title: String,
    /// The text.
    pub body: String,
    /// An http(s) link to follow, if any.
    pub link: Option<String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// When its user marked it read.
    pub read_at: Option<i64>,
}

/// A notification to store (its fields checked by `crate::notification::NewNotification`).
#[derive(Debug, Clone)]
pub struct NotificationInput<'a> {
    /// Whose it is.
    pub user: UserId,
    /// One line.
    pub title: &'a str,
    /// The text.
    pub body: &'a str,
    /// An http(s) link, if any.
    pub link: Option<&'a str>,
}

/// Stores a notification; returns it.
///
/// A user's notifications commit in the order of their ids: a connection's `hello` counts
/// those up to the newest id it sees, and takes only larger ids live
/// (`chat::notification_cursors`), so one committing after a larger id would be neither
/// counted nor shown. On PostgreSQL ids come from a sequence, taken at the insert, and two
/// inserts (two history threads, two servers) could commit in the other order; so the insert
/// first locks its user's row (`FOR UPDATE`) in its transaction, and the next one for the
/// same user takes its id only once this one committed. SQLite has one writer at a time.
pub fn insert_notification(
    conn: &mut DbConn,
    input: &NotificationInput<'_>,
    now: i64,
) -> Result<NotificationRow, StorageError> {
    conn.transaction(|conn| {
        if let DbConn::Postgres(pg) = conn {
            users::table
                .find(input.user.0)
                .select(users::id)
                .for_update()
                .get_result::<i64>(pg)
                .optional()?;
        }
        let row = with_backend!(conn, c => diesel::insert_into(notifications::table)
            .values((
                notifications::user_id.eq(input.user.0),
                notifications::title.eq(input.title),
                notifications::body.eq(input.body),
                notifications::link.eq(input.link),
                notifications::created_at.eq(now),
            ))
            .returning(NotificationRow::as_returning())
            .get_result(c))?;
        Ok(row)
    })
}

/// The user's notifications, newest first: up to `limit` with an id below `before` (the newest
/// when absent), and whether there are older ones.
pub fn list_notifications(
    conn: &mut DbConn,
    user: UserId,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<NotificationRow>, bool), StorageError> {
    let before = before.unwrap_or(i64::MAX);
    let mut rows: Vec<NotificationRow> = with_backend!(conn, c => notifications::table
        .filter(notifications::user_id.eq(user.0))
        .filter(notifications::id.lt(before))
        .order(notifications::id.desc())
        .limit(limit + 1)
        .select(NotificationRow::as_select())
        .load(c))?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// How many of the user's notifications are unread.
pub fn unread_notifications(conn: &mut DbConn, user: UserId) -> Result<i64, StorageError> {
    let count = with_backend!(conn, c => notifications::table
        .filter(notifications::user_id.eq(user.0))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result::<i64>(c))?;
    Ok(count)
}

/// The user's unread notifications as a new connection counts them: (unread, newest id
/// counted). The newest id is read first and only notifications up to it are counted, so that
/// one stored meanwhile is either counted here or newer than the id (and then sent live).
pub fn unread_notifications_counted(
    conn: &mut DbConn,
    user: UserId,
) -> Result<(i64, i64), StorageError> {
    let newest = with_backend!(conn, c => notifications::table
        .filter(notifications::user_id.eq(user.0))
        .select(diesel::dsl::max(notifications::id))
        .get_result::<Option<i64>>(c))?
    .unwrap_or(0);
    let count = with_backend!(conn, c => notifications::table
        .filter(notifications::user_id.eq(user.0))
        .filter(notifications::id.le(newest))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result::<i64>(c))?;
    Ok((count, newest))
}

/// Marks one of the user's notifications read (reading it again changes nothing) and returns
/// the user's unread count after it. `NotFound` when the user has no notification with this id:
/// someone else's is as unknown as one that does not exist.
pub fn mark_notification_read(
    conn: &mut DbConn,
    user: UserId,
    id: i64,
    now: i64,
) -> Result<i64, StorageError> {
    let mine = with_backend!(conn, c => notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::user_id.eq(user.0))
        .select(notifications::read_at)
        .get_result::<Option<i64>>(c)
        .optional())?;
    match mine {
        None => return Err(StorageError::NotFound),
        Some(Some(_)) => {}
        Some(None) => {
            with_backend!(conn, c => diesel::update(
                notifications::table
                    .filter(notifications::id.eq(id))
                    .filter(notifications::read_at.is_null()),
            )
            .set(notifications::read_at.eq(now))
            .execute(c))?;
        }
    }
    unread_notifications(conn, user)
}

/// Marks every notification of the user read; the unread count after it is zero.
pub fn mark_all_notifications_read(
    conn: &mut DbConn,
    user: UserId,
    now: i64,
) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user.0))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(now))
    .execute(c))?;
    Ok(())
}
