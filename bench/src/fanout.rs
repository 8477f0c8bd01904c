//! The `fanout` and `ramp` scenarios: rooms of members, a few of which send at a paced rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::{Common, FanoutArgs, LoadShape, RampArgs, TargetKind};
use crate::console::Console;
use crate::load::{self, Fleet, FleetConfig, Member, Phase, TagAgg};
use crate::nodes;
use crate::procstat::{self, ProcSample, Server};
use crate::report::{self, lat_json, lat_line, mib, num, round2, Table};
use crate::target::{self, Endpoint};
use crate::{command_line, ensure_fd_limit, Out};

/// Everything set up before the first message: accounts, connections.
struct Setup {
    /// The first node's URL (the only one without a repeated --url).
    url: String,
    /// Every node's URL, in the order of --url.
    urls: Vec<String>,
    /// The first node: the staff console's loops use it.
    ep: Arc<Endpoint>,
    /// chat: the guests' tokens (empty for the other targets).
    tokens: Vec<Arc<str>>,
    /// One per node (unmeasured without --server-pid).
    servers: Vec<Server>,
    redis: Server,
    /// Whether the report has the several-nodes parts: several --url, or --redis-pid.
    multi: bool,
    /// Connections opened per node.
    per_node: Vec<usize>,
    total: usize,
    open: usize,
    failed: usize,
    connect_secs: f64,
    users: usize,
}

fn check_secs(name: &str, v: f64, allow_zero: bool) -> Result<(), String> {
    if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) || v > 86_400.0 {
        return Err(format!("{name} {v}: must be a number of seconds > 0"));
    }
    Ok(())
}

fn check_rate(name: &str, v: f64) -> Result<(), String> {
    if !v.is_finite() || v <= 0.0 || v > 1_000_000.0 {
        return Err(format!(
            "{name} {v}: must be messages per second, > 0 and at most 1000000"
        ));
    }
    Ok(())
}

async fn setup(
    c: &Common,
    shape: &LoadShape,
    out: &Out,
    start: Instant,
) -> Result<(Setup, Fleet), String> {
    if shape.senders > shape.members {
        return Err(format!(
            "--senders {} is more than --members {}: senders are members of their room",
            shape.senders, shape.members
        ));
    }
    check_secs("--warmup", shape.warmup, true)?;
    check_secs("--drain", shape.drain, true)?;
    check_secs("--connect-timeout", c.connect_timeout, false)?;
    let rooms = shape.rooms as usize;
    let per_room = shape.members as usize;
    let senders = shape.senders as usize;
    let total = rooms
        .checked_mul(per_room)
        .filter(|t| *t <= 10_000_000)
        .ok_or("--rooms × --members is too large")?;
    let urls = c.urls();
    let eps = resolve_all(c, &urls).await?;
    let ep = eps[0].clone();
    let servers = Server::nodes(&c.server_pid, urls.len())?;
    let redis = Server::named(c.redis_pid, "--redis-pid")?;
    ensure_fd_limit(total, out)?;
    let (tokens, users) = chat_tokens(&eps, c, total, out).await?;
    let guests = tokens.clone().unwrap_or_default();
    let mut per_node = vec![0; urls.len()];
    let members: Vec<Member> = (0..total)
        .map(|i| {
            let (room, k) = (i / per_room, i % per_room);
            let node = nodes::node_of(room, k, urls.len());
            per_node[node] += 1;
            Member {
                index: i,
                room,
                sender: (k < senders).then_some(room * senders + k),
                token: tokens.as_ref().map(|t| t[i % t.len()].clone()),
                node,
            }
        })
        .collect();
    if urls.len() > 1 {
        out.progress(&format!(
            "opening {total} connections to {} ({} rooms × {per_room}) over {} nodes ({})",
            c.target.name(),
            rooms,
            urls.len(),
            per_node
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" + ")
        ));
    } else {
        out.progress(&format!(
            "opening {total} connections to {} ({} rooms × {per_room})",
            c.target.name(),
            rooms
        ));
    }
    let cfg = FleetConfig {
        kind: c.target,
        rooms,
        senders_per_room: senders,
        size: shape.size as usize,
        concurrency: c.concurrency as usize,
        connect_timeout: target::timeout_secs(c.connect_timeout),
    };
    let fleet = Fleet::start(&eps, &cfg, members, start);
    let (open, failed, connect_secs) = fleet.wait_connected(out).await;
    if open == 0 {
        let reasons = lock_reasons(&fleet);
        fleet.finish().await;
        return Err(format!("no connection could be opened: {reasons}"));
    }
    Ok((
        Setup {
            url: urls[0].clone(),
            multi: urls.len() > 1 || c.redis_pid.is_some(),
            urls,
            ep,
            tokens: guests,
            servers,
            redis,
            per_node,
            total,
            open,
            failed,
            connect_secs,
            users,
        },
        fleet,
    ))
}

