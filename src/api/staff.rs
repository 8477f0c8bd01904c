//! The team: `/api/admin/staff` (admins only: the staff accounts, made, listed, given another
//! role, deactivated or active again, given the name and avatar colour customers see) and `/api/admin/availability` (any staff member, their
//! own). Thin: the rules are checked here, the rows written by the history actor
//! (`history/staff.rs`), and every change applied to the member's connections and told to the
//! staff by the chat server (`chat/team.rs`, `StaffChanged`).

use crate::api::admin::{admin_only, staff};
use crate::api::auth::create_account;
use crate::api::caller::AuthUser;
use crate::api::conversations::release_conversations_of;
use crate::api::resource;
use crate::chat::messages::ListOnline;
use crate::chat::team::StaffChanged;
use crate::db::models::UserRow;
use crate::db::staff::StaffChange;
use crate::db::StorageError;
use crate::domain::profile::{ProfileChange, ProfilePatch};
use crate::domain::{Availability, Password, Role, UserId, Username};
use crate::error::{AppError, ErrorCode};
use crate::history::staff::{ListStaff, SetAvailability, UpdateStaff};
use crate::protocol::StaffMember;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/admin/staff", web::get(), list).route(web::post().to(create)))
        .service(resource("/api/admin/staff/{id}", web::patch(), update))
        .service(resource("/api/admin/assignees", web::get(), assignees))
        .service(resource(
            "/api/admin/availability",
            web::post(),
            set_availability,
        ));
}

/// Body of `POST /api/admin/staff`.
#[derive(Deserialize)]
pub struct NewStaff {
    username: String,
    password: String,
    role: String,
}

/// Body of `PATCH /api/admin/staff/{id}`: what changes (`display_name` / `avatar_color`:
/// `null` clears).
#[derive(Deserialize)]
pub struct StaffPatch {
    role: Option<String>,
    active: Option<bool>,
    #[serde(flatten)]
    profile: ProfilePatch,
}

/// Body of `POST /api/admin/availability`.
#[derive(Deserialize)]
pub struct AvailabilityBody {
    availability: String,
}

/// A staff role named by a client: admin or agent, nothing else.
fn staff_role(name: &str) -> Result<Role, AppError> {
    Role::parse(name)
        .filter(|role| role.is_staff())
        .ok_or_else(|| AppError::bad_request("role must be admin or agent"))
}

/// Hands a written staff account to the chat server, which applies it to the member's
/// connections and tells the staff; the member as it answers.
async fn changed(state: &AppState, account: UserRow) -> Result<StaffMember, AppError> {
    Ok(state.chat.send(StaffChanged { account }).await?)
}

async fn create(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    body: web::Json<NewStaff>,
) -> Result<HttpResponse, AppError> {
    admin_only(&state, &caller).await?;
    let NewStaff {
        username,
        password,
        role,
    } = body.into_inner();
    let role = staff_role(&role)?;
    let username = Username::parse(&username).map_err(|e| AppError::bad_request(e.0))?;
    let password = Password::parse(&password).map_err(|e| AppError::bad_request(e.0))?;
    let row = create_account(&state, &username, password, role).await?;
    Ok(HttpResponse::Created().json(changed(&state, row).await?))
}

async fn list(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    admin_only(&state, &caller).await?;
    let staff = members(&state).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "staff": staff })))
}

/// `GET /api/admin/assignees`: the active members, for any staff member choosing whom to
/// assign a conversation to (an agent may not list the team itself).
async fn assignees(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, AppError> {
    staff(&state, &caller).await?;
    let mut assignees = members(&state).await?;
    assignees.retain(|m| m.active);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "assignees": assignees })))
}

/// Every admin and agent, by username, with whether they have a socket open now.
async fn members(state: &AppState) -> Result<Vec<StaffMember>, AppError> {
    let rows = state.history.send(ListStaff).await??;
    let users = rows.iter().map(|row| UserId(row.id)).collect();
    let online = state.chat.send(ListOnline { users }).await?;
    Ok(rows
        .into_iter()
        .map(|row| StaffMember {
            id: UserId(row.id),
            online: online.contains(&UserId(row.id)),
            role: row.info().role,
            availability: Availability::parse(&row.availability).unwrap_or(Availability::Online),
            active: row.active,
            username: row.username,
            display_name: row.display_name,
            avatar_color: row.avatar_color,
        })
        .collect())
}

async fn update(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<i64>,
    body: web::Json<StaffPatch>,
) -> Result<HttpResponse, AppError> {
    let admin = admin_only(&state, &caller).await?;
    let user = UserId(id.into_inner());
    let StaffPatch {
        role,
        active,
        profile,
    } = body.into_inner();
    let change = StaffChange {
        role: role.as_deref().map(staff_role).transpose()?,
        active,
        profile: ProfileChange::parse(profile).map_err(|e| AppError::bad_request(e.0))?,
    };
    // The last admin must not lock everyone out; an admin leaves by another admin's hand.
    let demoted = change.role.is_some_and(|role| role != Role::Admin);
    if user == admin.id && (demoted || change.active == Some(false)) {
        return Err(AppError::bad_request(
            "you cannot demote or deactivate yourself",
        ));
    }
    let deactivating = change.active == Some(false);
    let row = match state.history.send(UpdateStaff { user, change }).await? {
        Err(StorageError::NotFound) => {
            return Err(AppError::new(ErrorCode::NotFound, "no such staff member"))
        }
        other => other?,
    };
    let member = changed(&state, row).await?;
    if deactivating {
        release_conversations_of(&state, user, admin).await?;
    }
    Ok(HttpResponse::Ok().json(member))
}

/// The profile part of a staff member's `PATCH /api/me`: `None` when the body names neither
/// field; 403 when it does and the caller is a customer (the name and colour are the staff's,
/// shown on their replies); 400 for a bad value. Checked before anything is stored.
pub(crate) fn own_profile_change(
    caller: &UserRow,
    patch: ProfilePatch,
) -> Result<Option<ProfileChange>, AppError> {
    if !patch.is_given() {
        return Ok(None);
    }
    if !caller.info().role.is_staff() {
        return Err(AppError::forbidden(
            "only staff members have a display name and an avatar colour",
        ));
    }
    let change = ProfileChange::parse(patch).map_err(|e| AppError::bad_request(e.0))?;
    Ok(Some(change))
}

/// Writes a staff member's own profile and applies it to their open connections at once
/// (their next message carries it) and to the team's view; the account as written.
pub(crate) async fn set_own_profile(
    state: &AppState,
    user: UserId,
    profile: ProfileChange,
) -> Result<UserRow, AppError> {
    let change = StaffChange {
        profile,
        ..StaffChange::default()
    };
    let row = state.history.send(UpdateStaff { user, change }).await??;
    changed(state, row.clone()).await?;
    Ok(row)
}

async fn set_availability(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    body: web::Json<AvailabilityBody>,
) -> Result<HttpResponse, AppError> {
    let member = staff(&state, &caller).await?;
    let availability =
        Availability::parse(&body.availability).map_err(|e| AppError::bad_request(e.0))?;
    let row = state
        .history
        .send(SetAvailability {
            user: member.id,
            availability,
        })
        .await??;
    Ok(HttpResponse::Ok().json(changed(&state, row).await?))
}
