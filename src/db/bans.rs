//! The bans staff place (`/api/admin/users/{id}/ban`, `/api/admin/bans`): a ban covers an
//! account, the device (the browser's `chat_device` id) and the address it was last seen
//! from, until it expires or is lifted. Also where an account was last seen from
//! (`users.last_device`, `users.last_addr`), which a ban copies when it is placed.
//!
//! A ban is "in force" while it is not lifted and not expired: every check compares times
//! ([`in_force`]), so a timed ban ends by itself without a sweep. Its address part holds at
//! most [`ADDRESS_BAN_MS`] (a day; see [`address_end`]): one address is often shared by many
//! people (a NAT, a proxy not listed in `--trusted-proxies`), and the address of a trusted proxy
//! is never covered at all. `users.banned` stays the one
//! flag every account check reads; [`release_if_ended`] clears it, the first time the account
//! is read after its last ban ran out.

use super::connection::DbConn;
use super::error::StorageError;
use super::models::UserRow;
use super::schema::{bans, users};
use crate::client_addr::TrustedProxies;
use crate::domain::{UserId, UserInfo};
use crate::with_backend;
use diesel::prelude::*;

/// A `bans` row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = bans)]
pub struct BanRow {
    /// Its id.
    pub id: i64,
    /// The account banned (`None` for none; the account may have been deleted since).
    pub user_id: Option<i64>,
    /// The device id covered, if the account had one.
    pub device: Option<String>,
    /// The client address covered (an IPv6 caller's /64), if known.
    pub addr: Option<String>,
    /// Why, as staff wrote it ("" for no reason given).
    pub reason: String,
    /// The staff member who placed it.
    pub created_by: Option<i64>,
    /// When it was placed (ms).
    pub created_at: i64,
    /// When it ends by itself (ms); `None`: until lifted.
    pub expires_at: Option<i64>,
    /// When staff lifted it (ms); `None`: not lifted.
    pub lifted_at: Option<i64>,
}

/// A ban with the accounts it names, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    /// The row.
    pub row: BanRow,
    /// The account banned, if it still exists.
    pub user: Option<UserInfo>,
    /// The staff member who placed it, if the account still exists.
    pub created_by: Option<UserInfo>,
}

/// What a new ban says beyond the account: who places it, why, and until when.
#[derive(Debug, Clone)]
pub struct BanOrder {
    /// The account to ban.
    pub user: UserId,
    /// The staff member placing it.
    pub by: UserId,
    /// Why ("" for no reason given).
    pub reason: String,
    /// When it ends by itself (ms); `None`: until lifted.
    pub expires_at: Option<i64>,
    /// The trusted proxies: an account last seen from one of their addresses (a request that
    /// came through the proxy without naming its client) is banned without an address.
    pub proxies: TrustedProxies,
}

/// The longest an address stays banned: a day, in ms. The account and the device stay banned
/// for the whole term.
pub const ADDRESS_BAN_MS: i64 = 24 * 60 * 60 * 1000;

/// When the address part of a ban placed at `created_at` and ending at `expires_at` (`None`:
/// until lifted) ends: a day after it was placed at the latest. `None` when it covers no address.
pub fn address_end(has_addr: bool, created_at: i64, expires_at: Option<i64>) -> Option<i64> {
    let cap = created_at.saturating_add(ADDRESS_BAN_MS);
    has_addr.then(|| expires_at.map_or(cap, |end| end.min(cap)))
}

/// Until when a ban in force refuses a caller: the ban's own end when it covers one of the
/// caller's devices, else (it matched the caller's address only) the end of its address part.
fn refusal_end(
    device: Option<&str>,
    created_at: i64,
    expires_at: Option<i64>,
    devices: &[String],
) -> Option<i64> {
    if device.is_some_and(|d| devices.iter().any(|c| c == d)) {
        expires_at
    } else {
        address_end(true, created_at, expires_at)
    }
}

