//! The connections: one task per WebSocket, steered through phases by the scenario, each
//! counting into its own small buckets that are merged when a phase is collected (no shared
//! lock per message).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::cli::{TargetKind, CHAT_SERVER_HINT};
use crate::nodes::{self, Ledger, Verdict};
use crate::payload::{self, Stamp};
use crate::target::{self, Endpoint, Incoming};
use crate::ws::{WsConn, WsError};
use crate::Out;

/// Highest latency a histogram tracks (larger values count as this), microseconds.
const MAX_US: u64 = 60_000_000;
/// Per-connection histograms: 2 significant digits keeps them at ~10 KiB each.
const CONN_SIGFIG: u8 = 2;

pub fn conn_hist() -> Histogram<u32> {
    // Constant, valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, MAX_US, CONN_SIGFIG).expect("valid histogram bounds")
}

pub fn agg_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, CONN_SIGFIG).expect("valid histogram bounds")
}

fn merge(into: &mut Histogram<u64>, from: &Histogram<u32>) {
    for v in from.iter_recorded() {
        into.saturating_record_n(v.value_iterated_to(), u64::from(v.count_at_value()));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection task must not take the figures of the others with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What every connection should be doing now. Tags: 0 = warm-up, then 1, 2, ... for the
/// measured window (fanout) or the steps (ramp).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Connect,
    /// Senders send at `rate` messages/s, tagging their messages `tag`.
    Send {
        tag: u64,
        rate: f64,
    },
    /// Senders stop; everyone keeps reading.
    Pause,
    /// Hand the figures of `tag` (and the receive window) to the scenario.
    Collect(u64),
    /// Close and stop.
    Finish,
}

/// One connection's place in the load.
#[derive(Debug, Clone)]
pub struct Member {
    pub index: usize,
    pub room: usize,
    /// Global sender index, for the first `senders` members of each room.
    pub sender: Option<usize>,
    pub token: Option<Arc<str>>,
    /// The node (index into `--url`) this connection talks to.
    pub node: usize,
}

/// Figures of one tag, summed over connections.
pub struct TagAgg {
    /// Deliveries of messages of this tag (first copies only).
    pub received: u64,
    pub dup: u64,
    pub reordered: u64,
    /// Deliveries (any tag) received inside the window collected with this tag.
    pub recv_in_window: u64,
    /// Messages of this tag sent, per room.
    pub sent_per_room: Vec<u64>,
    /// The same, by the sender's node: index room × nodes + node.
    pub sent_per_room_node: Vec<u64>,
    pub acks: u64,
    /// chat: `error` frames answering a send (they carry its cid).
    pub send_errors: u64,
    pub lat: Histogram<u64>,
    pub ack_lat: Histogram<u64>,
    /// Connections that handed in this tag.
    pub flushed: usize,
    /// `recv_in_window`, by the receiving connection's node.
    pub recv_per_node: Vec<u64>,
    /// Of `received`: deliveries to a connection on another node than the sender's.
    pub received_cross: u64,
    /// Latency of those cross-node deliveries only.
    pub lat_cross: Histogram<u64>,
}

impl TagAgg {
    fn new(rooms: usize, nodes: usize) -> TagAgg {
        TagAgg {
            received: 0,
            dup: 0,
            reordered: 0,
            recv_in_window: 0,
            sent_per_room: vec![0; rooms],
            sent_per_room_node: vec![0; rooms * nodes],
            acks: 0,
            send_errors: 0,
            lat: agg_hist(),
            ack_lat: agg_hist(),
            flushed: 0,
            recv_per_node: vec![0; nodes],
            received_cross: 0,
            lat_cross: agg_hist(),
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent_per_room.iter().sum()
    }
}

/// Counts over the whole run, handed in when a connection ends.
#[derive(Default, Debug)]
pub struct Totals {
    /// Deliveries that came after their tag was collected (counted lost there).
    pub late: u64,
    pub late_acks: u64,
    /// Payloads from a sender of another room.
    pub foreign: u64,
    /// Frames the benchmark could not make sense of.
    pub unparsed: u64,
    /// Engine.IO pings answered.
    pub pings: u64,
    /// `error` frames by code.
    pub error_frames: BTreeMap<String, u64>,
}

/// Connection failures and disconnections, by reason (the first 20 distinct reasons).
#[derive(Default, Debug)]
pub struct ErrorLog {
    pub by_reason: BTreeMap<String, u64>,
}

impl ErrorLog {
    fn add(&mut self, reason: String) {
        if self.by_reason.len() < 20 || self.by_reason.contains_key(&reason) {
            *self.by_reason.entry(reason).or_insert(0) += 1;
        } else {
            *self
                .by_reason
                .entry("(other reasons)".to_string())
                .or_insert(0) += 1;
        }
    }
}

pub struct Shared {
    pub start: std::time::Instant,
    pub kind: TargetKind,
    pub size: usize,
    pub senders_per_room: usize,
    /// Number of nodes (`--url` given), at least 1.
    pub nodes: usize,
    /// Receive-time window, nanoseconds since `start`.
    win_start: AtomicU64,
    win_end: AtomicU64,
    pub ready: AtomicUsize,
    pub failed: AtomicUsize,
    pub alive: AtomicUsize,
    pub disconnected: AtomicUsize,
    pub room_alive: Vec<AtomicUsize>,
    /// Connections alive per room and node: index room × nodes + node.
    pub room_node_alive: Vec<AtomicUsize>,
    pub agg: Mutex<Vec<TagAgg>>,
    pub totals: Mutex<Totals>,
    pub connect_errors: Mutex<ErrorLog>,
    pub disconnect_reasons: Mutex<ErrorLog>,
    /// Time to open + authenticate + join, per connection (microseconds).
    pub connect_lat: Mutex<Histogram<u64>>,
}

impl Shared {
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn agg_for(&self, guard: &mut Vec<TagAgg>, tag: u64) -> usize {
        let i = tag as usize;
        while guard.len() <= i {
            guard.push(TagAgg::new(self.room_alive.len(), self.nodes));
        }
        i
    }
}

/// A connection's figures for the tag it is in.
struct Bucket {
    tag: u64,
    received: u64,
    dup: u64,
    reordered: u64,
    sent: u64,
    acks: u64,
    send_errors: u64,
    lat: Option<Histogram<u32>>,
    ack_lat: Option<Histogram<u32>>,
    cross: u64,
    lat_cross: Option<Histogram<u32>>,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            tag: 0,
            received: 0,
            dup: 0,
            reordered: 0,
            sent: 0,
            acks: 0,
            send_errors: 0,
            lat: None,
            ack_lat: None,
            cross: 0,
            lat_cross: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.received + self.dup + self.reordered + self.sent + self.acks + self.send_errors == 0
    }

    /// Adds the bucket to the aggregate of its tag and empties it for `next_tag`.
    fn flush(&mut self, shared: &Shared, room: usize, node: usize, next_tag: u64) {
        if !self.is_empty() {
            let mut aggs = lock(&shared.agg);
            let i = shared.agg_for(&mut aggs, self.tag);
            let a = &mut aggs[i];
            a.received += self.received;
            a.dup += self.dup;
            a.reordered += self.reordered;
            a.sent_per_room[room] += self.sent;
            a.sent_per_room_node[room * shared.nodes + node] += self.sent;
            a.acks += self.acks;
            a.send_errors += self.send_errors;
            if let Some(h) = &self.lat {
                merge(&mut a.lat, h);
            }
            if let Some(h) = &self.ack_lat {
                merge(&mut a.ack_lat, h);
            }
            a.received_cross += self.cross;
            if let Some(h) = &self.lat_cross {
                merge(&mut a.lat_cross, h);
            }
        }
        self.tag = next_tag;
        self.received = 0;
        self.dup = 0;
        self.reordered = 0;
        self.sent = 0;
        self.acks = 0;
        self.send_errors = 0;
        self.cross = 0;
        // Keep the allocations for the next tag.
        if let Some(h) = &mut self.lat {
            h.reset();
        }
        if let Some(h) = &mut self.ack_lat {
            h.reset();
        }
        if let Some(h) = &mut self.lat_cross {
            h.reset();
        }
    }
}

/// Everything one connection task keeps besides its socket.
struct ConnState {
    room: usize,
    node: usize,
    bucket: Bucket,
    ledger: Ledger,
    recv_in_window: u64,
    totals: Totals,
}

impl ConnState {
    fn advance_to(&mut self, shared: &Shared, tag: u64) {
        if tag > self.bucket.tag {
            self.bucket.flush(shared, self.room, self.node, tag);
        }
    }

    fn collect(&mut self, shared: &Shared, tag: u64) {
        if self.bucket.tag <= tag {
            self.bucket.flush(shared, self.room, self.node, tag + 1);
        }
        let mut aggs = lock(&shared.agg);
        let i = shared.agg_for(&mut aggs, tag);
        aggs[i].recv_in_window += self.recv_in_window;
        aggs[i].recv_per_node[self.node] += self.recv_in_window;
        aggs[i].flushed += 1;
        self.recv_in_window = 0;
    }

    fn on_delivery(&mut self, shared: &Shared, s: Stamp, seq: Option<u64>, now: u64) {
        let first = (self.room * shared.senders_per_room) as u64;
        let Some(local) = s
            .sender
            .checked_sub(first)
            .filter(|l| *l < shared.senders_per_room as u64)
        else {
            self.totals.foreign += 1;
            return;
        };
        let verdict = self.ledger.observe(local as usize, s.n, seq);
        if verdict == Verdict::Duplicate {
            if s.tag == self.bucket.tag {
                self.bucket.dup += 1;
            }
            return;
        }
        if now >= shared.win_start.load(Relaxed) && now < shared.win_end.load(Relaxed) {
            self.recv_in_window += 1;
        }
        if s.tag > self.bucket.tag {
            self.advance_to(shared, s.tag);
        }
        if s.tag < self.bucket.tag {
            // Tag 0 (warm-up) stragglers are expected at the switch to the measured window;
            // a measured tag arriving after it was collected counts as lost there.
            if s.tag > 0 {
                self.totals.late += 1;
            }
            return;
        }
        if verdict == Verdict::Reordered {
            self.bucket.reordered += 1;
        }
        self.bucket.received += 1;
        let us = now.saturating_sub(s.nanos) / 1000;
        self.bucket
            .lat
            .get_or_insert_with(conn_hist)
            .saturating_record(us);
        if shared.nodes > 1 && nodes::node_of(self.room, local as usize, shared.nodes) != self.node
        {
            self.bucket.cross += 1;
            self.bucket
                .lat_cross
                .get_or_insert_with(conn_hist)
                .saturating_record(us);
        }
    }

    fn on_ack(&mut self, cid: &[u8], now: u64) {
        let Some((tag, nanos)) = payload::decode_cid(cid) else {
            self.totals.unparsed += 1;
            return;
        };
        if tag == self.bucket.tag {
            self.bucket.acks += 1;
            let us = now.saturating_sub(nanos) / 1000;
            self.bucket
                .ack_lat
                .get_or_insert_with(conn_hist)
                .saturating_record(us);
        } else if tag > 0 && tag < self.bucket.tag {
            self.totals.late_acks += 1;
        }
    }

    /// Counts one incoming text frame; returns whether it was an Engine.IO ping (to answer).
    fn on_frame(&mut self, shared: &Shared, frame: &[u8], now: u64) -> bool {
        match target::parse(shared.kind, frame) {
            Incoming::Payload(p) => match payload::decode(&p) {
                Some(s) => {
                    let seq = match shared.kind {
                        TargetKind::Chat => target::chat_seq(frame),
                        _ => None,
                    };
                    self.on_delivery(shared, s, seq, now)
                }
                None => self.totals.unparsed += 1,
            },
            Incoming::Ack(cid) => self.on_ack(&cid, now),
            Incoming::Error { code, cid, .. } => self.on_error(&code, cid.as_deref()),
            Incoming::Ping => {
                self.totals.pings += 1;
                return true;
            }
            Incoming::Unparsed => self.totals.unparsed += 1,
            _ => {}
        }
        false
    }

    fn on_error(&mut self, code: &str, cid: Option<&str>) {
        *self
            .totals
            .error_frames
            .entry(code.to_string())
            .or_insert(0) += 1;
        if let Some((tag, _)) = cid.and_then(|c| payload::decode_cid(c.as_bytes())) {
            if tag == self.bucket.tag {
                self.bucket.send_errors += 1;
            }
        }
    }
}

/// A paced send schedule; senders are spread over the period so rooms do not fire in lockstep.
fn schedule(rate: f64, sender: usize) -> Interval {
    let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_micros(1));
    let spread = (sender as f64 * 0.618_033_988_749_895).fract();
    let first = Instant::now() + period.mul_f64(spread);
    let mut iv = tokio::time::interval_at(first, period);
    iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
    iv
}

