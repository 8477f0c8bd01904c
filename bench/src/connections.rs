//! The `connections` scenario: many idle, authenticated connections joined to rooms.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::{ConnectionsArgs, TargetKind};
use crate::fanout::{chat_tokens, resolve_all};
use crate::load::{Fleet, FleetConfig, Member};
use crate::nodes;
use crate::procstat::{self, ProcSample, Server};
use crate::report::{self, lat_json, lat_line, mib, num, round2, Table};
use crate::target;
use crate::{command_line, ensure_fd_limit, Out};

pub async fn run(a: ConnectionsArgs, out: &Out, start: Instant) -> Result<Value, String> {
    let c = &a.common;
    let kind = c.target;
    if !a.hold.is_finite() || a.hold < 0.0 || a.hold > 86_400.0 {
        return Err(format!("--hold {}: must be a number of seconds", a.hold));
    }
    if !c.connect_timeout.is_finite() || c.connect_timeout <= 0.0 {
        return Err(format!(
            "--connect-timeout {}: must be a positive number of seconds",
            c.connect_timeout
        ));
    }
    let total = a.count as usize;
    let rooms = a.rooms as usize;
    let urls = c.urls();
    let url = urls.join(", ");
    let n_nodes = urls.len();
    let eps = resolve_all(c, &urls).await?;
    let servers = Server::nodes(&c.server_pid, n_nodes)?;
    ensure_fd_limit(total, out)?;
    let (tokens, users) = chat_tokens(&eps, c, total, out).await?;
    let mut per_node = vec![0usize; n_nodes];
    let members: Vec<Member> = (0..total)
        .map(|i| {
            let node = nodes::node_of_connection(i, n_nodes);
            per_node[node] += 1;
            Member {
                index: i,
                room: i % rooms,
                sender: None,
                token: tokens.as_ref().map(|t| t[i % t.len()].clone()),
                node,
            }
        })
        .collect();

    // Let the sign-in connections settle before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_all = procstat::sample_all(&servers);
    // With several nodes the single-server figures stay empty: each node has its own row.
    let single = |v: &[Option<ProcSample>]| if n_nodes == 1 { v[0] } else { None };
    let before = single(&before_all);
    let bench_before = procstat::sample("self").ok();
    out.progress(&format!(
        "opening {total} connections to {} ({rooms} rooms, {} at a time)",
        kind.name(),
        c.concurrency
    ));
    let cfg = FleetConfig {
        kind,
        rooms,
        senders_per_room: 0,
        size: 0,
        concurrency: c.concurrency as usize,
        connect_timeout: target::timeout_secs(c.connect_timeout),
    };
    let fleet = Fleet::start(&eps, &cfg, members, start);
    let (open, failed, secs) = fleet.wait_connected(out).await;
    let connected_all = procstat::sample_all(&servers);
    let connected = single(&connected_all);
    let bench_connected = procstat::sample("self").ok();
    out.progress(&format!("holding {open} connections for {} s", a.hold));
    tokio::time::sleep(Duration::from_secs_f64(a.hold)).await;
    let held_all = procstat::sample_all(&servers);
    let held = single(&held_all);
    let alive = fleet.alive();
    let bench_rss = procstat::sample("self").ok().map(|p| p.rss_bytes);
    let shared = fleet.finish().await;

    let connect_lat = shared
        .connect_lat
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let connect_errors = shared
        .connect_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .by_reason
        .clone();
    let disconnects = shared
        .disconnect_reasons
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .by_reason
        .clone();
    let (pings, error_frames) = {
        let t = shared.totals.lock().unwrap_or_else(|p| p.into_inner());
        (t.pings, t.error_frames.clone())
    };
    if open == 0 {
        let reasons: Vec<String> = connect_errors
            .iter()
            .map(|(r, n)| format!("{n}× {r}"))
            .collect();
        return Err(format!(
            "no connection could be opened: {}",
            reasons.join("; ")
        ));
    }
    let rate = if secs > 0.0 { open as f64 / secs } else { 0.0 };
    let node_figures: Vec<NodeFigures> = if n_nodes > 1 {
        (0..n_nodes)
            .map(|i| NodeFigures {
                url: urls[i].clone(),
                connections: per_node[i],
                before: before_all[i],
                connected: connected_all[i],
                held: held_all[i],
            })
            .collect()
    } else {
        Vec::new()
    };
    let per_conn = |after: Option<procstat::ProcSample>| -> Option<f64> {
        let (b, a) = (before?, after?);
        (open > 0).then(|| (a.rss_bytes as f64 - b.rss_bytes as f64) / open as f64)
    };
    let server_cpu = before.zip(connected).map(|(b, a)| a.cpu_secs - b.cpu_secs);
    let bench_cpu = bench_before
        .zip(bench_connected)
        .map(|(b, a)| a.cpu_secs - b.cpu_secs);

    let mut warnings = Vec::new();
    if failed > 0 {
        let reasons: Vec<String> = connect_errors
            .iter()
            .map(|(r, n)| format!("{n}× {r}"))
            .collect();
        warnings.push(format!(
            "{failed} connections failed: {}",
            reasons.join("; ")
        ));
    }
    if let Some(b) = before.filter(|b| b.hwm_bytes > b.rss_bytes + b.rss_bytes / 5 + (8 << 20)) {
        warnings.push(format!(
            "note: the server's peak RSS ({}) is well above its RSS before the run ({}): memory \
             freed by earlier connections may be reused, so the per-connection figure \
             understates; measure on a freshly started server",
            mib(b.hwm_bytes),
            mib(b.rss_bytes)
        ));
    }
    if alive < open {
        let reasons: Vec<String> = disconnects
            .iter()
            .map(|(r, n)| format!("{n}× {r}"))
            .collect();
        warnings.push(format!(
            "{} connections were lost while held: {}",
            open - alive,
            reasons.join("; ")
        ));
    }
    if let Some(cpu) = bench_cpu.filter(|cpu| *cpu > 0.9 * secs * f64::from(c.threads)) {
        warnings.push(format!(
            "WARNING: the benchmark itself used {:.0}% CPU while connecting: the connect rate \
             may be the benchmark's limit, not the server's",
            100.0 * cpu / secs.max(1e-9)
        ));
    }
    if kind == TargetKind::Chat && error_frames.contains_key("rate_limited") {
        warnings.push(format!(
            "WARNING: the server answered rate_limited: {}",
            crate::cli::CHAT_SERVER_HINT
        ));
    }

    if !out.json_only {
        let mut t = Table::default();
        t.title(format!(
            "chat-bench connections: target {} at {url}",
            kind.name()
        ));
        t.title(format!("command: {}", command_line()));
        let users_note = if users > 0 {
            format!(" as {users} guest users")
        } else {
            String::new()
        };
        t.row(
            "connections",
            format!(
                "{} requested over {rooms} rooms{users_note}, {} at a time",
                num(total as u64),
                c.concurrency
            ),
        );
        t.row(
            "opened",
            format!(
                "{} open, {failed} failed, in {secs:.2} s: {} connections/s (open + \
                 authenticate + join)",
                num(open as u64),
                num(rate.round() as u64)
            ),
        );
        t.row("connect latency", lat_line(&connect_lat));
        t.row(
            "held",
            format!(
                "{} of {} still open after {} s",
                num(alive as u64),
                num(open as u64),
                a.hold
            ),
        );
        if let (Some(b), Some(cn), Some(h)) = (before, connected, held) {
            t.row(
                "server RSS",
                format!(
                    "before {}, after connecting {}, after holding {}",
                    mib(b.rss_bytes),
                    mib(cn.rss_bytes),
                    mib(h.rss_bytes)
                ),
            );
            if let Some(pc) = per_conn(held) {
                t.row(
                    "server memory per connection",
                    format!("{:.0} bytes ((after holding − before) / open)", pc),
                );
            }
        } else if n_nodes == 1 {
            t.row("server RSS", "(give --server-pid to measure)");
        }
        for (i, node) in node_figures.iter().enumerate() {
            t.row(&format!("node {i}"), node_row(node));
        }
        if let Some(cpu) = server_cpu {
            t.row(
                "server CPU connecting",
                format!(
                    "{cpu:.2} s, {:.0} µs per connection",
                    if open > 0 {
                        cpu * 1e6 / open as f64
                    } else {
                        0.0
                    }
                ),
            );
        }
        if let Some(cpu) = bench_cpu {
            t.row(
                "bench CPU connecting",
                format!(
                    "{cpu:.2} s ({:.0}% of a core)",
                    100.0 * cpu / secs.max(1e-9)
                ),
            );
        }
        for w in &warnings {
            t.note(w.clone());
        }
        t.print();
    }

    let mut v = json!({
        "scenario": "connections",
        "target": kind.name(),
        "url": url,
        "command": command_line(),
        "config": {
            "count": a.count,
            "rooms": a.rooms,
            "hold_s": a.hold,
            "concurrency": c.concurrency,
            "threads": c.threads,
            "source_ips": c.source_ips,
            "users": if kind == TargetKind::Chat { json!(users) } else { Value::Null },
            "server_pid": c.server_pid_json(),
        },
        "requested": total,
        "open": open,
        "failed": failed,
        "connect_s": round2(secs),
        "connects_per_sec": round2(rate),
        "connect_latency_us": lat_json(&connect_lat),
        "alive_after_hold": alive,
        "server_rss_before_bytes": before.map(|s| s.rss_bytes),
        "server_rss_connected_bytes": connected.map(|s| s.rss_bytes),
        "server_rss_after_hold_bytes": held.map(|s| s.rss_bytes),
        "server_bytes_per_connection": per_conn(held).map(|v| v.round()),
        "server_bytes_per_connection_at_connect": per_conn(connected).map(|v| v.round()),
        "server_cpu_connect_s": server_cpu.map(round2),
        "server_cpu_us_per_connection": server_cpu.filter(|_| open > 0).map(|c| round2(c * 1e6 / open as f64)),
        "bench_cpu_connect_s": bench_cpu.map(round2),
        "bench_rss_bytes": bench_rss,
        "pings_answered": pings,
        "error_frames": report::map_json(&error_frames),
        "connect_errors": report::map_json(&connect_errors),
        "disconnect_reasons": report::map_json(&disconnects),
        "warnings": warnings,
    });
    if n_nodes > 1 {
        if let Value::Object(m) = &mut v {
            m.insert("urls".to_string(), json!(urls));
            m.insert(
                "nodes".to_string(),
                Value::Array(node_figures.iter().map(node_json).collect()),
            );
        }
    }
    Ok(v)
}

