//! What the chat widget asks besides the chat itself: `GET /widget/config` (the loader on a
//! store's page: is this site set up?), `GET /api/support/status` (the widget before the first
//! message: are staff online now?) and `GET /api/admin/settings` (the console: which sites are
//! set up, read-only). The widget's files themselves are served by [`super::pages`].

use crate::api::admin::admin_only;
use crate::api::caller::AuthUser;
use crate::api::{get_or_head, resource};
use crate::chat::support_status::CountStaffOnline;
use crate::embed::is_listed;
use crate::error::AppError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Longest `origin` a config question may carry; a longer one is simply not listed.
const MAX_ORIGIN_QUERY: usize = 300;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/widget/config", get_or_head(), widget_config))
        .service(resource(
            "/api/support/status",
            get_or_head(),
            support_status,
        ))
        .service(resource("/api/admin/settings", web::get(), admin_settings));
}

/// The query of `GET /widget/config`.
#[derive(Deserialize)]
struct ConfigQuery {
    /// The store page's `location.origin`.
    origin: Option<String>,
}

/// `{"origin","allowed"}`: whether `origin` is one of `--embed-origins`. Public and readable
/// from any site (CORS `*`), since the loader runs on the store's page; it says nothing but
/// yes or no about the one origin asked for, so the list itself is not given away.
async fn widget_config(state: web::Data<AppState>, query: web::Query<ConfigQuery>) -> HttpResponse {
    let origin = query.into_inner().origin.unwrap_or_default();
    let allowed = origin.len() <= MAX_ORIGIN_QUERY && is_listed(&state.embed_origins, &origin);
    let origin = if origin.len() <= MAX_ORIGIN_QUERY {
        origin
    } else {
        String::new()
    };
    HttpResponse::Ok()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "origin": origin, "allowed": allowed }))
}

/// `{"staff_online": n, "open", "next_open_at", "away_message", "reply_time"}`: staff members
/// connected now, and what the desk's business hours say (`api::desk_hours`, from memory).
/// Public: the widget asks before the visitor has an account, and a count says nothing about
/// who.
async fn support_status(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let staff_online = state.chat.send(CountStaffOnline).await?;
    let desk = crate::api::desk_hours::desk_status(&state);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "staff_online": staff_online,
            "open": desk.open,
            "next_open_at": desk.next_open_at,
            "away_message": desk.away_message,
            "reply_time": desk.reply_time,
        })))
}

/// `{"embed_origins": [...], "email": {"enabled","email_after_secs","mail_from"}}`: the
/// settings the console shows (read-only: they are flags of the server, changed by restarting
/// it with another value).
async fn admin_settings(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    admin_only(&state, &caller).await?;
    let origins: Vec<&str> = state.embed_origins.iter().map(|o| o.as_str()).collect();
    Ok(HttpResponse::Ok().json(json!({
        "embed_origins": origins,
        "embed_origins_flag": "--embed-origins",
        "embed_origins_env": "CHAT_EMBED_ORIGINS",
        "email": state.email,
    })))
}
