//! The support conversations as the staff's console sees them: one row of `conversations` per
//! conversation (written by the message writer with the messages, `db::store_conversations`),
//! listed with filters as an index read of that table joined to the customer's account (never a
//! scan of the messages), read one at a time, and changed by the staff (status, assignee).
//!
//! A conversation's extras (newest seq, newest visible message, read cursors, unread count)
//! are a few reads by primary key or by the `(room, seq)` index per listed row.

use super::connection::DbConn;
use super::error::StorageError;
use super::messages::{read_window, Window};
use super::models::{StoredMessage, UserRow};
use super::rooms;
use super::schema::{conversations, room_members, users};
use crate::domain::{ConversationStatus, Role, RoomKind, RoomName, UserId, UserInfo};
use crate::with_backend;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

diesel::define_sql_function! {
    /// SQL `lower()`: the filter `q` is case-insensitive on both backends.
    fn lower(x: Nullable<Text>) -> Nullable<Text>;
}

/// A row of `conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = conversations)]
pub struct ConversationRow {
    /// `support:<customer id>`.
    pub room: String,
    /// The customer.
    pub customer_id: i64,
    /// `open`, `pending` or `resolved`.
    pub status: String,
    /// The staff member who handles it, if any.
    pub assignee_id: Option<i64>,
    /// Its first message (ms).
    pub created_at: i64,
    /// Its newest message (ms).
    pub last_activity: i64,
    /// Its last change of status or assignee, or its creation (ms).
    pub updated_at: i64,
}

/// A support conversation with everything the console shows of it.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// `support:<id>`.
    pub room: RoomName,
    /// The customer's account.
    pub customer: UserRow,
    /// Where it stands.
    pub status: ConversationStatus,
    /// Who handles it.
    pub assignee: Option<UserInfo>,
    /// Its first message (ms).
    pub created_at: i64,
    /// Its newest message (ms).
    pub last_activity: i64,
    /// Messages by others after the viewer's read cursor (see [`Viewer`]).
    pub unread: i64,
    /// The room's newest seq.
    pub last_seq: i64,
    /// The newest visible message.
    pub last_message: Option<StoredMessage>,
    /// How far the customer has read.
    pub customer_read_seq: i64,
    /// How far the staff member who read furthest has read.
    pub staff_read_seq: i64,
}

/// Whose unread count a conversation carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// This staff member's: the messages by others after their read cursor.
    Staff(UserId),
    /// Nobody's in particular (a change no staff member made, told to every staff member):
    /// the messages after the furthest staff read cursor, which no one on the staff has read.
    Team,
}

/// Which assignee the list keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Any, or none.
    Any,
    /// Only unassigned conversations.
    Nobody,
    /// Only those of this staff member.
    Member(UserId),
}

/// What the console asks for.
#[derive(Debug, Clone)]
pub struct ListFilter {
    /// Only conversations in this status.
    pub status: Option<ConversationStatus>,
    /// Only conversations of this assignee (or none).
    pub assignee: AssigneeFilter,
    /// Only customers whose name, email or external id holds this (case-insensitive).
    pub q: Option<String>,
    /// At most this many.
    pub limit: i64,
}

