//! A node as the host holds it: one owned description, the validator and record locks derived
//! from it, and a backend that executes items: a typed Rust [`Node`] or a dynamic one that
//! takes its parameters as JSON (a plugin, a test double).
//!
//! Everything a caller reads (definition, schemas, validation, locks, hints) comes from the
//! description, so a typed node and a node described only by a definition document behave the
//! same way.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::description::{
    CredentialType, Derived, DescriptionError, Form, LockTemplates, NodeDescription, OperationDescription,
    OperationHints,
};
use crate::error::{NodeError, Problem, SetupError};
use crate::locks::CompiledLocks;
use crate::node::{ItemContext, Lock, Node, SessionOptions};
use crate::output::Output;
use crate::retry::RetryPolicy;
use crate::schema::{OperationSchema, combined_schema, order_keywords, split_operations};
use crate::validate::{UnknownFields, Validator};

/// One item's validated parameters, ready to execute.
pub struct Prepared {
    params: Box<dyn Any + Send>,
    /// The operation's side-effect hints.
    pub hints: OperationHints,
    /// The records the item touches.
    pub locks: Vec<Lock>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("hints", &self.hints)
            .field("locks", &self.locks)
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// The parameters as the backend prepared them (a typed node's `Params`, or a JSON object
    /// for a dynamic node).
    pub fn into_params(self) -> Box<dyn Any + Send> {
        self.params
    }
}

/// What executes a hosted node's items: implemented for typed nodes by the core, and by
/// whatever runs a dynamic node (see [`DynamicNode`]).
#[async_trait]
pub trait NodeBackend: Send + Sync + 'static {
    /// Turn validated parameters (with `operation`) into what the session executes.
    fn prepare(&self, params: Map<String, Value>) -> Result<Box<dyn Any + Send>, Vec<Problem>>;
    /// Open a session from credentials already checked against the credential type.
    async fn open(
        &self,
        credentials: Option<Value>,
        options: &SessionOptions,
    ) -> Result<Arc<dyn DynSession>, SetupError>;
}

/// A node bound to one set of credentials.
#[async_trait]
pub trait DynSession: Send + Sync + 'static {
    /// Execute one prepared item.
    async fn execute(&self, prepared: Prepared, item: &ItemContext) -> Result<Vec<Output>, NodeError>;
    /// Check the credentials; answer who they belong to.
    async fn test_credentials(&self) -> Result<String, NodeError> {
        Err(NodeError::new("this node has no credential check"))
    }
    /// End the session: a plugin's process is shut down here. Dropping a session without
    /// closing it still releases everything, less gracefully (a plugin is killed).
    async fn close(&self) {}
}

/// A node that takes its parameters as JSON: a plugin, or a node built from a definition.
#[async_trait]
pub trait DynamicNode: Send + Sync + 'static {
    /// Open a session for one set of credentials.
    async fn open(
        &self,
        credentials: Option<Value>,
        options: &SessionOptions,
    ) -> Result<Arc<dyn JsonSession>, SetupError>;
}

/// A dynamic node's session: executes validated parameters (with `operation`).
///
/// A failure marked [`NodeError::retryable`] of an idempotent operation is tried again by the
/// host, with the [`RetryPolicy`] of the session options, within the item's deadline.
#[async_trait]
pub trait JsonSession: Send + Sync + 'static {
    /// Execute one item; `hints` are its operation's (whether it writes, whether repeating it
    /// is harmless).
    async fn execute(
        &self,
        params: Map<String, Value>,
        hints: OperationHints,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError>;
    /// Check the credentials; answer who they belong to.
    async fn test_credentials(&self) -> Result<String, NodeError> {
        Err(NodeError::new("this node has no credential check"))
    }
    /// End the session (see [`DynSession::close`]).
    async fn close(&self) {}
}

/// A node ready to validate and run items.
pub struct HostedNode {
    description: NodeDescription,
    /// Built the first time it is asked for: a run never needs it (`describe`, `serve` and the
    /// n8n generator do), and building it copies the whole form and schema.
    definition: OnceLock<Value>,
    credential: Option<CredentialType>,
    operations: Arc<[OperationSchema]>,
    locks: Vec<CompiledLocks>,
    validator: Validator,
    backend: Arc<dyn NodeBackend>,
}

