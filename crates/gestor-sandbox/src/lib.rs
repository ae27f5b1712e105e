//! A local, independent emulator of the Gestor Clientes Max API (the contract in
//! `shared/gestor-clientes-max-api.md`): same paths, statuses, bodies, defaults, timestamps and
//! error shapes, data in SQLite that survives restarts, and injectable faults for testing
//! clients' retry paths. It shares no code with the node that talks to the real API, so each
//! can catch the other's mistakes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gestor_sandbox::SandboxError> {
//! let sandbox = gestor_sandbox::start(gestor_sandbox::SandboxConfig::default()).await?;
//! eprintln!("{} {}", sandbox.base_url(), sandbox.api_key());
//! sandbox.run_until(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! Routes: `GET /api/health` (no key), `GET /api/test-connection`, `GET|POST /api/clients`,
//! `GET /api/clients/search?q=`, `GET|PUT|PATCH|DELETE /api/clients/{id}`, and the sandbox's
//! own `GET /api/__sandbox/stats` (request counts per `METHOD /path`). Everything but health
//! needs `Authorization: Bearer <key>`.

mod accounts;
mod attempts;
mod auth;
mod clients_api;
mod clients_repo;
mod config;
mod error;
mod faults;
mod field_rules;
mod record;
mod responses;
mod router;
mod running;
mod schema;
mod seed;
mod service_api;
mod store;
mod validation;
mod zod;

pub use config::{DEFAULT_LISTEN, DbLocation, Faults, Limits, SandboxConfig};
pub use error::SandboxError;
pub use running::{RunningSandbox, start};

/// What `Debug` shows instead of a key.
const REDACTED: &str = "<redacted>";
