//! The one error type of the HTTP layer, and the plain-words cause of a transport failure.
//!
//! Owns what a user reads when a request fails without an HTTP answer. It never holds a
//! header value, a URL's user-info or its query: targets are rendered by
//! [`crate::redact::target`], which keeps only scheme, host, port and path.

use std::fmt;
use std::time::Duration;

/// Why the HTTP layer could not produce a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// A URL that must not be used (wrong scheme, embedded password, clear text to a remote
    /// host). `url` is already redacted.
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL with user-info and query values masked.
        url: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The client could not be built from the options.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// The request itself is malformed (the HTTP client refused to build it).
    #[error("invalid request to {target}: {reason}")]
    InvalidRequest {
        /// `METHOD scheme://host:port/path`.
        target: String,
        /// What the HTTP client objected to.
        reason: String,
    },
    /// No usable answer: the connection failed, timed out or broke, on every attempt allowed.
    #[error(
        "{target}: {cause} ({attempts} {}{})",
        plural(*attempts),
        if *maybe_sent { "; the request may have reached the server" } else { "; the request was not sent" }
    )]
    Transport {
        /// `METHOD scheme://host:port/path`.
        target: String,
        /// What went wrong on the last attempt.
        cause: TransportCause,
        /// Attempts made, the first included.
        attempts: u32,
        /// Whether any attempt may have reached the server (and so may have been applied).
        maybe_sent: bool,
    },
    /// The response body was larger than `max_response_bytes`; it was not read further.
    #[error(
        "{target}: response body larger than the limit of {limit} bytes (status {status}, {attempts} {})",
        plural(*attempts)
    )]
    BodyTooLarge {
        /// `METHOD scheme://host:port/path`.
        target: String,
        /// HTTP status of the oversized answer.
        status: u16,
        /// The limit in force.
        limit: usize,
        /// Attempts made, the first included.
        attempts: u32,
    },
}

fn plural(attempts: u32) -> &'static str {
    if attempts == 1 { "attempt" } else { "attempts" }
}

impl HttpError {
    /// Whether the request may have reached the server, so a non-idempotent request (a create)
    /// may have been applied even though no answer came back.
    pub fn maybe_sent(&self) -> bool {
        match self {
            Self::Transport { maybe_sent, .. } => *maybe_sent,
            // The server answered, so it certainly got the request.
            Self::BodyTooLarge { .. } => true,
            Self::InvalidUrl { .. } | Self::Setup(_) | Self::InvalidRequest { .. } => false,
        }
    }

    /// Attempts made before giving up (0 when nothing was attempted).
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Transport { attempts, .. } | Self::BodyTooLarge { attempts, .. } => *attempts,
            Self::InvalidUrl { .. } | Self::Setup(_) | Self::InvalidRequest { .. } => 0,
        }
    }

    /// Whether the last attempt ran out of time (connecting or waiting for the answer).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Transport {
                cause: TransportCause::Timeout(_) | TransportCause::ConnectTimeout(_),
                ..
            }
        )
    }
}

/// What broke on the wire, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportCause {
    /// Nothing listens on that host and port.
    Refused,
    /// The host name did not resolve; carries the resolver's words.
    Dns(String),
    /// The TCP/TLS connection was not up within the connect timeout.
    ConnectTimeout(Duration),
    /// Any other failure to connect (TLS handshake, unreachable network); carries the detail.
    Connect(String),
    /// The attempt was not answered (body included) within the request timeout.
    Timeout(Duration),
    /// The peer reset the connection.
    Reset,
    /// The connection closed before the response was complete.
    Closed,
    /// Any other I/O failure mid-request; carries the detail.
    Io(String),
}

impl fmt::Display for TransportCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused => f.write_str("connection refused"),
            Self::Dns(detail) => write!(f, "could not resolve host ({detail})"),
            Self::ConnectTimeout(d) => write!(f, "connect timed out after {}", human(*d)),
            Self::Connect(detail) => write!(f, "could not connect ({detail})"),
            Self::Timeout(d) => write!(f, "timed out after {}", human(*d)),
            Self::Reset => f.write_str("connection reset"),
            Self::Closed => f.write_str("connection closed before the response was complete"),
            Self::Io(detail) => write!(f, "connection failed ({detail})"),
        }
    }
}

/// `30s`, `1.5s`, `250ms`: how a person writes a timeout.
pub(crate) fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_plain_words() {
        let err = HttpError::Transport {
            target: "POST https://api.example.com:443/api/clients".into(),
            cause: TransportCause::Timeout(Duration::from_secs(30)),
            attempts: 1,
            maybe_sent: true,
        };
        assert_eq!(
            err.to_string(),
            "POST https://api.example.com:443/api/clients: timed out after 30s (1 attempt; \
             the request may have reached the server)"
        );
        assert!(err.maybe_sent() && err.is_timeout());
        let err = HttpError::Transport {
            target: "GET http://127.0.0.1:5800/api/clients".into(),
            cause: TransportCause::Refused,
            attempts: 4,
            maybe_sent: false,
        };
        assert_eq!(
            err.to_string(),
            "GET http://127.0.0.1:5800/api/clients: connection refused (4 attempts; the request \
             was not sent)"
        );
        assert_eq!(err.attempts(), 4);
    }

    #[test]
    fn durations_are_human() {
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
    }
}
