//! Validation of one item's resolved parameters against its operation's schema, with messages
//! that name the field, what was expected and what was received, all problems at once.
//!
//! Uses the `jsonschema` crate (compiled once per operation) for the checks; this module owns
//! only the unknown-field policy and the wording of problems.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value};

use crate::description::StringFormat;
use crate::error::Problem;
use crate::schema::OperationSchema;

/// The validators of every operation of one node, each compiled the first time an item of
/// that operation is checked: `list`, `describe` and a run of one operation compile nothing
/// they do not use. It reads the node's operation schemas where the node keeps them, and
/// builds an operation's validation schema only to compile it.
pub struct Validator {
    operations: Arc<[OperationSchema]>,
    compiled: Vec<OnceLock<Result<jsonschema::Validator, String>>>,
    by_name: HashMap<String, usize>,
    formats: Vec<StringFormat>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("operations", &self.operation_names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What to do with fields no operation declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownFields {
    /// Report them as problems (the default): a typo must not silently drop a value.
    #[default]
    Reject,
    /// Drop them before validating.
    Ignore,
}

impl Validator {
    /// The validators of `ops` with the node's custom formats; nothing is compiled yet.
    pub fn new(ops: Arc<[OperationSchema]>, formats: &[StringFormat]) -> Self {
        let by_name = ops
            .iter()
            .enumerate()
            .map(|(i, op)| (op.name.clone(), i))
            .collect();
        Self {
            compiled: ops.iter().map(|_| OnceLock::new()).collect(),
            operations: ops,
            by_name,
            formats: formats.to_vec(),
        }
    }

    /// Compile every operation now: a schema that does not compile is a bug of the node (or
    /// of a plugin's definition), which registration tests and `plugin add` surface this way.
    pub fn compile_all(&self) -> Result<(), String> {
        for index in 0..self.operations.len() {
            self.compiled(index)?;
        }
        Ok(())
    }

    fn compiled(&self, index: usize) -> Result<&jsonschema::Validator, String> {
        let op = &self.operations[index];
        self.compiled[index]
            .get_or_init(|| {
                let mut options = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true);
                for f in &self.formats {
                    let check = Arc::clone(&f.check);
                    options = options.with_format(f.name.clone(), move |s: &str| check(s));
                }
                options
                    .build(&op.validation_schema())
                    .map_err(|e| format!("operation `{}`: invalid schema: {e}", op.name))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Names of all operations, in declaration order.
    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.iter().map(|o| o.name.as_str())
    }

    /// Whether `field` is a parameter of `operation`.
    pub fn has_field(&self, operation: &str, field: &str) -> bool {
        self.by_name
            .get(operation)
            .is_some_and(|&i| self.operations[i].properties.contains_key(field))
    }

    /// Whether `field` is a parameter of any operation.
    pub fn any_has_field(&self, field: &str) -> bool {
        self.operations.iter().any(|o| o.properties.contains_key(field))
    }

    /// Check one item's resolved parameters (which carry `operation`). Drops unknown fields
    /// first when told to. Returns every problem found.
    pub fn check(&self, params: &mut Map<String, Value>, unknown: UnknownFields) -> Vec<Problem> {
        let op_name = match params.get("operation") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return vec![Problem {
                    path: "operation".into(),
                    message: format!("expected a string naming an operation, got {}", describe(other)),
                }];
            }
            None => {
                return vec![Problem {
                    path: "operation".into(),
                    message: "missing".into(),
                }];
            }
        };
        let Some(&index) = self.by_name.get(op_name) else {
            return vec![Problem {
                path: String::new(),
                message: unknown_operation(op_name, self.operation_names()),
            }];
        };
        let op = &self.operations[index];
        let fields = &op.properties;
        let mut problems = Vec::new();
        if params.len() > fields.len() || params.keys().any(|k| !fields.contains_key(k)) {
            match unknown {
                UnknownFields::Ignore => params.retain(|k, _| fields.contains_key(k)),
                UnknownFields::Reject => {
                    for key in params.keys().filter(|k| !fields.contains_key(*k)) {
                        problems.push(unknown_field(key, &op.name, fields, self));
                    }
                }
            }
        }
        let schema = match self.compiled(index) {
            Ok(schema) => schema,
            Err(e) => {
                return vec![Problem {
                    path: String::new(),
                    message: format!("internal error (a bug in the node's definition): {e}"),
                }];
            }
        };
        let instance = Value::Object(std::mem::take(params));
        let mut ranked: Vec<(u8, Problem)> = Vec::new();
        if !schema.is_valid(&instance) {
            for error in schema.iter_errors(&instance) {
                let path: Vec<String> = error.instance_path().iter().map(|s| s.to_string()).collect();
                let mut path = path.join(".");
                if let ValidationErrorKind::Required { property } = error.kind() {
                    // Name the missing field itself, not the object that lacks it.
                    let name = property.as_str().unwrap_or_default();
                    path = if path.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{path}.{name}")
                    };
                }
                let message = self.wording(op, &path, error.kind(), error.instance());
                // When one field breaks several rules, the most specific one is kept: "one of
                // active, inactive" says more than "a string".
                let rank = match error.kind() {
                    ValidationErrorKind::Type { .. } => 2,
                    ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => 3,
                    _ => 1,
                };
                ranked.push((rank, Problem { path, message }));
            }
        }
        if let Value::Object(map) = instance {
            *params = map;
        }
        ranked.sort_by_key(|(rank, p)| (field_position(fields, &p.path), *rank));
        ranked.dedup_by(|a, b| a.1.path == b.1.path);
        problems.extend(ranked.into_iter().map(|(_, p)| p));
        problems.sort_by_key(|p| field_position(fields, &p.path));
        problems
    }

