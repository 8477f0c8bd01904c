//! What the server counts, for `GET /metrics` (Prometheus text format). Every place that counts
//! calls one function of this module, in one line, where the thing happens: the chat server
//! when it stores, delivers and evicts, the error paths when they refuse. The scrape
//! (`api::metrics`) asks the chat server for the gauges it knows from memory ([`Gauges`]) and
//! renders everything with [`render`].
//!
//! Recording goes through `metrics-exporter-prometheus`'s recorder, which this module owns in a
//! `OnceLock` instead of installing it as the process-wide `metrics` recorder: one process may
//! run several servers (the integration tests do), and nothing here depends on who else might
//! install a global recorder. The counters are therefore per process, not per server; a test
//! reads them as deltas. The handles of the hot-path metrics are registered once, so recording
//! a commit costs an atomic add, not a registry lookup.
//!
//! This module depends on nothing of the server: it sits below every other one.

pub mod process;

use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Open connections by role (gauge, label `role`).
pub const CONNECTIONS: &str = "chat_connections";
/// Users with at least one connection (gauge).
pub const ONLINE_USERS: &str = "chat_online_users";
/// Rooms with at least one connection in them (gauge).
pub const LIVE_ROOMS: &str = "chat_live_rooms";
/// Messages stored (counter).
pub const MESSAGES_STORED: &str = "chat_messages_stored_total";
/// Frames handed to connections (counter).
pub const DELIVERIES: &str = "chat_deliveries_total";
/// From a `send` reaching the chat server to its ack being handed out (histogram, seconds).
pub const ACK_LATENCY: &str = "chat_ack_latency_seconds";
/// Messages per commit (histogram).
pub const STORE_BATCH_SIZE: &str = "chat_store_batch_size";
/// Failed database operations (counter, label `operation`).
pub const DATABASE_ERRORS: &str = "chat_database_errors_total";
/// Refusals by error code (counter, label `code`).
pub const REFUSALS: &str = "chat_refusals_total";
/// Messages waiting for the next commit (gauge).
pub const OUTBOX_QUEUED: &str = "chat_outbox_queued";
/// Most messages that may wait for a commit (gauge).
pub const OUTBOX_CAPACITY: &str = "chat_outbox_capacity";
/// Joins and leaves on their way to the database (gauge).
pub const MEMBERSHIP_PENDING: &str = "chat_membership_changes_pending";

/// Webhook attempts by outcome: delivered, retried, failed (given up) (counter, label
/// `outcome`).
pub const WEBHOOK_DELIVERIES: &str = "chat_webhook_deliveries_total";
/// Webhook events waiting for delivery in the outbox table (gauge).
pub const WEBHOOK_OUTBOX: &str = "chat_webhook_outbox";
/// The outcomes of [`WEBHOOK_DELIVERIES`], shown at 0 from the start.
pub const WEBHOOK_OUTCOMES: [&str; 3] = ["delivered", "retried", "failed"];

/// Every metric name `GET /metrics` shows, the recorder's and the process's.
pub const ALL: [&str; 17] = [
    CONNECTIONS,
    ONLINE_USERS,
    LIVE_ROOMS,
    MESSAGES_STORED,
    DELIVERIES,
    ACK_LATENCY,
    STORE_BATCH_SIZE,
    DATABASE_ERRORS,
    REFUSALS,
    OUTBOX_QUEUED,
    OUTBOX_CAPACITY,
    MEMBERSHIP_PENDING,
    WEBHOOK_DELIVERIES,
    WEBHOOK_OUTBOX,
    process::CPU_SECONDS,
    process::RESIDENT_MEMORY,
    process::OPEN_FDS,
];

