//! Every operation of every node a host offers as a Model Context Protocol tool, so an AI
//! agent can call it with nodehost's validation, ordering, retries and redaction.
//!
//! One tool per node operation, named `<node>_<operation>`. Its `inputSchema` is the
//! operation's JSON Schema without `operation`; its annotations come from the operation's
//! hints. `tools/call` runs exactly one item through the same pipeline as `nodehost run`
//! (validation first, then the node with the run's deadline, retries and redaction), and answers
//! `{"items": [...]}` as `structuredContent` and as text. A failure the model can act on (an
//! invalid argument, the service's error, a timeout) is a result with `isError: true`; an unknown
//! tool is a JSON-RPC error. Credentials are the server's, never the model's.

mod stdio;

pub use stdio::serve_lines;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nodehost_core::{
    CancellationToken, Host, HostedNode, OperationDescription, Plan, RunConfig, Secrets, UnknownFields,
    engine,
};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

/// The newest protocol revision served: 2026-07-28 (stateless: no `initialize`, the version and
/// capabilities in each request's `_meta`, `server/discover`), and every earlier revision with
/// its `initialize` handshake.
pub const NEWEST_REVISION: ProtocolVersion = ProtocolVersion::V_2026_07_28;

/// Which tools to offer.
#[derive(Debug, Clone, Default)]
pub struct ToolFilter {
    /// Node names or globs (`gestor*`); empty: every node.
    pub nodes: Vec<String>,
    /// Tool names or globs (`*_get*`); empty: every tool.
    pub tools: Vec<String>,
    /// Only operations whose hints say read-only.
    pub read_only: bool,
}

/// A node to offer, with the credentials its sessions open with.
#[derive(Debug, Clone)]
pub struct Offered {
    /// The node.
    pub node: Arc<HostedNode>,
    /// Its credentials (`None` for a node without a credential type).
    pub credentials: Option<Value>,
}

#[derive(Clone)]
struct Entry {
    tool: Tool,
    node: Arc<HostedNode>,
    operation: String,
    credentials: Option<Value>,
}

/// The MCP server: its tools, and the host that runs them. Cloning is cheap (one `Arc`), so
/// a transport that makes a server per session or per request (Streamable HTTP) shares one.
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

struct Inner {
    host: Arc<Host>,
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    deadline: Option<Duration>,
    secrets: Secrets,
    /// When set, every call holds one of these while it runs; none free: the call is refused.
    slots: Option<Arc<Semaphore>>,
    /// Told of every call that ran (for metrics and logs).
    observer: Option<Observer>,
}

/// Told of every tool call that ran: the node, how many items failed (0 or 1), the run's stop
/// report (`None`: it completed), and how long it took. Not called for calls refused before
/// running (unknown tool, invalid arguments, no slot).
pub type Observer = Arc<dyn Fn(&str, usize, Option<&nodehost_core::RunError>, Duration) + Send + Sync>;

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("tools", &self.inner.by_name.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Which list of a [`ToolFilter`] a pattern belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterList {
    /// [`ToolFilter::nodes`].
    Nodes,
    /// [`ToolFilter::tools`].
    Tools,
}

impl std::fmt::Display for FilterList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Nodes => "node pattern",
            Self::Tools => "tool pattern",
        })
    }
}

/// What a server that starts left out, for its caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A pattern that matches no node (of [`FilterList::Nodes`]) or no tool.
    MatchesNothing {
        /// Which list.
        list: FilterList,
        /// The pattern as given.
        pattern: String,
    },
    /// An operation whose tool name MCP would refuse.
    UnusableName {
        /// The node.
        node: String,
        /// The operation.
        operation: String,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MatchesNothing { list, pattern } => write!(
                f,
                "{list} `{pattern}` matches no {}",
                match list {
                    FilterList::Nodes => "node",
                    FilterList::Tools => "tool",
                }
            ),
            Self::UnusableName { node, operation } => write!(
                f,
                "operation `{operation}` of node `{node}` is not offered: a tool name is at most 64 characters from [A-Za-z0-9_-]"
            ),
        }
    }
}

