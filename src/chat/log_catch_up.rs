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
//! - **short**: before the writer catches up, the log checkpointer runs checkpoints back to back,
//!   each copying what was committed while the one before ran and syncing the database file
//!   (`history::checkpointer`), until one finds at most [`SHORT_PASS_PAGES`] new pages, or
//!   finds not at least a quarter fewer than the pass before it found (commits come about as
//!   fast as the passes copy: another pass would only sync the file once more beside the
//!   commits), or [`MOST_PASSES`] have followed the timed one. No timed checkpoint starts while
//!   the catch-up is due or under way ([`LogCatchUp::is_busy`]): it would make the writer's
//!   checkpoint find SQLite's checkpoint lock taken, and copy nothing. The writer is then left a
//!   few milliseconds' worth of commits, not the quarter of a second since the timed checkpoint,
//!   and a database file with nothing else left to write out;
//! - **rare**: at most one every [`CATCH_UP_EVERY`] (unless the log grows [`PATIENCE_PAGES`]
//!   longer meanwhile), since every catch-up holds up the acks of whatever arrives meanwhile,
//!   whatever it copies (1-10 ms on the test machine's disk, docs/performance.md). The share of
//!   acks held up is that stall over the time between two catch-ups, whatever the load.
//!
//! If the log did not start again (a reader held on to it), the next catch-up waits until it is
//! [`CATCH_UP_PAGES`] longer still. Never while no batch was written since the last one.

use crate::db::connection::{WalProgress, CATCH_UP_PAGES};
use std::time::{Duration, Instant};

/// Least time between two catch-ups while the log stays within [`PATIENCE_PAGES`] of its
/// catch-up length. At 10,000 messages a second over 500 rooms the log grows ~30,000 pages a
/// second; catching up at 98,304 pages (every ~3 s) instead of at 16,384 (every ~0.5 s) took
/// the ack's p99 from 13.8-18.3 ms to 10.2-13.5 ms (docs/performance.md).
pub const CATCH_UP_EVERY: Duration = Duration::from_secs(3);

/// How much longer than [`CATCH_UP_PAGES`] the log may grow while the writer waits for
/// [`CATCH_UP_EVERY`] (320 MiB at 4 KiB pages): from there (384 MiB) it catches up anyway.
pub const PATIENCE_PAGES: i64 = 81_920;

/// A checkpoint in a series before the catch-up that finds at most this many pages committed
/// since the one before ends the series: copying the rest holds the writer up briefly.
pub const SHORT_PASS_PAGES: i64 = 192;

/// Most checkpoints run at once after the timed one: a series whose passes keep finding a
/// quarter fewer pages than the one before, yet never as few as [`SHORT_PASS_PAGES`] (a first
/// pass of thousands), leaves the rest to the writer after this many.
pub const MOST_PASSES: u32 = 12;

/// The checkpoints run back to back before a catch-up, so far.
#[derive(Debug, Clone, Copy)]
struct Series {
    /// The passes ordered after the timed one, this one's included.
    passes: u32,
    /// The log's length at the last of them, in pages.
    log_pages: i64,
    /// The new pages the last of them found: those committed while the one before it ran
    /// ([`i64::MAX`] for the timed one, which copied a timer's period).
    new_pages: i64,
}

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
    /// The writer is catching up.
    copying: bool,
    /// A batch was written since the writer last caught up.
    wrote: bool,
    /// The log's length at the last checkpoint, in pages.
    log_pages: i64,
    /// The length from which the writer catches up next.
    from: i64,
    /// When the writer's last catch-up was due.
    last: Option<Instant>,
    /// The checkpoints run back to back so far before the catch-up.
    series: Option<Series>,
}

impl Default for LogCatchUp {
    fn default() -> Self {
        LogCatchUp {
            due: false,
            copying: false,
            wrote: false,
            log_pages: 0,
            from: i64::from(CATCH_UP_PAGES),
            last: None,
            series: None,
        }
    }
}

impl LogCatchUp {
    /// The writer committed a batch.
    pub fn wrote(&mut self) {
        self.wrote = true;
    }

