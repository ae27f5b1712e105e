//! What a node and a credential type are, as owned data: the one description everything
//! downstream reads (definition files, schemas, the validator, `list`, record locks).
//!
//! A description comes from a typed Rust node (derived from its `Params` type, see
//! [`crate::Node`]) or from a definition document (a plugin's `initialize` answer, a cached
//! file). It serializes *as* the n8n-compatible definition of `node-definitions/NAME.json` and
//! deserializes from one, so a description can be cached on disk and read back unchanged.
//! String formats are code, not data: they travel beside the description and are not
//! serialized.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::schema::{self, OperationSchema};

/// A node, as the host knows it.
#[derive(Clone)]
pub struct NodeDescription {
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
    /// The operation used by items that name none.
    pub default_operation: String,
    /// Every operation, in display order.
    pub operations: Vec<OperationDescription>,
    /// The credential type's name, if the node needs one.
    pub credential: Option<String>,
    /// Whether AI agents may call the node as a tool (n8n `usableAsTool`).
    pub usable_as_tool: bool,
    /// Whether a dry run may be given to the node: it then describes the requests it would
    /// send instead of sending its writes (`supportsDryRun` in the definition).
    pub supports_dry_run: bool,
    /// The n8n form (`properties`), published as is.
    pub properties: Form,
    /// JSON Schema 2020-12 of one item's parameters: one `oneOf` branch per operation.
    pub parameters_schema: Derived<Value>,
    /// Custom string formats referenced by `format` in the schema (not serialized: code).
    pub formats: Vec<StringFormat>,
}

impl fmt::Debug for NodeDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeDescription")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("operations", &self.operations)
            .finish_non_exhaustive()
    }
}

/// A value given as is, or computed from others the first time it is read; clones share it.
///
/// A typed node's n8n form and published `parametersSchema` are both derived from its
/// operation schemas, and a run reads neither: building them was a sixth of a one-item run's
/// start-up (BENCHMARKS.md, "Lean"). A definition document gives them as is.
pub struct Derived<T>(Arc<DerivedState<T>>);

struct DerivedState<T> {
    value: OnceLock<T>,
    derive: Option<Box<dyn Fn() -> T + Send + Sync>>,
}

/// A node's n8n form (`properties`), in display order.
pub type Form = Derived<Vec<Value>>;

impl<T> Derived<T> {
    /// A value given as is.
    pub fn new(value: T) -> Self {
        Self(Arc::new(DerivedState {
            value: OnceLock::from(value),
            derive: None,
        }))
    }

    /// A value computed by `derive` when it is first read.
    pub fn from_fn(derive: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self(Arc::new(DerivedState {
            value: OnceLock::new(),
            derive: Some(Box::new(derive)),
        }))
    }

    /// The value if it was given or has been computed, without computing it.
    pub fn peek(&self) -> Option<&T> {
        self.0.value.get()
    }
}

impl<T: Default> Derived<T> {
    /// The value, computed now if this is its first read.
    pub fn get(&self) -> &T {
        let state = &*self.0;
        // `derive` is absent only for a value given as is, which is always set.
        state
            .value
            .get_or_init(|| state.derive.as_ref().map(|derive| derive()).unwrap_or_default())
    }
}

impl<T> Clone for Derived<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Default> std::ops::Deref for Derived<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.get()
    }
}

impl<T> From<T> for Derived<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: Default + Serialize> Serialize for Derived<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl<T: Default + fmt::Debug> fmt::Debug for Derived<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// One operation of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationDescription {
    /// The `operation` value, e.g. `"getAll"`.
    pub value: String,
    /// Human name, e.g. `"Get Many"`.
    pub display_name: String,
    /// n8n `action`, e.g. `"Get many clients"`.
    pub action: String,
    /// What it does (the schema branch's description).
    pub description: Option<String>,
    /// Side-effect hints for engines and AI agents.
    pub hints: OperationHints,
    /// The records an item of this operation touches, as templates over its parameters.
    pub locks: LockTemplates,
}

/// What an operation does to the outside world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

    /// The named presets `read`, `create`, `update`, `delete`.
    pub fn preset(name: &str) -> Option<Self> {
        Some(match name {
            "read" => Self::READ,
            "create" => Self::CREATE,
            "update" => Self::UPDATE,
            "delete" => Self::DELETE,
            _ => return None,
        })
    }
}

