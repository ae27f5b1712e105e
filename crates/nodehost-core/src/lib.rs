//! nodehost-core: the node model, the run pipeline and the execution engine.
//!
//! A node is an owned [`NodeDescription`] (what it is, its operations with their side-effect
//! hints and record locks, its parameters as JSON Schema) plus a backend that executes items:
//! a typed Rust [`Node`] or a [`DynamicNode`] that takes JSON (a plugin). A [`Registry`] holds
//! both kinds the same way; a [`Host`] runs them: every item resolved and validated before
//! anything is sent ([`Plan`]), then executed with bounded concurrency, ordered output,
//! continue-on-fail and a stop report ([`engine::execute`], [`RunDocument`]). This crate does
//! no network or file I/O and knows no protocol: nodes bring their own transport (see
//! `nodehost-http`).
//!
//! Embedding, from registry to ordered outputs:
//!
//! ```
//! # use nodehost_core::{Host, Registry, RunConfig, RunInput};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let sandbox = gestor_sandbox::start(gestor_sandbox::SandboxConfig {
//! #     listen: ([127, 0, 0, 1], 0).into(), db: gestor_sandbox::DbLocation::Memory, seed: 3,
//! #     ..Default::default() }).await?;
//! # let (url, key) = (sandbox.base_url(), sandbox.api_key().to_owned());
//! let mut registry = Registry::new();
//! registry.register(node_gestor_clientes::ClienteNode)?;
//! let host = Host::new(registry);
//! let input = RunInput::from_value(serde_json::json!({
//!     "credentials": {"baseUrl": url, "apiKey": key},
//!     "items": [{"operation": "get", "clientId": 1}, {"operation": "getAll", "returnAll": false, "limit": 2}],
//! }))?;
//! let document = host.run("gestorClientesMaxCliente", input, &RunConfig::default()).await?;
//! assert!(document.error.is_none());
//! assert_eq!(document.items.len(), 3); // in input order, each paired with its input item
//! # assert_eq!(document.items[0].paired_item, 0);
//! # sandbox.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! `crates/nodehost-cli/examples/embed.rs` streams the same run item by item
//! (`cargo run -p nodehost-cli --example embed`).

mod definition;
pub mod description;
pub mod document;
pub mod emulator;
pub mod engine;
pub mod error;
pub mod held;
pub mod hosted;
pub mod input;
pub mod lines;
mod locks;
pub mod node;
pub mod operation;
pub mod output;
pub mod pipeline;
pub mod registry;
pub mod report;
pub mod retry;
mod schedule;
pub mod schema;
pub mod secrets;
pub mod validate;

pub use description::{
    CredentialType, Derived, DescriptionError, Form, LockTemplates, NodeDescription, OperationDescription,
    OperationHints, StringFormat,
};
pub use document::{Document, DocumentError};
pub use emulator::{Emulator, EmulatorConfig, EmulatorData, EmulatorError, EmulatorFaults, RunningEmulator};
pub use engine::{FnSink, ItemFailure, OutputItem, OutputSink, Progress, RunConfig, WorkItem};
pub use error::{ItemProblems, NodeError, Problem, SetupError};
pub use held::ServerCredentials;
pub use hosted::{DynSession, DynamicNode, HostedNode, JsonSession, NodeBackend, NodeSummary, Prepared};
pub use input::{InputError, RunInput};
pub use node::{ItemContext, Json, Lock, NoCredentials, Node, NodeInfo, SessionOptions};
pub use operation::{Operation, OperationSpec};
pub use output::Output;
pub use pipeline::{Host, Plan, RequestError};
pub use registry::{Registry, RegistryError};
pub use report::{InvalidItem, Ranges, RunDocument, RunError, RunReport, StopCause, StopReason};
pub use retry::RetryPolicy;
pub use secrets::Secrets;
pub use tokio_util::sync::CancellationToken;
pub use validate::UnknownFields;
