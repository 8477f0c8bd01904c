//! The team's queries (`/api/admin/staff`, `/api/admin/availability`): every staff account,
//! a staff member's role and whether they may sign in, their availability. Staff accounts are
//! created by `users::insert_user` like any account.

use super::connection::DbConn;
use super::error::StorageError;
use super::models::UserRow;
use super::schema::users;
use crate::domain::{Availability, Role, UserId};
use crate::with_backend;
use diesel::prelude::*;

/// The roles of the staff, as stored.
const STAFF_ROLES: [&str; 2] = ["admin", "agent"];

/// Every admin and agent, active or not, by username.
pub fn list_staff(conn: &mut DbConn) -> Result<Vec<UserRow>, StorageError> {
    let rows = with_backend!(conn, c => users::table
        .filter(users::role.eq_any(STAFF_ROLES))
        .order((users::username.asc(), users::id.asc()))
        .select(UserRow::as_select())
        .load(c))?;
    Ok(rows)
}

/// A staff account by id; `None` when there is no account or it is a customer's.
pub fn find_staff(conn: &mut DbConn, id: UserId) -> Result<Option<UserRow>, StorageError> {
    let row = with_backend!(conn, c => users::table
        .find(id.0)
        .filter(users::role.eq_any(STAFF_ROLES))
        .select(UserRow::as_select())
        .get_result(c)
        .optional())?;
    Ok(row)
}

/// What a change of a staff member may set; `None` keeps what is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StaffChange {
    /// A new role (admin or agent).
    pub role: Option<Role>,
    /// Whether they may sign in.
    pub active: Option<bool>,
}

/// Changes a staff member's role and whether they may sign in; `NotFound` when `id` is not a
/// staff account (a customer is never turned into staff here). Returns the account.
pub fn update_staff(
    conn: &mut DbConn,
    id: UserId,
    change: StaffChange,
) -> Result<UserRow, StorageError> {
    let Some(current) = find_staff(conn, id)? else {
        return Err(StorageError::NotFound);
    };
    let role = change.role.map_or(current.role, |r| r.as_str().to_owned());
    let active = change.active.unwrap_or(current.active);
    let row = with_backend!(conn, c => diesel::update(
        users::table.find(id.0).filter(users::role.eq_any(STAFF_ROLES)),
    )
    .set((users::role.eq(&role), users::active.eq(active)))
    .returning(UserRow::as_returning())
    .get_result(c)
    .optional())?;
    row.ok_or(StorageError::NotFound)
}

/// Sets a staff member's availability; `NotFound` if `id` is not a staff account.
pub fn set_availability(
    conn: &mut DbConn,
    id: UserId,
    availability: Availability,
) -> Result<UserRow, StorageError> {
    let row = with_backend!(conn, c => diesel::update(
        users::table.find(id.0).filter(users::role.eq_any(STAFF_ROLES)),
    )
    .set(users::availability.eq(availability.as_str()))
    .returning(UserRow::as_returning())
    .get_result(c)
    .optional())?;
    row.ok_or(StorageError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connection::{open_pool, DbTarget, SqliteSync};
    use crate::db::users::insert_user;

    #[test]
    fn staff_are_listed_by_name_changed_and_never_made_of_a_customer() {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 1, SqliteSync::Normal).unwrap();
        let mut conn = pool.get().unwrap();
        let zed = insert_user(&mut conn, "zed", Role::Admin, Some("h")).unwrap();
        let amy = insert_user(&mut conn, "amy", Role::Agent, Some("h")).unwrap();
        let cus = insert_user(&mut conn, "cus", Role::User, Some("h")).unwrap();
        let names: Vec<String> = list_staff(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| r.username)
            .collect();
        assert_eq!(names, vec!["amy", "zed"]);

        let off = StaffChange {
            role: None,
            active: Some(false),
        };
        let amy = update_staff(&mut conn, UserId(amy.id), off).unwrap();
        assert!(!amy.active);
        assert_eq!(amy.role, "agent");
        let promote = StaffChange {
            role: Some(Role::Admin),
            active: None,
        };
        let amy = update_staff(&mut conn, UserId(amy.id), promote).unwrap();
        assert_eq!((amy.role.as_str(), amy.active), ("admin", false));

        assert!(matches!(
            update_staff(&mut conn, UserId(cus.id), promote),
            Err(StorageError::NotFound)
        ));
        assert!(matches!(
            set_availability(&mut conn, UserId(cus.id), Availability::Busy),
            Err(StorageError::NotFound)
        ));
        let zed = set_availability(&mut conn, UserId(zed.id), Availability::Busy).unwrap();
        assert_eq!(zed.availability, "busy");
        assert!(find_staff(&mut conn, UserId(cus.id)).unwrap().is_none());
    }
}
