//! Storing a batch of public-room messages on PostgreSQL in one statement, committed on its own:
//! the rooms' seqs are reserved in a data-modifying `WITH` and the messages inserted with them.
//!
//! [`super::store_pg_arrays`] needs four round trips for the same batch (BEGIN, reserve, insert,
//! COMMIT), and the writer's connection waits on each. With one, a commit's cycle is shorter and
//! a backlog drains sooner; and since its text never changes, the statement is prepared once per
//! connection ([`StoreInOneId`]) instead of parsed and planned for every batch
//! (docs/performance.md, "Issue 13, PostgreSQL's ack tail"). Only a batch whose
//! rooms need nothing more goes this way: support rooms and notes threads need the closed-rooms
//! check, webhook events and the conversations' rows, in the same transaction
//! ([`needs_more_than_messages`]).
//!
//! The insert has no `ON CONFLICT`: a resend of a stored message breaks the unique cid index, the
//! whole statement is rolled back (nothing reserved, nothing stored), and the caller stores the
//! batch again the way that looks its earlier copies up first ([`Attempt::Resend`]). So the
//! statement is only sent outside any transaction (`store_pg_arrays::store_batch`): inside one,
//! its failure would abort the caller's transaction.

use super::batch::{settle_repeats, split_repeats, Attempt, NewMessage, StoreOutcome, StoredBatch};
use super::error::StorageError;
use super::store_pg_arrays::{Columns, ReserveSeqs};
use crate::domain::{now_millis, NOTES_PREFIX, SUPPORT_PREFIX};
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Text};
use std::collections::HashMap;

/// Whether messages of `room` need statements besides reserving seqs and inserting: support
/// rooms and notes threads (the closed-rooms check, webhook events, the conversations' rows).
pub fn needs_more_than_messages(room: &str) -> bool {
    room.starts_with(SUPPORT_PREFIX) || room.starts_with(NOTES_PREFIX)
}

/// Where each fresh message of a batch goes in its room.
#[derive(Debug, PartialEq, Eq)]
struct Places<'b> {
    /// Each message's rank among its room's messages in the batch (0 for the first).
    ranks: Vec<i64>,
    /// Each message's seq relative to its room's last seq once reserved (0 for the last).
    offsets: Vec<i64>,
    /// The rooms in byte order (the order their rows are locked in), with their counts.
    rooms: Vec<(&'b str, i64)>,
}

/// The places of messages in `rooms` (each message's room, in batch order).
fn places<'b>(rooms: &[&'b str]) -> Places<'b> {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    let ranks: Vec<i64> = rooms
        .iter()
        .map(|room| {
            let n = counts.entry(room).or_default();
            *n += 1;
            *n - 1
        })
        .collect();
    let offsets = rooms
        .iter()
        .zip(&ranks)
        .map(|(room, rank)| rank + 1 - counts[room])
        .collect();
    let mut by_name: Vec<(&str, i64)> = counts.into_iter().collect();
    by_name.sort_unstable();
    Places {
        ranks,
        offsets,
        rooms: by_name,
    }
}

/// The statement: [`ReserveSeqs`] as `reserved`, then the messages at `reserved.last_seq + off`.
struct StoreInOne<'a> {
    reserve: ReserveSeqs<'a>,
    columns: &'a Columns<'a>,
    offsets: &'a [i64],
    now: i64,
}

impl QueryFragment<Pg> for StoreInOne<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH reserved AS (");
        self.reserve.push_sql(out.reborrow())?;
        out.push_sql(
            ") INSERT INTO messages (room, seq, sender_id, cid, body, kind, created_at, deleted) \
             SELECT m.room, r.last_seq + m.off, m.sender_id, m.cid, m.body, m.kind, ",
        );
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(", FALSE FROM ");
        self.columns
            .push_unnest(self.offsets, "off", out.reborrow())?;
        out.push_sql(" JOIN reserved r ON r.name = m.room RETURNING id, room, seq");
        Ok(())
    }
}

impl Query for StoreInOne<'_> {
    type SqlType = (BigInt, Text, BigInt);
}

/// The query id of [`StoreInOne`], whose text never changes: the statement is prepared once
/// per connection and kept (diesel's cache, by this type alone: a condition in `walk_ast` that
/// changed the text would run the first text prepared; a test holds the text constant). Parsing and planning it for every
/// batch cost about 11 % of the PostgreSQL backend's CPU at 10,000 messages/s, and the ack p99
/// 0.5-1.5 ms (docs/performance.md).
pub struct StoreInOneId;

impl QueryId for StoreInOne<'_> {
    type QueryId = StoreInOneId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Conn> RunQueryDsl<Conn> for StoreInOne<'_> {}

