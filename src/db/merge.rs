//! A guest who signs in on the store loses nothing: what they wrote as a guest moves into the
//! conversation of the customer they turned out to be (`POST /api/auth/identify` with the
//! guest's token). One transaction, run while no message batch of this server is being stored
//! (the chat server sees to that, `chat/merging.rs`), and safe against the writers of other
//! servers on the same PostgreSQL by the same row locks they take.

use super::batch::Events;
use super::connection::DbConn;
use super::error::StorageError;
use super::messages::{read_window, Window};
use super::models::StoredMessage;
use super::models::UserRow;
use super::rooms::{add_member, ensure_room, read_cursor, reserve_seqs};
use super::schema::{messages, notifications, room_members, rooms, users};
use super::store_conversations::merge_rows;
use super::users::find_by_id;
use super::webhooks::enqueue_merge_events;
use crate::domain::{Role, RoomName, UserId};
use crate::with_backend;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What became of the guest's account once its conversation moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestFate {
    /// Deleted: its tokens are refused ("this account no longer exists").
    Deleted,
    /// Still referred to elsewhere (messages in public rooms): banned instead, so its tokens
    /// are refused all the same.
    Deactivated,
}

/// What a merge did.
#[derive(Debug, Clone)]
pub struct MergedConversation {
    /// The guest's conversation, now empty and out of everyone's list.
    pub from: RoomName,
    /// The customer's conversation.
    pub into: RoomName,
    /// The visible messages moved, as they are now in `into`, oldest first.
    pub moved: Vec<StoredMessage>,
    /// (seq, id) of each visible message the guest's conversation had, for `deleted` frames to
    /// whoever still looks at it.
    pub emptied: Vec<(i64, i64)>,
    /// What became of the guest's account.
    pub guest: GuestFate,
}

/// Moves the guest's support conversation into the customer's and finishes the guest's account,
/// in one transaction; `None` (and nothing written) when `guest` is not an active guest account
/// (gone, banned, finished by an earlier merge, or not a guest at all).
///
/// - The guest's messages (deleted ones too, which stay deleted) are appended to the customer's
///   conversation in their order, on seqs reserved as the message writer reserves them
///   ([`reserve_seqs`]), keeping text, time and kind. The staff's replies keep their author;
///   the guest's own messages become the customer's (the same person wrote them, and the
///   customer's devices show them as their own and do not count them as unread). Client ids are
///   dropped: they only ever served to recognise a resend into the guest's room.
/// - When the customer had read their conversation to the end, what the guest had read stays
///   read.
/// - The guest's conversation is retired: no member rows, no room row. Nothing else is touched:
///   not another customer's conversation, not a public room's messages.
/// - The guest's email address becomes the customer's when the customer has none, and the
///   guest's notifications become the customer's.
/// - With webhooks on, the moved messages are announced in the customer's conversation
///   ([`enqueue_merge_events`]), and the guest conversation's pending events are dropped.
/// - The guest's `conversations` row is deleted; the customer's is made (with the guest's
///   status, assignee and start) or brought up to date.
/// - The guest's account is deleted, or banned when something still refers to it.
///
/// Rooms are locked in byte order of their names, the order every writer locks them in, so two
/// servers wait for each other instead of deadlocking.
pub fn merge_guest_conversation(
    conn: &mut DbConn,
    guest: UserId,
    customer: UserId,
    events: Events,
) -> Result<Option<MergedConversation>, StorageError> {
    match merge_in_transaction(conn, guest, customer, events) {
        // No active guest: rolled back, so not even the rooms' rows were written.
        Err(StorageError::NotFound) => Ok(None),
        other => other.map(Some),
    }
}

/// How recently a guest must have written (or, having written nothing, been created) for its
/// conversation to move into the customer's: the guest who asks and then signs in does so
/// within minutes; a guest conversation left on a shared computer hours ago must not be handed
/// to the next person who signs in there. An older guest conversation stays where it is, under
/// the guest, for the staff to see.
pub const MERGE_WINDOW_MS: i64 = 2 * 60 * 60 * 1000;

/// Whether a guest last active at `last_active` is merged at `now` (milliseconds).
pub fn recent_enough(last_active: i64, now: i64) -> bool {
    now - last_active <= MERGE_WINDOW_MS
}

