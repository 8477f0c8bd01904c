//! The delivery worker: one thread with its own database connection and HTTP client, sending
//! the outbox's events (see [`crate::db::webhooks`] for the order and the claim).
//!
//! A round takes the due head of every conversation, oldest first, and sends them one after
//! the other; a delivered head makes its conversation's next event due at once, so the worker
//! goes round again straight away. A failing receiver holds up the others for at most one
//! request timeout per attempt, and its conversation then waits out its backoff while the
//! others go on. Between rounds the worker sleeps until the earliest retry, the writer's bell
//! (new events committed), or the poll interval (events of another server on the same
//! database), whichever comes first.
//!
//! Stopping: [`WebhookWorker::stop`] (the server stopped) tells the thread to stop after the
//! attempt in flight and waits for it, within what is left of the shutdown timeout, so that the
//! attempt's outcome is stored: an attempt cut short by the process's exit leaves its event
//! claimed, and a restarted server sends it only when the claim runs out (twice the request
//! timeout and a second later), holding up its conversation that long. A receiver slower than
//! that is not waited for; its event is sent again after the restart (at least once). Dropping
//! the worker tells the thread to stop without waiting.

use super::payload::{event_body, signature};
use super::policy::{judge, retry_after, Answer, Verdict};
use super::{redacted, WebhookConfig};
use crate::db::connection::{DbConnectionManager, OwnConnection};
use crate::db::webhooks::{self as outbox, OutboxBell, OutboxRow};
use crate::db::StorageError;
use crate::domain::now_millis;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Longest sleep between two looks at the outbox when nothing rings the bell: events written by
/// another server on the same database wait at most this long.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// Heads taken in one round.
const HEADS_PER_ROUND: i64 = 64;

/// The running worker; [`WebhookWorker::stop`] stops the thread, dropping it too (without
/// waiting for it).
pub struct WebhookWorker {
    stop: Arc<AtomicBool>,
    bell: Arc<OutboxBell>,
    /// Disconnected when the thread ends (it holds the sender, and never sends).
    ended: mpsc::Receiver<()>,
}

impl WebhookWorker {
    /// Starts the worker's thread. `bell` is the one the message writer rings.
    pub fn start(
        config: WebhookConfig,
        manager: DbConnectionManager,
        bell: Arc<OutboxBell>,
    ) -> std::io::Result<WebhookWorker> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut delivery = Delivery::new(config, manager, bell.clone(), stop.clone());
        let (ending, ended) = mpsc::channel();
        std::thread::Builder::new()
            .name("webhooks".into())
            .spawn(move || {
                let _ending = ending;
                delivery.run();
            })?;
        Ok(WebhookWorker { stop, bell, ended })
    }

    /// Tells the thread to stop after the attempt in flight, and waits for it, at most
    /// `within`, so that the attempt's outcome is stored rather than its claim left behind.
    /// Answers whether the thread ended in time (a blocking call: not on an async worker).
    pub fn stop(self, within: Duration) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        self.bell.ring();
        matches!(
            self.ended.recv_timeout(within),
            Err(mpsc::RecvTimeoutError::Disconnected)
        )
    }
}

impl Drop for WebhookWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.bell.ring();
    }
}

/// The thread's state.
struct Delivery {
    config: WebhookConfig,
    agent: ureq::Agent,
    conn: OwnConnection,
    bell: Arc<OutboxBell>,
    stop: Arc<AtomicBool>,
    /// Whether the database is failing (logged once per outage).
    database_down: bool,
}