fn lock_reasons(fleet: &Fleet) -> String {
    let log = fleet
        .shared
        .connect_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    log.by_reason
        .iter()
        .map(|(r, n)| format!("{n}× {r}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Resolves every `--url` (node i is `urls[i]`).
pub async fn resolve_all(c: &Common, urls: &[String]) -> Result<Vec<Arc<Endpoint>>, String> {
    let mut eps = Vec::with_capacity(urls.len());
    for url in urls {
        eps.push(Arc::new(
            Endpoint::resolve(c.target, url, c.source_ips).await?,
        ));
    }
    Ok(eps)
}

/// chat: sign in the guests the connections are spread over (`--users`, default one per
/// connection up to 5000), spread over the nodes. Other targets need no accounts.
pub async fn chat_tokens(
    eps: &[Arc<Endpoint>],
    c: &Common,
    connections: usize,
    out: &Out,
) -> Result<(Option<Vec<Arc<str>>>, usize), String> {
    if c.target != TargetKind::Chat {
        return Ok((None, 0));
    }
    let users = c
        .users
        .unwrap_or(connections.min(5000))
        .min(connections)
        .max(1);
    out.progress(&format!("signing in {users} guests"));
    let tokens = load::sign_in(eps, users, c.concurrency as usize, out).await?;
    Ok((Some(tokens), users))
}

fn self_sample() -> Option<ProcSample> {
    procstat::sample("self").ok()
}

/// Samples at one end of a window: every node, Redis, the benchmark.
struct Samples {
    nodes: Vec<Option<ProcSample>>,
    redis: Option<ProcSample>,
    bench: Option<ProcSample>,
    at: Instant,
}

impl Samples {
    fn take(s: &Setup) -> Samples {
        Samples {
            nodes: procstat::sample_all(&s.servers),
            redis: s.redis.sample(),
            bench: self_sample(),
            at: Instant::now(),
        }
    }
}

fn cpu_between(a: Option<ProcSample>, b: Option<ProcSample>) -> Option<f64> {
    a.zip(b).map(|(a, b)| b.cpu_secs - a.cpu_secs)
}

/// Server CPU, memory, and the benchmark's own CPU over one window.
struct Usage {
    /// The servers' CPU: the one server's, or the sum over the nodes when every node is
    /// measured.
    server_cpu: Option<f64>,
    /// The first node's memory at the end.
    server_end: Option<ProcSample>,
    /// Each node's CPU and memory at the end.
    node_cpu: Vec<Option<f64>>,
    node_end: Vec<Option<ProcSample>>,
    redis_cpu: Option<f64>,
    bench_cpu: Option<f64>,
    secs: f64,
}

impl Usage {
    fn between(s0: Samples, s1: Samples) -> Usage {
        let node_cpu: Vec<Option<f64>> = s0
            .nodes
            .iter()
            .zip(&s1.nodes)
            .map(|(a, b)| cpu_between(*a, *b))
            .collect();
        let server_cpu = node_cpu.iter().copied().sum::<Option<f64>>();
        Usage {
            server_cpu,
            server_end: s1.nodes.first().copied().flatten(),
            node_cpu,
            node_end: s1.nodes,
            redis_cpu: cpu_between(s0.redis, s1.redis),
            bench_cpu: cpu_between(s0.bench, s1.bench),
            secs: (s1.at - s0.at).as_secs_f64(),
        }
    }

    /// Nodes + Redis (Redis only when measured), per delivery.
    fn total_us_per(&self, deliveries: u64) -> Option<f64> {
        let total = self.server_cpu? + self.redis_cpu.unwrap_or(0.0);
        (deliveries > 0).then(|| total * 1e6 / deliveries as f64)
    }

    fn pct(&self, cpu: f64) -> f64 {
        100.0 * cpu / self.secs.max(1e-9)
    }

    fn bench_pct(&self) -> Option<f64> {
        self.bench_cpu.map(|c| 100.0 * c / self.secs.max(1e-9))
    }

    fn server_us_per(&self, deliveries: u64) -> Option<f64> {
        self.server_cpu
            .filter(|_| deliveries > 0)
            .map(|c| c * 1e6 / deliveries as f64)
    }
}

/// The figures of one measured window (fanout) or step (ramp).
struct Window {
    rate: f64,
    secs: f64,
    agg: TagAgg,
    expected: u64,
    /// Of `expected`, the deliveries that cross nodes.
    expected_cross: u64,
    usage: Usage,
    /// Whether the JSON has the several-nodes fields.
    multi: bool,
    urls: Vec<String>,
}

impl Window {
    fn lost(&self) -> i64 {
        nodes::lost(self.expected, self.agg.received)
    }

    fn delivered_per_sec(&self) -> f64 {
        self.agg.recv_in_window as f64 / self.secs.max(1e-9)
    }

    fn json(&self, kind: TargetKind) -> Value {
        let mut v = self.json_one(kind);
        if self.multi {
            merge_into(&mut v, self.nodes_json(), "");
        }
        v
    }

    /// The several-nodes figures: per node, Redis, the total, and the cross-node deliveries.
    fn nodes_json(&self) -> Value {
        let (a, u) = (&self.agg, &self.usage);
        let nodes: Vec<Value> = self
            .urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let got = a.recv_per_node.get(i).copied().unwrap_or(0);
                let cpu = u.node_cpu.get(i).copied().flatten();
                json!({
                    "node": i,
                    "url": url,
                    "delivered_in_window": got,
                    "delivered_per_sec": round2(got as f64 / self.secs.max(1e-9)),
                    "cpu_s": cpu.map(round2),
                    "cpu_us_per_delivery": cpu.filter(|_| got > 0).map(|c| round2(c * 1e6 / got as f64)),
                    "rss_bytes": u.node_end.get(i).copied().flatten().map(|s| s.rss_bytes),
                })
            })
            .collect();
        let d = a.recv_in_window;
        json!({
            "nodes": nodes,
            "redis_cpu_s": u.redis_cpu.map(round2),
            "redis_cpu_us_per_delivery": u.redis_cpu.filter(|_| d > 0).map(|c| round2(c * 1e6 / d as f64)),
            "total_cpu_us_per_delivery": u.total_us_per(d).map(round2),
            "cross_node": {
                "expected_deliveries": self.expected_cross,
                "received": a.received_cross,
                "lost": nodes::lost(self.expected_cross, a.received_cross),
                "latency_us": lat_json(&a.lat_cross),
            },
        })
    }

    fn json_one(&self, kind: TargetKind) -> Value {
        let a = &self.agg;
        json!({
            "rate_per_sender": self.rate,
            "window_s": round2(self.secs),
            "sent": a.sent(),
            "offered_msgs_per_sec": round2(a.sent() as f64 / self.secs.max(1e-9)),
            "expected_deliveries": self.expected,
            "received": a.received,
            "lost": self.lost(),
            "dup": a.dup,
            "reordered": a.reordered,
            "delivered_in_window": a.recv_in_window,
            "delivered_per_sec": round2(self.delivered_per_sec()),
            "latency_us": lat_json(&a.lat),
            "acks": if target::has_acks(kind) { json!(a.acks) } else { Value::Null },
            "ack_us": if target::has_acks(kind) { lat_json(&a.ack_lat) } else { Value::Null },
            "send_errors": a.send_errors,
            "server_cpu_s": self.usage.server_cpu.map(round2),
            "server_cpu_us_per_delivery": self.usage.server_us_per(a.recv_in_window).map(round2),
            "server_rss_bytes": self.usage.server_end.map(|s| s.rss_bytes),
            "bench_cpu_s": self.usage.bench_cpu.map(round2),
            "bench_cpu_pct": self.usage.bench_pct().map(round2),
        })
    }
}

/// Sends at `rate` with `tag` for `secs`, pauses, drains, and collects the figures.
async fn measure(
    s: &Setup,
    fleet: &Fleet,
    tag: u64,
    rate: f64,
    secs: f64,
    drain: f64,
    start: Instant,
) -> Window {
    let w0 = fleet.shared.now_ns();
    let w1 = w0 + (secs * 1e9) as u64;
    fleet.set_window(w0, w1);
    let s0 = Samples::take(s);
    fleet.set(Phase::Send { tag, rate });
    tokio::time::sleep_until((start + Duration::from_nanos(w1)).into()).await;
    let s1 = Samples::take(s);
    fleet.set(Phase::Pause);
    tokio::time::sleep(Duration::from_secs_f64(drain)).await;
    let agg = fleet.collect(tag).await;
    let expected = fleet.expected(&agg);
    let expected_cross = fleet.expected_cross(&agg);
    Window {
        rate,
        secs,
        agg,
        expected,
        expected_cross,
        usage: Usage::between(s0, s1),
        multi: s.multi,
        urls: s.urls.clone(),
    }
}

fn config_json(c: &Common, shape: &LoadShape, users: usize) -> Value {
    let mut v = config_json_one(c, shape, users);
    if c.urls().len() > 1 || c.redis_pid.is_some() {
        merge_into(
            &mut v,
            json!({"urls": c.urls(), "redis_pid": c.redis_pid}),
            "",
        );
    }
    v
}

fn config_json_one(c: &Common, shape: &LoadShape, users: usize) -> Value {
    json!({
        "rooms": shape.rooms,
        "members": shape.members,
        "senders": shape.senders,
        "size": shape.size,
        "warmup_s": shape.warmup,
        "drain_s": shape.drain,
        "threads": c.threads,
        "source_ips": c.source_ips,
        "concurrency": c.concurrency,
        "users": if c.target == TargetKind::Chat { json!(users) } else { Value::Null },
        "server_pid": c.server_pid_json(),
    })
}

/// Connection, error and sanity figures of the whole run, plus warnings.
fn run_json(s: &Setup, shared: &load::Shared, warnings: &[String]) -> Value {
    let totals = shared.totals.lock().unwrap_or_else(|p| p.into_inner());
    let connect = shared
        .connect_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let disconnect = shared
        .disconnect_reasons
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    json!({
        "connections": {
            "requested": s.total,
            "open": s.open,
            "failed": s.failed,
            "connect_s": round2(s.connect_secs),
            "disconnected": shared.disconnected.load(std::sync::atomic::Ordering::Relaxed),
            "connect_errors": report::map_json(&connect.by_reason),
            "disconnect_reasons": report::map_json(&disconnect.by_reason),
        },
        "late": totals.late,
        "late_acks": totals.late_acks,
        "foreign": totals.foreign,
        "unparsed": totals.unparsed,
        "error_frames": report::map_json(&totals.error_frames),
        "warnings": warnings,
    })
}

fn header(t: &mut Table, scenario: &str, c: &Common, url: &str) {
    t.title(format!(
        "chat-bench {scenario}: target {} at {url}",
        c.target.name()
    ));
    t.title(format!("command: {}", command_line()));
}

fn connection_rows(t: &mut Table, s: &Setup, shape: &LoadShape) {
    t.row(
        "rooms × members",
        format!(
            "{} × {} ({} senders per room, {} B texts)",
            shape.rooms, shape.members, shape.senders, shape.size
        ),
    );
    let users = if s.users > 0 {
        format!(" as {} guest users", s.users)
    } else {
        String::new()
    };
    t.row(
        "connections",
        format!(
            "{} open, {} failed, in {:.2} s{users}",
            s.open, s.failed, s.connect_secs
        ),
    );
    if s.urls.len() > 1 {
        t.row(
            "nodes",
            format!(
                "{}: connections {} (member k of room r on node (r + k) mod {})",
                s.urls.len(),
                s.per_node
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{} on node {i}", num(*n as u64)))
                    .collect::<Vec<_>>()
                    .join(", "),
                s.urls.len()
            ),
        );
    }
}

/// Warnings and notes shared by fanout and ramp after the run.
fn run_notes(kind: TargetKind, shared: &load::Shared, s: &Setup, warnings: &mut Vec<String>) {
    let totals = shared.totals.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = load::rate_hint(kind, &totals) {
        warnings.push(h);
    }
    if s.failed > 0 {
        let log = shared
            .connect_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let reasons: Vec<String> = log
            .by_reason
            .iter()
            .map(|(r, n)| format!("{n}× {r}"))
            .collect();
        warnings.push(format!(
            "{} connections failed: {}",
            s.failed,
            reasons.join("; ")
        ));
    }
    let lost_conns = shared
        .disconnected
        .load(std::sync::atomic::Ordering::Relaxed);
    if lost_conns > 0 {
        let log = shared
            .disconnect_reasons
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let reasons: Vec<String> = log
            .by_reason
            .iter()
            .map(|(r, n)| format!("{n}× {r}"))
            .collect();
        warnings.push(format!(
            "{lost_conns} connections were lost during the run: {}",
            reasons.join("; ")
        ));
    }
    if totals.foreign > 0 {
        warnings.push(format!(
            "{} deliveries came from a sender of another room",
            totals.foreign
        ));
    }
}

/// Several nodes: when every lost delivery was one that had to cross nodes, say so (the nodes
/// do not hear each other: no broker, or a broken one).
fn cross_lost_warning(w: &Window) -> Option<String> {
    let cross = nodes::lost(w.expected_cross, w.agg.received_cross);
    (w.urls.len() > 1 && cross > 0 && cross == w.lost()).then(|| {
        format!(
            "WARNING: all {cross} lost deliveries had to cross nodes: do the nodes share a \
             broker (--redis-url)?"
        )
    })
}

fn bench_cpu_warning(pct: Option<f64>, threads: u32) -> Option<String> {
    let pct = pct?;
    (pct > 90.0 * f64::from(threads)).then(|| {
        format!(
            "WARNING: the benchmark itself used {pct:.0}% CPU ({threads} thread(s)): it may be \
             the bottleneck, not the server"
        )
    })
}

fn usage_rows(t: &mut Table, w: &Window, threads: u32) {
    let u = &w.usage;
    if w.urls.len() > 1 {
        node_rows(t, w);
    } else {
        server_rows(t, w);
    }
    if w.multi {
        redis_rows(t, w);
    }
    if let (Some(cpu), Some(pct)) = (u.bench_cpu, u.bench_pct()) {
        t.row(
            "bench CPU",
            format!("{cpu:.2} s ({pct:.0}% of a core; {threads} thread(s))"),
        );
    }
}

fn us_or_dash(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1} µs"))
        .unwrap_or_else(|| "-".to_string())
}