async fn next_tick(iv: &mut Option<Interval>) {
    match iv {
        Some(iv) => {
            iv.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Why a connection loop ended.
enum End {
    Finish,
    Lost(String),
}

async fn run_member(
    m: Member,
    ep: Arc<Endpoint>,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    mut phase: watch::Receiver<Phase>,
    connect_timeout: Duration,
) {
    let room_name = target::room_name(m.room);
    let ws = {
        let Ok(_permit) = gate.acquire().await else {
            return;
        };
        let began = Instant::now();
        let name = format!("bench-{}", m.index);
        let attempt = ep.connect_join(
            ep.source_for(m.index),
            m.token.as_deref(),
            &name,
            &room_name,
        );
        match tokio::time::timeout(connect_timeout, attempt).await {
            Ok(Ok(ws)) => {
                let us = began.elapsed().as_micros() as u64;
                lock(&shared.connect_lat).saturating_record(us);
                ws
            }
            Ok(Err(e)) => {
                lock(&shared.connect_errors).add(e);
                shared.failed.fetch_add(1, Relaxed);
                return;
            }
            Err(_) => {
                lock(&shared.connect_errors).add(format!(
                    "no connection within {} s (open + authenticate + join)",
                    connect_timeout.as_secs_f64()
                ));
                shared.failed.fetch_add(1, Relaxed);
                return;
            }
        }
    };
    shared.alive.fetch_add(1, Relaxed);
    shared.room_alive[m.room].fetch_add(1, Relaxed);
    shared.room_node_alive[m.room * shared.nodes + m.node].fetch_add(1, Relaxed);
    shared.ready.fetch_add(1, Relaxed);

    let mut st = ConnState {
        room: m.room,
        node: m.node,
        bucket: Bucket::new(),
        ledger: Ledger::new(shared.senders_per_room),
        recv_in_window: 0,
        totals: Totals::default(),
    };
    let end = member_loop(&m, &shared, ws, &room_name, &mut st, &mut phase).await;
    st.bucket.flush(&shared, m.room, m.node, u64::MAX);
    {
        let mut t = lock(&shared.totals);
        t.late += st.totals.late;
        t.late_acks += st.totals.late_acks;
        t.foreign += st.totals.foreign;
        t.unparsed += st.totals.unparsed;
        t.pings += st.totals.pings;
        for (code, n) in st.totals.error_frames {
            *t.error_frames.entry(code).or_insert(0) += n;
        }
    }
    if let End::Lost(reason) = end {
        shared.disconnected.fetch_add(1, Relaxed);
        lock(&shared.disconnect_reasons).add(reason);
    }
    shared.room_alive[m.room].fetch_sub(1, Relaxed);
    shared.room_node_alive[m.room * shared.nodes + m.node].fetch_sub(1, Relaxed);
    shared.alive.fetch_sub(1, Relaxed);
}

async fn member_loop(
    m: &Member,
    shared: &Shared,
    mut ws: WsConn,
    room_name: &str,
    st: &mut ConnState,
    phase: &mut watch::Receiver<Phase>,
) -> End {
    let kind = shared.kind;
    let mut ticker: Option<Interval> = None;
    let mut rate = 0.0;
    let mut send_tag = 0;
    let mut n: u64 = 0;
    // The frame being sent, reused.
    let mut frame = Vec::new();
    loop {
        let mut pings = 0;
        let mut now = None;
        tokio::select! {
            // Phase changes first: a tick must not send under the previous tag.
            biased;
            changed = phase.changed() => {
                if changed.is_err() {
                    return End::Finish;
                }
                let p = *phase.borrow_and_update();
                match p {
                    Phase::Connect => {}
                    Phase::Send { tag, rate: r } => {
                        st.advance_to(shared, tag);
                        send_tag = tag;
                        if let Some(g) = m.sender {
                            if ticker.is_none() || r != rate {
                                ticker = Some(schedule(r, g));
                                rate = r;
                            }
                        }
                    }
                    Phase::Pause => ticker = None,
                    Phase::Collect(tag) => {
                        ticker = None;
                        st.collect(shared, tag);
                    }
                    Phase::Finish => {
                        ws.queue_close();
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.flush()).await;
                        return End::Finish;
                    }
                }
            }
            _ = next_tick(&mut ticker) => {
                let Some(sender) = m.sender else { continue };
                // The bucket may have moved on already (a delivery of the next tag came
                // first): the message is counted, and so must be tagged, where it is sent.
                let tag = send_tag.max(st.bucket.tag);
                let stamp = Stamp { sender: sender as u64, n, tag, nanos: shared.now_ns() };
                n += 1;
                frame.clear();
                target::write_send(&mut frame, kind, room_name, stamp, shared.size);
                ws.queue_text(&frame);
                st.bucket.sent += 1;
            }
            read = ws.read(|f| {
                // One clock read per batch: the frames of one read arrived together.
                let now = *now.get_or_insert_with(|| shared.now_ns());
                if st.on_frame(shared, f, now) {
                    pings += 1;
                }
                ControlFlow::Continue(())
            }) => {
                if let Err(e) = read {
                    // Echo a close before going.
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.flush()).await;
                    return End::Lost(match e {
                        WsError::Closed(Some((code, reason))) => {
                            format!("server closed: {code} {reason}")
                        }
                        WsError::Closed(None) => "server closed".to_string(),
                        WsError::Eof => "connection closed".to_string(),
                        e => format!("connection error: {e}"),
                    });
                }
            }
        }
        for _ in 0..pings {
            ws.queue_text(b"3");
        }
        // Sends and pongs go out here, outside `select!`, so no write is cut in half.
        if let Err(e) = ws.flush().await {
            return End::Lost(format!("send failed: {e}"));
        }
    }
}

/// All the connections of a scenario and the controls over them.
pub struct Fleet {
    pub shared: Arc<Shared>,
    phase: watch::Sender<Phase>,
    tasks: JoinSet<()>,
    pub total: usize,
}

pub struct FleetConfig {
    pub kind: TargetKind,
    pub rooms: usize,
    pub senders_per_room: usize,
    pub size: usize,
    pub concurrency: usize,
    pub connect_timeout: Duration,
}

impl Fleet {
    /// Spawns one task per member; they connect `concurrency` at a time, each to the node
    /// (`eps[member.node]`) it belongs to.
    pub fn start(
        eps: &[Arc<Endpoint>],
        cfg: &FleetConfig,
        members: Vec<Member>,
        start: std::time::Instant,
    ) -> Fleet {
        let shared = Arc::new(Shared {
            start,
            kind: cfg.kind,
            size: cfg.size,
            senders_per_room: cfg.senders_per_room,
            nodes: eps.len().max(1),
            win_start: AtomicU64::new(u64::MAX),
            win_end: AtomicU64::new(u64::MAX),
            ready: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
            disconnected: AtomicUsize::new(0),
            room_alive: (0..cfg.rooms).map(|_| AtomicUsize::new(0)).collect(),
            room_node_alive: (0..cfg.rooms * eps.len().max(1))
                .map(|_| AtomicUsize::new(0))
                .collect(),
            agg: Mutex::new(Vec::new()),
            totals: Mutex::new(Totals::default()),
            connect_errors: Mutex::new(ErrorLog::default()),
            disconnect_reasons: Mutex::new(ErrorLog::default()),
            connect_lat: Mutex::new(agg_hist()),
        });
        let (tx, rx) = watch::channel(Phase::Connect);
        let gate = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        let total = members.len();
        let mut tasks = JoinSet::new();
        for m in members {
            let ep = eps[m.node.min(eps.len() - 1)].clone();
            tasks.spawn(run_member(
                m,
                ep,
                shared.clone(),
                gate.clone(),
                rx.clone(),
                cfg.connect_timeout,
            ));
        }
        Fleet {
            shared,
            phase: tx,
            tasks,
            total,
        }
    }

    /// Waits until every connection is open or has failed; returns (ok, failed, seconds).
    pub async fn wait_connected(&self, out: &Out) -> (usize, usize, f64) {
        let began = Instant::now();
        let mut last_report = Instant::now();
        loop {
            let ok = self.shared.ready.load(Relaxed);
            let failed = self.shared.failed.load(Relaxed);
            if ok + failed >= self.total {
                let secs = began.elapsed().as_secs_f64();
                out.progress(&format!(
                    "connected {ok}/{} in {secs:.2} s ({failed} failed)",
                    self.total
                ));
                return (ok, failed, secs);
            }
            if last_report.elapsed() >= Duration::from_secs(2) {
                last_report = Instant::now();
                out.progress(&format!(
                    "connecting: {ok}/{} open, {failed} failed",
                    self.total
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn set(&self, p: Phase) {
        self.phase.send_replace(p);
    }

    /// Sets the receive-time window counted into `recv_in_window`.
    pub fn set_window(&self, start_ns: u64, end_ns: u64) {
        self.shared.win_start.store(start_ns, Relaxed);
        self.shared.win_end.store(end_ns, Relaxed);
    }

    /// Asks every connection for the figures of `tag` and waits (at most 10 s) until all
    /// living ones have handed them in.
    pub async fn collect(&self, tag: u64) -> TagAgg {
        self.set(Phase::Collect(tag));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = {
                let mut aggs = lock(&self.shared.agg);
                let i = self.shared.agg_for(&mut aggs, tag);
                aggs[i].flushed >= self.shared.alive.load(Relaxed)
            };
            if done || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut aggs = lock(&self.shared.agg);
        let i = self.shared.agg_for(&mut aggs, tag);
        std::mem::replace(
            &mut aggs[i],
            TagAgg::new(self.shared.room_alive.len(), self.shared.nodes),
        )
    }

    /// Deliveries each room's messages should reach (connections alive in it now, minus the
    /// sender for targets that exclude it).
    pub fn expected(&self, agg: &TagAgg) -> u64 {
        let own = u64::from(target::delivers_to_sender(self.shared.kind));
        agg.sent_per_room
            .iter()
            .zip(&self.shared.room_alive)
            .map(|(sent, alive)| {
                let members = alive.load(Relaxed) as u64;
                sent * (members + own).saturating_sub(1)
            })
            .sum()
    }

    /// Of [`Fleet::expected`], the deliveries to a connection on another node than the
    /// sender's: each room's messages sent on node n times its connections alive on other
    /// nodes.
    pub fn expected_cross(&self, agg: &TagAgg) -> u64 {
        let alive: Vec<u64> = self
            .shared
            .room_node_alive
            .iter()
            .map(|a| a.load(Relaxed) as u64)
            .collect();
        nodes::expected_cross(&agg.sent_per_room_node, &alive, self.shared.nodes)
    }

    pub fn alive(&self) -> usize {
        self.shared.alive.load(Relaxed)
    }

    /// Closes every connection and waits (at most 10 s) for the tasks to end.
    pub async fn finish(mut self) -> Arc<Shared> {
        self.set(Phase::Finish);
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), all_done)
            .await
            .is_err()
        {
            self.tasks.abort_all();
        }
        self.shared
    }
}

/// Signs in `count` guests (chat), `concurrency` at a time, guest i on node i mod N (the nodes
/// share a database and a JWT secret, so any node's token is good on every node); fails on the
/// first refusal.
pub async fn sign_in(
    eps: &[Arc<Endpoint>],
    count: usize,
    concurrency: usize,
    out: &Out,
) -> Result<Vec<Arc<str>>, String> {
    let began = Instant::now();
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for i in 0..count {
        let (ep, gate) = (
            eps[nodes::node_of_connection(i, eps.len())].clone(),
            gate.clone(),
        );
        set.spawn(async move {
            let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
            let name = format!("bench-{i}");
            let token = tokio::time::timeout(
                Duration::from_secs(30),
                crate::http::guest_token(&ep, ep.source_for(i), &name),
            )
            .await
            .map_err(|_| format!("guest sign-in of {name}: no reply within 30 s"))??;
            Ok::<_, String>((i, token))
        });
    }
    let mut tokens: Vec<Option<Arc<str>>> = vec![None; count];
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok((i, t))) => tokens[i] = Some(Arc::from(t)),
            Ok(Err(e)) => {
                set.abort_all();
                return Err(e);
            }
            Err(e) => {
                set.abort_all();
                return Err(format!("sign-in task failed: {e}"));
            }
        }
    }
    out.progress(&format!(
        "signed in {count} guests in {:.2} s",
        began.elapsed().as_secs_f64()
    ));
    tokens
        .into_iter()
        .map(|t| t.ok_or_else(|| "a sign-in did not finish".to_string()))
        .collect()
}

/// Hint when the chat server refused sends for their rate.
pub fn rate_hint(kind: TargetKind, totals: &Totals) -> Option<String> {
    (kind == TargetKind::Chat && totals.error_frames.contains_key("rate_limited"))
        .then(|| format!("WARNING: the server answered rate_limited: {CHAT_SERVER_HINT}"))
}
