//! The delivery rules, as plain values: what an answer of the receiver makes of an event
//! ([`judge`]) and how long a failed one waits ([`Backoff`]). The worker only applies them.

use std::time::Duration;

/// How the receiver answered one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status.
    Status(u16),
    /// No answer: a timeout, a refused or broken connection, a TLS failure (said in a few
    /// words, never with the URL or the secret).
    NoAnswer(String),
}

impl Answer {
    /// A short text for the log and the outbox row's `last_error`.
    pub fn describe(&self) -> String {
        match self {
            Answer::Status(status) => format!("HTTP {status}"),
            Answer::NoAnswer(why) => why.clone(),
        }
    }
}

/// What becomes of the event after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the receiver has it; it leaves the outbox.
    Delivered,
    /// 5xx, no answer (timeout, refused connection), or anything unexpected: the receiver may
    /// take it later; try again after the backoff. The conversation's later events wait.
    Retry,
    /// 4xx (and 3xx: the URL is not the receiver's): the receiver refuses this event and would
    /// refuse it again; given up (logged, kept as `failed`), and the conversation moves on.
    GiveUp,
}

impl Verdict {
    /// The label of the deliveries counter (`chat_webhook_deliveries_total{outcome}`).
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::Retry => "retried",
            Verdict::GiveUp => "failed",
        }
    }
}

/// The rule: 2xx delivered, 3xx and 4xx given up, everything else retried.
pub fn judge(answer: &Answer) -> Verdict {
    match answer {
        Answer::Status(200..=299) => Verdict::Delivered,
        Answer::Status(300..=499) => Verdict::GiveUp,
        Answer::Status(_) | Answer::NoAnswer(_) => Verdict::Retry,
    }
}

/// Exponential backoff: the first retry after `base`, then twice as long each time, never more
/// than `max`. No jitter: one worker sends one event per conversation at a time, so retries of
/// many conversations do not come in a herd large enough to need spreading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `attempts`-th failed attempt (1 for the first).
    pub fn after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .map_or(self.max, |wait| wait.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2xx_is_delivered_a_4xx_given_up_and_the_rest_retried() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(
                judge(&Answer::Status(status)),
                Verdict::Delivered,
                "{status}"
            );
        }
        for status in [301, 302, 400, 401, 403, 404, 410, 422, 429, 499] {
            assert_eq!(judge(&Answer::Status(status)), Verdict::GiveUp, "{status}");
        }
        for status in [100, 500, 502, 503, 504, 599] {
            assert_eq!(judge(&Answer::Status(status)), Verdict::Retry, "{status}");
        }
        let refused = Answer::NoAnswer("connection refused".into());
        assert_eq!(judge(&refused), Verdict::Retry);
        assert_eq!(refused.describe(), "connection refused");
        assert_eq!(Answer::Status(503).describe(), "HTTP 503");
    }

    #[test]
    fn the_backoff_doubles_from_its_base_up_to_its_cap() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        };
        let waits: Vec<u64> = (1..=11).map(|n| backoff.after(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff.after(0), Duration::from_secs(1));
        assert_eq!(backoff.after(u32::MAX), Duration::from_secs(300));
        let fast = Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_millis(120),
        };
        assert_eq!(fast.after(2), Duration::from_millis(100));
        assert_eq!(fast.after(3), Duration::from_millis(120));
    }
}
