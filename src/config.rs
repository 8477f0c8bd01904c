//! `Settings`: every knob of the server, from flags or environment variables (`--help` lists
//! them), built once in `main` and passed down explicitly. Tests build their own.

use crate::client_addr::{Cidr, ForwardedHeader};
use crate::db::{DbTarget, SqliteSync};
use crate::embed::EmbedOrigin;
use clap::{ArgAction, Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "chat-server",
    version,
    about = "Real-time chat server: support conversations and rooms over WebSocket, with durable history"
)]
pub struct Cli {
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server settings.
    #[command(flatten)]
    pub settings: Settings,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Create an admin account, or make an existing account an admin and set its password,
    /// then exit. The password comes from CHAT_ADMIN_PASSWORD or, when unset, standard input.
    CreateAdmin {
        /// Login name of the admin.
        username: String,
    },
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// Shortest `--node-heartbeat`: shorter, a node whose Redis answers slowly for a moment (its
/// commands may take up to 2 s) would be taken for dead.
const MIN_NODE_HEARTBEAT: Duration = Duration::from_secs(1);

fn node_heartbeat(s: &str) -> Result<Duration, String> {
    let every = duration(s)?;
    if every < MIN_NODE_HEARTBEAT {
        return Err(format!(
            "at least {}: a shorter one takes slow nodes for dead",
            humantime::format_duration(MIN_NODE_HEARTBEAT)
        ));
    }
    Ok(every)
}

/// Longest `--commit-interval`: every message may wait this long for its ack.
const MAX_COMMIT_INTERVAL: Duration = Duration::from_secs(1);

fn commit_interval(s: &str) -> Result<Duration, String> {
    let interval = duration(s)?;
    if interval > MAX_COMMIT_INTERVAL {
        return Err(format!(
            "at most {}: every message may wait this long for its ack",
            humantime::format_duration(MAX_COMMIT_INTERVAL)
        ));
    }
    Ok(interval)
}

/// Shortest identity secret accepted (the HMAC key of the customers' hashes).
pub const MIN_IDENTITY_SECRET_BYTES: usize = 32;

/// How the log is written on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per record, for people.
    Text,
    /// One JSON object per line (`ts`, `level`, `target`, `message`, `fields`), for log
    /// shippers.
    Json,
}

