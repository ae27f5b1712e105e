//! Turns the JSON Schema that schemars generates for a node's `Params` enum into one flat
//! object schema per operation, and back into the published `parametersSchema`.
//!
//! schemars encodes `#[serde(tag = "operation")]` enums as a `oneOf` whose branches combine
//! `properties`, `required`, `$ref` and `allOf`; this module owns undoing that encoding so that
//! validation errors can name plain fields. It knows no particular node.

use serde_json::{Map, Value, json};

/// The JSON Schema dialect every published schema declares.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// One operation's parameters as a flat object schema.
#[derive(Debug, Clone)]
pub struct OperationSchema {
    /// The `operation` value.
    pub name: String,
    /// The variant's doc comment.
    pub description: Option<String>,
    /// Properties in declaration order, `operation` first.
    pub properties: Map<String, Value>,
    /// Required property names (never `operation`: the engine fills it in).
    pub required: Vec<String>,
    /// Object-level keywords carried over from the parameter struct (e.g. `minProperties`),
    /// already adjusted for the `operation` property.
    pub extra: Map<String, Value>,
    /// Shared definitions referenced by the properties.
    pub defs: Map<String, Value>,
    /// Whether this is the default operation (items that name none get it).
    pub defaulted: bool,
    /// The branch's `x-operation` metadata (display name, action, hints, locks), for typed nodes.
    pub meta: Option<Value>,
}

impl OperationSchema {
    /// A standalone JSON Schema of one item of this operation.
    pub fn to_schema(&self, title: &str) -> Value {
        let mut schema = Map::new();
        schema.insert("$schema".into(), json!(DIALECT));
        schema.insert("title".into(), json!(title));
        if let Some(d) = &self.description {
            schema.insert("description".into(), json!(d));
        }
        self.write_body(&mut schema, self.defaulted);
        if !self.defs.is_empty() {
            schema.insert("$defs".into(), Value::Object(self.defs.clone()));
        }
        Value::Object(schema)
    }

    /// The schema without `$schema`/`$defs`, for use inside the combined schema.
    fn write_body(&self, schema: &mut Map<String, Value>, default_operation: bool) {
        schema.insert("type".into(), json!("object"));
        schema.insert("properties".into(), Value::Object(self.properties.clone()));
        let mut required = Vec::with_capacity(self.required.len() + 1);
        if !default_operation {
            required.push(json!("operation"));
        }
        required.extend(self.required.iter().map(|r| json!(r)));
        if !required.is_empty() {
            schema.insert("required".into(), Value::Array(required));
        }
        for (k, v) in &self.extra {
            schema.insert(k.clone(), v.clone());
        }
        schema.insert("additionalProperties".into(), json!(false));
    }

    /// The schema the validator compiles: no `additionalProperties` (the engine reports
    /// unknown fields itself, with suggestions) and `operation` always present.
    pub(crate) fn validation_schema(&self) -> Value {
        let mut schema = Map::new();
        schema.insert("$schema".into(), json!(DIALECT));
        schema.insert("type".into(), json!("object"));
        schema.insert("properties".into(), Value::Object(self.properties.clone()));
        let required: Vec<Value> = self.required.iter().map(|r| json!(r)).collect();
        if !required.is_empty() {
            schema.insert("required".into(), Value::Array(required));
        }
        for (k, v) in &self.extra {
            schema.insert(k.clone(), v.clone());
        }
        if !self.defs.is_empty() {
            schema.insert("$defs".into(), Value::Object(self.defs.clone()));
        }
        Value::Object(schema)
    }
}

/// Object-level keywords that survive flattening (`if`/`then`/`else`: a field required
/// depending on another's value, as an upsert's `matchBy`).
const CARRIED: &[&str] = &[
    "minProperties",
    "maxProperties",
    "dependentRequired",
    "if",
    "then",
    "else",
];

/// Keywords schemars puts first and last in every schema object it serializes, for a reader.
const KEYWORDS_FIRST: [&str; 7] = [
    "$id",
    "$schema",
    "title",
    "description",
    "type",
    "format",
    "properties",
];
const KEYWORDS_LAST: [&str; 2] = ["$defs", "definitions"];

/// Order the keywords of every schema in a generated schema as serializing a
/// `schemars::Schema` does, in place: the published definition reads the same, without the
/// copy of every string and map that `serde_json::to_value` of the schema made (a fifth of a
/// run's start-up instructions; BENCHMARKS.md, "Lean").
pub(crate) fn order_keywords(value: &mut Value) {
    order_in(value, false);
}

/// Whether the keywords of `map` already stand where [`order_keywords`] puts them.
fn in_order(map: &Map<String, Value>) -> bool {
    map.keys().map(|k| place(k)).is_sorted()
}

