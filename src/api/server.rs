//! `/api/server/*`: the store's own backend talking to the chat server, with an API key
//! (`Authorization: Bearer ck_…`, see [`ApiKeyCaller`]): notifications for a customer, and
//! messages written into a customer's support conversation as the store (and read back).
//! A user's or staff member's token is no key here: 401.

use crate::api::caller::request_token;
use crate::api::page::PageQuery;
use crate::api::resource;
use crate::api::rooms::MessagesPage;
use crate::auth::api_key;
use crate::chat::messages::{Notify, PostAsStore};
use crate::db::StorageError;
use crate::domain::{ClientMessageId, ExternalId, MessageText, RoomName, UserId};
use crate::error::{AppError, ErrorCode};
use crate::history::messages::{
    CreateNotification, CustomerRef, FetchHistory, FindCustomer, PrepareStoreMessage, UseApiKey,
};
use crate::notification::NewNotification;
use crate::protocol::NotificationFrame;
use crate::state::AppState;
use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::future::{ready, Ready};

/// Routes of this file, in a scope whose every request shows its API key first
/// ([`require_api_key`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/server")
            .wrap(from_fn(require_api_key))
            .service(resource("/notifications", web::post(), notify))
            .service(
                web::resource("/conversations/{external_id}/messages")
                    .route(web::post().to(post_message))
                    .route(web::get().to(history))
                    .default_service(web::to(super::method_not_allowed)),
            ),
    );
}

/// A call of the server API with a valid API key: the key in use whose digest matches the
/// bearer token (found by [`require_api_key`] before anything else of the request is read).
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyCaller {
    /// The id of the key used.
    pub key_id: i64,
}

/// Checks the API key of every request under `/api/server/` before its handler reads the
/// path, the query or the body: no key, an unknown or revoked one, or anything else (a user's
/// or staff member's JWT) is `unauthorized`, whatever else the request holds, so a caller
/// without a key learns nothing of what the API would make of it. (Checked by an extractor
/// instead, the key would wait on the database while actix ran the other extractors, and a
/// malformed body would answer 400 first.) The key itself is never logged.
async fn require_api_key(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match api_key_caller(&req).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.call(req).await
        }
        Err(e) => Ok(req.error_response(e)),
    }
}

/// The key the request shows, if it is one in use.
async fn api_key_caller(req: &ServiceRequest) -> Result<ApiKeyCaller, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::internal("AppState missing"))?;
    let token =
        request_token(req.request()).ok_or_else(|| AppError::unauthorized("missing API key"))?;
    // Not shaped like a key (a JWT, say): refused without a database lookup.
    let key_digest = api_key::digest_of(&token)
        .ok_or_else(|| AppError::unauthorized("this endpoint takes an API key"))?;
    match state.history.send(UseApiKey { key_digest }).await?? {
        Some(row) => Ok(ApiKeyCaller { key_id: row.id }),
        None => Err(AppError::unauthorized("unknown or revoked API key")),
    }
}

impl FromRequest for ApiKeyCaller {
    type Error = AppError;
    type Future = Ready<Result<ApiKeyCaller, AppError>>;

    /// The key [`require_api_key`] found; a route outside its scope has none (a bug: 500).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req.extensions().get::<ApiKeyCaller>().copied();
        ready(caller.ok_or_else(|| AppError::internal("route without the API key check")))
    }
}

/// `{"external_id" or "user_id","title","body","link"?}`.
#[derive(Deserialize)]
struct NotificationBody {
    external_id: Option<String>,
    user_id: Option<i64>,
    title: String,
    body: String,
    link: Option<String>,
}

/// Who a request names: exactly one of the store's id and ours.
fn customer_of(external_id: Option<String>, user_id: Option<i64>) -> Result<CustomerRef, AppError> {
    match (external_id, user_id) {
        (Some(external_id), None) => Ok(CustomerRef::ExternalId(external_id_of(&external_id)?)),
        (None, Some(id)) => Ok(CustomerRef::Id(UserId(id))),
        _ => Err(AppError::bad_request(
            "name the customer by exactly one of external_id and user_id",
        )),
    }
}

/// The store's id for a customer, as `POST /api/auth/identify` takes it.
fn external_id_of(raw: &str) -> Result<ExternalId, AppError> {
    ExternalId::parse(raw).map_err(|e| AppError::bad_request(e.0))
}

fn no_such_customer() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such customer")
}

async fn notify(
    _caller: ApiKeyCaller,
    state: web::Data<AppState>,
    body: web::Json<NotificationBody>,
) -> Result<HttpResponse, AppError> {
    let NotificationBody {
        external_id,
        user_id,
        title,
        body,
        link,
    } = body.into_inner();
    let customer = customer_of(external_id, user_id)?;
    let notification =
        NewNotification::parse(title, body, link).map_err(|e| AppError::bad_request(e.0))?;
    let row = match state
        .history
        .send(CreateNotification {
            customer,
            notification,
        })
        .await?
    {
        Err(StorageError::NotFound) => return Err(no_such_customer()),
        other => other?,
    };
    let id = row.id;
    // Stored first: a connection that misses the frame (not open yet) counts it in `hello`.
    state.chat.do_send(Notify {
        user: UserId(row.user_id),
        notification: NotificationFrame::from(row),
    });
    Ok(HttpResponse::Created().json(serde_json::json!({ "id": id })))
}

/// `{"text","cid"?}`: the cid (as a client's, 1-64 printable ASCII characters) makes a resend
/// after a timeout harmless: stored once, answered with the first copy's place.
#[derive(Deserialize)]
struct StoreMessageBody {
    text: String,
    cid: Option<String>,
}

async fn post_message(
    _caller: ApiKeyCaller,
    state: web::Data<AppState>,
    external_id: web::Path<String>,
    body: web::Json<StoreMessageBody>,
) -> Result<HttpResponse, AppError> {
    let external_id = external_id_of(&external_id)?;
    let StoreMessageBody { text, cid } = body.into_inner();
    let text = MessageText::parse(text, state.session_limits.max_message_chars)
        .map_err(|e| AppError::new(ErrorCode::from(&e), e.to_string()))?;
    let cid = cid
        .as_deref()
        .map(ClientMessageId::parse)
        .transpose()
        .map_err(|e| AppError::bad_request(e.0))?;
    let (customer, author) = match state
        .history
        .send(PrepareStoreMessage { external_id })
        .await?
    {
        Err(StorageError::NotFound) => return Err(no_such_customer()),
        other => other?,
    };
    let room = RoomName::support(UserId(customer.id));
    let stored = state
        .chat
        .send(PostAsStore {
            from: author.info(),
            room,
            text,
            cid,
        })
        .await??;
    Ok(HttpResponse::Created().json(stored))
}

async fn history(
    _caller: ApiKeyCaller,
    state: web::Data<AppState>,
    external_id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let external_id = external_id_of(&external_id)?;
    let page = query.parse()?;
    let customer = state
        .history
        .send(FindCustomer { external_id })
        .await??
        .ok_or_else(no_such_customer)?;
    let page = state
        .history
        .send(FetchHistory {
            room: RoomName::support(UserId(customer.id)),
            before: page.before,
            limit: page.limit,
        })
        .await??;
    Ok(HttpResponse::Ok().json(MessagesPage::from(page)))
}
