//! `/api/admin/conversations*`: the staff's support conversations (any staff member: admin or
//! agent; 401 without a valid token, 403 `staff only` to customers). The list with its filters,
//! one conversation, and the two changes a staff member makes: the status and the assignee.
//! Each change is told to every staff connection and recorded as an `event` message in the
//! conversation's notes thread by the chat server (`ConversationChanged`) before the answer.

use crate::api::admin::staff;
use crate::api::caller::AuthUser;
use crate::api::customer_panel::{customer_panel, PanelView};
use crate::api::resource;
use crate::chat::conversations::{assign_event, status_event};
use crate::chat::messages::{ConversationChanged, GetViewers, ListOnline};
use crate::db::conversations::{AssigneeFilter, Conversation, Holder, ListFilter, Viewer};
use crate::db::StorageError;
use crate::domain::{ConversationStatus, RoomKind, RoomName, UserId, UserInfo};
use crate::error::{AppError, ErrorCode};
use crate::history::conversations::{
    AssignAnswer, AssignConversation, GetConversation, ListConversations, SetConversationStatus,
};
use crate::protocol::{ConversationChange, WireConversation};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// Most conversations the list returns.
const MAX_CONVERSATIONS: i64 = 500;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/admin/conversations", web::get(), list))
        .service(resource("/api/admin/conversations/{room}", web::get(), one))
        .service(resource(
            "/api/admin/conversations/{room}/status",
            web::post(),
            set_status,
        ))
        .service(resource(
            "/api/admin/conversations/{room}/assign",
            web::post(),
            assign,
        ));
}

/// `?status=&assignee=me|none|<id>&q=`, each optional.
#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    assignee: Option<String>,
    q: Option<String>,
}

impl ListQuery {
    /// The filter, `me` being `caller`; 400 for a status or assignee that is neither.
    fn filter(self, caller: UserId) -> Result<ListFilter, AppError> {
        let status = match self.status.as_deref() {
            None | Some("") => None,
            Some(s) => Some(ConversationStatus::parse(s).map_err(|e| AppError::bad_request(e.0))?),
        };
        let assignee =
            match self.assignee.as_deref() {
                None | Some("") => AssigneeFilter::Any,
                Some("me") => AssigneeFilter::Member(caller),
                Some("none") => AssigneeFilter::Nobody,
                Some(id) => AssigneeFilter::Member(UserId(id.parse().map_err(|_| {
                    AppError::bad_request("assignee must be me, none or a user id")
                })?)),
            };
        let q = self
            .q
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty());
        Ok(ListFilter {
            status,
            assignee,
            q,
            limit: MAX_CONVERSATIONS,
        })
    }
}

async fn list(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let me = staff(&state, &caller).await?;
    let filter = query.into_inner().filter(me.id)?;
    let viewer = Viewer::Staff(me.id);
    let list = state
        .history
        .send(ListConversations { viewer, filter })
        .await??;
    let conversations = views(&state, list).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "conversations": conversations })))
}

/// One conversation and, for the staff's side panel, what is known of its customer.
#[derive(Serialize)]
struct ConversationDetail {
    #[serde(flatten)]
    conversation: WireConversation,
    /// What is known of the customer.
    panel: PanelView,
    /// The staff members who have the conversation open now, by id.
    viewers: Vec<UserInfo>,
}

async fn one(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    room: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let me = staff(&state, &caller).await?;
    let room = conversation_room(&room)?;
    let viewer = Viewer::Staff(me.id);
    let found = state
        .history
        .send(GetConversation {
            viewer,
            room: room.clone(),
        })
        .await??
        .ok_or_else(no_such_conversation)?;
    let conversation = view(&state, found).await?;
    let panel = customer_panel(&state, &room).await?;
    let viewers = state.chat.send(GetViewers { room }).await?;
    Ok(HttpResponse::Ok().json(ConversationDetail {
        conversation,
        panel,
        viewers,
    }))
}

/// `{"status"}`.
#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

async fn set_status(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    room: web::Path<String>,
    body: web::Json<StatusBody>,
) -> Result<HttpResponse, AppError> {
    let me = staff(&state, &caller).await?;
    let room = conversation_room(&room)?;
    let status = ConversationStatus::parse(&body.status).map_err(|e| AppError::bad_request(e.0))?;
    let request = SetConversationStatus {
        viewer: Viewer::Staff(me.id),
        room,
        status,
    };
    let (conversation, changed) = match state.history.send(request).await? {
        Err(StorageError::NotFound) => return Err(no_such_conversation()),
        other => other?,
    };
    let conversation = view(&state, conversation).await?;
    if changed {
        let event = status_event(status);
        tell(&state, &conversation, ConversationChange::Status, me, event).await?;
    }
    Ok(HttpResponse::Ok().json(conversation))
}

/// `{"agent_id": id | null}`.
#[derive(Deserialize)]
struct AssignBody {
    agent_id: Option<i64>,
}

