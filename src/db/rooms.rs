//! Room, membership and read-cursor queries.

use super::connection::DbConn;
use super::error::StorageError;
use super::models::RoomSummary;
use super::room_creation::create_room_as;
use super::schema::{messages, room_members, rooms, users};
use crate::domain::{now_millis, RoomKind, RoomName, UserId};
use crate::with_backend;
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Text};

/// Creates the room's row (its sequence counter) if it does not exist yet.
pub fn ensure_room(conn: &mut DbConn, room: &str) -> Result<(), StorageError> {
    let query = EnsureRoom {
        room,
        now: now_millis(),
    };
    with_backend!(conn, c => query.execute(c))?;
    Ok(())
}

/// Locks the rows of these rooms (creating those that have none yet) until the transaction
/// ends, in byte order of the names, the order every writer takes them in (no deadlock). A
/// writer that holds them knows that no message of these rooms is being stored by anyone else:
/// what it reads of them next is final. Only the rare retry of a batch that met another
/// writer's copy of one of its resends takes this statement (`messages::store_batch_tracked`).
pub fn lock_rooms<'a>(
    conn: &mut DbConn,
    rooms: impl IntoIterator<Item = &'a str>,
) -> Result<(), StorageError> {
    let mut names: Vec<&str> = rooms.into_iter().collect();
    names.sort_unstable();
    names.dedup();
    let now = now_millis();
    for room in names {
        let query = LockRoom { room, now };
        with_backend!(conn, c => query.execute(c))?;
    }
    Ok(())
}

/// The newest seq in a room; 0 for a room without messages or without a row.
pub fn last_seq(conn: &mut DbConn, room: &str) -> Result<i64, StorageError> {
    let seq = with_backend!(conn, c => rooms::table
        .find(room)
        .select(rooms::last_seq)
        .get_result::<i64>(c)
        .optional())?;
    Ok(seq.unwrap_or(0))
}

/// The newest seq of each of these rooms, in one statement (`= ANY($1)` on PostgreSQL, `IN` on
/// SQLite); a room without a row is left out (it has no message).
pub fn last_seqs(conn: &mut DbConn, names: &[&str]) -> Result<Vec<(String, i64)>, StorageError> {
    let seqs = with_backend!(conn, c => rooms::table
        .filter(rooms::name.eq_any(names))
        .select((rooms::name, rooms::last_seq))
        .load::<(String, i64)>(c))?;
    Ok(seqs)
}

/// Reserves `count` sequence numbers in a room and returns the last of them. Run inside the
/// transaction that inserts the messages: the row lock it takes orders concurrent writers (on
/// PostgreSQL, several server processes), so seqs stay gap-free and unique.
pub fn reserve_seqs(conn: &mut DbConn, room: &str, count: i64) -> Result<i64, StorageError> {
    let query = ReserveSeqs { room, count };
    let last = with_backend!(conn, c => query.get_result::<i64>(c))?;
    Ok(last)
}

/// `INSERT INTO rooms ... ON CONFLICT DO NOTHING`, written out so that Diesel keeps its
/// prepared statement: its own upsert builds the SQL text on every call to look it up.
#[derive(Debug, Clone, Copy)]
struct EnsureRoom<'a> {
    room: &'a str,
    now: i64,
}

impl<DB> QueryFragment<DB> for EnsureRoom<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        push_room_row(&mut out, self.room, &self.now)?;
        out.push_sql(" ON CONFLICT DO NOTHING");
        Ok(())
    }
}

/// `INSERT INTO rooms ... ON CONFLICT (name) DO UPDATE` that changes nothing: an upsert that
/// takes the existing row's lock on PostgreSQL (and SQLite's write lock), where `DO NOTHING`
/// takes none.
#[derive(Debug, Clone, Copy)]
struct LockRoom<'a> {
    room: &'a str,
    now: i64,
}

impl<DB> QueryFragment<DB> for LockRoom<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        push_room_row(&mut out, self.room, &self.now)?;
        out.push_sql(" ON CONFLICT (name) DO UPDATE SET last_seq = rooms.last_seq");
        Ok(())
    }
}

/// `INSERT INTO rooms ... VALUES (room, 0, now)`: a new room's row, as [`EnsureRoom`] and
/// [`LockRoom`] write it before their own `ON CONFLICT`.
fn push_room_row<'b, DB>(
    out: &mut AstPass<'_, 'b, DB>,
    room: &'b str,
    now: &'b i64,
) -> QueryResult<()>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    out.push_sql("INSERT INTO rooms (name, last_seq, created_at) VALUES (");
    out.push_bind_param::<Text, str>(room)?;
    out.push_sql(", 0, ");
    out.push_bind_param::<BigInt, i64>(now)?;
    out.push_sql(")");
    Ok(())
}

