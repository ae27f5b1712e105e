//! What a caller can choose about a sandbox: where it listens, where its data lives, which key
//! it accepts, how many sample clients it starts with, which faults it injects and its limits.
//!
//! Plain data only: nothing here opens a socket or a file. `Debug` never shows the API key.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::SandboxError;

/// Default listen address: loopback only, so a sandbox is never reachable from the network by
/// accident.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 5800);

/// Everything `start` needs.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Address to listen on; port 0 picks a free port (read it back with `local_addr`).
    pub listen: SocketAddr,
    /// Where the SQLite database lives.
    pub db: DbLocation,
    /// The key to accept. `None`: mint a fresh `gck_` + 64 hex key for this run (its SHA-256 is
    /// stored; keys minted or given on earlier runs of the same database keep working).
    pub api_key: Option<String>,
    /// Number of deterministic sample clients to insert when the database holds no client.
    pub seed: u32,
    /// Injected faults; all off by default.
    pub faults: Faults,
    /// Resource limits.
    pub limits: Limits,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            db: DbLocation::Memory,
            api_key: None,
            seed: 0,
            faults: Faults::default(),
            limits: Limits::default(),
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("listen", &self.listen)
            .field("db", &self.db)
            .field("api_key", &self.api_key.as_ref().map(|_| crate::REDACTED))
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .field("limits", &self.limits)
            .finish()
    }
}

impl SandboxConfig {
    /// Rejects settings that cannot mean anything (a share outside 0..=1, a zero limit) before
    /// any socket or file is touched.
    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        for (name, share) in [
            ("error_503_share", self.faults.error_503_share),
            ("rate_limit_429_share", self.faults.rate_limit_429_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(SandboxError::InvalidConfig(format!(
                    "faults.{name} must be between 0 and 1, got {share}"
                )));
            }
        }
        if self.faults.error_503_share + self.faults.rate_limit_429_share > 1.0 {
            return Err(SandboxError::InvalidConfig(
                "faults.error_503_share + faults.rate_limit_429_share must not exceed 1".into(),
            ));
        }
        if self.limits.body_bytes == 0
            || self.limits.max_concurrent_requests == 0
            || self.limits.request_timeout.is_zero()
        {
            return Err(SandboxError::InvalidConfig(
                "limits must be greater than zero".into(),
            ));
        }
        if let Some(key) = &self.api_key {
            // The key travels in an HTTP header: it must be a visible ASCII token.
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(SandboxError::InvalidConfig(
                    "api_key must be non-empty visible ASCII without spaces".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Where the SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// A private in-memory database, gone when the sandbox stops.
    Memory,
    /// A database file (created with its parent directories if missing); survives restarts.
    File(PathBuf),
}

/// Injected faults, for exercising a client's retry and error paths.
///
/// Every request except `/api/__sandbox/*` is an *attempt* and is numbered per
/// `METHOD /path` (the path without its query), starting at 1. For attempt number `n`:
/// 1. wait `latency` (every attempt, faulty or not);
/// 2. if `n <= fail_first_n_503`: answer 503 with an HTML body (deterministic);
/// 3. else if `n <= fail_first_n_503 + rate_limit_first_n_429`: answer 429 (deterministic);
/// 4. else draw once: with probability `error_503_share` answer 503, with probability
///    `rate_limit_429_share` answer 429;
/// 5. otherwise handle the request normally (authentication included).
///
/// Faults come before authentication, as they would from a proxy in front of the real API.
/// Every 429 carries `Retry-After: retry_after_secs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added delay before every attempt is answered.
    pub latency: Duration,
    /// Share (0..=1) of attempts answered 503 with an HTML body, drawn at random.
    pub error_503_share: f64,
    /// Share (0..=1) of attempts answered 429, drawn at random.
    pub rate_limit_429_share: f64,
    /// Value of the `Retry-After` header (seconds) on every 429.
    pub retry_after_secs: u64,
    /// The first N attempts at each `METHOD /path` are answered 503 (deterministic).
    pub fail_first_n_503: u32,
    /// The N attempts after those are answered 429 (deterministic).
    pub rate_limit_first_n_429: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            error_503_share: 0.0,
            rate_limit_429_share: 0.0,
            retry_after_secs: 1,
            fail_first_n_503: 0,
            rate_limit_first_n_429: 0,
        }
    }
}

impl Faults {
    /// True when no fault at all is configured, so the hot path can skip the bookkeeping.
    pub(crate) fn is_off(&self) -> bool {
        self.latency.is_zero()
            && self.error_503_share == 0.0
            && self.rate_limit_429_share == 0.0
            && self.fail_first_n_503 == 0
            && self.rate_limit_first_n_429 == 0
    }
}

/// Resource limits; nothing the sandbox does is unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted request body; larger bodies get 413.
    pub body_bytes: usize,
    /// Longest a request may take (injected latency included); slower ones get 408.
    pub request_timeout: Duration,
    /// Requests handled at once; beyond that new requests are shed with 503 at once.
    pub max_concurrent_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 256,
        }
    }
}
