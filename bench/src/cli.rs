//! Command line: one subcommand per scenario, each with the common flags flattened in.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Settings the chat server needs so that its own abuse limits do not throttle the benchmark.
pub const CHAT_SERVER_HINT: &str = "start the chat server for benchmarks with \
CHAT_AUTH_RATE_PER_MIN=0 CHAT_RATE_PER_SEC=100000 CHAT_RATE_BURST=100000 \
CHAT_MAX_CONNS_PER_IP=0 CHAT_MAX_CONNS_PER_USER=0 \
(it limits sign-in calls per address, frames per connection and sockets per address and \
per user by default)";

const AFTER_HELP: &str = "\
Targets:
  chat      this project's server: guest sign-in over HTTP, then ws://HOST/ws?token=...
            Start it for benchmarks with
              CHAT_AUTH_RATE_PER_MIN=0 CHAT_RATE_PER_SEC=100000 CHAT_RATE_BURST=100000
            (by default it limits sign-in calls per address and frames per connection).
  socketio  the Socket.IO v4 reference server (shared/anchors/socketio), WebSocket transport only
  floor     the bare fan-out reference server (shared/anchors/floor); it excludes the sender

Pin the benchmark to its own core, e.g. `taskset -c 1 chat-bench fanout ...`, with the server on
another one. Many connections need a high open-file limit in this shell and the server's:
`ulimit -n 200000`.

The last line of output is always one JSON object with every figure.";

/// Load benchmark for the chat server and its reference servers, over real WebSockets.
#[derive(Parser, Debug)]
#[command(name = "chat-bench", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// Rooms of members with a few senders each at a fixed rate: delivered messages/s,
    /// end-to-end latency, losses, and the server's CPU per delivered message.
    #[command(after_help = AFTER_HELP)]
    Fanout(FanoutArgs),
    /// Many idle, authenticated connections joined to rooms: connect rate, failures, and the
    /// server's memory per connection (meaningful on a freshly started server only: memory
    /// freed by earlier connections is reused).
    #[command(after_help = AFTER_HELP)]
    Connections(ConnectionsArgs),
    /// Like fanout, but raises the per-sender rate step by step until p99 latency passes a
    /// bound or a delivery is lost: the highest delivered rate held within the bound.
    #[command(after_help = AFTER_HELP)]
    Ramp(RampArgs),
}

/// Which server is driven, and so which protocol is spoken.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    /// This project's chat server (JSON frames, guest tokens, acks).
    Chat,
    /// The Socket.IO v4 reference server (Engine.IO over WebSocket).
    Socketio,
    /// The bare "floor" fan-out server (plain text frames, sender excluded).
    Floor,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Chat => "chat",
            TargetKind::Socketio => "socketio",
            TargetKind::Floor => "floor",
        }
    }

    pub fn default_url(self) -> &'static str {
        match self {
            TargetKind::Chat => "http://127.0.0.1:8080",
            TargetKind::Socketio => "http://127.0.0.1:3001",
            TargetKind::Floor => "http://127.0.0.1:8090",
        }
    }
}

/// Flags every scenario takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Server to drive: chat, socketio or floor.
    #[arg(long, value_enum, default_value_t = TargetKind::Chat)]
    pub target: TargetKind,

    /// Base URL of the server (http:// or ws://, no TLS). Defaults: chat http://127.0.0.1:8080,
    /// socketio http://127.0.0.1:3001, floor http://127.0.0.1:8090. Repeat it for several
    /// nodes of one chat (node 0, 1, ... in the order given): the members of each room are
    /// spread round robin over the nodes (member k of room r on node (r + k) mod N, senders
    /// included), so that most deliveries cross nodes.
    #[arg(long, value_name = "URL")]
    pub url: Vec<String>,

    /// PID of the server process: its CPU time and resident memory are read from
    /// /proc/PID/stat and /proc/PID/status around the measured window. With several --url,
    /// give one per node, in the same order.
    #[arg(long, value_name = "PID")]
    pub server_pid: Vec<u32>,

    /// PID of the Redis server the nodes share: its CPU over the window is reported, and
    /// counted in the total CPU per delivery (nodes + Redis).
    #[arg(long, value_name = "PID")]
    pub redis_pid: Option<u32>,

    /// Bind client sockets to 127.0.0.x, x cycling 1..=N, so that more than 64k connections
    /// fit (only when the server is on an IPv4 loopback address); 0 = let the OS choose.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=254))]
    pub source_ips: u8,

    /// Connections (and chat sign-ins) being opened at the same time.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// chat only: guest accounts to create; connections are spread over them (several tabs per
    /// user). Default: one per connection, at most 5000.
    #[arg(long)]
    pub users: Option<usize>,

    /// Worker threads of the benchmark's runtime. 1 (the default) runs everything on one thread:
    /// pin it with `taskset -c 1`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,

    /// Seconds to wait for one connection to open, authenticate and join.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub connect_timeout: f64,

    /// Print only the final JSON line (no table, no progress on stderr).
    #[arg(long)]
    pub json_only: bool,
}

