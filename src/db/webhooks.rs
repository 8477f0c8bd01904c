//! The webhook outbox table: events written by the batch writers in the transaction of their
//! message ([`NewEvent`], [`insert_events`]), and the delivery worker's queries (the due head
//! of each conversation, its claim, its outcome).
//!
//! Order: a conversation's events are delivered by increasing id, one at a time; only the
//! oldest pending event of a conversation (its head) is ever due, so a later one waits for its
//! earlier ones, and a failed (given up) one no longer holds the others back. Several workers
//! (several servers on one PostgreSQL database) never send one event at once: a worker first
//! claims the head by moving its next attempt forward, only if no one moved it before
//! ([`claim`]).

use super::connection::DbConn;
use super::error::StorageError;
use super::models::{StoredMessage, UserRow};
use super::schema::{messages, users, webhook_outbox};
use crate::domain::{RoomKind, RoomName};
use crate::with_backend;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A support conversation's first message was stored (sent before that message's event).
pub const CONVERSATION_CREATED: &str = "conversation.created";
/// A message was stored in a support conversation.
pub const MESSAGE_CREATED: &str = "message.created";

/// An event to enqueue, due at once.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_outbox)]
pub struct NewEvent<'a> {
    /// The conversation (`support:<id>`): the order key.
    pub room: &'a str,
    /// [`CONVERSATION_CREATED`] or [`MESSAGE_CREATED`].
    pub event: &'static str,
    /// The message it is about (for `conversation.created`, the first one).
    pub message_id: i64,
    /// When the message was stored (ms): the event's `ts`.
    pub created_at: i64,
    /// Due from the start.
    pub next_attempt_at: i64,
}

/// Appends the events of a freshly stored message of a support conversation: its
/// `message.created`, after `conversation.created` when it is the conversation's first (seq 1).
/// A conversation that began while webhooks were off has no `conversation.created`.
pub fn push_events<'a>(out: &mut Vec<NewEvent<'a>>, room: &'a str, id: i64, seq: i64, now: i64) {
    let event = |event| NewEvent {
        room,
        event,
        message_id: id,
        created_at: now,
        next_attempt_at: now,
    };
    if seq == 1 {
        out.push(event(CONVERSATION_CREATED));
    }
    out.push(event(MESSAGE_CREATED));
}

/// The events of a merge of a guest's conversation into the customer's (`db::merge`), in
/// its transaction. The guest conversation's pending events are dropped: they would describe
/// a conversation that no longer exists, of an account that is gone, and their messages are
/// announced again where they are now. In the customer's conversation, after its own events:
/// `conversation.created` when it had no message before (`had_messages` false), then a
/// `message.created` for each visible moved message (`moved`: ids, oldest first; the same ids
/// as in the events the receiver may have had from the guest's conversation).
pub fn enqueue_merge_events(
    conn: &mut DbConn,
    from: &str,
    into: &str,
    had_messages: bool,
    moved: &[i64],
    now: i64,
) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::delete(
        webhook_outbox::table
            .filter(webhook_outbox::room.eq(from))
            .filter(webhook_outbox::state.eq("pending")),
    )
    .execute(c))?;
    let event = |event, message_id| NewEvent {
        room: into,
        event,
        message_id,
        created_at: now,
        next_attempt_at: now,
    };
    let mut events = Vec::with_capacity(moved.len() + 1);
    if let (false, Some(&first)) = (had_messages, moved.first()) {
        events.push(event(CONVERSATION_CREATED, first));
    }
    events.extend(moved.iter().map(|&id| event(MESSAGE_CREATED, id)));
    insert_events(conn, &events)
}

