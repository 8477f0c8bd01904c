//! A token bucket: `rate` frames per second on average, bursts of up to `burst`.

use std::time::Instant;

/// Per-connection frame budget.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64) -> TokenBucket {
        let burst = burst.max(1.0);
        TokenBucket {
            tokens: burst,
            burst,
            rate: rate.max(0.0),
            refilled: Instant::now(),
        }
    }

    /// Takes one token at `now`; false when the budget is spent.
    pub fn try_take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket would be full at `now` (an idle client, safe to forget).
    pub fn is_full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }

    /// Takes one token now.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_the_rate_holds() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(20.0, 40.0);
        assert_eq!((0..50).filter(|_| bucket.try_take_at(start)).count(), 40);
        // Half a second later, ten more.
        let later = start + Duration::from_millis(500);
        assert_eq!((0..50).filter(|_| bucket.try_take_at(later)).count(), 10);
    }
}