/// The address a ban records for an account last seen from `last_addr`: none when that is
/// the address of a trusted proxy (everyone behind it would be refused).
pub fn ban_address(last_addr: Option<&str>, proxies: &TrustedProxies) -> Option<String> {
    let addr = last_addr?;
    match addr.parse::<std::net::IpAddr>() {
        Ok(ip) if proxies.trusts(ip) => None,
        _ => Some(addr.to_owned()),
    }
}

/// Whether a ban with this end and lift time holds at `now` (ms): the one rule every check
/// follows, in SQL ([`in_force_filter`]) and here.
pub fn in_force(expires_at: Option<i64>, lifted_at: Option<i64>, now: i64) -> bool {
    lifted_at.is_none() && expires_at.map_or(true, |end| end > now)
}

/// The latest end of these bans in force: `Some(None)` when one holds until lifted,
/// `Some(Some(ms))` when all are timed, `None` when there are none.
pub fn latest_end(ends: impl IntoIterator<Item = Option<i64>>) -> Option<Option<i64>> {
    ends.into_iter()
        .fold(None, |latest, end| match (latest, end) {
            (Some(None), _) | (_, None) => Some(None),
            (Some(Some(a)), Some(b)) => Some(Some(a.max(b))),
            (None, Some(b)) => Some(Some(b)),
        })
}

/// Whether an account flagged banned is free again: it had bans recorded (a ban placed before
/// bans were recorded has none, and holds until unbanned) and none of them holds now.
pub fn ban_has_ended(bans: &[(Option<i64>, Option<i64>)], now: i64) -> bool {
    !bans.is_empty()
        && !bans
            .iter()
            .any(|&(expires_at, lifted_at)| in_force(expires_at, lifted_at, now))
}

/// The SQL of [`in_force`].
macro_rules! in_force_filter {
    ($now:expr) => {
        bans::lifted_at
            .is_null()
            .and(bans::expires_at.is_null().or(bans::expires_at.gt($now)))
    };
}

/// Bans the account: sets `users.banned` and records a ban covering it, its last device and
/// its last address. `NotFound` when there is no such account. Returns the account and the ban.
pub fn place_ban(
    conn: &mut DbConn,
    order: &BanOrder,
    now: i64,
) -> Result<(UserRow, BanRecord), StorageError> {
    conn.transaction(|conn| {
        let user = with_backend!(conn, c => diesel::update(users::table.find(order.user.0))
            .set(users::banned.eq(true))
            .returning(UserRow::as_returning())
            .get_result(c)
            .optional())?
        .ok_or(StorageError::NotFound)?;
        let row = with_backend!(conn, c => diesel::insert_into(bans::table)
            .values((
                bans::user_id.eq(Some(user.id)),
                bans::device.eq(user.last_device.clone()),
                bans::addr.eq(ban_address(user.last_addr.as_deref(), &order.proxies)),
                bans::reason.eq(&order.reason),
                bans::created_by.eq(Some(order.by.0)),
                bans::created_at.eq(now),
                bans::expires_at.eq(order.expires_at),
            ))
            .returning(BanRow::as_returning())
            .get_result(c))?;
        let record = records(conn, vec![row])?
            .pop()
            .ok_or(StorageError::Inconsistent("a ban just stored"))?;
        Ok((user, record))
    })
}

/// The bans in force at `now`, newest first.
pub fn list_in_force(conn: &mut DbConn, now: i64) -> Result<Vec<BanRecord>, StorageError> {
    let rows = with_backend!(conn, c => bans::table
        .filter(in_force_filter!(now))
        .order((bans::created_at.desc(), bans::id.desc()))
        .select(BanRow::as_select())
        .load(c))?;
    records(conn, rows)
}