async fn assign(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    room: web::Path<String>,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, AppError> {
    let me = staff(&state, &caller).await?;
    let room = conversation_room(&room)?;
    let request = AssignConversation {
        viewer: Viewer::Staff(me.id),
        room,
        assignee: body.agent_id.map(UserId),
        holder: Holder::Anyone,
    };
    let (conversation, changed) = match state.history.send(request).await? {
        Err(StorageError::NotFound) => return Err(no_such_conversation()),
        Ok(AssignAnswer::NotStaff) => {
            return Err(AppError::bad_request(
                "agent_id must be an active staff member",
            ))
        }
        Ok(AssignAnswer::Done(conversation, changed)) => (*conversation, changed),
        Err(e) => return Err(e.into()),
    };
    let conversation = assignment_told(&state, conversation, changed, me).await?;
    Ok(HttpResponse::Ok().json(conversation))
}

/// A stored assignment as the API shows it; when it changed the assignee, told to the staff
/// and recorded as `by`'s doing first.
async fn assignment_told(
    state: &AppState,
    conversation: Conversation,
    changed: bool,
    by: UserInfo,
) -> Result<WireConversation, AppError> {
    let conversation = view(state, conversation).await?;
    if changed {
        let event = assign_event(conversation.assignee.as_ref());
        tell(state, &conversation, ConversationChange::Assign, by, event).await?;
    }
    Ok(conversation)
}

/// Hands every conversation of `member` (just deactivated: no assignment to them lands any
/// more) back to the unassigned queue, whatever its status, each as if `by` had unassigned
/// it: stored, told to the staff and recorded in its notes thread; one a colleague took
/// meanwhile stays theirs. A customer whose conversation was the member's, resolved or not,
/// is never left waiting on someone who is gone. Stops at the first failure (the member
/// stays deactivated; calling it again finishes the job). How many went back.
pub(crate) async fn release_conversations_of(
    state: &AppState,
    member: UserId,
    by: UserInfo,
) -> Result<usize, AppError> {
    let viewer = Viewer::Staff(by.id);
    let mut released = 0;
    loop {
        let filter = ListFilter {
            status: None,
            assignee: AssigneeFilter::Member(member),
            q: None,
            limit: MAX_CONVERSATIONS,
        };
        let theirs = state
            .history
            .send(ListConversations { viewer, filter })
            .await??;
        let mut changed_any = false;
        for conversation in theirs {
            let request = AssignConversation {
                viewer,
                room: conversation.room,
                assignee: None,
                holder: Holder::Member(member),
            };
            match state.history.send(request).await? {
                Ok(AssignAnswer::Done(conversation, changed)) => {
                    assignment_told(state, *conversation, changed, by.clone()).await?;
                    released += usize::from(changed);
                    changed_any |= changed;
                }
                // Gone meanwhile (or taken by a colleague: unchanged); nobody is never "not
                // staff".
                Err(StorageError::NotFound) | Ok(AssignAnswer::NotStaff) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // A page changed nothing: nothing of theirs is left (more than a page: go on).
        if !changed_any {
            return Ok(released);
        }
    }
}

/// Has the chat server tell the staff and record the event; returns once it is stored.
async fn tell(
    state: &AppState,
    conversation: &WireConversation,
    change: ConversationChange,
    by: UserInfo,
    event: String,
) -> Result<(), AppError> {
    let room = conversation.room.clone();
    let told = state
        .chat
        .send(ConversationChanged {
            conversation: conversation.clone(),
            change,
            by,
            event,
        })
        .await?;
    // The change is committed: a failure to record its event (the server draining, the
    // outbox full) is logged, not answered as if the change had failed (a retry would find
    // it unchanged and record nothing).
    if let Err(e) = told {
        log::warn!("{room}: the change is stored but its event could not be recorded: {e}");
    }
    Ok(())
}

/// `support:<id>`, or 404: nothing else is a conversation.
fn conversation_room(raw: &str) -> Result<RoomName, AppError> {
    match RoomName::parse(raw) {
        Ok(room) if matches!(room.kind(), RoomKind::Support(_)) => Ok(room),
        _ => Err(no_such_conversation()),
    }
}

fn no_such_conversation() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such conversation")
}

/// The wire form of one conversation (whether its customer is online is the chat server's).
async fn view(state: &AppState, conversation: Conversation) -> Result<WireConversation, AppError> {
    Ok(views(state, vec![conversation]).await?.remove(0))
}

/// The wire form of a list, asking the chat server once who of its customers is online.
async fn views(
    state: &AppState,
    list: Vec<Conversation>,
) -> Result<Vec<WireConversation>, AppError> {
    let users = list.iter().map(|c| UserId(c.customer.id)).collect();
    let online = state.chat.send(ListOnline { users }).await?;
    Ok(list
        .into_iter()
        .map(|c| {
            let is_online = online.contains(&UserId(c.customer.id));
            WireConversation::new(c, is_online)
        })
        .collect())
}
