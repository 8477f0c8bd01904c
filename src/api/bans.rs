//! Bans that hold against a new guest from the same browser and address: placing one (the ban
//! handler of `admin.rs` calls [`place`]), `GET /api/admin/bans` (the bans in force) and
//! `DELETE /api/admin/bans/{id}` (lift one), `GET /api/auth/ban` (is this browser banned?), and
//! the checks the sign-in endpoints make
//! ([`refusal_for`], [`record_seen`]) and the account checks ([`release_ended`]).

use crate::api::admin::staff;
use crate::api::auth::peer;
use crate::api::caller::AuthUser;
use crate::api::device::SignInDevice;
use crate::api::{resource, MAX_JSON_BODY};
use crate::chat::messages::AccountChanged;
use crate::db::bans::{BanOrder, BanRecord};
use crate::db::models::UserRow;
use crate::db::StorageError;
use crate::domain::{now_millis, Role, UserId, UserInfo};
use crate::error::{banned_response, AppError, ErrorCode};
use crate::history::bans::{
    FindBanCovering, LiftBan, ListBans, PlaceBan, RecordSeen, ReleaseEndedBan,
};
use crate::history::messages::GetUser;
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// The longest ban with an end: a year, in minutes.
pub const MAX_BAN_MINUTES: i64 = 525_600;
/// The longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/admin/bans", web::get(), list))
        .service(resource("/api/admin/bans/{id}", web::delete(), lift))
        .service(resource("/api/auth/ban", web::get(), standing));
}

/// `GET /api/auth/ban` (no token needed): whether a ban in force covers the caller's browser
/// (its `chat_device` cookie or `X-Chat-Device` header) or address, so the sign-in screen of
/// the chat page and the widget can say so before anyone tries: `{"banned":false}` or
/// `{"banned":true,"expires_at":ms|null}`. Tells nothing about anyone else.
async fn standing(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let device = SignInDevice::of(&req);
    let end = state
        .history
        .send(FindBanCovering {
            devices: device.carried,
            addr: address_of(&req),
        })
        .await??;
    Ok(HttpResponse::Ok().json(match end {
        Some(expires_at) => serde_json::json!({ "banned": true, "expires_at": expires_at }),
        None => serde_json::json!({ "banned": false }),
    }))
}

/// A ban as the API shows it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Ban {
    /// Its id.
    pub id: i64,
    /// The account banned (`null` once the account is gone, e.g. a finished guest's).
    pub user: Option<UserInfo>,
    /// Whether it covers a device (the id itself is never shown).
    pub device: bool,
    /// The address it covers, if any.
    pub address: Option<String>,
    /// Why ("" when staff gave no reason).
    pub reason: String,
    /// When it was placed (ms).
    pub created_at: i64,
    /// When it ends by itself (ms); `null`: until lifted.
    pub expires_at: Option<i64>,
    /// The staff member who placed it.
    pub created_by: Option<UserInfo>,
}

impl From<BanRecord> for Ban {
    fn from(record: BanRecord) -> Ban {
        let row = record.row;
        Ban {
            id: row.id,
            user: record.user,
            device: row.device.is_some(),
            address: row.addr,
            reason: row.reason,
            created_at: row.created_at,
            expires_at: row.expires_at,
            created_by: record.created_by,
        }
    }
}

/// Body of `POST /api/admin/users/{id}/ban`, every field optional.
#[derive(Deserialize, Default)]
struct BanBody {
    minutes: Option<i64>,
    reason: Option<String>,
}

/// What a ban request asks for: how long (`None`: until lifted) and why.
#[derive(Debug, PartialEq, Eq)]
pub struct BanTerms {
    /// Minutes, 1..=[`MAX_BAN_MINUTES`]; `None`: until lifted.
    pub minutes: Option<i64>,
    /// The reason, trimmed ("" for none).
    pub reason: String,
}

impl BanTerms {
    /// Reads the optional JSON body of a ban: none, `{}` or `null` ban until lifted.
    pub fn parse(body: &[u8]) -> Result<BanTerms, AppError> {
        if body.len() > MAX_JSON_BODY {
            return Err(AppError::new(ErrorCode::TooLarge, "the body is too large"));
        }
        let body: BanBody = if body.iter().all(u8::is_ascii_whitespace) {
            BanBody::default()
        } else {
            serde_json::from_slice::<Option<BanBody>>(body)
                .map_err(|_| {
                    AppError::bad_request(
                        "the body must be {\"minutes\": 1..525600 or null, \"reason\": text}",
                    )
                })?
                .unwrap_or_default()
        };
        if let Some(minutes) = body.minutes {
            if !(1..=MAX_BAN_MINUTES).contains(&minutes) {
                return Err(AppError::bad_request(format!(
                    "minutes must be between 1 and {MAX_BAN_MINUTES}, or null for until lifted"
                )));
            }
        }
        let reason = body.reason.unwrap_or_default().trim().to_owned();
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(AppError::bad_request(format!(
                "the reason can be at most {MAX_REASON_CHARS} characters"
            )));
        }
        if reason.chars().any(char::is_control) {
            return Err(AppError::bad_request("the reason must be one line of text"));
        }
        Ok(BanTerms {
            minutes: body.minutes,
            reason,
        })
    }

    /// When a ban placed at `now` (ms) on these terms ends.
    pub fn expires_at(&self, now: i64) -> Option<i64> {
        self.minutes.map(|m| now + m * 60_000)
    }
}