/// One row per node: its connections' deliveries, its CPU (per delivery to its own
/// connections) and memory; and the cross-node deliveries' latency.
fn node_rows(t: &mut Table, w: &Window) {
    let (a, u) = (&w.agg, &w.usage);
    for (i, url) in w.urls.iter().enumerate() {
        let got = a.recv_per_node.get(i).copied().unwrap_or(0);
        let cpu = match u.node_cpu.get(i).copied().flatten() {
            Some(cpu) => format!(
                "CPU {cpu:.2} s ({:.0}% of a core), {} per delivery to its connections",
                u.pct(cpu),
                us_or_dash((got > 0).then(|| cpu * 1e6 / got as f64))
            ),
            None => "CPU (give --server-pid once per node to measure)".to_string(),
        };
        let rss = u
            .node_end
            .get(i)
            .copied()
            .flatten()
            .map(|p| format!(", RSS {}", mib(p.rss_bytes)))
            .unwrap_or_default();
        t.row(
            &format!("node {i}"),
            format!(
                "{url}: {} delivered/s to its connections; {cpu}{rss}",
                num((got as f64 / w.secs.max(1e-9)).round() as u64)
            ),
        );
    }
    t.row(
        "cross-node",
        format!(
            "{} of {} deliveries received crossed nodes; {} expected, lost {}",
            num(a.received_cross),
            num(a.received),
            num(w.expected_cross),
            nodes::lost(w.expected_cross, a.received_cross)
        ),
    );
    t.row("cross-node latency", lat_line(&a.lat_cross));
}

