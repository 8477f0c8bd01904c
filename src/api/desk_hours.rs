//! `/api/admin/desk-hours`: the support desk's business hours, away message and expected reply
//! time (staff read them, admins change them), and [`desk_status`], the part of
//! `GET /api/support/status` they decide: open now, when it opens next, and the two texts.
//!
//! Saved hours go to the database and, before the answer, to the copy in memory
//! ([`DeskHoursCache`](crate::history::desk_settings::DeskHoursCache)) that the status call reads; the status call itself never waits on the
//! database.

use crate::api::admin::{admin_only, staff};
use crate::api::caller::AuthUser;
use crate::domain::hours::{BusinessHours, HoursInput, IntervalInput};
use crate::domain::now_millis;
use crate::error::AppError;
use crate::history::desk_settings::{ClearDeskHours, DeskHours, GetDeskHours, PutDeskHours};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/admin/desk-hours")
            .route(web::get().to(get_hours))
            .route(web::put().to(put_hours))
            .route(web::delete().to(clear_hours))
            .default_service(web::to(super::method_not_allowed)),
    );
}

/// What the status call and the console show of the hours at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeskStatus {
    /// Within business hours now (always, without hours).
    pub open: bool,
    /// While closed, when the desk opens again (ms); null when open or when no day has hours.
    pub next_open_at: Option<i64>,
    /// Shown to customers while nobody can answer.
    pub away_message: Option<String>,
    /// How soon customers can expect an answer.
    pub reply_time: Option<String>,
}

impl DeskStatus {
    /// The status of `hours` (none: no hours set) at `now_ms`.
    pub fn at(hours: Option<&BusinessHours>, now_ms: i64) -> DeskStatus {
        let Some(hours) = hours else {
            return DeskStatus {
                open: true,
                next_open_at: None,
                away_message: None,
                reply_time: None,
            };
        };
        let now = Timestamp::from_millisecond(now_ms).unwrap_or_else(|_| Timestamp::now());
        let open = hours.is_open(now);
        let next_open_at = if open {
            None
        } else {
            hours.next_open_at(now).map(|t| t.as_millisecond())
        };
        DeskStatus {
            open,
            next_open_at,
            away_message: hours.away_message().map(str::to_owned),
            reply_time: hours.reply_time().map(str::to_owned),
        }
    }
}

/// The desk's status now, from the copy in memory; a copy older than a minute is refreshed in
/// the background for the calls that follow (a change saved on another server of a cluster).
pub fn desk_status(state: &AppState) -> DeskStatus {
    let cache = &state.desk_hours;
    if let Some(generation) = cache.claim_refresh(now_millis()) {
        let (history, cache) = (state.history.clone(), state.desk_hours.clone());
        actix_web::rt::spawn(async move {
            match history.send(GetDeskHours).await {
                Ok(Ok(hours)) => cache.refreshed(generation, hours),
                _ => cache.refresh_failed(),
            }
        });
    }
    let current = cache.current();
    DeskStatus::at(current.as_ref().map(|h| &h.hours), now_millis())
}

/// `GET`/`PUT`/`DELETE /api/admin/desk-hours` answer: the saved hours in their canonical form
/// (every day listed; all null when none are set) and what they mean now.
#[derive(Serialize)]
struct HoursView {
    timezone: Option<String>,
    days: Option<BTreeMap<String, Vec<IntervalInput>>>,
    away_message: Option<String>,
    reply_time: Option<String>,
    updated_at: Option<i64>,
    open: bool,
    next_open_at: Option<i64>,
}

impl HoursView {
    fn of(saved: Option<&DeskHours>) -> HoursView {
        let status = DeskStatus::at(saved.map(|s| &s.hours), now_millis());
        let input = saved.map(|s| s.hours.to_input()).unwrap_or_default();
        HoursView {
            timezone: saved.map(|_| input.timezone),
            days: input.days,
            away_message: input.away_message,
            reply_time: input.reply_time,
            updated_at: saved.map(|s| s.updated_at),
            open: status.open,
            next_open_at: status.next_open_at,
        }
    }
}

/// Staff: the saved hours, read from the database (the copy in memory is left to its own
/// refresh: this read may have begun before a save that has just replaced it).
async fn get_hours(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let saved = state.history.send(GetDeskHours).await??;
    Ok(HttpResponse::Ok().json(HoursView::of(saved.as_ref())))
}

/// Admins: new hours and texts, replacing the old; 400 with the reason for a bad zone, time
/// or text.
async fn put_hours(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    body: web::Json<HoursInput>,
) -> Result<HttpResponse, AppError> {
    admin_only(&state, &caller).await?;
    let hours = BusinessHours::parse(&body).map_err(|e| AppError::bad_request(e.0))?;
    let saved = state.history.send(PutDeskHours { hours }).await??;
    let view = HoursView::of(Some(&saved));
    state.desk_hours.replace(Some(saved));
    Ok(HttpResponse::Ok().json(view))
}

/// Admins: no hours any more (the desk counts as always open, with no away message).
async fn clear_hours(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    admin_only(&state, &caller).await?;
    state.history.send(ClearDeskHours).await??;
    state.desk_hours.replace(None);
    Ok(HttpResponse::Ok().json(HoursView::of(None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_hours_the_desk_is_open_with_no_texts() {
        let status = DeskStatus::at(None, 0);
        assert_eq!(
            serde_json::to_value(&status).expect("json"),
            serde_json::json!({"open": true, "next_open_at": null, "away_message": null, "reply_time": null})
        );
    }

    #[test]
    fn a_closed_desk_says_when_it_opens_and_an_open_one_does_not() {
        let input: HoursInput = serde_json::from_value(serde_json::json!({
            "timezone": "UTC",
            "days": {"mon": [{"open": "09:00", "close": "17:00"}]},
            "reply_time": "within a day",
        }))
        .expect("shape");
        let hours = BusinessHours::parse(&input).expect("valid");
        let monday_8 = "2026-12-07T08:00:00Z".parse::<Timestamp>().expect("ts");
        let closed = DeskStatus::at(Some(&hours), monday_8.as_millisecond());
        assert!(!closed.open);
        assert_eq!(
            closed.next_open_at,
            Some(monday_8.as_millisecond() + 3_600_000)
        );
        assert_eq!(closed.reply_time.as_deref(), Some("within a day"));
        let open = DeskStatus::at(Some(&hours), monday_8.as_millisecond() + 3_600_000);
        assert!(open.open);
        assert_eq!(open.next_open_at, None);
    }
}
