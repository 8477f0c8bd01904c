//! `GET /healthz`: 200 when the server and its database answer.

use crate::api::{get_or_head, resource};
use crate::error::{AppError, ErrorCode};
use crate::history::messages::CheckDatabase;
use crate::state::AppState;
use actix_web::{web, HttpResponse};

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", get_or_head(), healthz));
}

async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    match state.history.send(CheckDatabase).await? {
        Ok(()) => Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))),
        Err(e) => {
            log::error!("health check: {e}");
            Err(AppError::new(
                ErrorCode::Unavailable,
                "database unavailable",
            ))
        }
    }
}
