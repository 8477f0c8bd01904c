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
    /// take it later; try again after the backoff. The conversation's later events wait. Also
    /// a "not now" 4xx (408, 425, 429), up to [`MAX_NOT_NOW_ATTEMPTS`].
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

/// Attempts after which an event still answered with a "not now" 4xx (408 Request Timeout,
/// 425 Too Early, 429 Too Many Requests) is given up. Such a receiver is overloaded or
/// rate-limiting a burst and will likely take the event a little later, so it is retried like
/// a 5xx; but a 4xx is never retried forever: a receiver that keeps saying "not now" to one
/// event would otherwise hold up its conversation for good. With the default backoff (1 s
/// doubling up to 5 min) eight attempts span about two minutes.
pub const MAX_NOT_NOW_ATTEMPTS: u32 = 8;

/// The rule, for the `attempts`-th attempt (1 for the first): 2xx delivered; 408, 425 and 429
/// retried until [`MAX_NOT_NOW_ATTEMPTS`]; other 3xx and 4xx given up; everything else
/// retried.
pub fn judge(answer: &Answer, attempts: u32) -> Verdict {
    match answer {
        Answer::Status(200..=299) => Verdict::Delivered,
        Answer::Status(408 | 425 | 429) if attempts < MAX_NOT_NOW_ATTEMPTS => Verdict::Retry,
        Answer::Status(300..=499) => Verdict::GiveUp,
        Answer::Status(_) | Answer::NoAnswer(_) => Verdict::Retry,
    }
}

/// A `Retry-After` header's wait, in its delta-seconds form (`120`); its HTTP-date form and
/// anything else unreadable count as absent (the backoff alone decides).
pub fn retry_after(header: &str) -> Option<Duration> {
    let seconds = header.trim();
    if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seconds.parse::<u64>().ok().map(Duration::from_secs)
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

    /// The wait after the `attempts`-th failed attempt when the receiver also asked for a
    /// wait (`Retry-After`): the longer of the two, but never more than `max`, so that a
    /// receiver cannot park its conversation for days.
    pub fn wait(&self, attempts: u32, asked: Option<Duration>) -> Duration {
        let backoff = self.after(attempts);
        asked.map_or(backoff, |asked| asked.max(backoff).min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2xx_is_delivered_a_4xx_given_up_and_the_rest_retried() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(
                judge(&Answer::Status(status), 1),
                Verdict::Delivered,
                "{status}"
            );
        }
        for status in [301, 302, 400, 401, 403, 404, 410, 422, 499] {
            assert_eq!(
                judge(&Answer::Status(status), 1),
                Verdict::GiveUp,
                "{status}"
            );
        }
        for status in [100, 500, 502, 503, 504, 599] {
            for attempts in [1, MAX_NOT_NOW_ATTEMPTS, 1000] {
                assert_eq!(
                    judge(&Answer::Status(status), attempts),
                    Verdict::Retry,
                    "{status}"
                );
            }
        }
        let refused = Answer::NoAnswer("connection refused".into());
        assert_eq!(judge(&refused, 1000), Verdict::Retry);
        assert_eq!(refused.describe(), "connection refused");
        assert_eq!(Answer::Status(503).describe(), "HTTP 503");
    }

    #[test]
    fn a_receiver_saying_not_now_is_retried_up_to_a_cap() {
        // 408, 425 and 429 say "not now": retried like a 5xx, but a 4xx is never retried
        // forever, so after the cap the event is given up.
        for status in [408, 425, 429] {
            for attempts in 1..MAX_NOT_NOW_ATTEMPTS {
                assert_eq!(
                    judge(&Answer::Status(status), attempts),
                    Verdict::Retry,
                    "{status} at attempt {attempts}"
                );
            }
            assert_eq!(
                judge(&Answer::Status(status), MAX_NOT_NOW_ATTEMPTS),
                Verdict::GiveUp,
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_in_seconds_lengthens_the_wait_within_the_backoffs_cap() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        };
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 5 "), Some(Duration::from_secs(5)));
        for unread in ["", "soon", "-1", "1.5", "Wed, 21 Oct 2026 07:28:00 GMT"] {
            assert_eq!(retry_after(unread), None, "{unread:?}");
        }
        assert_eq!(
            backoff.wait(1, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
        assert_eq!(
            backoff.wait(1, Some(Duration::from_secs(86_400))),
            Duration::from_secs(300),
            "never past the cap"
        );
        assert_eq!(
            backoff.wait(5, Some(Duration::ZERO)),
            Duration::from_secs(16),
            "never shorter than the backoff"
        );
        assert_eq!(backoff.wait(3, None), backoff.after(3));
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