/// Lifts one ban in force and, when no other ban in force covers its account, unbans the
/// account. `NotFound` when no such ban is in force. Returns the ban and the account unbanned.
pub fn lift(
    conn: &mut DbConn,
    id: i64,
    now: i64,
) -> Result<(BanRecord, Option<UserId>), StorageError> {
    conn.transaction(|conn| {
        let row = with_backend!(conn, c => diesel::update(
            bans::table.find(id).filter(in_force_filter!(now)),
        )
        .set(bans::lifted_at.eq(Some(now)))
        .returning(BanRow::as_returning())
        .get_result(c)
        .optional())?
        .ok_or(StorageError::NotFound)?;
        let mut unbanned = None;
        if let Some(user) = row.user_id {
            let others = with_backend!(conn, c => bans::table
                .filter(bans::user_id.eq(user))
                .filter(in_force_filter!(now))
                .count()
                .get_result::<i64>(c))?;
            if others == 0 {
                let changed = with_backend!(conn, c => diesel::update(
                    users::table
                        .find(user)
                        .filter(users::banned.eq(true))
                        .filter(users::merged_into.is_null()),
                )
                .set(users::banned.eq(false))
                .execute(c))?;
                if changed > 0 {
                    unbanned = Some(UserId(user));
                }
            }
        }
        let record = records(conn, vec![row])?
            .pop()
            .ok_or(StorageError::Inconsistent("a ban just lifted"))?;
        Ok((record, unbanned))
    })
}

/// Unbans the account and lifts every ban of it still in force. `NotFound` when there is no
/// such account. Returns the account. A guest merged into a customer (`merged_into`) stays
/// banned: its account is finished, whatever its bans.
pub fn unban(conn: &mut DbConn, user: UserId, now: i64) -> Result<UserRow, StorageError> {
    conn.transaction(|conn| {
        take_write_lock(conn)?;
        let row = super::users::find_by_id(conn, user)?.ok_or(StorageError::NotFound)?;
        let row = if row.merged_into.is_some() {
            row
        } else {
            with_backend!(conn, c => diesel::update(users::table.find(user.0))
                .set(users::banned.eq(false))
                .returning(UserRow::as_returning())
                .get_result(c))?
        };
        with_backend!(conn, c => diesel::update(
            bans::table
                .filter(bans::user_id.eq(user.0))
                .filter(bans::lifted_at.is_null()),
        )
        .set(bans::lifted_at.eq(Some(now)))
        .execute(c))?;
        Ok(row)
    })
}

/// The end of the ban in force at `now` that covers one of these devices or this address, if
/// any (see [`latest_end`]): a new guest or account from there is refused until then. A ban
/// covers its address for a day at most ([`address_end`]), its device for the whole term.
pub fn end_of_ban_covering(
    conn: &mut DbConn,
    devices: &[String],
    addr: Option<&str>,
    now: i64,
) -> Result<Option<Option<i64>>, StorageError> {
    if devices.is_empty() && addr.is_none() {
        return Ok(None);
    }
    // An absent address matches nothing: "" is never a stored address.
    let addr = addr.unwrap_or("");
    let addr_since = now.saturating_sub(ADDRESS_BAN_MS);
    let rows = with_backend!(conn, c => bans::table
        .filter(in_force_filter!(now))
        .filter(
            bans::device
                .eq_any(devices)
                .or(bans::addr.eq(addr).and(bans::created_at.gt(addr_since))),
        )
        .select((bans::device, bans::created_at, bans::expires_at))
        .load::<(Option<String>, i64, Option<i64>)>(c))?;
    Ok(latest_end(rows.iter().map(
        |(device, created_at, expires_at)| {
            refusal_end(device.as_deref(), *created_at, *expires_at, devices)
        },
    )))
}

