//! nodehost-http: the HTTP layer nodes use to reach their remote APIs.
//!
//! Owns the wire: one pooled client per session with explicit timeouts, safe retries (the
//! decision is [`retry::decide`], a pure function), a shared rate limit, bounded response
//! bodies, and errors that name what broke without ever carrying a secret; and what every HTTP
//! node does with an answer (excerpts of error pages, the key scrubbed from echoes). It knows
//! no particular API: nodes build [`Request`]s, read [`Response`]s and map statuses to their
//! own errors, because only they know where the API puts its message.

pub mod answer;
mod classify;
mod client;
mod error;
mod limiter;
mod message;
mod options;
mod redact;
pub mod retry;

pub use client::{BREAKER_FAILURES, HttpClient, SMALL_BODY_BYTES, USER_AGENT, retries};
pub use error::{HttpError, TransportCause};
pub use message::{Request, Response};
pub use options::{HttpOptions, RetryPolicy};
pub use redact::check_base_url;

use nodehost_core::NodeError;

/// The member of an item's error object that carries the remote HTTP status.
pub const HTTP_STATUS: &str = "httpStatus";

/// The HTTP status of a [`NodeError`], under [`HTTP_STATUS`].
pub trait HttpErrorExt {
    /// Attach the remote HTTP status.
    #[must_use]
    fn with_status(self, status: u16) -> Self;
    /// The remote HTTP status, when there was one.
    fn http_status(&self) -> Option<u16>;
}

impl HttpErrorExt for NodeError {
    fn with_status(self, status: u16) -> Self {
        self.with_field(HTTP_STATUS, status)
    }

    fn http_status(&self) -> Option<u16> {
        self.field(HTTP_STATUS)
            .and_then(serde_json::Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
    }
}
