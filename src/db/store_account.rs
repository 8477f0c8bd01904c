//! The store's own account: the author of what the store's backend writes into a customer's
//! support conversation (`POST /api/server/conversations/{external_id}/messages`, kind
//! `store`).
//!
//! One built-in account, created on first use: role `user`, no password (it can never sign
//! in, and no token is ever issued for it), named [`STORE_ACCOUNT_NAME`]. That name has a space,
//! which no login name may have (`Username::parse`), so no registered account can hold it or
//! sign in as it; and since the unique login-name index covers accounts of role `user` without
//! an external id, two first uses at once cannot create it twice (the loser finds the winner's).

use super::connection::DbConn;
use super::error::StorageError;
use super::models::UserRow;
use super::schema::users;
use super::users::insert_user;
use crate::domain::Role;
use crate::with_backend;
use diesel::prelude::*;

/// The store account's name, as messages show it.
pub const STORE_ACCOUNT_NAME: &str = "The store";

/// The store's account, created if it does not exist yet.
pub fn store_account(conn: &mut DbConn) -> Result<UserRow, StorageError> {
    if let Some(row) = find_store_account(conn)? {
        return Ok(row);
    }
    match insert_user(conn, STORE_ACCOUNT_NAME, Role::User, None) {
        Ok(row) => Ok(row),
        Err(StorageError::Conflict(_)) => {
            find_store_account(conn)?.ok_or(StorageError::Inconsistent("the store account"))
        }
        Err(e) => Err(e),
    }
}

fn find_store_account(conn: &mut DbConn) -> Result<Option<UserRow>, StorageError> {
    let row = with_backend!(conn, c => users::table
        .filter(users::username.eq(STORE_ACCOUNT_NAME))
        .filter(users::role.eq(Role::User.as_str()))
        .filter(users::password_hash.is_null())
        .filter(users::external_id.is_null())
        .select(UserRow::as_select())
        .get_result(c)
        .optional())?;
    Ok(row)
}