/// A banned account whose recorded bans have all ended is unbanned (see [`ban_has_ended`]);
/// any other account is left as it is, and so is a guest merged into a customer
/// (`merged_into`), whose account is finished for good. Returns the account as stored now (`None`: no account).
pub fn release_if_ended(
    conn: &mut DbConn,
    user: UserId,
    now: i64,
) -> Result<Option<UserRow>, StorageError> {
    // Nearly every call finds nothing to release: a plain read, no write lock.
    let Some(row) = super::users::find_by_id(conn, user)? else {
        return Ok(None);
    };
    if !row.banned || row.merged_into.is_some() {
        return Ok(Some(row));
    }
    conn.transaction(|conn| {
        take_write_lock(conn)?;
        let Some(row) = super::users::find_by_id(conn, user)? else {
            return Ok(None);
        };
        if !row.banned || row.merged_into.is_some() {
            return Ok(Some(row));
        }
        let bans = with_backend!(conn, c => bans::table
            .filter(bans::user_id.eq(user.0))
            .select((bans::expires_at, bans::lifted_at))
            .load::<(Option<i64>, Option<i64>)>(c))?;
        if !ban_has_ended(&bans, now) {
            return Ok(Some(row));
        }
        let row = with_backend!(conn, c => diesel::update(users::table.find(user.0))
            .set(users::banned.eq(false))
            .returning(UserRow::as_returning())
            .get_result(c))?;
        Ok(Some(row))
    })
}

/// Unbans every banned account whose recorded bans have all ended by `now` (see
/// [`ban_has_ended`]), so that lists of accounts (the console's conversations) agree with the
/// bans before the account itself comes back. A guest merged into a customer stays banned.
/// Returns the accounts unbanned.
pub fn release_all_ended(conn: &mut DbConn, now: i64) -> Result<Vec<UserId>, StorageError> {
    conn.transaction(|conn| {
        take_write_lock(conn)?;
        let banned = users::table
            .filter(users::banned.eq(true))
            .filter(users::merged_into.is_null())
            .select(users::id.nullable());
        let rows = with_backend!(conn, c => bans::table
            .filter(bans::user_id.eq_any(banned))
            .select((bans::user_id, bans::expires_at, bans::lifted_at))
            .order(bans::user_id.asc())
            .load::<(Option<i64>, Option<i64>, Option<i64>)>(c))?;
        let mut free = Vec::new();
        for group in rows.chunk_by(|a, b| a.0 == b.0) {
            let ends: Vec<_> = group.iter().map(|&(_, e, l)| (e, l)).collect();
            if let (Some(user), true) = (group[0].0, ban_has_ended(&ends, now)) {
                free.push(user);
            }
        }
        if !free.is_empty() {
            with_backend!(conn, c => diesel::update(users::table.filter(users::id.eq_any(&free)))
                .set(users::banned.eq(false))
                .execute(c))?;
        }
        Ok(free.into_iter().map(UserId).collect())
    })
}

/// Takes the database's write lock first in a transaction that reads before it writes: on
/// SQLite a transaction that began with a read cannot take the write lock once another
/// connection has committed meanwhile ("database is locked" at once, the busy timeout never
/// consulted), while a write first waits its turn. (An UPDATE of no row: on PostgreSQL it
/// changes and locks nothing.)
fn take_write_lock(conn: &mut DbConn) -> Result<(), StorageError> {
    with_backend!(conn, c => diesel::sql_query("UPDATE users SET banned = banned WHERE id = -1")
        .execute(c))?;
    Ok(())
}

/// Records where the account was seen coming from (a sign-in, a socket): the device id and
/// the address; `None` keeps what is stored.
pub fn record_seen(
    conn: &mut DbConn,
    user: UserId,
    device: Option<&str>,
    addr: Option<&str>,
) -> Result<(), StorageError> {
    let target = users::table.find(user.0);
    match (device, addr) {
        (Some(d), Some(a)) => with_backend!(conn, c => diesel::update(target)
            .set((users::last_device.eq(d), users::last_addr.eq(a)))
            .execute(c))?,
        (Some(d), None) => with_backend!(conn, c => diesel::update(target)
            .set(users::last_device.eq(d))
            .execute(c))?,
        (None, Some(a)) => with_backend!(conn, c => diesel::update(target)
            .set(users::last_addr.eq(a))
            .execute(c))?,
        (None, None) => 0,
    };
    Ok(())
}

