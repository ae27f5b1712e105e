//! The one error type of this crate: what can stop a sandbox from starting or running.
//!
//! Errors met while answering a request are HTTP responses (see `api_error`), not this type.

use std::path::PathBuf;

/// Why a sandbox could not start or stopped abnormally. Never contains the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// A setting is out of range.
    #[error("invalid sandbox configuration: {0}")]
    InvalidConfig(String),
    /// The listen address could not be bound (in use, no permission, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address that was asked for.
        addr: std::net::SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The database directory could not be created.
    #[error("cannot create database directory {path}: {source}")]
    CreateDir {
        /// Directory that was asked for.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// SQLite refused an operation (open, migrate, query).
    #[error("sandbox database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// The database file was written by an incompatible (newer) sandbox.
    #[error("sandbox database has schema version {found}, this sandbox understands up to {supported}")]
    SchemaVersion {
        /// Version found in the file.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// The HTTP server failed while running.
    #[error("sandbox server failed: {0}")]
    Serve(std::io::Error),
    /// A background task panicked or was cancelled.
    #[error("sandbox task failed: {0}")]
    Task(String),
}
