//! Message queries: the batched, durable insert that assigns room seqs, and the reads behind
//! `joined`, `history` and recovery.

use super::models::{MessageKind, StoredMessage};
use super::rooms::{ensure_room, reserve_seqs};
use super::schema::{messages, users};
use super::{DbConn, StorageError};
use crate::domain::{now_millis, Role, UserId, UserInfo};
use crate::with_backend;
use diesel::prelude::*;
use std::collections::HashMap;

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The room, as a valid room name.
    pub room: String,
    /// The author.
    pub sender: UserId,
    /// The sender's id for the message, which makes a resend recognisable.
    pub cid: Option<String>,
    /// The text, already checked.
    pub text: String,
    /// Ordinary or an announcement.
    pub kind: MessageKind,
}

/// What became of one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Newly stored: deliver it.
    Stored {
        /// Database id.
        id: i64,
        /// Its seq in the room.
        seq: i64,
        /// Stored at (ms).
        ts: i64,
    },
    /// Stored before under the same cid: ack it again, deliver nothing.
    Duplicate {
        /// Database id of the earlier copy.
        id: i64,
        /// Its seq.
        seq: i64,
        /// Stored at (ms).
        ts: i64,
    },
}

impl StoreOutcome {
    /// The message's seq, new or earlier.
    pub fn seq(&self) -> i64 {
        match *self {
            StoreOutcome::Stored { seq, .. } | StoreOutcome::Duplicate { seq, .. } => seq,
        }
    }
}

/// Stores a batch of messages in one transaction and returns one outcome per message, in order.
///
/// Within each room the fresh messages get consecutive seqs in batch order, reserved on the
/// room's row in the same transaction, so a seq is never seen before its message is committed
/// and never reused. A message whose (room, sender, cid) was stored before (or earlier in the
/// batch) is a `Duplicate` carrying the first copy's seq.
pub fn store_batch(
    conn: &mut DbConn,
    batch: &[NewMessage],
) -> Result<Vec<StoreOutcome>, StorageError> {
    conn.transaction(|conn| {
        let now = now_millis();
        let mut rooms: Vec<&str> = Vec::new();
        for m in batch {
            if !rooms.contains(&m.room.as_str()) {
                rooms.push(&m.room);
            }
        }
        // A write first: SQLite takes its write lock here instead of failing a lock upgrade.
        for room in &rooms {
            ensure_room(conn, room)?;
        }
        let mut outcomes: Vec<Option<StoreOutcome>> = vec![None; batch.len()];
        let mut first_in_batch: HashMap<(&str, UserId, &str), usize> = HashMap::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        for room in rooms {
            let mut fresh = Vec::new();
            for (i, m) in batch.iter().enumerate().filter(|(_, m)| m.room == room) {
                if let Some(cid) = m.cid.as_deref() {
                    if let Some(&first) = first_in_batch.get(&(room, m.sender, cid)) {
                        repeats.push((i, first));
                        continue;
                    }
                    if let Some(earlier) = find_by_cid(conn, room, m.sender, cid)? {
                        outcomes[i] = Some(earlier);
                        continue;
                    }
                    first_in_batch.insert((room, m.sender, cid), i);
                }
                fresh.push(i);
            }
            if fresh.is_empty() {
                continue;
            }
            let count = fresh.len() as i64;
            let first_seq = reserve_seqs(conn, room, count)? - count + 1;
            for (seq, i) in (first_seq..).zip(fresh) {
                let id = insert_message(conn, &batch[i], seq, now)?;
                outcomes[i] = Some(StoreOutcome::Stored { id, seq, ts: now });
            }
        }
        for (i, first) in repeats {
            if let Some(StoreOutcome::Stored { id, seq, ts }) = outcomes[first] {
                outcomes[i] = Some(StoreOutcome::Duplicate { id, seq, ts });
            } else {
                outcomes[i] = outcomes[first];
            }
        }
        Ok(outcomes.into_iter().flatten().collect())
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

/// id, room, seq, sender id, sender name, sender role, text, ts, cid, kind.
type MessageTuple = (
    i64,
    String,
    i64,
    i64,
    String,
    String,
    String,
    i64,
    Option<String>,
    String,
);

fn to_stored(row: MessageTuple) -> StoredMessage {
    let (id, room, seq, sender_id, username, role, text, ts, cid, kind) = row;
    StoredMessage {
        room,
        seq,
        id,
        from: UserInfo {
            id: UserId(sender_id),
            username,
            role: Role::parse(&role).unwrap_or(Role::Guest),
        },
        text,
        ts,
        cid,
        kind: MessageKind::parse(&kind),
    }
}

/// Which slice of a room's messages to read.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    /// The newest `limit` messages.
    Latest,
    /// Messages with seq below this one, newest first up to `limit`.
    Before(i64),
    /// Messages with seq above this one, oldest first up to `limit`.
    After(i64),
}

/// Reads up to `limit` visible messages of a room, returned oldest first, and whether more lie
/// beyond the window (older ones for `Latest`/`Before`, newer ones for `After`).
pub fn read_window(
    conn: &mut DbConn,
    room: &str,
    window: Window,
    limit: i64,
) -> Result<(Vec<StoredMessage>, bool), StorageError> {
    let rows: Vec<MessageTuple> = with_backend!(conn, c => {
        let query = messages::table
            .inner_join(users::table)
            .filter(messages::room.eq(room))
            .filter(messages::deleted.eq(false))
            .select((
                messages::id,
                messages::room,
                messages::seq,
                users::id,
                users::username,
                users::role,
                messages::body,
                messages::created_at,
                messages::cid,
                messages::kind,
            ))
            .limit(limit + 1)
            .into_boxed();
        let query = match window {
            Window::Latest => query.order(messages::seq.desc()),
            Window::Before(seq) => query.filter(messages::seq.lt(seq)).order(messages::seq.desc()),
            Window::After(seq) => query.filter(messages::seq.gt(seq)).order(messages::seq.asc()),
        };
        query.load(c)
    })?;
    let more = rows.len() as i64 > limit;
    let mut out: Vec<StoredMessage> = rows
        .into_iter()
        .take(limit as usize)
        .map(to_stored)
        .collect();
    if !matches!(window, Window::After(_)) {
        out.reverse();
    }
    Ok((out, more))
}
