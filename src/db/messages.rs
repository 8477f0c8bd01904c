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
///
/// On PostgreSQL a batch of [`super::messages_pg::BATCH_FROM`] messages or more goes in three
/// statements ([`super::messages_pg`]); smaller ones, and every batch on SQLite (whose calls
/// stay in the process), statement by statement, through statements prepared once.
pub fn store_batch(
    conn: &mut DbConn,
    batch: &[NewMessage],
) -> Result<Vec<StoreOutcome>, StorageError> {
    match conn {
        DbConn::Postgres(pg) if batch.len() >= super::messages_pg::BATCH_FROM => {
            return super::messages_pg::store_batch(pg, batch);
        }
        _ => {}
    }
    conn.transaction(|conn| {
        let now = now_millis();
        // The batch's messages room by room, rooms in byte order of their names: the order
        // every writer locks room rows in (see `messages_pg`), so two nodes sharing PostgreSQL
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
            for (seq, i) in (first_seq..).zip(fresh) {
                let id = insert_message(conn, &batch[i], seq, now)?;
                outcomes[i] = Some(StoreOutcome::Stored { id, seq, ts: now });
            }
        }
        settle_repeats(outcomes, repeats)
    })
}

/// The outcomes of a batch once the repeats inside it, `(repeat, first)` pairs, get the
/// outcome of their first copy: a `Duplicate` of it.
pub(super) fn settle_repeats(
    mut outcomes: Vec<Option<StoreOutcome>>,
    repeats: Vec<(usize, usize)>,
) -> Result<Vec<StoreOutcome>, StorageError> {
    for (i, first) in repeats {
        outcomes[i] = match outcomes[first] {
            Some(StoreOutcome::Stored { id, seq, ts }) => {
                Some(StoreOutcome::Duplicate { id, seq, ts })
            }
            other => other,
        };
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.ok_or(StorageError::Inconsistent(
                "a message of the batch has no outcome",
            ))
        })
        .collect()
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

/// Seqs of the room's deleted messages with `after < seq <= upto`, oldest first (through the
/// small partial index `messages_deleted`).
pub fn deleted_seqs(
    conn: &mut DbConn,
    room: &str,
    after: i64,
    upto: i64,
) -> Result<Vec<i64>, StorageError> {
    let seqs = with_backend!(conn, c => messages::table
        .filter(messages::room.eq(room))
        .filter(messages::deleted)
        .filter(messages::seq.gt(after))
        .filter(messages::seq.le(upto))
        .order(messages::seq.asc())
        .select(messages::seq)
        .load::<i64>(c))?;
    Ok(seqs)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connection::{checkpoint, open_pool, DbTarget, SqliteSync};
    use crate::db::{rooms, users};

    fn text(room: &str, sender: UserId, cid: &str) -> NewMessage {
        NewMessage {
            room: room.to_owned(),
            sender,
            cid: Some(cid.to_owned()),
            text: format!("hello from {cid}"),
            kind: MessageKind::Text,
        }
    }

    /// A fresh SQLite database in a temporary folder, with the guests Ann and Bob.
    fn database_with_ann_and_bob() -> (tempfile::TempDir, crate::db::DbPool, UserId, UserId) {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 2, SqliteSync::Full).unwrap();
        let mut conn = pool.get().unwrap();
        let mut guest = |name| {
            UserId(
                users::insert_user(&mut conn, name, Role::Guest, None)
                    .unwrap()
                    .id,
            )
        };
        let (ann, bob) = (guest("ann"), guest("bob"));
        (dir, pool, ann, bob)
    }

    #[test]
    fn a_batch_over_several_rooms_gets_seqs_per_room_and_the_log_is_checkpointed_after() {
        let (dir, pool, UserId(ann), UserId(bob)) = database_with_ann_and_bob();
        let mut conn = pool.get().unwrap();
        for room in ["lobby", "games"] {
            rooms::add_member(&mut conn, UserId(ann), room).unwrap();
        }

        // Rooms interleaved, a resend inside the batch, and a room with no row yet.
        let batch = [
            text("lobby", UserId(ann), "a1"),
            text("games", UserId(ann), "a2"),
            text("lobby", UserId(bob), "b1"),
            text("lobby", UserId(ann), "a1"),
            text("news", UserId(bob), "b2"),
            text("games", UserId(bob), "b3"),
        ];
        let seqs: Vec<i64> = store_batch(&mut conn, &batch)
            .unwrap()
            .iter()
            .map(StoreOutcome::seq)
            .collect();
        assert_eq!(seqs, [1, 1, 2, 1, 1, 2]);
        assert!(matches!(
            store_batch(&mut conn, &batch[3..4]).unwrap()[..],
            [StoreOutcome::Duplicate { seq: 1, .. }]
        ));
        assert_eq!(rooms::last_seq(&mut conn, "lobby").unwrap(), 2);
        assert_eq!(rooms::last_seq(&mut conn, "news").unwrap(), 1);

        let in_database_file = || {
            std::fs::read(dir.path().join("chat.db"))
                .unwrap()
                .windows(13)
                .any(|w| w == b"hello from b3")
        };
        assert!(!in_database_file(), "a commit writes to the log only");
        checkpoint(&mut conn).unwrap();
        assert!(
            in_database_file(),
            "the checkpoint copied the log into the database"
        );
    }

    #[test]
    fn unread_counts_stop_at_the_cap_and_leave_out_own_and_deleted_messages() {
        let (_dir, pool, ann, bob) = database_with_ann_and_bob();
        let mut conn = pool.get().unwrap();
        let batch: Vec<NewMessage> = (0..rooms::UNREAD_CAP + 20)
            .map(|i| text("lobby", ann, &format!("a{i}")))
            .chain([text("lobby", bob, "b1")])
            .collect();
        store_batch(&mut conn, &batch).unwrap();

        // Bob has read nothing: 1,020 of Ann's messages count as the cap.
        assert_eq!(
            rooms::unread_after(&mut conn, bob, "lobby", 0).unwrap(),
            rooms::UNREAD_CAP
        );
        // Below the cap it is exact: not Bob's own message, not a deleted one.
        let last_of_ann = rooms::UNREAD_CAP + 20;
        assert_eq!(
            rooms::unread_after(&mut conn, bob, "lobby", last_of_ann - 3).unwrap(),
            3
        );
        let doomed = read_window(&mut conn, "lobby", Window::After(last_of_ann - 1), 1)
            .unwrap()
            .0[0]
            .id;
        crate::db::admin::delete_message(&mut conn, doomed).unwrap();
        assert_eq!(
            rooms::unread_after(&mut conn, bob, "lobby", last_of_ann - 3).unwrap(),
            2
        );
        assert_eq!(rooms::unread_after(&mut conn, ann, "lobby", 0).unwrap(), 1);
    }
}
