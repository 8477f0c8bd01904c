//! The email outbox: the mail worker's queries (`src/mail/worker.rs`). A scan finds the support
//! conversations with staff replies the customer has not read, gone quiet for the email delay
//! ([`candidates`], an index read of the recently active `conversations`, never a scan of the
//! messages); each becomes a `pending` row ([`enqueue`]) before anything is sent; the due rows
//! ([`due`]) are claimed one at a time ([`claim`]), and end `sent`, `cancelled` or retried.
//!
//! Never twice for one reply: a row covers the replies with a seq in `(from_seq, up_to_seq]`,
//! `from_seq` being past every earlier row of the room and the customer's read cursor, and
//! `(room, up_to_seq)` is unique, so two servers scanning at once write one row.

use super::connection::DbConn;
use super::error::StorageError;
use super::schema::{email_outbox, messages, users};
use crate::domain::{MessageKind, Role};
use crate::with_backend;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// A pending email, waiting.
pub const PENDING: &str = "pending";
/// SMTP took it.
pub const SENT: &str = "sent";
/// Not sent: the customer read the replies first, or has no address or account any more.
pub const CANCELLED: &str = "cancelled";

/// A conversation with unread staff replies that no email covers yet.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Candidate {
    /// `support:<id>`.
    #[diesel(sql_type = Text)]
    pub room: String,
    /// The customer.
    #[diesel(sql_type = BigInt)]
    pub customer_id: i64,
    /// The customer's read cursor.
    #[diesel(sql_type = BigInt)]
    pub read_seq: i64,
    /// The newest seq an earlier email of the room covered (0: none).
    #[diesel(sql_type = BigInt)]
    pub emailed_seq: i64,
    /// The newest unread staff reply.
    #[diesel(sql_type = BigInt)]
    pub reply_seq: i64,
}

/// The conversations whose last activity is within `[active_since, quiet_before]` (ms) and
/// which have a staff reply (kind `text`, by an admin or agent, not deleted) after both the
/// customer's read cursor and every earlier email, a customer with an email address, and no
/// email pending already (one at a time per room: a second would repeat nothing, but two
/// emails arriving together after an SMTP outage help no one). At most `limit`, by room,
/// after the room `after` ("" from the start): the pages of one scan.
pub fn candidates(
    conn: &mut DbConn,
    active_since: i64,
    quiet_before: i64,
    after: &str,
    limit: i64,
) -> Result<Vec<Candidate>, StorageError> {
    // A room name read from the database, quoted as an SQL string.
    let after = after.replace('\'', "''");
    // Integers, constants and a quoted room name written into the text (no bind parameter):
    // one statement for both backends, whose placeholders differ; nothing here comes from a
    // client.
    let staff = format!("'{}', '{}'", Role::Admin.as_str(), Role::Agent.as_str());
    let customers = format!("'{}', '{}'", Role::User.as_str(), Role::Guest.as_str());
    let text = MessageKind::Text.as_str();
    let sql = format!(
        "SELECT room, customer_id, read_seq, emailed_seq, reply_seq FROM ( \
           SELECT c.room AS room, c.customer_id AS customer_id, \
             COALESCE(rm.last_read_seq, 0) AS read_seq, \
             COALESCE((SELECT MAX(e.up_to_seq) FROM email_outbox e WHERE e.room = c.room), 0) \
               AS emailed_seq, \
             (SELECT MAX(m.seq) FROM messages m JOIN users s ON s.id = m.sender_id \
               WHERE m.room = c.room AND m.seq > COALESCE(rm.last_read_seq, 0) \
                 AND m.kind = '{text}' AND NOT m.deleted AND s.role IN ({staff})) AS reply_seq \
           FROM conversations c \
           JOIN users u ON u.id = c.customer_id \
           LEFT JOIN room_members rm ON rm.user_id = c.customer_id AND rm.room = c.room \
           WHERE c.last_activity >= {active_since} AND c.last_activity <= {quiet_before} \
             AND c.room > '{after}' \
             AND u.email IS NOT NULL AND u.email <> '' AND u.merged_into IS NULL \
             AND NOT u.banned AND u.role IN ({customers}) \
             AND NOT EXISTS (SELECT 1 FROM email_outbox p \
                             WHERE p.room = c.room AND p.state = '{PENDING}') \
         ) AS x WHERE reply_seq IS NOT NULL AND reply_seq > emailed_seq \
         ORDER BY room LIMIT {limit}"
    );
    let rows = with_backend!(conn, c => diesel::sql_query(&sql).load::<Candidate>(c))?;
    Ok(rows)
}

/// A new pending email.
#[derive(Insertable)]
#[diesel(table_name = email_outbox)]
struct NewEmail<'a> {
    room: &'a str,
    customer_id: i64,
    from_seq: i64,
    up_to_seq: i64,
    next_attempt_at: i64,
    created_at: i64,
}

