//! Building the server: database (migrations) → pool → history actor → chat server → HTTP
//! server. Every actor is started once, here, before `HttpServer::new`, and reaches the
//! handlers through [`AppState`]. This module only wires things together; nothing depends on
//! it but `main` and the tests, which build an `Application` on port 0.

use crate::api;
use crate::auth::jwt::{self, SecretError, TokenKeys};
use crate::auth::password::{hash_password, verify_password};
use crate::auth::rate_limit::AuthRateLimiter;
use crate::broker::{Broker, BrokerHealth, BrokerSettings};
use crate::chat::cluster::Cluster;
use crate::chat::messages::Shutdown;
use crate::chat::{ChatConfig, ChatServer};
use crate::client_addr::TrustedProxies;
use crate::config::Settings;
use crate::db::connection::{DbConnectionManager, DbTarget};
use crate::db::{self, DbPool, StorageError};
use crate::domain::{Password, Role, Username};
use crate::history::desk_settings::{load_desk_hours, DeskHoursCache};
use crate::history::{HistoryActor, LogCheckpointer, MessageWriter};
use crate::mail::{EmailSummary, MailConfig, MailWorker};
use crate::state::AppState;
use crate::webhooks::{WebhookConfig, WebhookWorker};
use crate::ws::caps::ConnectionCaps;
use crate::ws::session::SessionLimits;
use actix::{Actor, Addr, SyncArbiter};
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::KeepAlive;
use actix_web::{middleware, web, App, HttpServer};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The JWT secret is unusable.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A setting is invalid.
    #[error("invalid setting: {0}")]
    Config(String),
}

/// A built server, listening but not yet running.
pub struct Application {
    server: Server,
    address: SocketAddr,
    chat: Addr<ChatServer>,
    shutdown_timeout: Duration,
    /// The webhook delivery worker, stopped when the server is.
    webhooks: Option<WebhookWorker>,
    /// The mail worker (with `--smtp-url`), stopped when the server is.
    mail: Option<MailWorker>,
    /// When [`graceful_shutdown`] began (shared with the [`Stopper`]): the webhook worker
    /// gets what is left of the shutdown timeout.
    stopping_since: Arc<OnceLock<Instant>>,
}

impl Application {
    /// Opens the database, starts the actors and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let webhook_config =
            WebhookConfig::from_settings(&settings).map_err(StartupError::Config)?;
        let identity_secret = settings.identity_secret().map_err(StartupError::Config)?;
        let mail_config = MailConfig::from_settings(&settings).map_err(StartupError::Config)?;
        let email = EmailSummary::new(mail_config.as_ref(), &settings);
        if mail_config.is_none() {
            log::info!("email: no --smtp-url, unread staff replies are not emailed");
        }
        let target = settings.db_target();
        if settings.redis_url.is_some() && !matches!(target, DbTarget::Postgres(_)) {
            return Err(StartupError::Config(
                "--redis-url (several nodes) needs PostgreSQL: set --database-url / DATABASE_URL \
                 to postgres://... (a SQLite file belongs to one process)"
                    .into(),
            ));
        }
        log::info!("database: {}", target.describe());
        let pool = db::open_pool(
            &target,
            settings.history_threads as u32 + 2,
            settings.sqlite_sync,
        )?;
        ensure_configured_admin(&pool, &settings)?;
        let desk_hours = Arc::new(DeskHoursCache::new(load_desk_hours(
            &mut *pool.get().map_err(StorageError::from)?,
        )?));
        let tokens = token_keys(&settings, &target, &pool)?;

