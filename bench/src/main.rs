//! chat-bench: drives a running chat server (this project's, the Socket.IO reference or the
//! bare "floor" server) over real WebSockets, as browsers would, and measures fan-out
//! throughput and latency, connection capacity, and the highest rate held under a latency
//! bound. Prints a table and, as the very last line, one JSON object with every figure.
//!
//! ```text
//! # the chat server, without its abuse limits, on core 0
//! CHAT_AUTH_RATE_PER_MIN=0 CHAT_RATE_PER_SEC=100000 CHAT_RATE_BURST=100000 \
//!     taskset -c 0 target/release/chat-server --bind 127.0.0.1:8080 &
//! # the benchmark on core 1
//! ulimit -n 200000
//! taskset -c 1 target/release/chat-bench fanout --server-pid $(pidof chat-server)
//! taskset -c 1 target/release/chat-bench connections --count 10000 --server-pid ...
//! taskset -c 1 target/release/chat-bench ramp --start-rate 10 --server-pid ...
//! # the reference servers: --target socketio (PORT=3001 node server.js),
//! # --target floor (floor 8090)
//! ```
//!
//! Each connection is one task that counts into its own buckets (sent, received, duplicates,
//! out-of-order, a latency histogram); the scenario moves all of them through phases (warm-up,
//! measured window or ramp step, pause, collect) over a watch channel, and merges the buckets
//! when it collects. Message texts carry the sender, its counter, the phase and the send time
//! (see `payload`), so latency needs no shared state and no clock sync.

mod cli;
mod connections;
mod console;
mod fanout;
mod http;
mod load;
mod nodes;
mod payload;
mod procstat;
mod report;
mod target;
mod ws;

use std::process::ExitCode;

use clap::Parser;
use serde_json::{json, Value};

use cli::{Cli, Scenario};

/// Where the output goes: progress on stderr, the table on stdout, unless `--json-only`.
pub struct Out {
    pub json_only: bool,
}

impl Out {
    pub fn progress(&self, msg: &str) {
        if !self.json_only {
            eprintln!("chat-bench: {msg}");
        }
    }
}

/// The command line as typed, for the header and the JSON.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Raises the open-file limit as far as allowed and fails with a hint when it stays below
/// what `connections` sockets need.
pub fn ensure_fd_limit(connections: usize, out: &Out) -> Result<u64, String> {
    use rlimit::Resource;
    let needed = connections as u64 + 256;
    let (soft, hard) = Resource::NOFILE
        .get()
        .map_err(|e| format!("cannot read the open-file limit: {e}"))?;
    if soft < needed {
        // Root may raise the hard limit too; otherwise go up to the hard limit.
        let want = needed.max(soft);
        if Resource::NOFILE.set(want, hard.max(want)).is_err() {
            let _ = rlimit::increase_nofile_limit(u64::MAX);
        }
    }
    let (soft, _) = Resource::NOFILE
        .get()
        .map_err(|e| format!("cannot read the open-file limit: {e}"))?;
    if soft < needed {
        return Err(format!(
            "the open-file limit is {soft}, but {connections} connections need about {needed}: \
             run `ulimit -n 200000` in this shell (and in the server's) first"
        ));
    }
    out.progress(&format!("open-file limit {soft}"));
    Ok(soft)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let start = std::time::Instant::now();
    let (common, name) = match &cli.scenario {
        Scenario::Fanout(a) => (&a.common, "fanout"),
        Scenario::Connections(a) => (&a.common, "connections"),
        Scenario::Ramp(a) => (&a.common, "ramp"),
    };
    let out = Out {
        json_only: common.json_only,
    };
    let threads = common.threads as usize;
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => return fail(name, common.target.name(), &format!("runtime: {e}")),
    };
    let target_name = common.target.name();
    let result: Result<Value, String> = runtime.block_on(async {
        match cli.scenario {
            Scenario::Fanout(a) => fanout::fanout(a, &out, start).await,
            Scenario::Ramp(a) => fanout::ramp(a, &out, start).await,
            Scenario::Connections(a) => connections::run(a, &out, start).await,
        }
    });
    // Connections still closing must not hold the process.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(name, target_name, &e),
    }
}

fn fail(scenario: &str, target: &str, error: &str) -> ExitCode {
    eprintln!("chat-bench: error: {error}");
    println!(
        "{}",
        json!({"scenario": scenario, "target": target, "command": command_line(), "error": error})
    );
    ExitCode::FAILURE
}