impl std::fmt::Debug for HostedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedNode")
            .field("name", &self.description.name)
            .finish_non_exhaustive()
    }
}

impl HostedNode {
    /// Host a node from its description, its credential type and its backend. Fails when the
    /// description is inconsistent (operations that differ from the schema's branches, a
    /// credential type of another name, a malformed lock template).
    pub fn new(
        description: NodeDescription,
        credential: Option<CredentialType>,
        backend: Arc<dyn NodeBackend>,
    ) -> Result<Self, DescriptionError> {
        let operations = description
            .operation_schemas()
            .map_err(|e| DescriptionError(e.0))?;
        let operations = in_order(
            operations,
            &description.default_operation,
            &description.operations,
        );
        Self::assemble(description, credential, backend, operations)
    }

    /// [`Self::new`] with the operations of the description already split out of its
    /// `parametersSchema` and put in its order (a typed node has them from its generated
    /// schema).
    fn assemble(
        description: NodeDescription,
        credential: Option<CredentialType>,
        backend: Arc<dyn NodeBackend>,
        operations: Arc<[OperationSchema]>,
    ) -> Result<Self, DescriptionError> {
        let name = description.name.clone();
        let at = |e: String| DescriptionError(format!("node `{name}`: {e}"));
        for op in &description.operations {
            if !operations.iter().any(|s| s.name == op.value) {
                return Err(at(format!(
                    "operation `{}` has no branch in the schema",
                    op.value
                )));
            }
        }
        if let Some(extra) = operations
            .iter()
            .find(|s| description.operation(&s.name).is_none())
        {
            return Err(at(format!(
                "the schema has operation `{}`, which is not declared",
                extra.name
            )));
        }
        match (&description.credential, &credential) {
            (Some(a), Some(b)) if *a != b.name => {
                return Err(at(format!(
                    "it names credential type `{a}` but brings `{}`",
                    b.name
                )));
            }
            (None, Some(b)) => {
                return Err(at(format!(
                    "it brings credential type `{}` but names none",
                    b.name
                )));
            }
            _ => {}
        }
        let locks = description
            .operations
            .iter()
            .map(|o| CompiledLocks::new(&o.locks).map_err(|e| at(format!("operation `{}`: {e}", o.value))))
            .collect::<Result<Vec<_>, _>>()?;
        let validator = Validator::new(Arc::clone(&operations), &description.formats);
        Ok(Self {
            description,
            definition: OnceLock::new(),
            credential,
            operations,
            locks,
            validator,
            backend,
        })
    }

    /// Host a typed Rust node: its description is derived from its `Params` type.
    pub fn typed<N: Node>(node: N) -> Result<Self, DescriptionError> {
        let (description, operations) = describe_typed(&node)?;
        let credential = node.credential();
        let backend: Arc<dyn NodeBackend> = Arc::new(Typed { node: Arc::new(node) });
        Self::assemble(description, credential, backend, operations)
    }

    /// Host a node described only by data, executed by `backend`.
    pub fn dynamic(
        description: NodeDescription,
        credential: Option<CredentialType>,
        node: Arc<dyn DynamicNode>,
    ) -> Result<Self, DescriptionError> {
        Self::new(description, credential, Arc::new(Dynamic { node }))
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.description.name
    }

    /// What the node is.
    pub fn description(&self) -> &NodeDescription {
        &self.description
    }

    /// The n8n-compatible definition (identical to `node-definitions/NAME.json`).
    pub fn definition(&self) -> &Value {
        self.definition.get_or_init(|| self.description.to_definition())
    }

    /// The credential type, if the node needs one.
    pub fn credential(&self) -> Option<&CredentialType> {
        self.credential.as_ref()
    }

    /// The validator of the node's parameters.
    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// JSON Schema of one input item: of one operation, or of all (`None`).
    pub fn item_schema(&self, operation: Option<&str>) -> Option<Value> {
        match operation {
            Some(op) => self
                .operations
                .iter()
                .find(|o| o.name == op)
                .map(|o| o.to_schema(&format!("{} {}", self.description.display_name, o.name))),
            None => Some(self.description.parameters_schema.get().clone()),
        }
    }

    /// Whether a dry run may be given to the node ([`crate::RunConfig::dry_run`]).
    pub fn supports_dry_run(&self) -> bool {
        self.description.supports_dry_run
    }