/// Redis's CPU and the total (nodes + Redis) per delivery.
fn redis_rows(t: &mut Table, w: &Window) {
    let (d, u) = (w.agg.recv_in_window, &w.usage);
    match u.redis_cpu {
        Some(cpu) => t.row(
            "Redis CPU",
            format!(
                "{cpu:.2} s ({:.0}% of a core), {} per delivery",
                u.pct(cpu),
                us_or_dash((d > 0).then(|| cpu * 1e6 / d as f64))
            ),
        ),
        None => t.row("Redis CPU", "(give --redis-pid to measure)"),
    }
    match u.server_cpu {
        Some(nodes) => t.row(
            "total CPU",
            format!(
                "{:.2} s (nodes {nodes:.2} s + Redis {}), {} per delivery",
                nodes + u.redis_cpu.unwrap_or(0.0),
                u.redis_cpu
                    .map(|r| format!("{r:.2} s"))
                    .unwrap_or_else(|| "not measured".to_string()),
                us_or_dash(u.total_us_per(d))
            ),
        ),
        None => t.row("total CPU", "(give --server-pid once per node to measure)"),
    }
}

fn server_rows(t: &mut Table, w: &Window) {
    let u = &w.usage;
    match u.server_cpu {
        Some(cpu) => t.row(
            "server CPU",
            format!(
                "{cpu:.2} s in {:.1} s ({:.0}% of a core), {} per delivery",
                u.secs,
                100.0 * cpu / u.secs.max(1e-9),
                u.server_us_per(w.agg.recv_in_window)
                    .map(|v| format!("{v:.1} µs"))
                    .unwrap_or_else(|| "-".to_string())
            ),
        ),
        None => t.row("server CPU", "(give --server-pid to measure)"),
    }
    if let Some(p) = u.server_end {
        t.row(
            "server RSS",
            format!("{} (peak {})", mib(p.rss_bytes), mib(p.hwm_bytes)),
        );
    }
}

