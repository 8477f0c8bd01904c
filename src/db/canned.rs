//! The staff's canned replies (`/api/admin/canned`): a handful of rows, listed whole. A
//! shortcut is unique whatever its case (the unique index on `lower(shortcut)`): a taken one
//! is `StorageError::Conflict`.

use super::connection::DbConn;
use super::error::StorageError;
use super::schema::canned_replies;
use crate::domain::{CannedText, Shortcut, UserId};
use crate::with_backend;
use diesel::prelude::*;

/// A `canned_replies` row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = canned_replies)]
pub struct CannedRow {
    /// Database id.
    pub id: i64,
    /// Typed after `/` in the console, without the `/`.
    pub shortcut: String,
    /// The reply it inserts.
    pub text: String,
    /// The staff member who made it (kept for the record, not shown).
    pub created_by: Option<i64>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Last change, in milliseconds since the epoch.
    pub updated_at: i64,
}

/// What a change sets: the fields given, and always `updated_at`.
#[derive(AsChangeset)]
#[diesel(table_name = canned_replies)]
struct CannedChange<'a> {
    shortcut: Option<&'a str>,
    text: Option<&'a str>,
    updated_at: i64,
}

/// Every canned reply, by shortcut whatever its case.
pub fn list_canned(conn: &mut DbConn) -> Result<Vec<CannedRow>, StorageError> {
    let mut rows = with_backend!(conn, c => canned_replies::table
        .select(CannedRow::as_select())
        .load(c))?;
    // Sorted here rather than by `ORDER BY lower(shortcut)`: a few dozen rows, and the same
    // order on both backends whatever their collation.
    rows.sort_by_cached_key(|row| (row.shortcut.to_ascii_lowercase(), row.id));
    Ok(rows)
}

/// Stores a new canned reply; `Conflict` when the shortcut is taken.
pub fn insert_canned(
    conn: &mut DbConn,
    shortcut: &Shortcut,
    text: &CannedText,
    by: UserId,
    now: i64,
) -> Result<CannedRow, StorageError> {
    let row = with_backend!(conn, c => diesel::insert_into(canned_replies::table)
        .values((
            canned_replies::shortcut.eq(shortcut.as_str()),
            canned_replies::text.eq(text.as_str()),
            canned_replies::created_by.eq(by.0),
            canned_replies::created_at.eq(now),
            canned_replies::updated_at.eq(now),
        ))
        .returning(CannedRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

/// Changes the fields given; `NotFound` for an unknown id, `Conflict` when the new shortcut
/// is taken.
pub fn update_canned(
    conn: &mut DbConn,
    id: i64,
    shortcut: Option<&Shortcut>,
    text: Option<&CannedText>,
    now: i64,
) -> Result<CannedRow, StorageError> {
    let change = CannedChange {
        shortcut: shortcut.map(Shortcut::as_str),
        text: text.map(CannedText::as_str),
        updated_at: now,
    };
    let row = with_backend!(conn, c => diesel::update(canned_replies::table.find(id))
        .set(&change)
        .returning(CannedRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

/// Deletes a canned reply; `NotFound` for an unknown id.
pub fn delete_canned(conn: &mut DbConn, id: i64) -> Result<(), StorageError> {
    let deleted =
        with_backend!(conn, c => diesel::delete(canned_replies::table.find(id)).execute(c))?;
    match deleted {
        0 => Err(StorageError::NotFound),
        _ => Ok(()),
    }
}
