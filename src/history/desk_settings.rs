//! The support desk's business hours between the API and the database: the history actor's
//! messages that read and write them (`api/desk_hours.rs`), and [`DeskHoursCache`], the copy in
//! memory that `GET /api/support/status` reads so that the public status call never waits on
//! the database.
//!
//! The cache is read once at start, replaced by each `PUT`/`DELETE` on this server before the
//! answer goes out (so the next status call sees it), and refreshed in the background when it
//! is older than [`DeskHoursCache::REFRESH_AFTER_MS`], so that a change saved on another server
//! of a cluster reaches this one within a minute or so.

use super::actor::HistoryActor;
use crate::db::desk_settings::{self, DeskSettingRow, HOURS_KEY};
use crate::db::{DbConn, StorageError};
use crate::domain::hours::{BusinessHours, HoursInput};
use crate::domain::now_millis;
use actix::{Handler, Message};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

/// The desk's hours as saved, with the time of the save.
#[derive(Clone, Debug)]
pub struct DeskHours {
    /// The checked hours and texts.
    pub hours: BusinessHours,
    /// When they were saved (ms).
    pub updated_at: i64,
}

impl DeskHours {
    /// A stored row back to hours; `None` (and a warning) for a value that no longer parses
    /// (a zone the tz database dropped): the desk then counts as having no hours, rather than
    /// the status call failing for every customer.
    fn from_row(row: DeskSettingRow) -> Option<DeskHours> {
        let parsed = serde_json::from_str::<HoursInput>(&row.value)
            .map_err(|e| e.to_string())
            .and_then(|input| BusinessHours::parse(&input).map_err(|e| e.0));
        match parsed {
            Ok(hours) => Some(DeskHours {
                hours,
                updated_at: row.updated_at,
            }),
            Err(reason) => {
                log::warn!("desk hours: the stored value is ignored: {reason}");
                None
            }
        }
    }
}

/// Reads the saved hours, if any.
pub fn load_desk_hours(conn: &mut DbConn) -> Result<Option<DeskHours>, StorageError> {
    Ok(desk_settings::get_setting(conn, HOURS_KEY)?.and_then(DeskHours::from_row))
}

/// The desk's hours in memory, shared by every worker of this server (`AppState`).
#[derive(Debug, Default)]
pub struct DeskHoursCache {
    /// The current hours; `None`: no hours set (always open).
    current: RwLock<Option<Arc<DeskHours>>>,
    /// When `current` was last read from the database or replaced (ms).
    fresh_at: AtomicI64,
    /// A background refresh is on its way: one at a time.
    refreshing: AtomicBool,
}

impl DeskHoursCache {
    /// How old the copy may get before a status call asks for a fresh one in the background.
    pub const REFRESH_AFTER_MS: i64 = 60_000;

    /// A cache holding `hours`, fresh as of now.
    pub fn new(hours: Option<DeskHours>) -> DeskHoursCache {
        let cache = DeskHoursCache::default();
        cache.replace(hours);
        cache
    }

    /// The current hours (`None`: none set).
    pub fn current(&self) -> Option<Arc<DeskHours>> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `hours` in place of what was there, fresh as of now.
    pub fn replace(&self, hours: Option<DeskHours>) {
        let hours = hours.map(Arc::new);
        match self.current.write() {
            Ok(mut guard) => *guard = hours,
            Err(poisoned) => *poisoned.into_inner() = hours,
        }
        self.fresh_at.store(now_millis(), Ordering::Relaxed);
        self.refreshing.store(false, Ordering::Relaxed);
    }

    /// True when the copy is older than [`Self::REFRESH_AFTER_MS`] at `now` and no refresh is
    /// under way; the caller then starts one (and must call [`Self::replace`] or
    /// [`Self::refresh_failed`] when it ends).
    pub fn claim_refresh(&self, now: i64) -> bool {
        now - self.fresh_at.load(Ordering::Relaxed) > Self::REFRESH_AFTER_MS
            && !self.refreshing.swap(true, Ordering::Relaxed)
    }

    /// A background refresh failed: keep the copy, try again on a later call.
    pub fn refresh_failed(&self) {
        self.refreshing.store(false, Ordering::Relaxed);
    }
}

/// Desk hours API and the status call's refresh → history: the saved hours, if any.
#[derive(Message)]
#[rtype(result = "Result<Option<DeskHours>, StorageError>")]
pub struct GetDeskHours;

impl Handler<GetDeskHours> for HistoryActor {
    type Result = Result<Option<DeskHours>, StorageError>;

    fn handle(&mut self, _: GetDeskHours, _: &mut Self::Context) -> Self::Result {
        load_desk_hours(&mut *self.conn()?)
    }
}

/// Desk hours API → history: save these hours (in their canonical form), replacing any.
#[derive(Message)]
#[rtype(result = "Result<DeskHours, StorageError>")]
pub struct PutDeskHours {
    /// The checked hours.
    pub hours: BusinessHours,
}

impl Handler<PutDeskHours> for HistoryActor {
    type Result = Result<DeskHours, StorageError>;

    fn handle(&mut self, msg: PutDeskHours, _: &mut Self::Context) -> Self::Result {
        let value = serde_json::to_string(&msg.hours.to_input())
            .map_err(|_| StorageError::Inconsistent("desk hours do not serialize"))?;
        let row = desk_settings::put_setting(&mut *self.conn()?, HOURS_KEY, &value, now_millis())?;
        Ok(DeskHours {
            hours: msg.hours,
            updated_at: row.updated_at,
        })
    }
}

/// Desk hours API → history: remove the hours (the desk is then always open); true when
/// there were some.
#[derive(Message)]
#[rtype(result = "Result<bool, StorageError>")]
pub struct ClearDeskHours;

impl Handler<ClearDeskHours> for HistoryActor {
    type Result = Result<bool, StorageError>;

    fn handle(&mut self, _: ClearDeskHours, _: &mut Self::Context) -> Self::Result {
        desk_settings::delete_setting(&mut *self.conn()?, HOURS_KEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_copy_is_not_refreshed_and_a_stale_one_once_at_a_time() {
        let cache = DeskHoursCache::new(None);
        let now = now_millis();
        assert!(!cache.claim_refresh(now));
        let later = now + DeskHoursCache::REFRESH_AFTER_MS + 1;
        assert!(cache.claim_refresh(later));
        assert!(!cache.claim_refresh(later), "one refresh at a time");
        cache.refresh_failed();
        assert!(
            cache.claim_refresh(later),
            "a failed refresh is tried again"
        );
        cache.replace(None);
        assert!(!cache.claim_refresh(now_millis()));
    }

    #[test]
    fn a_stored_value_that_no_longer_parses_counts_as_no_hours() {
        let row = DeskSettingRow {
            key: HOURS_KEY.into(),
            value: r#"{"timezone":"Atlantis/Capital"}"#.into(),
            updated_at: 1,
        };
        assert!(DeskHours::from_row(row).is_none());
        let row = DeskSettingRow {
            key: HOURS_KEY.into(),
            value: r#"{"timezone":"UTC","reply_time":"today"}"#.into(),
            updated_at: 2,
        };
        let hours = DeskHours::from_row(row).expect("parses");
        assert_eq!(hours.hours.reply_time(), Some("today"));
        assert_eq!(hours.updated_at, 2);
    }
}
