//! The host side: a plugin executable's nodes as [`HostedNode`]s that validate, lock, retry
//! and report exactly like built-in ones, executed by the plugin over its pipes.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nodehost_core::{
    CredentialType, DynamicNode, HostedNode, ItemContext, JsonSession, NodeDescription, NodeError,
    OperationHints, Output, Secrets, SessionOptions, SetupError,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::process::{CallError, PluginCommand, PluginOptions, Process};
use crate::protocol::{self, InitializeResult, RpcError, method};

/// How long a session's `close` and the plugin's `shutdown` may take each.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Longest error message taken from a plugin.
const MAX_MESSAGE: usize = 2000;

/// A plugin executable whose nodes a host offers. Its process is started when a node's session
/// is first opened (or by [`Plugin::start`]), shared by every node and session of the plugin,
/// started again if it dies (a bounded number of times), and shut down when its last session
/// closes.
pub struct Plugin {
    command: PluginCommand,
    options: PluginOptions,
    label: String,
    current: tokio::sync::Mutex<Option<Arc<Process>>>,
    restarts: AtomicU32,
    sessions: AtomicUsize,
    /// The node definitions every start must answer with (those the host validates against).
    expected: Mutex<Option<Vec<Value>>>,
    /// Why each of its processes that failed did (a protocol error, a crash), in order.
    failures: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("label", &self.label)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

/// Why a plugin cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PluginError(pub String);

impl Plugin {
    /// A plugin known from its registration: `definitions` are the node definitions stored
    /// then, which every start of the process must still answer with. Nothing is started yet.
    pub fn registered(
        command: PluginCommand,
        name: &str,
        definitions: Vec<Value>,
        options: PluginOptions,
    ) -> Arc<Self> {
        Arc::new(Self::new(command, name.to_owned(), options, Some(definitions)))
    }

