//! `nodehost plugin check`: what a plugin author runs to know the plugin follows protocol v1,
//! each check with what it found.

use std::time::Duration;

use nodehost_core::{HostedNode, ItemContext, UnknownFields};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::process::{CallError, PluginCommand, PluginOptions, Process};
use crate::protocol::{self, code, method};

/// How long one request of the check may take.
const STEP: Duration = Duration::from_secs(10);

/// One check and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: String,
    /// `pass`, `fail` or `skip`.
    pub outcome: &'static str,
    /// What was seen.
    pub detail: String,
}

impl Check {
    fn new(check: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: if ok { "pass" } else { "fail" },
            detail: detail.into(),
        }
    }

    fn skip(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: "skip",
            detail: detail.into(),
        }
    }
}

/// Run every check against the plugin `command` (with `credentials` for nodes that need
/// them). Only read-only operations are executed, with an item made from each schema.
pub async fn conformance(
    command: &PluginCommand,
    options: &PluginOptions,
    credentials: Option<Value>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let (plugin, result) = match crate::Plugin::start(command.clone(), options.clone()).await {
        Ok(started) => started,
        Err(e) => {
            checks.push(Check::new("starts and answers `initialize`", false, e.0));
            return checks;
        }
    };
    checks.push(Check::new(
        "starts and answers `initialize`",
        true,
        format!(
            "plugin `{}` {} speaks protocol {}",
            result.plugin.name, result.plugin.version, result.protocol_version
        ),
    ));
    let nodes = match plugin.nodes(&result, true) {
        Ok(nodes) => {
            checks.push(Check::new(
                "definitions are valid",
                true,
                format!(
                    "{} node(s), {} credential type(s)",
                    nodes.len(),
                    result.credentials.len()
                ),
            ));
            nodes
        }
        Err(problems) => {
            checks.push(Check::new("definitions are valid", false, problems.join("; ")));
            Vec::new()
        }
    };
    for node in &nodes {
        round_trip(node, credentials.clone(), &mut checks).await;
    }
    plugin.shutdown().await;
    // A plugin that broke the protocol after answering (a stray line on stdout after an
    // `execute`) is started again by the host for the next call, so the round trip alone can
    // pass: its process's failure is what tells.
    if !nodes.is_empty() {
        let failures = plugin.failures();
        checks.push(match failures.first() {
            None => Check::new(
                "keeps to the protocol through the round trips",
                true,
                "no process failed",
            ),
            Some(first) => Check::new(
                "keeps to the protocol through the round trips",
                false,
                first.clone(),
            ),
        });
    }
    misbehaviour(command, options, &mut checks).await;
    checks
}

/// Open the node, execute a made-up item of a read-only operation, close.
async fn round_trip(node: &HostedNode, credentials: Option<Value>, checks: &mut Vec<Check>) {
    let name = node.name().to_owned();
    let credentials = match (node.credential(), credentials) {
        (Some(kind), None) => {
            checks.push(Check::skip(
                format!("`{name}`: open and execute"),
                format!("needs credentials of type `{}`, and none were given", kind.name),
            ));
            return;
        }
        (Some(_), c) => c,
        (None, _) => None,
    };
    let session = match node
        .open(credentials, &nodehost_core::SessionOptions::new())
        .await
    {
        Ok(s) => {
            checks.push(Check::new(
                format!("`{name}`: open"),
                true,
                "a session was opened",
            ));
            s
        }
        Err(e) => {
            checks.push(Check::new(format!("`{name}`: open"), false, e.to_string()));
            return;
        }
    };
    let made = node
        .description()
        .operations
        .iter()
        .filter(|o| o.hints.read_only)
        .find_map(|o| {
            let item = sample_item(node, &o.value)?;
            node.prepare(item, UnknownFields::Reject)
                .ok()
                .map(|p| (o.value.clone(), p))
        });
    match made {
        None => checks.push(Check::skip(
            format!("`{name}`: execute"),
            "no read-only operation whose item could be made up from its schema",
        )),
        Some((op, prepared)) => {
            let context = ItemContext {
                deadline: Some(Instant::now() + STEP),
                ..ItemContext::detached(0)
            };
            let check = format!("`{name}`: execute `{op}`");
            match session.execute(prepared, &context).await {
                Ok(outputs) => checks.push(Check::new(
                    check,
                    true,
                    format!("{} output item(s)", outputs.len()),
                )),
                // A well-formed failure (the service said no to a made-up item) is conformant;
                // a protocol error names the plugin and says "protocol".
                Err(e) if e.message.contains("protocol error") || e.message.contains("did not answer") => {
                    checks.push(Check::new(check, false, e.message));
                }
                Err(e) => checks.push(Check::new(
                    check,
                    true,
                    format!("a well-formed item error: {}", e.message),
                )),
            }
        }
    }
    session.close().await;
}

