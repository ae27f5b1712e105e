//! The n8n form (`properties`) derived from a typed node's per-operation schemas, and the
//! published shape of credential types.
//!
//! `properties` are computed from the same per-operation schemas the validator uses, so the
//! form a user sees and the checks the engine makes cannot disagree.

use serde_json::{Map, Value, json};

use crate::description::{CredentialType, OperationDescription};
use crate::schema::{DIALECT, OperationSchema, all_defs};

/// The n8n collection an operation's optional fields go in, n8n's own convention: "Additional
/// Fields" for a create, "Update Fields" for an update, none for reads and deletes (their
/// options, such as `returnAll`, stay in the form). A field the user never adds is never sent.
/// `x-operation`'s `fieldsCollection` overrides the choice (an upsert is a create to its user).
fn collection_of(
    operation: &OperationDescription,
    op: &OperationSchema,
) -> Option<(&'static str, &'static str)> {
    let chosen = op
        .meta
        .as_ref()
        .and_then(|m| m.get("fieldsCollection"))
        .and_then(Value::as_str);
    let hints = operation.hints;
    match chosen {
        Some("additionalFields") => Some(("additionalFields", "Additional Fields")),
        Some("updateFields") => Some(("updateFields", "Update Fields")),
        _ if hints.read_only || hints.destructive => None,
        _ if !hints.idempotent => Some(("additionalFields", "Additional Fields")),
        _ => Some(("updateFields", "Update Fields")),
    }
}

/// The n8n `properties`: the operation selector; each required field, once per distinct shape,
/// shown for the operations that take it; the options of reads; then, per create or update,
/// one collection of its optional fields.
pub(crate) fn properties(
    default_operation: &str,
    operations: &[OperationDescription],
    ops: &[OperationSchema],
) -> Vec<Value> {
    let options: Vec<Value> = operations
        .iter()
        .map(|o| {
            json!({
                "name": o.display_name,
                "value": o.value,
                "description": o.description.clone().unwrap_or_default(),
                "action": o.action,
            })
        })
        .collect();
    let mut out = vec![json!({
        "displayName": "Operation",
        "name": "operation",
        "type": "options",
        "noDataExpression": true,
        "options": options,
        "default": default_operation,
    })];

    // (field name, schema, required) -> operations, in first-seen order.
    let mut groups: Vec<(String, Value, bool, Vec<String>)> = Vec::new();
    let defs = all_defs(ops);
    let mut collections = Vec::new();
    for op in ops {
        let collection = operations
            .iter()
            .find(|o| o.value == op.name)
            .and_then(|o| collection_of(o, op));
        let mut collected = Vec::new();
        for (field, schema) in &op.properties {
            if field == "operation" {
                continue;
            }
            let required = op.required.iter().any(|r| r == field);
            if !required && collection.is_some() {
                let schema = resolve(schema, Some(&defs));
                collected.push(property(field, &schema, false, &[]));
                continue;
            }
            match groups
                .iter_mut()
                .find(|(f, s, r, _)| f == field && s == schema && *r == required)
            {
                Some(group) => group.3.push(op.name.clone()),
                None => groups.push((field.clone(), schema.clone(), required, vec![op.name.clone()])),
            }
        }
        if let (Some((name, display)), false) = (collection, collected.is_empty()) {
            collections.push(json!({
                "displayName": display,
                "name": name,
                "type": "collection",
                "placeholder": "Add Field",
                "default": {},
                "displayOptions": {"show": {"operation": [op.name]}},
                "options": collected,
            }));
        }
    }
    // Required fields first, then the options of reads, then the collections.
    groups.sort_by_key(|(_, _, required, _)| !*required);
    for (field, schema, required, operations) in groups {
        let schema = resolve(&schema, Some(&defs));
        out.push(property(&field, &schema, required, &operations));
    }
    out.extend(collections);
    out
}

/// Inline a top-level `$ref` so the property can read `enum`, `type` and `description`.
fn resolve(schema: &Value, defs: Option<&Map<String, Value>>) -> Value {
    let target = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| defs.and_then(|d| d.get(name)));
    match (target, schema.as_object()) {
        (Some(Value::Object(t)), Some(s)) => {
            let mut merged = t.clone();
            for (k, v) in s {
                if k != "$ref" {
                    merged.insert(k.clone(), v.clone());
                }
            }
            Value::Object(merged)
        }
        _ => schema.clone(),
    }
}

