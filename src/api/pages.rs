//! The browser pages, served by the server itself: the chat page at `/`, the staff console at
//! `/admin`, their scripts and styles under `/static/`. The files of `static/` are compiled into
//! the binary, so one file deploys the whole product; no build step, nothing from a CDN.
//!
//! The scripts are ES modules: each page's own module (`app.js`, `admin.js`) imports the modules
//! both pages share from `static/lib/`. A browser runs a module only when it comes with a
//! JavaScript type, hence `text/javascript` on every `.js` below.
//!
//! The chat widget lives here too: `/widget.js`, the one classic script a store adds to its
//! pages (it runs on the store's page, so it is no module and imports nothing), and `/widget`,
//! the compact support page it frames. `/widget` is the one page that may be framed, and only
//! by the store origins of `--embed-origins` (`frame-ancestors`); every other page refuses.

use crate::api::{get_or_head, resource};
use crate::embed::frame_ancestors;
use crate::error::{AppError, ErrorCode};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// Scripts and styles only from this server, no inline code, sockets to this server: even a
/// piece of chat text that slipped into the markup could not run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// The widget page's policy: the same, but framed by the store origins (`frame-ancestors`
/// replaces the `'none'` above).
fn widget_policy(state: &AppState) -> String {
    CONTENT_SECURITY_POLICY.replace(
        "frame-ancestors 'none'",
        &format!("frame-ancestors {}", frame_ancestors(&state.embed_origins)),
    )
}

/// One file of `static/`, named by its path below that folder.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $name)),
        }
    };
}

/// Every file served under `/static/`: a request names one of these exactly or gets 404, so no
/// path can reach outside this list (`..` included).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("room-directory.js", "text/javascript; charset=utf-8"),
    asset!("signin-screen.js", "text/javascript; charset=utf-8"),
    asset!("room-list.js", "text/javascript; charset=utf-8"),
    asset!("chat-message.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("admin.html", "text/html; charset=utf-8"),
    asset!("admin.js", "text/javascript; charset=utf-8"),
    asset!("admin.css", "text/css; charset=utf-8"),
    asset!("admin-settings.js", "text/javascript; charset=utf-8"),
    // The widget: its loader (served at /widget.js), its page (at /widget) and the page's own
    // module and style.
    asset!("widget.js", "text/javascript; charset=utf-8"),
    asset!("widget.html", "text/html; charset=utf-8"),
    asset!("widget-app.js", "text/javascript; charset=utf-8"),
    asset!("widget-notifications.js", "text/javascript; charset=utf-8"),
    asset!("widget-session.js", "text/javascript; charset=utf-8"),
    asset!("widget.css", "text/css; charset=utf-8"),
    asset!("api-keys.js", "text/javascript; charset=utf-8"),
    // The console's modules (static/admin.js imports them; docs/architecture.md has the table).
    asset!("console/alerts.js", "text/javascript; charset=utf-8"),
    asset!("console/canned.js", "text/javascript; charset=utf-8"),
    asset!("console/client.js", "text/javascript; charset=utf-8"),
    asset!(
        "console/conversation-list.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "console/conversation-view.js",
        "text/javascript; charset=utf-8"
    ),
    asset!(
        "console/customer-panel.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("console/desk.css", "text/css; charset=utf-8"),
    asset!("console/desk.js", "text/javascript; charset=utf-8"),
    asset!("console/hours.js", "text/javascript; charset=utf-8"),
    asset!("console/http.js", "text/javascript; charset=utf-8"),
    asset!("console/layout.js", "text/javascript; charset=utf-8"),
    asset!("console/message-skin.js", "text/javascript; charset=utf-8"),
    asset!("console/moderation.js", "text/javascript; charset=utf-8"),
    asset!("console/notes.js", "text/javascript; charset=utf-8"),
    asset!("console/profile.js", "text/javascript; charset=utf-8"),
    asset!("console/session.js", "text/javascript; charset=utf-8"),
    asset!("console/state.js", "text/javascript; charset=utf-8"),
    asset!("console/stats.js", "text/javascript; charset=utf-8"),
    asset!("console/team.js", "text/javascript; charset=utf-8"),
    asset!("console/timeline.js", "text/javascript; charset=utf-8"),
    // The modules both pages import (see the README's table).
    asset!("lib/api.js", "text/javascript; charset=utf-8"),
    asset!("lib/client.js", "text/javascript; charset=utf-8"),
    asset!("lib/composer.js", "text/javascript; charset=utf-8"),
    asset!("lib/connection.js", "text/javascript; charset=utf-8"),
    asset!("lib/desk-status.js", "text/javascript; charset=utf-8"),
    asset!("lib/dom.js", "text/javascript; charset=utf-8"),
    asset!("lib/format.js", "text/javascript; charset=utf-8"),
    asset!("lib/messages.js", "text/javascript; charset=utf-8"),
    asset!("lib/outbox.js", "text/javascript; charset=utf-8"),
    asset!("lib/pacer.js", "text/javascript; charset=utf-8"),
    asset!("lib/rooms.js", "text/javascript; charset=utf-8"),
    asset!("lib/seen.js", "text/javascript; charset=utf-8"),
    asset!("lib/typing.js", "text/javascript; charset=utf-8"),
    // Bans (issue 17): the console's Bans panel, the pages' ban screen and device id.
    asset!("console/bans.js", "text/javascript; charset=utf-8"),
    asset!("lib/ban.js", "text/javascript; charset=utf-8"),
    asset!("lib/device.js", "text/javascript; charset=utf-8"),
];

/// Routes of this file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/", get_or_head(), chat_page))
        .service(resource("/admin", get_or_head(), console_page))
        .service(resource("/widget.js", get_or_head(), widget_loader))
        .service(resource("/widget", get_or_head(), widget_page))
        .service(resource("/static/{path:.*}", get_or_head(), static_file));
}

fn find(name: &str) -> Result<&'static Asset, AppError> {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "no such file"))
}

fn serve(name: &str) -> Result<HttpResponse, AppError> {
    let asset = find(name)?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.body))
}

/// The loader, run by the store's pages: a plain script, loadable from any site.
async fn widget_loader() -> Result<HttpResponse, AppError> {
    let asset = find("widget.js")?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.body))
}

/// The widget page: the strict policy, framed only by the store origins (and so no
/// `X-Frame-Options`, which cannot name them).
async fn widget_page(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let asset = find("widget.html")?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, widget_policy(&state)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.body))
}

async fn chat_page() -> Result<HttpResponse, AppError> {
    serve("index.html")
}

async fn console_page() -> Result<HttpResponse, AppError> {
    serve("admin.html")
}

async fn static_file(path: web::Path<String>) -> Result<HttpResponse, AppError> {
    serve(&path)
}
