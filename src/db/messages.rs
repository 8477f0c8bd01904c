//! Message queries: the one interface for storing a batch (it picks the way that suits the
//! database), and the reads behind `joined`, `history` and recovery.

pub use super::batch::{ConversationChanges, Events, NewMessage, StoreOutcome, StoredBatch};
use super::connection::DbConn;
use super::error::StorageError;
use super::models::StoredMessage;
use super::schema::{messages, users};
use super::{store_pg_arrays, store_statements};
use crate::domain::{MessageKind, Role, UserId, UserInfo};
use crate::with_backend;
use diesel::prelude::*;

/// Stores a batch of messages in one transaction and returns one outcome per message, in order.
///
/// Within each room the fresh messages get consecutive seqs in batch order, reserved on the
/// room's row in the same transaction, so a seq is never seen before its message is committed
/// and never reused. A message whose (room, sender, cid) was stored before (or earlier in the
/// batch) is a `Duplicate` carrying the first copy's seq.
///
/// On PostgreSQL a batch of [`store_pg_arrays::BATCH_FROM`] messages or more goes in two
/// statements ([`store_pg_arrays`]), or in one committed on its own when all its rooms are
/// public and no transaction is open ([`super::store_pg_one`]); smaller ones, and every batch on SQLite (whose calls stay
/// in the process), through statements prepared once ([`store_statements`]: two for the whole
/// batch, unless it is large or holds a resend of an earlier batch).
pub fn store_batch(
    conn: &mut DbConn,
    batch: &[NewMessage],
) -> Result<Vec<StoreOutcome>, StorageError> {
    store_batch_with(conn, batch, Events::Off)
}

/// [`store_batch`], and with [`Events::Webhooks`] also, in the same transaction, the webhook
/// events of every fresh message of a support conversation (`db::webhooks`): an acked message
/// always has its event, and a resend recognised by its cid, stored before, makes none.
pub fn store_batch_with(
    conn: &mut DbConn,
    batch: &[NewMessage],
    events: Events,
) -> Result<Vec<StoreOutcome>, StorageError> {
    store_batch_tracked(conn, batch, events).map(|stored| stored.outcomes)
}

/// [`store_batch_with`], answering also which support conversations the batch created or
/// reopened (their `conversations` rows are kept in the same transaction,
/// `db::store_conversations`): what the message writer tells the chat server.
pub fn store_batch_tracked(
    conn: &mut DbConn,
    batch: &[NewMessage],
    events: Events,
) -> Result<StoredBatch, StorageError> {
    let first = store_settled(conn, batch, events);
    let Err(StorageError::RoomsClosed(mut closed)) = first else {
        return first;
    };
    // Rare (a guest's room after the guest signed in): the batch was rolled back; stored again
    // without the closed rooms' messages, which are `Refused`. Each round closes at least one
    // room more, so this ends.
    loop {
        let kept: Vec<usize> = (0..batch.len())
            .filter(|&i| !closed.contains(&batch[i].room))
            .collect();
        let rest: Vec<NewMessage> = kept.iter().map(|&i| batch[i].clone()).collect();
        let stored = if rest.is_empty() {
            StoredBatch::default()
        } else {
            match store_settled(conn, &rest, events) {
                Err(StorageError::RoomsClosed(more)) => {
                    closed.extend(more);
                    continue;
                }
                other => other?,
            }
        };
        let mut all = vec![StoreOutcome::Refused; batch.len()];
        for (i, outcome) in kept.into_iter().zip(stored.outcomes) {
            all[i] = outcome;
        }
        return Ok(StoredBatch {
            outcomes: all,
            conversations: stored.conversations,
        });
    }
}

/// [`store_once`], and once more with the batch's rooms locked first when it met another
/// writer's copy of one of its resends: two nodes storing the same cid at the same moment (a
/// client that resent through the balancer to another node). A writer that looks for earlier
/// copies before it takes the rooms' locks (the second attempt of either path, after its first
/// insert left a stored copy out) can miss the other's copy, and then its insert breaks the
/// unique cid index. Holding the rooms' locks, no copy of these rooms' messages is in flight
/// anywhere: the retry finds the first copy and answers its seq, as for any resend.
fn store_settled(
    conn: &mut DbConn,
    batch: &[NewMessage],
    events: Events,
) -> Result<StoredBatch, StorageError> {
    match store_once(conn, batch, events) {
        Err(StorageError::Conflict(cause)) => {
            log::debug!(
                "a resend met another writer's copy ({cause}); storing again with the rooms locked"
            );
            conn.transaction(|conn| {
                super::rooms::lock_rooms(conn, batch.iter().map(|m| m.room.as_str()))?;
                store_once(conn, batch, events)
            })
        }
        other => other,
    }
}

/// One try of [`store_batch_tracked`]: `RoomsClosed` (and nothing written) when the batch holds
/// messages to closed support rooms (`db::closed_rooms`).
fn store_once(
    conn: &mut DbConn,
    batch: &[NewMessage],
    events: Events,
) -> Result<StoredBatch, StorageError> {
    match conn {
        DbConn::Postgres(pg) if batch.len() >= store_pg_arrays::BATCH_FROM => {
            store_pg_arrays::store_batch(pg, batch, events)
        }
        _ => store_statements::store_batch_tracked(conn, batch, events),
    }
}

/// The columns of a message as its readers select them (from `messages` joined with its
/// sender's `users` row), read as a [`MessageTuple`] and made a [`StoredMessage`] by
/// [`to_stored`]: one list for every query that reads whole messages. (A macro rather than a
/// const, whose type would repeat the list.)
macro_rules! message_columns {
    () => {{
        use $crate::db::schema::{messages, users};
        (
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
            users::display_name,
            users::avatar_color,
        )
    }};
}
pub(super) use message_columns;

/// id, room, seq, sender id, sender name, sender role, text, ts, cid, kind, sender's display
/// name, sender's avatar colour.
pub(super) type MessageTuple = (
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
    Option<String>,
    Option<String>,
);

pub(super) fn to_stored(row: MessageTuple) -> StoredMessage {
    let (id, room, seq, sender_id, username, role, text, ts, cid, kind, display_name, avatar_color) =
        row;
    StoredMessage {
        room,
        seq,
        id,
        from: UserInfo {
            id: UserId(sender_id),
            username,
            role: Role::parse(&role).unwrap_or(Role::Guest),
            display_name,
            avatar_color,
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
            .select(message_columns!())
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
