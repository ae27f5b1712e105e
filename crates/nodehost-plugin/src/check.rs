//! What a plugin's definitions must be before the host registers them: everything the host
//! needs to validate items on its own, in a shape n8n and MCP clients accept.

use std::collections::BTreeSet;

use nodehost_core::{CredentialType, HostedNode, NodeDescription};
use serde_json::Value;

use crate::protocol::InitializeResult;

/// The JSON Schema dialect definitions are written in.
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";
/// Longest `<node>_<operation>` (an MCP tool name).
const MAX_TOOL_NAME: usize = 64;

/// Every node definition of an `initialize` answer, checked and read, with its credential
/// type; or every problem found, each naming the node and the field.
pub fn check_definitions(
    result: &InitializeResult,
) -> Result<Vec<(NodeDescription, Option<CredentialType>)>, Vec<String>> {
    read_definitions(result, true)
}

/// [`check_definitions`], `thorough` or not: without, the schemas are not checked against the
/// JSON Schema meta-schema nor compiled (for definitions checked when they were registered).
pub fn read_definitions(
    result: &InitializeResult,
    thorough: bool,
) -> Result<Vec<(NodeDescription, Option<CredentialType>)>, Vec<String>> {
    let mut problems = Vec::new();
    let mut nodes = Vec::new();
    if result.nodes.is_empty() {
        problems.push("the plugin offers no node (`nodes` is empty)".to_owned());
    }
    let mut credentials = Vec::new();
    for (i, def) in result.credentials.iter().enumerate() {
        match credential(def, thorough) {
            Ok(c) => credentials.push(c),
            Err(e) => problems.push(format!("credentials[{i}]: {e}")),
        }
    }
    let mut names = BTreeSet::new();
    for (i, def) in result.nodes.iter().enumerate() {
        let name = def.get("name").and_then(Value::as_str).unwrap_or("?");
        let at = |e: String| format!("nodes[{i}] (`{}`): {e}", crate::truncate(name, 60));
        match node(def, &credentials, thorough) {
            Ok((description, credential)) => {
                if !names.insert(description.name.clone()) {
                    problems.push(at("another node of the plugin has this name".into()));
                } else {
                    nodes.push((description, credential));
                }
            }
            Err(list) => problems.extend(list.into_iter().map(at)),
        }
    }
    if problems.is_empty() {
        Ok(nodes)
    } else {
        Err(problems)
    }
}

