//! nodehost-http: the HTTP layer nodes use to reach their remote APIs.
//!
//! Owns the wire: one pooled client per run with explicit timeouts, safe retries (the
//! decision itself lives in `nodehost_core::retry`), a shared rate limit, bounded response
//! bodies, and errors that name what broke without ever carrying a secret. It knows no
//! particular API: nodes build [`Request`]s, read [`Response`]s and map statuses to their own
//! errors, because only they know where the API puts its message.

mod classify;
mod client;
mod error;
mod limiter;
mod message;
mod redact;

pub use client::{HttpClient, USER_AGENT};
pub use error::{HttpError, TransportCause};
pub use message::{Request, Response};
pub use redact::check_base_url;