/// Upper bounds of the ack latency buckets, in seconds: the target is a p99 under 10 ms.
const ACK_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the batch size buckets (the largest batch is 2048 by default).
const BATCH_BUCKETS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2048.0, 8192.0,
];
/// The refusal codes known in advance: every `ErrorCode` (its code as sent; a test in
/// `error.rs` checks that none is missing) and `slow_consumer`. Their counters are
/// registered once, so [`refused`] costs an atomic add, and they are shown (as 0) before the
/// first one happens, so that a rate over them works from the start. Any other label takes a
/// registry lookup and appears when first counted.
pub const REFUSAL_CODES: [&str; 16] = [
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "too_large",
    "rate_limited",
    "internal",
    "unavailable",
    "shutting_down",
    "method_not_allowed",
    "too_many_rooms",
    "not_member",
    "banned",
    "too_many_rooms_created",
    "slow_consumer",
];
/// How often histogram samples are folded into their buckets between scrapes (else they
/// would pile up in memory on a server nobody scrapes).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder and the handles of the metrics counted on hot paths.
struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    messages_stored: Counter,
    deliveries: Counter,
    ack_latency: Histogram,
    store_batch_size: Histogram,
    /// The counter of each of [`REFUSAL_CODES`], in that order.
    refusals: Vec<(&'static str, Counter)>,
    /// A scrape sets the chat server's gauges and renders them in one step: two servers of
    /// one process (tests) scraped at once must not see each other's.
    scrape: Mutex<()>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()))
}

impl Metrics {
    fn get() -> &'static Metrics {
        METRICS.get_or_init(|| {
            let metrics = Metrics::build();
            let handle = metrics.handle.clone();
            let upkeep = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    handle.run_upkeep();
                });
            if let Err(e) = upkeep {
                log::warn!(
                    "metrics: no upkeep thread ({e}); histograms are folded at scrapes only"
                );
            }
            metrics
        })
    }

    fn build() -> Metrics {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(ACK_LATENCY.into()), &ACK_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(STORE_BATCH_SIZE.into()), &BATCH_BUCKETS)
            })
            .unwrap_or_else(|e| {
                log::warn!("metrics: default histograms ({e})");
                PrometheusBuilder::new()
            });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        describe(&recorder);
        let counter =
            |name: &'static str| recorder.register_counter(&Key::from_name(name), &metadata());
        let histogram =
            |name: &'static str| recorder.register_histogram(&Key::from_name(name), &metadata());
        let mut metrics = Metrics {
            messages_stored: counter(MESSAGES_STORED),
            deliveries: counter(DELIVERIES),
            ack_latency: histogram(ACK_LATENCY),
            store_batch_size: histogram(STORE_BATCH_SIZE),
            refusals: Vec::new(),
            scrape: Mutex::new(()),
            handle,
            recorder,
        };
        // Shown from the first scrape on, at zero.
        metrics.messages_stored.increment(0);
        metrics.deliveries.increment(0);
        metrics.refusals = REFUSAL_CODES
            .iter()
            .map(|code| {
                let counter = metrics.labelled_counter(REFUSALS, Label::new("code", *code));
                counter.increment(0);
                (*code, counter)
            })
            .collect();
        for outcome in WEBHOOK_OUTCOMES {
            let label = Label::new("outcome", outcome);
            metrics
                .labelled_counter(WEBHOOK_DELIVERIES, label)
                .increment(0);
        }
        metrics.gauge(WEBHOOK_OUTBOX, vec![]).set(0.0);
        let store = Label::new("operation", "store");
        metrics
            .labelled_counter(DATABASE_ERRORS, store)
            .increment(0);
        metrics
    }

    fn labelled_counter(&self, name: &'static str, label: Label) -> Counter {
        let key = Key::from_parts(name, vec![label]);
        self.recorder.register_counter(&key, &metadata())
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &metadata())
    }
}