    fn wording(&self, op: &OperationSchema, path: &str, kind: &ValidationErrorKind, got: &Value) -> String {
        let got_text = describe(got);
        match kind {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let expected = op.properties.get(name).map(expected_of).unwrap_or_default();
                if expected.is_empty() {
                    "required, but missing".to_owned()
                } else {
                    format!("required, but missing; expected {expected}")
                }
            }
            ValidationErrorKind::Type { kind } => {
                format!("expected {}, got {got_text}", type_words(kind))
            }
            ValidationErrorKind::Enum { options } => {
                format!("expected one of {}, got {got_text}", list(options))
            }
            ValidationErrorKind::Constant { expected_value } => {
                format!("expected {expected_value}, got {got_text}")
            }
            ValidationErrorKind::Format { format } => {
                let expected = self
                    .formats
                    .iter()
                    .find(|f| f.name == *format)
                    .map_or_else(|| format!("a valid {format}"), |f| f.expected.clone());
                format!("expected {expected}, got {got_text}")
            }
            ValidationErrorKind::Minimum { limit } => {
                format!("expected a number >= {limit}, got {got_text}")
            }
            ValidationErrorKind::Maximum { limit } => {
                format!("expected a number <= {limit}, got {got_text}")
            }
            ValidationErrorKind::ExclusiveMinimum { limit } => {
                format!("expected a number > {limit}, got {got_text}")
            }
            ValidationErrorKind::ExclusiveMaximum { limit } => {
                format!("expected a number < {limit}, got {got_text}")
            }
            ValidationErrorKind::MinLength { limit: 1 } => {
                format!("must not be empty, got {got_text}")
            }
            ValidationErrorKind::MinLength { limit } => {
                format!("expected at least {limit} characters, got {got_text}")
            }
            ValidationErrorKind::MaxLength { limit } => {
                format!("expected at most {limit} characters, got {got_text}")
            }
            ValidationErrorKind::MinProperties { .. } if path.is_empty() => {
                let hint = op
                    .properties
                    .keys()
                    .filter(|k| !matches!(k.as_str(), "operation"))
                    .filter(|k| got.get(k.as_str()).is_none())
                    .take(6)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "operation `{}` needs at least one more field to act on (e.g. {hint})",
                    op.name
                )
            }
            ValidationErrorKind::Pattern { pattern } => {
                format!("expected a value matching {pattern}, got {got_text}")
            }
            ValidationErrorKind::MultipleOf { multiple_of } => {
                format!("expected a multiple of {multiple_of}, got {got_text}")
            }
            ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
                let expected = op.properties.get(path).map(expected_of).unwrap_or_default();
                if expected.is_empty() {
                    format!("got {got_text}, which matches none of the allowed shapes")
                } else {
                    format!("expected {expected}, got {got_text}")
                }
            }
            other => {
                let mut s = String::new();
                let _ = write!(s, "{} check failed, got {got_text}", other.keyword());
                s
            }
        }
    }
}

