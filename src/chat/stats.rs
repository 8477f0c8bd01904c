//! Live figures the chat server keeps: messages stored per second over the last minute.

use std::collections::VecDeque;

/// Messages stored in each of the last 60 seconds (seconds without any are left out).
#[derive(Default)]
pub struct StoredRate {
    per_second: VecDeque<(u64, u64)>,
}

impl StoredRate {
    /// Counts `count` messages stored in the second `now` (Unix seconds).
    pub fn count(&mut self, now: u64, count: u64) {
        match self.per_second.back_mut() {
            Some((second, n)) if *second == now => *n += count,
            _ => self.per_second.push_back((now, count)),
        }
        self.forget_before(now);
    }

    /// Messages stored in the 60 seconds up to `now`.
    pub fn last_minute(&mut self, now: u64) -> u64 {
        self.forget_before(now);
        self.per_second.iter().map(|(_, n)| n).sum()
    }

    fn forget_before(&mut self, now: u64) {
        while self
            .per_second
            .front()
            .is_some_and(|(second, _)| *second + 60 <= now)
        {
            self.per_second.pop_front();
        }
    }
}

/// The current Unix second.
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_counts_every_message_of_its_sixty_seconds_and_forgets_older_ones() {
        let mut rate = StoredRate::default();
        rate.count(1000, 3);
        rate.count(1000, 2);
        rate.count(1030, 10);
        assert_eq!(rate.last_minute(1030), 15);
        assert_eq!(rate.last_minute(1059), 15);
        assert_eq!(rate.last_minute(1060), 10, "second 1000 is a minute old");
        assert_eq!(rate.last_minute(1090), 0);
    }
}
