//! `GET /healthz` (liveness: the process serves and its database answers) and `GET /readyz`
//! (readiness: whether a load balancer should send this node traffic now).

use crate::api::{get_or_head, resource};
use crate::chat::messages::GetReadiness;
use crate::error::{AppError, ErrorCode};
use crate::history::messages::CheckDatabase;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

/// How long `/readyz` waits for the database before it counts as not answering.
const READY_DB_WAIT: Duration = Duration::from_secs(2);

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", get_or_head(), healthz))
        .service(resource("/readyz", get_or_head(), readyz));
}

/// 200 `{"status":"ok"}` when the server and its database answer (within 2 s), else 503.
async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    match database_answers(&state).await {
        // A node of several still serves its own connections without Redis: 200, and the
        // broker named degraded (alone, the body is as ever).
        Ok(()) => Ok(HttpResponse::Ok().json(match &state.broker {
            None => json!({"status": "ok"}),
            Some(broker) if broker.is_degraded() => json!({"status": "ok", "broker": "degraded"}),
            Some(_) => json!({"status": "ok", "broker": "ok"}),
        })),
        Err(_) => Err(AppError::new(
            ErrorCode::Unavailable,
            "database unavailable",
        )),
    }
}

/// Whether the database answers a trivial query within [`READY_DB_WAIT`]; else why not. (The
/// chat server logs an outage of storing once; this is asked by probes every few seconds, so
/// it does not log at all above debug.)
async fn database_answers(state: &AppState) -> Result<(), &'static str> {
    match tokio::time::timeout(READY_DB_WAIT, state.history.send(CheckDatabase)).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => {
            log::debug!("database check: {e}");
            Err("the database does not answer")
        }
        Ok(Err(_)) => Err("the history actor is not running"),
        Err(_) => Err("the database did not answer within 2 s"),
    }
}

/// 200 `{"status":"ready"}` when the server is not stopping, storing messages works (no commit
/// stalled, none failed in the last 10 s) and the database answers; else 503
/// `{"status":"not_ready","reason"}`. Either way `storing` says `ok`, `stalled` or `failing`, and
/// `queued` how many messages wait for the next commit.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let chat = match state.chat.send(GetReadiness).await {
        Ok(readiness) => readiness,
        Err(_) => return not_ready("the chat server is not running", json!({})),
    };
    let storing = match (chat.stalled, chat.failing) {
        (true, _) => "stalled",
        (false, true) => "failing",
        (false, false) => "ok",
    };
    let figures = json!({"storing": storing, "queued": chat.queued});
    if chat.draining {
        return not_ready("draining: the server is stopping", figures);
    }
    if chat.stalled {
        return not_ready(
            "storing messages is stalled: a commit has not come back",
            figures,
        );
    }
    if chat.failing {
        return not_ready("storing messages failed in the last 10 s", figures);
    }
    match database_answers(&state).await {
        Ok(()) => {
            let mut body = json!({"status": "ready"});
            merge(&mut body, figures);
            HttpResponse::Ok().json(body)
        }
        Err(reason) => not_ready(reason, figures),
    }
}

fn not_ready(reason: &str, figures: serde_json::Value) -> HttpResponse {
    let mut body = json!({"status": "not_ready", "reason": reason});
    merge(&mut body, figures);
    HttpResponse::ServiceUnavailable().json(body)
}

fn merge(body: &mut serde_json::Value, figures: serde_json::Value) {
    if let (Some(body), serde_json::Value::Object(figures)) = (body.as_object_mut(), figures) {
        body.extend(figures);
    }
}
