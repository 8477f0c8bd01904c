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
    /// The current hours and their generation.
    slot: RwLock<Slot>,
    /// When `slot` was last read from the database or replaced (ms).
    fresh_at: AtomicI64,
    /// A background refresh is on its way: one at a time.
    refreshing: AtomicBool,
}

/// What [`DeskHoursCache`] holds under its lock.
#[derive(Debug, Default)]
struct Slot {
    /// The current hours; `None`: no hours set (always open).
    hours: Option<Arc<DeskHours>>,
    /// Counts the saves on this server ([`DeskHoursCache::replace`]): a background read that
    /// began before a save must not put the older value back.
    generation: u64,
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

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Slot> {
        self.slot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current hours (`None`: none set).
    pub fn current(&self) -> Option<Arc<DeskHours>> {
        let slot = self
            .slot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.hours.clone()
    }

    /// Puts `hours` (just saved on this server) in place of what was there, fresh as of now.
    pub fn replace(&self, hours: Option<DeskHours>) {
        let mut slot = self.write();
        slot.hours = hours.map(Arc::new);
        slot.generation += 1;
        self.fresh_at.store(now_millis(), Ordering::Relaxed);
    }

    /// When the copy is older than [`Self::REFRESH_AFTER_MS`] at `now` and no refresh is under
    /// way: the generation to hand back to [`Self::refreshed`] (or [`Self::refresh_failed`])
    /// once the caller has read the database.
    pub fn claim_refresh(&self, now: i64) -> Option<u64> {
        let stale = now - self.fresh_at.load(Ordering::Relaxed) > Self::REFRESH_AFTER_MS;
        if !stale || self.refreshing.swap(true, Ordering::Relaxed) {
            return None;
        }
        Some(
            self.slot
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .generation,
        )
    }

    /// A background read claimed at `generation` came back with `hours`: taken unless a save
    /// on this server came in between (its value is newer).
    pub fn refreshed(&self, generation: u64, hours: Option<DeskHours>) {
        let mut slot = self.write();
        if slot.generation == generation {
            slot.hours = hours.map(Arc::new);
        }
        self.fresh_at.store(now_millis(), Ordering::Relaxed);
        self.refreshing.store(false, Ordering::Relaxed);
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

    fn hours(reply: &str) -> DeskHours {
        let input = HoursInput {
            timezone: "UTC".into(),
            reply_time: Some(reply.into()),
            ..HoursInput::default()
        };
        DeskHours {
            hours: BusinessHours::parse(&input).expect("valid"),
            updated_at: 1,
        }
    }

    fn reply_time(cache: &DeskHoursCache) -> Option<String> {
        cache
            .current()
            .and_then(|h| h.hours.reply_time().map(str::to_owned))
    }

    #[test]
    fn a_fresh_copy_is_not_refreshed_and_a_stale_one_once_at_a_time() {
        let cache = DeskHoursCache::new(None);
        let now = now_millis();
        assert_eq!(cache.claim_refresh(now), None);
        let later = now + DeskHoursCache::REFRESH_AFTER_MS + 1;
        let generation = cache.claim_refresh(later).expect("stale");
        assert_eq!(cache.claim_refresh(later), None, "one refresh at a time");
        cache.refresh_failed();
        assert_eq!(cache.claim_refresh(later), Some(generation), "tried again");
        cache.refreshed(generation, Some(hours("today")));
        assert_eq!(reply_time(&cache).as_deref(), Some("today"));
        assert_eq!(cache.claim_refresh(now_millis()), None);
    }

    #[test]
    fn a_refresh_that_began_before_a_save_does_not_undo_it() {
        let cache = DeskHoursCache::new(Some(hours("old")));
        let later = now_millis() + DeskHoursCache::REFRESH_AFTER_MS + 1;
        let generation = cache.claim_refresh(later).expect("stale");
        // An admin saves while the background read is on its way with the old value.
        cache.replace(Some(hours("new")));
        cache.refreshed(generation, Some(hours("old")));
        assert_eq!(reply_time(&cache).as_deref(), Some("new"));
        // The refresh is over: the next one may start when the copy is stale again.
        assert_eq!(
            cache.claim_refresh(now_millis()),
            None,
            "fresh after the save"
        );
        assert!(cache.claim_refresh(later + 10_000).is_some());
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