        let history_pool = pool.clone();
        let history = SyncArbiter::start(settings.history_threads.max(1), move || {
            HistoryActor::new(history_pool.clone())
        });
        // Message batches get a thread and a connection of their own: no read queues in front
        // of a commit.
        let writer_target = target.clone();
        let sqlite_sync = settings.sqlite_sync;
        // With webhooks on, the writer enqueues the events of support conversations in the
        // commit of their messages and rings the delivery worker, which has a thread and a
        // connection of its own.
        let (webhooks, bell) = match webhook_config {
            Some(config) => {
                let bell = Arc::new(db::webhooks::OutboxBell::default());
                let manager = DbConnectionManager::new(target.clone(), sqlite_sync);
                let worker = WebhookWorker::start(config, manager, bell.clone())
                    .map_err(|e| StartupError::Config(format!("webhook worker: {e}")))?;
                (Some(worker), Some(bell))
            }
            None => (None, None),
        };
        let writer = SyncArbiter::start(1, move || {
            let writer =
                MessageWriter::new(DbConnectionManager::new(writer_target.clone(), sqlite_sync));
            match &bell {
                Some(bell) => writer.with_webhooks(bell.clone()),
                None => writer,
            }
        });
        let broker_health = settings.redis_url.as_ref().map(|_| BrokerHealth::default());
        let cluster = match (&settings.redis_url, &broker_health) {
            (Some(url), Some(health)) => {
                let broker_settings = BrokerSettings {
                    url: url.clone(),
                    prefix: settings.redis_prefix.clone(),
                    node_heartbeat: settings.node_heartbeat,
                };
                let node = jwt::generated_secret()[..16].to_owned();
                // Only a URL that cannot be used stops the start: a Redis that does not answer
                // is waited for in the background while the node serves alone.
                let started = Broker::connect(&broker_settings, node.clone())
                    .await
                    .map_err(|e| StartupError::Config(format!("broker (--redis-url): {e}")))?;
                log::info!(
                    "cluster: node {node}, broker Redis with prefix {:?}",
                    settings.redis_prefix
                );
                if let Some(why) = &started.unreachable {
                    log::error!(
                        "cluster: the broker (Redis) does not answer at start ({why}): this node \
                         serves its own connections alone (messages are stored; /healthz says \
                         the broker is degraded) and follows the other nodes once Redis answers"
                    );
                }
                health.set_degraded(started.unreachable.is_some());
                Some(Cluster::new(started.broker, started.pushes, health.clone()))
            }
            _ => None,
        };
        let chat = ChatServer::new(
            history.clone(),
            writer,
            ChatConfig {
                recovery_cap: settings.recovery_limit.max(1),
                presence_limit: settings.presence_limit,
                crowd_count_interval: settings.crowd_count_interval,
                commit_interval: settings.commit_interval,
                max_rooms_per_user: settings.max_rooms_per_user,
                max_rooms_created_per_hour: settings.max_rooms_created_per_hour,
                account_recheck_interval: settings.account_recheck_interval,
                checkpoint_every: target.checkpoint_every(),
                max_queued: settings.max_queued_messages.max(1),
                stall_after: settings.store_stall_timeout,
                auto_assign: settings.auto_assign,
                ..ChatConfig::default()
            },
        );
        let chat = match cluster {
            Some(cluster) => chat.with_cluster(cluster),
            None => chat,
        };
        // SQLite's log is copied on a thread of its own at the lowest CPU priority, so that the
        // copy never takes the core from the threads acks wait on.
        let chat = match target.checkpoint_every() {
            Some(_) => chat.with_log_checkpointer(LogCheckpointer::start(
                DbConnectionManager::new(target.clone(), sqlite_sync),
            )),
            None => chat,
        }
        .start();
        // The mail worker asks the chat server who is connected, so it starts after it.
        let mail = match mail_config {
            Some(config) => {
                let manager = DbConnectionManager::new(target.clone(), sqlite_sync);
                let worker = MailWorker::start(config, manager, chat.clone().recipient())
                    .map_err(|e| StartupError::Config(format!("mail worker: {e}")))?;
                Some(worker)
            }
            None => None,
        };

