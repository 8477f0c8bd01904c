//! `/api/admin/api-keys`: admins create, list and revoke the API keys of the store's backend
//! (the callers of `/api/server/*`, see [`super::server`]). A key is shown once, in the answer
//! that creates it; the database holds its SHA-256 digest only (`auth::api_key`).

use crate::api::admin::admin_only;
use crate::api::caller::AuthUser;
use crate::api::resource;
use crate::auth::api_key;
use crate::db::api_keys::ApiKeyRow;
use crate::db::StorageError;
use crate::domain::ApiKeyName;
use crate::error::{AppError, ErrorCode};
use crate::history::messages::{CreateApiKey, ListApiKeys, RevokeApiKey};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/admin/api-keys")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(resource("/api/admin/api-keys/{id}", web::delete(), revoke));
}

/// `{"name"}`.
#[derive(Deserialize)]
struct NewKey {
    name: String,
}

/// A key as listed: never the key itself.
#[derive(Serialize)]
struct KeyView {
    id: i64,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<ApiKeyRow> for KeyView {
    fn from(row: ApiKeyRow) -> Self {
        KeyView {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

async fn create(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    body: web::Json<NewKey>,
) -> Result<HttpResponse, AppError> {
    admin_only(&state, &caller).await?;
    let name = ApiKeyName::parse(&body.name).map_err(|e| AppError::bad_request(e.0))?;
    let (key, key_digest) = api_key::generate();
    let row = state
        .history
        .send(CreateApiKey { name, key_digest })
        .await??;
    log::info!("API key {} ({}) created by {}", row.id, row.name, caller.id);
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": row.id,
        "name": row.name,
        "key": key,
        "created_at": row.created_at,
    })))
}

async fn list(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    admin_only(&state, &caller).await?;
    let keys = state.history.send(ListApiKeys).await??;
    let keys: Vec<KeyView> = keys.into_iter().map(KeyView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "keys": keys })))
}

async fn revoke(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    admin_only(&state, &caller).await?;
    let id = id.into_inner();
    match state.history.send(RevokeApiKey { id }).await? {
        Err(StorageError::NotFound) => Err(AppError::new(ErrorCode::NotFound, "no such API key")),
        other => {
            other?;
            log::info!("API key {id} revoked by {}", caller.id);
            Ok(HttpResponse::NoContent().finish())
        }
    }
}