/// The conversations that pass `filter`, newest activity first (the `conversations_activity`
/// index), with `viewer`'s unread counts.
pub fn list(
    conn: &mut DbConn,
    viewer: Viewer,
    filter: &ListFilter,
) -> Result<Vec<Conversation>, StorageError> {
    let pattern = filter.q.as_deref().map(like_pattern);
    let rows: Vec<(ConversationRow, UserRow)> = with_backend!(conn, c => {
        let mut query = conversations::table
            .inner_join(users::table.on(users::id.eq(conversations::customer_id)))
            .select((ConversationRow::as_select(), UserRow::as_select()))
            .order((conversations::last_activity.desc(), conversations::room.asc()))
            .limit(filter.limit)
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(conversations::status.eq(status.as_str()));
        }
        match filter.assignee {
            AssigneeFilter::Any => {}
            AssigneeFilter::Nobody => query = query.filter(conversations::assignee_id.is_null()),
            AssigneeFilter::Member(id) => {
                query = query.filter(conversations::assignee_id.eq(id.0))
            }
        }
        if let Some(pattern) = &pattern {
            query = query.filter(
                lower(users::username.nullable())
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(users::email).like(pattern.clone()).escape('\\'))
                    .or(lower(users::external_id).like(pattern.clone()).escape('\\')),
            );
        }
        query.load(c)
    })?;
    let assignees = assignees_of(conn, rows.iter().filter_map(|(r, _)| r.assignee_id))?;
    let mut out = Vec::with_capacity(rows.len());
    for (row, customer) in rows {
        if let Some(conversation) = complete(conn, viewer, row, customer, &assignees)? {
            out.push(conversation);
        }
    }
    Ok(out)
}

/// One conversation, if it exists.
pub fn get(
    conn: &mut DbConn,
    viewer: Viewer,
    room: &RoomName,
) -> Result<Option<Conversation>, StorageError> {
    let found: Option<(ConversationRow, UserRow)> = with_backend!(conn, c => conversations::table
        .inner_join(users::table.on(users::id.eq(conversations::customer_id)))
        .filter(conversations::room.eq(room.as_str()))
        .select((ConversationRow::as_select(), UserRow::as_select()))
        .get_result(c)
        .optional())?;
    let Some((row, customer)) = found else {
        return Ok(None);
    };
    let assignees = assignees_of(conn, row.assignee_id)?;
    complete(conn, viewer, row, customer, &assignees)
}

/// Sets the status; `NotFound` without such a conversation. Answers whether it changed.
pub fn set_status(
    conn: &mut DbConn,
    room: &RoomName,
    status: ConversationStatus,
    now: i64,
) -> Result<bool, StorageError> {
    let changed = with_backend!(conn, c => diesel::update(
        conversations::table
            .filter(conversations::room.eq(room.as_str()))
            .filter(conversations::status.ne(status.as_str())),
    )
    .set((
        conversations::status.eq(status.as_str()),
        conversations::updated_at.eq(now),
    ))
    .execute(c))?;
    if changed == 0 && !exists(conn, room)? {
        return Err(StorageError::NotFound);
    }
    Ok(changed > 0)
}

/// Why an assignee was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assigned {
    /// Done; whether it changed.
    Done(bool),
    /// Not an active staff account.
    NotStaff,
}

/// Sets (or, with `None`, clears) the assignee, who must be an active staff account;
/// `NotFound` without such a conversation.
pub fn set_assignee(
    conn: &mut DbConn,
    room: &RoomName,
    assignee: Option<UserId>,
    now: i64,
) -> Result<Assigned, StorageError> {
    conn.transaction(|conn| {
        if let Some(id) = assignee {
            let staff = !active_staff(conn, &[id.0])?.is_empty();
            if !staff {
                return Ok(Assigned::NotStaff);
            }
        }
        let current: Option<Option<i64>> = with_backend!(conn, c => conversations::table
            .filter(conversations::room.eq(room.as_str()))
            .select(conversations::assignee_id)
            .get_result(c)
            .optional())?;
        let Some(current) = current else {
            return Err(StorageError::NotFound);
        };
        let wanted = assignee.map(|a| a.0);
        if current == wanted {
            return Ok(Assigned::Done(false));
        }
        with_backend!(conn, c => diesel::update(
            conversations::table.filter(conversations::room.eq(room.as_str())),
        )
        .set((
            conversations::assignee_id.eq(wanted),
            conversations::updated_at.eq(now),
        ))
        .execute(c))?;
        Ok(Assigned::Done(true))
    })
}