    /// [`Self::item_schema`], or the error that names the operations there are.
    pub fn schema_of(&self, operation: Option<&str>) -> Result<Value, String> {
        self.item_schema(operation).ok_or_else(|| {
            crate::validate::unknown_operation(
                operation.unwrap_or_default(),
                self.description.operations.iter().map(|o| o.value.as_str()),
            )
        })
    }

    /// Validate resolved parameters (with `operation`) and prepare them for execution.
    pub fn prepare(
        &self,
        mut params: Map<String, Value>,
        unknown: UnknownFields,
    ) -> Result<Prepared, Vec<Problem>> {
        let problems = self.validator.check(&mut params, unknown);
        if !problems.is_empty() {
            return Err(problems);
        }
        // `check` accepted the operation, so it is one of ours.
        let position = params
            .get("operation")
            .and_then(Value::as_str)
            .and_then(|op| self.description.operations.iter().position(|o| o.value == op));
        let Some(position) = position else {
            return Err(vec![Problem {
                path: "operation".into(),
                message: "internal error (a bug in nodehost): a validated item has no known operation".into(),
            }]);
        };
        let locks = self.locks[position].render(&params);
        let hints = self.description.operations[position].hints;
        let params = self.backend.prepare(params)?;
        Ok(Prepared { params, hints, locks })
    }

    /// Check credentials against the credential type (never echoing a value), then open a
    /// session.
    pub async fn open(
        &self,
        credentials: Option<Value>,
        options: &SessionOptions,
    ) -> Result<Arc<dyn DynSession>, SetupError> {
        let credentials = match (&self.credential, credentials) {
            (Some(kind), Some(value)) => {
                check_credentials(kind, &value)?;
                Some(value)
            }
            (Some(kind), None) => {
                return Err(SetupError::MissingCredentials {
                    credential: kind.name.clone(),
                    fields: kind.schema_fields(),
                });
            }
            (None, _) => None,
        };
        self.backend.open(credentials, options).await
    }
}

