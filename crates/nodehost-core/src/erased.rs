//! The object-safe form of a [`Node`]: what the registry holds and the engine drives.
//!
//! [`Erased`] wraps a typed node, derives its schemas, definition and validator once, and
//! moves typed parameters through the engine as opaque [`Prepared`] values.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::definition::{credential_definition, node_definition};
use crate::error::{NodeError, Problem, SetupError};
use crate::node::{Lock, Node, NodeSpec};
use crate::options::RunOptions;
use crate::output::Output;
use crate::schema::{OperationSchema, split_operations};
use crate::validate::{UnknownFields, Validator};

/// One item's validated, typed parameters, ready to execute.
pub struct Prepared {
    params: Box<dyn Any + Send>,
    /// The records the item touches.
    pub locks: Vec<Lock>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("locks", &self.locks)
            .finish_non_exhaustive()
    }
}

/// A node as the registry holds it.
#[async_trait]
pub trait DynNode: Send + Sync + 'static {
    /// What the node says about itself.
    fn spec(&self) -> &NodeSpec;
    /// The n8n-compatible definition.
    fn definition(&self) -> &Value;
    /// The credential type's definition, if the node needs credentials.
    fn credential_definition(&self) -> Option<&Value>;
    /// JSON Schema of one input item: of one operation, or of all (`None`).
    fn item_schema(&self, operation: Option<&str>) -> Option<Value>;
    /// The validator of this node's parameters.
    fn validator(&self) -> &Validator;
    /// Validate resolved parameters and turn them into typed ones.
    fn prepare(&self, params: Map<String, Value>, unknown: UnknownFields) -> Result<Prepared, Vec<Problem>>;
    /// Open a session for one run from raw credential JSON.
    async fn open(
        &self,
        credentials: Option<Value>,
        options: &RunOptions,
    ) -> Result<Arc<dyn DynSession>, SetupError>;
}

/// A node bound to one run's credentials.
#[async_trait]
pub trait DynSession: Send + Sync + 'static {
    /// Execute one prepared item.
    async fn execute(&self, prepared: Prepared) -> Result<Vec<Output>, NodeError>;
    /// Check the credentials; answer who they belong to.
    async fn test_credentials(&self) -> Result<String, NodeError>;
}

/// A typed node made object-safe.
pub struct Erased<N: Node> {
    node: Arc<N>,
    spec: NodeSpec,
    operations: Vec<OperationSchema>,
    definition: Value,
    credential: Option<(Value, Value)>,
    validator: Validator,
}

impl<N: Node> std::fmt::Debug for Erased<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Erased")
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

impl<N: Node> Erased<N> {
    /// Derive schemas, definition and validator. Fails when the node's `Params` type or spec is
    /// inconsistent (a programming error of the node author, caught by the registry's tests).
    pub fn new(node: N) -> Result<Self, String> {
        let spec = node.spec();
        let root = schemars::SchemaGenerator::new(schemars::generate::SchemaSettings::draft2020_12())
            .into_root_schema_for::<N::Params>();
        let root = serde_json::to_value(root).map_err(|e| e.to_string())?;
        let operations = split_operations(&root, spec.default_operation)?;
        let declared: Vec<&str> = spec.operations.iter().map(|o| o.value).collect();
        let derived: Vec<&str> = operations.iter().map(|o| o.name.as_str()).collect();
        let mut sorted_declared = declared.clone();
        let mut sorted_derived = derived.clone();
        sorted_declared.sort_unstable();
        sorted_derived.sort_unstable();
        if sorted_declared != sorted_derived {
            return Err(format!(
                "node `{}`: spec operations {declared:?} differ from the Params variants {derived:?}",
                spec.name
            ));
        }
        if !declared.contains(&spec.default_operation) {
            return Err(format!(
                "node `{}`: default operation is not an operation",
                spec.name
            ));
        }
        // Present operations in the spec's order.
        let mut operations = operations;
        operations.sort_by_key(|o| declared.iter().position(|d| *d == o.name));
        let validator = Validator::new(&operations, &node.formats())?;
        let definition = node_definition(&spec, &operations);
        let credential = match &spec.credential {
            Some(c) => {
                let schema =
                    schemars::SchemaGenerator::new(schemars::generate::SchemaSettings::draft2020_12())
                        .into_root_schema_for::<N::Credentials>();
                let schema = serde_json::to_value(schema).map_err(|e| e.to_string())?;
                Some((credential_definition(c, &schema), schema))
            }
            None => None,
        };
        Ok(Self {
            node: Arc::new(node),
            spec,
            operations,
            definition,
            credential,
            validator,
        })
    }
}