/// What kind of metric a HELP text describes.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The HELP texts (and units) of the recorder's metrics.
fn describe(recorder: &PrometheusRecorder) {
    let texts: [(&'static str, Kind, &'static str); 14] = [
        (CONNECTIONS, Kind::Gauge, "Open WebSocket connections, by the role of their user."),
        (ONLINE_USERS, Kind::Gauge, "Users with at least one open connection."),
        (LIVE_ROOMS, Kind::Gauge, "Rooms with at least one connection in them."),
        (MESSAGES_STORED, Kind::Counter, "Messages stored (resends of a stored message not counted)."),
        (DELIVERIES, Kind::Counter, "Frames handed to connections by room broadcasts and commits (messages, acks, presence, typing, staff activity)."),
        (ACK_LATENCY, Kind::Histogram, "Seconds from a send reaching the chat server to its ack being handed to the connection (after the commit: durable)."),
        (STORE_BATCH_SIZE, Kind::Histogram, "Messages per commit (one transaction)."),
        (DATABASE_ERRORS, Kind::Counter, "Failed database operations, by operation (store: a commit of messages; api: a REST request's query; others: the chat server's reads and membership changes)."),
        (REFUSALS, Kind::Counter, "Requests refused, by error code: HTTP error responses and socket error frames, and slow_consumer for connections closed because they did not read their frames."),
        (OUTBOX_QUEUED, Kind::Gauge, "Messages waiting for the next commit (not counting the one in flight)."),
        (OUTBOX_CAPACITY, Kind::Gauge, "Most messages that may wait for a commit; past it senders are told unavailable."),
        (MEMBERSHIP_PENDING, Kind::Gauge, "Joins and leaves sent to the history actor and not yet answered, or waiting behind another of the same user and room."),
        (WEBHOOK_DELIVERIES, Kind::Counter, "Webhook attempts, by outcome: delivered (2xx), retried (5xx, timeout, no connection; tried again with backoff), failed (3xx or 4xx: given up)."),
        (WEBHOOK_OUTBOX, Kind::Gauge, "Webhook events waiting in the outbox table for delivery (due or backing off), as the delivery worker last counted them."),
    ];
    for (name, kind, help) in texts {
        let (name, help) = (name.into(), help.into());
        match kind {
            Kind::Counter => recorder.describe_counter(name, None, help),
            Kind::Gauge => recorder.describe_gauge(name, None, help),
            Kind::Histogram => recorder.describe_histogram(name, None, help),
        }
    }
}

/// `n` messages of a commit were stored.
pub fn messages_stored(n: u64) {
    Metrics::get().messages_stored.increment(n);
}

/// `n` frames were handed to connections (one call per commit or broadcast, never per frame).
pub fn delivered(n: u64) {
    Metrics::get().deliveries.increment(n);
}

/// The acks of messages that reached the chat server at these instants are being handed out
/// now.
pub fn acks_handed_out(arrived: &[Instant]) {
    if arrived.is_empty() {
        return;
    }
    let now = Instant::now();
    let histogram = &Metrics::get().ack_latency;
    for at in arrived {
        histogram.record(now.saturating_duration_since(*at).as_secs_f64());
    }
}

/// A commit of `n` messages starts.
pub fn store_batch(n: usize) {
    Metrics::get().store_batch_size.record(n as f64);
}

/// A database operation failed. `operation` is a short fixed name ("store", "api", "opening a
/// room"); spaces become underscores in the label.
pub fn database_error(operation: &str) {
    let label = Label::new("operation", operation.replace(' ', "_"));
    Metrics::get()
        .labelled_counter(DATABASE_ERRORS, label)
        .increment(1);
}

/// Something was refused with this error code (or `slow_consumer`: a connection closed because
/// it did not read its frames). One of [`REFUSAL_CODES`] costs an atomic add, no allocation and
/// no lookup, on a flood of refusals; any other label is registered when first counted.
pub fn refused(code: &'static str) {
    let metrics = Metrics::get();
    match metrics.refusals.iter().find(|(known, _)| *known == code) {
        Some((_, counter)) => counter.increment(1),
        None => metrics
            .labelled_counter(REFUSALS, Label::new("code", code))
            .increment(1),
    }
}

/// A webhook attempt ended with this outcome (one of [`WEBHOOK_OUTCOMES`]).
pub fn webhook_delivery(outcome: &'static str) {
    let label = Label::new("outcome", outcome);
    Metrics::get()
        .labelled_counter(WEBHOOK_DELIVERIES, label)
        .increment(1);
}