/// Why no server could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// A filter pattern that is not a glob.
    #[error("{list} `{pattern}` is not a name or glob: {reason}")]
    InvalidPattern {
        /// Which list.
        list: FilterList,
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The filters (or the nodes) leave no tool.
    #[error("{}no tool to offer: the filters leave none of {}", .warnings.iter().map(|w| format!("{w}; ")).collect::<String>(), if .usable.is_empty() { "the nodes (none is usable)".to_owned() } else { .usable.join(", ") })]
    NoTools {
        /// What the filters left out, as [`Warning`]s.
        warnings: Vec<Warning>,
        /// Every tool the nodes could offer.
        usable: Vec<String>,
    },
    /// An operation's tool could not be described (a defect of its node's definition).
    #[error("operation `{operation}` of node `{node}` has no schema")]
    NoSchema {
        /// The node.
        node: String,
        /// The operation.
        operation: String,
    },
}

fn patterns(list: &[String], which: FilterList) -> Result<Vec<glob::Pattern>, McpError> {
    list.iter()
        .map(|p| {
            glob::Pattern::new(p).map_err(|e| McpError::InvalidPattern {
                list: which,
                pattern: p.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

fn matches(patterns: &[glob::Pattern], name: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(name))
}

impl McpServer {
    /// Offer the operations of `nodes` that pass `filter`, each item limited to `deadline`.
    /// Returns the server and a warning per pattern that matched nothing; fails when a
    /// pattern is not a glob or no tool is left.
    pub fn new(
        host: Arc<Host>,
        nodes: Vec<Offered>,
        filter: &ToolFilter,
        deadline: Option<Duration>,
    ) -> Result<(Self, Vec<Warning>), McpError> {
        let node_patterns = patterns(&filter.nodes, FilterList::Nodes)?;
        let tool_patterns = patterns(&filter.tools, FilterList::Tools)?;
        let mut warnings = Vec::new();
        for (p, text) in node_patterns.iter().zip(&filter.nodes) {
            if !nodes.iter().any(|o| p.matches(o.node.name())) {
                warnings.push(Warning::MatchesNothing {
                    list: FilterList::Nodes,
                    pattern: text.clone(),
                });
            }
        }
        let mut entries = Vec::new();
        let mut all_names = Vec::new();
        let mut secrets = Secrets::none();
        for offered in nodes {
            if !matches(&node_patterns, offered.node.name()) {
                continue;
            }
            if let (Some(kind), Some(value)) = (offered.node.credential(), &offered.credentials) {
                secrets = secrets.with(&Secrets::of_credentials(kind, value));
            }
            for op in &offered.node.description().operations {
                let name = format!("{}_{}", offered.node.name(), op.value);
                if !tool_name_ok(&name) {
                    warnings.push(Warning::UnusableName {
                        node: offered.node.name().to_owned(),
                        operation: op.value.clone(),
                    });
                    continue;
                }
                all_names.push(name.clone());
                if (filter.read_only && !op.hints.read_only) || !matches(&tool_patterns, &name) {
                    continue;
                }
                let tool = tool(&offered.node, op, name)?;
                entries.push(Entry {
                    tool,
                    node: Arc::clone(&offered.node),
                    operation: op.value.clone(),
                    credentials: offered.credentials.clone(),
                });
            }
        }
        for (p, text) in tool_patterns.iter().zip(&filter.tools) {
            if !all_names.iter().any(|n| p.matches(n)) {
                warnings.push(Warning::MatchesNothing {
                    list: FilterList::Tools,
                    pattern: text.clone(),
                });
            }
        }
        if entries.is_empty() {
            return Err(McpError::NoTools {
                warnings,
                usable: all_names,
            });
        }
        entries.sort_by(|a, b| a.tool.name.cmp(&b.tool.name));
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.tool.name.to_string(), i))
            .collect();
        Ok((
            Self {
                inner: Arc::new(Inner {
                    host,
                    entries,
                    by_name,
                    deadline,
                    secrets,
                    slots: None,
                    observer: None,
                }),
            },
            warnings,
        ))
    }

    /// Let every call hold one of `slots` while it runs (shared with the host's other runs, as
    /// `nodehost serve` does); with none free, the call is answered "busy" and nothing is done.
    #[must_use]
    pub fn with_slots(self, slots: Arc<Semaphore>) -> Self {
        self.change(|inner| inner.slots = Some(slots))
    }

    /// Tell `observer` of every call that ran (as `nodehost serve` counts them in `/metrics`).
    #[must_use]
    pub fn with_observer(self, observer: Observer) -> Self {
        self.change(|inner| inner.observer = Some(observer))
    }

    fn change(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                host: Arc::clone(&shared.host),
                entries: shared.entries.clone(),
                by_name: shared.by_name.clone(),
                deadline: shared.deadline,
                secrets: shared.secrets.clone(),
                slots: shared.slots.clone(),
                observer: shared.observer.clone(),
            },
        };
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The tools, by name.
    pub fn tools(&self) -> Vec<Tool> {
        self.inner.entries.iter().map(|e| e.tool.clone()).collect()
    }

    /// Run tool `name` on `arguments`: one item through the run pipeline. `Err` only for an
    /// unknown tool (a JSON-RPC error); everything the model can act on is a result.
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        cancel: CancellationToken,
    ) -> Result<CallToolResult, ErrorData> {
        let this = &*self.inner;
        let Some(entry) = this.by_name.get(name).map(|&i| &this.entries[i]) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "unknown tool `{}`; tools/list names the tools",
                    truncate(name, 80)
                ),
                None,
            ));
        };
        let mut item: Map<String, Value> = arguments.unwrap_or_default();
        if let Some(op) = item.get("operation")
            && op != &json!(entry.operation)
        {
            return Ok(failed(format!(
                "invalid arguments, nothing was done: this tool is operation `{}`; leave `operation` out",
                entry.operation
            )));
        }
        item.insert("operation".into(), json!(entry.operation));
        let _slot = match &this.slots {
            None => None,
            Some(slots) => match Arc::clone(slots).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return Ok(failed(
                        "the server is busy (every run slot is taken), nothing was done: call again in a moment"
                            .into(),
                    ));
                }
            },
        };
        let plan = match Plan::new(Arc::clone(&entry.node), Map::new(), UnknownFields::Reject) {
            Ok(plan) => plan.with_secrets(this.secrets.clone()),
            Err(e) => return Ok(failed(e.to_string())),
        };
        let work = plan.prepare(0, item);
        if let Err(nodehost_core::ItemFailure::Invalid(problems)) = &work.1 {
            let list: Vec<String> = problems.problems.iter().map(ToString::to_string).collect();
            return Ok(failed(format!(
                "invalid arguments, nothing was done: {}",
                this.secrets.scrub(&list.join("; "))
            )));
        }
        let session = match this.host.session(plan.node(), entry.credentials.clone()).await {
            Ok(s) => s,
            Err(e) => {
                return Ok(failed(
                    this.secrets.scrub(&format!("the node could not start: {e}")),
                ));
            }
        };
        let config = RunConfig {
            concurrency: 1,
            continue_on_fail: true,
            item_deadline: this.deadline,
            cancel: cancel.clone(),
            abort: cancel,
            secrets: this.secrets.clone(),
            node: Arc::from(entry.node.name()),
            progress: None,
            dry_run: false,
        };
        let mut outputs = Vec::new();
        let started = std::time::Instant::now();
        let report = engine::execute(session, futures::stream::iter([work]), &config, &mut outputs).await;
        if let Some(observe) = &this.observer {
            observe(
                entry.node.name(),
                report.failed.count(),
                report.error(Some(1)).as_ref(),
                started.elapsed(),
            );
        }
        let items: Vec<Value> = outputs
            .into_iter()
            .map(|o| serde_json::to_value(&o.json).unwrap_or(Value::Null))
            .collect();
        if !report.failed.is_empty() {
            let error = items
                .first()
                .and_then(|i| i.get("error"))
                .cloned()
                .unwrap_or_else(|| json!({"message": "the call was cancelled"}));
            return Ok(failed(describe_error(&error)));
        }
        if report.stop.is_some() {
            return Ok(failed("the call was cancelled before it ran".into()));
        }
        Ok(CallToolResult::structured(json!({ "items": items })))
    }
}

