//! Closed support conversations: a support room whose owner has no account any more, or is a
//! guest finished by a merge (`db::merge`: a guest who signed in on the store is deleted, or
//! banned when something still refers to it). Nothing is ever stored into a closed room, and
//! nobody opens it: its messages moved to the customer's conversation, and a message acked in
//! it would be visible nowhere.
//!
//! The message writers ask after they locked the batch's rooms (the order a merge locks them
//! in), so a merge on another server sharing PostgreSQL either finished before (the room is
//! closed) or waits for the batch (whose messages then move with the rest).

use super::connection::DbConn;
use super::error::StorageError;
use super::schema::users;
use crate::domain::{Role, RoomKind, RoomName};
use crate::with_backend;
use diesel::prelude::*;
use diesel::PgConnection;

/// Whether a support room whose owner reads as `owner` ((role, banned), `None` for no account)
/// is closed. A guest banned by an admin counts as finished too: a banned account never reads
/// its conversation again.
pub fn closes_support_room(owner: Option<(&str, bool)>) -> bool {
    match owner {
        None => true,
        Some((role, banned)) => banned && role == Role::Guest.as_str(),
    }
}

/// The closed support rooms among `rooms` (public rooms are never closed), in one query.
pub fn closed_support_rooms<'r>(
    conn: &mut DbConn,
    rooms: &[&'r str],
) -> Result<Vec<&'r str>, StorageError> {
    let owners = support_owners(rooms);
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = owners.iter().map(|o| o.1).collect();
    let rows = with_backend!(conn, c => users::table
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::role, users::banned))
        .load::<(i64, String, bool)>(c))?;
    Ok(closed(&owners, &rows))
}

/// [`closed_support_rooms`] on a bare PostgreSQL connection (the batch path of
/// `store_pg_arrays`).
pub fn closed_support_rooms_pg<'r>(
    conn: &mut PgConnection,
    rooms: &[&'r str],
) -> Result<Vec<&'r str>, StorageError> {
    let owners = support_owners(rooms);
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = owners.iter().map(|o| o.1).collect();
    let rows = users::table
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::role, users::banned))
        .load::<(i64, String, bool)>(conn)?;
    Ok(closed(&owners, &rows))
}

/// The support rooms of `rooms` with their owners' ids.
fn support_owners<'r>(rooms: &[&'r str]) -> Vec<(&'r str, i64)> {
    rooms
        .iter()
        .filter_map(|&room| match RoomName::parse(room).ok()?.kind() {
            RoomKind::Support(owner) => Some((room, owner.0)),
            _ => None,
        })
        .collect()
}

/// The rooms of `owners` closed by what `rows` ((id, role, banned)) say of their owners.
fn closed<'r>(owners: &[(&'r str, i64)], rows: &[(i64, String, bool)]) -> Vec<&'r str> {
    owners
        .iter()
        .filter(|(_, owner)| {
            let row = rows.iter().find(|r| r.0 == *owner);
            closes_support_room(row.map(|r| (r.1.as_str(), r.2)))
        })
        .map(|(room, _)| *room)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_support_rooms_of_missing_or_finished_guests_are_closed() {
        let rows = vec![
            (1, "guest".to_owned(), true),
            (2, "guest".to_owned(), false),
            (3, "user".to_owned(), true),
        ];
        let rooms = ["lobby", "support:1", "support:2", "support:3", "support:4"];
        let owners = support_owners(&rooms);
        assert_eq!(owners.len(), 4, "the lobby has no owner");
        assert_eq!(closed(&owners, &rows), ["support:1", "support:4"]);
    }
}
