//! The public room directory's queries: every public room with its member count and the time
//! of its last message, in one statement (no query per room), and the explicit creation of a
//! room. Support conversations (`support:<id>`) and notes threads (`notes:<id>`) are never
//! listed: they are one customer's and the staff's.

use super::connection::DbConn;
use super::error::StorageError;
use super::room_creation::create_room_as;
use super::schema::rooms;
use crate::domain::{UserId, MAX_ROOM_NAME};
use crate::with_backend;
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Nullable, Text};

/// A public room as the directory shows it, before the live online count is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRow {
    /// The room's name.
    pub name: String,
    /// Users with the room in their list.
    pub members: i64,
    /// When its newest message was written (ms); `None` for a room without messages.
    pub last_activity: Option<i64>,
}

/// The `LIKE` pattern of a directory filter: the text anywhere in the name, whatever its case.
/// `None` when no public room name can contain it (a character a name never holds, or longer
/// than a name), so the caller answers an empty list without asking the database. An empty
/// filter is `Some("%")`.
pub fn name_pattern(filter: &str) -> Option<String> {
    let filter = filter.trim().to_ascii_lowercase();
    let fits = filter.len() <= MAX_ROOM_NAME
        && filter
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    // `_` is LIKE's any-one-character: escaped, so "a_b" matches only "a_b".
    fits.then(|| format!("%{}%", filter.replace('_', "\\_")))
}

/// Every public room whose name matches `pattern` (from [`name_pattern`]), by name.
///
/// One statement: the rooms table read once, and for each public room two index lookups (its
/// member count by `room_members_room`, its newest message by the `(room, seq)` unique index at
/// `rooms.last_seq`). The directory's order depends on live online counts, which only the chat
/// server knows, so the ordering and the limit are applied after (`chat::directory::rank`).
pub fn public_rooms(conn: &mut DbConn, pattern: &str) -> Result<Vec<DirectoryRow>, StorageError> {
    let query = PublicRooms { pattern };
    let rows: Vec<(String, i64, Option<i64>)> = with_backend!(conn, c => query.load(c))?;
    Ok(rows
        .into_iter()
        .map(|(name, members, last_activity)| DirectoryRow {
            name,
            members,
            last_activity,
        })
        .collect())
}

/// The names of every public room, by name: the rooms of an announcement to "all".
pub fn public_room_names(conn: &mut DbConn) -> Result<Vec<String>, StorageError> {
    let names = with_backend!(conn, c => rooms::table
        .filter(rooms::name.not_like("support:%"))
        .filter(rooms::name.not_like("notes:%"))
        .select(rooms::name)
        .order(rooms::name.asc())
        .load::<String>(c))?;
    Ok(names)
}

/// Which of `names` are rooms that exist.
pub fn existing_rooms(conn: &mut DbConn, names: &[String]) -> Result<Vec<String>, StorageError> {
    let found = with_backend!(conn, c => rooms::table
        .filter(rooms::name.eq_any(names))
        .select(rooms::name)
        .load::<String>(c))?;
    Ok(found)
}

/// Creates a room explicitly: its row, with no member and no message. `Conflict` when a room
/// of that name exists already (someone created or joined it first). The caller has checked
/// the name is a public one. Created as `creator`'s, within `budget` ([`create_room_as`]).
pub fn create_room(
    conn: &mut DbConn,
    name: &str,
    creator: UserId,
    budget: Option<i64>,
) -> Result<(), StorageError> {
    let created = conn.transaction(|conn| create_room_as(conn, name, creator, budget))?;
    if !created {
        return Err(StorageError::Conflict(format!("room {name} exists")));
    }
    Ok(())
}

/// The directory's statement, written out: correlated subqueries are clearer here than
/// Diesel's group-by over two left joins, and the same text runs on both backends.
#[derive(Debug, Clone, Copy)]
struct PublicRooms<'a> {
    pattern: &'a str,
}

impl<DB> QueryFragment<DB> for PublicRooms<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "SELECT r.name, \
             (SELECT COUNT(*) FROM room_members m WHERE m.room = r.name), \
             (SELECT g.created_at FROM messages g WHERE g.room = r.name AND g.seq = r.last_seq) \
             FROM rooms r \
             WHERE r.name NOT LIKE 'support:%' AND r.name NOT LIKE 'notes:%' AND r.name LIKE ",
        );
        out.push_bind_param::<Text, str>(self.pattern)?;
        out.push_sql(" ESCAPE '\\' ORDER BY r.name");
        Ok(())
    }
}

impl Query for PublicRooms<'_> {
    type SqlType = (Text, BigInt, Nullable<BigInt>);
}

impl QueryId for PublicRooms<'_> {
    type QueryId = PublicRooms<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Conn> RunQueryDsl<Conn> for PublicRooms<'_> {}

#[cfg(test)]
mod tests {
    use super::name_pattern;

    #[test]
    fn a_filter_matches_anywhere_in_the_name_whatever_its_case() {
        assert_eq!(name_pattern("Lob").as_deref(), Some("%lob%"));
        assert_eq!(name_pattern("  ").as_deref(), Some("%%"));
    }

    #[test]
    fn an_underscore_in_a_filter_is_itself_not_any_character() {
        assert_eq!(name_pattern("a_b").as_deref(), Some("%a\\_b%"));
    }

    #[test]
    fn a_filter_no_name_can_contain_asks_nothing() {
        assert_eq!(name_pattern("50%"), None);
        assert_eq!(name_pattern("support:"), None);
        assert_eq!(name_pattern(&"a".repeat(65)), None);
    }
}
