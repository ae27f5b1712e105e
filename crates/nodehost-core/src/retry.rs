//! How often and how patiently a failed attempt is tried again: one policy for every layer
//! that retries (an HTTP node's requests, the host's retries of a dynamic node's items).

use std::time::Duration;

/// Exponential backoff with full jitter: attempt `n` (1-based) waits a random duration in
/// `[0, min(cap, base * 2^(n-1))]` before the next try.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = never retry).
    pub max_tries: u32,
    /// Backoff before the second attempt (before jitter).
    pub base: Duration,
    /// Longest wait between two attempts.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_tries: 10,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after attempt `attempt` (1-based) failed: `jitter * min(cap, base *
    /// 2^(attempt-1))`, saturating instead of overflowing. `jitter` is a uniform random number
    /// in `[0, 1)`, passed in so that callers stay deterministic under test; values outside
    /// that range are clamped.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        // Past 2^31 the ceiling is long above any sane cap, so saturating is exact enough.
        let factor = 1u32.checked_shl(attempt.max(1) - 1).unwrap_or(u32::MAX);
        let ceiling = self.base.saturating_mul(factor).min(self.cap);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // `mul_f64` panics when rounding lands past `Duration::MAX`; the ceiling is a safe answer.
        Duration::try_from_secs_f64(ceiling.as_secs_f64() * jitter).map_or(ceiling, |d| d.min(ceiling))
    }
}