    /// A checkpoint came back at `now`, having copied what it could of the log: all of it up
    /// to its length when it started (`progress.log_pages`), unless a reader held on to part.
    pub fn checkpointed(&mut self, progress: WalProgress, now: Instant) -> NextCheckpoint {
        let log_pages = progress.log_pages;
        if log_pages < self.log_pages {
            // It started again.
            self.from = i64::from(CATCH_UP_PAGES);
        }
        self.log_pages = log_pages;
        let waited = self.last.map_or(true, |last| {
            now.saturating_duration_since(last) >= CATCH_UP_EVERY
        });
        if !self.wrote
            || log_pages < self.from
            || !(waited || log_pages >= self.from + PATIENCE_PAGES)
        {
            self.series = None;
            return NextCheckpoint::OnTimer;
        }
        // What was committed while the checkpoint before this one ran (the first of a series
        // copied a timer's period: too much to leave to the writer).
        let (passes, new_pages, shrinking) = match self.series {
            Some(last) => {
                let new_pages = log_pages - last.log_pages;
                (last.passes, new_pages, new_pages < last.new_pages / 4 * 3)
            }
            None => (0, i64::MAX, true),
        };
        // A checkpoint that a reader held back (it copied less than the log) is no reason to
        // stop by itself: reads are short, and the next copies what the reader let go. A pass
        // that found not at least a quarter fewer new pages than the one before (commits about
        // as fast as the passes) ends the series: another would find as many again, and each
        // syncs the database file beside the commits (docs/performance.md, 2026-12-07 fifth
        // session).
        if new_pages > SHORT_PASS_PAGES && shrinking && passes < MOST_PASSES {
            self.series = Some(Series {
                passes: passes + 1,
                log_pages,
                new_pages,
            });
            return NextCheckpoint::AtOnce;
        }
        self.series = None;
        self.due = true;
        self.last = Some(now);
        self.from = log_pages + i64::from(CATCH_UP_PAGES);
        NextCheckpoint::OnTimer
    }

    /// A checkpoint copied nothing (another held SQLite's checkpoint lock) or failed: a series
    /// under way ends; the next timed checkpoint starts afresh.
    pub fn missed(&mut self) {
        self.series = None;
    }

    /// Whether the writer catches up now (asked when no batch is in flight); once per time due.
    pub fn start(&mut self) -> bool {
        if !self.due {
            return false;
        }
        self.due = false;
        self.copying = true;
        self.wrote = false;
        true
    }

    /// The writer's commit or catch-up in flight came back.
    pub fn finished(&mut self) {
        self.copying = false;
    }