fn node(
    def: &Value,
    credentials: &[CredentialType],
    thorough: bool,
) -> Result<(NodeDescription, Option<CredentialType>), Vec<String>> {
    let Value::Object(map) = def else {
        return Err(vec!["a definition must be a JSON object".into()]);
    };
    let mut problems = Vec::new();
    match map.get("name").and_then(Value::as_str) {
        Some(n) if is_name(n) => {}
        _ => problems.push("`name` must be letters, digits and `_`, starting with a letter".to_owned()),
    }
    for key in ["displayName", "description"] {
        if !filled(map.get(key)) {
            problems.push(format!("`{key}` must be a non-empty string"));
        }
    }
    if map.get("version").and_then(Value::as_u64).is_none_or(|v| v < 1) {
        problems.push("`version` must be a whole number from 1".into());
    }
    match map.get("properties") {
        Some(Value::Array(props)) => {
            for (j, p) in props.iter().enumerate() {
                for key in ["name", "displayName", "type"] {
                    if !filled(p.get(key)) {
                        problems.push(format!("`properties[{j}].{key}` must be a non-empty string"));
                    }
                }
            }
        }
        _ => problems.push("`properties` must be an array of n8n properties".into()),
    }
    match map.get("credentials") {
        Some(Value::Array(list)) => {
            for (j, c) in list.iter().enumerate() {
                if !filled(c.get("name")) {
                    problems.push(format!("`credentials[{j}].name` must be a non-empty string"));
                }
            }
        }
        _ => problems.push("`credentials` must be an array (empty when the node needs none)".into()),
    }
    match map.get("parametersSchema") {
        Some(schema @ Value::Object(_)) => {
            if let Err(e) = schema_problem(schema, thorough) {
                problems.push(format!("`parametersSchema` {e}"));
            }
        }
        _ => problems.push("`parametersSchema` must be a JSON Schema object".into()),
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let description = NodeDescription::from_definition(def).map_err(|e| vec![e.0])?;
    for op in &description.operations {
        if !is_name(&op.value) || description.name.len() + 1 + op.value.len() > MAX_TOOL_NAME {
            problems.push(format!(
                "operation `{}`: names must be letters, digits and `_`, and `<node>_<operation>` at most {MAX_TOOL_NAME} characters",
                crate::truncate(&op.value, 60)
            ));
        }
    }
    let credential = match &description.credential {
        None => None,
        Some(name) => match credentials.iter().find(|c| &c.name == name) {
            Some(c) => Some(c.clone()),
            None => {
                problems.push(format!(
                    "it names credential type `{name}`, which the plugin's `credentials` do not define"
                ));
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    // Hosting it checks the operations against the schema's branches and the lock templates;
    // compiling every operation's validator checks what the meta-schema cannot (patterns).
    let hosted = HostedNode::new(
        description.clone(),
        credential.clone(),
        std::sync::Arc::new(Unused),
    )
    .map_err(|e| vec![e.0])?;
    if thorough {
        hosted
            .validator()
            .compile_all()
            .map_err(|e| vec![format!("`parametersSchema`: {e}")])?;
    }
    Ok((description, credential))
}

fn credential(def: &Value, thorough: bool) -> Result<CredentialType, String> {
    let kind = CredentialType::from_definition(def).map_err(|e| e.0)?;
    if !is_name(&kind.name) {
        return Err("`name` must be letters, digits and `_`, starting with a letter".into());
    }
    if !kind.schema.get("properties").is_some_and(Value::is_object) {
        return Err(format!(
            "credential type `{}`: `schema` must have `properties`",
            kind.name
        ));
    }
    schema_problem(&kind.schema, thorough)
        .map_err(|e| format!("credential type `{}`: `schema` {e}", kind.name))?;
    Ok(kind)
}

/// Whether `schema` is a valid JSON Schema 2020-12 document.
fn schema_problem(schema: &Value, thorough: bool) -> Result<(), String> {
    if let Some(dialect) = schema.get("$schema")
        && dialect.as_str() != Some(DRAFT_2020_12)
    {
        return Err(format!(
            "must be JSON Schema 2020-12 (`$schema`: \"{DRAFT_2020_12}\")"
        ));
    }
    if !thorough {
        return Ok(());
    }
    jsonschema::draft202012::meta::validator()
        .validate(schema)
        .map_err(|e| {
            let at = e.instance_path().to_string();
            format!(
                "is not a valid JSON Schema 2020-12 document: {}{}",
                crate::truncate(&e.to_string(), 200),
                if at.is_empty() {
                    String::new()
                } else {
                    format!(" (at `{at}`)")
                }
            )
        })
}

/// Whether `value` is a string with something in it.
fn filled(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= MAX_TOOL_NAME
}

/// A backend for hosting a definition only to check it.
struct Unused;

#[async_trait::async_trait]
impl nodehost_core::NodeBackend for Unused {
    fn prepare(
        &self,
        params: serde_json::Map<String, Value>,
    ) -> Result<Box<dyn std::any::Any + Send>, Vec<nodehost_core::Problem>> {
        Ok(Box::new(params))
    }

    async fn open(
        &self,
        _: Option<Value>,
        _: &nodehost_core::SessionOptions,
    ) -> Result<std::sync::Arc<dyn nodehost_core::DynSession>, nodehost_core::SetupError> {
        Err(nodehost_core::SetupError::Other("only checked, not run".into()))
    }
}