    fn new(
        command: PluginCommand,
        label: String,
        options: PluginOptions,
        expected: Option<Vec<Value>>,
    ) -> Self {
        Self {
            command,
            options,
            label,
            current: tokio::sync::Mutex::new(None),
            restarts: AtomicU32::new(0),
            sessions: AtomicUsize::new(0),
            expected: Mutex::new(expected),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// Start the plugin and run the handshake. The process is kept for the first session, so
    /// a plugin run without registration starts once.
    pub async fn start(
        command: PluginCommand,
        options: PluginOptions,
    ) -> Result<(Arc<Self>, InitializeResult), PluginError> {
        let label = command.label();
        let plugin = Arc::new(Self::new(command, label, options, None));
        let (process, result) = plugin.spawn().await.map_err(PluginError)?;
        *plugin.lock_expected() = Some(result.nodes.clone());
        *plugin.current.lock().await = Some(process);
        Ok((plugin, result))
    }

    /// The plugin's name in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What is started.
    pub fn command(&self) -> &PluginCommand {
        &self.command
    }

    fn lock_expected(&self) -> std::sync::MutexGuard<'_, Option<Vec<Value>>> {
        self.expected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The plugin's nodes, ready to register, bound to this plugin. `thorough` checks the
    /// schemas too (see [`crate::check::read_definitions`]): for definitions that were not
    /// checked at registration.
    pub fn nodes(
        self: &Arc<Self>,
        result: &InitializeResult,
        thorough: bool,
    ) -> Result<Vec<HostedNode>, Vec<String>> {
        let checked = crate::check::read_definitions(result, thorough)?;
        let mut nodes = Vec::with_capacity(checked.len());
        let mut problems = Vec::new();
        for (description, credential) in checked {
            match self.host(description, credential) {
                Ok(node) => nodes.push(node),
                Err(e) => problems.push(e),
            }
        }
        if problems.is_empty() {
            Ok(nodes)
        } else {
            Err(problems)
        }
    }

    fn host(
        self: &Arc<Self>,
        description: NodeDescription,
        credential: Option<CredentialType>,
    ) -> Result<HostedNode, String> {
        let node = Arc::new(PluginNode {
            plugin: Arc::clone(self),
            node: description.name.clone(),
            credential: credential.clone(),
        });
        HostedNode::dynamic(description, credential, node).map_err(|e| e.0)
    }

    /// Shut the running process down (if any) in order.
    pub async fn shutdown(&self) {
        let process = self.current.lock().await.take();
        if let Some(p) = process {
            self.note_failure(&p);
            let _ = p.shutdown(CLOSE_GRACE).await;
        }
    }

    /// Why each of its processes that failed did (wrote a line that is not JSON, crashed, ...),
    /// in order, whether or not it was started again since.
    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn note_failure(&self, process: &Process) {
        if let Some(reason) = process.dead() {
            self.failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(reason.to_owned());
        }
    }

    /// Start a process and run `initialize`.
    async fn spawn(&self) -> Result<(Arc<Process>, InitializeResult), String> {
        let process = Process::spawn(&self.command, self.label.clone(), &self.options)?;
        match handshake(&process, &self.options).await {
            Ok(result) => Ok((process, result)),
            Err(e) => {
                process.kill_group();
                Err(e)
            }
        }
    }

    /// The running process, started (again) if there is none or it died.
    async fn process(&self) -> Result<Arc<Process>, String> {
        let mut current = self.current.lock().await;
        if let Some(p) = current.as_ref() {
            match p.dead() {
                None => return Ok(Arc::clone(p)),
                Some(reason) => {
                    self.note_failure(p);
                    let restarts = self.restarts.fetch_add(1, Ordering::AcqRel);
                    if restarts >= self.options.max_restarts {
                        return Err(format!(
                            "plugin `{}` stopped {} times in this run and is not started again; the last time: {reason}",
                            self.label,
                            restarts + 1
                        ));
                    }
                }
            }
        }
        let (process, result) = self.spawn().await?;
        let expected = self.lock_expected().clone();
        if let Some(expected) = expected
            && expected != result.nodes
        {
            let _ = process.shutdown(CLOSE_GRACE).await;
            return Err(format!(
                "plugin `{}` now describes its nodes differently from when it was registered; register it again with `nodehost plugin add`",
                self.label
            ));
        }
        *current = Some(Arc::clone(&process));
        Ok(process)
    }

    /// A session ended: the last one shuts the process down.
    async fn release(&self) {
        if self.sessions.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shutdown().await;
        }
    }
}

/// `initialize`, with its time limit and version check.
async fn handshake(process: &Process, options: &PluginOptions) -> Result<InitializeResult, String> {
    let params = protocol::InitializeParams::nodehost();
    let label = process.label();
    let deadline = Instant::now() + options.init_timeout;
    let raw = match process
        .call(method::INITIALIZE, Some(params), Some(deadline))
        .await
    {
        Ok(raw) => raw,
        Err(CallError::Timeout) => {
            return Err(format!(
                "plugin `{label}` did not answer `initialize` within {}{}",
                nodehost_core::engine::human(options.init_timeout),
                process.stderr_tail()
            ));
        }
        Err(CallError::Dead(reason) | CallError::Gone(reason)) => return Err(reason),
        Err(CallError::Rpc(e)) => {
            return Err(format!(
                "plugin `{label}` refused `initialize`: {}",
                crate::truncate(&e.message, MAX_MESSAGE)
            ));
        }
    };
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Version {
        protocol_version: Value,
    }
    let version = serde_json::from_str::<Version>(raw.get())
        .map_err(|_| format!("plugin `{label}` answered `initialize` without a `protocolVersion`"))?;
    let version = match version.protocol_version {
        Value::String(s) => s,
        other => other.to_string(),
    };
    if !protocol::compatible(&version) {
        return Err(format!(
            "plugin `{label}` speaks protocol version {}; this nodehost speaks version {}",
            crate::truncate(&version, 40),
            protocol::PROTOCOL_VERSION
        ));
    }
    serde_json::from_str(raw.get()).map_err(|e| {
        format!("plugin `{label}` answered `initialize` with a result this host cannot read: {e}")
    })
}

/// One node of a plugin.
struct PluginNode {
    plugin: Arc<Plugin>,
    node: String,
    credential: Option<CredentialType>,
}

#[async_trait]
impl DynamicNode for PluginNode {
    async fn open(
        &self,
        credentials: Option<Value>,
        _: &SessionOptions,
    ) -> Result<Arc<dyn JsonSession>, SetupError> {
        let secrets = match (&self.credential, &credentials) {
            (Some(kind), Some(value)) => Secrets::of_credentials(kind, value),
            _ => Secrets::none(),
        };
        let process = self.plugin.process().await.map_err(SetupError::Other)?;
        process.add_secrets(&secrets);
        let session = open_session(&process, &self.plugin.options, &self.node, credentials.as_ref()).await?;
        self.plugin.sessions.fetch_add(1, Ordering::AcqRel);
        Ok(Arc::new(PluginSession {
            plugin: Arc::clone(&self.plugin),
            node: self.node.clone(),
            credentials,
            secrets,
            state: Mutex::new((process, session)),
            reopen: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
        }))
    }
}

async fn open_session(
    process: &Process,
    options: &PluginOptions,
    node: &str,
    credentials: Option<&Value>,
) -> Result<String, SetupError> {
    let params = protocol::OpenParams {
        node: node.to_owned(),
        credentials: credentials.cloned(),
    };
    let label = process.label();
    let at = Instant::now() + options.call_timeout;
    let raw = match process.call(method::OPEN, Some(params), Some(at)).await {
        Ok(raw) => raw,
        Err(CallError::Rpc(e)) => {
            return Err(SetupError::Other(process.secrets().scrub(&format!(
                "plugin `{label}` could not open node `{node}`: {}",
                crate::truncate(&e.message, MAX_MESSAGE)
            ))));
        }
        Err(CallError::Timeout) => {
            return Err(SetupError::Other(format!(
                "plugin `{label}` did not answer `open` within {}{}",
                nodehost_core::engine::human(options.call_timeout),
                process.stderr_tail()
            )));
        }
        Err(CallError::Dead(reason) | CallError::Gone(reason)) => return Err(SetupError::Other(reason)),
    };
    serde_json::from_str::<protocol::OpenResult>(raw.get())
        .map(|r| r.session)
        .map_err(|_| {
            SetupError::Other(format!(
                "plugin `{label}` answered `open` without a `session` string"
            ))
        })
}

/// A session of a plugin node: bound to the process that opened it, and opened again on a
/// new process if that one dies.
struct PluginSession {
    plugin: Arc<Plugin>,
    node: String,
    credentials: Option<Value>,
    secrets: Secrets,
    state: Mutex<(Arc<Process>, String)>,
    reopen: tokio::sync::Mutex<()>,
    closed: AtomicBool,
}

impl PluginSession {
    fn state(&self) -> (Arc<Process>, String) {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (Arc::clone(&state.0), state.1.clone())
    }