/// Of `candidates`, the active staff accounts whose availability is `online`, by id: who may
/// get a new conversation by auto-assignment.
pub fn available_staff(conn: &mut DbConn, candidates: &[i64]) -> Result<Vec<UserId>, StorageError> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = with_backend!(conn, c => users::table
        .filter(users::id.eq_any(candidates))
        .filter(users::role.eq_any([Role::Admin.as_str(), Role::Agent.as_str()]))
        .filter(users::active.eq(true))
        .filter(users::availability.eq("online"))
        .select(users::id)
        .order(users::id.asc())
        .load(c))?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// The active staff accounts among `ids`.
fn active_staff(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<UserRow>, StorageError> {
    let rows = with_backend!(conn, c => users::table
        .filter(users::id.eq_any(ids))
        .filter(users::role.eq_any([Role::Admin.as_str(), Role::Agent.as_str()]))
        .filter(users::active.eq(true))
        .select(UserRow::as_select())
        .load(c))?;
    Ok(rows)
}

fn exists(conn: &mut DbConn, room: &RoomName) -> Result<bool, StorageError> {
    let found = with_backend!(conn, c => conversations::table
        .filter(conversations::room.eq(room.as_str()))
        .select(conversations::room)
        .get_result::<String>(c)
        .optional())?;
    Ok(found.is_some())
}

/// The accounts of these assignees (one query for the whole list), as id → user.
fn assignees_of(
    conn: &mut DbConn,
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<UserInfo>, StorageError> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<UserRow> = with_backend!(conn, c => users::table
        .filter(users::id.eq_any(&ids))
        .select(UserRow::as_select())
        .load(c))?;
    Ok(rows.iter().map(UserRow::info).collect())
}

/// A listed row with its extras; `None` for a row whose room name is not a support room's.
fn complete(
    conn: &mut DbConn,
    viewer: Viewer,
    row: ConversationRow,
    customer: UserRow,
    assignees: &[UserInfo],
) -> Result<Option<Conversation>, StorageError> {
    let Ok(room) = RoomName::parse(&row.room) else {
        return Ok(None);
    };
    let RoomKind::Support(_) = room.kind() else {
        return Ok(None);
    };
    let name = room.as_str();
    let customer_read_seq = rooms::read_cursor(conn, UserId(customer.id), name)?;
    let staff_read_seq = staff_read_seq(conn, name)?;
    let unread = match viewer {
        Viewer::Staff(id) => rooms::unread_count(conn, id, name)?,
        // No account has id 0: every message after the cursor counts.
        Viewer::Team => rooms::unread_after(conn, UserId(0), name, staff_read_seq)?,
    };
    let (mut latest, _) = read_window(conn, name, Window::Latest, 1)?;
    Ok(Some(Conversation {
        last_seq: rooms::last_seq(conn, name)?,
        last_message: latest.pop(),
        unread,
        customer_read_seq,
        staff_read_seq,
        status: ConversationStatus::parse(&row.status).unwrap_or(ConversationStatus::Open),
        assignee: row
            .assignee_id
            .and_then(|id| assignees.iter().find(|a| a.id.0 == id).cloned()),
        created_at: row.created_at,
        last_activity: row.last_activity,
        customer,
        room,
    }))
}

/// The furthest read cursor of a staff member in the room (0 when none has read it).
fn staff_read_seq(conn: &mut DbConn, room: &str) -> Result<i64, StorageError> {
    let seq: Option<i64> = with_backend!(conn, c => room_members::table
        .inner_join(users::table)
        .filter(room_members::room.eq(room))
        .filter(users::role.eq_any([Role::Admin.as_str(), Role::Agent.as_str()]))
        .select(diesel::dsl::max(room_members::last_read_seq))
        .get_result(c))?;
    Ok(seq.unwrap_or(0))
}

/// `%q%`, lower-cased, with LIKE's wildcards in `q` matched literally (escaped by `\`).
fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for ch in q.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_matches_its_wildcards_literally_and_ignores_case() {
        assert_eq!(like_pattern("Ann"), "%ann%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
