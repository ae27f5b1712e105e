//! Retry decisions: a pure function of the failure, the attempt and the policy.
//!
//! This module owns *whether* and *how long* to wait before trying a request again, and the
//! parsing of `Retry-After`. It does no I/O and knows no HTTP client: the HTTP layer classifies
//! what went wrong into a [`Failure`], draws the jitter, sleeps, and counts attempts. Keeping the
//! decision pure lets every rule below be pinned by a table of unit tests.
//!
//! # Rules
//! - Transient failures are retried: connection errors, timeouts, resets, and the statuses
//!   408, 429, 502, 503 and 504 ([`is_transient_status`]). Every other status (other 4xx,
//!   500, 501, ...) is an answer, not an accident, and is never retried.
//! - A request that is not idempotent (POST) is retried only when it provably never left this
//!   machine: [`Failure::Refused`] and [`Failure::Connect`]. After a timeout, a reset or *any*
//!   status, the server may have applied it, and doing it twice (two clients created) is worse
//!   than reporting a failure the user can check. This includes 502/503/504 and even 429: a
//!   gateway answers 502/504 *after* forwarding the request, and we cannot tell which hop
//!   produced a 429/503.
//! - Waits use exponential backoff with full jitter: before the next attempt after attempt `n`,
//!   wait `jitter * min(cap, base * 2^(n-1))`, `jitter` uniform in `[0, 1)`.
//! - `Retry-After` is honoured: the wait is at least what the server asked for. If the server
//!   asks for more than `cap`, we give up at once and hand back its answer (with the header)
//!   rather than wait `cap` and knock early. Coming back before the server said it is ready
//!   would most likely earn the same 429/503, spend an attempt and add load to a server that
//!   asked for less; and `cap` is the caller's promise of the longest pause a run takes. The
//!   user then sees the 429/503 immediately and can schedule the run for later.
//! - Nothing is retried once `attempt >= max_tries`, and a connection that could not be made
//!   (refused, unresolved, failed handshake) is tried at most [`CONNECT_TRIES`] times: that is
//!   a server that is down or a wrong address, not an overloaded one, and waiting out the whole
//!   budget of tries would only delay the report.

use std::time::{Duration, SystemTime};

use crate::options::RetryPolicy;

/// What went wrong with one attempt, as far as the retry decision cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connection refused or host name not resolved: the request provably never left.
    Refused,
    /// Any other failure while establishing the connection (connect timeout, TLS handshake,
    /// unreachable network). Treated as *not sent*: an HTTP client writes no request byte
    /// before the TCP connection and the TLS handshake have completed (TLS 0-RTT early data,
    /// the one exception, is not used by the nodehost client).
    Connect,
    /// The attempt ran out of time after the connection was up: the server may have it.
    Timeout,
    /// The connection broke mid-request or mid-response (reset, closed early): the server may
    /// have it.
    Io,
    /// The server answered with this status.
    Status {
        /// HTTP status code.
        status: u16,
        /// The parsed `Retry-After` header, if any (see [`parse_retry_after`]).
        retry_after: Option<Duration>,
    },
}

impl Failure {
    /// Whether the request may have reached the server (and so may have been applied).
    pub fn may_have_reached_server(&self) -> bool {
        !matches!(self, Self::Refused | Self::Connect)
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    Retry {
        /// Pause before the next attempt.
        after: Duration,
    },
    /// Stop and report the last failure.
    GiveUp,
}

/// Most attempts when the connection itself fails (see the module rules).
pub const CONNECT_TRIES: u32 = 3;

/// Whether a status is worth another try of an idempotent request: request timeout, too many
/// requests, and the gateway/overload family. 500 and 501 are bugs or refusals, not weather.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 502 | 503 | 504)
}

/// Decide what to do after `attempt` (1-based) failed with `failure`.
///
/// `idempotent` says whether repeating the request is harmless (GET, HEAD, PUT, DELETE,
/// OPTIONS). `jitter` is a uniform random number in `[0, 1)`, passed in so that the decision
/// stays deterministic under test; values outside that range are clamped.
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    idempotent: bool,
    failure: &Failure,
    jitter: f64,
) -> Decision {
    let attempt = attempt.max(1);
    if attempt >= policy.max_tries {
        return Decision::GiveUp;
    }
    let retry_after = match *failure {
        Failure::Refused | Failure::Connect => {
            if attempt >= CONNECT_TRIES {
                return Decision::GiveUp;
            }
            None
        }
        Failure::Timeout | Failure::Io => {
            if !idempotent {
                return Decision::GiveUp;
            }
            None
        }
        Failure::Status { status, retry_after } => {
            if !idempotent || !is_transient_status(status) {
                return Decision::GiveUp;
            }
            retry_after
        }
    };
    let backoff = full_jitter(policy, attempt, jitter);
    match retry_after {
        None => Decision::Retry { after: backoff },
        Some(asked) if asked > policy.cap => Decision::GiveUp,
        Some(asked) => Decision::Retry {
            after: asked.max(backoff),
        },
    }
}

