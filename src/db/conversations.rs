//! The support conversations as the staff's console sees them: one row of `conversations` per
//! conversation (written by the message writer with the messages, `db::store_conversations`),
//! listed with filters as an index read of that table joined to the customer's account (never a
//! scan of the messages), read one at a time, and changed by the staff (status, assignee).
//!
//! A list's extras (assignees, newest seqs, read cursors) are one query each for the whole
//! list; the unread count and the newest visible message one read by the `(room, seq)` index
//! each per listed row.

use super::connection::DbConn;
use super::error::StorageError;
use super::messages::{read_window, Window};
use super::models::{StoredMessage, UserRow};
use super::rooms as rooms_q;
use super::schema::{conversations, room_members, rooms, users};
use crate::domain::{ConversationStatus, Role, RoomKind, RoomName, UserId, UserInfo};
use crate::with_backend;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use std::collections::HashMap;

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
    complete(conn, viewer, rows)
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
    Ok(complete(conn, viewer, found.into_iter().collect())?.pop())
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

/// Whom a conversation must be with for an assignment to change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Whoever has it (a staff member's assignment by hand).
    Anyone,
    /// Nobody yet (an automatic assignment never takes a conversation someone took).
    Nobody,
    /// This member (giving back a deactivated member's conversations never takes one that a
    /// colleague took meanwhile).
    Member(UserId),
}