impl Common {
    /// The nodes' URLs, in the order given (the target's default without --url).
    pub fn urls(&self) -> Vec<String> {
        if self.url.is_empty() {
            vec![self.target.default_url().to_string()]
        } else {
            self.url.clone()
        }
    }

    /// `--server-pid` for the JSON: as before with at most one, else the list.
    pub fn server_pid_json(&self) -> serde_json::Value {
        match self.server_pid.as_slice() {
            [] => serde_json::Value::Null,
            [p] => serde_json::json!(p),
            pids => serde_json::json!(pids),
        }
    }
}

/// Shape of the rooms and the messages, shared by fanout and ramp.
#[derive(Args, Debug, Clone)]
pub struct LoadShape {
    /// Number of rooms (bench-0, bench-1, ...).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub rooms: u32,

    /// Connected members per room (senders included).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub members: u32,

    /// Senders per room (the first members of the room; at most --members).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub senders: u32,

    /// Size of each message text in bytes (at least 48; padded with 'x').
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(48..=3900))]
    pub size: u32,

    /// Seconds of sending before anything is measured.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub warmup: f64,

    /// Seconds to wait after the senders stop for deliveries still in flight; what has not
    /// arrived by then counts as lost.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub drain: f64,
}

#[derive(Args, Debug, Clone)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: Common,

    #[command(flatten)]
    pub shape: LoadShape,

    /// Messages per second each sender sends.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,

    /// Seconds measured, after the warm-up.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub duration: f64,

    #[command(flatten)]
    pub console: ConsoleArgs,
}

/// chat only: the staff console's load beside the fan-out.
#[derive(Args, Debug, Clone)]
pub struct ConsoleArgs {
    /// Loops that each call `GET /api/admin/conversations` and `GET /api/admin/stats` back to
    /// back, as staff, from the warm-up to the end of the window (0 = none). Needs
    /// --staff-user and --staff-password (the server's CHAT_ADMIN_USERNAME/PASSWORD).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub console_load: u32,

    /// Milliseconds from the start of one round of a console loop to the start of its next
    /// (0 = back to back): a paced console that leaves the server's core some room.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub console_interval: u64,

    /// Staff account the console loops sign in as.
    #[arg(long, value_name = "NAME")]
    pub staff_user: Option<String>,

    /// Password of --staff-user.
    #[arg(long, value_name = "PASSWORD")]
    pub staff_password: Option<String>,

    /// With --console-load: support conversations made before the warm-up, so that the
    /// console's list has rows: the support rooms of the first K guests each get one
    /// announcement from the staff account.
    #[arg(long, value_name = "K", default_value_t = 100)]
    pub support_rooms: u32,
}

#[derive(Args, Debug, Clone)]
pub struct RampArgs {
    #[command(flatten)]
    pub common: Common,

    #[command(flatten)]
    pub shape: LoadShape,

    /// Messages per second each sender sends in the first step.
    #[arg(long, default_value_t = 10.0)]
    pub start_rate: f64,

    /// Factor the rate is multiplied by from one step to the next (> 1).
    #[arg(long, default_value_t = 1.5)]
    pub step: f64,

    /// Seconds each step sends (each is followed by the --drain pause).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub step_duration: f64,

    /// The ramp stops at the first step whose p99 latency passes this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50.0)]
    pub p99_bound_ms: f64,

    /// Most steps to run.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_steps: u32,
}

#[derive(Args, Debug, Clone)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub common: Common,

    /// Connections to open (each authenticated and joined to one room).
    #[arg(long, default_value_t = 10000, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,

    /// Rooms the connections are spread over (round robin).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub rooms: u32,

    /// Seconds the connections are held idle (answering pings) once all are open.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub hold: f64,
}
