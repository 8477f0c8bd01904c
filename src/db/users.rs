//! Account queries.

use super::connection::DbConn;
use super::error::StorageError;
use super::models::UserRow;
use super::schema::users;
use crate::domain::{now_millis, Role, UserId};
use crate::with_backend;
use diesel::prelude::*;

diesel::define_sql_function! {
    /// SQL `lower()`, which the unique login-name index is built on.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Creates an account. A registered name already taken (in any case) is a `Conflict`.
pub fn insert_user(
    conn: &mut DbConn,
    username: &str,
    role: Role,
    password_hash: Option<&str>,
) -> Result<UserRow, StorageError> {
    let row = with_backend!(conn, c => diesel::insert_into(users::table)
        .values((
            users::username.eq(username),
            users::role.eq(role.as_str()),
            users::password_hash.eq(password_hash),
            users::banned.eq(false),
            users::created_at.eq(now_millis()),
        ))
        .returning(UserRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

/// Finds a registered (non-guest) account by login name, ignoring case. The store's identified
/// customers have no login name (two may share a display name) and are never found here.
pub fn find_by_login(conn: &mut DbConn, username: &str) -> Result<Option<UserRow>, StorageError> {
    let lowered = username.to_lowercase();
    let row = with_backend!(conn, c => users::table
        .filter(lower(users::username).eq(&lowered))
        .filter(users::role.ne(Role::Guest.as_str()))
        .filter(users::external_id.is_null())
        .select(UserRow::as_select())
        .get_result(c)
        .optional())?;
    Ok(row)
}

/// Finds the account bound to the store's id for a customer.
pub fn find_by_external_id(
    conn: &mut DbConn,
    external_id: &str,
) -> Result<Option<UserRow>, StorageError> {
    let row = with_backend!(conn, c => users::table
        .filter(users::external_id.eq(external_id))
        .select(UserRow::as_select())
        .get_result(c)
        .optional())?;
    Ok(row)
}

/// Finds an account by id.
pub fn find_by_id(conn: &mut DbConn, id: UserId) -> Result<Option<UserRow>, StorageError> {
    let row = with_backend!(conn, c => users::table
        .find(id.0)
        .select(UserRow::as_select())
        .get_result(c)
        .optional())?;
    Ok(row)
}

/// Makes `username` an admin with `password_hash`: creates the account, or promotes an existing
/// registered one and sets its password. Returns the account.
pub fn upsert_admin(
    conn: &mut DbConn,
    username: &str,
    password_hash: &str,
) -> Result<UserRow, StorageError> {
    match find_by_login(conn, username)? {
        Some(existing) => {
            let row = with_backend!(conn, c => diesel::update(users::table.find(existing.id))
                .set((
                    users::role.eq(Role::Admin.as_str()),
                    users::password_hash.eq(password_hash),
                    users::banned.eq(false),
                ))
                .returning(UserRow::as_returning())
                .get_result(c))?;
            Ok(row)
        }
        None => insert_user(conn, username, Role::Admin, Some(password_hash)),
    }
}

/// Gives an account another role; `NotFound` if there is none. The chat server applies it to
/// the account's open sockets when told (`AccountChanged`) or at its next re-check.
pub fn set_role(conn: &mut DbConn, id: UserId, role: Role) -> Result<UserRow, StorageError> {
    let row = with_backend!(conn, c => diesel::update(users::table.find(id.0))
        .set(users::role.eq(role.as_str()))
        .returning(UserRow::as_returning())
        .get_result(c)
        .optional())?;
    row.ok_or(StorageError::NotFound)
}

/// The accounts of these users, in one query per thousand of them (bound parameters stay well
/// below both backends' limits); users without an account are missing from the answer.
pub fn find_many(conn: &mut DbConn, ids: &[UserId]) -> Result<Vec<UserRow>, StorageError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let ids: Vec<i64> = chunk.iter().map(|id| id.0).collect();
        let found: Vec<UserRow> = with_backend!(conn, c => users::table
            .filter(users::id.eq_any(&ids))
            .select(UserRow::as_select())
            .load(c))?;
        rows.extend(found);
    }
    Ok(rows)
}

/// The account bound to the store's id for a customer (`POST /api/auth/identify`): created on
/// first use (role `user`, no password, `name` as its display name), and given the name and
/// email the store says now when they changed (an absent email keeps the stored one). Returns
/// the account and whether an existing one was changed (its open connections then need to
/// hear of it). Two first calls at once end on the same account: the unique index on
/// `external_id` lets one insert win, and the other reads what it wrote.
pub fn identify_customer(
    conn: &mut DbConn,
    external_id: &str,
    name: &str,
    email: Option<&str>,
) -> Result<(UserRow, bool), StorageError> {
    let existing = match find_by_external_id(conn, external_id)? {
        Some(row) => row,
        None => match insert_customer(conn, external_id, name, email) {
            Ok(row) => return Ok((row, false)),
            Err(StorageError::Conflict(_)) => find_by_external_id(conn, external_id)?.ok_or(
                StorageError::Inconsistent("the customer that won the insert is missing"),
            )?,
            Err(e) => return Err(e),
        },
    };
    let new_email = email.filter(|e| existing.email.as_deref() != Some(*e));
    if existing.username == name && new_email.is_none() {
        return Ok((existing, false));
    }
    let email = new_email.or(existing.email.as_deref());
    let row = with_backend!(conn, c => diesel::update(users::table.find(existing.id))
        .set((users::username.eq(name), users::email.eq(email)))
        .returning(UserRow::as_returning())
        .get_result(c))?;
    Ok((row, true))
}

fn insert_customer(
    conn: &mut DbConn,
    external_id: &str,
    name: &str,
    email: Option<&str>,
) -> Result<UserRow, StorageError> {
    let row = with_backend!(conn, c => diesel::insert_into(users::table)
        .values((
            users::username.eq(name),
            users::role.eq(Role::User.as_str()),
            users::password_hash.eq(None::<&str>),
            users::banned.eq(false),
            users::created_at.eq(now_millis()),
            users::external_id.eq(external_id),
            users::email.eq(email),
        ))
        .returning(UserRow::as_returning())
        .get_result(c))?;
    Ok(row)
}

/// Sets the email address an account is answered by (`PATCH /api/me`); `NotFound` if there is
/// no such account.
pub fn set_email(conn: &mut DbConn, id: UserId, email: &str) -> Result<UserRow, StorageError> {
    let row = with_backend!(conn, c => diesel::update(users::table.find(id.0))
        .set(users::email.eq(email))
        .returning(UserRow::as_returning())
        .get_result(c)
        .optional())?;
    row.ok_or(StorageError::NotFound)
}