/// The delivery worker counted this many events waiting in the outbox.
pub fn webhook_outbox(depth: i64) {
    Metrics::get()
        .gauge(WEBHOOK_OUTBOX, vec![])
        .set(depth.max(0) as f64);
}

/// The figures the chat server knows from memory, read at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Open connections of guests.
    pub guest_connections: usize,
    /// Open connections of registered users.
    pub user_connections: usize,
    /// Open connections of agents.
    pub agent_connections: usize,
    /// Open connections of admins.
    pub admin_connections: usize,
    /// Users with at least one connection.
    pub online_users: usize,
    /// Rooms with at least one connection.
    pub live_rooms: usize,
    /// Messages waiting for the next commit.
    pub outbox_queued: usize,
    /// Most messages that may wait.
    pub outbox_capacity: usize,
    /// Joins and leaves in flight or waiting.
    pub membership_pending: usize,
}

/// Everything, in the Prometheus text format: the chat server's `gauges`, the recorder's
/// counters and histograms, and the process's CPU, memory and file descriptors.
pub fn render(gauges: &Gauges) -> String {
    let metrics = Metrics::get();
    let role = |role: &'static str| vec![Label::new("role", role)];
    let set = |name, labels, value: usize| metrics.gauge(name, labels).set(value as f64);
    let mut text = {
        let _one_scrape_at_a_time = metrics.scrape.lock().unwrap_or_else(|e| e.into_inner());
        set(CONNECTIONS, role("guest"), gauges.guest_connections);
        set(CONNECTIONS, role("user"), gauges.user_connections);
        set(CONNECTIONS, role("agent"), gauges.agent_connections);
        set(CONNECTIONS, role("admin"), gauges.admin_connections);
        set(ONLINE_USERS, vec![], gauges.online_users);
        set(LIVE_ROOMS, vec![], gauges.live_rooms);
        set(OUTBOX_QUEUED, vec![], gauges.outbox_queued);
        set(OUTBOX_CAPACITY, vec![], gauges.outbox_capacity);
        set(MEMBERSHIP_PENDING, vec![], gauges.membership_pending);
        metrics.handle.render()
    };
    process::ProcessFigures::read().render_into(&mut text);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_rendered_with_its_help_even_before_anything_happened() {
        let text = render(&Gauges {
            guest_connections: 2,
            ..Gauges::default()
        });
        for name in ALL {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no HELP for {name} in:\n{text}"
            );
        }
        assert!(
            text.contains("chat_connections{role=\"guest\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE chat_ack_latency_seconds histogram"),
            "{text}"
        );
        for code in REFUSAL_CODES {
            assert!(
                text.contains(&format!("chat_refusals_total{{code=\"{code}\"}}")),
                "{code} not shown from the start: {text}"
            );
        }
    }

    #[test]
    fn counts_add_up_and_acks_land_in_the_histogram() {
        let before = render(&Gauges::default());
        messages_stored(3);
        acks_handed_out(&[Instant::now()]);
        refused("too_large");
        refused("not_member");
        refused("a_label_nobody_knew");
        database_error("opening a room");
        let after = render(&Gauges::default());
        let value = |text: &str, line: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
                .unwrap_or(0.0)
        };
        assert!(value(&after, MESSAGES_STORED) >= value(&before, MESSAGES_STORED) + 3.0);
        let count = "chat_ack_latency_seconds_count";
        assert!(
            value(&after, count) >= value(&before, count) + 1.0,
            "{after}"
        );
        let label = "chat_database_errors_total{operation=\"opening_a_room\"}";
        assert!(value(&after, label) >= 1.0, "{after}");
        // A known code through its handle, an unknown one through the registry: both counted.
        let refusals = |code: &str| format!("chat_refusals_total{{code=\"{code}\"}}");
        for code in ["too_large", "not_member", "a_label_nobody_knew"] {
            let line = refusals(code);
            assert!(
                value(&after, &line) >= value(&before, &line) + 1.0,
                "{line} in {after}"
            );
        }
    }
}
