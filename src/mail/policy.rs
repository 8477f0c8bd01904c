//! The rules of the email follow-up, kept apart from the thread and the database so they can be
//! read and tested alone: which conversations a scan looks at, what a due email becomes when
//! its turn comes, and how long a failing one waits.

use std::time::Duration;

/// How far back a scan looks past `--email-after`: a reply left unemailed for longer (the
/// server was down a day) is not emailed any more; by then the customer has come back, or an
/// email would come too late to help. It bounds each scan to the recently active
/// conversations.
pub const LOOKBACK: Duration = Duration::from_secs(24 * 3600);

/// Longest wait between two attempts of a failing email.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(15 * 60);

/// The conversations a scan at `now` (ms) reads: last active within `(since, quiet_before)`,
/// i.e. quiet for at least `email_after` (no message since, so the newest staff reply is at
/// least that old) and active within the lookback.
pub fn scan_window(now: i64, email_after: Duration) -> (i64, i64) {
    let quiet_before = now - email_after.as_millis() as i64;
    (quiet_before - LOOKBACK.as_millis() as i64, quiet_before)
}

/// What the worker knows of a due email's customer at its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Customer {
    /// The account still exists and is not a finished guest.
    pub exists: bool,
    /// They have an email address.
    pub has_email: bool,
    /// Their read cursor in the conversation now.
    pub read_seq: i64,
    /// They have a socket open now.
    pub online: bool,
}

/// What becomes of a due email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Never sent, for this reason.
    Cancel(&'static str),
    /// Not now: the customer is connected and may read the replies; looked at again later.
    Postpone,
    /// Sent, with the replies after this seq (the customer may have read some meanwhile).
    Send {
        /// Replies with a larger seq, up to the email's own end, go in.
        after: i64,
    },
}

/// Decides a due email covering `(from_seq, up_to_seq]` for `customer`. Read first: cancelled;
/// read in part: only the rest goes.
pub fn decide(from_seq: i64, up_to_seq: i64, customer: Customer) -> Decision {
    if !customer.exists {
        return Decision::Cancel("the customer's account is gone");
    }
    if !customer.has_email {
        return Decision::Cancel("the customer has no email address");
    }
    if customer.read_seq >= up_to_seq {
        return Decision::Cancel("the customer read the replies first");
    }
    if customer.online {
        return Decision::Postpone;
    }
    Decision::Send {
        after: from_seq.max(customer.read_seq),
    }
}

/// Whether an SMTP failure is worth another attempt: a permanent refusal (5xx: an address the
/// server will never take) is not; anything else (no connection, a timeout, 4xx) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Tried again after the backoff.
    Transient,
    /// Cancelled with the error.
    Permanent,
}

/// The wait before attempt `attempts + 1` of a failing email: `base` doubling with every
/// attempt, at most [`MAX_RETRY_WAIT`].
pub fn retry_wait(base: Duration, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(MAX_RETRY_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn away(read_seq: i64) -> Customer {
        Customer {
            exists: true,
            has_email: true,
            read_seq,
            online: false,
        }
    }

    #[test]
    fn a_scan_reads_conversations_quiet_for_the_delay_within_a_day() {
        let (since, quiet_before) = scan_window(100_000_000, Duration::from_secs(300));
        assert_eq!(quiet_before, 100_000_000 - 300_000);
        assert_eq!(since, quiet_before - 86_400_000);
    }

    #[test]
    fn an_email_read_first_is_cancelled_and_one_read_in_part_sends_the_rest() {
        assert_eq!(
            decide(2, 5, away(5)),
            Decision::Cancel("the customer read the replies first")
        );
        assert_eq!(decide(2, 5, away(9)), decide(2, 5, away(5)));
        assert_eq!(decide(2, 5, away(3)), Decision::Send { after: 3 });
        assert_eq!(decide(2, 5, away(0)), Decision::Send { after: 2 });
    }

    #[test]
    fn a_connected_customer_is_not_emailed_yet_and_one_without_address_never() {
        let online = Customer {
            online: true,
            ..away(0)
        };
        assert_eq!(decide(0, 5, online), Decision::Postpone);
        let no_address = Customer {
            has_email: false,
            ..away(0)
        };
        assert!(matches!(decide(0, 5, no_address), Decision::Cancel(_)));
        let gone = Customer {
            exists: false,
            ..away(0)
        };
        assert!(matches!(decide(0, 5, gone), Decision::Cancel(_)));
    }

    #[test]
    fn retries_double_up_to_a_cap() {
        let base = Duration::from_secs(5);
        assert_eq!(retry_wait(base, 1), Duration::from_secs(5));
        assert_eq!(retry_wait(base, 2), Duration::from_secs(10));
        assert_eq!(retry_wait(base, 4), Duration::from_secs(40));
        assert_eq!(retry_wait(base, 40), MAX_RETRY_WAIT);
    }
}