/// Inserts events in one statement, in order (their ids follow it). Called inside the
/// transaction that stores their messages.
pub fn insert_events(conn: &mut DbConn, events: &[NewEvent<'_>]) -> Result<(), StorageError> {
    if events.is_empty() {
        return Ok(());
    }
    with_backend!(conn, c => diesel::insert_into(webhook_outbox::table)
        .values(events)
        .execute(c))?;
    Ok(())
}

/// [`insert_events`] on a bare PostgreSQL connection (the batch path of `store_pg_arrays`).
pub fn insert_events_pg(
    conn: &mut diesel::PgConnection,
    events: &[NewEvent<'_>],
) -> Result<(), StorageError> {
    if !events.is_empty() {
        diesel::insert_into(webhook_outbox::table)
            .values(events)
            .execute(conn)?;
    }
    Ok(())
}

/// A pending event, as the worker reads it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct OutboxRow {
    /// The delivery id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The conversation.
    #[diesel(sql_type = Text)]
    pub room: String,
    /// Its name.
    #[diesel(sql_type = Text)]
    pub event: String,
    /// The message it is about.
    #[diesel(sql_type = BigInt)]
    pub message_id: i64,
    /// When it happened (ms).
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
    /// Attempts claimed so far.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// Not to be sent before this (ms); also the claim's token.
    #[diesel(sql_type = BigInt)]
    pub next_attempt_at: i64,
    /// The exact body sent, fixed at the first attempt so every retry sends the same bytes.
    #[diesel(sql_type = Nullable<Text>)]
    pub body: Option<String>,
}

/// The heads of the conversations (each one's oldest pending event), oldest first.
const HEADS: &str = "FROM webhook_outbox WHERE id IN \
     (SELECT MIN(id) FROM webhook_outbox WHERE state = 'pending' GROUP BY room)";

/// Up to `limit` conversation heads due at `now` (ms), oldest first.
pub fn due_heads(conn: &mut DbConn, now: i64, limit: i64) -> Result<Vec<OutboxRow>, StorageError> {
    // Integers written into the text (no bind parameter): one statement for both backends,
    // whose placeholders differ; nothing here comes from outside.
    let sql = format!(
        "SELECT id, room, event, message_id, created_at, attempts, next_attempt_at, body \
         {HEADS} AND next_attempt_at <= {now} ORDER BY id LIMIT {limit}"
    );
    let rows = with_backend!(conn, c => diesel::sql_query(&sql).load::<OutboxRow>(c))?;
    Ok(rows)
}

#[derive(QueryableByName)]
struct Earliest {
    #[diesel(sql_type = Nullable<BigInt>)]
    at: Option<i64>,
}

/// When the next head falls due (ms); none when nothing is pending.
pub fn next_due(conn: &mut DbConn) -> Result<Option<i64>, StorageError> {
    let sql = format!("SELECT MIN(next_attempt_at) AS at {HEADS}");
    let row = with_backend!(conn, c => diesel::sql_query(&sql).get_result::<Earliest>(c))?;
    Ok(row.at)
}

/// Pending events (the outbox depth).
pub fn pending_count(conn: &mut DbConn) -> Result<i64, StorageError> {
    let n = with_backend!(conn, c => webhook_outbox::table
        .filter(webhook_outbox::state.eq("pending"))
        .count()
        .get_result::<i64>(c))?;
    Ok(n)
}

/// Takes `row` for one attempt: counts it and moves its next attempt to `until` (when a
/// worker that died mid-attempt is given up on). False when another worker took it first.
pub fn claim(conn: &mut DbConn, row: &OutboxRow, until: i64) -> Result<bool, StorageError> {
    let changed = with_backend!(conn, c => diesel::update(
        webhook_outbox::table
            .filter(webhook_outbox::id.eq(row.id))
            .filter(webhook_outbox::state.eq("pending"))
            .filter(webhook_outbox::next_attempt_at.eq(row.next_attempt_at)),
    )
    .set((
        webhook_outbox::next_attempt_at.eq(until),
        webhook_outbox::attempts.eq(webhook_outbox::attempts + 1),
    ))
    .execute(c))?;
    Ok(changed == 1)
}

/// Keeps the body of the first attempt, for the retries.
pub fn save_body(conn: &mut DbConn, id: i64, body: &str) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(webhook_outbox::table.find(id))
        .set(webhook_outbox::body.eq(body))
        .execute(c))?;
    Ok(())
}

/// The receiver took it: the event leaves the outbox.
pub fn delivered(conn: &mut DbConn, id: i64) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::delete(webhook_outbox::table.find(id)).execute(c))?;
    Ok(())
}

/// Not this time: try again at `at` (ms).
pub fn retry_at(conn: &mut DbConn, id: i64, at: i64, error: &str) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(webhook_outbox::table.find(id))
        .set((
            webhook_outbox::next_attempt_at.eq(at),
            webhook_outbox::last_error.eq(error),
        ))
        .execute(c))?;
    Ok(())
}

