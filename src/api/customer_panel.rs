//! The customer panel of `GET /api/admin/conversations/{room}` (`api/conversations.rs`): who
//! the customer is, when they were last there, the store page they are on, their earlier
//! conversations.

use crate::chat::messages::ListOnline;
use crate::db::customer_panel::{CustomerPanel, EarlierConversation};
use crate::db::StorageError;
use crate::domain::{RoomKind, RoomName};
use crate::error::{AppError, ErrorCode};
use crate::history::customer::GetCustomerPanel;
use crate::state::AppState;

use serde::Serialize;

/// Who the customer is, as the console shows them beside the conversation.
#[derive(Serialize)]
pub(crate) struct PanelView {
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

impl PanelView {
    fn new(panel: CustomerPanel, online: bool) -> PanelView {
        let customer = panel.customer;
        PanelView {
            name: customer.username,
            email: customer.email,
            external_id: customer.external_id,
            first_seen: customer.created_at,
            last_seen: customer.last_seen_at,
            page: customer.last_page,
            online,
            earlier: panel.earlier.into_iter().map(EarlierView::from).collect(),
        }
    }
}

/// The panel of the support conversation `room` (`support:<id>`); `NotFound` when it has none.
pub(crate) async fn customer_panel(
    state: &AppState,
    room: &RoomName,
) -> Result<PanelView, AppError> {
    let RoomKind::Support(customer) = room.kind() else {
        return Err(AppError::new(ErrorCode::NotFound, "no such conversation"));
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
    Ok(PanelView::new(panel, online))
}
