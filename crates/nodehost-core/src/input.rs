//! What a run reads: the input forms (array, single item, envelope, n8n-shaped items) and the
//! resolution of one item's parameters from node-level parameters and the item's own fields.

use serde_json::{Map, Value};

use crate::validate::{Validator, describe};

pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A whole run's input, once parsed.
#[derive(Default, Clone)]
pub struct RunInput {
    /// Node-level parameters, applied to every item that does not set them.
    pub parameters: Map<String, Value>,
    /// The items' own fields.
    pub items: Vec<Map<String, Value>>,
    /// Credentials from the envelope (may hold secrets; never printed).
    pub credentials: Option<Value>,
    /// The envelope's `continueOnFail`.
    pub continue_on_fail: Option<bool>,
}

impl std::fmt::Debug for RunInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunInput")
            .field("parameters", &self.parameters)
            .field("items", &self.items.len())
            .field("credentials", &self.credentials.as_ref().map(|_| "<redacted>"))
            .field("continue_on_fail", &self.continue_on_fail)
            .finish()
    }
}

/// Why the input cannot be used at all (exit status 2 in the CLI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The top-level value has the wrong shape.
    #[error("input: {0}")]
    Shape(String),
    /// One item is not JSON a run can read (a number beyond what JSON numbers hold).
    #[error("item {index}: malformed JSON {place}: {message}")]
    Json {
        /// Index of the item.
        index: usize,
        /// `at line L, column C`.
        place: String,
        /// The parser's words.
        message: String,
    },
    /// One item is not an object.
    #[error("item {index}: expected an object (or {{\"json\": {{...}}}}), got {got}")]
    Item {
        /// Index of the item.
        index: usize,
        /// What was received.
        got: String,
    },
}

const ENVELOPE_KEYS: &[&str] = &["parameters", "items", "credentials", "continueOnFail"];

impl RunInput {
    /// Parse a whole input document: an array of items, an envelope, or one item.
    pub fn from_value(value: Value) -> Result<Self, InputError> {
        match value {
            Value::Array(items) => Ok(Self {
                items: items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| item_fields(i, v))
                    .collect::<Result<_, _>>()?,
                ..Self::default()
            }),
            Value::Object(map) if is_envelope(&map) => Self::from_envelope(map),
            Value::Object(_) => Ok(Self {
                items: vec![item_fields(0, value)?],
                ..Self::default()
            }),
            other => Err(not_a_document(&describe(&other))),
        }
    }

    fn from_envelope(mut map: Map<String, Value>) -> Result<Self, InputError> {
        check_envelope_keys(map.keys().map(String::as_str))?;
        let parameters = envelope_parameters(map.remove("parameters"))?;
        let items = match map.remove("items") {
            // An envelope without items runs the node once with its parameters, as n8n does
            // for a manual trigger.
            None | Some(Value::Null) => vec![Map::new()],
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| item_fields(i, v))
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(items_not_an_array(&describe(&other))),
        };
        Ok(Self {
            parameters,
            items,
            continue_on_fail: envelope_continue_on_fail(map.remove("continueOnFail"))?,
            credentials: envelope_credentials(map.remove("credentials"))?,
        })
    }
}

/// An envelope names only its own fields.
pub(crate) fn check_envelope_keys<'a>(mut keys: impl Iterator<Item = &'a str>) -> Result<(), InputError> {
    match keys.find(|k| !ENVELOPE_KEYS.contains(k)) {
        Some(key) => Err(InputError::Shape(format!(
            "unknown envelope field `{}` (expected: {})",
            crate::validate::truncate(key, 40),
            ENVELOPE_KEYS.join(", ")
        ))),
        None => Ok(()),
    }
}

pub(crate) fn envelope_parameters(value: Option<Value>) -> Result<Map<String, Value>, InputError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(p)) => Ok(p),
        Some(other) => Err(InputError::Shape(format!(
            "`parameters` must be an object, got {}",
            describe(&other)
        ))),
    }
}