/// Bans the account `user` on these terms for the staff member `caller`: 404 for no such
/// account, 400 for a staff account. Answers `{"user","banned":true,"ban"}`.
pub(crate) async fn place(
    state: &AppState,
    caller: &UserInfo,
    user: UserId,
    terms: BanTerms,
) -> Result<HttpResponse, AppError> {
    let by = staff(state, caller).await?;
    let target = state
        .history
        .send(GetUser { id: user })
        .await??
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "no such user"))?;
    if Role::parse(&target.role).is_some_and(Role::is_staff) {
        return Err(AppError::bad_request("staff accounts cannot be banned"));
    }
    let order = BanOrder {
        user,
        by: by.id,
        expires_at: terms.expires_at(now_millis()),
        reason: terms.reason,
    };
    let (row, record) = match state.history.send(PlaceBan { order }).await? {
        Err(StorageError::NotFound) => {
            return Err(AppError::new(ErrorCode::NotFound, "no such user"))
        }
        other => other?,
    };
    // Read again by the chat server after this commit: its sockets close.
    state.chat.do_send(AccountChanged { user });
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "user": row.info(),
        "banned": row.banned,
        "ban": Ban::from(record),
    })))
}

async fn list(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let bans = state.history.send(ListBans).await??;
    let bans: Vec<Ban> = bans.into_iter().map(Ban::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "bans": bans })))
}

async fn lift(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let (record, unbanned) = match state.history.send(LiftBan { id: *id }).await? {
        Err(StorageError::NotFound) => {
            return Err(AppError::new(ErrorCode::NotFound, "no such ban in force"))
        }
        other => other?,
    };
    if let Some(user) = unbanned {
        state.chat.do_send(AccountChanged { user });
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "ban": Ban::from(record) })))
}

/// The caller's address as a ban records it: the client behind trusted proxies, an IPv6
/// caller's whole /64.
pub(crate) fn address_of(req: &HttpRequest) -> Option<String> {
    peer(req).map(|ip| ip.to_string())
}

/// The refusal of a new guest or account while a ban covers the caller's device (any id the
/// request carries) or address; `None` when none does.
pub(crate) async fn refusal_for(
    state: &AppState,
    device: &SignInDevice,
    addr: Option<&str>,
) -> Result<Option<HttpResponse>, AppError> {
    // The header's and the cookie's ids may differ (a widget's localStorage beside the
    // site's own cookie): a ban on either holds.
    let end = state
        .history
        .send(FindBanCovering {
            devices: device.carried.clone(),
            addr: addr.map(str::to_owned),
        })
        .await??;
    Ok(end.map(|expires_at| {
        banned_response(
            "you cannot start a new chat from here while a ban is in force",
            expires_at,
        )
    }))
}

/// Records where the account was just seen from (a sign-in or a socket).
pub(crate) async fn record_seen(
    state: &AppState,
    user: UserId,
    device: Option<String>,
    addr: Option<String>,
) -> Result<(), AppError> {
    if device.is_none() && addr.is_none() {
        return Ok(());
    }
    state
        .history
        .send(RecordSeen { user, device, addr })
        .await??;
    Ok(())
}

/// The account as the checks should see it: a banned account whose timed bans have all run
/// out is unbanned first (see `db::bans::release_if_ended`). `None`: the account is gone.
pub(crate) async fn release_ended(
    state: &AppState,
    row: UserRow,
) -> Result<Option<UserRow>, AppError> {
    if !row.banned {
        return Ok(Some(row));
    }
    let user = UserId(row.id);
    let now = state.history.send(ReleaseEndedBan { user }).await??;
    if now.as_ref().is_some_and(|r| !r.banned) {
        state.chat.do_send(AccountChanged { user });
    }
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_without_terms_holds_until_lifted() {
        for body in ["", "  ", "{}", "null", r#"{"minutes":null}"#] {
            let terms = BanTerms::parse(body.as_bytes()).expect(body);
            assert_eq!(terms.minutes, None, "{body}");
            assert_eq!(terms.expires_at(1_000), None);
        }
    }

    #[test]
    fn a_timed_ban_ends_its_minutes_after_it_was_placed() {
        let terms = BanTerms::parse(br#"{"minutes":60,"reason":"  spam  "}"#).unwrap();
        assert_eq!(
            terms,
            BanTerms {
                minutes: Some(60),
                reason: "spam".into()
            }
        );
        assert_eq!(terms.expires_at(1_000), Some(1_000 + 3_600_000));
        assert!(BanTerms::parse(br#"{"minutes":525600}"#).is_ok());
    }

    #[test]
    fn bad_terms_are_refused_with_a_clear_message() {
        for body in [
            r#"{"minutes":0}"#,
            r#"{"minutes":-5}"#,
            r#"{"minutes":525601}"#,
            r#"{"minutes":1.5}"#,
            r#"{"minutes":"60"}"#,
            r#"[1]"#,
            "not json",
        ] {
            let e = BanTerms::parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{body}");
        }
        let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(201));
        assert!(BanTerms::parse(long.as_bytes()).is_err());
        let exact = format!(r#"{{"reason":"{}"}}"#, "é".repeat(200));
        assert!(BanTerms::parse(exact.as_bytes()).is_ok());
        assert!(BanTerms::parse(br#"{"reason":"a\nb"}"#).is_err());
    }
}
