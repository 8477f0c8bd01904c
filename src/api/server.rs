//! `/api/server/*`: the store's own backend talking to the chat server, with an API key
//! (`Authorization: Bearer ck_…`, see [`ApiKeyCaller`]): notifications for a customer, and
//! messages written into a customer's support conversation as the store (and read back).
//! A user's or staff member's token is no key here: 401.

use crate::api::caller::request_token;
use crate::api::resource;
use crate::auth::api_key;
use crate::chat::messages::{Notify, PostAsStore};
use crate::db::StorageError;
use crate::domain::{MessageText, RoomName, UserId};
use crate::error::{AppError, ErrorCode};
use crate::history::messages::{
    CreateNotification, CustomerRef, FetchHistory, FindCustomer, PrepareStoreMessage, UseApiKey,
};
use crate::notification::NewNotification;
use crate::protocol::{wire_messages, NotificationFrame, WireMessage};
use crate::state::AppState;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// Longest external id the API looks up (the store's ids are short; a longer one cannot exist).
const MAX_EXTERNAL_ID: usize = 255;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/server/notifications", web::post(), notify))
        .service(
            web::resource("/api/server/conversations/{external_id}/messages")
                .route(web::post().to(post_message))
                .route(web::get().to(history))
                .default_service(web::to(super::method_not_allowed)),
        );
}

/// A call of the server API with a valid API key: the key in use whose digest matches the
/// bearer token. No key, an unknown or revoked one, or anything else (a user's or staff
/// member's JWT) is `unauthorized`. The key itself is never logged.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyCaller {
    /// The id of the key used.
    pub key_id: i64,
}

impl FromRequest for ApiKeyCaller {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<ApiKeyCaller, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = request_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("AppState missing"))?;
            let token = token.ok_or_else(|| AppError::unauthorized("missing API key"))?;
            // Not shaped like a key (a JWT, say): refused without a database lookup.
            let key_digest = api_key::digest_of(&token)
                .ok_or_else(|| AppError::unauthorized("this endpoint takes an API key"))?;
            match state.history.send(UseApiKey { key_digest }).await?? {
                Some(row) => Ok(ApiKeyCaller { key_id: row.id }),
                None => Err(AppError::unauthorized("unknown or revoked API key")),
            }
        })
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
        (Some(external_id), None) => Ok(CustomerRef::ExternalId(checked_external_id(external_id)?)),
        (None, Some(id)) => Ok(CustomerRef::Id(UserId(id))),
        _ => Err(AppError::bad_request(
            "name the customer by exactly one of external_id and user_id",
        )),
    }
}

fn checked_external_id(external_id: String) -> Result<String, AppError> {
    if external_id.is_empty() || external_id.len() > MAX_EXTERNAL_ID {
        return Err(AppError::bad_request(format!(
            "external_id must be 1-{MAX_EXTERNAL_ID} bytes"
        )));
    }
    Ok(external_id)
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

/// `{"text"}`.
#[derive(Deserialize)]
struct StoreMessageBody {
    text: String,
}

async fn post_message(
    _caller: ApiKeyCaller,
    state: web::Data<AppState>,
    external_id: web::Path<String>,
    body: web::Json<StoreMessageBody>,
) -> Result<HttpResponse, AppError> {
    let external_id = checked_external_id(external_id.into_inner())?;
    let text = MessageText::parse(
        body.into_inner().text,
        state.session_limits.max_message_chars,
    )
    .map_err(|e| AppError::new(ErrorCode::from(&e), e.to_string()))?;
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
        })
        .await??;
    Ok(HttpResponse::Created().json(stored))
}

/// `?before=SEQ&limit=N`.
#[derive(Deserialize)]
struct PageQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

/// `{"messages","more"}`, as `GET /api/rooms/{room}/messages` answers.
#[derive(Serialize)]
struct MessagesPage {
    messages: Vec<WireMessage>,
    more: bool,
}

async fn history(
    _caller: ApiKeyCaller,
    state: web::Data<AppState>,
    external_id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let external_id = checked_external_id(external_id.into_inner())?;
    if query.before.is_some_and(|b| b < 1) {
        return Err(AppError::bad_request("before must be 1 or more"));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(AppError::bad_request("limit must be 1-100"));
    }
    let customer = state
        .history
        .send(FindCustomer { external_id })
        .await??
        .ok_or_else(no_such_customer)?;
    let page = state
        .history
        .send(FetchHistory {
            room: RoomName::support(UserId(customer.id)),
            before: query.before,
            limit,
        })
        .await??;
    Ok(HttpResponse::Ok().json(MessagesPage {
        messages: wire_messages(page.messages),
        more: page.more,
    }))
}
