//! Storing a batch of messages on PostgreSQL in two statements, whatever its size (from
//! [`BATCH_FROM`] messages), and a few more only for a batch that needs them (support rooms:
//! the closed-rooms check, webhook events, the conversations' rows).
//!
//! Statement by statement, as on SQLite (in-process calls of a few µs), each statement is a
//! network round trip, three or four per message: at 10,000 messages/s PostgreSQL could not
//! keep up (docs/performance.md). Here each step carries the whole batch in arrays (`unnest`),
//! so a batch costs four round trips (with BEGIN and COMMIT) for three messages or five
//! hundred: reserve each room's seqs (creating missing rooms), insert the messages. The insert
//! leaves out any message whose (room, sender, cid) is stored already; then that attempt is
//! rolled back and the batch is stored again with its earlier copies looked up by cid first (a
//! statement more), as on SQLite (`store_statements`): resends come after a reconnect only.
//! The outcomes are the ones [`super::messages::store_batch`] promises on every backend.
//!
//! A batch of public rooms only goes in one statement instead ([`super::store_pg_one`]: the
//! reserve and the insert in one, committed on its own, one round trip); this transaction is
//! for the batches that need more (support rooms, notes threads) and for every second attempt.

use super::batch::{
    settle_repeats, split_repeats, Attempt, ConversationChanges, Events, NewMessage, StoreOutcome,
    StoredBatch,
};
use super::closed_rooms::closed_support_rooms_pg;
use super::error::StorageError;
use super::store_conversations::{activity_of, record_activity_pg};
use super::store_pg_one::{self, needs_more_than_messages};
use super::webhooks;
use crate::domain::now_millis;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use std::collections::HashMap;

/// The smallest batch stored this way. These statements are planned for every batch (see
/// `planned_each_time`), about 0.2 ms of PostgreSQL's time; a batch of one or two messages
/// costs less through the prepared statement-by-statement path (measured at 800 messages/s:
/// ack p50 2 ms there, 4 ms here).
pub const BATCH_FROM: usize = 3;

/// Earlier copies of the batch's (room, sender, cid) keys.
struct EarlierCopies<'a> {
    rooms: &'a [&'a str],
    senders: &'a [i64],
    cids: &'a [&'a str],
}

impl QueryFragment<Pg> for EarlierCopies<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql("SELECT m.room, m.sender_id, m.cid, m.id, m.seq, m.created_at FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(self.rooms)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(self.senders)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(self.cids)?;
        out.push_sql(
            "::text[]) AS k(room, sender_id, cid) JOIN messages m \
             ON m.room = k.room AND m.sender_id = k.sender_id AND m.cid = k.cid \
             WHERE m.cid IS NOT NULL",
        );
        Ok(())
    }
}

impl Query for EarlierCopies<'_> {
    type SqlType = (Text, BigInt, Text, BigInt, BigInt, BigInt);
}

/// Moves each room's counter on by its count of fresh messages, creating the rooms that have no
/// row yet, in byte order of the names (`COLLATE "C"`, Rust's order of `str`): the row locks,
/// held until COMMIT, are taken in the same order by every writer (the statement-by-statement
/// path of `messages::store_batch` too), so several nodes wait for each other instead of
/// deadlocking. Answers (name, last seq) of each room.
pub(super) struct ReserveSeqs<'a> {
    /// The rooms, in byte order.
    pub names: &'a [&'a str],
    /// How many seqs each takes.
    pub counts: &'a [i64],
    /// The time a created room's row records (ms).
    pub now: i64,
}

impl QueryFragment<Pg> for ReserveSeqs<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.push_sql(out)
    }
}

impl ReserveSeqs<'_> {
    /// The statement's text and binds, for [`ReserveSeqs`] on its own (planned each time) or
    /// as a part of a statement prepared once (`store_pg_one`).
    pub(super) fn push_sql<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("INSERT INTO rooms (name, last_seq, created_at) SELECT name, n, ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(self.names)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(self.counts)?;
        out.push_sql(
            "::bigint[]) AS r(name, n) ORDER BY name COLLATE \"C\" \
             ON CONFLICT (name) DO UPDATE SET last_seq = rooms.last_seq + EXCLUDED.last_seq \
             RETURNING name, last_seq",
        );
        Ok(())
    }
}