/// Record keys an item claims, as templates such as `client/{clientId|int}`.
///
/// An item waits for every earlier item holding a conflicting claim (same key, at least one
/// `write`) and for nothing else. `{field}` is replaced by the item's parameter (a number as an
/// integer when it is one, a string as it is); filters normalise it: `|int` (digits without
/// leading zeros), `|lower`, `|digits` (only the digits). A template whose field the item does
/// not give (or gives as `null`) claims nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockTemplates {
    /// Shared claims (reads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
    /// Exclusive claims (writes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<String>,
}

impl LockTemplates {
    /// Whether no claim is declared.
    pub fn is_empty(&self) -> bool {
        self.read.is_empty() && self.write.is_empty()
    }
}

/// A named check for string values, used as `"format": NAME` in a schema.
#[derive(Clone)]
pub struct StringFormat {
    /// The `format` keyword value.
    pub name: String,
    /// What a valid value looks like, in words: "an 11-digit CPF with valid check digits".
    pub expected: String,
    /// The check.
    pub check: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl StringFormat {
    /// A format from its name, its description in words and its check.
    pub fn new(
        name: impl Into<String>,
        expected: impl Into<String>,
        check: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            expected: expected.into(),
            check: Arc::new(check),
        }
    }
}

impl fmt::Debug for StringFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StringFormat")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Why a definition document cannot be read as a description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DescriptionError(pub String);

fn field<'a>(def: &'a Map<String, Value>, key: &str) -> Result<&'a Value, DescriptionError> {
    def.get(key)
        .ok_or_else(|| DescriptionError(format!("the definition has no `{key}`")))
}

fn string(def: &Map<String, Value>, key: &str) -> Result<String, DescriptionError> {
    match field(def, key)? {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(DescriptionError(format!("`{key}` must be a non-empty string"))),
    }
}

impl NodeDescription {
    /// The per-operation schemas, flattened from `parameters_schema`.
    pub fn operation_schemas(&self) -> Result<Vec<OperationSchema>, DescriptionError> {
        schema::split_definition(&self.parameters_schema, &self.default_operation).map_err(DescriptionError)
    }

    /// The operation called `value`.
    pub fn operation(&self, value: &str) -> Option<&OperationDescription> {
        self.operations.iter().find(|o| o.value == value)
    }

    /// The n8n-compatible definition (the content of `node-definitions/NAME.json`).
    pub fn to_definition(&self) -> Value {
        let mut def = Map::new();
        def.insert("displayName".into(), json!(self.display_name));
        def.insert("name".into(), json!(self.name));
        if let Some(icon) = &self.icon {
            def.insert("icon".into(), json!(icon));
        }
        def.insert("group".into(), json!(self.group));
        def.insert("version".into(), json!(self.version));
        def.insert("subtitle".into(), json!("={{$parameter[\"operation\"]}}"));
        def.insert("description".into(), json!(self.description));
        def.insert("defaults".into(), json!({ "name": self.display_name }));
        def.insert("inputs".into(), json!(["main"]));
        def.insert("outputs".into(), json!(["main"]));
        let credentials: Vec<Value> = self
            .credential
            .iter()
            .map(|c| json!({ "name": c, "required": true }))
            .collect();
        def.insert("credentials".into(), Value::Array(credentials));
        def.insert("usableAsTool".into(), json!(self.usable_as_tool));
        if self.supports_dry_run {
            def.insert("supportsDryRun".into(), json!(true));
        }
        def.insert("properties".into(), Value::Array(self.properties.to_vec()));
        let operations: Map<String, Value> = self
            .operations
            .iter()
            .map(|o| {
                let mut entry = match json!(o.hints) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                if !o.locks.is_empty() {
                    entry.insert("locks".into(), json!(o.locks));
                }
                (o.value.clone(), Value::Object(entry))
            })
            .collect();
        def.insert("operations".into(), Value::Object(operations));
        def.insert("parametersSchema".into(), self.parameters_schema.get().clone());
        Value::Object(def)
    }

