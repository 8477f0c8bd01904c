//! The `conversations` rows kept by the batch writers, in the transaction that stores the
//! messages ([`super::store_statements`], [`super::store_pg_arrays`]): a support
//! conversation's row is made with its first message, its `last_activity` follows its newest,
//! and a message from the customer (or the store) into a `resolved` one reopens it.
//!
//! Two statements per batch that holds support conversations on PostgreSQL (the rows of the
//! batch's support rooms read and locked, then one multi-row upsert; on SQLite one upsert per
//! conversation), none for a batch of public rooms only: the writer is the hot path. The batch's room rows are locked already (the
//! seqs), so no other writer changes these conversations meanwhile; the lock on the
//! conversations' rows keeps a staff member's change of status from being overwritten.

use super::batch::{ConversationChanges, NewMessage};
use super::connection::DbConn;
use super::error::StorageError;
use super::schema::conversations;
use crate::domain::{ConversationStatus, MessageKind, SUPPORT_PREFIX};
use crate::with_backend;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel::PgConnection;

/// A support conversation's share of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity<'b> {
    /// `support:<id>`.
    pub room: &'b str,
    /// Its customer.
    pub customer: i64,
    /// Whether a fresh message of the batch came from the customer or the store, which
    /// reopens a resolved conversation.
    pub reopens: bool,
}

/// The support conversations among the fresh messages at `positions` of `batch`, in the order
/// they first appear. Public rooms cost a prefix test each.
pub fn activity_of<'b>(
    batch: &'b [NewMessage],
    positions: impl IntoIterator<Item = usize>,
) -> Vec<Activity<'b>> {
    let mut out: Vec<Activity<'b>> = Vec::new();
    for i in positions {
        let m = &batch[i];
        let Some(id) = m.room.strip_prefix(SUPPORT_PREFIX) else {
            continue;
        };
        let Ok(customer) = id.parse::<i64>() else {
            continue;
        };
        let reopens = m.sender.0 == customer || m.kind == MessageKind::Store;
        match out.iter_mut().find(|a| a.room == m.room) {
            Some(a) => a.reopens |= reopens,
            None => out.push(Activity {
                room: &m.room,
                customer,
                reopens,
            }),
        }
    }
    out
}

/// A row to insert, or (on conflict) the new values of an existing one.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = conversations)]
pub struct Upsert<'b> {
    room: &'b str,
    customer_id: i64,
    status: String,
    created_at: i64,
    last_activity: i64,
    updated_at: i64,
}

/// What to write, given the existing rows `(room, status, updated_at)` of the batch's support
/// conversations: the rows, and which conversations this makes and reopens.
pub fn plan<'b>(
    activity: &[Activity<'b>],
    existing: &[(String, String, i64)],
    now: i64,
) -> (Vec<Upsert<'b>>, ConversationChanges) {
    let mut changes = ConversationChanges::default();
    let open = ConversationStatus::Open.as_str();
    let rows = activity
        .iter()
        .map(|a| {
            let (status, updated_at) = match existing.iter().find(|e| e.0 == a.room) {
                None => {
                    changes.created.push(a.room.to_owned());
                    (open.to_owned(), now)
                }
                Some((_, status, _)) if a.reopens && status == "resolved" => {
                    changes.reopened.push(a.room.to_owned());
                    (open.to_owned(), now)
                }
                Some((_, status, updated_at)) => (status.clone(), *updated_at),
            };
            Upsert {
                room: a.room,
                customer_id: a.customer,
                status,
                created_at: now,
                last_activity: now,
                updated_at,
            }
        })
        .collect();
    (rows, changes)
}

/// The rows of the batch's support conversations, `$lock` being `.for_update()` on
/// PostgreSQL, then what [`plan`] makes of them.
macro_rules! read_and_plan {
    ($c:expr, $activity:expr, $now:expr, $($lock:tt)*) => {{
        let names: Vec<&str> = $activity.iter().map(|a| a.room).collect();
        let existing: Vec<(String, String, i64)> = conversations::table
            .filter(conversations::room.eq_any(&names))
            .select((
                conversations::room,
                conversations::status,
                conversations::updated_at,
            ))
            $($lock)*
            .load($c)?;
        plan($activity, &existing, $now)
    }};
}

/// The upsert of `$rows` (a slice of [`Upsert`]): one statement on PostgreSQL; on SQLite, whose
/// Diesel has no multi-row upsert, one per row (its calls stay in the process, a few µs each).
macro_rules! upsert {
    ($c:expr, $rows:expr) => {
        diesel::insert_into(conversations::table)
            .values($rows)
            .on_conflict(conversations::room)
            .do_update()
            .set((
                conversations::status.eq(excluded(conversations::status)),
                conversations::last_activity.eq(excluded(conversations::last_activity)),
                conversations::updated_at.eq(excluded(conversations::updated_at)),
            ))
            .execute($c)
    };
}

