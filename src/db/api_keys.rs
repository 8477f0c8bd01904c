//! The store backend's API keys: created and revoked by admins, looked up by digest on every
//! call of `/api/server/*`. Only the SHA-256 digest of a key is stored (the `auth` layer makes
//! it); the key itself is shown once, when it is created.

use super::connection::DbConn;
use super::error::StorageError;
use super::schema::api_keys;
use crate::with_backend;
use diesel::prelude::*;

/// How stale `last_used_at` may get before a call writes it again: a busy store calls many
/// times a second, and a write per call would queue behind the messages' commits for a figure
/// shown to the minute.
pub const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// An `api_keys` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = super::schema::api_keys)]
pub struct ApiKeyRow {
    /// Database id.
    pub id: i64,
    /// What the admin called it ("shop backend").
    pub name: String,
    /// `hex(SHA-256(key))`.
    pub key_digest: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// When a call last used it (to the minute), if ever.
    pub last_used_at: Option<i64>,
    /// When it was revoked; a revoked key is refused and no longer listed.
    pub revoked_at: Option<i64>,
}

/// Stores a new key by its digest.
pub fn insert_key(
    conn: &mut DbConn,
    name: &str,
    key_digest: &str,
    now: i64,
) -> Result<ApiKeyRow, StorageError> {
    let row = with_backend!(conn, c => diesel::insert_into(api_keys::table)
        .values((
            api_keys::name.eq(name),
            api_keys::key_digest.eq(key_digest),
            api_keys::created_at.eq(now),
        ))
        .returning(ApiKeyRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

/// The keys in use (not revoked), oldest first.
pub fn list_keys(conn: &mut DbConn) -> Result<Vec<ApiKeyRow>, StorageError> {
    let rows = with_backend!(conn, c => api_keys::table
        .filter(api_keys::revoked_at.is_null())
        .order(api_keys::id.asc())
        .select(ApiKeyRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// Revokes a key in use; `NotFound` if there is none with this id (or it is revoked already).
/// The row stays, so that a leaked key's digest can still be told apart from an unknown one.
pub fn revoke_key(conn: &mut DbConn, id: i64, now: i64) -> Result<(), StorageError> {
    let changed = with_backend!(conn, c => diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .execute(c))?;
    if changed == 0 {
        return Err(StorageError::NotFound);
    }
    Ok(())
}

/// The key in use with this digest, if any, noting that it was used (at most once a
/// [`LAST_USED_GRANULARITY_MS`], so most calls only read).
pub fn use_key(
    conn: &mut DbConn,
    key_digest: &str,
    now: i64,
) -> Result<Option<ApiKeyRow>, StorageError> {
    let found = with_backend!(conn, c => api_keys::table
        .filter(api_keys::key_digest.eq(key_digest))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKeyRow::as_select())
        .get_result(c)
        .optional())?;
    let Some(mut row) = found else {
        return Ok(None);
    };
    let stale = match row.last_used_at {
        Some(at) => now - at >= LAST_USED_GRANULARITY_MS,
        None => true,
    };
    if stale {
        with_backend!(conn, c => diesel::update(api_keys::table.find(row.id))
            .set(api_keys::last_used_at.eq(now))
            .execute(c))?;
        row.last_used_at = Some(now);
    }
    Ok(Some(row))
}
