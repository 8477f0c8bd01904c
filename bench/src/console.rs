//! `--console-load`: the staff console beside the fan-out. A few loops sign in as staff and call
//! the console's list (`GET /api/admin/conversations`, a LIKE search over the support rooms) and
//! its totals (`GET /api/admin/stats`) back to back (or paced, `--console-interval`), so that the
//! fan-out's ack latency can be read with and without readers competing for the database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::cli::{ConsoleArgs, TargetKind};
use crate::http;
use crate::load::agg_hist;
use crate::report::{lat_json, lat_line, round2};
use crate::target::Endpoint;
use crate::Out;

/// The two calls of one loop round.
const CALLS: [(&str, &str); 2] = [
    ("conversations", "/api/admin/conversations"),
    ("stats", "/api/admin/stats"),
];

/// What the loops have done since the last [`Console::window`].
#[derive(Default)]
struct Counts {
    ok: [AtomicU64; 2],
    errors: AtomicU64,
}

/// The running loops.
pub struct Console {
    loops: u32,
    interval_ms: u64,
    support_rooms: usize,
    counts: Arc<Counts>,
    lat: Arc<Mutex<[Histogram<u64>; 2]>>,
    first_error: Arc<Mutex<Option<String>>>,
    tasks: JoinSet<()>,
}

/// The console's figures over one window.
pub struct ConsoleWindow {
    loops: u32,
    interval_ms: u64,
    support_rooms: usize,
    secs: f64,
    ok: [u64; 2],
    errors: u64,
    first_error: Option<String>,
    lat: [Histogram<u64>; 2],
}

/// The user id in a chat token (the JWT's `sub`), read without checking the signature.
fn token_user(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str()?.parse().ok()
}