/// Records the email of `candidate`, due at once: the replies after its read cursor and every
/// earlier email, up to its newest. False when the row was there already (another server
/// wrote it first).
pub fn enqueue(conn: &mut DbConn, candidate: &Candidate, now: i64) -> Result<bool, StorageError> {
    let row = NewEmail {
        room: &candidate.room,
        customer_id: candidate.customer_id,
        from_seq: candidate.read_seq.max(candidate.emailed_seq),
        up_to_seq: candidate.reply_seq,
        next_attempt_at: now,
        created_at: now,
    };
    let inserted = with_backend!(conn, c => diesel::insert_into(email_outbox::table)
        .values(&row)
        .on_conflict((email_outbox::room, email_outbox::up_to_seq))
        .do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// A pending email.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct EmailRow {
    /// Its id.
    pub id: i64,
    /// `support:<id>`.
    pub room: String,
    /// The customer it goes to.
    pub customer_id: i64,
    /// Replies after this seq...
    pub from_seq: i64,
    /// ...up to this one.
    pub up_to_seq: i64,
    /// Attempts made so far.
    pub attempts: i32,
    /// When it is due (ms); the claim compares it.
    pub next_attempt_at: i64,
}

/// Up to `limit` pending emails due at `now` (ms), the longest waiting first.
pub fn due(conn: &mut DbConn, now: i64, limit: i64) -> Result<Vec<EmailRow>, StorageError> {
    let rows = with_backend!(conn, c => email_outbox::table
        .filter(email_outbox::state.eq(PENDING))
        .filter(email_outbox::next_attempt_at.le(now))
        .order(email_outbox::next_attempt_at)
        .limit(limit)
        .select((
            email_outbox::id,
            email_outbox::room,
            email_outbox::customer_id,
            email_outbox::from_seq,
            email_outbox::up_to_seq,
            email_outbox::attempts,
            email_outbox::next_attempt_at,
        ))
        .load::<EmailRow>(c))?;
    Ok(rows)
}

/// Takes `row` for one attempt: counts it and moves its next attempt to `until` (when another
/// worker may take it, should this one die mid-attempt). False when another worker took it.
pub fn claim(conn: &mut DbConn, row: &EmailRow, until: i64) -> Result<bool, StorageError> {
    let changed = with_backend!(conn, c => diesel::update(
        email_outbox::table
            .filter(email_outbox::id.eq(row.id))
            .filter(email_outbox::state.eq(PENDING))
            .filter(email_outbox::next_attempt_at.eq(row.next_attempt_at)),
    )
    .set((
        email_outbox::next_attempt_at.eq(until),
        email_outbox::attempts.eq(email_outbox::attempts + 1),
    ))
    .execute(c))?;
    Ok(changed == 1)
}

/// Puts a claimed row back, due at `at`, without counting the attempt (the customer came
/// online: it waits to see whether they read the replies).
pub fn postpone(conn: &mut DbConn, id: i64, at: i64) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::next_attempt_at.eq(at),
            email_outbox::attempts.eq(email_outbox::attempts - 1),
        ))
        .execute(c))?;
    Ok(())
}

/// SMTP took it.
pub fn mark_sent(conn: &mut DbConn, id: i64, now: i64) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::state.eq(SENT),
            email_outbox::sent_at.eq(Some(now)),
            email_outbox::last_error.eq(None::<String>),
        ))
        .execute(c))?;
    Ok(())
}

/// Not to be sent, and why.
pub fn cancel(conn: &mut DbConn, id: i64, why: &str) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::state.eq(CANCELLED),
            email_outbox::last_error.eq(Some(why)),
        ))
        .execute(c))?;
    Ok(())
}

/// The attempt failed: the next one at `at` (ms).
pub fn retry_at(conn: &mut DbConn, id: i64, at: i64, error: &str) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::next_attempt_at.eq(at),
            email_outbox::last_error.eq(Some(error)),
        ))
        .execute(c))?;
    Ok(())
}

/// When the next pending email falls due (ms); none when nothing is pending.
pub fn next_due(conn: &mut DbConn) -> Result<Option<i64>, StorageError> {
    let at = with_backend!(conn, c => email_outbox::table
        .filter(email_outbox::state.eq(PENDING))
        .select(diesel::dsl::min(email_outbox::next_attempt_at))
        .get_result::<Option<i64>>(c))?;
    Ok(at)
}

/// One staff reply as the email shows it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Reply {
    /// Its seq.
    pub seq: i64,
    /// When it was stored (ms).
    pub ts: i64,
    /// Who wrote it.
    pub author: String,
    /// What they wrote.
    pub text: String,
}

