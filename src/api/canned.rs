//! `/api/admin/canned`: the staff's canned replies (admins and agents alike), the answers
//! they insert in the console by typing `/shortcut`. A shortcut is unique whatever its case.

use crate::api::admin::staff;
use crate::api::caller::AuthUser;
use crate::db::canned::CannedRow;
use crate::db::StorageError;
use crate::domain::{CannedText, Shortcut};
use crate::error::{AppError, ErrorCode};
use crate::history::desk::{CreateCanned, DeleteCanned, ListCanned, UpdateCanned};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/admin/canned")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/api/admin/canned/{id}")
            .route(web::patch().to(update))
            .route(web::delete().to(delete))
            .default_service(web::to(super::method_not_allowed)),
    );
}

/// `{"shortcut","text"}`.
#[derive(Deserialize)]
struct NewCanned {
    shortcut: String,
    text: String,
}

/// `{"shortcut"?,"text"?}`: the fields that change.
#[derive(Deserialize)]
struct CannedChange {
    shortcut: Option<String>,
    text: Option<String>,
}

/// A canned reply as the API shows it.
#[derive(Serialize)]
struct CannedView {
    id: i64,
    shortcut: String,
    text: String,
    created_at: i64,
    updated_at: i64,
}

impl From<CannedRow> for CannedView {
    fn from(row: CannedRow) -> Self {
        CannedView {
            id: row.id,
            shortcut: row.shortcut,
            text: row.text,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn shortcut(raw: &str) -> Result<Shortcut, AppError> {
    Shortcut::parse(raw).map_err(|e| AppError::bad_request(e.0))
}

fn text(raw: &str) -> Result<CannedText, AppError> {
    CannedText::parse(raw).map_err(|e| AppError::bad_request(e.0))
}

/// What the client hears of a refused write: a taken shortcut, an unknown id.
fn refusal(e: StorageError) -> AppError {
    match e {
        StorageError::Conflict(_) => {
            AppError::new(ErrorCode::Conflict, "shortcut is already taken")
        }
        StorageError::NotFound => AppError::new(ErrorCode::NotFound, "no such canned reply"),
        other => other.into(),
    }
}

async fn list(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let rows = state.history.send(ListCanned).await??;
    let canned: Vec<CannedView> = rows.into_iter().map(CannedView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "canned": canned })))
}

async fn create(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    body: web::Json<NewCanned>,
) -> Result<HttpResponse, AppError> {
    let by = staff(&state, &caller).await?;
    let request = CreateCanned {
        shortcut: shortcut(&body.shortcut)?,
        text: text(&body.text)?,
        by: by.id,
    };
    let row = state.history.send(request).await?.map_err(refusal)?;
    Ok(HttpResponse::Created().json(CannedView::from(row)))
}

async fn update(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
    body: web::Json<CannedChange>,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let request = UpdateCanned {
        id: id.into_inner(),
        shortcut: body.shortcut.as_deref().map(shortcut).transpose()?,
        text: body.text.as_deref().map(text).transpose()?,
    };
    let row = state.history.send(request).await?.map_err(refusal)?;
    Ok(HttpResponse::Ok().json(CannedView::from(row)))
}

async fn delete(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let id = id.into_inner();
    state
        .history
        .send(DeleteCanned { id })
        .await?
        .map_err(refusal)?;
    Ok(HttpResponse::NoContent().finish())
}
