//! How an HTTP node talks to its service: timeouts, retries, rate limit, body limit. Plain
//! data a host sets once (`SessionOptions::with(HttpOptions { .. })`) and every session reads.

use std::time::Duration;

pub use nodehost_core::RetryPolicy;
use nodehost_core::SessionOptions;

/// How a session talks to remote services. Every limit is explicit.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// Time allowed to establish a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt, from sending the request to the end of the body.
    pub request_timeout: Duration,
    /// Retry behaviour for transient failures.
    pub retry: RetryPolicy,
    /// Cap on requests per second across the session (`None`: no cap).
    pub rate_limit_per_second: Option<f64>,
    /// Allow `http://` to non-loopback hosts (secrets would travel in clear).
    pub allow_insecure_http: bool,
    /// Largest response body accepted, in bytes.
    pub max_response_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            rate_limit_per_second: None,
            allow_insecure_http: false,
            max_response_bytes: 16 * 1024 * 1024,
        }
    }
}

impl HttpOptions {
    /// The options a host set, or the defaults.
    pub fn from_session(options: &SessionOptions) -> Self {
        options.get::<Self>().cloned().unwrap_or_default()
    }
}