/// Given up (the receiver refused it): kept as `failed`, and the conversation moves on.
pub fn give_up(conn: &mut DbConn, id: i64, error: &str) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(webhook_outbox::table.find(id))
        .set((
            webhook_outbox::state.eq("failed"),
            webhook_outbox::last_error.eq(error),
        ))
        .execute(c))?;
    Ok(())
}

/// What an event's body shows: the message and the conversation's customer (read at the first
/// attempt). `None` when either is gone or the room is not a support conversation.
pub fn event_parts(
    conn: &mut DbConn,
    row: &OutboxRow,
) -> Result<Option<(StoredMessage, UserRow)>, StorageError> {
    let Ok(room) = RoomName::parse(&row.room) else {
        return Ok(None);
    };
    let RoomKind::Support(owner) = room.kind() else {
        return Ok(None);
    };
    let message = with_backend!(conn, c => messages::table
        .inner_join(users::table)
        .filter(messages::id.eq(row.message_id))
        .select(super::messages::message_columns!())
        .get_result::<super::messages::MessageTuple>(c)
        .optional())?;
    let Some(message) = message else {
        return Ok(None);
    };
    let customer = super::users::find_by_id(conn, owner)?;
    Ok(customer.map(|customer| (super::messages::to_stored(message), customer)))
}

/// Rung by the message writer after a commit that enqueued events, so the delivery worker
/// sends them at once instead of at its next poll.
#[derive(Debug, Default)]
pub struct OutboxBell {
    rung: Mutex<bool>,
    ringing: Condvar,
}

impl OutboxBell {
    /// New events are committed.
    pub fn ring(&self) {
        let mut rung = self.rung.lock().unwrap_or_else(|e| e.into_inner());
        *rung = true;
        self.ringing.notify_all();
    }

    /// Waits until rung or `timeout` passes; true when rung (and resets it).
    pub fn wait(&self, timeout: Duration) -> bool {
        let rung = self.rung.lock().unwrap_or_else(|e| e.into_inner());
        let (mut rung, _) = self
            .ringing
            .wait_timeout_while(rung, timeout, |rung| !*rung)
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *rung)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connection::{open_pool, DbTarget, SqliteSync};
    use crate::db::messages::{store_batch, store_batch_with, Events, NewMessage};
    use crate::domain::{MessageKind, Role, UserId};

    fn text(room: &str, sender: i64, cid: &str) -> NewMessage {
        NewMessage {
            room: room.to_owned(),
            sender: UserId(sender),
            cid: Some(cid.to_owned()),
            text: format!("text {cid}"),
            kind: MessageKind::Text,
        }
    }

    fn events(conn: &mut DbConn) -> Vec<(String, String, i64)> {
        with_backend!(conn, c => webhook_outbox::table
            .order(webhook_outbox::id)
            .select((webhook_outbox::room, webhook_outbox::event, webhook_outbox::message_id))
            .load::<(String, String, i64)>(c))
        .unwrap()
        .into_iter()
        .collect()
    }