/// Keeps the rows of the batch's support conversations (see the module doc); nothing at all
/// for a batch without any.
pub fn record_activity(
    conn: &mut DbConn,
    activity: &[Activity<'_>],
    now: i64,
) -> Result<ConversationChanges, StorageError> {
    if activity.is_empty() {
        return Ok(ConversationChanges::default());
    }
    match conn {
        DbConn::Postgres(c) => record_activity_pg(c, activity, now),
        DbConn::Sqlite(c) => {
            let (rows, changes) = read_and_plan!(c, activity, now,);
            for row in &rows {
                upsert!(c, row)?;
            }
            Ok(changes)
        }
    }
}

/// [`record_activity`] on a bare PostgreSQL connection (the batch path of `store_pg_arrays`).
pub fn record_activity_pg(
    conn: &mut PgConnection,
    activity: &[Activity<'_>],
    now: i64,
) -> Result<ConversationChanges, StorageError> {
    if activity.is_empty() {
        return Ok(ConversationChanges::default());
    }
    let (rows, changes) = read_and_plan!(conn, activity, now, .for_update());
    upsert!(conn, &rows)?;
    Ok(changes)
}

/// A guest's conversation merged into the customer's (`db::merge`, in its transaction): the
/// guest's row is deleted, and the customer's is made (carrying the guest's status, assignee
/// and start) or, existing, gets the later `last_activity`. `moved` is (first, last) stored
/// time of the visible moved messages, `None` when none was visible.
pub fn merge_rows(
    conn: &mut DbConn,
    from: &str,
    into: &str,
    customer: i64,
    moved: Option<(i64, i64)>,
    now: i64,
) -> Result<(), StorageError> {
    let guest: Option<(String, Option<i64>, i64)> = with_backend!(conn, c => diesel::delete(
        conversations::table.filter(conversations::room.eq(from)),
    )
    .returning((
        conversations::status,
        conversations::assignee_id,
        conversations::created_at,
    ))
    .get_result(c)
    .optional())?;
    let Some((first, last)) = moved else {
        return Ok(());
    };
    let existing: Option<i64> = with_backend!(conn, c => conversations::table
        .filter(conversations::room.eq(into))
        .select(conversations::last_activity)
        .get_result(c)
        .optional())?;
    match existing {
        Some(activity) => {
            with_backend!(conn, c => diesel::update(
                conversations::table.filter(conversations::room.eq(into)),
            )
            .set(conversations::last_activity.eq(activity.max(last)))
            .execute(c))?;
        }
        None => {
            let (status, assignee, created_at) =
                guest.unwrap_or((ConversationStatus::Open.as_str().to_owned(), None, first));
            with_backend!(conn, c => diesel::insert_into(conversations::table)
                .values((
                    conversations::room.eq(into),
                    conversations::customer_id.eq(customer),
                    conversations::status.eq(&status),
                    conversations::assignee_id.eq(assignee),
                    conversations::created_at.eq(created_at),
                    conversations::last_activity.eq(last),
                    conversations::updated_at.eq(now),
                ))
                .execute(c))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn message(room: &str, sender: i64, kind: MessageKind) -> NewMessage {
        NewMessage {
            room: room.into(),
            sender: UserId(sender),
            cid: None,
            text: "hi".into(),
            kind,
        }
    }

    #[test]
    fn only_support_rooms_count_and_the_customer_or_the_store_reopen() {
        let batch = [
            message("lobby", 7, MessageKind::Text),
            message("support:7", 1, MessageKind::Text),
            message("notes:7", 1, MessageKind::Event),
            message("support:8", 8, MessageKind::Text),
            message("support:7", 3, MessageKind::Store),
            message("support:9", 1, MessageKind::Announcement),
        ];
        let activity = activity_of(&batch, 0..batch.len());
        let seen: Vec<(&str, i64, bool)> = activity
            .iter()
            .map(|a| (a.room, a.customer, a.reopens))
            .collect();
        assert_eq!(
            seen,
            [
                ("support:7", 7, true),
                ("support:8", 8, true),
                ("support:9", 9, false),
            ]
        );
    }

    #[test]
    fn a_new_conversation_is_made_open_and_a_resolved_one_reopens_only_for_the_customer() {
        let activity = [
            Activity {
                room: "support:1",
                customer: 1,
                reopens: true,
            },
            Activity {
                room: "support:2",
                customer: 2,
                reopens: true,
            },
            Activity {
                room: "support:3",
                customer: 3,
                reopens: false,
            },
            Activity {
                room: "support:4",
                customer: 4,
                reopens: true,
            },
        ];
        let existing = [
            ("support:2".to_owned(), "resolved".to_owned(), 5),
            ("support:3".to_owned(), "resolved".to_owned(), 6),
            ("support:4".to_owned(), "pending".to_owned(), 7),
        ];
        let (rows, changes) = plan(&activity, &existing, 100);
        assert_eq!(changes.created, ["support:1"]);
        assert_eq!(changes.reopened, ["support:2"]);
        let kept: Vec<(&str, &str, i64, i64)> = rows
            .iter()
            .map(|r| (r.room, r.status.as_str(), r.last_activity, r.updated_at))
            .collect();
        assert_eq!(
            kept,
            [
                ("support:1", "open", 100, 100),
                ("support:2", "open", 100, 100),
                ("support:3", "resolved", 100, 6),
                ("support:4", "pending", 100, 7),
            ]
        );
    }
}
