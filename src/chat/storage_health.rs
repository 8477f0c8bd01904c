//! Whether storing works, as the chat server sees it from its commits: an outage is logged
//! once when it starts and once when it ends, never once per message, and the figures
//! (`/metrics`, `/readyz`) can tell an operator how long it has lasted.

use std::time::{Duration, Instant};

/// How long after a failed commit the server still counts as not ready (`/readyz`): long
/// enough for a balancer's probe to see it, short enough that a database that came back while
/// nobody sent anything does not keep the node out of service.
pub const FAILED_LATELY: Duration = Duration::from_secs(10);

/// The state of storing, from the outcomes of the last commits.
#[derive(Debug, Default)]
pub struct StorageHealth {
    /// When the first of the current run of failed commits failed.
    down_since: Option<Instant>,
    /// When the last commit failed.
    last_failure: Option<Instant>,
    /// Commits failed in the current run.
    failed_commits: u64,
}

/// What a commit's outcome changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing worth a log line.
    Same,
    /// The first failure after a success: storing is down from now on.
    WentDown,
    /// The first success after failures: storing is back.
    CameBack {
        /// How long it was down.
        after: Duration,
        /// How many commits failed meanwhile.
        failed_commits: u64,
    },
}

impl StorageHealth {
    /// A commit failed.
    pub fn failed(&mut self, now: Instant) -> Change {
        self.failed_commits += 1;
        self.last_failure = Some(now);
        if self.down_since.is_none() {
            self.down_since = Some(now);
            Change::WentDown
        } else {
            Change::Same
        }
    }

    /// A commit succeeded.
    pub fn succeeded(&mut self, now: Instant) -> Change {
        match self.down_since.take() {
            Some(since) => Change::CameBack {
                after: now.saturating_duration_since(since),
                failed_commits: std::mem::take(&mut self.failed_commits),
            },
            None => Change::Same,
        }
    }

    /// Whether the last commit failed.
    pub fn is_down(&self) -> bool {
        self.down_since.is_some()
    }

    /// Whether storing still fails: the last commit failed, within [`FAILED_LATELY`].
    pub fn failed_lately(&self, now: Instant) -> bool {
        self.is_down()
            && self
                .last_failure
                .is_some_and(|at| now.saturating_duration_since(at) < FAILED_LATELY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_news_when_it_starts_and_when_it_ends_and_not_in_between() {
        let mut health = StorageHealth::default();
        let start = Instant::now();
        assert_eq!(health.succeeded(start), Change::Same);
        assert_eq!(health.failed(start), Change::WentDown);
        assert!(health.is_down());
        for i in 1..5 {
            assert_eq!(health.failed(start + Duration::from_secs(i)), Change::Same);
        }
        let back = health.succeeded(start + Duration::from_secs(9));
        assert_eq!(
            back,
            Change::CameBack {
                after: Duration::from_secs(9),
                failed_commits: 5
            }
        );
        assert!(!health.is_down());
        assert_eq!(health.failed(start), Change::WentDown, "a new outage");
    }

    #[test]
    fn a_failure_counts_for_readiness_for_a_while_or_until_a_commit_works() {
        let mut health = StorageHealth::default();
        let start = Instant::now();
        assert!(!health.failed_lately(start));
        health.failed(start);
        assert!(health.failed_lately(start + Duration::from_secs(1)));
        assert!(
            !health.failed_lately(start + FAILED_LATELY),
            "nobody has tried since: the readiness check of the database decides"
        );
        health.failed(start + FAILED_LATELY);
        assert!(health.failed_lately(start + FAILED_LATELY));
        health.succeeded(start + FAILED_LATELY);
        assert!(!health.failed_lately(start + FAILED_LATELY));
    }
}