/// Everything the server can be told.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "CHAT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// A postgres:// URL, or a SQLite file path. Default: <data-dir>/chat.db.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Folder for the SQLite database and the generated JWT secret.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Secret for signing tokens (at least 32 bytes). Generated and kept in the data folder
    /// when unset; several servers sharing one database must share one secret.
    #[arg(long, env = "CHAT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// How long a token stays valid.
    #[arg(long, env = "CHAT_TOKEN_TTL", default_value = "7days", value_parser = duration)]
    pub token_ttl: Duration,

    /// Whether visitors may chat as guests (POST /api/auth/guest).
    #[arg(long, env = "CHAT_ALLOW_GUESTS", default_value_t = true, action = ArgAction::Set)]
    pub allow_guests: bool,

    /// Admin account ensured at start-up (with CHAT_ADMIN_PASSWORD).
    #[arg(long, env = "CHAT_ADMIN_USERNAME")]
    pub admin_username: Option<String>,

    /// Password of the admin account ensured at start-up.
    #[arg(long, env = "CHAT_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Token a scraper that is not on this machine sends (`Authorization: Bearer <token>`) to
    /// read GET /metrics; loopback scrapers need none. Unset: only loopback may read.
    #[arg(long, env = "CHAT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Redis that several nodes of one deployment share for live fan-out (e.g.
    /// redis://127.0.0.1:6379/0). Needs PostgreSQL. Unset: this server runs alone.
    #[arg(long, env = "CHAT_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel, so that deployments can share one Redis.
    #[arg(long, env = "CHAT_REDIS_PREFIX", default_value = "chat")]
    pub redis_prefix: String,

    /// With --redis-url: how often this node renews its lease in Redis. When a node dies, the
    /// others see its users go offline within two of these.
    #[arg(long, env = "CHAT_NODE_HEARTBEAT", default_value = "5s", value_parser = node_heartbeat)]
    pub node_heartbeat: Duration,

    /// Browser origins allowed to open a WebSocket, comma-separated (e.g.
    /// https://shop.example). The server's own origin is always allowed; clients that send no
    /// Origin (not browsers) are allowed since they carry a token.
    #[arg(long, env = "CHAT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Largest text frame accepted on the socket, in bytes.
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES", default_value_t = 16 * 1024)]
    pub max_frame_bytes: usize,

    /// Longest message, in characters.
    #[arg(long, env = "CHAT_MAX_MESSAGE_CHARS", default_value_t = 4000)]
    pub max_message_chars: usize,

    /// Frames per second one connection may send, on average.
    #[arg(long, env = "CHAT_RATE_PER_SEC", default_value_t = 20.0)]
    pub rate_per_sec: f64,

    /// Frames one connection may send in a burst.
    #[arg(long, env = "CHAT_RATE_BURST", default_value_t = 40.0)]
    pub rate_burst: f64,

    /// How often the server pings each client.
    #[arg(long, env = "CHAT_HEARTBEAT_INTERVAL", default_value = "10s", value_parser = duration)]
    pub heartbeat_interval: Duration,

    /// A client silent for this long is dropped.
    #[arg(long, env = "CHAT_CLIENT_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub client_timeout: Duration,

    /// Frames queued for one connection before it counts as a slow consumer and is closed.
    #[arg(long, env = "CHAT_SESSION_QUEUE", default_value_t = 256)]
    pub session_queue: usize,

    /// Sign-in calls (login, register, guest) per minute from one address; 0 switches the
    /// limit off (e.g. behind a proxy that limits instead: all clients then share its address).
    #[arg(long, env = "CHAT_AUTH_RATE_PER_MIN", default_value_t = 30.0)]
    pub auth_rate_per_min: f64,

    /// Sign-in calls one address may make at once.
    #[arg(long, env = "CHAT_AUTH_RATE_BURST", default_value_t = 10.0)]
    pub auth_rate_burst: f64,

    /// Most messages a reconnecting client recovers with `join` + `since`; past it the
    /// `joined` frame says `recovered: false` and the client pages through history.
    #[arg(long, env = "CHAT_RECOVERY_LIMIT", default_value_t = 1000)]
    pub recovery_limit: i64,

    /// Users online in a public room past which it is crowded (until it falls a tenth below):
    /// no `presence` frames, `joined` gives only `online_count`, and an `online` frame marks
    /// each change; so a join costs the same in a room of 5,000 as in one of 50. 0 makes every
    /// public room crowded as soon as anyone is in it (presence off).
    #[arg(long, env = "CHAT_PRESENCE_LIMIT", default_value_t = 500)]
    pub presence_limit: usize,

    /// How often a crowded room is told its head count (an `online` frame, only when the
    /// count has changed); 0 turns it off.
    #[arg(long, env = "CHAT_CROWD_COUNT_INTERVAL", default_value = "10s", value_parser = duration)]
    pub crowd_count_interval: Duration,

    /// Least time between the starts of two commits: messages sent meanwhile are stored (and
    /// acked) together in the next one. 0 (the default) commits as soon as the previous commit
    /// is done; a few ms save CPU with many small rooms (docs/performance.md).
    #[arg(long, env = "CHAT_COMMIT_INTERVAL", default_value = "0s", value_parser = commit_interval)]
    pub commit_interval: Duration,

    /// Most public rooms one user may have in their list; a `join` past it is refused with
    /// `too_many_rooms`. Support rooms do not count (staff join every customer's).
    #[arg(long, env = "CHAT_MAX_ROOMS_PER_USER", default_value_t = 200)]
    pub max_rooms_per_user: u32,

    /// Most public rooms one customer may create in an hour (by `POST /api/rooms` or by
    /// joining a name nobody used); past it the creation is refused with
    /// `too_many_rooms_created`. Staff have no limit (on a socket, as its account was last
    /// read: `--account-recheck-interval`); 0 turns it off.
    #[arg(long, env = "CHAT_MAX_ROOMS_CREATED_PER_HOUR", default_value_t = 20)]
    pub max_rooms_created_per_hour: u32,

    /// How often the accounts of the connected users are read again, so that a role or ban
    /// changed by another process (the `create-admin` sub-command, another server on the same
    /// database) reaches the open sockets within this time; 0 turns it off.
    #[arg(long, env = "CHAT_ACCOUNT_RECHECK_INTERVAL", default_value = "5s", value_parser = duration)]
    pub account_recheck_interval: Duration,

    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "CHAT_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Threads of the history actor (database work).
    #[arg(long, env = "CHAT_HISTORY_THREADS", default_value_t = 2)]
    pub history_threads: usize,

    /// SQLite durability: full (fsync every commit) or normal (survives a process crash).
    #[arg(long, env = "CHAT_SQLITE_SYNC", value_enum, default_value_t = SqliteSync::Full)]
    pub sqlite_sync: SqliteSync,

    /// How long a graceful stop (SIGTERM) may take: new messages are refused with
    /// `shutting_down`, queued ones are stored and acked, sockets close with 1001; whatever is
    /// still open when it is up is cut, and the process exits.
    #[arg(long, env = "CHAT_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub shutdown_timeout: Duration,

    /// Messages waiting for the database at most; past it (a slow or stalled database) senders
    /// are told `unavailable` at once instead of waiting while memory grows.
    #[arg(long, env = "CHAT_MAX_QUEUED_MESSAGES", default_value_t = 20_000)]
    pub max_queued_messages: usize,

    /// A commit of messages that has not come back after this long means the database is
    /// stalled: the messages queued behind it, and new ones, are refused with `unavailable`
    /// (not stored; clients send them again) until it answers.
    #[arg(long, env = "CHAT_STORE_STALL_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub store_stall_timeout: Duration,
    /// Reverse proxies whose forwarding header (`--forwarded-header`) is believed, as
    /// comma-separated addresses or CIDR blocks (10.0.0.0/8, ::1). From any other peer it is
    /// ignored and the peer is the client. Empty (the default): none.
    #[arg(long, env = "CHAT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = clap::value_parser!(Cidr))]
    pub trusted_proxies: Vec<Cidr>,

    /// The header the trusted proxies write the client's address in: x-forwarded-for (nginx,
    /// most load balancers) or forwarded (RFC 7239: HAProxy's `option forwarded`, Envoy). Only
    /// that one is read; the other, which the proxy passes through from the client, is ignored.
    #[arg(long, env = "CHAT_FORWARDED_HEADER", value_enum, default_value_t = ForwardedHeader::XForwardedFor)]
    pub forwarded_header: ForwardedHeader,

    /// Most WebSockets open at once from one client address (0: no cap); the upgrade past it
    /// gets 429.
    #[arg(long, env = "CHAT_MAX_CONNS_PER_IP", default_value_t = 200)]
    pub max_conns_per_ip: usize,

    /// Most WebSockets open at once for one user (0: no cap); the upgrade past it gets 429.
    #[arg(long, env = "CHAT_MAX_CONNS_PER_USER", default_value_t = 20)]
    pub max_conns_per_user: usize,

    /// A connection that has not sent the head of its first request within this time gets
    /// 408 and is closed (against slow-header attacks).
    #[arg(long, env = "CHAT_REQUEST_HEAD_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub request_head_timeout: Duration,

    /// How long an HTTP connection may wait idle for its next request; 0s (the default) closes
    /// it after one request. The head timeout covers only a connection's first request, so
    /// with keep-alive on, a client can hold a connection forever by sending its second
    /// request's head a byte at a time; behind a proxy (the usual setup) nothing is lost by
    /// leaving it off, since the proxy keeps the browser's connection alive.
    #[arg(long, env = "CHAT_KEEP_ALIVE", default_value = "0s", value_parser = duration)]
    pub keep_alive: Duration,

    /// Most TCP connections the server holds open at once (WebSockets and HTTP together),
    /// shared among the workers; past it, new connections wait in the listen backlog. Keep it
    /// below the process's open-file limit.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,

    /// Log format on standard error: text, or json (one object per line).
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Store sites whose pages may show the chat widget (`/widget.js` frames `/widget`), as
    /// comma-separated origins, scheme://host[:port] (e.g. https://shop.example). Only these
    /// may frame `/widget` (Content-Security-Policy: frame-ancestors); every other page keeps
    /// refusing to be framed. Empty (the default): the widget says it is not set up.
    #[arg(long, env = "CHAT_EMBED_ORIGINS", value_delimiter = ',', value_parser = clap::value_parser!(EmbedOrigin))]
    pub embed_origins: Vec<EmbedOrigin>,

    /// Where the store's backend receives webhooks (http:// or https://): every message of a
    /// support conversation and the start of each conversation, POSTed as JSON and signed.
    /// Needs --webhook-secret. Unset: webhooks are off, and nothing is kept to send later.
    #[arg(long, env = "CHAT_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// The key of each webhook's `X-Chat-Signature: sha256=<hex HMAC-SHA256(secret, body)>`,
    /// shared with the receiver (32 bytes or more of random).
    #[arg(long, env = "CHAT_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Longest wait for the webhook receiver's answer; past it the attempt counts as failed
    /// and is retried.
    #[arg(long, env = "CHAT_WEBHOOK_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub webhook_timeout: Duration,

    /// Wait before the first retry of a webhook the receiver did not take (5xx, timeout, no
    /// connection); it doubles with every further attempt, up to --webhook-retry-max.
    #[arg(long, env = "CHAT_WEBHOOK_RETRY_BASE", default_value = "1s", value_parser = duration)]
    pub webhook_retry_base: Duration,

    /// Longest wait between two attempts of a webhook.
    #[arg(long, env = "CHAT_WEBHOOK_RETRY_MAX", default_value = "5m", value_parser = duration)]
    pub webhook_retry_max: Duration,

    /// Assign each new support conversation (its first message) round robin to a staff member
    /// with an open connection whose availability is `online` (busy, offline or unconnected
    /// staff are skipped); with nobody online it stays unassigned.
    #[arg(long, env = "CHAT_AUTO_ASSIGN", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub auto_assign: bool,

    /// The secret the store shares with this server to vouch for its signed-in customers (at
    /// least 32 bytes): POST /api/auth/identify accepts a customer whose `hash` is
    /// hex(HMAC-SHA256(secret, external_id)). Unset: identify answers 403.
    #[arg(long, env = "CHAT_IDENTITY_SECRET", hide_env_values = true)]
    pub identity_secret: Option<String>,

    /// How long a staff reply may stay unread, the conversation quiet and the customer away,
    /// before the customer (if they gave an email address) gets an email with the unread
    /// replies: seconds ("300") or a duration ("5m"). Needs --smtp-url.
    #[arg(long, env = "CHAT_EMAIL_AFTER", default_value = "5m", value_parser = seconds_or_duration)]
    pub email_after: Duration,

    /// The SMTP server that sends the emails of unread replies: smtp://host:port (plain, or
    /// STARTTLS with ?tls=required), smtps://user:password@host (TLS). Needs --mail-from.
    /// Unset: nothing is emailed.
    #[arg(long, env = "CHAT_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of those emails, e.g. "Shop support <support@shop.example>".
    #[arg(long, env = "CHAT_MAIL_FROM")]
    pub mail_from: Option<String>,

    /// The address customers reach this server at, for the link in the emails (e.g.
    /// https://chat.shop.example). Default: http://<--bind>.
    #[arg(long, env = "CHAT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// How often the mail worker looks for unread replies to email (and for emails to retry).
    #[arg(long, env = "CHAT_EMAIL_SCAN_INTERVAL", default_value = "5s", value_parser = duration)]
    pub email_scan_interval: Duration,
}

