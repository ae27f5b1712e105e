//! The typed `Node` trait a node author implements, and what a node says about itself.
//!
//! This module owns the contract between the engine and a node. It knows no particular node.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{NodeError, SetupError};
use crate::options::RunOptions;
use crate::output::Output;

/// A JSON object, as nodes build their outputs (see [`Output`]).
pub type Json = Map<String, Value>;

/// A workflow node, written against typed parameters.
///
/// `Params` is one item's parameters: an enum internally tagged by `operation`
/// (`#[serde(tag = "operation", rename_all = "camelCase")]`) deriving `Deserialize` and
/// `schemars::JsonSchema`. The engine derives the published JSON Schema, the n8n `properties`
/// and the validator from that one type, so they cannot disagree.
#[async_trait]
pub trait Node: Send + Sync + 'static {
    /// One item's parameters, tagged by `operation`.
    type Params: DeserializeOwned + JsonSchema + Send + 'static;
    /// The credential type's fields (use [`NoCredentials`] when none are needed).
    type Credentials: DeserializeOwned + JsonSchema + Send + 'static;
    /// Per-run state opened from the credentials, e.g. an API client.
    type Session: Send + Sync + 'static;

    /// What the node is: names, operations, credential type.
    fn spec(&self) -> NodeSpec;

    /// Custom string formats referenced by `format` in the parameter schema, checked during
    /// validation so that every problem of an item is reported at once.
    fn formats(&self) -> Vec<StringFormat> {
        Vec::new()
    }

    /// The records an item touches, so the engine can run items that touch the same record in
    /// input order while everything else runs in parallel.
    fn access(&self, params: &Self::Params) -> Vec<Lock> {
        let _ = params;
        Vec::new()
    }

    /// Open a session for one run. Called once, before any item executes.
    async fn connect(
        &self,
        credentials: Option<Self::Credentials>,
        options: &RunOptions,
    ) -> Result<Self::Session, SetupError>;

    /// Execute one item's (validated) parameters; return zero or more output objects, built
    /// (`map.into()`) or passed through from a service's answer ([`Output::from_object_text`]).
    async fn execute(&self, session: &Self::Session, params: Self::Params) -> Result<Vec<Output>, NodeError>;

    /// Check that the session's credentials work; answer who they belong to.
    async fn test_credentials(&self, session: &Self::Session) -> Result<String, NodeError> {
        let _ = session;
        Err(NodeError::new("this node has no credential check"))
    }
}

/// Credential type of nodes that need none.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, JsonSchema)]
pub struct NoCredentials {}

/// What a node says about itself; the engine turns it into the n8n-compatible definition.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Machine name, camelCase, unique in a registry (n8n `name`).
    pub name: &'static str,
    /// Human name (n8n `displayName`).
    pub display_name: &'static str,
    /// Definition version (n8n `version`).
    pub version: u32,
    /// One sentence on what the node does.
    pub description: &'static str,
    /// n8n `group`, e.g. `["transform"]`.
    pub group: &'static [&'static str],
    /// n8n `icon`, e.g. `"fa:users"`.
    pub icon: Option<&'static str>,
    /// The operation used by items that name none.
    pub default_operation: &'static str,
    /// Every operation, in display order. Must match the `operation` tags of `Params`.
    pub operations: Vec<OperationSpec>,
    /// The credential type, if the node needs one.
    pub credential: Option<CredentialSpec>,
    /// Whether AI agents may call the node as a tool (n8n `usableAsTool`).
    pub usable_as_tool: bool,
}

/// One operation of a node.
#[derive(Debug, Clone)]
pub struct OperationSpec {
    /// The `operation` value, e.g. `"getAll"`.
    pub value: &'static str,
    /// Human name, e.g. `"Get Many"`.
    pub display_name: &'static str,
    /// n8n `action`, e.g. `"Get many clients"`.
    pub action: &'static str,
    /// Side-effect hints for engines and AI agents.
    pub hints: OperationHints,
}

/// What an operation does to the outside world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationHints {
    /// Changes nothing.
    pub read_only: bool,
    /// Repeating it has the same effect as doing it once.
    pub idempotent: bool,
    /// May destroy data.
    pub destructive: bool,
}

impl OperationHints {
    /// A read: read-only and idempotent.
    pub const READ: Self = Self {
        read_only: true,
        idempotent: true,
        destructive: false,
    };
    /// A write that creates something new each time.
    pub const CREATE: Self = Self {
        read_only: false,
        idempotent: false,
        destructive: false,
    };
    /// A write that sets state (repeatable).
    pub const UPDATE: Self = Self {
        read_only: false,
        idempotent: true,
        destructive: false,
    };
    /// A write that removes state (repeatable).
    pub const DELETE: Self = Self {
        read_only: false,
        idempotent: true,
        destructive: true,
    };
}

/// A credential type: its name, how it is described, where the CLI may find it.
#[derive(Debug, Clone)]
pub struct CredentialSpec {
    /// Machine name, e.g. `"gestorClientesMaxApi"`.
    pub name: &'static str,
    /// Human name.
    pub display_name: &'static str,
    /// Where users learn how to get one.
    pub documentation_url: Option<&'static str>,
    /// Environment variables the CLI reads, as `(field, VARIABLE)`.
    pub env: &'static [(&'static str, &'static str)],
    /// n8n `authenticate` block (how the secret is sent), published as is.
    pub authenticate: Option<serde_json::Value>,
    /// n8n `test` block (request that checks the credential), published as is.
    pub test: Option<serde_json::Value>,
}

/// A named check for string values, used as `"format": NAME` in a schema.
#[derive(Debug, Clone, Copy)]
pub struct StringFormat {
    /// The `format` keyword value.
    pub name: &'static str,
    /// What a valid value looks like, in words: "an 11-digit CPF with valid check digits".
    pub expected: &'static str,
    /// The check.
    pub check: fn(&str) -> bool,
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
