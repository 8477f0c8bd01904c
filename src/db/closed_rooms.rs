//! Closed support conversations: a support room whose owner has no account any more, or is a
//! guest finished by a merge (`db::merge`: a guest who signed in on the store is deleted, or
//! banned and marked `merged_into` when something still refers to it). Nothing is ever stored into a closed room, and
//! nobody opens it: its messages moved to the customer's conversation, and a message acked in
//! it would be visible nowhere.
//!
//! The message writers ask after they locked the batch's rooms (the order a merge locks them
//! in), so a merge on another server sharing PostgreSQL either finished before (the room is
//! closed) or waits for the batch (whose messages then move with the rest).

use super::connection::DbConn;
use super::error::StorageError;
use super::schema::users;
use crate::domain::{RoomKind, RoomName};
use crate::with_backend;
use diesel::prelude::*;
use diesel::PgConnection;

/// Whether a support room is closed, given whether its owner was finished by a merge (`None`
/// for no account). A guest banned by the staff is not finished: the staff still read and
/// answer its conversation, and lifting the ban gives it back to the guest.
pub fn closes_support_room(owner_merged: Option<bool>) -> bool {
    owner_merged.unwrap_or(true)
}

/// The closed support rooms among `rooms` (public rooms are never closed), in one query.
pub fn closed_support_rooms<'r>(
    conn: &mut DbConn,
    rooms: &[&'r str],
) -> Result<Vec<&'r str>, StorageError> {
    closed_among(
        rooms,
        |ids| with_backend!(conn, c => owners_query(ids).load::<(i64, Option<i64>)>(c)),
    )
}

/// [`closed_support_rooms`] on a bare PostgreSQL connection (the batch path of
/// `store_pg_arrays`).
pub fn closed_support_rooms_pg<'r>(
    conn: &mut PgConnection,
    rooms: &[&'r str],
) -> Result<Vec<&'r str>, StorageError> {
    closed_among(rooms, |ids| {
        owners_query(ids).load::<(i64, Option<i64>)>(conn)
    })
}

/// The query of [`owners_query`].
type OwnersQuery<'a> = diesel::dsl::Select<
    diesel::dsl::Filter<users::table, diesel::dsl::EqAny<users::id, &'a [i64]>>,
    (users::id, users::merged_into),
>;

/// (id, merged into) of the accounts `ids`.
fn owners_query(ids: &[i64]) -> OwnersQuery<'_> {
    users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::merged_into))
}

/// The closed rooms among `rooms`, their owners read by `load` (skipped when none is a
/// support room).
fn closed_among<'r>(
    rooms: &[&'r str],
    load: impl FnOnce(&[i64]) -> diesel::QueryResult<Vec<(i64, Option<i64>)>>,
) -> Result<Vec<&'r str>, StorageError> {
    let owners = support_owners(rooms);
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = owners.iter().map(|o| o.1).collect();
    let rows = load(&ids)?;
    Ok(closed(&owners, &rows))
}

/// The support rooms of `rooms` (and the notes threads, closed with their conversation: a
/// note is never stored into the thread of a finished guest) with their owners' ids.
fn support_owners<'r>(rooms: &[&'r str]) -> Vec<(&'r str, i64)> {
    rooms
        .iter()
        .filter_map(|&room| match RoomName::parse(room).ok()?.kind() {
            RoomKind::Support(owner) | RoomKind::Notes(owner) => Some((room, owner.0)),
            _ => None,
        })
        .collect()
}

/// The rooms of `owners` closed by what `rows` ((id, merged into)) say of their owners.
fn closed<'r>(owners: &[(&'r str, i64)], rows: &[(i64, Option<i64>)]) -> Vec<&'r str> {
    owners
        .iter()
        .filter(|(_, owner)| {
            let row = rows.iter().find(|r| r.0 == *owner);
            closes_support_room(row.map(|r| r.1.is_some()))
        })
        .map(|(room, _)| *room)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_support_rooms_of_missing_or_finished_guests_are_closed() {
        // 1: a guest merged into customer 9 and kept; 2: a guest; 3: a banned account.
        let rows = vec![(1, Some(9)), (2, None), (3, None)];
        let rooms = [
            "lobby",
            "support:1",
            "support:2",
            "support:3",
            "support:4",
            "notes:1",
            "notes:2",
        ];
        let owners = support_owners(&rooms);
        assert_eq!(owners.len(), 6, "the lobby has no owner");
        assert_eq!(
            closed(&owners, &rows),
            ["support:1", "support:4", "notes:1"],
            "a notes thread closes with its conversation"
        );
    }
}