/// The staff replies of `room` with a seq in `(after, up_to]`, oldest first: kind `text` by an
/// admin or agent, not deleted (a reply deleted meanwhile is not emailed). A range of the
/// room's (room, seq) index.
pub fn replies(
    conn: &mut DbConn,
    room: &str,
    after: i64,
    up_to: i64,
) -> Result<Vec<Reply>, StorageError> {
    let staff = [Role::Admin.as_str(), Role::Agent.as_str()];
    let rows = with_backend!(conn, c => messages::table
        .inner_join(users::table)
        .filter(messages::room.eq(room))
        .filter(messages::seq.gt(after))
        .filter(messages::seq.le(up_to))
        .filter(messages::kind.eq(MessageKind::Text.as_str()))
        .filter(messages::deleted.eq(false))
        .filter(users::role.eq_any(staff))
        .order(messages::seq)
        .select((messages::seq, messages::created_at, users::username, messages::body))
        .load::<Reply>(c))?;
    Ok(rows)
}

/// The emails of a room, oldest first, as (from_seq, up_to_seq, state): for tests and the
/// operator's questions.
pub fn of_room(conn: &mut DbConn, room: &str) -> Result<Vec<(i64, i64, String)>, StorageError> {
    let rows = with_backend!(conn, c => email_outbox::table
        .filter(email_outbox::room.eq(room))
        .order(email_outbox::id)
        .select((email_outbox::from_seq, email_outbox::up_to_seq, email_outbox::state))
        .load::<(i64, i64, String)>(c))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::connection::{open_pool, DbTarget, SqliteSync};
    use crate::db::messages::{store_batch, NewMessage};
    use crate::db::rooms::advance_read_cursor;
    use crate::db::users::{insert_user, set_email};
    use crate::domain::now_millis;
    use crate::domain::{RoomName, UserId};

    fn say(conn: &mut DbConn, room: &str, sender: i64, text: &str) -> (i64, i64) {
        let batch = [NewMessage {
            room: room.to_owned(),
            sender: UserId(sender),
            cid: None,
            text: text.to_owned(),
            kind: MessageKind::Text,
        }];
        let outcome = store_batch(conn, &batch).unwrap()[0];
        let crate::db::messages::StoreOutcome::Stored { seq, ts, .. } = outcome else {
            panic!("stored: {outcome:?}");
        };
        (seq, ts)
    }

    #[test]
    fn a_reply_is_put_in_one_email_only_and_a_read_one_in_none() {
        let dir = tempfile::tempdir().unwrap();
        let target = DbTarget::Sqlite(dir.path().join("chat.db"));
        let pool = open_pool(&target, 1, SqliteSync::Normal).unwrap();
        let conn = &mut *pool.get().unwrap();
        let ann = insert_user(conn, "ann", Role::User, None).unwrap();
        let bob = insert_user(conn, "bob", Role::Agent, None).unwrap();
        set_email(conn, UserId(ann.id), "ann@example.com").unwrap();
        let room = format!("support:{}", ann.id);
        say(conn, &room, ann.id, "where is my parcel?");
        let (first, _) = say(conn, &room, bob.id, "it left today");
        let window = |conn: &mut DbConn| candidates(conn, 0, now_millis() + 1000, "", 10).unwrap();

        let found = window(conn);
        assert_eq!(
            found,
            [Candidate {
                room: room.clone(),
                customer_id: ann.id,
                read_seq: 0,
                emailed_seq: 0,
                reply_seq: first,
            }]
        );
        let next_page = candidates(conn, 0, now_millis() + 1000, &room, 10).unwrap();
        assert!(next_page.is_empty(), "pages go on after the last room");
        assert!(enqueue(conn, &found[0], 1).unwrap());
        assert!(!enqueue(conn, &found[0], 2).unwrap(), "written once");
        assert!(window(conn).is_empty(), "one pending email per room");
        let due_now = due(conn, 5, 10).unwrap();
        assert_eq!(due_now.len(), 1);
        assert!(claim(conn, &due_now[0], 100).unwrap());
        assert!(!claim(conn, &due_now[0], 100).unwrap(), "claimed once");
        let replies_in = replies(conn, &room, 0, first).unwrap();
        assert_eq!(
            replies_in.len(),
            1,
            "the customer's own message is not a reply"
        );
        assert_eq!(
            (replies_in[0].author.as_str(), replies_in[0].text.as_str()),
            ("bob", "it left today")
        );
        mark_sent(conn, due_now[0].id, 6).unwrap();
        assert!(window(conn).is_empty(), "emailed up to the newest reply");

        // A second reply: only it goes in the next email.
        let (second, _) = say(conn, &room, bob.id, "it arrives Monday");
        let found = window(conn);
        assert_eq!((found[0].emailed_seq, found[0].reply_seq), (first, second));
        // Read before the scan: nothing to email.
        advance_read_cursor(
            conn,
            UserId(ann.id),
            &RoomName::parse(&room).unwrap(),
            second,
        )
        .unwrap();
        assert!(window(conn).is_empty());
        assert_eq!(of_room(conn, &room).unwrap(), [(0, first, SENT.to_owned())]);
    }
}
