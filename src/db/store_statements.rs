//! Storing a batch through statements prepared once: every batch on SQLite (whose calls stay
//! in the process, a few µs each) and small ones on PostgreSQL (see
//! [`super::store_pg_arrays::BATCH_FROM`]).
//!
//! A batch is first stored assuming it holds no resend of a message stored before (resends
//! within the batch are recognised in memory): one statement reserves the seqs of all its
//! rooms and one inserts all its messages ([`super::store_rows`], a few statements more for a
//! large batch). The insert leaves out any message whose (room, sender, cid) is stored already
//! and says so; then that attempt is rolled back and the batch is stored again, the messages
//! left out looked up by cid first. Resends come after a reconnect only, so nearly every batch
//! takes the first way, and a batch with a resend costs about twice as much.

use super::batch::{
    settle_repeats, split_repeats, Attempt, Events, NewMessage, StoreOutcome, StoredBatch,
};
use super::closed_rooms::closed_support_rooms;
use super::connection::DbConn;
use super::error::StorageError;
use super::rooms::ensure_room;
use super::schema::messages;
use super::store_conversations::{activity_of, record_activity};
use super::store_rows::{self, RoomCount, Row};
use super::webhooks;
use crate::domain::{now_millis, UserId};
use crate::with_backend;
use diesel::prelude::*;
use std::collections::HashMap;

/// See [`super::messages::store_batch`]: one transaction, one outcome per message in order.
pub fn store_batch(
    conn: &mut DbConn,
    batch: &[NewMessage],
    events: Events,
) -> Result<Vec<StoreOutcome>, StorageError> {
    store_batch_tracked(conn, batch, events).map(|stored| stored.outcomes)
}

/// [`store_batch`], answering also the support conversations it created or reopened.
pub fn store_batch_tracked(
    conn: &mut DbConn,
    batch: &[NewMessage],
    events: Events,
) -> Result<StoredBatch, StorageError> {
    if batch.is_empty() {
        return Ok(StoredBatch::default());
    }
    let plan = Plan::of(batch);
    match conn.transaction(|conn| plan.store(conn, events, &HashMap::new())) {
        Ok(outcomes) => Ok(outcomes),
        Err(Attempt::Failed(e)) => Err(e),
        Err(Attempt::Resend(left_out)) => {
            let again = conn.transaction(|conn| {
                // A write first: SQLite takes its write lock here instead of failing a lock
                // upgrade after the reads.
                ensure_room(conn, &batch[left_out[0]].room)?;
                let earlier = plan.earlier_copies(conn, &left_out)?;
                plan.store(conn, events, &earlier)
            });
            match again {
                Ok(outcomes) => Ok(outcomes),
                Err(Attempt::Failed(e)) => Err(e),
                // Only another writer (another node on PostgreSQL) storing another of the
                // batch's messages between the two attempts gets here.
                Err(Attempt::Resend(_)) => Err(StorageError::Conflict(
                    "a resend was stored by another writer at the same time".to_owned(),
                )),
            }
        }
    }
}

/// A batch sorted for storing: rooms in byte order, and the repeats within the batch.
struct Plan<'b> {
    batch: &'b [NewMessage],
    /// Each room with the positions of its messages in batch order, repeats left out; rooms in
    /// byte order of their names, the order every writer locks room rows in (see
    /// `store_pg_arrays`), so two nodes sharing PostgreSQL wait for each other instead of
    /// deadlocking.
    rooms: Vec<(&'b str, Vec<usize>)>,
    /// `(repeat, first)`: a message whose (room, sender, cid) came earlier in the batch.
    repeats: Vec<(usize, usize)>,
}