impl Query for ReserveSeqs<'_> {
    type SqlType = (Text, BigInt);
}

/// Inserts the fresh messages with their seqs; with `skip_stored`, leaves out those whose
/// (room, sender, cid) is stored already instead of failing.
struct InsertMessages<'a> {
    skip_stored: bool,
    columns: &'a Columns<'a>,
    seqs: &'a [i64],
    now: i64,
}

/// The columns of some messages of a batch, one array each, as the insert statements bind them.
pub(super) struct Columns<'b> {
    /// Each message's room.
    pub rooms: Vec<&'b str>,
    /// Each message's sender.
    pub senders: Vec<i64>,
    /// Each message's cid, if any.
    pub cids: Vec<Option<&'b str>>,
    /// Each message's text.
    pub bodies: Vec<&'b str>,
    /// Each message's kind.
    pub kinds: Vec<&'b str>,
}

impl<'b> Columns<'b> {
    /// The columns of the messages of `batch` at `positions`, in that order.
    pub(super) fn of(batch: &'b [NewMessage], positions: &[usize]) -> Self {
        let each = |i: &usize| &batch[*i];
        Columns {
            rooms: positions.iter().map(|i| each(i).room.as_str()).collect(),
            senders: positions.iter().map(|i| each(i).sender.0).collect(),
            cids: positions.iter().map(|i| each(i).cid.as_deref()).collect(),
            bodies: positions.iter().map(|i| each(i).text.as_str()).collect(),
            kinds: positions.iter().map(|i| each(i).kind.as_str()).collect(),
        }
    }

    /// `unnest(...) AS m(room, <number>, sender_id, cid, body, kind)`: the columns with one
    /// array of numbers more (each message's seq, or its offset from its room's last seq).
    pub(super) fn push_unnest<'q>(
        &'q self,
        numbers: &'q [i64],
        number: &str,
        mut out: AstPass<'_, 'q, Pg>,
    ) -> QueryResult<()> {
        out.push_sql("unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.rooms)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(numbers)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.senders)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.cids)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.bodies)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.kinds)?;
        out.push_sql("::text[]) AS m(room, ");
        out.push_sql(number);
        out.push_sql(", sender_id, cid, body, kind)");
        Ok(())
    }
}

impl QueryFragment<Pg> for InsertMessages<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(
            "INSERT INTO messages (room, seq, sender_id, cid, body, kind, created_at, deleted) \
             SELECT room, seq, sender_id, cid, body, kind, ",
        );
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(", FALSE FROM ");
        self.columns.push_unnest(self.seqs, "seq", out.reborrow())?;
        if self.skip_stored {
            out.push_sql(" ON CONFLICT (room, sender_id, cid) WHERE cid IS NOT NULL DO NOTHING");
        }
        out.push_sql(" RETURNING id, room, seq");
        Ok(())
    }
}

impl Query for InsertMessages<'_> {
    type SqlType = (BigInt, Text, BigInt);
}

/// These statements are planned for each batch, never prepared once and kept: kept (with a
/// static query id), the ack latency at 10,000 messages/s went from 12 to 200 ms, and still to
/// 676 ms at p99 with `plan_cache_mode = force_custom_plan`, so it is not PostgreSQL's generic
/// plan; the cause was not found (docs/performance.md). They now store only the batches that
/// need more than their messages and second attempts; the one statement of `store_pg_one`,
/// which stores the others, is prepared once (with a query id of its own) and measured well.
macro_rules! planned_each_time {
    ($($name:ident),+) => {$(
        impl QueryId for $name<'_> {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl<Conn> RunQueryDsl<Conn> for $name<'_> {}
    )+};
}

planned_each_time!(EarlierCopies, ReserveSeqs, InsertMessages);