#[async_trait]
impl<N: Node> DynNode for Erased<N> {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    fn definition(&self) -> &Value {
        &self.definition
    }

    fn credential_definition(&self) -> Option<&Value> {
        self.credential.as_ref().map(|(d, _)| d)
    }

    fn item_schema(&self, operation: Option<&str>) -> Option<Value> {
        match operation {
            Some(op) => self.operations.iter().find(|o| o.name == op).map(|o| {
                o.to_schema(
                    &format!("{} {}", self.spec.display_name, o.name),
                    o.name == self.spec.default_operation,
                )
            }),
            None => self.definition.get("parametersSchema").cloned(),
        }
    }

    fn validator(&self) -> &Validator {
        &self.validator
    }

    fn prepare(
        &self,
        mut params: Map<String, Value>,
        unknown: UnknownFields,
    ) -> Result<Prepared, Vec<Problem>> {
        let problems = self.validator.check(&mut params, unknown);
        if !problems.is_empty() {
            return Err(problems);
        }
        let value = Value::Object(params);
        // The schema accepted the item, so this only fails when the node's Deserialize is
        // stricter than its schema; it is reported like any other problem. The fast path tracks no field path; the failure path
        // deserializes again to name the field.
        let typed = match N::Params::deserialize(&value) {
            Ok(typed) => typed,
            Err(_) => {
                let problem = match serde_path_to_error::deserialize::<_, N::Params>(&value) {
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
                };
                return Err(vec![problem]);
            }
        };
        let locks = self.node.access(&typed);
        Ok(Prepared {
            params: Box::new(typed),
            locks,
        })
    }

    async fn open(
        &self,
        credentials: Option<Value>,
        options: &RunOptions,
    ) -> Result<Arc<dyn DynSession>, SetupError> {
        let typed = match (credentials, &self.credential) {
            (None, _) => None,
            (Some(_), None) => None,
            (Some(value), Some((_, schema))) => {
                let name = self.spec.credential.as_ref().map_or("", |c| c.name);
                Some(typed_credentials::<N::Credentials>(name, value, schema)?)
            }
        };
        let session = self.node.connect(typed, options).await?;
        Ok(Arc::new(TypedSession {
            node: Arc::clone(&self.node),
            session,
        }))
    }
}

/// Deserialize credentials without ever echoing a value: serde's messages quote what they
/// received, which here could be the secret.
fn typed_credentials<C: serde::de::DeserializeOwned>(
    name: &str,
    value: Value,
    schema: &Value,
) -> Result<C, SetupError> {
    let invalid = |reason: String| SetupError::InvalidCredentials {
        credential: name.to_owned(),
        reason,
    };
    let Value::Object(map) = &value else {
        return Err(invalid("expected a JSON object of fields".into()));
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for field in &required {
        match map.get(*field) {
            None | Some(Value::Null) => problems.push(format!("`{field}` is missing")),
            Some(Value::String(s)) if s.trim().is_empty() => problems.push(format!("`{field}` is empty")),
            Some(Value::String(_)) => {}
            Some(_) => problems.push(format!("`{field}` must be a string")),
        }
    }
    if let Some(props) = props {
        for key in map.keys().filter(|k| !props.contains_key(*k)) {
            problems.push(format!("unknown field `{}`", crate::validate::truncate(key, 40)));
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems.join("; ")));
    }
    serde_json::from_value(value).map_err(|_| invalid("fields have the wrong types".into()))
}

struct TypedSession<N: Node> {
    node: Arc<N>,
    session: N::Session,
}

#[async_trait]
impl<N: Node> DynSession for TypedSession<N> {
    async fn execute(&self, prepared: Prepared) -> Result<Vec<Output>, NodeError> {
        let params = prepared
            .params
            .downcast::<N::Params>()
            .map_err(|_| NodeError::new("internal error: parameters prepared by another node"))?;
        self.node.execute(&self.session, *params).await
    }

    async fn test_credentials(&self) -> Result<String, NodeError> {
        self.node.test_credentials(&self.session).await
    }
}