impl<'b> Plan<'b> {
    fn of(batch: &'b [NewMessage]) -> Plan<'b> {
        let (firsts, repeats) = split_repeats(batch);
        let mut rooms: Vec<(&str, Vec<usize>)> = Vec::new();
        let mut room_slot: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
        for i in firsts {
            let m = &batch[i];
            let slot = *room_slot.entry(m.room.as_str()).or_insert_with(|| {
                rooms.push((m.room.as_str(), Vec::new()));
                rooms.len() - 1
            });
            rooms[slot].1.push(i);
        }
        rooms.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Plan {
            batch,
            rooms,
            repeats,
        }
    }

    /// The earlier copies of the messages at `positions`, by position in the batch.
    fn earlier_copies(
        &self,
        conn: &mut DbConn,
        positions: &[usize],
    ) -> Result<HashMap<usize, StoreOutcome>, StorageError> {
        let mut earlier = HashMap::new();
        for &i in positions {
            let m = &self.batch[i];
            if let Some(cid) = m.cid.as_deref() {
                if let Some(copy) = find_by_cid(conn, &m.room, m.sender, cid)? {
                    earlier.insert(i, copy);
                }
            }
        }
        Ok(earlier)
    }

    /// Stores the messages that are neither repeats nor in `earlier`; the others get the
    /// outcome of their first copy. [`Attempt::Resend`] with the messages that turn out to be
    /// stored before after all.
    fn store(
        &self,
        conn: &mut DbConn,
        events: Events,
        earlier: &HashMap<usize, StoreOutcome>,
    ) -> Result<StoredBatch, Attempt> {
        let now = now_millis();
        let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; self.batch.len()];
        for (&i, copy) in earlier {
            outcomes[i] = Some(*copy);
        }
        let counts: Vec<RoomCount<'b>> = self
            .rooms
            .iter()
            .map(|(name, positions)| RoomCount {
                name,
                count: fresh(positions, earlier).count() as i64,
            })
            .filter(|r| r.count > 0)
            .collect();
        let last_seqs = store_rows::reserve_seqs(conn, &counts, now)?;
        // Asked with the rooms' rows locked, as a merge locks them (`db::closed_rooms`); one
        // query, and none for a batch of public rooms only.
        let names: Vec<&str> = counts.iter().map(|r| r.name).collect();
        let closed = closed_support_rooms(conn, &names)?;
        if !closed.is_empty() {
            let closed = closed.into_iter().map(str::to_owned).collect();
            return Err(StorageError::RoomsClosed(closed).into());
        }
        let mut last_of = last_seqs.into_iter();

        let mut rows: Vec<Row<'b>> = Vec::with_capacity(self.batch.len());
        let mut positions: Vec<usize> = Vec::with_capacity(self.batch.len());
        for (_, room_positions) in &self.rooms {
            let count = fresh(room_positions, earlier).count() as i64;
            if count == 0 {
                continue;
            }
            let last = last_of.next().ok_or(StorageError::Inconsistent(
                "a room's seqs were not reserved",
            ))?;
            for (seq, i) in (last - count + 1..).zip(fresh(room_positions, earlier)) {
                rows.push(Row {
                    message: &self.batch[i],
                    seq,
                });
                positions.push(i);
            }
        }
        let ids = store_rows::insert_messages(conn, &rows, now)?;
        let left_out: Vec<usize> = positions
            .iter()
            .zip(&ids)
            .filter(|(_, id)| id.is_none())
            .map(|(&i, _)| i)
            .collect();
        if !left_out.is_empty() {
            return Err(Attempt::Resend(left_out));
        }

        // Events in seq order within each conversation (the order of `rows`).
        let mut new_events = Vec::new();
        for ((row, &i), id) in rows.iter().zip(&positions).zip(ids) {
            let id = id.ok_or(StorageError::Inconsistent("an inserted message has no id"))?;
            let seq = row.seq;
            outcomes[i] = Some(StoreOutcome::Stored { id, seq, ts: now });
            let room = row.message.room.as_str();
            if events.for_room(room) {
                webhooks::push_events(&mut new_events, room, id, seq, now);
            }
        }
        // Only support conversations with webhooks on: a public room costs no statement.
        webhooks::insert_events(conn, &new_events)?;
        // Likewise the conversations' rows: none for a batch of public rooms.
        let activity = activity_of(self.batch, positions.iter().copied());
        let conversations = record_activity(conn, &activity, now)?;
        Ok(StoredBatch {
            outcomes: settle_repeats(outcomes, self.repeats.clone())?,
            conversations,
        })
    }
}

/// The positions that are not earlier copies.
fn fresh<'p>(
    positions: &'p [usize],
    earlier: &'p HashMap<usize, StoreOutcome>,
) -> impl Iterator<Item = usize> + 'p {
    positions
        .iter()
        .copied()
        .filter(move |i| !earlier.contains_key(i))
}

fn find_by_cid(
    conn: &mut DbConn,
    room: &str,
    sender: UserId,
    cid: &str,
) -> Result<Option<StoreOutcome>, StorageError> {
    let row = with_backend!(conn, c => messages::table
        .filter(messages::room.eq(room))
        .filter(messages::sender_id.eq(sender.0))
        .filter(messages::cid.eq(cid))
        .select((messages::id, messages::seq, messages::created_at))
        .get_result::<(i64, i64, i64)>(c)
        .optional())?;
    Ok(row.map(|(id, seq, ts)| StoreOutcome::Duplicate { id, seq, ts }))
}
