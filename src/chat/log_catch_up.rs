//! When the message writer catches up on SQLite's write-ahead log: a plain struct that the
//! outbox consults after every timed checkpoint.
//!
//! SQLite starts its log again from the beginning (instead of growing it) only at a commit that
//! finds all of it copied into the database file, which a checkpoint beside a busy writer never
//! leaves: the writer commits while it copies. So once the log is [`CATCH_UP_PAGES`] long, the
//! writer itself copies the rest between two batches (the outbox's `Commit::CatchUp`), and its
//! next commit starts the log again. The batches wait for that copy and the database file's
//! sync, so it must be short and rare:
//!
//! - **short**: before the writer catches up, the history actor runs checkpoints back to back,
//!   each copying what was committed while the one before ran, until one finds fewer than
//!   [`SHORT_PASS_PAGES`] new pages (or [`MOST_PASSES`] have run). The writer is then left a few
//!   milliseconds' worth of commits, not the quarter of a second since the timed checkpoint;
//! - **rare**: [`CATCH_UP_PAGES`] is large (see its doc), since every catch-up holds up the
//!   acks of whatever arrives meanwhile, whatever it copies (2-20 ms on the test machine's
//!   disk, docs/performance.md).
//!
//! If the log did not start again (a reader held on to it), the next catch-up waits until it is
//! [`CATCH_UP_PAGES`] longer still. Never while no batch was written since the last one.

use crate::db::connection::{WalProgress, CATCH_UP_PAGES};

/// A checkpoint in a series before the catch-up that finds at most this many pages committed
/// since the one before ends the series: copying the rest holds the writer up briefly.
pub const SHORT_PASS_PAGES: i64 = 192;

/// Most checkpoints in one series: if commits outpace them (a slow disk), the writer catches up
/// anyway rather than letting the log grow.
pub const MOST_PASSES: u32 = 12;

/// What follows a timed checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextCheckpoint {
    /// Another one at once: the log is long, and the writer would still have much to copy.
    AtOnce,
    /// The next timed one.
    OnTimer,
}

/// Whether and when the message writer catches up on the log.
#[derive(Debug)]
pub struct LogCatchUp {
    /// The writer should catch up before its next batch.
    due: bool,
    /// A batch was written since the writer last caught up.
    wrote: bool,
    /// The log's length at the last checkpoint, in pages.
    log_pages: i64,
    /// The length from which the writer catches up next.
    from: i64,
    /// The checkpoints run back to back so far before the catch-up, and the log's length at the
    /// last of them.
    series: Option<(u32, i64)>,
}

impl Default for LogCatchUp {
    fn default() -> Self {
        LogCatchUp {
            due: false,
            wrote: false,
            log_pages: 0,
            from: i64::from(CATCH_UP_PAGES),
            series: None,
        }
    }
}

impl LogCatchUp {
    /// The writer committed a batch.
    pub fn wrote(&mut self) {
        self.wrote = true;
    }

    /// A checkpoint copied the log up to its length when it started (`progress.log_pages`).
    pub fn checkpointed(&mut self, progress: WalProgress) -> NextCheckpoint {
        let log_pages = progress.log_pages;
        if log_pages < self.log_pages {
            // It started again.
            self.from = i64::from(CATCH_UP_PAGES);
        }
        self.log_pages = log_pages;
        if !self.wrote || log_pages < self.from {
            self.series = None;
            return NextCheckpoint::OnTimer;
        }
        // What was committed while the checkpoint before this one ran (the first of a series
        // copied a timer's period: too much to leave to the writer).
        let (passes, new_pages) = match self.series {
            Some((passes, before)) => (passes, log_pages - before),
            None => (0, i64::MAX),
        };
        if new_pages > SHORT_PASS_PAGES && passes < MOST_PASSES {
            self.series = Some((passes + 1, log_pages));
            return NextCheckpoint::AtOnce;
        }
        self.series = None;
        self.due = true;
        self.from = log_pages + i64::from(CATCH_UP_PAGES);
        NextCheckpoint::OnTimer
    }

    /// Whether the writer catches up now (asked when no batch is in flight); once per time due.
    pub fn start(&mut self) -> bool {
        if !self.due {
            return false;
        }
        self.due = false;
        self.wrote = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: i64 = CATCH_UP_PAGES as i64;

    fn copied(log: &mut LogCatchUp, log_pages: i64) -> NextCheckpoint {
        log.checkpointed(WalProgress {
            log_pages,
            copied_pages: log_pages,
        })
    }

    #[test]
    fn a_short_log_is_left_to_the_timed_checkpoints() {
        let mut log = LogCatchUp::default();
        log.wrote();
        assert_eq!(copied(&mut log, LONG - 1), NextCheckpoint::OnTimer);
        assert!(!log.start());
    }

    #[test]
    fn a_long_log_is_copied_again_at_once_until_little_was_committed_meanwhile_then_the_writer_catches_up(
    ) {
        let mut log = LogCatchUp::default();
        log.wrote();
        assert_eq!(
            copied(&mut log, LONG),
            NextCheckpoint::AtOnce,
            "the timed checkpoint leaves a quarter of a second of commits"
        );
        assert!(!log.start(), "not yet");
        assert_eq!(copied(&mut log, LONG + 2_000), NextCheckpoint::AtOnce);
        assert_eq!(copied(&mut log, LONG + 2_600), NextCheckpoint::AtOnce);
        assert_eq!(
            copied(&mut log, LONG + 2_600 + SHORT_PASS_PAGES),
            NextCheckpoint::OnTimer,
            "a short pass ends the series"
        );
        assert!(log.start(), "the writer catches up on the rest");
        assert!(!log.start(), "once");
    }

    #[test]
    fn a_disk_slower_than_the_commits_ends_the_series_after_the_most_passes() {
        let mut log = LogCatchUp::default();
        log.wrote();
        let mut pages = LONG;
        for _ in 0..MOST_PASSES {
            assert_eq!(copied(&mut log, pages), NextCheckpoint::AtOnce);
            pages += 5_000;
        }
        assert_eq!(copied(&mut log, pages), NextCheckpoint::OnTimer);
        assert!(log.start());
    }

    #[test]
    fn nothing_written_since_the_last_catch_up_means_nothing_to_catch_up_on() {
        let mut log = LogCatchUp::default();
        assert_eq!(copied(&mut log, 4 * LONG), NextCheckpoint::OnTimer);
        assert!(!log.start());
    }

    fn catch_up_at(log: &mut LogCatchUp, pages: i64) {
        log.wrote();
        assert_eq!(copied(log, pages), NextCheckpoint::AtOnce);
        assert_eq!(copied(log, pages + 1), NextCheckpoint::OnTimer);
        assert!(log.start());
    }

    #[test]
    fn a_log_held_by_a_reader_is_caught_up_on_again_only_once_it_is_much_longer() {
        let mut log = LogCatchUp::default();
        catch_up_at(&mut log, LONG);
        log.wrote();
        assert_eq!(
            copied(&mut log, LONG + 10),
            NextCheckpoint::OnTimer,
            "it did not start again: not at once"
        );
        assert!(!log.start());
        catch_up_at(&mut log, 2 * LONG + 10);
    }

    #[test]
    fn a_log_that_started_again_is_caught_up_on_at_the_first_length_again() {
        let mut log = LogCatchUp::default();
        catch_up_at(&mut log, LONG);
        log.wrote();
        assert_eq!(copied(&mut log, 100), NextCheckpoint::OnTimer);
        catch_up_at(&mut log, LONG);
    }
}