    /// The live process and session id, the plugin started again if it died.
    async fn live(&self) -> Result<(Arc<Process>, String), NodeError> {
        let state = self.state();
        if state.0.dead().is_none() {
            return Ok(state);
        }
        let _one = self.reopen.lock().await;
        let state = self.state();
        if state.0.dead().is_none() {
            return Ok(state);
        }
        let process = self.plugin.process().await.map_err(NodeError::new)?;
        process.add_secrets(&self.secrets);
        let session = open_session(
            &process,
            &self.plugin.options,
            &self.node,
            self.credentials.as_ref(),
        )
        .await
        .map_err(|e| NodeError::new(e.to_string()))?;
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state = (Arc::clone(&process), session.clone());
        Ok((process, session))
    }
}

#[async_trait]
impl JsonSession for PluginSession {
    async fn execute(
        &self,
        params: Map<String, Value>,
        hints: OperationHints,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        let started = Instant::now();
        // A process found dead before the item was sent is started again once; an item in
        // flight when it died fails with the story (it may have been applied).
        let mut tries = 0;
        let (process, reply) = loop {
            let (process, session) = self.live().await?;
            let request = protocol::ExecuteParams {
                session: &session,
                item: item.index,
                params: &params,
                dry_run: item.dry_run,
            };
            let reply = process.call(method::EXECUTE, Some(request), item.deadline).await;
            match reply {
                Err(CallError::Gone(_)) if tries == 0 => tries += 1,
                reply => break (process, reply),
            }
        };
        let label = process.label();
        match reply {
            Ok(raw) => outputs(&raw, &process.secrets(), label, item.index),
            Err(CallError::Rpc(e)) => Err(item_error(e, &process.secrets(), label)),
            Err(CallError::Dead(reason)) => Err(NodeError::new(reason).maybe_applied(!hints.read_only)),
            Err(CallError::Gone(reason)) => Err(NodeError::new(reason)),
            Err(CallError::Timeout) => Err(NodeError::new(format!(
                "plugin `{label}` did not answer item {} within the item deadline of {} and was sent `$/cancel`{}",
                item.index,
                nodehost_core::engine::human(started.elapsed()),
                process.stderr_tail()
            ))
            .maybe_applied(!hints.read_only)),
        }
    }