/// Where [`order_keywords`] puts `key`: a first keyword by its place among them, then any
/// other keyword, then a last keyword by its place.
fn place(key: &str) -> usize {
    let first = KEYWORDS_FIRST.iter().position(|k| *k == key);
    let last = KEYWORDS_LAST.iter().position(|k| *k == key);
    match (first, last) {
        (Some(i), _) => i,
        (None, Some(i)) => KEYWORDS_FIRST.len() + 1 + i,
        (None, None) => KEYWORDS_FIRST.len(),
    }
}

/// `members`: `value` is a map whose values are schemas (`properties`, `$defs`), not a schema.
fn order_in(value: &mut Value, members: bool) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| order_in(v, false)),
        Value::Object(map) if members => map.values_mut().for_each(|v| order_in(v, false)),
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if !(matches!(key.as_str(), "examples" | "default") || key.starts_with("x-")) {
                    let members = matches!(
                        key.as_str(),
                        "properties" | "patternProperties" | "dependentSchemas" | "$defs" | "definitions"
                    );
                    order_in(child, members);
                }
            }
            if !in_order(map) {
                // Taken out and put back in a stable sort: each key is hashed once, where
                // moving each keyword in place looked up (and hashed) every keyword there is.
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                entries.sort_by_key(|(key, _)| place(key));
                map.extend(entries);
            }
        }
        _ => {}
    }
}

/// Split a generated `Params` schema into per-operation schemas; `default_operation` names the
/// default (an empty name keeps what the branches say: the branch whose `operation` has a
/// `default`).
///
/// Fails with a message for the node author when the schema is not an `operation`-tagged enum.
pub fn split_operations(root: &Value, default_operation: &str) -> Result<Vec<OperationSchema>, String> {
    split(root, default_operation, true)
}

/// `generated`: the schema came from schemars, whose struct-level property counts do not
/// count `operation` yet.
fn split(root: &Value, default_operation: &str, generated: bool) -> Result<Vec<OperationSchema>, String> {
    let no_defs = Map::new();
    let defs = root.get("$defs").and_then(Value::as_object).unwrap_or(&no_defs);
    let branches = root
        .get("oneOf")
        .or_else(|| root.get("anyOf"))
        .and_then(Value::as_array)
        .ok_or("the parameter schema has no oneOf: derive it from an enum tagged by `operation`")?;
    let mut out = Vec::with_capacity(branches.len());
    for branch in branches {
        let mut flat = Flat::default();
        flatten(branch, defs, &mut flat, 0)?;
        let name = flat
            .properties
            .get("operation")
            .and_then(|p| p.get("const").or_else(|| p.get("enum").and_then(|e| e.get(0))))
            .and_then(Value::as_str)
            .ok_or("a oneOf branch has no `operation` const: use #[serde(tag = \"operation\")]")?
            .to_owned();
        // `operation` first, as a const with its description.
        let mut properties = Map::new();
        let defaulted = if default_operation.is_empty() {
            flat.properties
                .get("operation")
                .and_then(|p| p.get("default"))
                .is_some()
        } else {
            name == default_operation
        };
        let mut op_prop = Map::new();
        op_prop.insert("type".into(), json!("string"));
        op_prop.insert("const".into(), json!(name));
        if defaulted {
            op_prop.insert("default".into(), json!(name));
        }
        properties.insert("operation".into(), Value::Object(op_prop));
        for (k, v) in flat.properties {
            if k != "operation" {
                properties.insert(k, v);
            }
        }
        let required = flat.required.into_iter().filter(|r| r != "operation").collect();
        let mut extra = flat.extra;
        // Struct-level property counts were written without `operation`, which the engine
        // always adds before validating.
        for key in ["minProperties", "maxProperties"] {
            if let Some(n) = extra.get(key).and_then(Value::as_u64)
                && generated
            {
                extra.insert(key.into(), json!(n + 1));
            }
        }
        out.push(OperationSchema {
            name,
            description: branch
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or(flat.description),
            required,
            extra,
            defs: referenced_defs(&properties, defs),
            properties,
            defaulted,
            meta: branch.get("x-operation").cloned(),
        });
    }
    Ok(out)
}

/// The definitions reachable from `properties` (flattening inlines the parameter structs, so
/// their own definitions are no longer needed).
fn referenced_defs(properties: &Map<String, Value>, defs: &Map<String, Value>) -> Map<String, Value> {
    let mut keep = Map::new();
    let mut pending: Vec<String> = Vec::new();
    let collect = |v: &Value, pending: &mut Vec<String>| {
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(m) => {
                    if let Some(r) = m
                        .get("$ref")
                        .and_then(Value::as_str)
                        .and_then(|r| r.strip_prefix("#/$defs/"))
                    {
                        pending.push(r.to_owned());
                    }
                    stack.extend(m.values());
                }
                Value::Array(a) => stack.extend(a.iter()),
                _ => {}
            }
        }
    };
    for v in properties.values() {
        collect(v, &mut pending);
    }
    while let Some(name) = pending.pop() {
        if keep.contains_key(&name) {
            continue;
        }
        if let Some(def) = defs.get(&name) {
            collect(def, &mut pending);
            keep.insert(name, def.clone());
        }
    }
    keep
}

