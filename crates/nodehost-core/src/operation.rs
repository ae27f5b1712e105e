//! Typed operations: each operation of a typed node declared once, in Rust, beside its
//! parameters and its code.
//!
//! An [`Operation`] is a unit type with its parameters (`Params`), what it is
//! ([`OperationSpec`]: display name, n8n action, description, side-effect hints, the records
//! it touches) and what it does, for real and as a dry run, side by side. [`operations!`](crate::operations!)
//! turns a list of them into the node's parameter enum, tagged by `operation`, with the
//! dispatch to each. The host derives the published JSON Schema, the n8n form, the validator,
//! the hints engines and agents read and the record locks from that one enum, so nothing is
//! written twice. This module does no I/O.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::description::OperationHints;
use crate::error::NodeError;
use crate::node::ItemContext;
use crate::output::Output;

/// What an operation is: checked by the compiler, read by the host when the node registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationSpec {
    /// Its name in the n8n form (`Get Many`).
    pub display_name: &'static str,
    /// Its n8n action (`Get many clients`).
    pub action: &'static str,
    /// What it does, in a sentence: the operation's description in the definition and the
    /// MCP tool's.
    pub description: &'static str,
    /// Read-only, idempotent, destructive: what retries and agents rely on.
    pub hints: OperationHints,
    /// Records an item reads (shared claims), as templates over its parameters
    /// ([`crate::LockTemplates`]).
    pub reads: &'static [&'static str],
    /// Records an item writes (exclusive claims).
    pub writes: &'static [&'static str],
    /// Where the n8n form puts the optional fields (`additionalFields`, `updateFields`); by
    /// default from the hints.
    pub fields_collection: Option<&'static str>,
}

impl OperationSpec {
    /// An operation that touches no record the host orders by.
    pub const fn new(
        display_name: &'static str,
        action: &'static str,
        hints: OperationHints,
        description: &'static str,
    ) -> Self {
        Self {
            display_name,
            action,
            description,
            hints,
            reads: &[],
            writes: &[],
            fields_collection: None,
        }
    }

    /// It reads these records: it runs after earlier writes to them and beside other reads.
    pub const fn reads(self, templates: &'static [&'static str]) -> Self {
        Self {
            reads: templates,
            ..self
        }
    }

    /// It writes these records: items touching them run one at a time, in input order.
    pub const fn writes(self, templates: &'static [&'static str]) -> Self {
        Self {
            writes: templates,
            ..self
        }
    }

    /// The n8n form puts its optional fields in this collection.
    pub const fn fields_in(self, collection: &'static str) -> Self {
        Self {
            fields_collection: Some(collection),
            ..self
        }
    }

    /// The `x-operation` member the host reads from a parameter schema's branch.
    pub fn to_value(&self) -> Value {
        let mut meta = Map::new();
        meta.insert("displayName".into(), json!(self.display_name));
        meta.insert("action".into(), json!(self.action));
        meta.insert(
            "hints".into(),
            serde_json::to_value(self.hints).unwrap_or(Value::Null),
        );
        let mut locks = Map::new();
        if !self.reads.is_empty() {
            locks.insert("read".into(), json!(self.reads));
        }
        if !self.writes.is_empty() {
            locks.insert("write".into(), json!(self.writes));
        }
        meta.insert("locks".into(), Value::Object(locks));
        if let Some(collection) = self.fields_collection {
            meta.insert("fieldsCollection".into(), json!(collection));
        }
        Value::Object(meta)
    }
}

/// One operation of a typed node. Implement it on a unit type, one file per operation, and
/// list the type in the node's [`operations!`](crate::operations!).
#[async_trait]
pub trait Operation: Send + Sync + 'static {
    /// What the node's runs share (its API client).
    type Session: Send + Sync + 'static;
    /// One item's parameters for this operation (without `operation`), deriving
    /// `Deserialize` and `JsonSchema` (`#[schemars(inline)]`).
    type Params: DeserializeOwned + JsonSchema + Send + 'static;
    /// What the operation is.
    const SPEC: OperationSpec;

    /// Execute one item's validated parameters: zero or more output objects.
    async fn execute(
        session: &Self::Session,
        params: Self::Params,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError>;

    /// What the item would send, sending no write (for a node that supports dry runs).
    async fn dry_run(
        _session: &Self::Session,
        _params: Self::Params,
        _item: &ItemContext,
    ) -> Result<Output, NodeError> {
        Err(NodeError::new("this operation has no dry run"))
    }
}