/// A failure result: `isError`, and one text block the model reads.
fn failed(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// An error item as one paragraph: the message (without the `item 0: ` of a batch), then
/// the HTTP status and the service's details.
fn describe_error(error: &Value) -> String {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the call failed");
    let mut text = message.strip_prefix("item 0: ").unwrap_or(message).to_owned();
    if let Some(status) = error.get("httpStatus")
        && !text.contains(&status.to_string())
    {
        text.push_str(&format!(" (HTTP status {status})"));
    }
    if let Some(details) = error.get("details") {
        text.push_str(&format!("\nDetails: {details}"));
    }
    if error.get("maybeApplied") == Some(&Value::Bool(true)) {
        text.push_str("\nThe change may have been applied: check before calling again.");
    }
    text
}

/// The tool of one node operation.
fn tool(node: &HostedNode, op: &OperationDescription, name: String) -> Result<Tool, McpError> {
    let mut schema = node
        .item_schema(Some(&op.value))
        .and_then(|s| match s {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .ok_or_else(|| McpError::NoSchema {
            node: node.name().to_owned(),
            operation: op.value.clone(),
        })?;
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.remove("operation");
    }
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| r != "operation");
    }
    schema.remove("$schema");
    let d = node.description();
    let hints = op.hints;
    let annotations = ToolAnnotations::new()
        .read_only(hints.read_only)
        .destructive(hints.destructive)
        .idempotent(hints.idempotent)
        // A node with a credential type talks to a service outside this machine.
        .open_world(node.credential().is_some());
    let output = match json!({
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "object"},
            "description": "The operation's output objects, one per record."}},
        "required": ["items"]
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(
        Tool::new(name, description(d.display_name.as_str(), op), Arc::new(schema))
            .with_title(format!("{}: {}", d.display_name, op.action))
            .with_raw_output_schema(Arc::new(output))
            .with_annotations(annotations),
    )
}