/// One node's figures when the connections are spread over several (`--url` repeated).
struct NodeFigures {
    url: String,
    /// Connections requested on this node (connection i on node i mod N).
    connections: usize,
    before: Option<ProcSample>,
    connected: Option<ProcSample>,
    held: Option<ProcSample>,
}

impl NodeFigures {
    fn bytes_per_connection(&self) -> Option<f64> {
        let (b, h) = (self.before?, self.held?);
        (self.connections > 0)
            .then(|| (h.rss_bytes as f64 - b.rss_bytes as f64) / self.connections as f64)
    }

    fn cpu_connect(&self) -> Option<f64> {
        self.before
            .zip(self.connected)
            .map(|(b, a)| a.cpu_secs - b.cpu_secs)
    }
}

fn node_row(n: &NodeFigures) -> String {
    let mut row = format!("{}: {} connections", n.url, num(n.connections as u64));
    match (n.before, n.held) {
        (Some(b), Some(h)) => {
            row.push_str(&format!(
                ", RSS before {} after holding {}",
                mib(b.rss_bytes),
                mib(h.rss_bytes)
            ));
            if let Some(pc) = n.bytes_per_connection() {
                row.push_str(&format!(", {pc:.0} bytes per connection"));
            }
            if let Some(cpu) = n.cpu_connect() {
                row.push_str(&format!(", CPU connecting {cpu:.2} s"));
            }
        }
        _ => row.push_str(" (give --server-pid once per node to measure)"),
    }
    row
}

fn node_json(n: &NodeFigures) -> Value {
    json!({
        "url": n.url,
        "connections": n.connections,
        "rss_before_bytes": n.before.map(|s| s.rss_bytes),
        "rss_connected_bytes": n.connected.map(|s| s.rss_bytes),
        "rss_after_hold_bytes": n.held.map(|s| s.rss_bytes),
        "bytes_per_connection": n.bytes_per_connection().map(|v| v.round()),
        "cpu_connect_s": n.cpu_connect().map(round2),
    })
}