fn property(field: &str, schema: &Value, required: bool, operations: &[String]) -> Value {
    let display = schema
        .get("title")
        .and_then(Value::as_str)
        .map_or_else(|| display_name(field), str::to_owned);
    let enum_values = enum_values(schema);
    let kind = if enum_values.is_some() {
        "options"
    } else {
        match primary_type(schema) {
            Some("boolean") => "boolean",
            Some("integer" | "number") => "number",
            Some("object") => "json",
            _ => "string",
        }
    };
    let default = schema
        .get("default")
        .filter(|d| !d.is_null())
        .cloned()
        .unwrap_or_else(|| match kind {
            "boolean" => json!(false),
            "number" => json!(0),
            "options" => enum_values
                .as_ref()
                .and_then(|v| v.first().cloned())
                .unwrap_or(Value::Null),
            _ => json!(""),
        });
    let mut p = Map::new();
    p.insert("displayName".into(), json!(display));
    p.insert("name".into(), json!(field));
    p.insert("type".into(), json!(kind));
    if let Some(values) = &enum_values {
        let options: Vec<Value> = values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| json!({ "name": v.as_str().map_or_else(|| v.to_string(), display_name), "value": v }))
            .collect();
        p.insert("options".into(), Value::Array(options));
    }
    if kind == "number" {
        let mut type_options = Map::new();
        if primary_type(schema) == Some("integer") {
            type_options.insert("numberPrecision".into(), json!(0));
        }
        if let Some(min) = schema.get("minimum") {
            type_options.insert("minValue".into(), min.clone());
        }
        if !type_options.is_empty() {
            p.insert("typeOptions".into(), Value::Object(type_options));
        }
    }
    if schema.get("x-secret") == Some(&json!(true)) {
        p.insert("typeOptions".into(), json!({ "password": true }));
    }
    p.insert("default".into(), default);
    if required {
        p.insert("required".into(), json!(true));
    }
    if let Some(d) = schema.get("description").and_then(Value::as_str) {
        p.insert("description".into(), json!(d));
    }
    // Shown for its operations and, with `x-show-when: {"field": [values]}` in its schema, only
    // while other fields hold those values (e.g. `limit` only when `returnAll` is false).
    let mut show = Map::new();
    if !operations.is_empty() {
        show.insert("operation".into(), json!(operations));
    }
    if let Some(Value::Object(when)) = schema.get("x-show-when") {
        show.extend(when.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if !show.is_empty() {
        p.insert("displayOptions".into(), json!({ "show": show }));
    }
    Value::Object(p)
}

fn primary_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => {
            let non_null: Vec<&str> = ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            match non_null.as_slice() {
                [one] => Some(one),
                // An id given as a number or a string of digits is a number to a form.
                [a, b] if [*a, *b].contains(&"integer") && [*a, *b].contains(&"string") => Some("integer"),
                _ => Some("string"),
            }
        }
        _ => None,
    }
}

fn enum_values(schema: &Value) -> Option<Vec<Value>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.clone());
    }
    // schemars writes documented unit variants as oneOf of consts.
    let branches = schema.get("oneOf").or_else(|| schema.get("anyOf"))?.as_array()?;
    branches
        .iter()
        .map(|b| {
            b.get("const")
                .cloned()
                .or_else(|| b.get("enum").and_then(|e| e.get(0)).cloned())
        })
        .collect()
}

/// `consultationPrice` -> `Consultation Price`.
pub(crate) fn display_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    for (i, c) in field.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            out.push(' ');
            out.push(c);
        } else if c == '_' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// Build a credential type's definition (`node-definitions/<name>.credentials.json`).
pub(crate) fn credential_definition(credential: &CredentialType) -> Value {
    let schema = &credential.schema;
    let required = credential.required_fields();
    let properties: Vec<Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| property(name, s, required.contains(&name.as_str()), &[]))
                .collect()
        })
        .unwrap_or_default();
    let mut def = Map::new();
    def.insert("name".into(), json!(credential.name));
    def.insert("displayName".into(), json!(credential.display_name));
    if let Some(url) = &credential.documentation_url {
        def.insert("documentationUrl".into(), json!(url));
    }
    def.insert("properties".into(), Value::Array(properties));
    if let Some(a) = &credential.authenticate {
        def.insert("authenticate".into(), a.clone());
    }
    if let Some(t) = &credential.test {
        def.insert("test".into(), t.clone());
    }
    let env: Map<String, Value> = credential
        .env
        .iter()
        .map(|(field, var)| (field.clone(), json!(var)))
        .collect();
    def.insert("environment".into(), Value::Object(env));
    let mut schema = schema.clone();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$schema".into(), json!(DIALECT));
    }
    def.insert("schema".into(), schema);
    Value::Object(def)
}
