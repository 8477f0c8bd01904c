//! Full-text search of support conversations and their notes threads
//! (`GET /api/admin/search`): every word of the query must occur, newest first, deleted
//! messages left out. Each backend matches with its own engine, over an index that holds
//! only support and notes messages (migration `000010_canned_search`): SQLite an FTS5 table
//! fed by a trigger on insert, PostgreSQL a partial GIN index on `to_tsvector('simple', body)`.
//! The engine gives the ids of the page; the messages and their customers are then read as
//! everywhere else.

use super::connection::DbConn;
use super::error::StorageError;
use super::messages::{message_columns, to_stored, MessageTuple};
use super::models::{StoredMessage, UserRow};
use super::schema::{messages, users};
use crate::domain::{RoomKind, RoomName, UserInfo};
use crate::with_backend;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use std::collections::HashMap;

/// One message found, with the customer of its conversation.
#[derive(Debug, Clone)]
pub struct SearchHit {
    /// The message (its room `support:<id>` or `notes:<id>`).
    pub message: StoredMessage,
    /// The conversation's customer.
    pub customer: UserInfo,
}

/// An id the engine found.
#[derive(QueryableByName)]
struct FoundId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// FTS5 over the trigger-fed index. The room filter repeats what the trigger indexes (the
/// backfill and the trigger are the only writers, so it costs nothing and says what is meant).
const SQLITE_SEARCH: &str = "SELECT m.id AS id FROM messages m \
     WHERE m.id IN (SELECT rowid FROM messages_search WHERE messages_search MATCH ?) \
       AND m.deleted = 0 AND (m.room LIKE 'support:%' OR m.room LIKE 'notes:%') \
     ORDER BY m.created_at DESC, m.id DESC LIMIT ?";

/// The partial index is used only when the query repeats its WHERE and its expression
/// exactly: keep them in step with the migration.
const POSTGRES_SEARCH: &str = "SELECT id FROM messages \
     WHERE (room LIKE 'support:%' OR room LIKE 'notes:%') \
       AND to_tsvector('simple', body) @@ plainto_tsquery('simple', $1) \
       AND deleted = false \
     ORDER BY created_at DESC, id DESC LIMIT $2";

/// The FTS5 query for what a person typed: each white-space separated word as a quoted
/// string (a `"` in it doubled), so that nothing typed is ever FTS5 syntax (`AND`, `*`, `(`,
/// `NEAR`, `col:`) and every word must occur. A word FTS5 reads no token in (`(`) matches
/// nothing on its own and is passed over beside others. None when there is no word.
pub fn fts5_query(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split_whitespace()
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The newest `limit` messages of support conversations and notes threads holding every
/// word of `q`, newest first, deleted ones left out.
pub fn search_messages(
    conn: &mut DbConn,
    q: &str,
    limit: i64,
) -> Result<Vec<SearchHit>, StorageError> {
    let found: Vec<FoundId> = match conn {
        DbConn::Sqlite(c) => {
            let Some(query) = fts5_query(q) else {
                return Ok(Vec::new());
            };
            diesel::sql_query(SQLITE_SEARCH)
                .bind::<Text, _>(query)
                .bind::<BigInt, _>(limit)
                .load(c)?
        }
        DbConn::Postgres(c) => diesel::sql_query(POSTGRES_SEARCH)
            .bind::<Text, _>(q)
            .bind::<BigInt, _>(limit)
            .load(c)?,
    };
    let ids: Vec<i64> = found.into_iter().map(|f| f.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = with_backend!(conn, c => messages::table
        .inner_join(users::table)
        .filter(messages::id.eq_any(&ids))
        .select(message_columns!())
        .load::<MessageTuple>(c))?;
    let mut by_id: HashMap<i64, StoredMessage> =
        rows.into_iter().map(to_stored).map(|m| (m.id, m)).collect();
    let owners: Vec<i64> = by_id.values().filter_map(owner_of).collect();
    let customers: HashMap<i64, UserInfo> = with_backend!(conn, c => users::table
        .filter(users::id.eq_any(&owners))
        .select(UserRow::as_select())
        .load(c))?
    .into_iter()
    .map(|row| (row.id, row.info()))
    .collect();
    // In the engine's order; a message whose customer is gone is left out (cannot be: a
    // customer with messages is never deleted, a merged guest's messages moved on).
    let hits = ids
        .into_iter()
        .filter_map(|id| {
            let message = by_id.remove(&id)?;
            let customer = customers.get(&owner_of(&message)?)?.clone();
            Some(SearchHit { message, customer })
        })
        .collect();
    Ok(hits)
}

/// The customer id of a support or notes message's room.
fn owner_of(message: &StoredMessage) -> Option<i64> {
    match RoomName::parse(&message.room).ok()?.kind() {
        RoomKind::Support(owner) | RoomKind::Notes(owner) => Some(owner.0),
        RoomKind::Public => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typed_word_is_a_quoted_string_never_fts5_syntax() {
        assert_eq!(
            fts5_query("  refund  order ").as_deref(),
            Some(r#""refund" "order""#)
        );
        assert_eq!(
            fts5_query(r#"say "hi" AND * (x) NEAR col:y"#).as_deref(),
            Some(r#""say" """hi""" "AND" "*" "(x)" "NEAR" "col:y""#)
        );
        assert_eq!(fts5_query(" \t\n"), None);
    }
}
