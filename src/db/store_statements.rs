//! Storing a batch statement by statement, through statements prepared once: every batch on
//! SQLite (whose calls stay in the process, a few µs each) and small ones on PostgreSQL (see
//! [`super::store_pg_arrays::BATCH_FROM`]).

use super::batch::{settle_repeats, Events, NewMessage, StoreOutcome};
use super::closed_rooms::closed_support_rooms;
use super::connection::DbConn;
use super::error::StorageError;
use super::rooms::{ensure_room, reserve_seqs};
use super::schema::messages;
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
    conn.transaction(|conn| {
        let now = now_millis();
        // The batch's messages room by room, rooms in byte order of their names: the order
        // every writer locks room rows in (see `store_pg_arrays`), so two nodes sharing PostgreSQL
        // wait for each other instead of deadlocking.
        let mut rooms: Vec<(&str, Vec<usize>)> = Vec::new();
        let mut room_slot: HashMap<&str, usize> = HashMap::new();
        for (i, m) in batch.iter().enumerate() {
            let slot = *room_slot.entry(m.room.as_str()).or_insert_with(|| {
                rooms.push((m.room.as_str(), Vec::new()));
                rooms.len() - 1
            });
            rooms[slot].1.push(i);
        }
        rooms.sort_unstable_by(|a, b| a.0.cmp(b.0));
        // A write first: SQLite takes its write lock here instead of failing a lock upgrade.
        for (room, _) in &rooms {
            ensure_room(conn, room)?;
        }
        let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; batch.len()];
        let mut first_in_batch: HashMap<(UserId, &str), usize> = HashMap::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        for (room, members) in rooms {
            first_in_batch.clear();
            let mut fresh = Vec::new();
            for i in members {
                let m = &batch[i];
                if let Some(cid) = m.cid.as_deref() {
                    if let Some(&first) = first_in_batch.get(&(m.sender, cid)) {
                        repeats.push((i, first));
                        continue;
                    }
                    if let Some(earlier) = find_by_cid(conn, room, m.sender, cid)? {
                        outcomes[i] = Some(earlier);
                        continue;
                    }
                    first_in_batch.insert((m.sender, cid), i);
                }
                fresh.push(i);
            }
            if fresh.is_empty() {
                continue;
            }
            let count = fresh.len() as i64;
            let first_seq = reserve_seqs(conn, room, count)? - count + 1;
            // Asked with the room's row locked, as a merge locks it (`db::closed_rooms`).
            if !closed_support_rooms(conn, &[room])?.is_empty() {
                return Err(StorageError::RoomsClosed(vec![room.to_owned()]));
            }
            let mut room_events = Vec::new();
            let with_events = events.for_room(room);
            for (seq, i) in (first_seq..).zip(fresh) {
                let id = insert_message(conn, &batch[i], seq, now)?;
                outcomes[i] = Some(StoreOutcome::Stored { id, seq, ts: now });
                if with_events {
                    webhooks::push_events(&mut room_events, room, id, seq, now);
                }
            }
            // Only support conversations with webhooks on: a public room costs no statement.
            webhooks::insert_events(conn, &room_events)?;
        }
        settle_repeats(outcomes, repeats)
    })
}

fn insert_message(
    conn: &mut DbConn,
    m: &NewMessage,
    seq: i64,
    now: i64,
) -> Result<i64, StorageError> {
    let id = with_backend!(conn, c => diesel::insert_into(messages::table)
        .values((
            messages::room.eq(&m.room),
            messages::seq.eq(seq),
            messages::sender_id.eq(m.sender.0),
            messages::cid.eq(m.cid.as_deref()),
            messages::body.eq(&m.text),
            messages::created_at.eq(now),
            messages::deleted.eq(false),
            messages::kind.eq(m.kind.as_str()),
        ))
        .returning(messages::id)
        .get_result::<i64>(c))?;
    Ok(id)
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
