//! What the staff console shows beside a support conversation (the customer panel of
//! `GET /api/admin/conversations/{room}`), and the two things about a customer it shows that
//! the customer's own traffic writes: when they were last there (`users.last_seen_at`, set by
//! the chat server when their first connection opens and their last one closes) and the store
//! page they were on (`users.last_page`, reported by the widget through `PATCH /api/me`).

use super::connection::DbConn;
use super::error::StorageError;
use super::models::UserRow;
use super::rooms;
use super::schema::{conversations, messages, users};
use crate::domain::{RoomKind, RoomName, UserId};
use crate::with_backend;
use diesel::prelude::*;

diesel::define_sql_function! {
    /// SQL `lower()`: emails are matched without regard to case.
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// Most earlier conversations a panel lists (the newest first).
pub const MAX_EARLIER: usize = 20;

/// Another conversation of the same person: a different account (an earlier guest session,
/// another device) with the same email or the same external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierConversation {
    /// Its room, `support:<id>`.
    pub room: String,
    /// Its newest activity (ms).
    pub last_activity: i64,
    /// `open`, `pending` or `resolved`.
    pub status: String,
}

/// What the panel is made of, read in one trip.
#[derive(Debug, Clone)]
pub struct CustomerPanel {
    /// The customer's account.
    pub customer: UserRow,
    /// The customer's read cursor in the conversation.
    pub customer_read_seq: i64,
    /// The highest read cursor of the staff in it.
    pub staff_read_seq: i64,
    /// The customer's other conversations, newest activity first.
    pub earlier: Vec<EarlierConversation>,
}

/// The panel of a support conversation. `NotFound` when the customer does not exist (or is a
/// finished guest, whose messages moved on), or when the conversation has neither a row in
/// `conversations` nor a message. The caller checks that `room` is a support room; any other
/// room is `NotFound` here too.
pub fn customer_panel(conn: &mut DbConn, room: &RoomName) -> Result<CustomerPanel, StorageError> {
    let RoomKind::Support(owner) = room.kind() else {
        return Err(StorageError::NotFound);
    };
    let customer = super::users::find_by_id(conn, owner)?
        .filter(|c| c.merged_into.is_none())
        .ok_or(StorageError::NotFound)?;
    let name = room.as_str();
    if conversation(conn, name)?.is_none() && rooms::last_seq(conn, name)? == 0 {
        return Err(StorageError::NotFound);
    }
    Ok(CustomerPanel {
        customer_read_seq: rooms::read_cursor(conn, owner, name)?,
        staff_read_seq: rooms::staff_read_mark(conn, name, owner)?,
        earlier: earlier_conversations(conn, &customer)?,
        customer,
    })
}

/// The conversation's row: (status, last activity).
fn conversation(conn: &mut DbConn, room: &str) -> Result<Option<(String, i64)>, StorageError> {
    let row = with_backend!(conn, c => conversations::table
        .find(room)
        .select((conversations::status, conversations::last_activity))
        .get_result::<(String, i64)>(c)
        .optional())?;
    Ok(row)
}

/// The support conversations of the other accounts with the customer's email (any case) or
/// external id, newest activity first. A conversation without a row in `conversations` yet
/// (written by the message writer with its first message; a database from before it) counts
/// as `open` since its newest message, if it has one.
pub fn earlier_conversations(
    conn: &mut DbConn,
    customer: &UserRow,
) -> Result<Vec<EarlierConversation>, StorageError> {
    if customer.email.is_none() && customer.external_id.is_none() {
        return Ok(Vec::new());
    }
    let email = customer.email.as_ref().map(|e| e.to_lowercase());
    let external_id = customer.external_id.clone();
    // Both filters written out: `col.eq(None)` would be SQL `= NULL`, which never matches.
    let others: Vec<i64> = with_backend!(conn, c => {
        let mut query = users::table
            .filter(users::id.ne(customer.id))
            .select(users::id)
            .order(users::id.desc())
            .limit(4 * MAX_EARLIER as i64)
            .into_boxed();
        query = match (&email, &external_id) {
            (Some(email), Some(external_id)) => query.filter(
                lower(users::email)
                    .eq(email)
                    .or(users::external_id.eq(external_id)),
            ),
            (Some(email), None) => query.filter(lower(users::email).eq(email)),
            (None, Some(external_id)) => query.filter(users::external_id.eq(external_id)),
            (None, None) => query,
        };
        query.load(c)
    })?;
    let mut earlier = Vec::new();
    for id in others {
        let room = RoomName::support(UserId(id));
        let name = room.as_str();
        let found = match conversation(conn, name)? {
            Some((status, last_activity)) => Some((status, last_activity)),
            None => newest_message_at(conn, name)?.map(|at| ("open".to_owned(), at)),
        };
        if let Some((status, last_activity)) = found {
            earlier.push(EarlierConversation {
                room: name.to_owned(),
                last_activity,
                status,
            });
        }
    }
    earlier.sort_by_key(|e| std::cmp::Reverse(e.last_activity));
    earlier.truncate(MAX_EARLIER);
    Ok(earlier)
}

/// When the newest message of a room was stored, if it has one.
fn newest_message_at(conn: &mut DbConn, room: &str) -> Result<Option<i64>, StorageError> {
    let at = with_backend!(conn, c => messages::table
        .filter(messages::room.eq(room))
        .order(messages::seq.desc())
        .select(messages::created_at)
        .first::<i64>(c)
        .optional())?;
    Ok(at)
}

/// Records that the user was there at `at` (ms): their first connection opened or their last
/// one closed. Never moves it back (two servers, or a late write, cannot undo a newer one).
pub fn set_last_seen(conn: &mut DbConn, user: UserId, at: i64) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(
        users::table
            .find(user.0)
            .filter(users::last_seen_at.is_null().or(users::last_seen_at.lt(at))),
    )
    .set(users::last_seen_at.eq(at))
    .execute(c))?;
    Ok(())
}

/// Stores the store page the customer is on (checked by `domain::PageUrl`); returns the
/// account. `NotFound` when it is gone.
pub fn set_last_page(conn: &mut DbConn, user: UserId, page: &str) -> Result<UserRow, StorageError> {
    let row = with_backend!(conn, c => diesel::update(users::table.find(user.0))
        .set(users::last_page.eq(page))
        .returning(UserRow::as_returning())
        .get_result(c)
        .optional())?;
    row.ok_or(StorageError::NotFound)
}
