//! `GET /api/admin/conversations/{room}`: one support conversation for the staff console, with
//! how far each side has read and the customer panel (who the customer is, when they were
//! last there, the store page they are on, their earlier conversations). Staff only.
//!
//! The conversation object itself (status, assignee, the list's fields) is the conversations
//! API's; this answer carries what the panel adds to it.

use crate::api::admin::staff;
use crate::api::caller::AuthUser;
use crate::api::resource;
use crate::chat::messages::ListOnline;
use crate::db::customer_panel::{CustomerPanel, EarlierConversation};
use crate::db::StorageError;
use crate::domain::{RoomKind, RoomName};
use crate::error::{AppError, ErrorCode};
use crate::history::customer::GetCustomerPanel;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/api/admin/conversations/{room}",
        web::get(),
        conversation,
    ));
}

/// The answer: the conversation's read state and its panel.
#[derive(Serialize)]
struct ConversationPanelView {
    room: String,
    /// The customer's read cursor.
    customer_read_seq: i64,
    /// The highest read cursor of the staff.
    staff_read_seq: i64,
    panel: PanelView,
}

/// Who the customer is, as the console shows them beside the conversation.
#[derive(Serialize)]
struct PanelView {
    name: String,
    email: Option<String>,
    external_id: Option<String>,
    /// When the account was made (ms).
    first_seen: i64,
    /// When their first connection last opened or their last one closed (ms); null if never.
    last_seen: Option<i64>,
    /// The store page the widget last reported.
    page: Option<String>,
    /// Whether they have a connection open now.
    online: bool,
    earlier: Vec<EarlierView>,
}

/// Another conversation of the same person.
#[derive(Serialize)]
struct EarlierView {
    room: String,
    last_activity: i64,
    status: String,
}

impl From<EarlierConversation> for EarlierView {
    fn from(e: EarlierConversation) -> EarlierView {
        EarlierView {
            room: e.room,
            last_activity: e.last_activity,
            status: e.status,
        }
    }
}

impl ConversationPanelView {
    fn new(room: &RoomName, panel: CustomerPanel, online: bool) -> ConversationPanelView {
        let customer = panel.customer;
        ConversationPanelView {
            room: room.to_string(),
            customer_read_seq: panel.customer_read_seq,
            staff_read_seq: panel.staff_read_seq,
            panel: PanelView {
                name: customer.username,
                email: customer.email,
                external_id: customer.external_id,
                first_seen: customer.created_at,
                last_seen: customer.last_seen_at,
                page: customer.last_page,
                online,
                earlier: panel.earlier.into_iter().map(EarlierView::from).collect(),
            },
        }
    }
}

async fn conversation(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    room: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let room = RoomName::parse(&room).map_err(|e| AppError::bad_request(e.0))?;
    let RoomKind::Support(customer) = room.kind() else {
        return Err(AppError::bad_request("not a support conversation"));
    };
    let panel = match state
        .history
        .send(GetCustomerPanel { room: room.clone() })
        .await?
    {
        Err(StorageError::NotFound) => {
            return Err(AppError::new(ErrorCode::NotFound, "no such conversation"))
        }
        other => other?,
    };
    let online = state
        .chat
        .send(ListOnline {
            users: vec![customer],
        })
        .await?
        .contains(&customer);
    Ok(HttpResponse::Ok().json(ConversationPanelView::new(&room, panel, online)))
}
