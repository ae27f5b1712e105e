//! nodehost-core: the node model and the execution engine.
//!
//! A node implements the typed [`Node`] trait; a [`Registry`] holds nodes type-erased; the
//! engine ([`engine::execute`]) runs items through a node's session with bounded concurrency,
//! ordered output and continue-on-fail. This crate does no network or file I/O: nodes bring
//! their own transport (see `nodehost-http`).
//!
//! Embedding in an automation engine, in four steps:
//!
//! ```ignore
//! let mut registry = Registry::new();
//! registry.register(MyNode)?;                               // 1. register nodes
//! let node = registry.get("myNode").unwrap();
//! let session = node.open(credentials, &RunOptions::default()).await?;  // 2. open a session
//! let prepared = prepare_all(node.as_ref(), &input, UnknownFields::Reject)?; // 3. validate all
//! let report = engine::execute(session, futures::stream::iter(prepared), &RunConfig::default(),
//!     |item| { println!("{}", serde_json::to_string(item)?); Ok(()) }).await;  // 4. run
//! ```
//!
//! `crates/nodehost-cli/examples/embed.rs` is the runnable version
//! (`cargo run -p nodehost-cli --example embed`).

pub mod definition;
pub mod engine;
pub mod erased;
pub mod error;
pub mod input;
pub mod node;
pub mod options;
pub mod output;
pub mod registry;
pub mod retry;
pub mod schedule;
pub mod schema;
pub mod validate;

pub use engine::{ItemFailure, OutputItem, RunConfig, RunReport};
pub use erased::{DynNode, DynSession, Prepared};
pub use error::{ItemProblems, NodeError, Problem, SetupError};
pub use input::{InputError, RunInput};
pub use node::{
    CredentialSpec, Json, Lock, NoCredentials, Node, NodeSpec, OperationHints, OperationSpec, StringFormat,
};
pub use options::{HttpOptions, RetryPolicy, RunOptions};
pub use output::Output;
pub use registry::{Registry, RegistryError};
pub use validate::UnknownFields;

use serde_json::{Map, Value};

/// One input item's index and its prepared parameters or why it cannot run.
pub type PreparedItem = (usize, Result<Prepared, ItemFailure>);

/// Resolve and validate one item: node-level parameters, default operation, schema checks.
pub fn prepare_item(
    node: &dyn DynNode,
    parameters: &Map<String, Value>,
    index: usize,
    item: Map<String, Value>,
    unknown: UnknownFields,
) -> Result<Prepared, ItemFailure> {
    let resolved = input::resolve(parameters, item, node.spec().default_operation, node.validator());
    node.prepare(resolved, unknown).map_err(|problems| {
        ItemFailure::Invalid(ItemProblems {
            item: index,
            problems,
        })
    })
}

/// Validate every item of a run before anything executes. Returns the prepared items, or every
/// invalid item's problems.
pub fn prepare_all(
    node: &dyn DynNode,
    input: &RunInput,
    unknown: UnknownFields,
) -> Result<Vec<PreparedItem>, Vec<ItemProblems>> {
    let mut prepared = Vec::with_capacity(input.items.len());
    let mut invalid = Vec::new();
    let unknown_params = input::unknown_node_parameters(&input.parameters, node.validator());
    if !unknown_params.is_empty() && unknown == UnknownFields::Reject {
        return Err(vec![ItemProblems {
            item: 0,
            problems: unknown_params
                .into_iter()
                .map(|p| Problem {
                    path: format!("parameters.{p}"),
                    message: format!("unknown node-level parameter `{p}`: no operation takes it"),
                })
                .collect(),
        }]);
    }
    for (index, item) in input.items.iter().enumerate() {
        let result = prepare_item(node, &input.parameters, index, item.clone(), unknown);
        if let Err(ItemFailure::Invalid(p)) = &result {
            invalid.push(p.clone());
        }
        prepared.push((index, result));
    }
    if invalid.is_empty() {
        Ok(prepared)
    } else {
        Err(invalid)
    }
}