/// `UPDATE rooms SET last_seq = last_seq + count ... RETURNING last_seq`, written out because
/// Diesel never caches the prepared statement of its own UPDATE: on SQLite that re-prepared
/// it for every batch (about a sixth of the cost of storing a message, measured with callgrind).
#[derive(Debug, Clone, Copy)]
struct ReserveSeqs<'a> {
    room: &'a str,
    count: i64,
}

impl<DB> QueryFragment<DB> for ReserveSeqs<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE rooms SET last_seq = last_seq + ");
        out.push_bind_param::<BigInt, i64>(&self.count)?;
        out.push_sql(" WHERE name = ");
        out.push_bind_param::<Text, str>(self.room)?;
        out.push_sql(" RETURNING last_seq");
        Ok(())
    }
}

impl Query for ReserveSeqs<'_> {
    type SqlType = BigInt;
}

/// A hand-written statement whose SQL is the same on every call: a static query id lets
/// Diesel prepare it once per connection and keep it.
macro_rules! cached_statement {
    ($($name:ident),+) => {$(
        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<Conn> RunQueryDsl<Conn> for $name<'_> {}
    )+};
}

cached_statement!(EnsureRoom, LockRoom, ReserveSeqs);

/// Puts the room in the user's list (idempotent), creating the room if needed.
pub fn add_member(conn: &mut DbConn, user: UserId, room: &str) -> Result<(), StorageError> {
    ensure_room(conn, room)?;
    with_backend!(conn, c => diesel::insert_into(room_members::table)
        .values((
            room_members::user_id.eq(user.0),
            room_members::room.eq(room),
            room_members::last_read_seq.eq(0i64),
            room_members::joined_at.eq(now_millis()),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// Puts the room in the user's list like [`add_member`], unless that would give the user more
/// than `max_public_rooms` public rooms: then `TooManyRooms`, and nothing is written (not even
/// the room's row). Support rooms and notes threads never count: staff keep every customer's in
/// their list.
///
/// Concurrent joins of one user (the history actor's threads, other server processes) cannot
/// both slip under the cap: each inserts its row first and counts after, in one transaction.
/// On SQLite the insert takes the database's write lock at once, so the transactions run one
/// after the other. On PostgreSQL the count waits for a lock on the user's row, held until
/// commit: whichever counts second sees the other's row (read committed takes a new snapshot
/// for each statement).
///
/// A public room that does not exist yet is created as the user's, within `creation_budget`
/// ([`create_room_as`]).
pub fn join_room(
    conn: &mut DbConn,
    user: UserId,
    room: &RoomName,
    max_public_rooms: i64,
    creation_budget: Option<i64>,
) -> Result<(), StorageError> {
    conn.transaction(|conn| {
        let name = room.as_str();
        if room.kind() == RoomKind::Public {
            create_room_as(conn, name, user, creation_budget)?;
        } else {
            ensure_room(conn, name)?;
        }
        let inserted = with_backend!(conn, c => diesel::insert_into(room_members::table)
            .values((
                room_members::user_id.eq(user.0),
                room_members::room.eq(name),
                room_members::last_read_seq.eq(0i64),
                room_members::joined_at.eq(now_millis()),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted == 0 || room.kind() != RoomKind::Public {
            return Ok(());
        }
        lock_user_until_commit(conn, user)?;
        if public_room_count(conn, user)? > max_public_rooms {
            // Rolls the transaction back.
            return Err(StorageError::TooManyRooms);
        }
        Ok(())
    })
}

/// On PostgreSQL, locks the user's row until the transaction ends, so that two transactions
/// counting the user's rows (rooms in their list, rooms they created) take turns: whichever
/// counts second sees the other's row (read committed takes a new snapshot per statement).
/// Not FOR UPDATE: a member row's foreign key already holds a KEY SHARE lock on the user's
/// row, which FOR UPDATE would wait for (a deadlock between two joins); NO KEY UPDATE does not
/// conflict with it, only with itself. SQLite's write lock already orders them.
pub(super) fn lock_user_until_commit(conn: &mut DbConn, user: UserId) -> Result<(), StorageError> {
    if let DbConn::Postgres(c) = conn {
        users::table
            .find(user.0)
            .select(users::id)
            .for_no_key_update()
            .get_result::<i64>(c)?;
    }
    Ok(())
}

/// How many public rooms the user has in their list.
pub fn public_room_count(conn: &mut DbConn, user: UserId) -> Result<i64, StorageError> {
    let count = with_backend!(conn, c => room_members::table
        .filter(room_members::user_id.eq(user.0))
        .filter(room_members::room.not_like("support:%"))
        .filter(room_members::room.not_like("notes:%"))
        .count()
        .get_result::<i64>(c))?;
    Ok(count)
}

/// Whether the room is in the user's list.
pub fn is_member(conn: &mut DbConn, user: UserId, room: &str) -> Result<bool, StorageError> {
    let found = with_backend!(conn, c => room_members::table
        .find((user.0, room))
        .select(room_members::user_id)
        .get_result::<i64>(c)
        .optional())?;
    Ok(found.is_some())
}

/// Takes the room out of the user's list.
pub fn remove_member(conn: &mut DbConn, user: UserId, room: &str) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::delete(
        room_members::table
            .filter(room_members::user_id.eq(user.0))
            .filter(room_members::room.eq(room)),
    )
    .execute(c))?;
    Ok(())
}

/// The user's read cursor in a room (0 when never read).
pub fn read_cursor(conn: &mut DbConn, user: UserId, room: &str) -> Result<i64, StorageError> {
    let seq = with_backend!(conn, c => room_members::table
        .find((user.0, room))
        .select(room_members::last_read_seq)
        .get_result::<i64>(c)
        .optional())?;
    Ok(seq.unwrap_or(0))
}

/// Moves the user's read cursor forward to `seq` (never back, never past the room's end) and
/// returns the cursor; `NotMember` (and nothing written) when the room is not in the user's
/// list, except their own support conversation, which always is (`hello` lists it from the
/// start) and gets its row here. Writes first, so that SQLite takes its write lock at the start.
pub fn advance_read_cursor(
    conn: &mut DbConn,
    user: UserId,
    room: &RoomName,
    seq: i64,
) -> Result<i64, StorageError> {
    conn.transaction(|conn| move_cursor(conn, user, room, seq).map(|(cursor, _)| cursor))
}

/// The body of [`advance_read_cursor`], inside the caller's transaction: the cursor now, and
/// whether this call moved it.
fn move_cursor(
    conn: &mut DbConn,
    user: UserId,
    room: &RoomName,
    seq: i64,
) -> Result<(i64, bool), StorageError> {
    let name = room.as_str();
    if room.kind() == RoomKind::Support(user) {
        add_member(conn, user, name)?;
    }
    take_write_lock(conn, user, name)?;
    let seq = seq.min(last_seq(conn, name)?);
    let moved = with_backend!(conn, c => diesel::update(
        room_members::table
            .filter(room_members::user_id.eq(user.0))
            .filter(room_members::room.eq(name))
            .filter(room_members::last_read_seq.lt(seq)),
    )
    .set(room_members::last_read_seq.eq(seq))
    .execute(c))?;
    let cursor = with_backend!(conn, c => room_members::table
        .find((user.0, name))
        .select(room_members::last_read_seq)
        .get_result::<i64>(c)
        .optional())?;
    Ok((cursor.ok_or(StorageError::NotMember)?, moved > 0))
}

/// Where unread counts stop: a larger backlog counts as this many ("1000+" to a person), so
/// that a connect or a `read` never scans more of a room than this.
pub const UNREAD_CAP: i64 = 1000;

/// Messages by others after `after_seq` that are still visible, up to [`UNREAD_CAP`]: the
/// user's unread count.
pub fn unread_after(
    conn: &mut DbConn,
    user: UserId,
    room: &str,
    after_seq: i64,
) -> Result<i64, StorageError> {
    // The first UNREAD_CAP of them, by the (room, seq) index: counting them all would scan
    // every message a new member of a busy room has not read (58 ms for 300,000 in the
    // sqlite3 shell). The bound LIMIT makes SQLite prepare the statement again each time
    // (~20 µs, see the module doc of `db`): cheap next to the scan it saves.
    let seqs: Vec<i64> = with_backend!(conn, c => messages::table
        .filter(messages::room.eq(room))
        .filter(messages::seq.gt(after_seq))
        .filter(messages::sender_id.ne(user.0))
        .filter(messages::deleted.eq(false))
        .order(messages::seq.asc())
        .select(messages::seq)
        .limit(UNREAD_CAP)
        .load(c))?;
    Ok(seqs.len() as i64)
}

/// The user's unread count in one room.
pub fn unread_count(conn: &mut DbConn, user: UserId, room: &str) -> Result<i64, StorageError> {
    let cursor = read_cursor(conn, user, room)?;
    unread_after(conn, user, room, cursor)
}

/// Every room in the user's list, their own support conversation first (always there), then
/// the others by name.
pub fn summaries(conn: &mut DbConn, user: UserId) -> Result<Vec<RoomSummary>, StorageError> {
    let rows: Vec<(String, i64, i64)> = with_backend!(conn, c => room_members::table
        .inner_join(rooms::table)
        .filter(room_members::user_id.eq(user.0))
        .select((room_members::room, rooms::last_seq, room_members::last_read_seq))
        .order(room_members::room.asc())
        .load(c))?;
    let own = RoomName::support(user);
    let mut out = Vec::with_capacity(rows.len() + 1);
    if !rows.iter().any(|(room, _, _)| room == own.as_str()) {
        let last = last_seq(conn, own.as_str())?;
        let unread = unread_after(conn, user, own.as_str(), 0)?;
        out.push(RoomSummary {
            room: own.clone(),
            last_seq: last,
            unread,
        });
    }
    for (name, last, cursor) in rows {
        // Rows only ever hold names that were parsed on the way in.
        let Ok(room) = RoomName::parse(&name) else {
            continue;
        };
        let unread = unread_after(conn, user, &name, cursor)?;
        out.push(RoomSummary {
            room,
            last_seq: last,
            unread,
        });
    }
    out.sort_by_key(|s| s.room != own);
    Ok(out)
}

/// The highest read cursor of the staff in a support room: the greatest `last_read_seq` of
/// its members other than its customer (only staff may enter someone else's support room);
/// 0 when no staff member has read it.
pub fn staff_read_mark(
    conn: &mut DbConn,
    room: &str,
    customer: UserId,
) -> Result<i64, StorageError> {
    let mark = with_backend!(conn, c => room_members::table
        .filter(room_members::room.eq(room))
        .filter(room_members::user_id.ne(customer.0))
        .select(diesel::dsl::max(room_members::last_read_seq))
        .get_result::<Option<i64>>(c))?;
    Ok(mark.unwrap_or(0))
}

/// What `joined` of a support room says of the other side (`seen_seq`): to its customer, the
/// staff's high-water mark; to staff, the customer's read cursor. `None` for other rooms.
pub fn seen_seq(
    conn: &mut DbConn,
    user: UserId,
    room: &RoomName,
) -> Result<Option<i64>, StorageError> {
    let RoomKind::Support(customer) = room.kind() else {
        return Ok(None);
    };
    let seq = if customer == user {
        staff_read_mark(conn, room.as_str(), customer)?
    } else {
        read_cursor(conn, customer, room.as_str())?
    };
    Ok(Some(seq))
}

/// A read in a support room, stored: the reader's cursor, and the seq the other side is to
/// be told of (`seen`), if the read moved their side's mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportRead {
    /// The reader's cursor after the read.
    pub cursor: i64,
    /// The customer's new cursor (a customer's read that moved it), or the staff's new
    /// high-water mark (a staff member's read past every other staff member's cursor).
    pub seen: Option<i64>,
}

/// [`advance_read_cursor`] in a support room, also telling whether the read moved the reader's
/// side: the customer's cursor, or for staff the highest cursor of the staff. Written first,
/// then read, in one transaction (SQLite takes its write lock at the start). On PostgreSQL two
/// staff members reading the same seq at the same moment may both be told they moved the mark:
/// the other side then hears the same `seen` twice, which is harmless.
pub fn advance_support_read(
    conn: &mut DbConn,
    user: UserId,
    room: &RoomName,
    seq: i64,
) -> Result<SupportRead, StorageError> {
    let RoomKind::Support(customer) = room.kind() else {
        let cursor = advance_read_cursor(conn, user, room, seq)?;
        return Ok(SupportRead { cursor, seen: None });
    };
    conn.transaction(|conn| {
        let (cursor, moved) = move_cursor(conn, user, room, seq)?;
        let seen = if !moved {
            None
        } else if customer == user {
            Some(cursor)
        } else {
            let others = with_backend!(conn, c => room_members::table
                .filter(room_members::room.eq(room.as_str()))
                .filter(room_members::user_id.ne(customer.0))
                .filter(room_members::user_id.ne(user.0))
                .select(diesel::dsl::max(room_members::last_read_seq))
                .get_result::<Option<i64>>(c))?;
            (cursor > others.unwrap_or(0)).then_some(cursor)
        };
        Ok(SupportRead { cursor, seen })
    })
}

/// A write that changes nothing (the user's member row, if any, set to itself), made first in
/// a transaction that reads before it writes. SQLite begins a transaction deferred: a read
/// takes a snapshot, and the first write after it fails at once with `SQLITE_BUSY` (no waiting
/// for the busy timeout) if another connection committed in between, e.g. the history actor's
/// other thread recording `last_seen_at` as a connection opens. Writing first waits for the
/// lock like any write. On PostgreSQL it only locks the member row, which the update that
/// follows locks anyway.
fn take_write_lock(conn: &mut DbConn, user: UserId, room: &str) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(room_members::table.find((user.0, room)))
        .set(room_members::last_read_seq.eq(room_members::last_read_seq))
        .execute(c))?;
    Ok(())
}
