//! The two multi-row statements of [`super::store_statements`]: reserving the seqs of many
//! rooms at once (creating the rooms that have no row yet), and inserting many messages at
//! once, each answering what it wrote.
//!
//! Why many rows per statement: at 10,000 messages/s over 500 rooms nearly every message of a
//! batch is in a room of its own, so one statement per room and one per message made each
//! message pay for three or four statements (binding, stepping and resetting them, and Diesel's
//! work around each), about as much as SQLite's own work on the rows (measured with callgrind,
//! docs/performance.md).
//!
//! Why fixed sizes: a statement is prepared once per connection and kept only if its SQL text
//! is the same every time. A run of `n` rows is cut into chunks of [`CHUNK_SIZES`] (the binary
//! digits of `n`, at most [`MAX_ROWS`] each), each size a statement of its own with a static
//! query id, so a connection keeps at most seven of each.

use super::batch::NewMessage;
use super::connection::DbConn;
use super::error::StorageError;
use crate::with_backend;
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Nullable, Text};
use std::collections::HashMap;

/// The most rows one statement carries (7 bound values each: far below SQLite's and
/// PostgreSQL's limits on bound values). Chunks of up to 256 rows measured no cheaper per
/// message for batches of 400 (docs/performance.md).
pub const MAX_ROWS: usize = 64;

/// The sizes a run of rows is cut into, largest first.
pub const CHUNK_SIZES: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// A room whose counter moves on by `count` (its first `count` seqs if it has no row yet).
#[derive(Debug, Clone, Copy)]
pub struct RoomCount<'a> {
    /// The room's name.
    pub name: &'a str,
    /// How many seqs to reserve in it (at least 1).
    pub count: i64,
}

/// A message to insert with its seq.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The message.
    pub message: &'a NewMessage,
    /// Its seq, reserved by [`reserve_seqs`] in the same transaction.
    pub seq: i64,
}

/// Runs `$body` with `N` the chunk's length as a constant (one of [`CHUNK_SIZES`]).
macro_rules! load_sized {
    ($len:expr, |N| $body:expr) => {
        load_sized!(@sizes $len, $body, 64 32 16 8 4 2 1)
    };
    (@sizes $len:expr, $body:expr, $($size:literal)+) => {
        match $len {
            $($size => {
                const N: usize = $size;
                $body
            })+
            _ => Err(diesel::result::Error::QueryBuilderError(
                "a chunk of rows has a size that has no statement".into(),
            )),
        }
    };
}

/// Reserves each room's `count` seqs, in the order given, creating the rooms that have no row
/// yet; answers the last reserved seq of each room, in the same order. Rooms must be distinct,
/// and given in byte order of their names: each room's row stays locked until the transaction
/// ends (on PostgreSQL), and every writer locks them in that order, so two writers wait for
/// each other instead of deadlocking.
pub fn reserve_seqs(
    conn: &mut DbConn,
    rooms: &[RoomCount<'_>],
    now: i64,
) -> Result<Vec<i64>, StorageError> {
    let mut last = Vec::with_capacity(rooms.len());
    for chunk in chunks(rooms) {
        let answer: Vec<(String, i64)> = with_backend!(conn, c => load_sized!(
            chunk.len(),
            |N| ReserveRooms::<N> { rooms: chunk, now }.load(c)
        ))?;
        // The answer's order is not promised: it is checked, and matched by name if it differs.
        let in_order = answer.len() == chunk.len()
            && answer
                .iter()
                .zip(chunk)
                .all(|((name, _), r)| name == r.name);
        if in_order {
            last.extend(answer.into_iter().map(|(_, seq)| seq));
        } else {
            let by_name: HashMap<String, i64> = answer.into_iter().collect();
            for r in chunk {
                last.push(*by_name.get(r.name).ok_or(StorageError::Inconsistent(
                    "a room's seqs were not reserved",
                ))?);
            }
        }
    }
    Ok(last)
}

/// Inserts the rows, in the order given, except those whose (room, sender, cid) is stored
/// already: answers each row's id, in the same order, `None` for a row left out that way (a
/// resend). Any other conflict (a seq taken) fails the statement.
pub fn insert_messages(
    conn: &mut DbConn,
    rows: &[Row<'_>],
    now: i64,
) -> Result<Vec<Option<i64>>, StorageError> {
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in chunks(rows) {
        let answer: Vec<(i64, String, i64)> = with_backend!(conn, c => load_sized!(
            chunk.len(),
            |N| InsertRows::<N> { rows: chunk, now }.load(c)
        ))?;
        let in_order = answer.len() == chunk.len()
            && answer
                .iter()
                .zip(chunk)
                .all(|((_, room, seq), r)| *seq == r.seq && *room == r.message.room);
        if in_order {
            ids.extend(answer.into_iter().map(|(id, _, _)| Some(id)));
        } else {
            let by_key: HashMap<(String, i64), i64> = answer
                .into_iter()
                .map(|(id, room, seq)| ((room, seq), id))
                .collect();
            for r in chunk {
                // Rows are few here (a resend, or an answer out of order): a key per row is
                // cheap enough.
                ids.push(by_key.get(&(r.message.room.clone(), r.seq)).copied());
            }
        }
    }
    Ok(ids)
}

/// `items` cut into consecutive chunks whose lengths are in [`CHUNK_SIZES`].
pub fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        let size = CHUNK_SIZES.into_iter().find(|&s| s <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// `INSERT INTO rooms .. VALUES (name, count, now), .. ON CONFLICT (name) DO UPDATE SET
/// last_seq = rooms.last_seq + excluded.last_seq RETURNING name, last_seq`, with `N` rows.
struct ReserveRooms<'a, const N: usize> {
    rooms: &'a [RoomCount<'a>],
    now: i64,
}

impl<DB, const N: usize> QueryFragment<DB> for ReserveRooms<'_, N>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if self.rooms.len() != N {
            return Err(diesel::result::Error::QueryBuilderError(
                "rooms do not fit the statement".into(),
            ));
        }
        out.push_sql("INSERT INTO rooms (name, last_seq, created_at) VALUES ");
        for (k, room) in self.rooms.iter().enumerate() {
            out.push_sql(if k == 0 { "(" } else { ", (" });
            out.push_bind_param::<Text, str>(room.name)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(&room.count)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(&self.now)?;
            out.push_sql(")");
        }
        out.push_sql(
            " ON CONFLICT (name) DO UPDATE SET last_seq = rooms.last_seq + excluded.last_seq \
             RETURNING name, last_seq",
        );
        Ok(())
    }
}