/// A number of seconds ("300") or a humantime duration ("5m", "1h 30m").
fn seconds_or_duration(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => duration(s.trim()),
    }
}

impl Settings {
    /// The settings of an empty command line, whatever the environment holds: the defaults
    /// declared on the fields above, and nothing else. The environment is read once, at the
    /// edge, by [`Cli`] in `main`; tests start from these and set what they need.
    pub fn defaults() -> Settings {
        let command =
            Settings::augment_args(clap::Command::new("chat-server")).mut_args(|arg| arg.env(None));
        let matches = command.get_matches_from(["chat-server"]);
        // Every field has a default or is optional (the unit tests below parse them).
        Settings::from_arg_matches(&matches).expect("the declared defaults parse")
    }

    /// Where the data lives.
    pub fn db_target(&self) -> DbTarget {
        match &self.database_url {
            Some(url) if !url.is_empty() => DbTarget::from_url(url),
            _ => DbTarget::Sqlite(self.data_dir.join("chat.db")),
        }
    }

    /// The identity secret as bytes, if one is set; a secret shorter than
    /// [`MIN_IDENTITY_SECRET_BYTES`] is refused with a message for the operator (the server
    /// does not start with it: a short secret lets anyone guess the hashes of customers).
    pub fn identity_secret(&self) -> Result<Option<Vec<u8>>, String> {
        match self.identity_secret.as_deref() {
            None => Ok(None),
            Some(secret) if secret.len() < MIN_IDENTITY_SECRET_BYTES => Err(format!(
                "--identity-secret (CHAT_IDENTITY_SECRET) must be at least \
                 {MIN_IDENTITY_SECRET_BYTES} bytes, got {}",
                secret.len()
            )),
            Some(secret) => Ok(Some(secret.as_bytes().to_vec())),
        }
    }

