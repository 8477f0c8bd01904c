//! The team's queries (`/api/admin/staff`, `/api/admin/availability`, a staff member's own
//! profile through `PATCH /api/me`): every staff account, a staff member's role, whether they
//! may sign in, the name and colour customers see on their replies, their availability. Staff
//! accounts are created by `users::insert_user` like any account.

use super::connection::DbConn;
use super::error::StorageError;
use super::models::UserRow;
use super::schema::users;
use crate::domain::profile::ProfileChange;
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffChange {
    /// A new role (admin or agent).
    pub role: Option<Role>,
    /// Whether they may sign in.
    pub active: Option<bool>,
    /// Their display name and avatar colour (each kept, set or cleared).
    pub profile: ProfileChange,
}

/// Changes a staff member's role, whether they may sign in and their profile, in one
/// `UPDATE` that writes only the columns the change names: what it leaves out stays as stored,
/// even when another change lands at the same time (an agent renaming herself while an admin
/// deactivates her never puts `active` back). `NotFound` when `id` is not a staff account (a
/// customer is never turned into staff here, nor given a staff member's name). Returns the
/// account.
pub fn update_staff(
    conn: &mut DbConn,
    id: UserId,
    change: StaffChange,
) -> Result<UserRow, StorageError> {
    let StaffChange {
        role,
        active,
        profile,
    } = change;
    if role.is_none() && active.is_none() && profile.is_empty() {
        return find_staff(conn, id)?.ok_or(StorageError::NotFound);
    }
    let columns = (
        role.map(|r| users::role.eq(r.as_str())),
        active.map(|a| users::active.eq(a)),
        profile
            .display_name
            .map(|name| users::display_name.eq(name.map(|n| n.as_str().to_owned()))),
        profile
            .avatar_color
            .map(|color| users::avatar_color.eq(color.map(|c| c.as_str().to_owned()))),
    );
    let row = with_backend!(conn, c => diesel::update(
        users::table.find(id.0).filter(users::role.eq_any(STAFF_ROLES)),
    )
    .set(columns)
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
            active: Some(false),
            ..StaffChange::default()
        };
        let amy = update_staff(&mut conn, UserId(amy.id), off).unwrap();
        assert!(!amy.active);
        assert_eq!(amy.role, "agent");
        let promote = StaffChange {
            role: Some(Role::Admin),
            ..StaffChange::default()
        };
        let amy = update_staff(&mut conn, UserId(amy.id), promote.clone()).unwrap();
        assert_eq!((amy.role.as_str(), amy.active), ("admin", false));

        assert!(matches!(
            update_staff(&mut conn, UserId(cus.id), promote.clone()),
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

    #[test]
    fn a_profile_is_set_kept_by_other_changes_and_cleared_only_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 1, SqliteSync::Normal).unwrap();
        let mut conn = pool.get().unwrap();
        let maya = insert_user(&mut conn, "maya", Role::Agent, Some("h")).unwrap();
        let cus = insert_user(&mut conn, "cus", Role::User, Some("h")).unwrap();
        let patch = |json: &str| StaffChange {
            profile: ProfileChange::parse(serde_json::from_str(json).unwrap()).unwrap(),
            ..StaffChange::default()
        };

        let set = patch(r##"{"display_name":"Maya from Support","avatar_color":"#C0FFEE"}"##);
        let row = update_staff(&mut conn, UserId(maya.id), set.clone()).unwrap();
        assert_eq!(row.display_name.as_deref(), Some("Maya from Support"));
        assert_eq!(row.avatar_color.as_deref(), Some("#c0ffee"));

        // A change of role leaves the profile as it was.
        let promote = StaffChange {
            role: Some(Role::Admin),
            ..StaffChange::default()
        };
        let row = update_staff(&mut conn, UserId(maya.id), promote).unwrap();
        assert_eq!(row.display_name.as_deref(), Some("Maya from Support"));

        let row = update_staff(
            &mut conn,
            UserId(maya.id),
            patch(r#"{"avatar_color":null}"#),
        );
        let row = row.unwrap();
        assert_eq!(row.avatar_color, None);
        assert_eq!(row.display_name.as_deref(), Some("Maya from Support"));

        assert!(matches!(
            update_staff(&mut conn, UserId(cus.id), set),
            Err(StorageError::NotFound)
        ));
    }
}

#[cfg(test)]
mod lost_update {
    use super::*;
    use crate::db::connection::{open_pool, DbTarget, SqliteSync};
    use crate::db::users::insert_user;
    use diesel::connection::SimpleConnection;
    use std::time::Duration;

    /// An agent renames herself while an admin deactivates her: the admin's write lands
    /// between the agent's read of her row and her write. The agent's write must not put
    /// `active` back (nor touch the role), whatever row she read before.
    #[test]
    fn a_profile_change_racing_a_deactivation_does_not_restore_active() {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 2, SqliteSync::Normal).unwrap();
        let mut admin = pool.get().unwrap();
        let maya = insert_user(&mut admin, "maya", Role::Agent, Some("h")).unwrap();

        // The admin's deactivation (and a promotion), written but not yet committed: the
        // agent's read still sees her active agent's row, her write waits for the lock.
        let DbConn::Sqlite(ref mut raw) = *admin else {
            unreachable!("the test database is SQLite")
        };
        raw.batch_execute(&format!(
            "BEGIN IMMEDIATE; UPDATE users SET active = 0, role = 'admin' WHERE id = {};",
            maya.id
        ))
        .unwrap();
        let agent_pool = pool.clone();
        let agent = std::thread::spawn(move || {
            let mut conn = agent_pool.get().unwrap();
            let rename = StaffChange {
                profile: ProfileChange::parse(
                    serde_json::from_str(r#"{"display_name":"Maya"}"#).unwrap(),
                )
                .unwrap(),
                ..StaffChange::default()
            };
            update_staff(&mut conn, UserId(maya.id), rename).unwrap()
        });
        // Let the agent read her (stale) row and reach her write before the admin commits.
        std::thread::sleep(Duration::from_millis(300));
        raw.batch_execute("COMMIT;").unwrap();
        let renamed = agent.join().unwrap();
        assert_eq!(renamed.display_name.as_deref(), Some("Maya"));

        let stored = find_staff(&mut admin, UserId(maya.id)).unwrap().unwrap();
        assert_eq!(stored.display_name.as_deref(), Some("Maya"));
        assert!(!stored.active, "the rename put `active` back");
        assert_eq!(stored.role, "admin", "the rename put the old role back");
        assert!(!renamed.active);
    }
}
