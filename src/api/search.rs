//! `GET /api/admin/search?q=&limit=`: staff (admins and agents) search every support
//! conversation and notes thread for messages holding every word of `q`, newest first
//! (`db::search` says how each backend matches).

use crate::api::admin::staff;
use crate::api::caller::AuthUser;
use crate::api::get_or_head;
use crate::api::resource;
use crate::db::search::SearchHit;
use crate::domain::{MessageKind, UserInfo};
use crate::error::AppError;
use crate::history::desk::SearchMessages;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// Results when the client names no limit.
pub const DEFAULT_LIMIT: i64 = 50;
/// Most results of one search.
pub const MAX_LIMIT: i64 = 100;
/// Longest query, in characters: a search is a few words, not a document.
pub const MAX_QUERY_CHARS: usize = 500;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/admin/search", get_or_head(), search));
}

/// `?q=&limit=`.
#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
    limit: Option<i64>,
}

/// One result: the message and the customer of its conversation.
#[derive(Serialize)]
struct ResultView {
    room: String,
    seq: i64,
    id: i64,
    text: String,
    ts: i64,
    from: UserInfo,
    #[serde(skip_serializing_if = "MessageKind::is_text")]
    kind: MessageKind,
    /// Whether it is a staff note (from the notes thread `notes:<id>`).
    note: bool,
    customer: UserInfo,
}

impl From<SearchHit> for ResultView {
    fn from(hit: SearchHit) -> Self {
        let m = hit.message;
        ResultView {
            room: m.room,
            seq: m.seq,
            id: m.id,
            text: m.text,
            ts: m.ts,
            from: m.from,
            kind: m.kind,
            note: m.kind == MessageKind::Note,
            customer: hit.customer,
        }
    }
}

async fn search(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let SearchQuery { q, limit } = query.into_inner();
    let q = q.unwrap_or_default();
    if q.trim().is_empty() {
        return Err(AppError::bad_request("q must not be blank"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::bad_request(format!(
            "q must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::bad_request(format!(
            "limit must be 1-{MAX_LIMIT}"
        )));
    }
    let hits = state.history.send(SearchMessages { q, limit }).await??;
    let results: Vec<ResultView> = hits.into_iter().map(ResultView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "results": results })))
}