    /// Whether the catch-up is due or under way: no other checkpoint should start meanwhile.
    pub fn is_busy(&self) -> bool {
        self.due || self.copying
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: i64 = CATCH_UP_PAGES as i64;

    fn copied_at(log: &mut LogCatchUp, log_pages: i64, now: Instant) -> NextCheckpoint {
        log.checkpointed(
            WalProgress {
                log_pages,
                copied_pages: log_pages,
            },
            now,
        )
    }

    /// A checkpoint long after the last catch-up.
    fn copied(log: &mut LogCatchUp, log_pages: i64) -> NextCheckpoint {
        let later = log
            .last
            .map_or_else(Instant::now, |last| last + CATCH_UP_EVERY);
        copied_at(log, log_pages, later)
    }

    #[test]
    fn a_short_log_is_left_to_the_timed_checkpoints() {
        let mut log = LogCatchUp::default();
        log.wrote();
        assert_eq!(copied(&mut log, LONG - 1), NextCheckpoint::OnTimer);
        assert!(!log.start());
    }

    #[test]
    fn a_long_log_is_copied_again_until_little_is_new_then_the_writer_catches_up() {
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
        assert!(log.is_busy(), "no timed checkpoint meanwhile");
        assert!(log.start(), "the writer catches up on the rest");
        assert!(!log.start(), "once");
        assert!(log.is_busy(), "still, while it copies");
        log.finished();
        assert!(!log.is_busy());
        assert_eq!(
            copied(&mut log, LONG + 3_000),
            NextCheckpoint::OnTimer,
            "nothing written since"
        );
        assert!(!log.start());
    }

    #[test]
    fn a_checkpoint_missed_in_a_series_ends_it_and_the_next_timed_one_starts_afresh() {
        let mut log = LogCatchUp::default();
        log.wrote();
        assert_eq!(copied(&mut log, LONG), NextCheckpoint::AtOnce);
        assert_eq!(copied(&mut log, LONG + 2_000), NextCheckpoint::AtOnce);
        log.missed();
        assert_eq!(
            copied(&mut log, LONG + 2_100),
            NextCheckpoint::AtOnce,
            "a fresh series: what the timer's period left is too much for the writer"
        );
        assert!(!log.start());
    }

    #[test]
    fn a_log_that_started_again_during_a_series_ends_it() {
        let mut log = LogCatchUp::default();
        log.wrote();
        assert_eq!(copied(&mut log, LONG), NextCheckpoint::AtOnce);
        assert_eq!(copied(&mut log, 300), NextCheckpoint::OnTimer);
        assert!(!log.start());
    }

    #[test]
    fn a_series_that_shrinks_but_never_gets_short_ends_after_the_most_passes() {
        let mut log = LogCatchUp::default();
        log.wrote();
        let mut pages = LONG;
        let mut new_pages = 100_000;
        for _ in 0..MOST_PASSES {
            assert_eq!(copied(&mut log, pages), NextCheckpoint::AtOnce);
            pages += new_pages;
            new_pages = new_pages * 7 / 10;
        }
        assert_eq!(copied(&mut log, pages), NextCheckpoint::OnTimer);
        assert!(log.start());
    }

    #[test]
    fn a_series_that_stops_shrinking_leaves_the_rest_to_the_writer() {
        let mut log = LogCatchUp::default();
        log.wrote();
        assert_eq!(copied(&mut log, LONG), NextCheckpoint::AtOnce, "timed");
        assert_eq!(
            copied(&mut log, LONG + 700),
            NextCheckpoint::AtOnce,
            "the first pass copied what came during the timed one"
        );
        assert_eq!(
            copied(&mut log, LONG + 700 + 900),
            NextCheckpoint::OnTimer,
            "the second left more than the first: a third would leave as much again"
        );
        assert!(log.start(), "the writer catches up on the rest");
    }

    #[test]
    fn a_pass_must_find_a_quarter_fewer_pages_than_the_one_before_for_another() {
        for (second_pass, next) in [
            (749, NextCheckpoint::AtOnce),
            (750, NextCheckpoint::OnTimer),
        ] {
            let mut log = LogCatchUp::default();
            log.wrote();
            assert_eq!(copied(&mut log, LONG), NextCheckpoint::AtOnce, "timed");
            assert_eq!(copied(&mut log, LONG + 1_000), NextCheckpoint::AtOnce);
            assert_eq!(
                copied(&mut log, LONG + 1_000 + second_pass),
                next,
                "after a pass that found 1,000 pages, one that finds {second_pass}"
            );
        }
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

    #[test]
    fn catch_ups_come_at_most_every_few_seconds_unless_the_log_grows_much_longer() {
        let mut log = LogCatchUp::default();
        catch_up_at(&mut log, LONG);
        let soon = log.last.unwrap() + CATCH_UP_EVERY / 2;
        log.wrote();
        assert_eq!(copied_at(&mut log, 100, soon), NextCheckpoint::OnTimer);
        assert_eq!(
            copied_at(&mut log, LONG, soon),
            NextCheckpoint::OnTimer,
            "long again, but too soon"
        );
        assert_eq!(
            copied_at(&mut log, LONG + PATIENCE_PAGES, soon),
            NextCheckpoint::AtOnce,
            "far too long to wait"
        );
        assert_eq!(
            copied_at(&mut log, LONG + PATIENCE_PAGES + 1, soon),
            NextCheckpoint::OnTimer
        );
        assert!(log.start());

        log.wrote();
        assert_eq!(copied_at(&mut log, 100, soon), NextCheckpoint::OnTimer);
        let later = soon + CATCH_UP_EVERY;
        assert_eq!(
            copied_at(&mut log, LONG, later),
            NextCheckpoint::AtOnce,
            "long enough, and long enough after the last"
        );
    }
}
