//! How many requests the chat server has sent the history actor that have not been answered
//! yet. While the database is slow or gone they pile up (each holds a history thread until the
//! pool gives up), so past a bound the chat server refuses new reads at once with
//! `unavailable` instead of queueing them without limit. Each request holds a [`Permit`] until
//! its answer has been handled (or its future dropped).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Requests to the history actor in flight.
#[derive(Debug)]
pub struct HistoryLoad {
    in_flight: Arc<AtomicUsize>,
    max: usize,
}

/// One request in flight; dropping it ends it.
#[derive(Debug)]
pub struct Permit(Arc<AtomicUsize>);

impl HistoryLoad {
    /// A load of at most `max` requests in flight for reads that may be refused.
    pub fn new(max: usize) -> HistoryLoad {
        HistoryLoad {
            in_flight: Arc::default(),
            max: max.max(1),
        }
    }

    /// A permit for a request that must go whatever the load (a leave, a ban's account read):
    /// counted, never refused.
    pub fn permit(&self) -> Permit {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Permit(self.in_flight.clone())
    }

    /// A permit for a read a client asked for, unless `max` are in flight already.
    pub fn try_permit(&self) -> Option<Permit> {
        (self.in_flight() < self.max).then(|| self.permit())
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_bound_reads_are_refused_until_one_is_answered() {
        let load = HistoryLoad::new(2);
        let a = load.try_permit().expect("first");
        let _b = load.try_permit().expect("second");
        assert!(load.try_permit().is_none(), "two in flight");
        let forced = load.permit();
        assert_eq!(load.in_flight(), 3, "what must go is counted");
        drop(forced);
        drop(a);
        assert_eq!(load.in_flight(), 1);
        assert!(load.try_permit().is_some());
    }
}