    async fn test_credentials(&self) -> Result<String, NodeError> {
        Ok(format!(
            "plugin `{}` opened node `{}` with these credentials",
            self.plugin.label, self.node
        ))
    }

    async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (process, session) = self.state();
        if process.dead().is_none() {
            let _ = process
                .call(
                    method::CLOSE,
                    Some(protocol::CloseParams { session }),
                    Some(Instant::now() + CLOSE_GRACE),
                )
                .await;
        }
        self.plugin.release().await;
    }
}

/// `{"outputs": [OBJECT, ...]}` as output items, passed through unchanged when no secret is
/// in them.
fn outputs(raw: &RawValue, secrets: &Secrets, label: &str, index: usize) -> Result<Vec<Output>, NodeError> {
    #[derive(Deserialize)]
    struct Outputs<'a> {
        #[serde(borrow)]
        outputs: Vec<&'a RawValue>,
    }
    let bad = |what: &str| {
        NodeError::new(format!(
            "plugin `{label}` answered item {index} with {what} (a protocol error: expected {{\"outputs\": [OBJECT, ...]}})"
        ))
    };
    let text = raw.get();
    if secrets.found_in(text.as_bytes()) {
        let value: Value = serde_json::from_str(text).map_err(|_| bad("a result that is not JSON"))?;
        let Value::Object(mut result) = secrets.scrub_value(value) else {
            return Err(bad("a result that is not an object"));
        };
        let Some(Value::Array(items)) = result.remove("outputs") else {
            return Err(bad("no `outputs` array"));
        };
        return items
            .into_iter()
            .map(|v| match v {
                Value::Object(m) => Ok(Output::from(m)),
                _ => Err(bad("an output that is not a JSON object")),
            })
            .collect();
    }
    let parsed: Outputs<'_> = serde_json::from_str(text).map_err(|_| bad("no `outputs` array"))?;
    parsed
        .outputs
        .into_iter()
        .map(|raw| match Output::from_object_raw(raw) {
            Some(output) => Ok(output),
            None => match serde_json::from_str::<Value>(raw.get()) {
                Ok(Value::Object(m)) => Ok(Output::from(m)),
                _ => Err(bad("an output that is not a JSON object")),
            },
        })
        .collect()
}

/// A plugin's JSON-RPC error as the item's error: its message, and `httpStatus`, `details`,
/// `retryable` and `maybeApplied` from its data.
fn item_error(e: RpcError, secrets: &Secrets, label: &str) -> NodeError {
    let message = if e.message.trim().is_empty() {
        format!("plugin `{label}` failed the item without a message")
    } else {
        secrets.scrub(&crate::truncate(&e.message, MAX_MESSAGE))
    };
    let mut error = NodeError::new(message);
    if let Some(Value::Object(data)) = e.data {
        if let Some(status) = data
            .get("httpStatus")
            .and_then(Value::as_u64)
            .filter(|s| (100..600).contains(s))
        {
            error = error.with_field("httpStatus", status);
        }
        if let Some(details) = data.get("details").filter(|d| !d.is_null()) {
            error = error.with_details(secrets.scrub_value(details.clone()));
        }
        error = error
            .retryable(data.get("retryable") == Some(&Value::Bool(true)))
            .maybe_applied(data.get("maybeApplied") == Some(&Value::Bool(true)));
    }
    error
}