    /// Largest frame the WebSocket codec reads at all; frames between `max_frame_bytes` and
    /// this get a `too_large` error and the connection stays open, larger ones close it (1009).
    pub fn hard_frame_limit(&self) -> usize {
        (self.max_frame_bytes * 4).max(64 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_declared_ones_whatever_the_environment_says() {
        // No other test reads this variable: setting it cannot disturb them.
        std::env::set_var("CHAT_RECOVERY_LIMIT", "7");
        let defaults = Settings::defaults();
        std::env::remove_var("CHAT_RECOVERY_LIMIT");
        assert_eq!(defaults.recovery_limit, 1000);
        assert_eq!(defaults.bind, "127.0.0.1:8080");
        assert_eq!(defaults.max_message_chars, 4000);
        assert_eq!(defaults.token_ttl, Duration::from_secs(7 * 24 * 3600));
        assert!(defaults.allow_guests);
        assert_eq!(defaults.database_url, None);
        assert_eq!(defaults.max_rooms_per_user, 200);
        assert_eq!(defaults.account_recheck_interval, Duration::from_secs(5));
        assert_eq!(defaults.max_conns_per_ip, 200);
        assert_eq!(defaults.max_conns_per_user, 20);
        assert!(defaults.trusted_proxies.is_empty());
        assert_eq!(defaults.forwarded_header, ForwardedHeader::XForwardedFor);
        assert_eq!(defaults.log_format, LogFormat::Text);
    }

    #[test]
    fn trusted_proxies_are_a_list_of_blocks_checked_at_the_command_line() {
        let cli = Cli::parse_from(["chat-server", "--trusted-proxies", "10.0.0.0/8,::1"]);
        let blocks: Vec<String> = cli
            .settings
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(blocks, ["10.0.0.0/8", "::1/128"]);
        assert!(Cli::try_parse_from(["chat-server", "--trusted-proxies", "10.0.0.0/40"]).is_err());
    }

    #[test]
    fn the_forwarded_header_is_one_of_two_names() {
        let cli = Cli::parse_from(["chat-server", "--forwarded-header", "forwarded"]);
        assert_eq!(cli.settings.forwarded_header, ForwardedHeader::Forwarded);
        let cli = Cli::parse_from(["chat-server", "--forwarded-header", "x-forwarded-for"]);
        assert_eq!(
            cli.settings.forwarded_header,
            ForwardedHeader::XForwardedFor
        );
        assert!(Cli::try_parse_from(["chat-server", "--forwarded-header", "x-real-ip"]).is_err());
    }

    #[test]
    fn the_command_line_still_reads_the_environment() {
        std::env::set_var("CHAT_PRESENCE_LIMIT", "42");
        let cli = Cli::parse_from(["chat-server"]);
        std::env::remove_var("CHAT_PRESENCE_LIMIT");
        assert_eq!(cli.settings.presence_limit, 42);
    }

    #[test]
    fn an_identity_secret_shorter_than_32_bytes_is_refused() {
        let mut settings = Settings::defaults();
        assert_eq!(settings.identity_secret(), Ok(None));
        settings.identity_secret = Some("too short".into());
        let refused = settings.identity_secret().unwrap_err();
        assert!(refused.contains("at least 32 bytes"), "{refused}");
        settings.identity_secret = Some("s".repeat(32));
        assert_eq!(settings.identity_secret(), Ok(Some(vec![b's'; 32])));
        let cli = Cli::parse_from(["chat-server", "--identity-secret", "0123"]);
        assert!(cli.settings.identity_secret().is_err());
    }

    #[test]
    fn a_commit_interval_is_a_duration_of_at_most_a_second() {
        assert_eq!(commit_interval("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(commit_interval("1s"), Ok(Duration::from_secs(1)));
        let too_long = commit_interval("2s").unwrap_err();
        assert!(too_long.contains("at most 1s"), "{too_long}");
        assert!(commit_interval("soon").is_err());
    }

    #[test]
    fn a_node_heartbeat_is_at_least_a_second() {
        assert_eq!(node_heartbeat("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(node_heartbeat("1s"), Ok(Duration::from_secs(1)));
        let too_short = node_heartbeat("0s").unwrap_err();
        assert!(too_short.contains("at least 1s"), "{too_short}");
    }

    #[test]
    fn embed_origins_are_checked_at_the_command_line() {
        let cli = Cli::parse_from([
            "chat-server",
            "--embed-origins",
            "https://Shop.example/,http://127.0.0.1:9000",
        ]);
        let origins: Vec<String> = cli
            .settings
            .embed_origins
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(origins, ["https://shop.example", "http://127.0.0.1:9000"]);
        assert!(Cli::try_parse_from(["chat-server", "--embed-origins", "shop.example"]).is_err());
        assert!(Settings::defaults().embed_origins.is_empty());
    }

    #[test]
    fn the_email_delay_is_seconds_or_a_duration_and_email_is_off_by_default() {
        let defaults = Settings::defaults();
        assert_eq!(defaults.email_after, Duration::from_secs(300));
        assert_eq!(defaults.smtp_url, None);
        assert_eq!(defaults.email_scan_interval, Duration::from_secs(5));
        let cli = Cli::parse_from(["chat-server", "--email-after", "90"]);
        assert_eq!(cli.settings.email_after, Duration::from_secs(90));
        let cli = Cli::parse_from(["chat-server", "--email-after", "10m"]);
        assert_eq!(cli.settings.email_after, Duration::from_secs(600));
        assert!(Cli::try_parse_from(["chat-server", "--email-after", "soon"]).is_err());
    }
}