/// The rows with the accounts they name, read in one query.
fn records(conn: &mut DbConn, rows: Vec<BanRow>) -> Result<Vec<BanRecord>, StorageError> {
    let mut ids: Vec<i64> = rows
        .iter()
        .flat_map(|r| [r.user_id, r.created_by])
        .flatten()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let accounts = if ids.is_empty() {
        Vec::new()
    } else {
        with_backend!(conn, c => users::table
            .filter(users::id.eq_any(&ids))
            .select(UserRow::as_select())
            .load(c))?
    };
    let info = |id: Option<i64>| {
        id.and_then(|id| accounts.iter().find(|a| a.id == id))
            .map(UserRow::info)
    };
    Ok(rows
        .into_iter()
        .map(|row| BanRecord {
            user: info(row.user_id),
            created_by: info(row.created_by),
            row,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_holds_until_it_expires_or_is_lifted() {
        assert!(in_force(None, None, 1_000), "until lifted");
        assert!(in_force(Some(2_000), None, 1_999));
        assert!(!in_force(Some(2_000), None, 2_000), "over at its end");
        assert!(!in_force(None, Some(500), 1_000), "lifted");
        assert!(!in_force(Some(5_000), Some(500), 1_000), "lifted early");
    }

    #[test]
    fn the_latest_end_of_several_bans_is_the_one_told() {
        assert_eq!(latest_end([]), None);
        assert_eq!(latest_end([Some(5), Some(9), Some(7)]), Some(Some(9)));
        assert_eq!(latest_end([Some(5), None, Some(7)]), Some(None));
        assert_eq!(latest_end([None]), Some(None));
    }

    #[test]
    fn an_account_is_free_again_only_when_every_recorded_ban_has_ended() {
        let now = 10_000;
        assert!(ban_has_ended(&[(Some(9_000), None)], now), "expired");
        assert!(ban_has_ended(&[(Some(9_000), None), (None, Some(1))], now));
        assert!(!ban_has_ended(&[(Some(9_000), None), (None, None)], now));
        assert!(!ban_has_ended(&[(Some(10_001), None)], now), "not yet");
        // A ban placed before bans were recorded holds until staff unban the account.
        assert!(!ban_has_ended(&[], now));
    }

    #[test]
    fn an_address_stays_banned_a_day_at_most() {
        let day = ADDRESS_BAN_MS;
        assert_eq!(
            address_end(true, 1_000, None),
            Some(1_000 + day),
            "until lifted"
        );
        assert_eq!(
            address_end(true, 1_000, Some(5_000)),
            Some(5_000),
            "shorter"
        );
        assert_eq!(
            address_end(true, 1_000, Some(1_000 + 7 * day)),
            Some(1_000 + day)
        );
        assert_eq!(address_end(false, 1_000, None), None, "no address");
    }

    #[test]
    fn a_device_is_refused_for_the_whole_term_an_address_for_a_day() {
        let mine = vec!["a".repeat(32)];
        let day = ADDRESS_BAN_MS;
        assert_eq!(refusal_end(Some(&mine[0]), 0, None, &mine), None);
        assert_eq!(
            refusal_end(Some(&mine[0]), 0, Some(9 * day), &mine),
            Some(9 * day)
        );
        let other = "b".repeat(32);
        assert_eq!(refusal_end(Some(&other), 0, None, &mine), Some(day));
        assert_eq!(refusal_end(None, 0, Some(9 * day), &mine), Some(day));
    }

    #[test]
    fn the_address_of_a_trusted_proxy_is_never_banned() {
        use crate::client_addr::ForwardedHeader;
        let proxies = TrustedProxies::new(
            vec!["10.0.0.0/8".parse().unwrap()],
            ForwardedHeader::default(),
        );
        assert_eq!(ban_address(Some("10.1.2.3"), &proxies), None);
        assert_eq!(
            ban_address(Some("192.0.2.1"), &proxies).as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(ban_address(None, &proxies), None);
    }
}