impl Delivery {
    fn new(
        config: WebhookConfig,
        manager: DbConnectionManager,
        bell: Arc<OutboxBell>,
        stop: Arc<AtomicBool>,
    ) -> Delivery {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            // Every status is an answer to judge, not an error.
            .http_status_as_error(false)
            // A redirect is answered as a 3xx (given up): the URL should be the receiver's own.
            .max_redirects(0)
            .user_agent(concat!("chat-server-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Delivery {
            config,
            agent,
            conn: OwnConnection::new(manager),
            bell,
            stop,
            database_down: false,
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn run(&mut self) {
        log::info!(
            "webhooks: delivering to {} (timeout {}, retries from {} up to {})",
            redacted(&self.config.url),
            humantime::format_duration(self.config.timeout),
            humantime::format_duration(self.config.backoff.base),
            humantime::format_duration(self.config.backoff.max),
        );
        while !self.stopping() {
            let wait = match self.round() {
                Ok(wait) => {
                    if std::mem::take(&mut self.database_down) {
                        log::info!("webhooks: the database answers again");
                    }
                    wait
                }
                Err(e) => {
                    if !std::mem::replace(&mut self.database_down, true) {
                        log::error!("webhooks: the outbox cannot be read: {e}");
                    }
                    crate::metrics::database_error("webhooks");
                    self.conn.reset();
                    POLL_EVERY
                }
            };
            if !wait.is_zero() {
                self.bell.wait(wait);
            }
        }
    }

    /// Sends the due heads; answers how long to sleep before the next round.
    fn round(&mut self) -> Result<Duration, StorageError> {
        let heads = outbox::due_heads(self.conn.get()?, now_millis(), HEADS_PER_ROUND)?;
        let mut delivered_any = false;
        for head in &heads {
            if self.stopping() {
                break;
            }
            delivered_any |= self.attempt(head)? != Verdict::Retry;
        }
        let depth = outbox::pending_count(self.conn.get()?)?;
        crate::metrics::webhook_outbox(depth);
        if delivered_any || heads.len() as i64 == HEADS_PER_ROUND {
            // The next events of those conversations are due now.
            return Ok(Duration::ZERO);
        }
        let next = outbox::next_due(self.conn.get()?)?;
        Ok(next.map_or(POLL_EVERY, |at| {
            let wait = Duration::from_millis(at.saturating_sub(now_millis()).max(0) as u64);
            wait.min(POLL_EVERY)
        }))
    }

    /// One attempt at one head, if this worker gets to claim it; answers what became of it
    /// (`Retry` also when another worker had it).
    fn attempt(&mut self, head: &OutboxRow) -> Result<Verdict, StorageError> {
        // A worker that dies mid-attempt leaves the claim; others take the event after this.
        let claim_until = now_millis() + 2 * self.config.timeout.as_millis() as i64 + 1000;
        if !outbox::claim(self.conn.get()?, head, claim_until)? {
            return Ok(Verdict::Retry);
        }
        let attempts = head.attempts.saturating_add(1).max(1) as u32;
        let body = match &head.body {
            Some(body) => body.clone(),
            None => match outbox::event_parts(self.conn.get()?, head)? {
                Some((message, customer)) => {
                    let body = event_body(head, &message, &customer);
                    outbox::save_body(self.conn.get()?, head.id, &body)?;
                    body
                }
                None => {
                    log::warn!(
                        "webhook {} {} given up: its message or customer is gone",
                        head.event,
                        head.id
                    );
                    outbox::give_up(self.conn.get()?, head.id, "message or customer gone")?;
                    crate::metrics::webhook_delivery(Verdict::GiveUp.label());
                    return Ok(Verdict::GiveUp);
                }
            },
        };
        let (answer, asked_wait) = self.send(head, &body);
        let verdict = judge(&answer, attempts);
        crate::metrics::webhook_delivery(verdict.label());
        let backoff = self.config.backoff;
        let conn = self.conn.get()?;
        match verdict {
            Verdict::Delivered => outbox::delivered(conn, head.id)?,
            Verdict::GiveUp => {
                log::warn!(
                    "webhook {} {} given up after attempt {attempts}: the receiver answered {}",
                    head.event,
                    head.id,
                    answer.describe()
                );
                outbox::give_up(conn, head.id, &answer.describe())?;
            }
            Verdict::Retry => {
                let wait = backoff.wait(attempts, asked_wait);
                // The first failure of an event is worth a line; its retries are counted.
                let line = format!(
                    "webhook {} {} not delivered (attempt {attempts}: {}), next attempt in {}",
                    head.event,
                    head.id,
                    answer.describe(),
                    humantime::format_duration(wait)
                );
                if attempts == 1 {
                    log::warn!("{line}");
                } else {
                    log::debug!("{line}");
                }
                let at = now_millis() + wait.as_millis() as i64;
                outbox::retry_at(conn, head.id, at, &answer.describe())?;
            }
        }
        Ok(verdict)
    }

    /// POSTs the body, signed; the receiver's answer (its status and `Retry-After`, if it
    /// gave one; the body is not read).
    fn send(&self, head: &OutboxRow, body: &str) -> (Answer, Option<Duration>) {
        let result = self
            .agent
            .post(&self.config.url)
            .header("Content-Type", "application/json")
            .header(
                "X-Chat-Signature",
                signature(self.config.secret.as_bytes(), body.as_bytes()),
            )
            .header("X-Chat-Delivery", head.id.to_string())
            .header("X-Chat-Event", head.event.as_str())
            .send(body.as_bytes());
        match result {
            Ok(response) => {
                let asked = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok())
                    .and_then(retry_after);
                (Answer::Status(response.status().as_u16()), asked)
            }
            Err(e) => (Answer::NoAnswer(describe(&e)), None),
        }
    }
}

/// A failed request in a few words, without the URL (which may hold a token).
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(_) => "timeout".into(),
        ureq::Error::Io(e) => e.kind().to_string(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => "invalid URL".into(),
        other => other.to_string(),
    }
}