/// Where a problem's top-level field is declared, to report problems in the form's order.
fn field_position(fields: &Map<String, Value>, path: &str) -> usize {
    let top = path.split('.').next().unwrap_or(path);
    fields.keys().position(|f| f == top).unwrap_or(usize::MAX)
}

fn unknown_field(key: &str, op: &str, fields: &Map<String, Value>, validator: &Validator) -> Problem {
    let lower = key.to_lowercase();
    let best = fields
        .keys()
        .filter(|f| *f != "operation")
        .map(|f| {
            let candidate = f.to_lowercase();
            let edits = strsim::osa_distance(&lower, &candidate);
            let close = edits <= (candidate.chars().count() / 3).max(1)
                || strsim::jaro_winkler(&lower, &candidate) >= 0.88;
            (edits, close, f)
        })
        .filter(|(_, close, _)| *close)
        .min_by_key(|(edits, _, _)| *edits)
        .map(|(_, _, f)| f);
    let mut message = format!("unknown field `{}` for operation `{op}`", truncate(key, 60));
    if let Some(suggestion) = best {
        let _ = write!(message, "; did you mean `{suggestion}`?");
    } else if validator.any_has_field(key) {
        let users: Vec<&str> = validator
            .operations
            .iter()
            .filter(|o| o.properties.contains_key(key))
            .map(|o| o.name.as_str())
            .collect();
        let _ = write!(message, " (it belongs to: {})", users.join(", "));
    }
    Problem {
        path: key.to_owned(),
        message,
    }
}

/// What a property schema accepts, in words, for "missing" messages.
fn expected_of(schema: &Value) -> String {
    if let Some(values) = schema.get("enum") {
        return format!("one of {}", list(values));
    }
    match schema.get("type") {
        Some(Value::String(t)) => article(t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(article)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => String::new(),
    }
}

fn article(t: &str) -> String {
    match t {
        "integer" => "an integer".into(),
        "object" => "an object".into(),
        "array" => "an array".into(),
        "null" => "null".into(),
        other => format!("a {other}"),
    }
}

fn type_words(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => article(&t.to_string()),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| article(&t.to_string()))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn list(values: &Value) -> String {
    match values.as_array() {
        Some(items) => items.iter().map(Value::to_string).collect::<Vec<_>>().join(", "),
        None => values.to_string(),
    }
}

/// A received value, quoted and cut short so a 10 MB string does not flood the terminal.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let cut = truncate(s, 60);
            let quoted = serde_json::to_string(&cut).unwrap_or_else(|_| "\"?\"".into());
            if cut.len() < s.len() {
                format!("{quoted} ({} characters)", s.chars().count())
            } else {
                quoted
            }
        }
        Value::Array(a) => format!("an array of {} element(s)", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

pub(crate) fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The one wording of an unknown operation, for a run's items, `nodehost schema` and
/// `GET /v1/nodes/{name}/schema`.
pub(crate) fn unknown_operation<'a>(given: &str, supported: impl Iterator<Item = &'a str>) -> String {
    format!(
        "Unknown operation: {} (supported: {})",
        truncate(given, 60),
        supported.collect::<Vec<_>>().join(", ")
    )
}
