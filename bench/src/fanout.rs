//! The `fanout` and `ramp` scenarios: rooms of members, a few of which send at a paced rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::{Common, FanoutArgs, LoadShape, RampArgs, TargetKind};
use crate::console::Console;
use crate::load::{self, Fleet, FleetConfig, Member, Phase, TagAgg};
use crate::procstat::{self, ProcSample, Server};
use crate::report::{self, lat_json, lat_line, mib, num, round2, Table};
use crate::target::{self, Endpoint};
use crate::{command_line, ensure_fd_limit, Out};

/// Everything set up before the first message: accounts, connections.
struct Setup {
    url: String,
    ep: Arc<Endpoint>,
    /// chat: the guests' tokens (empty for the other targets).
    tokens: Vec<Arc<str>>,
    server: Server,
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
    let url = c
        .url
        .clone()
        .unwrap_or_else(|| c.target.default_url().to_string());
    let ep = Arc::new(Endpoint::resolve(c.target, &url, c.source_ips).await?);
    let server = Server::new(c.server_pid)?;
    ensure_fd_limit(total, out)?;
    let (tokens, users) = chat_tokens(&ep, c, total, out).await?;
    let guests = tokens.clone().unwrap_or_default();
    let members = (0..total)
        .map(|i| {
            let (room, k) = (i / per_room, i % per_room);
            Member {
                index: i,
                room,
                sender: (k < senders).then_some(room * senders + k),
                token: tokens.as_ref().map(|t| t[i % t.len()].clone()),
            }
        })
        .collect();
    out.progress(&format!(
        "opening {total} connections to {} ({} rooms × {per_room})",
        c.target.name(),
        rooms
    ));
    let cfg = FleetConfig {
        kind: c.target,
        rooms,
        senders_per_room: senders,
        size: shape.size as usize,
        concurrency: c.concurrency as usize,
        connect_timeout: target::timeout_secs(c.connect_timeout),
    };
    let fleet = Fleet::start(ep.clone(), &cfg, members, start);
    let (open, failed, connect_secs) = fleet.wait_connected(out).await;
    if open == 0 {
        let reasons = lock_reasons(&fleet);
        fleet.finish().await;
        return Err(format!("no connection could be opened: {reasons}"));
    }
    Ok((
        Setup {
            url,
            ep,
            tokens: guests,
            server,
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

/// chat: sign in the guests the connections are spread over (`--users`, default one per
/// connection up to 5000). Other targets need no accounts.
pub async fn chat_tokens(
    ep: &Arc<Endpoint>,
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
    let tokens = load::sign_in(ep.clone(), users, c.concurrency as usize, out).await?;
    Ok((Some(tokens), users))
}

fn self_sample() -> Option<ProcSample> {
    procstat::sample("self").ok()
}

/// Server CPU, memory, and the benchmark's own CPU over one window.
struct Usage {
    server_cpu: Option<f64>,
    server_end: Option<ProcSample>,
    bench_cpu: Option<f64>,
    secs: f64,
}

impl Usage {
    fn between(
        s0: Option<ProcSample>,
        s1: Option<ProcSample>,
        b0: Option<ProcSample>,
        b1: Option<ProcSample>,
        secs: f64,
    ) -> Usage {
        Usage {
            server_cpu: s0.zip(s1).map(|(a, b)| b.cpu_secs - a.cpu_secs),
            server_end: s1,
            bench_cpu: b0.zip(b1).map(|(a, b)| b.cpu_secs - a.cpu_secs),
            secs,
        }
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
    usage: Usage,
}

impl Window {
    fn lost(&self) -> i64 {
        self.expected as i64 - self.agg.received as i64
    }

    fn delivered_per_sec(&self) -> f64 {
        self.agg.recv_in_window as f64 / self.secs.max(1e-9)
    }

    fn json(&self, kind: TargetKind) -> Value {
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
    let (s0, b0, t0) = (s.server.sample(), self_sample(), Instant::now());
    fleet.set(Phase::Send { tag, rate });
    tokio::time::sleep_until((start + Duration::from_nanos(w1)).into()).await;
    let (s1, b1, t1) = (s.server.sample(), self_sample(), Instant::now());
    fleet.set(Phase::Pause);
    tokio::time::sleep(Duration::from_secs_f64(drain)).await;
    let agg = fleet.collect(tag).await;
    let expected = fleet.expected(&agg);
    Window {
        rate,
        secs,
        agg,
        expected,
        usage: Usage::between(s0, s1, b0, b1, (t1 - t0).as_secs_f64()),
    }
}

fn config_json(c: &Common, shape: &LoadShape, users: usize) -> Value {
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
        "server_pid": c.server_pid,
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
    if let (Some(cpu), Some(pct)) = (u.bench_cpu, u.bench_pct()) {
        t.row(
            "bench CPU",
            format!("{cpu:.2} s ({pct:.0}% of a core; {threads} thread(s))"),
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
    let late = shared.totals.lock().map(|t| t.late).unwrap_or(0);

    if !out.json_only {
        let mut t = Table::default();
        header(&mut t, "fanout", c, &s.url);
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
        header(&mut t, "ramp", c, &s.url);
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