/// See [`super::messages::store_batch`]: one transaction, one outcome per message in order.
pub fn store_batch(
    conn: &mut PgConnection,
    batch: &[NewMessage],
    events: Events,
) -> Result<StoredBatch, StorageError> {
    // One statement commits on its own: not inside a transaction of the caller's (the retry
    // with the rooms locked, `messages::store_settled`), where its failure would abort it.
    let one_statement =
        !in_transaction(conn) && !batch.iter().any(|m| needs_more_than_messages(&m.room));
    let first = match one_statement {
        true => store_pg_one::store_batch(conn, batch),
        false => conn.transaction(|conn| store_in(conn, batch, events, Earlier::NoneAssumed)),
    };
    match first {
        Err(Attempt::Resend(_)) => conn
            .transaction(|conn| store_in(conn, batch, events, Earlier::LookedUp))
            .map_err(|e| match e {
                Attempt::Failed(e) => e,
                Attempt::Resend(_) => StorageError::Inconsistent("a stored message was left out"),
            }),
        Err(Attempt::Failed(e)) => Err(e),
        Ok(stored) => Ok(stored),
    }
}

/// Whether `conn` is inside a transaction (or cannot say: then taken as inside).
fn in_transaction(conn: &mut PgConnection) -> bool {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let status = AnsiTransactionManager::transaction_manager_status_mut(conn);
    !matches!(status.transaction_depth(), Ok(None))
}

/// Whether an attempt looks up the batch's earlier copies first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Earlier {
    /// Not: the insert leaves out what is stored already, and then the attempt is given up.
    NoneAssumed,
    /// By cid, before anything is written.
    LookedUp,
}

/// One attempt of [`store_batch`], inside its transaction.
fn store_in(
    conn: &mut PgConnection,
    batch: &[NewMessage],
    events: Events,
    earlier: Earlier,
) -> Result<StoredBatch, Attempt> {
    let mut conversations = ConversationChanges::default();
    let now = now_millis();
    let skip_stored = earlier == Earlier::NoneAssumed;
    let earlier = match earlier {
        Earlier::NoneAssumed => HashMap::new(),
        Earlier::LookedUp => earlier_copies(conn, batch)?,
    };
    let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; batch.len()];
    let (firsts, repeats) = split_repeats(batch);
    let mut fresh: Vec<usize> = Vec::with_capacity(firsts.len());
    let mut fresh_per_room: HashMap<&str, i64> = HashMap::new();
    for i in firsts {
        let m = &batch[i];
        if let Some(cid) = m.cid.as_deref() {
            if let Some(copy) = earlier.get(&(m.room.as_str(), m.sender.0, cid)) {
                outcomes[i] = Some(*copy);
                continue;
            }
        }
        fresh.push(i);
        *fresh_per_room.entry(m.room.as_str()).or_default() += 1;
    }

    if !fresh.is_empty() {
        let mut next_seq = reserve_first_seqs(conn, &fresh_per_room, now)?;
        // Asked with the rooms' rows locked, as a merge locks them (`db::closed_rooms`).
        let rooms: Vec<&str> = fresh_per_room.keys().copied().collect();
        let closed = closed_support_rooms_pg(conn, &rooms)?;
        if !closed.is_empty() {
            let closed = closed.into_iter().map(str::to_owned).collect();
            return Err(StorageError::RoomsClosed(closed).into());
        }
        let seqs: Vec<i64> =
            fresh
                .iter()
                .map(|&i| {
                    let next = next_seq.get_mut(batch[i].room.as_str()).ok_or(
                        StorageError::Inconsistent("a room's seqs were not reserved"),
                    )?;
                    *next += 1;
                    Ok(*next - 1)
                })
                .collect::<Result<_, StorageError>>()?;
        let ids = insert_messages(conn, batch, &fresh, &seqs, now, skip_stored)?;
        let left_out: Vec<usize> = (fresh.iter().zip(&ids))
            .filter(|(_, id)| id.is_none())
            .map(|(&i, _)| i)
            .collect();
        if !left_out.is_empty() {
            return Err(match skip_stored {
                true => Attempt::Resend(left_out),
                false => StorageError::Inconsistent("an inserted message has no id").into(),
            });
        }
        let ids = ids.into_iter().flatten();
        // The events of the support conversations' messages, in seq order within each (the
        // order of `fresh`): one statement more, and only for a batch that has any.
        let mut new_events = Vec::new();
        for ((&i, &seq), id) in fresh.iter().zip(&seqs).zip(ids) {
            outcomes[i] = Some(StoreOutcome::Stored { id, seq, ts: now });
            let room = batch[i].room.as_str();
            if events.for_room(room) {
                webhooks::push_events(&mut new_events, room, id, seq, now);
            }
        }
        webhooks::insert_events_pg(conn, &new_events)?;
        // The support conversations' rows: two statements more, only for a batch that
        // has any.
        let activity = activity_of(batch, fresh.iter().copied());
        conversations = record_activity_pg(conn, &activity, now)?;
    }

    Ok(StoredBatch {
        outcomes: settle_repeats(outcomes, repeats)?,
        conversations,
    })
}