/// The merge, rolled back with `NotFound` when there is no active guest to merge (the only
/// `NotFound` it can meet: the rooms' rows are ensured before they are read).
fn merge_in_transaction(
    conn: &mut DbConn,
    guest: UserId,
    customer: UserId,
    events: Events,
) -> Result<MergedConversation, StorageError> {
    conn.transaction(|conn| {
        let from = RoomName::support(guest);
        let into = RoomName::support(customer);
        let mut names = [from.as_str(), into.as_str()];
        names.sort_unstable();
        // Writes first: SQLite takes its write lock here instead of failing a lock upgrade.
        for name in names {
            ensure_room(conn, name)?;
        }
        for name in names {
            reserve_seqs(conn, name, 0)?;
        }
        let guest_row =
            find_by_id(conn, guest)?.filter(|row| row.role == Role::Guest.as_str() && !row.banned);
        let Some(guest_row) = guest_row else {
            return Err(StorageError::NotFound);
        };
        if guest == customer {
            return Err(StorageError::NotFound);
        }
        let last_written: Option<i64> = with_backend!(conn, c => messages::table
            .filter(messages::room.eq(from.as_str()))
            .select(diesel::dsl::max(messages::created_at))
            .get_result(c))?;
        let last_active = last_written.unwrap_or(guest_row.created_at);
        if !recent_enough(last_active, crate::domain::now_millis()) {
            return Err(StorageError::NotFound);
        }
        let rows: Vec<(i64, i64, i64, bool)> = with_backend!(conn, c => messages::table
            .filter(messages::room.eq(from.as_str()))
            .order(messages::seq.asc())
            .select((messages::id, messages::seq, messages::sender_id, messages::deleted))
            .load(c))?;
        let count = rows.len() as i64;
        let last = reserve_seqs(conn, into.as_str(), count)?;
        let before = last - count;
        for (place, &(id, _, sender, _)) in (before + 1..).zip(&rows) {
            let author = if sender == guest.0 {
                customer.0
            } else {
                sender
            };
            with_backend!(conn, c => diesel::update(messages::table.find(id))
                .set((
                    messages::room.eq(into.as_str()),
                    messages::seq.eq(place),
                    messages::sender_id.eq(author),
                    messages::cid.eq(None::<&str>),
                ))
                .execute(c))?;
        }
        carry_read_cursor(conn, guest, customer, &rows, before)?;
        retire_room(conn, &from)?;
        carry_account(conn, &guest_row, customer)?;
        let fate = finish_guest(conn, guest, customer)?;
        let (moved, _) = read_window(conn, into.as_str(), Window::After(before), count.max(1))?;
        let span = moved.first().zip(moved.last()).map(|(a, b)| (a.ts, b.ts));
        let now = crate::domain::now_millis();
        merge_rows(conn, from.as_str(), into.as_str(), customer.0, span, now)?;
        if events.for_room(into.as_str()) {
            let ids: Vec<i64> = moved.iter().map(|m| m.id).collect();
            let now = crate::domain::now_millis();
            enqueue_merge_events(conn, from.as_str(), into.as_str(), before > 0, &ids, now)?;
        }
        let emptied = rows
            .iter()
            .filter(|(_, _, _, deleted)| !deleted)
            .map(|&(id, seq, _, _)| (seq, id))
            .collect();
        Ok(MergedConversation {
            from,
            into,
            moved,
            emptied,
            guest: fate,
        })
    })
}

/// When the customer had read everything before the moved messages, the ones the guest had
/// read (`rows` in order, old seqs, now after `before`) stay read.
fn carry_read_cursor(
    conn: &mut DbConn,
    guest: UserId,
    customer: UserId,
    rows: &[(i64, i64, i64, bool)],
    before: i64,
) -> Result<(), StorageError> {
    let into = RoomName::support(customer);
    let guest_read = read_cursor(conn, guest, RoomName::support(guest).as_str())?;
    let read_moved = rows.iter().filter(|r| r.1 <= guest_read).count() as i64;
    if read_moved == 0 || read_cursor(conn, customer, into.as_str())? < before {
        return Ok(());
    }
    add_member(conn, customer, into.as_str())?;
    with_backend!(conn, c => diesel::update(
        room_members::table
            .filter(room_members::user_id.eq(customer.0))
            .filter(room_members::room.eq(into.as_str())),
    )
    .set(room_members::last_read_seq.eq(before + read_moved))
    .execute(c))?;
    Ok(())
}

/// What else of the guest's account is the customer's now: the email address the guest left
/// to be answered by (when the customer has none: the store's own address wins), and the
/// guest's notifications (so that nothing holds the guest's row any more).
fn carry_account(conn: &mut DbConn, guest: &UserRow, customer: UserId) -> Result<(), StorageError> {
    if let Some(email) = guest.email.as_deref() {
        with_backend!(conn, c => diesel::update(
            users::table
                .filter(users::id.eq(customer.0))
                .filter(users::email.is_null()),
        )
        .set(users::email.eq(email))
        .execute(c))?;
    }
    with_backend!(conn, c => diesel::update(
        notifications::table.filter(notifications::user_id.eq(guest.id)),
    )
    .set(notifications::user_id.eq(customer.0))
    .execute(c))?;
    Ok(())
}

