//! The shared request-rate limiter: every attempt (retries included) of every clone of a
//! client takes a slot, one slot per `1 / rate` seconds, burst of one.
//!
//! This is GCRA reduced to its core: a single "next free slot" instant. Taking a slot is a
//! short critical section (no await inside the lock), then a sleep until that slot.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::HttpError;

/// Longest spacing accepted (a rate of one request per hour). Slower rates are almost
/// certainly a unit mistake, and bounding the interval keeps instant arithmetic far from
/// overflow.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// Spaces attempts `interval` apart across all tasks sharing it.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    next_slot: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter for `per_second` attempts per second; refuses a rate that is not a positive,
    /// finite number, or slower than one per [`MAX_INTERVAL`].
    pub(crate) fn new(per_second: f64) -> Result<Self, HttpError> {
        let bad = || {
            HttpError::Setup(format!(
                "rate limit must be a finite number of requests per second, at least \
                 1/3600 (one per hour), got {per_second}"
            ))
        };
        if !per_second.is_finite() || per_second <= 0.0 {
            return Err(bad());
        }
        let interval = Duration::try_from_secs_f64(1.0 / per_second).map_err(|_| bad())?;
        if interval > MAX_INTERVAL {
            return Err(bad());
        }
        Ok(Self {
            interval,
            next_slot: Mutex::new(Instant::now()),
        })
    }

    /// Wait for this attempt's slot.
    ///
    /// A slot is reserved when the call starts; if the caller is cancelled while waiting, that
    /// slot goes unused. That errs on the side of sending less, never more, than the rate.
    pub(crate) async fn acquire(&self) {
        let slot = {
            // A poisoned lock only means another task panicked between two plain assignments;
            // the instant inside is still a valid instant, so keep using it.
            let mut next = self
                .next_slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unusable_rates() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300, 1.0 / 7200.0] {
            assert!(RateLimiter::new(rate).is_err(), "{rate}");
        }
        assert!(RateLimiter::new(0.5).is_ok());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn spaces_attempts_by_the_interval() {
        let limiter = RateLimiter::new(50.0).map_err(|e| e.to_string());
        let Ok(limiter) = limiter else {
            panic!("{limiter:?}");
        };
        let start = Instant::now();
        for _ in 0..6 {
            limiter.acquire().await;
        }
        // The first slot is immediate, the next five are 20ms apart.
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "{:?}",
            start.elapsed()
        );
    }
}