/// Stores `batch` (none of whose rooms [`needs_more_than_messages`]) in one statement, outside
/// any transaction; [`Attempt::Resend`] (and nothing written) when it breaks a unique index: a
/// resend of a stored message (the cid index), or anything else that the second attempt, which
/// looks earlier copies up first, will then answer or fail on itself.
pub(super) fn store_batch(
    conn: &mut PgConnection,
    batch: &[NewMessage],
) -> Result<StoredBatch, Attempt> {
    let now = now_millis();
    let (fresh, repeats) = split_repeats(batch);
    let columns = Columns::of(batch, &fresh);
    let places = places(&columns.rooms);
    let names: Vec<&str> = places.rooms.iter().map(|(r, _)| *r).collect();
    let counts: Vec<i64> = places.rooms.iter().map(|(_, n)| *n).collect();
    let statement = StoreInOne {
        reserve: ReserveSeqs {
            names: &names,
            counts: &counts,
            now,
        },
        columns: &columns,
        offsets: &places.offsets,
        now,
    };
    let rows: Vec<(i64, String, i64)> = match statement.load(conn) {
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            return Err(Attempt::Resend((0..batch.len()).collect()));
        }
        other => other?,
    };
    // All or nothing: the statement either failed above or inserted (and committed) every
    // message, so the errors below cannot happen. RETURNING does not promise the input's
    // order, so each room's first seq is its smallest.
    if rows.len() != fresh.len() {
        return Err(StorageError::Inconsistent("an inserted message has no id").into());
    }
    let mut first_seq: HashMap<&str, i64> = HashMap::with_capacity(places.rooms.len());
    for (_, room, seq) in &rows {
        let first = first_seq.entry(room.as_str()).or_insert(*seq);
        *first = (*first).min(*seq);
    }
    let ids: HashMap<(&str, i64), i64> = rows
        .iter()
        .map(|(id, room, seq)| ((room.as_str(), *seq), *id))
        .collect();
    let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; batch.len()];
    for ((&i, room), rank) in fresh.iter().zip(&columns.rooms).zip(&places.ranks) {
        let seq = first_seq.get(room).copied().unwrap_or_default() + rank;
        let id = ids
            .get(&(*room, seq))
            .copied()
            .ok_or(StorageError::Inconsistent("an inserted message has no id"))?;
        outcomes[i] = Some(StoreOutcome::Stored { id, seq, ts: now });
    }
    Ok(StoredBatch {
        outcomes: settle_repeats(outcomes, repeats)?,
        conversations: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_room_s_messages_take_the_seqs_just_reserved_in_batch_order() {
        let places = places(&["b", "a", "b", "c", "b"]);
        assert_eq!(places.ranks, vec![0, 0, 1, 0, 2]);
        // Room b reserved three seqs up to its last_seq L: its messages get L-2, L-1, L.
        assert_eq!(places.offsets, vec![-2, 0, -1, 0, 0]);
        assert_eq!(places.rooms, vec![("a", 1), ("b", 3), ("c", 1)]);
    }

    #[test]
    fn the_statement_s_text_is_the_same_for_any_batch() {
        let text = |rooms: &[&str], cids: &[Option<&str>]| {
            let places = places(rooms);
            let names: Vec<&str> = places.rooms.iter().map(|(r, _)| *r).collect();
            let counts: Vec<i64> = places.rooms.iter().map(|(_, n)| *n).collect();
            let n = rooms.len();
            let columns = Columns {
                rooms: rooms.to_vec(),
                senders: vec![7; n],
                cids: cids.to_vec(),
                bodies: vec!["hi"; n],
                kinds: vec!["text"; n],
            };
            let statement = StoreInOne {
                reserve: ReserveSeqs {
                    names: &names,
                    counts: &counts,
                    now: 1,
                },
                columns: &columns,
                offsets: &places.offsets,
                now: 1,
            };
            let shown = diesel::debug_query::<Pg, _>(&statement).to_string();
            shown
                .split("-- binds")
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let one = text(&["lobby"], &[None]);
        let many = text(
            &["b", "a", "b", "c", "b"],
            &[Some("1"), None, Some("2"), Some("3"), None],
        );
        assert_eq!(one, many);
        assert!(
            one.starts_with("WITH reserved AS (INSERT INTO rooms"),
            "{one}"
        );
    }

    #[test]
    fn public_rooms_go_in_one_statement_and_support_rooms_and_notes_do_not() {
        assert!(!needs_more_than_messages("general"));
        assert!(!needs_more_than_messages("lobby-2"));
        assert!(needs_more_than_messages("support:42"));
        assert!(needs_more_than_messages("notes:42"));
    }
}