fn recipients_note(kind: TargetKind, members: u32) -> String {
    if target::delivers_to_sender(kind) {
        format!("× {members} members, sender included")
    } else {
        format!("× {} members, sender excluded", members.saturating_sub(1))
    }
}

pub async fn fanout(a: FanoutArgs, out: &Out, start: Instant) -> Result<Value, String> {
    check_rate("--rate", a.rate)?;
    check_secs("--duration", a.duration, false)?;
    let c = &a.common;
    let kind = c.target;
    let (s, fleet) = setup(c, &a.shape, out, start).await?;
    let console = match Console::start(&a.console, kind, &s.ep, &s.tokens, out).await {
        Ok(console) => console,
        Err(e) => {
            fleet.finish().await;
            return Err(e);
        }
    };
    out.progress(&format!("warm-up {} s", a.shape.warmup));
    fleet.set(Phase::Send {
        tag: 0,
        rate: a.rate,
    });
    tokio::time::sleep(Duration::from_secs_f64(a.shape.warmup)).await;
    out.progress(&format!(
        "measuring {} s, then {} s drain",
        a.duration, a.shape.drain
    ));
    let console_since = console.as_ref().map(Console::reset);
    let w = measure(&s, &fleet, 1, a.rate, a.duration, a.shape.drain, start).await;
    let console_window = console
        .as_ref()
        .zip(console_since)
        .map(|(c, t)| c.window(t));
    if let Some(console) = console {
        console.stop().await;
    }
    let bench_rss = self_sample().map(|p| p.rss_bytes);
    let shared = fleet.finish().await;

    let mut warnings = Vec::new();
    warnings.extend(bench_cpu_warning(w.usage.bench_pct(), c.threads));
    run_notes(kind, &shared, &s, &mut warnings);
    warnings.extend(cross_lost_warning(&w));
    let late = shared.totals.lock().map(|t| t.late).unwrap_or(0);

    if !out.json_only {
        let mut t = Table::default();
        header(&mut t, "fanout", c, &s.urls.join(", "));
        connection_rows(&mut t, &s, &a.shape);
        let senders = u64::from(a.shape.rooms) * u64::from(a.shape.senders);
        t.row(
            "rate",
            format!(
                "{} msg/s per sender × {senders} senders = {} msg/s offered",
                a.rate,
                round2(a.rate * senders as f64)
            ),
        );
        t.row(
            "window",
            format!(
                "{} s measured after {} s warm-up, {} s drain",
                a.duration, a.shape.warmup, a.shape.drain
            ),
        );
        t.row("sent", num(w.agg.sent()));
        t.row(
            "expected deliveries",
            format!(
                "{} (sent {})",
                num(w.expected),
                recipients_note(kind, a.shape.members)
            ),
        );
        t.row(
            "received",
            format!(
                "{}  lost {}  dup {}  reordered {}  (late after drain {late})",
                num(w.agg.received),
                w.lost(),
                w.agg.dup,
                w.agg.reordered
            ),
        );
        t.row(
            "delivered/s",
            format!(
                "{} ({} deliveries received in the window)",
                num(w.delivered_per_sec().round() as u64),
                num(w.agg.recv_in_window)
            ),
        );
        t.row("latency", lat_line(&w.agg.lat));
        if target::has_acks(kind) {
            t.row("ack latency", lat_line(&w.agg.ack_lat));
            t.row(
                "acks",
                format!(
                    "{} of {} sends, {} send errors",
                    num(w.agg.acks),
                    num(w.agg.sent()),
                    w.agg.send_errors
                ),
            );
        }
        usage_rows(&mut t, &w, c.threads);
        for (label, value) in console_window.iter().flat_map(|cw| cw.rows()) {
            t.row(&label, value);
        }
        for wn in &warnings {
            t.note(wn.clone());
        }
        t.print();
    }

    let mut v = json!({
        "scenario": "fanout",
        "target": kind.name(),
        "url": s.url,
        "command": command_line(),
        "config": config_json(c, &a.shape, s.users),
    });
    merge_into(
        &mut v,
        json!({"rate": a.rate, "duration_s": a.duration}),
        "config",
    );
    merge_into(&mut v, w.json(kind), "");
    merge_into(&mut v, run_json(&s, &shared, &warnings), "");
    merge_into(
        &mut v,
        json!({
            "bench_rss_bytes": bench_rss,
            "console": console_window.map(|cw| cw.json()),
        }),
        "",
    );
    Ok(v)
}

