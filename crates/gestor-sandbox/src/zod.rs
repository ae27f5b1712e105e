//! Zod-shaped validation issues: the exact JSON the vendor's server (a Zod schema behind
//! Express) puts in the `errors` array of a 400. Owns the issue shapes and Zod's default
//! messages; knows nothing about which field gets which rule.

use serde_json::{Map, Value, json};

/// One issue, already in its wire shape (key order as Zod emits it).
pub(crate) type Issue = Map<String, Value>;

/// Zod's name for the type of a JSON value (`received` / `expected`).
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `invalid_type`: a value of the wrong type; `received == None` means the key was absent,
/// which Zod reports as `received: "undefined"` with the message `Required`.
pub(crate) fn invalid_type(path: &[&str], expected: &str, received: Option<&Value>) -> Issue {
    let (received, message) = match received {
        None => ("undefined", "Required".to_owned()),
        Some(v) => {
            let r = type_name(v);
            (r, format!("Expected {expected}, received {r}"))
        }
    };
    with_path_and_message(
        json!({"code": "invalid_type", "expected": expected, "received": received}),
        path,
        message,
    )
}

/// `too_small` for a string shorter than `minimum` characters.
pub(crate) fn string_too_small(path: &[&str], minimum: u64) -> Issue {
    with_path_and_message(
        json!({"code": "too_small", "minimum": minimum, "type": "string", "inclusive": true, "exact": false}),
        path,
        format!("String must contain at least {minimum} character(s)"),
    )
}

/// `too_small` for a number below an inclusive `minimum`.
pub(crate) fn number_too_small(path: &[&str], minimum: i64) -> Issue {
    with_path_and_message(
        json!({"code": "too_small", "minimum": minimum, "type": "number", "inclusive": true, "exact": false}),
        path,
        format!("Number must be greater than or equal to {minimum}"),
    )
}

/// `invalid_string` for a string failing a named check (`email`, `regex`, ...).
pub(crate) fn invalid_string(path: &[&str], validation: &str, message: &str) -> Issue {
    with_path_and_message(
        json!({"validation": validation, "code": "invalid_string"}),
        path,
        message.to_owned(),
    )
}

/// `invalid_enum_value` for a string outside a closed set.
pub(crate) fn invalid_enum_value(path: &[&str], received: &str, options: &[&str]) -> Issue {
    let listed = enum_expected(options);
    with_path_and_message(
        json!({"received": received, "code": "invalid_enum_value", "options": options}),
        path,
        format!("Invalid enum value. Expected {listed}, received '{received}'"),
    )
}

/// The `expected` text Zod uses for an enum met with a non-string: `'a' | 'b'`.
pub(crate) fn enum_expected(options: &[&str]) -> String {
    options
        .iter()
        .map(|o| format!("'{o}'"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `custom`: a refinement written by the vendor (CPF, dates), with its own message.
pub(crate) fn custom(path: &[&str], message: &str) -> Issue {
    with_path_and_message(json!({"code": "custom"}), path, message.to_owned())
}

/// Zod appends `path` then `message` after the code-specific members.
fn with_path_and_message(head: Value, path: &[&str], message: String) -> Issue {
    let mut issue = match head {
        Value::Object(map) => map,
        // Every caller passes an object literal; an empty issue is the harmless fallback.
        _ => Map::new(),
    };
    issue.insert("path".into(), json!(path));
    issue.insert("message".into(), Value::String(message));
    issue
}
