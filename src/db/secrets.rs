//! Secrets every node on this database shares (`server_secrets`): made once, by whichever node
//! asks first, and read by all the others.

use super::connection::DbConn;
use super::error::StorageError;
use super::schema::server_secrets;
use crate::domain::now_millis;
use crate::with_backend;
use diesel::prelude::*;

/// The secret called `name`: the stored one, or else `candidate()` stored as it. Nodes that
/// start at the same moment all get the same value: the insert keeps the first writer's and
/// everyone reads back what was kept.
pub fn shared_secret(
    conn: &mut DbConn,
    name: &str,
    candidate: impl FnOnce() -> String,
) -> Result<String, StorageError> {
    if let Some(value) = stored(conn, name)? {
        return Ok(value);
    }
    let value = candidate();
    let row = (
        server_secrets::name.eq(name),
        server_secrets::value.eq(&value),
        server_secrets::created_at.eq(now_millis()),
    );
    with_backend!(conn, c => diesel::insert_into(server_secrets::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    stored(conn, name)?.ok_or(StorageError::Inconsistent("a stored secret is gone"))
}

fn stored(conn: &mut DbConn, name: &str) -> Result<Option<String>, StorageError> {
    Ok(with_backend!(conn, c => server_secrets::table
        .find(name)
        .select(server_secrets::value)
        .first::<String>(c)
        .optional())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connection::{open_pool, DbTarget, SqliteSync};

    #[test]
    fn the_first_candidate_is_kept_and_every_later_caller_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::from_url(&dir.path().join("chat.db").display().to_string());
        let pool = open_pool(&target, 1, SqliteSync::Full).unwrap();
        let mut conn = pool.get().unwrap();
        let first = shared_secret(&mut conn, "jwt", || "first".into()).unwrap();
        let second = shared_secret(&mut conn, "jwt", || "second".into()).unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("first", "first"));
        let other = shared_secret(&mut conn, "other", || "x".into()).unwrap();
        assert_eq!(other, "x", "each name has its own secret");
    }
}