/// Adds the fields of `extra` to `v` (or to `v[key]`).
fn merge_into(v: &mut Value, extra: Value, key: &str) {
    let target = if key.is_empty() {
        Some(v)
    } else {
        v.get_mut(key)
    };
    if let (Some(Value::Object(dst)), Value::Object(src)) = (target, extra) {
        dst.extend(src);
    }
}

pub async fn ramp(a: RampArgs, out: &Out, start: Instant) -> Result<Value, String> {
    check_rate("--start-rate", a.start_rate)?;
    if !a.step.is_finite() || a.step <= 1.0 || a.step > 100.0 {
        return Err(format!("--step {}: must be a factor above 1", a.step));
    }
    check_secs("--step-duration", a.step_duration, false)?;
    if !a.p99_bound_ms.is_finite() || a.p99_bound_ms <= 0.0 {
        return Err(format!(
            "--p99-bound-ms {}: must be a positive number",
            a.p99_bound_ms
        ));
    }
    let c = &a.common;
    let kind = c.target;
    let (s, fleet) = setup(c, &a.shape, out, start).await?;
    out.progress(&format!(
        "warm-up {} s at {} msg/s per sender",
        a.shape.warmup, a.start_rate
    ));
    fleet.set(Phase::Send {
        tag: 0,
        rate: a.start_rate,
    });
    tokio::time::sleep(Duration::from_secs_f64(a.shape.warmup)).await;

    let mut steps: Vec<(Window, bool, String)> = Vec::new();
    let mut rate = a.start_rate;
    for i in 1..=u64::from(a.max_steps) {
        if rate > 1_000_000.0 {
            break;
        }
        let lost_conns_before = fleet
            .shared
            .disconnected
            .load(std::sync::atomic::Ordering::Relaxed);
        out.progress(&format!("step {i}: {} msg/s per sender", round2(rate)));
        let w = measure(&s, &fleet, i, rate, a.step_duration, a.shape.drain, start).await;
        let lost_conns = fleet
            .shared
            .disconnected
            .load(std::sync::atomic::Ordering::Relaxed)
            - lost_conns_before;
        let p99_ms = w.agg.lat.value_at_quantile(0.99) as f64 / 1000.0;
        let mut why = Vec::new();
        if w.agg.lat.is_empty() {
            why.push("no deliveries".to_string());
        } else if p99_ms > a.p99_bound_ms {
            why.push(format!("p99 {p99_ms:.1} ms > {} ms", a.p99_bound_ms));
        }
        if w.lost() != 0 {
            why.push(format!("{} lost", w.lost()));
        }
        if w.agg.send_errors > 0 {
            why.push(format!("{} send errors", w.agg.send_errors));
        }
        if lost_conns > 0 {
            why.push(format!("{lost_conns} connections lost"));
        }
        let pass = why.is_empty();
        out.progress(&format!(
            "step {i}: {} delivered/s, p99 {p99_ms:.2} ms, lost {}{}",
            num(w.delivered_per_sec().round() as u64),
            w.lost(),
            if pass {
                String::new()
            } else {
                format!(": {}", why.join(", "))
            }
        ));
        steps.push((w, pass, why.join(", ")));
        if !pass {
            break;
        }
        rate *= a.step;
    }
    let bench_rss = self_sample().map(|p| p.rss_bytes);
    let shared = fleet.finish().await;

    let best = steps
        .iter()
        .filter(|(_, pass, _)| *pass)
        .max_by(|x, y| x.0.delivered_per_sec().total_cmp(&y.0.delivered_per_sec()));
    let mut warnings = Vec::new();
    for (i, (w, _, _)) in steps.iter().enumerate() {
        if let Some(wn) = bench_cpu_warning(w.usage.bench_pct(), c.threads) {
            warnings.push(format!("step {}: {wn}", i + 1));
        }
    }
    run_notes(kind, &shared, &s, &mut warnings);
    if steps.last().is_some_and(|(_, pass, _)| *pass) {
        warnings.push(format!(
            "the bound was never passed in {} steps: raise --max-steps or --start-rate",
            steps.len()
        ));
    }

    if !out.json_only {
        let mut t = Table::default();
        header(&mut t, "ramp", c, &s.urls.join(", "));
        connection_rows(&mut t, &s, &a.shape);
        t.row(
            "steps",
            format!(
                "{} s each (+{} s drain), rate × {} from {} msg/s per sender, until p99 > {} ms \
                 or a loss",
                a.step_duration, a.shape.drain, a.step, a.start_rate, a.p99_bound_ms
            ),
        );
        t.row(
            "best within bound",
            match best {
                Some((w, _, _)) => format!(
                    "{} deliveries/s ({} msg/s per sender, p99 {} ms)",
                    num(w.delivered_per_sec().round() as u64),
                    round2(w.rate),
                    report::ms(w.agg.lat.value_at_quantile(0.99))
                ),
                None => "none: the first step already failed".to_string(),
            },
        );
        t.note(format!(
            "{:>4} {:>10} {:>10} {:>12} {:>8} {:>8} {:>8} {:>8} {:>10} {:>7}  {}",
            "step",
            "rate/snd",
            "offered/s",
            "delivered/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "lost",
            "srv µs/dlv",
            "bench%",
            "verdict"
        ));
        for (i, (w, pass, why)) in steps.iter().enumerate() {
            let h = &w.agg.lat;
            let (p50, p99, max) = if h.is_empty() {
                ("-".to_string(), "-".to_string(), "-".to_string())
            } else {
                (
                    report::ms(h.value_at_quantile(0.5)),
                    report::ms(h.value_at_quantile(0.99)),
                    report::ms(h.max()),
                )
            };
            t.note(format!(
                "{:>4} {:>10} {:>10} {:>12} {:>8} {:>8} {:>8} {:>8} {:>10} {:>7}  {}",
                i + 1,
                round2(w.rate),
                num((w.agg.sent() as f64 / w.secs).round() as u64),
                num(w.delivered_per_sec().round() as u64),
                p50,
                p99,
                max,
                w.lost(),
                w.usage
                    .server_us_per(w.agg.recv_in_window)
                    .map(|v| format!("{v:.1}"))
                    .unwrap_or_else(|| "-".to_string()),
                w.usage
                    .bench_pct()
                    .map(|v| format!("{v:.0}"))
                    .unwrap_or_else(|| "-".to_string()),
                if *pass { "ok".to_string() } else { why.clone() }
            ));
        }
        for wn in &warnings {
            t.note(wn.clone());
        }
        t.print();
    }

    let mut v = json!({
        "scenario": "ramp",
        "target": kind.name(),
        "url": s.url,
        "command": command_line(),
        "config": config_json(c, &a.shape, s.users),
        "best": best.map(|(w, _, _)| json!({
            "rate_per_sender": w.rate,
            "delivered_per_sec": round2(w.delivered_per_sec()),
            "p99_us": w.agg.lat.value_at_quantile(0.99),
        })),
        "steps": steps.iter().map(|(w, pass, why)| {
            let mut j = w.json(kind);
            merge_into(&mut j, json!({"pass": pass, "verdict": if *pass { "ok" } else { why.as_str() }}), "");
            j
        }).collect::<Vec<_>>(),
    });
    merge_into(
        &mut v,
        json!({
            "start_rate": a.start_rate,
            "step": a.step,
            "step_duration_s": a.step_duration,
            "p99_bound_ms": a.p99_bound_ms,
            "max_steps": a.max_steps,
        }),
        "config",
    );
    merge_into(&mut v, run_json(&s, &shared, &warnings), "");
    merge_into(&mut v, json!({"bench_rss_bytes": bench_rss}), "");
    Ok(v)
}