impl<const N: usize> Query for ReserveRooms<'_, N> {
    type SqlType = (Text, BigInt);
}

/// `INSERT INTO messages .. VALUES (..), .. ON CONFLICT (room, sender_id, cid) WHERE cid IS
/// NOT NULL DO NOTHING RETURNING id, room, seq`, with `N` rows. The conflict target is the
/// resend index only, so a taken seq still fails the statement.
struct InsertRows<'a, const N: usize> {
    rows: &'a [Row<'a>],
    now: i64,
}

impl<DB, const N: usize> QueryFragment<DB> for InsertRows<'_, N>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if self.rows.len() != N {
            return Err(diesel::result::Error::QueryBuilderError(
                "rows do not fit the statement".into(),
            ));
        }
        out.push_sql(
            "INSERT INTO messages (room, seq, sender_id, cid, body, created_at, deleted, kind) \
             VALUES ",
        );
        for (k, row) in self.rows.iter().enumerate() {
            let m = row.message;
            out.push_sql(if k == 0 { "(" } else { ", (" });
            out.push_bind_param::<Text, str>(&m.room)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(&row.seq)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(&m.sender.0)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, Option<String>>(&m.cid)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, str>(&m.text)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(&self.now)?;
            out.push_sql(", FALSE, ");
            out.push_bind_param::<Text, str>(m.kind.as_str())?;
            out.push_sql(")");
        }
        out.push_sql(
            " ON CONFLICT (room, sender_id, cid) WHERE cid IS NOT NULL DO NOTHING \
             RETURNING id, room, seq",
        );
        Ok(())
    }
}

impl<const N: usize> Query for InsertRows<'_, N> {
    type SqlType = (BigInt, Text, BigInt);
}

/// A statement per size: a static query id per `N` lets Diesel prepare each once per
/// connection and keep it.
macro_rules! cached_per_size {
    ($($name:ident),+) => {$(
        impl<const N: usize> QueryId for $name<'_, N> {
            type QueryId = $name<'static, N>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<Conn, const N: usize> RunQueryDsl<Conn> for $name<'_, N> {}
    )+};
}

cached_per_size!(ReserveRooms, InsertRows);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_rows_is_cut_into_the_binary_digits_of_its_length() {
        let lengths = |n: usize| -> Vec<usize> {
            let items = vec![0u8; n];
            chunks(&items).map(<[u8]>::len).collect()
        };
        assert_eq!(lengths(0), Vec::<usize>::new());
        assert_eq!(lengths(1), [1]);
        assert_eq!(lengths(50), [32, 16, 2]);
        assert_eq!(lengths(64), [64]);
        assert_eq!(lengths(200), [64, 64, 64, 8]);
        assert_eq!(CHUNK_SIZES[0], MAX_ROWS);
    }

    #[test]
    fn every_chunk_size_has_its_statement() {
        for size in CHUNK_SIZES {
            let n: Result<usize, diesel::result::Error> = load_sized!(size, |N| Ok(N));
            assert_eq!(n.unwrap(), size);
        }
        let none: Result<usize, diesel::result::Error> = load_sized!(3, |N| Ok(N));
        assert!(none.is_err());
    }
}