#[derive(Default)]
struct Flat {
    properties: Map<String, Value>,
    required: Vec<String>,
    extra: Map<String, Value>,
    description: Option<String>,
}

fn flatten(schema: &Value, defs: &Map<String, Value>, flat: &mut Flat, depth: usize) -> Result<(), String> {
    if depth > 16 {
        return Err("the parameter schema nests $ref/allOf too deeply".into());
    }
    let Some(obj) = schema.as_object() else {
        return Ok(());
    };
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/$defs/")
            .ok_or_else(|| format!("unsupported $ref {reference}"))?;
        let target = defs
            .get(name)
            .ok_or_else(|| format!("dangling $ref {reference}"))?;
        if flat.description.is_none() {
            flat.description = target
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        flatten(target, defs, flat, depth + 1)?;
    }
    if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
        for part in all {
            flatten(part, defs, flat, depth + 1)?;
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            flat.properties.insert(k.clone(), v.clone());
        }
    }
    if let Some(req) = obj.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !flat.required.iter().any(|x| x == r) {
                flat.required.push(r.to_owned());
            }
        }
    }
    for key in CARRIED {
        if let Some(v) = obj.get(*key) {
            flat.extra.insert((*key).into(), v.clone());
        }
    }
    Ok(())
}

/// Split a published `parametersSchema` (a definition's, e.g. a plugin's) into per-operation
/// schemas: the same flattening, so branches may use `$ref` and `allOf`.
pub fn split_definition(schema: &Value, default_operation: &str) -> Result<Vec<OperationSchema>, String> {
    let ops = split(schema, default_operation, false)?;
    distinct(&ops)?;
    Ok(ops)
}

/// Fails when two branches are of one operation.
pub(crate) fn distinct(ops: &[OperationSchema]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        if !seen.insert(op.name.as_str()) {
            return Err(format!(
                "`parametersSchema` has two branches for operation `{}`",
                op.name
            ));
        }
    }
    Ok(())
}

/// The published `parametersSchema`: one `oneOf` branch per operation.
pub fn combined_schema(title: &str, ops: &[OperationSchema]) -> Value {
    let branches: Vec<Value> = ops
        .iter()
        .map(|op| {
            let mut body = Map::new();
            body.insert("title".into(), json!(op.name));
            if let Some(d) = &op.description {
                body.insert("description".into(), json!(d));
            }
            op.write_body(&mut body, op.defaulted);
            Value::Object(body)
        })
        .collect();
    let mut schema = Map::new();
    schema.insert("$schema".into(), json!(DIALECT));
    schema.insert("title".into(), json!(title));
    schema.insert("type".into(), json!("object"));
    schema.insert("oneOf".into(), Value::Array(branches));
    let defs = all_defs(ops);
    if !defs.is_empty() {
        schema.insert("$defs".into(), Value::Object(defs));
    }
    Value::Object(schema)
}

/// The definitions used by any operation.
pub fn all_defs(ops: &[OperationSchema]) -> Map<String, Value> {
    let mut defs = Map::new();
    for op in ops {
        for (k, v) in &op.defs {
            defs.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    defs
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keywords_are_ordered_as_serializing_a_schemars_schema_orders_them() {
        let schema: schemars::Schema = json!({
            "$defs": {"Status": {"enum": ["a", "b"], "description": "d", "type": "string"}},
            "oneOf": [{"required": ["x"], "properties": {"x": {"minimum": 1, "type": "integer",
                "default": {"type": "kept as is", "$schema": "a value, not a schema"}}},
                "type": "object", "title": "t"}],
            "x-operation": {"type": "not a schema", "title": "kept"},
            "properties": {"type": {"format": "f", "type": "string"}, "$defs": {"title": "a field"}},
            "examples": [{"type": 1, "$id": 2}],
            "type": "object",
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "T",
        })
        .try_into()
        .unwrap();
        let serialized = serde_json::to_value(&schema).unwrap();
        let mut ordered = schema.to_value();
        order_keywords(&mut ordered);
        // Compared as text: `Value`'s equality ignores the order of keys.
        assert_eq!(ordered.to_string(), serialized.to_string());
        assert!(ordered.to_string().starts_with(r#"{"$schema":"#), "{ordered}");
    }
}
