//! The support desk's settings kept by the console (`desk_settings`): one JSON value per key
//! (`hours`: business hours, away message and reply time). The values are checked by the
//! domain before they are written and after they are read; here they are plain text.

use super::connection::DbConn;
use super::error::StorageError;
use super::schema::desk_settings;
use crate::with_backend;
use diesel::prelude::*;

/// The key of the business hours, away message and expected reply time.
pub const HOURS_KEY: &str = "hours";

/// A `desk_settings` row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = desk_settings)]
pub struct DeskSettingRow {
    /// Which setting.
    pub key: String,
    /// Its JSON value.
    pub value: String,
    /// Last change, in milliseconds since the epoch.
    pub updated_at: i64,
}

/// The value under `key`, if one was ever put.
pub fn get_setting(conn: &mut DbConn, key: &str) -> Result<Option<DeskSettingRow>, StorageError> {
    Ok(desk_settings::table
        .filter(desk_settings::key.eq(key))
        .select(DeskSettingRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Puts `value` under `key`, replacing what was there (one statement: two admins saving at
/// once leave one of the two values, never a mix or an error).
pub fn put_setting(
    conn: &mut DbConn,
    key: &str,
    value: &str,
    now: i64,
) -> Result<DeskSettingRow, StorageError> {
    let row = (
        desk_settings::key.eq(key),
        desk_settings::value.eq(value),
        desk_settings::updated_at.eq(now),
    );
    with_backend!(conn, c => diesel::insert_into(desk_settings::table)
        .values(row)
        .on_conflict(desk_settings::key)
        .do_update()
        .set((desk_settings::value.eq(value), desk_settings::updated_at.eq(now)))
        .execute(c))?;
    Ok(DeskSettingRow {
        key: key.to_owned(),
        value: value.to_owned(),
        updated_at: now,
    })
}

/// Removes the value under `key`; true when there was one.
pub fn delete_setting(conn: &mut DbConn, key: &str) -> Result<bool, StorageError> {
    let deleted =
        diesel::delete(desk_settings::table.filter(desk_settings::key.eq(key))).execute(conn)?;
    Ok(deleted > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connection::{open_pool, DbTarget, SqliteSync};

    #[test]
    fn a_setting_is_put_replaced_read_and_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = DbTarget::Sqlite(dir.path().join("settings.db"));
        let pool = open_pool(&target, 1, SqliteSync::Normal).expect("pool");
        let conn = &mut *pool.get().expect("conn");
        assert_eq!(get_setting(conn, HOURS_KEY).expect("get"), None);
        put_setting(conn, HOURS_KEY, r#"{"timezone":"UTC"}"#, 10).expect("put");
        put_setting(conn, HOURS_KEY, r#"{"timezone":"Asia/Tokyo"}"#, 20).expect("put again");
        let row = get_setting(conn, HOURS_KEY).expect("get").expect("a row");
        assert_eq!(row.value, r#"{"timezone":"Asia/Tokyo"}"#);
        assert_eq!(row.updated_at, 20);
        assert!(delete_setting(conn, HOURS_KEY).expect("delete"));
        assert!(!delete_setting(conn, HOURS_KEY).expect("delete again"));
        assert_eq!(get_setting(conn, HOURS_KEY).expect("get"), None);
    }
}