/// An item of `operation` with only its required fields, each from its schema's default,
/// example, enum or type.
fn sample_item(node: &HostedNode, operation: &str) -> Option<Map<String, Value>> {
    let schema = node.item_schema(Some(operation))?;
    let props = schema.get("properties").and_then(Value::as_object)?;
    let mut item = Map::new();
    item.insert("operation".into(), json!(operation));
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for field in required
        .iter()
        .filter_map(Value::as_str)
        .filter(|f| *f != "operation")
    {
        let s = props.get(field)?;
        let value = s
            .get("default")
            .or_else(|| s.get("examples").and_then(|e| e.get(0)))
            .or_else(|| s.get("const"))
            .or_else(|| s.get("enum").and_then(|e| e.get(0)))
            .cloned()
            .or_else(|| {
                let kind = match s.get("type") {
                    Some(Value::Array(kinds)) => kinds.iter().find_map(Value::as_str).unwrap_or(""),
                    Some(Value::String(k)) => k.as_str(),
                    _ => "",
                };
                Some(match kind {
                    "integer" | "number" => s.get("minimum").cloned().unwrap_or(json!(1)),
                    "boolean" => json!(false),
                    "string" => json!("example"),
                    "array" => json!([]),
                    "object" => json!({}),
                    _ => return None,
                })
            })?;
        item.insert(field.to_owned(), value);
    }
    Some(item)
}

/// A fresh process: unknown methods and sessions get errors, `$/cancel` of nothing is
/// harmless, and `shutdown` ends it.
async fn misbehaviour(command: &PluginCommand, options: &PluginOptions, checks: &mut Vec<Check>) {
    let Ok(process) = Process::spawn(command, command.label(), options) else {
        return;
    };
    let init = protocol::InitializeParams::nodehost();
    if process
        .call(
            method::INITIALIZE,
            Some(init),
            Some(Instant::now() + options.init_timeout),
        )
        .await
        .is_err()
    {
        return;
    }
    let answer = process
        .call(
            "nodehost/noSuchMethod",
            Some(json!({})),
            Some(Instant::now() + STEP),
        )
        .await;
    checks.push(expect_error(
        "answers an unknown method with a JSON-RPC error",
        answer,
        Some(code::METHOD_NOT_FOUND),
    ));
    process.send_notification(method::CANCEL, json!({ "id": 999_999 }));
    let answer = process
        .call(
            method::EXECUTE,
            Some(json!({"session": "no-such-session", "item": 0, "params": {"operation": "x"}})),
            Some(Instant::now() + STEP),
        )
        .await;
    checks.push(expect_error(
        "answers `execute` on an unknown session with an error (and survives `$/cancel` of nothing)",
        answer,
        None,
    ));
    let exited = process.shutdown(Duration::from_secs(5)).await;
    checks.push(Check::new(
        "exits after `shutdown` once its stdin closes",
        exited,
        if exited {
            "exited".to_owned()
        } else {
            "still running 5s after its stdin closed; it was killed".to_owned()
        },
    ));
}

fn expect_error(
    check: &str,
    answer: Result<Box<serde_json::value::RawValue>, CallError>,
    want: Option<i64>,
) -> Check {
    match answer {
        Err(CallError::Rpc(e)) => match want {
            Some(c) if c != e.code => Check::new(
                check,
                false,
                format!("an error with code {} (expected {c}): {}", e.code, e.message),
            ),
            _ => Check::new(check, true, format!("error {}: {}", e.code, e.message)),
        },
        Ok(raw) => Check::new(
            check,
            false,
            format!("a result: {}", crate::truncate(raw.get(), 120)),
        ),
        Err(CallError::Timeout) => Check::new(check, false, "no answer within 10s"),
        Err(CallError::Dead(r) | CallError::Gone(r)) => Check::new(check, false, r),
    }
}
