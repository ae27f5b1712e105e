//! The typed `Node` trait a Rust node author implements, and what an item's execution sees.
//!
//! This module owns the contract between the engine and a typed node. It knows no particular
//! node. A typed node becomes the same owned [`NodeDescription`](crate::NodeDescription) a plugin's definition does
//! (see [`crate::hosted`]); everything downstream reads only that.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::description::{CredentialType, StringFormat};
use crate::error::{NodeError, SetupError};
use crate::output::Output;

/// A JSON object, as nodes build their outputs (see [`Output`]).
pub type Json = Map<String, Value>;

/// A workflow node, written against typed parameters.
///
/// `Params` is one item's parameters: an enum internally tagged by `operation`, deriving
/// `Deserialize` and `schemars::JsonSchema`. The way to write it is one
/// [`Operation`](crate::Operation) per operation (a unit type with its parameters, its
/// [`OperationSpec`](crate::OperationSpec) and its code, in a file of its own) and
/// [`operations!`](crate::operations) to list them: the macro makes the enum, declares each
/// operation on its branch and dispatches `execute` and `dry_run` (see `node-gestor-clientes`).
/// A hand-written enum may declare each variant's operation with
/// `#[schemars(extend("x-operation" = {"displayName", "action", "hints", "locks"}))]`
/// instead: `hints` is `read`, `create`, `update`, `delete` or an object `{"readOnly",
/// "idempotent", "destructive"}`; `locks` are record-key templates ([`crate::LockTemplates`]).
/// The host derives the published JSON Schema, the n8n `properties`, the validator and the
/// record locks from that one type, so they cannot disagree.
#[async_trait]
pub trait Node: Send + Sync + 'static {
    /// One item's parameters, tagged by `operation`.
    type Params: DeserializeOwned + JsonSchema + Send + 'static;
    /// The credential type's fields (use [`NoCredentials`] when none are needed).
    type Credentials: DeserializeOwned + JsonSchema + Send + 'static;
    /// Per-run state opened from the credentials, e.g. an API client.
    type Session: Send + Sync + 'static;

    /// What the node is: names, version, default operation.
    fn info(&self) -> NodeInfo;

    /// The credential type, when the node needs one (build it with
    /// [`CredentialType::for_fields`]).
    fn credential(&self) -> Option<CredentialType> {
        None
    }

    /// Custom string formats referenced by `format` in the parameter schema, checked during
    /// validation so that every problem of an item is reported at once.
    fn formats(&self) -> Vec<StringFormat> {
        Vec::new()
    }

    /// Open a session for one run. Called once, before any item executes; a host may share
    /// the session between runs with the same credentials.
    async fn connect(
        &self,
        credentials: Option<Self::Credentials>,
        options: &SessionOptions,
    ) -> Result<Self::Session, SetupError>;

    /// Execute one item's (validated) parameters; return zero or more output objects, built
    /// (`map.into()`) or passed through from a service's answer ([`Output::from_object_text`]).
    async fn execute(
        &self,
        session: &Self::Session,
        params: Self::Params,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError>;

    /// Check that the session's credentials work; answer who they belong to.
    async fn test_credentials(&self, session: &Self::Session) -> Result<String, NodeError> {
        let _ = session;
        Err(NodeError::new("this node has no credential check"))
    }
}

/// What a typed node says about itself; its operations come from its `Params` type.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Machine name, camelCase, unique in a registry (n8n `name`).
    pub name: String,
    /// Human name (n8n `displayName`).
    pub display_name: String,
    /// Definition version (n8n `version`).
    pub version: u32,
    /// One sentence on what the node does.
    pub description: String,
    /// n8n `group`, e.g. `["transform"]`.
    pub group: Vec<String>,
    /// n8n `icon`, e.g. `"fa:users"`.
    pub icon: Option<String>,
    /// The operation used by items that name none; empty: the first operation listed.
    pub default_operation: String,
    /// Whether AI agents may call the node as a tool (n8n `usableAsTool`).
    pub usable_as_tool: bool,
    /// Whether the node honours [`ItemContext::dry_run`]: given it, the node sends no write
    /// and answers with the requests it would send. A run asked to be dry is refused for a
    /// node that does not say so.
    pub supports_dry_run: bool,
}

impl NodeInfo {
    /// A node called `name` (`display_name` for people), with the defaults of [`Default`].
    pub fn new(name: impl Into<String>, display_name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            display_name: display_name.into(),
            ..Self::default()
        }
    }
}

impl Default for NodeInfo {
    /// Version 1, in n8n's `transform` group, no icon, usable as a tool, no dry run, and its
    /// first operation the default one (an empty `default_operation`); name, display name and
    /// description are the author's to give.
    fn default() -> Self {
        Self {
            name: String::new(),
            display_name: String::new(),
            version: 1,
            description: String::new(),
            group: vec!["transform".into()],
            icon: None,
            default_operation: String::new(),
            usable_as_tool: true,
            supports_dry_run: false,
        }
    }
}

/// Credential type of nodes that need none.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, JsonSchema)]
pub struct NoCredentials {}

impl CredentialType {
    /// A credential type whose fields are `C`'s (secret fields say `"x-secret": true` in its
    /// schema), with no environment variables and no n8n blocks yet.
    pub fn for_fields<C: JsonSchema>(name: impl Into<String>, display_name: impl Into<String>) -> Self {
        let schema = schemars::SchemaGenerator::new(schemars::generate::SchemaSettings::draft2020_12())
            .into_root_schema_for::<C>();
        Self {
            name: name.into(),
            display_name: display_name.into(),
            documentation_url: None,
            env: Vec::new(),
            authenticate: None,
            test: None,
            schema: serde_json::to_value(schema).unwrap_or(Value::Null),
        }
    }
}

/// Settings a host hands to every session it opens, by type: a node reads the ones it
/// understands (an HTTP node reads `nodehost_http::HttpOptions`) and the core knows none.
#[derive(Clone, Default)]
pub struct SessionOptions {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl SessionOptions {
    /// No settings: every node uses its defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) the settings of type `T`.
    #[must_use]
    pub fn with<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.values.insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// The settings of type `T`, if given.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.values.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref())
    }
}

impl fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOptions")
            .field("settings", &self.values.len())
            .finish()
    }
}

/// What one item's execution knows of its run: its index, its deadline, and whether the run
/// was cancelled (a node stops retrying, and gives up a backoff, once it is).
#[derive(Debug, Clone)]
pub struct ItemContext {
    /// Index of the input item.
    pub index: usize,
    /// When the item must be done, attempts and backoff included.
    pub deadline: Option<tokio::time::Instant>,
    /// Cancelled when the run stops starting items (Ctrl-C, a client gone, a stop).
    pub cancel: CancellationToken,
    /// A dry run: send no write; answer what would be sent (only for a node whose
    /// [`NodeInfo::supports_dry_run`] is set).
    pub dry_run: bool,
}

impl ItemContext {
    /// A context for an item run outside an engine: no deadline, never cancelled.
    pub fn detached(index: usize) -> Self {
        Self {
            index,
            deadline: None,
            cancel: CancellationToken::new(),
            dry_run: false,
        }
    }

    /// Time left before the deadline (`None`: no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// A claim on a record: shared (read) or exclusive (write).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lock {
    /// Resource name, e.g. `"client/7"` or `"clients"` for the whole collection.
    pub resource: String,
    /// Exclusive claims conflict with every other claim on the same resource.
    pub exclusive: bool,
}

impl Lock {
    /// A read claim.
    pub fn shared(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            exclusive: false,
        }
    }

    /// A write claim.
    pub fn exclusive(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            exclusive: true,
        }
    }
}