    fn database() -> (tempfile::TempDir, crate::db::DbPool, i64, i64) {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 1, SqliteSync::Normal).unwrap();
        let mut conn = pool.get().unwrap();
        let ann = crate::db::users::insert_user(&mut conn, "ann", Role::Guest, None)
            .unwrap()
            .id;
        let bob = crate::db::users::insert_user(&mut conn, "bob", Role::Guest, None)
            .unwrap()
            .id;
        drop(conn);
        (dir, pool, ann, bob)
    }

    #[test]
    fn support_messages_get_their_events_in_the_commit_and_public_ones_and_resends_none() {
        let (_dir, pool, ann, bob) = database();
        let mut conn = pool.get().unwrap();
        let (support_ann, support_bob) = (format!("support:{ann}"), format!("support:{bob}"));

        // Webhooks off: nothing is enqueued, and nothing later makes up for it.
        store_batch(&mut conn, &[text(&support_bob, bob, "b0")]).unwrap();
        assert!(events(&mut conn).is_empty());

        let batch = [
            text("lobby", ann, "a1"),
            text(&support_ann, ann, "a2"),
            text(&support_ann, ann, "a3"),
            text(&support_ann, ann, "a2"),
            text(&support_bob, bob, "b1"),
        ];
        let outcomes = store_batch_with(&mut conn, &batch, Events::Webhooks).unwrap();
        let id = |i: usize| match outcomes[i] {
            crate::db::messages::StoreOutcome::Stored { id, .. } => id,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            events(&mut conn),
            [
                (support_ann.clone(), CONVERSATION_CREATED.into(), id(1)),
                (support_ann.clone(), MESSAGE_CREATED.into(), id(1)),
                (support_ann.clone(), MESSAGE_CREATED.into(), id(2)),
                // Bob's conversation began while webhooks were off: no conversation.created.
                (support_bob.clone(), MESSAGE_CREATED.into(), id(4)),
            ]
        );
        // A resend recognised by its cid makes no second event.
        store_batch_with(&mut conn, &batch[1..2], Events::Webhooks).unwrap();
        assert_eq!(events(&mut conn).len(), 4);
        assert_eq!(pending_count(&mut conn).unwrap(), 4);
    }

    #[test]
    fn only_each_conversations_oldest_event_is_due_and_only_one_worker_claims_it() {
        let (_dir, pool, ann, bob) = database();
        let mut conn = pool.get().unwrap();
        let (support_ann, support_bob) = (format!("support:{ann}"), format!("support:{bob}"));
        let batch = [
            text(&support_ann, ann, "a1"),
            text(&support_bob, bob, "b1"),
            text(&support_ann, ann, "a2"),
        ];
        store_batch_with(&mut conn, &batch, Events::Webhooks).unwrap();
        let now = crate::domain::now_millis();

        let heads = due_heads(&mut conn, now, 10).unwrap();
        let rooms: Vec<_> = heads
            .iter()
            .map(|h| (h.room.as_str(), h.event.as_str()))
            .collect();
        assert_eq!(
            rooms,
            [
                (support_ann.as_str(), CONVERSATION_CREATED),
                (support_bob.as_str(), CONVERSATION_CREATED)
            ]
        );
        let ann_head = heads[0].clone();
        assert!(claim(&mut conn, &ann_head, now + 10_000).unwrap());
        assert!(
            !claim(&mut conn, &ann_head, now + 10_000).unwrap(),
            "a second claim of the same read fails"
        );
        // Claimed (in flight): not due, and Ann's later events wait behind it.
        let heads = due_heads(&mut conn, now, 10).unwrap();
        assert_eq!(heads.len(), 1);
        assert_eq!(heads[0].room, support_bob);
        assert_eq!(next_due(&mut conn).unwrap(), Some(heads[0].next_attempt_at));

        // Given up: Ann's conversation moves on to its next event.
        give_up(&mut conn, ann_head.id, "HTTP 400").unwrap();
        let heads = due_heads(&mut conn, now, 10).unwrap();
        assert_eq!(heads[0].room, support_ann);
        assert_eq!(heads[0].event, MESSAGE_CREATED);
        assert_eq!(heads[0].attempts, 0);
        // Retried later: not due before its time.
        retry_at(&mut conn, heads[0].id, now + 60_000, "HTTP 500").unwrap();
        delivered(&mut conn, heads[1].id).unwrap();
        let heads = due_heads(&mut conn, now, 10).unwrap();
        assert_eq!(heads.len(), 1, "Bob's next one only");
        assert_eq!(heads[0].room, support_bob);
        // Ann's two messages and Bob's one: the given-up and the delivered ones are not.
        assert_eq!(pending_count(&mut conn).unwrap(), 3);

        let (message, customer) = event_parts(&mut conn, &heads[0]).unwrap().unwrap();
        assert_eq!(customer.id, bob);
        assert_eq!(message.text, "text b1");
    }

    #[test]
    fn the_bell_wakes_a_waiting_worker_and_is_reset_by_it() {
        let bell = std::sync::Arc::new(OutboxBell::default());
        assert!(!bell.wait(Duration::from_millis(1)));
        let ringer = bell.clone();
        let t = std::thread::spawn(move || ringer.ring());
        assert!(bell.wait(Duration::from_secs(10)));
        t.join().unwrap();
        assert!(!bell.wait(Duration::from_millis(1)), "reset");
    }
}
