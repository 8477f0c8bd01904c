//! A per-address budget for the sign-in endpoints: each login or registration costs an argon2
//! hash (tens of milliseconds of CPU) and each guest sign-in a new account, so one address may
//! not call them faster than a person would.

use crate::error::{AppError, ErrorCode};
use crate::ws::rate_limit::TokenBucket;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Most addresses remembered; past it, addresses with a full budget are forgotten.
const MAX_TRACKED: usize = 10_000;

/// Token buckets by client address.
pub struct AuthRateLimiter {
    per_minute: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl AuthRateLimiter {
    /// `per_minute` calls on average, `burst` at once; 0 switches the limit off.
    pub fn new(per_minute: f64, burst: f64) -> AuthRateLimiter {
        AuthRateLimiter {
            per_minute,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from the address's budget, or refuses with `rate_limited` (429).
    pub fn check(&self, address: Option<IpAddr>) -> Result<(), AppError> {
        let (Some(address), true) = (address, self.per_minute > 0.0) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&address) {
            buckets.retain(|_, bucket| !bucket.is_full_at(now));
        }
        let bucket = buckets
            .entry(address)
            .or_insert_with(|| TokenBucket::new(self.per_minute / 60.0, self.burst));
        if bucket.try_take_at(now) {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorCode::RateLimited,
                "too many sign-in attempts from this address; wait a minute",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_is_refused_while_others_are_not() {
        let limiter = AuthRateLimiter::new(6.0, 3.0);
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        assert!((0..3).all(|_| limiter.check(a).is_ok()));
        let refused = limiter.check(a).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert!(limiter.check(b).is_ok());
        assert!(AuthRateLimiter::new(0.0, 0.0).check(a).is_ok());
    }
}