impl CredentialType {
    /// The names of the fields, in schema order.
    pub fn schema_fields(&self) -> Vec<String> {
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Required fields present as non-empty strings, no unknown field; messages name fields only,
/// never a value, which could be the secret.
fn check_credentials(kind: &CredentialType, value: &Value) -> Result<(), SetupError> {
    let invalid = |reason: String| SetupError::InvalidCredentials {
        credential: kind.name.clone(),
        reason,
    };
    let Value::Object(map) = value else {
        return Err(invalid("expected a JSON object of fields".into()));
    };
    let mut problems = Vec::new();
    for field in kind.required_fields() {
        match map.get(field) {
            None | Some(Value::Null) => problems.push(format!("`{field}` is missing")),
            Some(Value::String(s)) if s.trim().is_empty() => problems.push(format!("`{field}` is empty")),
            Some(Value::String(_)) => {}
            Some(_) => problems.push(format!("`{field}` must be a string")),
        }
    }
    if let Some(props) = kind.schema.get("properties").and_then(Value::as_object) {
        for key in map.keys().filter(|k| !props.contains_key(*k)) {
            problems.push(format!("unknown field `{}`", crate::validate::truncate(key, 40)));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid(problems.join("; ")))
    }
}

/// Operation schemas in the description's order, the default one marked.
fn in_order(
    mut ops: Vec<OperationSchema>,
    default_operation: &str,
    operations: &[OperationDescription],
) -> Arc<[OperationSchema]> {
    ops.sort_by_key(|s| operations.iter().position(|o| o.value == s.name));
    for op in &mut ops {
        op.defaulted = op.name == default_operation;
    }
    ops.into()
}

/// The description of a typed node, from its info and the schema of its `Params`, and its
/// operations as splitting the description's `parametersSchema` gives them (what
/// [`HostedNode::new`] would compute again; a test holds the two equal), so that a typed node
/// behaves as one described by its definition.
fn describe_typed<N: Node>(node: &N) -> Result<(NodeDescription, Arc<[OperationSchema]>), DescriptionError> {
    let mut info = node.info();
    let at = |e: String| DescriptionError(format!("node `{}`: {e}", info.name));
    let mut root = schemars::SchemaGenerator::new(schemars::generate::SchemaSettings::draft2020_12())
        .into_root_schema_for::<N::Params>()
        .to_value();
    order_keywords(&mut root);
    let mut ops = split_operations(&root, &info.default_operation).map_err(at)?;
    if info.default_operation.is_empty()
        && let Some(first) = ops.first()
    {
        // None named: the first operation listed is the default.
        info.default_operation = first.name.clone();
        ops = split_operations(&root, &info.default_operation).map_err(at)?;
    }
    // Freed before the published schema and the rest are built, which reuse its memory.
    drop(root);
    crate::schema::distinct(&ops).map_err(at)?;
    if !ops.iter().any(|o| o.name == info.default_operation) {
        return Err(at(format!(
            "the default operation `{}` is not an operation",
            info.default_operation
        )));
    }
    let operations = ops
        .iter()
        .map(|op| operation_of(op).map_err(|e| at(format!("operation `{}`: {e}", op.name))))
        .collect::<Result<Vec<_>, _>>()?;
    // The operations keep their `x-operation` metadata: the form reads `fieldsCollection` from
    // it, and nothing else looks at it.
    let ops = in_order(ops, &info.default_operation, &operations);
    // Both derived from the operations when first read, which a run never does.
    let parameters_schema = {
        let (title, ops) = (info.display_name.clone(), Arc::clone(&ops));
        Derived::from_fn(move || combined_schema(&title, &ops))
    };
    let properties = {
        let (default, operations, ops) = (
            info.default_operation.clone(),
            operations.clone(),
            Arc::clone(&ops),
        );
        Form::from_fn(move || crate::definition::properties(&default, &operations, &ops))
    };
    let description = NodeDescription {
        name: info.name,
        display_name: info.display_name,
        version: info.version,
        description: info.description,
        group: info.group,
        icon: info.icon,
        default_operation: info.default_operation,
        operations,
        credential: node.credential().map(|c| c.name),
        usable_as_tool: info.usable_as_tool,
        supports_dry_run: info.supports_dry_run,
        properties,
        parameters_schema,
        formats: node.formats(),
    };
    Ok((description, ops))
}

/// What a variant's `x-operation` declares.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OperationMeta {
    display_name: Option<String>,
    action: Option<String>,
    hints: HintsMeta,
    #[serde(default)]
    locks: LockTemplates,
    /// Where the n8n form puts the operation's optional fields (read by the form only):
    /// `additionalFields` or `updateFields`; by default from its hints.
    #[serde(default)]
    #[allow(dead_code)]
    fields_collection: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HintsMeta {
    Preset(String),
    Explicit(OperationHints),
}

fn operation_of(op: &OperationSchema) -> Result<OperationDescription, String> {
    let meta = op.meta.clone().ok_or_else(|| {
        "declare it: list an `Operation` in `nodehost_core::operations!`, or put \
         #[schemars(extend(\"x-operation\" = {\"hints\": \"read\"}))] on its variant"
            .to_owned()
    })?;
    let meta: OperationMeta = serde_json::from_value(meta).map_err(|e| format!("x-operation: {e}"))?;
    let hints = match meta.hints {
        HintsMeta::Explicit(h) => h,
        HintsMeta::Preset(name) => OperationHints::preset(&name)
            .ok_or_else(|| format!("hints `{name}`: use read, create, update, delete or an object"))?,
    };
    let display_name = meta
        .display_name
        .unwrap_or_else(|| crate::definition::display_name(&op.name));
    Ok(OperationDescription {
        action: meta.action.unwrap_or_else(|| display_name.clone()),
        display_name,
        value: op.name.clone(),
        description: op.description.clone(),
        hints,
        locks: meta.locks,
    })
}

struct Typed<N> {
    node: Arc<N>,
}

#[async_trait]
impl<N: Node> NodeBackend for Typed<N> {
    fn prepare(&self, params: Map<String, Value>) -> Result<Box<dyn Any + Send>, Vec<Problem>> {
        let value = Value::Object(params);
        // The schema accepted the item, so this only fails when the node's Deserialize is
        // stricter than its schema; it is reported like any other problem. The fast path
        // tracks no field path; the failure path deserializes again to name the field.
        match N::Params::deserialize(&value) {
            Ok(typed) => Ok(Box::new(typed)),
            Err(_) => Err(vec![
                match serde_path_to_error::deserialize::<_, N::Params>(&value) {
                    Err(e) => {
                        let path = e.path().to_string();
                        Problem {
                            path: if path == "." { String::new() } else { path },
                            message: e.into_inner().to_string(),
                        }
                    }
                    Ok(_) => Problem {
                        path: String::new(),
                        message: "parameters could not be read".into(),
                    },
                },
            ]),
        }
    }

    async fn open(
        &self,
        credentials: Option<Value>,
        options: &SessionOptions,
    ) -> Result<Arc<dyn DynSession>, SetupError> {
        let typed = match credentials {
            None => None,
            // Fields were checked by name; serde's own messages would quote the value.
            Some(value) => Some(serde_json::from_value::<N::Credentials>(value).map_err(|_| {
                SetupError::InvalidCredentials {
                    credential: self.node.credential().map(|c| c.name).unwrap_or_default(),
                    reason: "fields have the wrong types".into(),
                }
            })?),
        };
        let session = self.node.connect(typed, options).await?;
        Ok(Arc::new(TypedSession {
            node: Arc::clone(&self.node),
            session,
        }))
    }
}

struct TypedSession<N: Node> {
    node: Arc<N>,
    session: N::Session,
}

#[async_trait]
impl<N: Node> DynSession for TypedSession<N> {
    async fn execute(&self, prepared: Prepared, item: &ItemContext) -> Result<Vec<Output>, NodeError> {
        let params = prepared
            .params
            .downcast::<N::Params>()
            .map_err(|_| NodeError::internal("parameters prepared by another node"))?;
        self.node.execute(&self.session, *params, item).await
    }

    async fn test_credentials(&self) -> Result<String, NodeError> {
        self.node.test_credentials(&self.session).await
    }
}

struct Dynamic {
    node: Arc<dyn DynamicNode>,
}

#[async_trait]
impl NodeBackend for Dynamic {
    fn prepare(&self, params: Map<String, Value>) -> Result<Box<dyn Any + Send>, Vec<Problem>> {
        Ok(Box::new(params))
    }

    async fn open(
        &self,
        credentials: Option<Value>,
        options: &SessionOptions,
    ) -> Result<Arc<dyn DynSession>, SetupError> {
        let session = self.node.open(credentials, options).await?;
        Ok(Arc::new(DynamicSession {
            session,
            retry: options.get::<RetryPolicy>().copied().unwrap_or_default(),
        }))
    }
}

struct DynamicSession {
    session: Arc<dyn JsonSession>,
    retry: RetryPolicy,
}

#[async_trait]
impl DynSession for DynamicSession {
    async fn execute(&self, prepared: Prepared, item: &ItemContext) -> Result<Vec<Output>, NodeError> {
        let hints = prepared.hints;
        let params = *prepared
            .params
            .downcast::<Map<String, Value>>()
            .map_err(|_| NodeError::internal("parameters prepared by another node"))?;
        let mut attempt = 1;
        loop {
            // The last attempt takes the parameters; earlier ones a copy, kept for the next.
            let last = !hints.idempotent || attempt >= self.retry.max_tries;
            let result = if last {
                return self.session.execute(params, hints, item).await;
            } else {
                self.session.execute(params.clone(), hints, item).await
            };
            match result {
                Err(e) if e.retryable => {
                    let wait = self.retry.backoff(attempt, rand::random::<f64>());
                    let fits = item
                        .deadline
                        .is_none_or(|d| tokio::time::Instant::now() + wait < d);
                    if !fits || item.cancel.is_cancelled() {
                        return Err(e);
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = item.cancel.cancelled() => return Err(e),
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn test_credentials(&self) -> Result<String, NodeError> {
        self.session.test_credentials().await
    }

    async fn close(&self) {
        self.session.close().await;
    }
}

/// The `nodehost list` entry of a node.
pub(crate) fn summary(node: &HostedNode) -> Value {
    let d = &node.description;
    serde_json::to_value(NodeSummary {
        name: d.name.clone(),
        display_name: d.display_name.clone(),
        version: d.version,
        description: d.description.clone(),
    })
    .unwrap_or(Value::Null)
}

/// One node as `nodehost list` and `GET /v1/nodes` show it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    /// The name to run it by.
    pub name: String,
    /// The name the editor shows.
    pub display_name: String,
    /// The node's version.
    pub version: u32,
    /// What it does.
    pub description: String,
}