/// Takes an emptied room out of everyone's list and drops its row.
fn retire_room(conn: &mut DbConn, room: &RoomName) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::delete(
        room_members::table.filter(room_members::room.eq(room.as_str())),
    )
    .execute(c))?;
    with_backend!(conn, c => diesel::delete(rooms::table.find(room.as_str())).execute(c))?;
    Ok(())
}

/// Deletes the guest's account, or bans it when something still refers to it (its messages in
/// public rooms, a table of another feature): tried in a savepoint, so that a refused delete
/// leaves the rest of the merge standing.
fn finish_guest(
    conn: &mut DbConn,
    guest: UserId,
    customer: UserId,
) -> Result<GuestFate, StorageError> {
    with_backend!(conn, c => diesel::delete(
        room_members::table.filter(room_members::user_id.eq(guest.0)),
    )
    .execute(c))?;
    let deleted = conn.transaction(
        |conn| with_backend!(conn, c => diesel::delete(users::table.find(guest.0)).execute(c)),
    );
    match deleted {
        Ok(_) => Ok(GuestFate::Deleted),
        Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            with_backend!(conn, c => diesel::update(users::table.find(guest.0))
                .set((users::banned.eq(true), users::merged_into.eq(customer.0)))
                .execute(c))?;
            Ok(GuestFate::Deactivated)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_guest_active_in_the_last_two_hours_is_merged() {
        let now = 1_800_000_000_000;
        assert!(recent_enough(now, now));
        assert!(recent_enough(now - MERGE_WINDOW_MS, now));
        assert!(!recent_enough(now - MERGE_WINDOW_MS - 1, now));
        assert!(!recent_enough(now - 24 * 60 * 60 * 1000, now));
    }
    use crate::db::connection::{open_pool, DbTarget, SqliteSync};
    use crate::db::messages::{deleted_seqs, store_batch, NewMessage};
    use crate::db::{admin, rooms, users};
    use crate::domain::MessageKind;

    fn text(room: &RoomName, sender: UserId, words: &str) -> NewMessage {
        NewMessage {
            room: room.to_string(),
            sender,
            cid: Some(words.to_owned()),
            text: words.to_owned(),
            kind: MessageKind::Text,
        }
    }

    #[test]
    fn a_merge_appends_in_order_keeps_deletions_and_happens_once() {
        let dir = tempfile::tempdir().unwrap();
        let pool = open_pool(
            &DbTarget::Sqlite(dir.path().join("chat.db")),
            1,
            SqliteSync::Normal,
        )
        .unwrap();
        let mut conn = pool.get().unwrap();
        let mut account =
            |name, role| UserId(users::insert_user(&mut conn, name, role, None).unwrap().id);
        let (guest, customer, staff) = (
            account("visitor", Role::Guest),
            account("ann", Role::User),
            account("staff", Role::Admin),
        );
        let (from, into) = (RoomName::support(guest), RoomName::support(customer));
        store_batch(
            &mut conn,
            &[
                text(&into, customer, "earlier"),
                text(&from, guest, "one"),
                text(&from, staff, "two"),
                text(&from, guest, "oops"),
            ],
        )
        .unwrap();
        let oops = read_window(&mut conn, from.as_str(), Window::Latest, 1)
            .unwrap()
            .0[0]
            .id;
        admin::delete_message(&mut conn, oops).unwrap();

        let merged = merge_guest_conversation(&mut conn, guest, customer, Events::Off)
            .unwrap()
            .expect("an active guest");
        let moved: Vec<(i64, &str, UserId)> = merged
            .moved
            .iter()
            .map(|m| (m.seq, m.text.as_str(), m.from.id))
            .collect();
        assert_eq!(moved, [(2, "one", customer), (3, "two", staff)]);
        assert!(merged.moved.iter().all(|m| m.cid.is_none()));
        assert_eq!(
            merged.emptied.iter().map(|e| e.0).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(merged.guest, GuestFate::Deleted);
        assert_eq!(rooms::last_seq(&mut conn, into.as_str()).unwrap(), 4);
        assert_eq!(deleted_seqs(&mut conn, into.as_str(), 0, 4).unwrap(), [4]);
        assert_eq!(
            rooms::last_seq(&mut conn, from.as_str()).unwrap(),
            0,
            "retired"
        );
        assert!(users::find_by_id(&mut conn, guest).unwrap().is_none());

        // Again: no guest any more, nothing written (not even the retired room's row).
        assert!(
            merge_guest_conversation(&mut conn, guest, customer, Events::Off)
                .unwrap()
                .is_none()
        );
        let room_rows = with_backend!(&mut *conn, c => crate::db::schema::rooms::table
            .filter(crate::db::schema::rooms::name.eq(from.as_str()))
            .count()
            .get_result::<i64>(c))
        .unwrap();
        assert_eq!(room_rows, 0);
        // A registered user or the customer themself is no guest to merge.
        assert!(
            merge_guest_conversation(&mut conn, staff, customer, Events::Off)
                .unwrap()
                .is_none()
        );
    }
}