    /// Read a definition document (the format of `node-definitions/NAME.json`): the n8n fields,
    /// `parametersSchema` and the per-operation hints. Display names and actions of operations
    /// come from the `operation` property's options when it has them.
    pub fn from_definition(value: &Value) -> Result<Self, DescriptionError> {
        let Value::Object(def) = value else {
            return Err(DescriptionError("a definition must be a JSON object".into()));
        };
        let name = string(def, "name")?;
        let at = |e: DescriptionError| DescriptionError(format!("node `{name}`: {}", e.0));
        let display_name = string(def, "displayName").map_err(at)?;
        let version = match field(def, "version").map_err(at)? {
            Value::Number(n) => n
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| at(DescriptionError("`version` must be a whole number".into())))?,
            _ => return Err(at(DescriptionError("`version` must be a whole number".into()))),
        };
        let properties = match field(def, "properties").map_err(at)? {
            Value::Array(p) if p.iter().all(Value::is_object) => p.clone(),
            _ => {
                return Err(at(DescriptionError(
                    "`properties` must be an array of objects".into(),
                )));
            }
        };
        let credential = match field(def, "credentials").map_err(at)? {
            Value::Array(c) => match c.as_slice() {
                [] => None,
                [one] => Some(
                    one.get("name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                        .ok_or_else(|| at(DescriptionError("`credentials[0].name` must be a string".into())))?
                        .to_owned(),
                ),
                _ => {
                    return Err(at(DescriptionError(
                        "at most one credential type is supported".into(),
                    )));
                }
            },
            _ => return Err(at(DescriptionError("`credentials` must be an array".into()))),
        };
        let parameters_schema = field(def, "parametersSchema").map_err(at)?.clone();
        if !parameters_schema.is_object() {
            return Err(at(DescriptionError(
                "`parametersSchema` must be a JSON Schema object".into(),
            )));
        }
        let selector = properties
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some("operation"));
        let option_of = |op: &str| {
            selector
                .and_then(|s| s.get("options"))
                .and_then(Value::as_array)
                .and_then(|opts| {
                    opts.iter()
                        .find(|o| o.get("value").and_then(Value::as_str) == Some(op))
                })
        };
        let hints = match field(def, "operations").map_err(at)? {
            Value::Object(ops) if !ops.is_empty() => ops.clone(),
            _ => {
                return Err(at(DescriptionError(
                    "`operations` must be an object naming every operation".into(),
                )));
            }
        };
        let schemas =
            schema::split_definition(&parameters_schema, "").map_err(|e| at(DescriptionError(e)))?;
        let mut operations = Vec::with_capacity(hints.len());
        for (value, entry) in &hints {
            let parsed: OperationEntry = serde_json::from_value(entry.clone())
                .map_err(|e| at(DescriptionError(format!("operation `{value}`: {e}"))))?;
            let option = option_of(value);
            let text = |key: &str| {
                option
                    .and_then(|o| o.get(key))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let Some(schema) = schemas.iter().find(|s| s.name == *value) else {
                return Err(at(DescriptionError(format!(
                    "operation `{value}` has no branch in `parametersSchema`"
                ))));
            };
            operations.push(OperationDescription {
                value: value.clone(),
                display_name: text("name").unwrap_or_else(|| value.clone()),
                action: text("action").unwrap_or_else(|| value.clone()),
                description: schema.description.clone().or_else(|| text("description")),
                hints: parsed.hints,
                locks: parsed.locks,
            });
        }
        if let Some(extra) = schemas.iter().find(|s| !hints.contains_key(&s.name)) {
            return Err(at(DescriptionError(format!(
                "`parametersSchema` has operation `{}`, which `operations` does not list",
                extra.name
            ))));
        }
        let default_operation = selector
            .and_then(|s| s.get("default"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| schemas.iter().find(|s| s.defaulted).map(|s| s.name.clone()))
            .unwrap_or_else(|| operations[0].value.clone());
        if !operations.iter().any(|o| o.value == default_operation) {
            return Err(at(DescriptionError(format!(
                "the default operation `{default_operation}` is not an operation"
            ))));
        }
        let text = |key: &str| def.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            description: text("description").unwrap_or_default(),
            group: def
                .get("group")
                .and_then(Value::as_array)
                .map(|g| g.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_else(|| vec!["transform".to_owned()]),
            icon: text("icon"),
            usable_as_tool: def.get("usableAsTool").and_then(Value::as_bool).unwrap_or(false),
            supports_dry_run: def
                .get("supportsDryRun")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            name,
            display_name,
            version,
            default_operation,
            operations,
            credential,
            properties: Form::new(properties),
            parameters_schema: Derived::new(parameters_schema),
            formats: Vec::new(),
        })
    }
}

