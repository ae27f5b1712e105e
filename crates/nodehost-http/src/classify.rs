//! Turning a `reqwest` error into what the retry decision needs (was it sent?) and what a
//! user reads (what broke, in plain words).
//!
//! Owns the mapping only. Detail text comes from the innermost error of the source chain
//! (the OS, the resolver or rustls), never from `reqwest::Error`'s own `Display`, which
//! carries the full URL, query and user-info included.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use crate::retry::Failure;

use crate::error::TransportCause;

/// The timeouts in force, to name them in messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) request: Duration,
}

/// Classify a failed attempt.
///
/// Connect-stage errors (`is_connect`) come from the connector, which hands over a
/// connection only once TCP and TLS are up, so no request byte was written: those are
/// [`Failure::Refused`] (nothing listens, or the name does not resolve) or
/// [`Failure::Connect`] (anything else, TLS included). Everything after that point may have
/// reached the server and is [`Failure::Timeout`] or [`Failure::Io`], conservatively so when
/// the cause is unknown.
pub(crate) fn classify(err: &reqwest::Error, timeouts: Timeouts) -> (Failure, TransportCause) {
    if err.is_connect() {
        if io_kind_in_chain(err, &[io::ErrorKind::ConnectionRefused]) {
            return (Failure::Refused, TransportCause::Refused);
        }
        if chain(err).any(|e| e.to_string().starts_with("dns error")) {
            return (Failure::Refused, TransportCause::Dns(innermost(err)));
        }
        if err.is_timeout() {
            return (Failure::Connect, TransportCause::ConnectTimeout(timeouts.connect));
        }
        return (Failure::Connect, TransportCause::Connect(innermost(err)));
    }
    if err.is_timeout() {
        return (Failure::Timeout, TransportCause::Timeout(timeouts.request));
    }
    if io_kind_in_chain(
        err,
        &[
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::BrokenPipe,
        ],
    ) {
        return (Failure::Io, TransportCause::Reset);
    }
    // hyper is not a direct dependency, so its `IncompleteMessage` is known by its words.
    let closed_early = io_kind_in_chain(err, &[io::ErrorKind::UnexpectedEof])
        || chain(err).any(|e| {
            e.to_string()
                .contains("connection closed before message completed")
        });
    if closed_early {
        return (Failure::Io, TransportCause::Closed);
    }
    (Failure::Io, TransportCause::Io(innermost(err)))
}

/// The error's sources, outermost first, excluding `reqwest::Error` itself.
fn chain<'a>(err: &'a reqwest::Error) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(err.source(), |e| (*e).source())
}

fn io_kind_in_chain(err: &reqwest::Error, kinds: &[io::ErrorKind]) -> bool {
    chain(err).any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| kinds.contains(&io.kind()))
    })
}

/// The deepest cause's message: the OS, resolver or TLS library's words.
fn innermost(err: &reqwest::Error) -> String {
    chain(err)
        .last()
        .map_or_else(|| "unknown cause".to_owned(), |e| e.to_string())
}
