//! Public rooms created by hand (a `join` of a new name, `POST /api/rooms`): each is recorded
//! as its creator's, and a customer creates at most so many an hour
//! (`--max-rooms-created-per-hour`); staff have no limit.

use super::connection::DbConn;
use super::error::StorageError;
use super::rooms::lock_user_until_commit;
use super::schema::rooms;
use crate::domain::{now_millis, Role, UserId};
use crate::with_backend;
use diesel::prelude::*;

/// How many public rooms a user may create in an hour, as [`create_room_as`] takes it: no
/// limit (`None`) for staff, or when `per_hour` is 0 (the limit off).
pub fn creation_budget(per_hour: u32, role: Role) -> Option<i64> {
    (per_hour > 0 && !role.is_staff()).then_some(i64::from(per_hour))
}

/// Creates the public room `name` as `creator`'s unless it exists; whether it did. Past
/// `budget` rooms created by them within the last hour (`None`: no limit), the creation fails
/// with `TooManyRoomsCreated`: run it in a transaction, which that error rolls back. The count
/// follows the insert, so concurrent creations by one user are counted as the database orders
/// them (SQLite's write lock; on PostgreSQL the lock on the creator's row).
pub fn create_room_as(
    conn: &mut DbConn,
    name: &str,
    creator: UserId,
    budget: Option<i64>,
) -> Result<bool, StorageError> {
    let now = now_millis();
    let inserted = with_backend!(conn, c => diesel::insert_into(rooms::table)
        .values((
            rooms::name.eq(name),
            rooms::last_seq.eq(0i64),
            rooms::created_at.eq(now),
            rooms::created_by.eq(Some(creator.0)),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted == 0 {
        return Ok(false);
    }
    if let Some(budget) = budget {
        // Two creations of one user at once count each other.
        lock_user_until_commit(conn, creator)?;
        let hour_ago = now - 3_600_000;
        let created = with_backend!(conn, c => rooms::table
            .filter(rooms::created_by.eq(creator.0))
            .filter(rooms::created_at.gt(hour_ago))
            .count()
            .get_result::<i64>(c))?;
        if created > budget {
            return Err(StorageError::TooManyRoomsCreated);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_have_an_hourly_budget_of_rooms_and_staff_none() {
        assert_eq!(creation_budget(20, Role::User), Some(20));
        assert_eq!(creation_budget(20, Role::Guest), Some(20));
        assert_eq!(creation_budget(20, Role::Agent), None);
        assert_eq!(creation_budget(20, Role::Admin), None);
        assert_eq!(
            creation_budget(0, Role::User),
            None,
            "0 turns the limit off"
        );
    }

    #[test]
    fn the_budget_counts_the_rooms_created_in_the_last_hour_only() {
        use crate::db::connection::{open_pool, DbTarget, SqliteSync};
        use crate::db::users::insert_user;
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 1, SqliteSync::Normal).unwrap();
        let conn = &mut *pool.get().unwrap();
        let ann = UserId(insert_user(conn, "ann", Role::User, None).unwrap().id);
        let create = |conn: &mut DbConn, name: &str| {
            conn.transaction(|conn| create_room_as(conn, name, ann, Some(1)))
        };
        assert!(create(conn, "knitting").unwrap());
        assert!(matches!(
            create(conn, "crochet"),
            Err(StorageError::TooManyRoomsCreated)
        ));
        assert!(
            !create(conn, "knitting").unwrap(),
            "it exists: nothing to count"
        );
        // An hour and a moment later, the first no longer counts.
        let earlier = now_millis() - 3_600_001;
        with_backend!(conn, c => diesel::update(rooms::table.find("knitting"))
            .set(rooms::created_at.eq(earlier))
            .execute(c))
        .unwrap();
        assert!(create(conn, "crochet").unwrap());
    }
}