        let state = web::Data::new(AppState {
            tokens,
            history,
            chat: chat.clone(),
            session_limits: Arc::new(SessionLimits {
                max_frame_bytes: settings.max_frame_bytes,
                max_message_chars: settings.max_message_chars,
                rate_per_sec: settings.rate_per_sec,
                rate_burst: settings.rate_burst,
                heartbeat_interval: settings.heartbeat_interval,
                client_timeout: settings.client_timeout,
                queue: settings.session_queue.max(1),
            }),
            hard_frame_limit: settings.hard_frame_limit(),
            allowed_origins: settings.allowed_origins.clone(),
            allow_guests: settings.allow_guests,
            max_rooms_created_per_hour: settings.max_rooms_created_per_hour,
            auth_limiter: AuthRateLimiter::new(
                settings.auth_rate_per_min,
                settings.auth_rate_burst,
            ),
            trusted_proxies: TrustedProxies::new(
                settings.trusted_proxies.clone(),
                settings.forwarded_header,
            ),
            connection_caps: ConnectionCaps::new(
                settings.max_conns_per_ip,
                settings.max_conns_per_user,
            ),
            metrics_token: settings.metrics_token.clone(),
            embed_origins: settings.embed_origins.clone(),
            identity_secret,
            email,
            desk_hours,
            broker: broker_health,
        });

        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let workers = match settings.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(middleware::from_fn(api::access_log::access_log))
                // Outermost: every answer, errors and 404s included, gets its headers.
                .wrap(middleware::from_fn(api::headers::security_headers))
                .configure(api::configure)
                .service(api::resource("/ws", web::get(), api::socket::upgrade))
                .default_service(web::to(api::not_found))
        })
        .workers(workers)
        // Against slow clients holding connections (slowloris): the head of a connection's
        // first request must be in within the timeout (else 408 and close); actix-web times
        // only the first request's head, so keep-alive is off unless asked for (a trickled
        // second request would live forever); a closing connection gets a second to finish;
        // past `max_connections` new connections wait in the backlog instead of exhausting
        // file descriptors.
        .client_request_timeout(settings.request_head_timeout)
        .keep_alive(match settings.keep_alive {
            none if none.is_zero() => KeepAlive::Disabled,
            idle => KeepAlive::Timeout(idle),
        })
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .max_connections(settings.max_connections.div_ceil(workers).max(1))
        .tcp_nodelay(true)
        .disable_signals()
        // Connections are closed by the chat server before the HTTP server stops; this bounds
        // the wait for what is left (see `graceful_shutdown`).
        .shutdown_timeout((settings.shutdown_timeout.as_secs() / 2).max(1))
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?
        .run();

        Ok(Application {
            server,
            address,
            chat,
            shutdown_timeout: settings.shutdown_timeout,
            webhooks,
            mail,
            stopping_since: Arc::default(),
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A handle to stop the server gracefully with [`graceful_shutdown`].
    pub fn stopper(&self) -> Stopper {
        Stopper {
            server: self.server.handle(),
            chat: self.chat.clone(),
            timeout: self.shutdown_timeout,
            since: self.stopping_since.clone(),
        }
    }

    /// Serves until stopped.
    pub async fn run(self) -> std::io::Result<()> {
        // What is left of the shutdown timeout since the stop began (all of it before).
        let (stopping_since, timeout) = (self.stopping_since.clone(), self.shutdown_timeout);
        let time_left = move || {
            stopping_since
                .get()
                .map_or(timeout, |since| timeout.saturating_sub(since.elapsed()))
        };
        let served = self.server.await;
        if let Some(worker) = self.mail {
            // The email in flight may finish, so that it is marked sent rather than sent
            // again after a restart (see `mail/worker.rs`).
            let left = time_left();
            let stop = actix_web::rt::task::spawn_blocking(move || worker.stop(left));
            if !matches!(stop.await, Ok(true)) {
                log::warn!(
                    "mail: an email was still being sent at the stop; it may be sent again \
                     after a restart"
                );
            }
        }
        if let Some(worker) = self.webhooks {
            // The webhook worker stops with the server. Its attempt in flight may finish
            // within what is left of the shutdown timeout, so that a restart does not find
            // the event still claimed by a process that is gone (see `webhooks/worker.rs`).
            let left = time_left();
            let stop = actix_web::rt::task::spawn_blocking(move || worker.stop(left));
            if !matches!(stop.await, Ok(true)) {
                log::warn!(
                    "webhooks: an attempt was still in flight at the stop; its event is sent \
                     again after a restart, once its claim runs out"
                );
            }
        }
        served
    }
}

/// What a graceful stop needs: the HTTP server, the chat server, and how long it may take.
#[derive(Clone)]
pub struct Stopper {
    server: ServerHandle,
    chat: Addr<ChatServer>,
    timeout: Duration,
    /// Set when the stop begins (see `Application::stopping_since`).
    since: Arc<OnceLock<Instant>>,
}

/// A graceful stop, within the shutdown timeout: stop accepting connections; refuse new
/// messages (`shutting_down`) while every queued one is stored and acked; close every socket
/// with 1001; stop the HTTP server (then `Application::run` gives the webhook worker's attempt
/// in flight what is left). Whatever is still open when the timeout is up is cut, so the
/// process always exits in time; an acked message is stored whatever happens.
pub async fn graceful_shutdown(stopper: Stopper) {
    let Stopper {
        server,
        chat,
        timeout,
        since,
    } = stopper;
    let _ = since.set(Instant::now());
    let graceful = async {
        server.pause().await;
        if let Err(e) = chat.send(Shutdown).await {
            log::error!("chat server did not shut down cleanly: {e}");
        }
        server.stop(true).await;
    };
    if tokio::time::timeout(timeout, graceful).await.is_err() {
        log::warn!(
            "the graceful stop took longer than {}: cutting what is still open",
            humantime::format_duration(timeout)
        );
        server.stop(false).await;
    }
}

/// The keys tokens are signed with. A configured secret wins. Else, on PostgreSQL, the secret
/// lives in the shared database (`server_secrets`), so that every node of a deployment signs and
/// accepts the same tokens without anyone copying a file between machines: the first node to
/// start stores its data folder's secret (a single node upgraded keeps its users' tokens good)
/// or a new one, and every other node reads it. On SQLite (one process) it stays in the data
/// folder.
fn token_keys(
    settings: &Settings,
    target: &DbTarget,
    pool: &DbPool,
) -> Result<TokenKeys, StartupError> {
    let configured = settings.jwt_secret.as_deref();
    if configured.is_some() || !matches!(target, DbTarget::Postgres(_)) {
        return Ok(TokenKeys::load(
            configured,
            &settings.data_dir,
            settings.token_ttl,
        )?);
    }
    let from_folder = jwt::folder_secret(&settings.data_dir)?;
    let mut conn = pool.get().map_err(StorageError::from)?;
    let secret = db::secrets::shared_secret(&mut conn, "jwt", || {
        log::info!("generated the JWT secret every node shares, kept in the database");
        from_folder.unwrap_or_else(jwt::generated_secret)
    })?;
    Ok(TokenKeys::new(secret.as_bytes(), settings.token_ttl)?)
}

/// Ensures the admin named by CHAT_ADMIN_USERNAME / CHAT_ADMIN_PASSWORD, if both are set.
fn ensure_configured_admin(pool: &DbPool, settings: &Settings) -> Result<(), StartupError> {
    let (Some(name), Some(password)) = (&settings.admin_username, &settings.admin_password) else {
        if settings.admin_username.is_some() != settings.admin_password.is_some() {
            return Err(StartupError::Config(
                "set both CHAT_ADMIN_USERNAME and CHAT_ADMIN_PASSWORD, or neither".into(),
            ));
        }
        return Ok(());
    };
    create_admin(pool, name, password).map(|_| ())
}

/// Makes `username` an admin with `password` (creating the account if needed). Leaves an
/// admin whose password already matches untouched.
pub fn create_admin(pool: &DbPool, username: &str, password: &str) -> Result<i64, StartupError> {
    let username = Username::parse(username).map_err(|e| StartupError::Config(e.0))?;
    let password = Password::parse(password).map_err(|e| StartupError::Config(e.0))?;
    let mut conn = pool.get().map_err(StorageError::from)?;
    if let Some(existing) = db::users::find_by_login(&mut conn, username.as_str())? {
        let current = existing.password_hash.as_deref().unwrap_or("");
        if existing.role == Role::Admin.as_str()
            && !existing.banned
            && verify_password(password.expose(), current)
        {
            return Ok(existing.id);
        }
    }
    let hash = hash_password(password.expose()).map_err(|e| StartupError::Config(e.to_string()))?;
    let row = db::users::upsert_admin(&mut conn, username.as_str(), &hash)?;
    log::info!("admin account {} is ready", row.username);
    Ok(row.id)
}