/// `jitter * min(cap, base * 2^(attempt-1))` (see [`RetryPolicy::backoff`]).
fn full_jitter(policy: &RetryPolicy, attempt: u32, jitter: f64) -> Duration {
    policy.backoff(attempt, jitter)
}

/// Parse a `Retry-After` header value: delta-seconds (`"120"`) or an HTTP-date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`). A date in the past means "now" (zero). Anything else
/// is `None`, and the caller falls back to its own backoff.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits, so the only possible parse failure is overflow: a server asking for
        // more than u64 seconds means "a very long time", which the cap then refuses.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_tries: 4,
            base: MS(100),
            cap: MS(1_000),
        }
    }

    fn status(status: u16) -> Failure {
        Failure::Status {
            status,
            retry_after: None,
        }
    }

    fn status_after(status: u16, secs: u64) -> Failure {
        Failure::Status {
            status,
            retry_after: Some(Duration::from_secs(secs)),
        }
    }

    fn retry(ms: u64) -> Decision {
        Decision::Retry { after: MS(ms) }
    }

    use Decision::GiveUp;

    #[test]
    fn decision_table() {
        // (why, attempt, idempotent, failure, jitter, expected)
        let rows: Vec<(&str, u32, bool, Failure, f64, Decision)> = vec![
            // Connection never made: safe for every method, a few times.
            ("GET refused", 1, true, Failure::Refused, 0.5, retry(50)),
            ("GET refused, third try", 3, true, Failure::Refused, 0.5, GiveUp),
            (
                "POST connect error, third try",
                3,
                false,
                Failure::Connect,
                0.5,
                GiveUp,
            ),
            ("POST refused", 1, false, Failure::Refused, 0.5, retry(50)),
            ("GET connect error", 1, true, Failure::Connect, 0.5, retry(50)),
            ("POST connect error", 1, false, Failure::Connect, 0.5, retry(50)),
            // May have reached the server: only idempotent requests.
            ("GET timeout", 1, true, Failure::Timeout, 0.5, retry(50)),
            ("POST timeout", 1, false, Failure::Timeout, 0.5, GiveUp),
            ("PUT reset", 1, true, Failure::Io, 0.5, retry(50)),
            ("POST reset", 1, false, Failure::Io, 0.5, GiveUp),
            // Transient statuses, idempotent.
            ("GET 408", 1, true, status(408), 0.5, retry(50)),
            ("GET 429", 1, true, status(429), 0.5, retry(50)),
            ("GET 502", 1, true, status(502), 0.5, retry(50)),
            ("DELETE 503", 1, true, status(503), 0.5, retry(50)),
            ("GET 504", 1, true, status(504), 0.5, retry(50)),
            // Never retried: answers, not accidents.
            ("GET 400", 1, true, status(400), 0.5, GiveUp),
            ("GET 401", 1, true, status(401), 0.5, GiveUp),
            ("GET 404", 1, true, status(404), 0.5, GiveUp),
            ("PUT 409", 1, true, status(409), 0.5, GiveUp),
            ("GET 500", 1, true, status(500), 0.5, GiveUp),
            ("GET 501", 1, true, status(501), 0.5, GiveUp),
            ("GET 200", 1, true, status(200), 0.5, GiveUp),
            // POST is never retried on any status, transient or not.
            ("POST 429", 1, false, status(429), 0.5, GiveUp),
            ("POST 502", 1, false, status(502), 0.5, GiveUp),
            ("POST 503", 1, false, status(503), 0.5, GiveUp),
            ("POST 504", 1, false, status(504), 0.5, GiveUp),
            (
                "POST 503 + Retry-After",
                1,
                false,
                status_after(503, 0),
                0.5,
                GiveUp,
            ),
            // Exponential growth: ceilings 100, 200, 400 ms for attempts 1..3.
            ("attempt 2", 2, true, Failure::Timeout, 0.5, retry(100)),
            ("attempt 3", 3, true, Failure::Timeout, 0.5, retry(200)),
            // Full jitter: anywhere from zero to the ceiling.
            ("jitter 0", 3, true, Failure::Timeout, 0.0, retry(0)),
            ("jitter 3/4", 3, true, Failure::Timeout, 0.75, retry(300)),
            // Out-of-range jitter is clamped, never panics.
            ("jitter NaN", 1, true, Failure::Timeout, f64::NAN, retry(0)),
            ("jitter > 1", 1, true, Failure::Timeout, 7.0, retry(100)),
            ("jitter < 0", 1, true, Failure::Timeout, -1.0, retry(0)),
            // The budget: attempt 4 of 4 is the last.
            ("last attempt refused", 4, true, Failure::Refused, 0.5, GiveUp),
            ("last attempt 503", 4, true, status(503), 0.5, GiveUp),
            ("beyond budget", 9, false, Failure::Refused, 0.5, GiveUp),
            // Retry-After is a floor ...
            ("Retry-After 0", 1, true, status_after(429, 0), 0.5, retry(50)),
            ("Retry-After 1", 1, true, status_after(503, 1), 0.5, retry(1_000)),
            (
                "Retry-After on 408",
                1,
                true,
                status_after(408, 1),
                0.0,
                retry(1_000),
            ),
            // ... within the cap; above it we hand the answer back instead of knocking early.
            ("Retry-After > cap", 1, true, status_after(429, 2), 0.5, GiveUp),
            (
                "Retry-After huge",
                1,
                true,
                status_after(503, u64::MAX),
                0.5,
                GiveUp,
            ),
            // Retry-After on a status we never retry changes nothing.
            ("Retry-After on 500", 1, true, status_after(500, 0), 0.5, GiveUp),
        ];
        for (why, attempt, idempotent, failure, jitter, expected) in rows {
            let got = decide(&policy(), attempt, idempotent, &failure, jitter);
            assert_eq!(got, expected, "{why}");
        }
    }

    #[test]
    fn backoff_is_capped_and_saturates() {
        // 100ms * 2^(n-1) passes the 1s cap from attempt 5 on, and 2^n overflows from 32 on.
        let p = RetryPolicy {
            max_tries: u32::MAX,
            ..policy()
        };
        for attempt in [5, 20, 32, 33, 64, 1_000, u32::MAX - 1] {
            assert_eq!(
                decide(&p, attempt, true, &Failure::Io, 0.5),
                retry(500),
                "attempt {attempt}"
            );
        }
        // An absurd cap must not overflow either.
        let p = RetryPolicy {
            max_tries: u32::MAX,
            base: Duration::MAX,
            cap: Duration::MAX,
        };
        assert!(matches!(
            decide(&p, 3, true, &Failure::Io, 0.999_999),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn single_try_policy_never_retries() {
        let p = RetryPolicy {
            max_tries: 1,
            ..policy()
        };
        assert_eq!(decide(&p, 1, true, &Failure::Refused, 0.5), GiveUp);
        // A zero budget behaves like one try, and attempt 0 like attempt 1.
        let p = RetryPolicy {
            max_tries: 0,
            ..policy()
        };
        assert_eq!(decide(&p, 0, true, &Failure::Refused, 0.5), GiveUp);
        assert_eq!(decide(&policy(), 0, true, &Failure::Refused, 0.5), retry(50));
    }

    #[test]
    fn may_have_reached_server() {
        assert!(!Failure::Refused.may_have_reached_server());
        assert!(!Failure::Connect.may_have_reached_server());
        assert!(Failure::Timeout.may_have_reached_server());
        assert!(Failure::Io.may_have_reached_server());
        assert!(status(503).may_have_reached_server());
    }

    #[test]
    fn retry_after_parsing() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let secs = |s: u64| Some(Duration::from_secs(s));
        let rows: Vec<(&str, Option<Duration>)> = vec![
            ("0", secs(0)),
            ("120", secs(120)),
            (" 5 ", secs(5)),
            ("99999999999999999999999", secs(u64::MAX)),
            ("Wed, 21 Oct 2015 07:28:30 GMT", secs(30)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", secs(0)),
            // A date in the past means "go ahead now".
            ("Wed, 21 Oct 2015 07:00:00 GMT", secs(0)),
            // Obsolete formats HTTP still asks recipients to accept.
            ("Wednesday, 21-Oct-15 07:29:00 GMT", secs(60)),
            ("Wed Oct 21 07:29:00 2015", secs(60)),
            ("", None),
            ("   ", None),
            ("-5", None),
            ("1.5", None),
            ("+5", None),
            ("soon", None),
            ("Wed, 32 Oct 2015 07:28:00 GMT", None),
        ];
        for (value, expected) in rows {
            assert_eq!(parse_retry_after(value, now), expected, "{value:?}");
        }
    }
}
