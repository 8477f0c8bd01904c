//! `/api/notifications`: the signed-in user's notifications from the store (sent by the server
//! API, `api::server`): a page of them, newest first, and marking one or all read. After a
//! read, every open connection of the user hears the new unread count
//! (`notifications_unread`), so the user's other tabs update their badge.

use crate::api::caller::{current_account, AuthUser};
use crate::api::page::PageQuery;
use crate::api::resource;
use crate::chat::messages::NotificationsUnreadChanged;
use crate::db::StorageError;
use crate::error::{AppError, ErrorCode};
use crate::history::messages::{ListNotifications, ReadAllNotifications, ReadNotification};
use crate::protocol::NotificationFrame;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/notifications", web::get(), list))
        .service(resource(
            "/api/notifications/read-all",
            web::post(),
            read_all,
        ))
        .service(resource(
            "/api/notifications/{id}/read",
            web::post(),
            read_one,
        ));
}

/// One notification of the list: the `notification` frame's fields and whether it was read.
#[derive(Serialize)]
struct NotificationView {
    #[serde(flatten)]
    notification: NotificationFrame,
    read: bool,
}

async fn list(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let user = current_account(&state, &caller).await?;
    let page = query.parse()?;
    let page = state
        .history
        .send(ListNotifications {
            user: user.id,
            before: page.before,
            limit: page.limit,
        })
        .await??;
    let notifications: Vec<NotificationView> = page
        .notifications
        .into_iter()
        .map(|row| NotificationView {
            read: row.read_at.is_some(),
            notification: NotificationFrame::from(row),
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "notifications": notifications,
        "more": page.more,
        "unread": page.unread,
    })))
}

async fn read_one(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let user = current_account(&state, &caller).await?;
    let id = id.into_inner();
    let count = match state
        .history
        .send(ReadNotification { user: user.id, id })
        .await?
    {
        Err(StorageError::NotFound) => {
            return Err(AppError::new(ErrorCode::NotFound, "no such notification"))
        }
        other => other?,
    };
    state.chat.do_send(NotificationsUnreadChanged {
        user: user.id,
        count,
    });
    Ok(HttpResponse::NoContent().finish())
}

async fn read_all(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    let user = current_account(&state, &caller).await?;
    state
        .history
        .send(ReadAllNotifications { user: user.id })
        .await??;
    state.chat.do_send(NotificationsUnreadChanged {
        user: user.id,
        count: 0,
    });
    Ok(HttpResponse::NoContent().finish())
}