/// Earlier copies of the batch's messages that carry a cid, by (room, sender id, cid).
fn earlier_copies<'b>(
    conn: &mut PgConnection,
    batch: &'b [NewMessage],
) -> Result<HashMap<(&'b str, i64, &'b str), StoreOutcome>, StorageError> {
    let keys: Vec<(&str, i64, &str)> = batch
        .iter()
        .filter_map(|m| Some((m.room.as_str(), m.sender.0, m.cid.as_deref()?)))
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rooms: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let senders: Vec<i64> = keys.iter().map(|k| k.1).collect();
    let cids: Vec<&str> = keys.iter().map(|k| k.2).collect();
    let rows: Vec<(String, i64, String, i64, i64, i64)> = EarlierCopies {
        rooms: &rooms,
        senders: &senders,
        cids: &cids,
    }
    .load(conn)?;
    // The batch's own keys, so that the answer borrows from the batch.
    let position: HashMap<(&str, i64, &str), usize> =
        keys.iter().enumerate().map(|(k, key)| (*key, k)).collect();
    let mut found = HashMap::with_capacity(rows.len());
    for (room, sender, cid, id, seq, ts) in rows {
        if let Some(&k) = position.get(&(room.as_str(), sender, cid.as_str())) {
            found.insert(keys[k], StoreOutcome::Duplicate { id, seq, ts });
        }
    }
    Ok(found)
}

/// Reserves `count` seqs in each room (its row made if missing); answers the first reserved
/// seq of each room.
fn reserve_first_seqs<'b>(
    conn: &mut PgConnection,
    fresh_per_room: &HashMap<&'b str, i64>,
    now: i64,
) -> Result<HashMap<&'b str, i64>, StorageError> {
    let mut rooms: Vec<(&str, i64)> = fresh_per_room.iter().map(|(r, n)| (*r, *n)).collect();
    rooms.sort_unstable();
    let names: Vec<&str> = rooms.iter().map(|(r, _)| *r).collect();
    let counts: Vec<i64> = rooms.iter().map(|(_, n)| *n).collect();
    let rows: Vec<(String, i64)> = ReserveSeqs {
        names: &names,
        counts: &counts,
        now,
    }
    .load(conn)?;
    let mut first_seq = HashMap::with_capacity(rows.len());
    for (name, last_seq) in rows {
        if let Some((&room, &count)) = fresh_per_room.get_key_value(name.as_str()) {
            first_seq.insert(room, last_seq - count + 1);
        }
    }
    Ok(first_seq)
}

/// Inserts the messages at `fresh` with their `seqs`; answers their ids, in the same order:
/// `None` for one left out (with `skip_stored`, one stored before).
fn insert_messages(
    conn: &mut PgConnection,
    batch: &[NewMessage],
    fresh: &[usize],
    seqs: &[i64],
    now: i64,
    skip_stored: bool,
) -> Result<Vec<Option<i64>>, StorageError> {
    let columns = Columns::of(batch, fresh);
    let rows: Vec<(i64, String, i64)> = InsertMessages {
        skip_stored,
        columns: &columns,
        seqs,
        now,
    }
    .load(conn)?;
    // RETURNING does not promise the input's order: match rows by (room, seq), unique.
    let position: HashMap<(&str, i64), usize> = columns
        .rooms
        .iter()
        .zip(seqs)
        .enumerate()
        .map(|(k, (room, seq))| ((*room, *seq), k))
        .collect();
    let mut ids = vec![None; fresh.len()];
    for (id, room, seq) in rows {
        if let Some(&k) = position.get(&(room.as_str(), seq)) {
            ids[k] = Some(id);
        }
    }
    Ok(ids)
}