impl Console {
    /// Signs in as staff, gives the first `--support-rooms` guests a support conversation, and
    /// starts `--console-load` loops. `None` when no console load was asked for.
    pub async fn start(
        a: &ConsoleArgs,
        kind: TargetKind,
        ep: &Arc<Endpoint>,
        guests: &[Arc<str>],
        out: &Out,
    ) -> Result<Option<Console>, String> {
        if a.console_load == 0 {
            return Ok(None);
        }
        if kind != TargetKind::Chat {
            return Err("--console-load needs --target chat".to_string());
        }
        let (Some(user), Some(password)) = (&a.staff_user, &a.staff_password) else {
            return Err(
                "--console-load needs --staff-user and --staff-password (start the server \
                 with CHAT_ADMIN_USERNAME and CHAT_ADMIN_PASSWORD)"
                    .to_string(),
            );
        };
        let token: Arc<str> = Arc::from(http::login_token(ep, user, password).await?);
        let seeded = guests.len().min(a.support_rooms as usize);
        out.progress(&format!(
            "staff {user}: opening {seeded} support conversations"
        ));
        for guest in &guests[..seeded] {
            let id = token_user(guest).ok_or("a guest token without a user id")?;
            let route = format!("/api/admin/rooms/support:{id}/announcements");
            let body = r#"{"text":"chat-bench: a support conversation for the console"}"#;
            let (status, reply) =
                http::request(ep, None, "POST", &route, Some(&token), Some(body)).await?;
            if status != 201 {
                return Err(format!(
                    "POST {route} got HTTP {status}: {}",
                    String::from_utf8_lossy(&reply[..reply.len().min(300)])
                ));
            }
        }
        let counts = Arc::new(Counts::default());
        let lat = Arc::new(Mutex::new([agg_hist(), agg_hist()]));
        let first_error = Arc::new(Mutex::new(None));
        let mut tasks = JoinSet::new();
        for _ in 0..a.console_load {
            let (ep, token) = (ep.clone(), token.clone());
            let (counts, lat, first_error) = (counts.clone(), lat.clone(), first_error.clone());
            let interval = Duration::from_millis(a.console_interval);
            tasks.spawn(async move {
                loop {
                    let round = Instant::now();
                    for (i, (name, route)) in CALLS.iter().enumerate() {
                        let began = Instant::now();
                        match http::request(&ep, None, "GET", route, Some(&token), None).await {
                            Ok((200, _)) => {
                                let us = began.elapsed().as_micros() as u64;
                                counts.ok[i].fetch_add(1, Ordering::Relaxed);
                                if let Ok(mut h) = lat.lock() {
                                    h[i].saturating_record(us.max(1));
                                }
                            }
                            failed => {
                                counts.errors.fetch_add(1, Ordering::Relaxed);
                                let why = match failed {
                                    Ok((status, _)) => format!("{name}: HTTP {status}"),
                                    Err(e) => e,
                                };
                                if let Ok(mut f) = first_error.lock() {
                                    f.get_or_insert(why);
                                }
                                // An error must not turn the loop into a busy spin.
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                    tokio::time::sleep_until((round + interval).into()).await;
                }
            });
        }
        out.progress(&format!("console load: {} loops", a.console_load));
        Ok(Some(Console {
            loops: a.console_load,
            interval_ms: a.console_interval,
            support_rooms: seeded,
            counts,
            lat,
            first_error,
            tasks,
        }))
    }

    /// Starts a new window: the counts and latencies so far are dropped.
    pub fn reset(&self) -> Instant {
        for c in &self.counts.ok {
            c.store(0, Ordering::Relaxed);
        }
        self.counts.errors.store(0, Ordering::Relaxed);
        if let Ok(mut h) = self.lat.lock() {
            h.iter_mut().for_each(|h| h.reset());
        }
        Instant::now()
    }

    /// The figures since `since` (from [`Console::reset`]).
    pub fn window(&self, since: Instant) -> ConsoleWindow {
        let secs = since.elapsed().as_secs_f64();
        let lat = self
            .lat
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| [agg_hist(), agg_hist()]);
        ConsoleWindow {
            loops: self.loops,
            interval_ms: self.interval_ms,
            support_rooms: self.support_rooms,
            secs,
            ok: [0, 1].map(|i| self.counts.ok[i].load(Ordering::Relaxed)),
            errors: self.counts.errors.load(Ordering::Relaxed),
            first_error: self.first_error.lock().ok().and_then(|f| f.clone()),
            lat,
        }
    }

    /// Stops the loops (a call in flight is dropped).
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl ConsoleWindow {
    /// Completed calls per second, both endpoints together.
    pub fn calls_per_sec(&self) -> f64 {
        (self.ok[0] + self.ok[1]) as f64 / self.secs.max(1e-9)
    }

    /// The report's rows: `(label, value)`.
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![(
            "console load".to_string(),
            format!(
                "{} loops{}: {:.1} calls/s over {:.1} s, {} errors ({} support conversations)",
                self.loops,
                if self.interval_ms > 0 {
                    format!(", a round every {} ms", self.interval_ms)
                } else {
                    String::new()
                },
                self.calls_per_sec(),
                self.secs,
                self.errors,
                self.support_rooms
            ),
        )];
        for (i, (name, route)) in CALLS.iter().enumerate() {
            rows.push((
                format!("  {name}"),
                format!(
                    "GET {route}: {:.1}/s, {}",
                    self.ok[i] as f64 / self.secs.max(1e-9),
                    lat_line(&self.lat[i]).replace("samples", "calls")
                ),
            ));
        }
        if let Some(e) = &self.first_error {
            rows.push(("  first error".to_string(), e.clone()));
        }
        rows
    }

    pub fn json(&self) -> Value {
        let per = |i: usize| {
            json!({
                "calls": self.ok[i],
                "per_sec": round2(self.ok[i] as f64 / self.secs.max(1e-9)),
                "latency_us": lat_json(&self.lat[i]),
            })
        };
        json!({
            "loops": self.loops,
            "interval_ms": self.interval_ms,
            "support_rooms": self.support_rooms,
            "window_s": round2(self.secs),
            "calls_per_sec": round2(self.calls_per_sec()),
            "errors": self.errors,
            "first_error": self.first_error,
            CALLS[0].0: per(0),
            CALLS[1].0: per(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::token_user;

    #[test]
    fn the_user_id_of_a_token() {
        // {"sub":"42","name":"bench-0","role":"guest"}
        let token = "e30.eyJzdWIiOiI0MiIsIm5hbWUiOiJiZW5jaC0wIiwicm9sZSI6Imd1ZXN0In0.sig";
        assert_eq!(token_user(token), Some(42));
        assert_eq!(token_user("not-a-token"), None);
    }
}