pub(crate) fn envelope_continue_on_fail(value: Option<Value>) -> Result<Option<bool>, InputError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(other) => Err(InputError::Shape(format!(
            "`continueOnFail` must be true or false, got {}",
            describe(&other)
        ))),
    }
}

pub(crate) fn envelope_credentials(value: Option<Value>) -> Result<Option<Value>, InputError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(c @ Value::Object(_)) => Ok(Some(c)),
        // Never describe the value: it may be a secret.
        Some(_) => Err(InputError::Shape("`credentials` must be an object".into())),
    }
}

pub(crate) fn items_not_an_array(got: &str) -> InputError {
    InputError::Shape(format!("`items` must be an array, got {got}"))
}

/// What the top level of an input document must be.
pub(crate) fn not_a_document(got: &str) -> InputError {
    InputError::Shape(format!(
        "expected an array of items, an item object or an envelope {{\"items\": [...]}}, got {got}"
    ))
}

fn is_envelope(map: &Map<String, Value>) -> bool {
    envelope_rule(
        matches!(map.get("items"), Some(Value::Array(_))),
        map.contains_key("parameters") || map.contains_key("credentials"),
    )
}

/// An object is an envelope when its `items` is an array or it has `parameters` or
/// `credentials`; any other object is one item.
pub(crate) fn envelope_rule(items_is_array: bool, has_parameters_or_credentials: bool) -> bool {
    items_is_array || has_parameters_or_credentials
}

/// One item's own fields: `{"json": {...}}` (n8n) or the object itself.
pub fn item_fields(index: usize, value: Value) -> Result<Map<String, Value>, InputError> {
    match value {
        Value::Object(mut map) => {
            let n8n_shaped = matches!(map.get("json"), Some(Value::Object(_)))
                && map
                    .keys()
                    .all(|k| matches!(k.as_str(), "json" | "pairedItem" | "binary" | "index"));
            if n8n_shaped {
                match map.remove("json") {
                    Some(Value::Object(json)) => Ok(json),
                    _ => Ok(Map::new()),
                }
            } else {
                Ok(map)
            }
        }
        other => Err(InputError::Item {
            index,
            got: describe(&other),
        }),
    }
}

/// Resolve one item's parameters: its own fields, then node-level parameters it does not set
/// (only those its operation takes: node-level parameters are shared by items of every
/// operation), then the default operation.
pub fn resolve(
    node_parameters: &Map<String, Value>,
    mut item: Map<String, Value>,
    default_operation: &str,
    validator: &Validator,
) -> Map<String, Value> {
    if !item.contains_key("operation") {
        let op = node_parameters
            .get("operation")
            .cloned()
            .unwrap_or_else(|| Value::String(default_operation.to_owned()));
        item.insert("operation".into(), op);
    }
    if !node_parameters.is_empty() {
        let op = item
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        for (key, value) in node_parameters {
            if key != "operation" && !item.contains_key(key) && validator.has_field(&op, key) {
                item.insert(key.clone(), value.clone());
            }
        }
    }
    item
}

/// Node-level parameters that no operation takes (typos), checked once per run.
pub fn unknown_node_parameters(node_parameters: &Map<String, Value>, validator: &Validator) -> Vec<String> {
    node_parameters
        .keys()
        .filter(|k| *k != "operation" && !validator.any_has_field(k))
        .cloned()
        .collect()
}

/// Parse one JSON document the way every caller reads input: a UTF-8 byte-order mark at the
/// start is skipped, and a key that appears twice in one object (anywhere in the document) is
/// an error naming it, where `serde_json` alone would silently keep the last value: `{"operation":
/// "get", "operation": "delete"}` must not delete.
pub fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde::de::DeserializeSeed::deserialize(Strict, &mut de)?;
    de.end()?;
    Ok(value)
}

/// A `Value` deserializer that refuses duplicate keys.
pub(crate) struct Strict;

impl<'de> serde::de::DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key `{}`",
                    crate::validate::truncate(&key, 60)
                )));
            }
            let value = map.next_value_seed(Strict)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}