/// What a model needs to choose the tool and use it well.
fn description(node: &str, op: &OperationDescription) -> String {
    let mut text = format!("{}: {}.", node, op.action);
    if let Some(d) = &op.description {
        text.push(' ');
        text.push_str(d.trim_end_matches('.'));
        text.push('.');
    }
    let h = op.hints;
    text.push_str(if h.read_only {
        " Read-only: changes nothing, so it is safe to call to look things up."
    } else if !h.idempotent {
        " Creates something new on every call: call it once per record, and after an error check whether it was created before calling again."
    } else if h.destructive {
        " Destructive: removes data and cannot be undone; repeating the same call is harmless."
    } else {
        " Changes existing data; repeating the same call is harmless."
    });
    text.push_str(
        " Returns {\"items\": [...]}, the output objects (one per record). Arguments are checked before anything is sent; an error says which argument to fix, or what the service answered.",
    );
    text
}

/// What MCP clients accept as a tool name.
fn tool_name_ok(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_protocol_version(NEWEST_REVISION)
            .with_server_info(Implementation::new("nodehost", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "nodehost runs workflow nodes as tools: each tool is one operation of one node. \
                 Arguments are validated before anything is sent; read-only tools change nothing.",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&NEWEST_REVISION))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(&request.name, request.arguments, context.ct.clone())
            .await
            .map(CallToolResponse::from)
    }
}