/// `GetAll` → `getAll`: the name serde's `rename_all = "camelCase"` gives a variant.
#[doc(hidden)]
pub fn camel_case(variant: &'static str) -> String {
    let mut chars = variant.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Puts each operation's spec on its branch of the enum's `oneOf`, in declaration order (the
/// order schemars writes them in): the description, and `x-operation` for the host.
#[doc(hidden)]
pub fn declare_operations(schema: &mut schemars::Schema, specs: &[OperationSpec]) {
    let Some(Value::Array(branches)) = schema.get_mut("oneOf") else {
        return;
    };
    if branches.len() != specs.len() {
        return;
    }
    for (branch, spec) in branches.iter_mut().zip(specs) {
        if let Value::Object(branch) = branch {
            branch.insert("description".into(), json!(spec.description));
            branch.insert("x-operation".into(), spec.to_value());
        }
    }
}

/// The parameter enum of a typed node, from its [`Operation`]s: one variant each, tagged by
/// `operation` (the variant's name in camelCase), with `execute`, `dry_run` and `operation`
/// dispatching to them. Derives `Debug`, `Deserialize` and `JsonSchema`; further attributes
/// pass through.
///
/// ```
/// # use nodehost_core::{ItemContext, NodeError, Operation, OperationHints, OperationSpec, Output};
/// # use serde::Deserialize;
/// # use schemars::JsonSchema;
/// struct Api;
///
/// #[derive(Debug, Deserialize, JsonSchema)]
/// #[schemars(inline)]
/// struct PingParams {}
///
/// struct Ping;
///
/// #[async_trait::async_trait]
/// impl Operation for Ping {
///     type Session = Api;
///     type Params = PingParams;
///     const SPEC: OperationSpec =
///         OperationSpec::new("Ping", "Ping the API", OperationHints::READ, "Check the API answers.");
///     async fn execute(_: &Api, _: PingParams, _: &ItemContext) -> Result<Vec<Output>, NodeError> {
///         Ok(vec![serde_json::Map::new().into()])
///     }
/// }
///
/// nodehost_core::operations! {
///     /// One item's parameters.
///     pub enum Params for Api {
///         Ping(Ping),
///     }
/// }
///
/// let item: Params = serde_json::from_value(serde_json::json!({"operation": "ping"}))?;
/// assert_eq!(item.operation(), "ping");
/// let schema = serde_json::to_value(schemars::schema_for!(Params))?;
/// assert_eq!(schema["oneOf"][0]["description"], "Check the API answers.");
/// assert_eq!(schema["oneOf"][0]["x-operation"]["action"], "Ping the API");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[macro_export]
macro_rules! operations {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident for $session:ty {
            $( $variant:ident($operation:ty) ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(::std::fmt::Debug, ::serde::Deserialize, ::schemars::JsonSchema)]
        #[serde(tag = "operation", rename_all = "camelCase")]
        #[schemars(transform = $name::declare_operations)]
        $vis enum $name {
            $(
                $variant(<$operation as $crate::Operation>::Params),
            )+
        }

        impl $name {
            fn declare_operations(schema: &mut ::schemars::Schema) {
                $crate::operation::declare_operations(
                    schema,
                    &[$(<$operation as $crate::Operation>::SPEC),+],
                );
            }

            /// The item's operation, as `operation` names it.
            $vis fn operation(&self) -> ::std::string::String {
                match self {
                    $( Self::$variant(_) => $crate::operation::camel_case(stringify!($variant)), )+
                }
            }

            /// Execute the item's operation.
            $vis async fn execute(
                self,
                session: &$session,
                item: &$crate::ItemContext,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::Output>, $crate::NodeError> {
                match self {
                    $( Self::$variant(params) => {
                        <$operation as $crate::Operation>::execute(session, params, item).await
                    } )+
                }
            }

            /// What the item's operation would send, sending no write.
            $vis async fn dry_run(
                self,
                session: &$session,
                item: &$crate::ItemContext,
            ) -> ::std::result::Result<$crate::Output, $crate::NodeError> {
                match self {
                    $( Self::$variant(params) => {
                        <$operation as $crate::Operation>::dry_run(session, params, item).await
                    } )+
                }
            }
        }
    };
}