/// Sets or clears a conversation's assignee, if it is with `holder`; whether it changed.
/// `NotFound` without such a conversation; `NotStaff` when the assignee is not an active
/// staff member, checked in the `UPDATE` itself too, so that an assignment racing the
/// member's deactivation never lands after it. One conditional `UPDATE`, no read before it
/// that it depends on: SQLite refuses at once a transaction that read and then writes after
/// another connection's commit, and two agents assigning at once each see their own change
/// applied in the order the database took them.
pub fn set_assignee(
    conn: &mut DbConn,
    room: &RoomName,
    assignee: Option<UserId>,
    holder: Holder,
    now: i64,
) -> Result<Assigned, StorageError> {
    if let Some(id) = assignee {
        if active_staff(conn, &[id.0])?.is_empty() {
            return Ok(Assigned::NotStaff);
        }
    }
    let changed = with_backend!(conn, c => {
        let mut target = diesel::update(conversations::table)
            .filter(conversations::room.eq(room.as_str()))
            .into_boxed();
        target = match holder {
            Holder::Anyone => target,
            Holder::Nobody => target.filter(conversations::assignee_id.is_null()),
            Holder::Member(m) => target.filter(conversations::assignee_id.eq(m.0)),
        };
        target = match assignee {
            // Only a change, and only to someone still on the team at the moment it lands.
            Some(id) => target
                .filter(
                    conversations::assignee_id
                        .is_null()
                        .or(conversations::assignee_id.ne(id.0)),
                )
                .filter(diesel::dsl::exists(
                    users::table
                        .filter(users::id.eq(id.0))
                        .filter(users::role.eq_any([Role::Admin.as_str(), Role::Agent.as_str()]))
                        .filter(users::active.eq(true)),
                )),
            None => target.filter(conversations::assignee_id.is_not_null()),
        };
        target
            .set((
                conversations::assignee_id.eq(assignee.map(|a| a.0)),
                conversations::updated_at.eq(now),
            ))
            .execute(c)
    })?;
    if changed == 0 {
        if !exists(conn, room)? {
            return Err(StorageError::NotFound);
        }
        // Deactivated between the check above and the update.
        if let Some(id) = assignee {
            if active_staff(conn, &[id.0])?.is_empty() {
                return Ok(Assigned::NotStaff);
            }
        }
    }
    Ok(Assigned::Done(changed > 0))
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

/// The listed rows with their extras, in order (rows whose name is not a support room's are
/// left out). The assignees, the rooms' newest seqs and the read cursors are one query each
/// for the whole list; the unread count and the newest visible message are one indexed read
/// each per row.
fn complete(
    conn: &mut DbConn,
    viewer: Viewer,
    rows: Vec<(ConversationRow, UserRow)>,
) -> Result<Vec<Conversation>, StorageError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = rows.iter().map(|(r, _)| r.room.as_str()).collect();
    let assignees = assignees_of(conn, rows.iter().filter_map(|(r, _)| r.assignee_id))?;
    let last_seqs: HashMap<String, i64> = with_backend!(conn, c => rooms::table
        .filter(rooms::name.eq_any(&names))
        .select((rooms::name, rooms::last_seq))
        .load::<(String, i64)>(c))?
    .into_iter()
    .collect();
    // Every member's cursor in these rooms, with the member's role: the customer's, the
    // staff's furthest, and the viewer's.
    let cursors: Vec<(String, i64, String, i64)> = with_backend!(conn, c => room_members::table
        .inner_join(users::table)
        .filter(room_members::room.eq_any(&names))
        .filter(
            users::role
                .eq_any([Role::Admin.as_str(), Role::Agent.as_str()])
                .or(room_members::user_id.eq_any(rows.iter().map(|(r, _)| r.customer_id).collect::<Vec<_>>())),
        )
        .select((room_members::room, users::id, users::role, room_members::last_read_seq))
        .load(c))?;
    let mut member_cursor: HashMap<(&str, i64), i64> = HashMap::with_capacity(cursors.len());
    let mut staff_cursor: HashMap<&str, i64> = HashMap::new();
    for (room, user, role, seq) in &cursors {
        member_cursor.insert((room.as_str(), *user), *seq);
        if Role::parse(role).is_some_and(Role::is_staff) {
            let furthest = staff_cursor.entry(room.as_str()).or_default();
            *furthest = (*furthest).max(*seq);
        }
    }
    let cursor_of = |room: &str, user: i64| member_cursor.get(&(room, user)).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(rows.len());
    for (row, customer) in &rows {
        let Ok(room) = RoomName::parse(&row.room) else {
            continue;
        };
        let RoomKind::Support(_) = room.kind() else {
            continue;
        };
        let name = room.as_str();
        let staff_read_seq = staff_cursor.get(name).copied().unwrap_or(0);
        let unread = match viewer {
            Viewer::Staff(id) => rooms_q::unread_after(conn, id, name, cursor_of(name, id.0))?,
            // No account has id 0: every message after the cursor counts.
            Viewer::Team => rooms_q::unread_after(conn, UserId(0), name, staff_read_seq)?,
        };
        let (mut latest, _) = read_window(conn, name, Window::Latest, 1)?;
        out.push(Conversation {
            last_seq: last_seqs.get(name).copied().unwrap_or(0),
            last_message: latest.pop(),
            unread,
            customer_read_seq: cursor_of(name, customer.id),
            staff_read_seq,
            status: ConversationStatus::parse(&row.status).unwrap_or(ConversationStatus::Open),
            assignee: row
                .assignee_id
                .and_then(|id| assignees.iter().find(|a| a.id.0 == id).cloned()),
            created_at: row.created_at,
            last_activity: row.last_activity,
            customer: customer.clone(),
            room,
        });
    }
    Ok(out)
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
    fn an_assignment_changes_a_conversation_only_if_it_is_with_the_holder_expected() {
        use crate::db::connection::{open_pool, DbTarget, SqliteSync};
        use crate::db::messages::{store_batch, NewMessage};
        use crate::db::users::insert_user;
        use crate::domain::MessageKind;
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 1, SqliteSync::Normal).unwrap();
        let conn = &mut *pool.get().unwrap();
        let ann = insert_user(conn, "ann", Role::User, None).unwrap();
        let alice = UserId(insert_user(conn, "alice", Role::Agent, None).unwrap().id);
        let bob = UserId(insert_user(conn, "bob", Role::Agent, None).unwrap().id);
        let room = RoomName::support(UserId(ann.id));
        let hello = NewMessage {
            room: room.to_string(),
            sender: UserId(ann.id),
            cid: None,
            text: "hello".into(),
            kind: MessageKind::Text,
        };
        store_batch(conn, &[hello]).unwrap();
        // Alice takes it by hand; the round robin, answering late, wanted bob.
        assert_eq!(
            set_assignee(conn, &room, Some(alice), Holder::Anyone, 1).unwrap(),
            Assigned::Done(true)
        );
        assert_eq!(
            set_assignee(conn, &room, Some(bob), Holder::Nobody, 2).unwrap(),
            Assigned::Done(false)
        );
        assert_eq!(
            set_assignee(conn, &room, Some(alice), Holder::Anyone, 3).unwrap(),
            Assigned::Done(false)
        );
        // By hand, another agent may take it over, and it may be unassigned.
        assert_eq!(
            set_assignee(conn, &room, Some(bob), Holder::Anyone, 4).unwrap(),
            Assigned::Done(true)
        );
        assert_eq!(
            set_assignee(conn, &room, None, Holder::Anyone, 5).unwrap(),
            Assigned::Done(true)
        );
        assert_eq!(
            set_assignee(conn, &room, None, Holder::Anyone, 6).unwrap(),
            Assigned::Done(false)
        );
        // Unassigned, the round robin may give it.
        assert_eq!(
            set_assignee(conn, &room, Some(bob), Holder::Nobody, 7).unwrap(),
            Assigned::Done(true)
        );
        // Giving back alice's conversations leaves bob's with bob.
        assert_eq!(
            set_assignee(conn, &room, None, Holder::Member(alice), 8).unwrap(),
            Assigned::Done(false)
        );
        assert_eq!(
            set_assignee(conn, &room, None, Holder::Member(bob), 9).unwrap(),
            Assigned::Done(true)
        );
        let nobody = RoomName::support(UserId(999));
        assert!(matches!(
            set_assignee(conn, &nobody, None, Holder::Anyone, 10),
            Err(StorageError::NotFound)
        ));
    }

    #[test]
    fn a_search_matches_its_wildcards_literally_and_ignores_case() {
        assert_eq!(like_pattern("Ann"), "%ann%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