/// One entry of a definition's `operations` object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OperationEntry {
    #[serde(flatten)]
    hints: OperationHints,
    #[serde(default)]
    locks: LockTemplates,
}

impl Serialize for NodeDescription {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_definition().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for NodeDescription {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_definition(&value).map_err(serde::de::Error::custom)
    }
}

/// A credential type: its fields (a JSON Schema whose secret fields say `"x-secret": true`),
/// how it is published, and where a caller may find its values.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialType {
    /// Machine name, e.g. `"gestorClientesMaxApi"`.
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Where users learn how to get one.
    pub documentation_url: Option<String>,
    /// Environment variables a caller may read the fields from, as `(field, VARIABLE)`.
    pub env: Vec<(String, String)>,
    /// n8n `authenticate` block (how the secret is sent), published as is.
    pub authenticate: Option<Value>,
    /// n8n `test` block (request that checks the credential), published as is.
    pub test: Option<Value>,
    /// JSON Schema of the fields.
    pub schema: Value,
}

impl CredentialType {
    /// Names of the fields marked secret (`"x-secret": true` or `"writeOnly": true`).
    pub fn secret_fields(&self) -> Vec<&str> {
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .filter(|(_, s)| {
                        s.get("x-secret") == Some(&Value::Bool(true))
                            || s.get("writeOnly") == Some(&Value::Bool(true))
                    })
                    .map(|(k, _)| k.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Required field names.
    pub fn required_fields(&self) -> Vec<&str> {
        self.schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The n8n-compatible definition (`node-definitions/NAME.credentials.json`).
    pub fn to_definition(&self) -> Value {
        crate::definition::credential_definition(self)
    }

    /// Read a credential definition document (the format of `NAME.credentials.json`).
    pub fn from_definition(value: &Value) -> Result<Self, DescriptionError> {
        let Value::Object(def) = value else {
            return Err(DescriptionError(
                "a credential definition must be a JSON object".into(),
            ));
        };
        let name = string(def, "name")?;
        let at = |e: DescriptionError| DescriptionError(format!("credential type `{name}`: {}", e.0));
        let display_name = string(def, "displayName").map_err(at)?;
        let schema = match field(def, "schema").map_err(at)? {
            s @ Value::Object(_) => s.clone(),
            _ => {
                return Err(at(DescriptionError(
                    "`schema` must be a JSON Schema object".into(),
                )));
            }
        };
        let env = def
            .get("environment")
            .and_then(Value::as_object)
            .map(|e| {
                e.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            documentation_url: def
                .get("documentationUrl")
                .and_then(Value::as_str)
                .map(str::to_owned),
            authenticate: def.get("authenticate").cloned(),
            test: def.get("test").cloned(),
            name,
            display_name,
            env,
            schema,
        })
    }
}

impl Serialize for CredentialType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_definition().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CredentialType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_definition(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_derived_value_is_built_when_first_read_once_for_all_its_clones() {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&built);
        let form = Form::from_fn(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            vec![json!({"name": "operation", "type": "options"})]
        });
        let copy = form.clone();
        assert_eq!(built.load(Ordering::SeqCst), 0, "built before anyone read it");
        assert!(form.peek().is_none(), "peeking computes nothing");
        assert_eq!(**copy, [json!({"name": "operation", "type": "options"})]);
        assert_eq!(form.len(), 1);
        assert_eq!(
            form.peek().map(Vec::len),
            Some(1),
            "the clone's read is the original's"
        );
        assert_eq!(built.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_given_value_reads_as_given() {
        let form = Form::from(vec![json!({"name": "a"}), json!({"name": "b"})]);
        assert!(form.peek().is_some());
        assert_eq!(
            form.iter().filter_map(|p| p["name"].as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let schema = Derived::new(json!({"type": "object"}));
        assert_eq!(serde_json::to_string(&schema).unwrap(), r#"{"type":"object"}"#);
    }
}
