//! The plugin side: any [`Node`] (or any registry of nodes) served over stdio as a plugin
//! executable, in a few lines:
//!
//! ```no_run
//! # use nodehost_plugin::PluginServer;
//! # struct MyNode;
//! # fn my_node() -> nodehost_core::Registry { nodehost_core::Registry::new() }
//! fn main() -> std::process::ExitCode {
//!     PluginServer::new("my-plugin", env!("CARGO_PKG_VERSION"))
//!         .registry(my_node())
//!         .main()
//! }
//! ```
//!
//! The server answers `initialize` with the nodes' definitions, opens sessions with the
//! host's credentials, runs `execute` requests concurrently (answers in any order), stops an
//! item on `$/cancel`, and exits when its stdin closes, once the items in flight are answered
//! (at most 10 s later).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use nodehost_core::lines::{Line, Lines};
use nodehost_core::{
    CancellationToken, DynSession, HostedNode, ItemContext, Node, NodeError, Registry, SessionOptions,
    UnknownFields,
};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::mpsc;

use crate::protocol::{self, Message, RpcError, code, method};

/// How long items in flight at the end of input may take to finish.
const END_OF_INPUT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A plugin executable's server: its name and version, and the nodes it offers.
#[derive(Debug)]
pub struct PluginServer {
    name: String,
    version: String,
    registry: Registry,
    options: SessionOptions,
    threads: usize,
    problems: Vec<String>,
}

impl PluginServer {
    /// A plugin called `name` (how it is registered and removed), at `version`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            registry: Registry::new(),
            options: SessionOptions::new(),
            threads: 1,
            problems: Vec::new(),
        }
    }

    /// Offer a typed node.
    #[must_use]
    pub fn node<N: Node>(mut self, node: N) -> Self {
        if let Err(e) = self.registry.register(node) {
            self.problems.push(e.to_string());
        }
        self
    }

    /// Offer every node of `registry`.
    #[must_use]
    pub fn registry(mut self, registry: Registry) -> Self {
        for node in registry.nodes() {
            if let Err(e) = self.registry.insert_shared(Arc::clone(node)) {
                self.problems.push(e.to_string());
            }
        }
        self
    }

    /// Settings the nodes' sessions read (e.g. `nodehost_http::HttpOptions`).
    #[must_use]
    pub fn options(mut self, options: SessionOptions) -> Self {
        self.options = options;
        self
    }

    /// Threads that execute items (default 1). One thread serves a node that waits on I/O
    /// best: items still run concurrently, and no wake-up crosses threads (measured in
    /// BENCHMARKS.md, benchmark 6). A node that computes hard per item may want more.
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Serve stdin and stdout until stdin closes; the process's exit status.
    pub fn main(self) -> ExitCode {
        let runtime = if self.threads == 1 {
            tokio::runtime::Builder::new_current_thread().enable_all().build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(self.threads)
                .enable_all()
                .build()
        };
        let runtime = match runtime {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("{}: cannot start the async runtime: {e}", self.name);
                return ExitCode::FAILURE;
            }
        };
        let name = self.name.clone();
        let served = runtime.block_on(async {
            let (input, output) = stdio();
            self.serve(input, output).await
        });
        runtime.shutdown_background();
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{name}: {e}");
                ExitCode::FAILURE
            }
        }
    }

    /// Serve the protocol on `input` and `output` until `input` ends.
    pub async fn serve<R, W>(self, input: R, output: W) -> std::io::Result<()>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        if !self.problems.is_empty() {
            return Err(std::io::Error::other(format!(
                "the plugin's nodes cannot be offered: {}",
                self.problems.join("; ")
            )));
        }
        let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer = tokio::spawn(crate::process::write_lines(output, rx));
        let state = Arc::new(State {
            server: self,
            sessions: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            next_session: Mutex::new(0),
            out: tx,
        });
        let mut reader = BufReader::with_capacity(64 * 1024, input);
        let mut lines = Lines::new(protocol::MAX_LINE_BYTES);
        loop {
            match lines.next(&mut reader).await? {
                None => break,
                Some(Line::TooLong(_)) => state.send(protocol::error_line(
                    &Value::Null,
                    &rpc_error(code::PARSE_ERROR, "line too long"),
                )),
                Some(Line::Data(_, bytes)) => Arc::clone(&state).handle(&bytes).await,
            }
        }
        // Stdin closed: the host is done, or gone. Items already asked for are answered (a
        // host may close its end right after its last request); past a grace period the rest
        // are stopped, so a plugin whose host died does not linger.
        let grace = tokio::time::Instant::now() + END_OF_INPUT_GRACE;
        while !state.lock_running().is_empty() && tokio::time::Instant::now() < grace {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let running: Vec<_> = state.lock_running().drain().collect();
        for (_, (token, task)) in running {
            token.cancel();
            task.abort();
        }
        let sessions: Vec<_> = state.lock_sessions().drain().collect();
        for (_, (_, session)) in sessions {
            session.close().await;
        }
        drop(state);
        let _ = writer.await;
        Ok(())
    }
}

type Input = Box<dyn AsyncRead + Unpin + Send>;
type Output = Box<dyn AsyncWrite + Unpin + Send>;

/// Stdin and stdout as the async runtime's own pipes when they are pipes (as the host starts a
/// plugin): `tokio::io::stdin()` would hand every read and write to a thread of the blocking
/// pool, a wake-up across threads per message (benchmark 6 measured it). Anything else (a
/// terminal, a file) is read the portable way.
fn stdio() -> (Input, Output) {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let input = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .and_then(tokio::net::unix::pipe::Receiver::from_owned_fd);
        let output = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .and_then(tokio::net::unix::pipe::Sender::from_owned_fd);
        if let (Ok(input), Ok(output)) = (input, output) {
            return (Box::new(input), Box::new(output));
        }
    }
    (Box::new(tokio::io::stdin()), Box::new(tokio::io::stdout()))
}

type Sessions = HashMap<String, (Arc<HostedNode>, Arc<dyn DynSession>)>;
type Running = HashMap<String, (CancellationToken, tokio::task::AbortHandle)>;

struct State {
    server: PluginServer,
    sessions: Mutex<Sessions>,
    running: Mutex<Running>,
    next_session: Mutex<u64>,
    out: mpsc::UnboundedSender<Vec<u8>>,
}

fn rpc_error(code: i64, message: impl Into<String>) -> RpcError {
    RpcError {
        code,
        message: message.into(),
        data: None,
    }
}

fn params<T: DeserializeOwned>(raw: Option<&RawValue>) -> Result<T, RpcError> {
    let text = raw.map_or("null", RawValue::get);
    serde_json::from_str(text).map_err(|e| rpc_error(code::INVALID_PARAMS, format!("invalid params: {e}")))
}

impl State {
    fn send(&self, line: Vec<u8>) {
        let _ = self.out.send(line);
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn answer(&self, id: &Value, outcome: Result<Value, RpcError>) {
        self.send(match outcome {
            Ok(result) => protocol::result_line(id, &result),
            Err(e) => protocol::error_line(id, &e),
        });
    }

    async fn handle(self: Arc<Self>, line: &[u8]) {
        match Message::parse(line) {
            Err(e) => self.answer(&Value::Null, Err(rpc_error(code::INVALID_REQUEST, e.0))),
            Ok(Message::Notification { method, params: p }) => {
                if method == method::CANCEL
                    && let Ok(cancel) = params::<protocol::CancelParams>(p.as_deref())
                {
                    let key = cancel.id.to_string();
                    if let Some((token, task)) = self.lock_running().remove(&key) {
                        token.cancel();
                        task.abort();
                        self.answer(&cancel.id, Err(rpc_error(code::CANCELLED, "cancelled")));
                    }
                }
            }
            Ok(Message::Response { .. }) => {}
            Ok(Message::Request {
                id,
                method,
                params: p,
            }) => {
                let outcome = match method.as_str() {
                    method::INITIALIZE => self.initialize(p.as_deref()),
                    method::OPEN => self.open(p.as_deref()).await,
                    method::EXECUTE => {
                        // Answered by the item's task.
                        if let Err(e) = Arc::clone(&self).execute(&id, p.as_deref()) {
                            self.answer(&id, Err(e));
                        }
                        return;
                    }
                    method::CLOSE => self.close(p.as_deref()).await,
                    method::SHUTDOWN => Ok(Value::Null),
                    other => Err(rpc_error(
                        code::METHOD_NOT_FOUND,
                        format!("unknown method `{}`", crate::truncate(other, 60)),
                    )),
                };
                self.answer(&id, outcome);
            }
        }
    }

    fn initialize(&self, p: Option<&RawValue>) -> Result<Value, RpcError> {
        let init: protocol::InitializeParams = params(p)?;
        if !protocol::compatible(&init.protocol_version) {
            return Err(rpc_error(
                code::INVALID_PARAMS,
                format!(
                    "this plugin speaks protocol version {}; the host speaks {}",
                    protocol::PROTOCOL_VERSION,
                    crate::truncate(&init.protocol_version, 40)
                ),
            ));
        }
        let registry = &self.server.registry;
        Ok(json!(protocol::InitializeResult {
            protocol_version: protocol::PROTOCOL_VERSION.into(),
            plugin: protocol::Software {
                name: self.server.name.clone(),
                version: self.server.version.clone(),
            },
            nodes: registry.nodes().map(|n| n.definition().clone()).collect(),
            credentials: registry.credential_types().map(|c| c.to_definition()).collect(),
        }))
    }

    async fn open(&self, p: Option<&RawValue>) -> Result<Value, RpcError> {
        let open: protocol::OpenParams = params(p)?;
        let node = self.server.registry.get(&open.node).ok_or_else(|| {
            rpc_error(
                code::INVALID_PARAMS,
                format!("unknown node `{}`", crate::truncate(&open.node, 60)),
            )
        })?;
        let session = node
            .open(open.credentials, &self.server.options)
            .await
            .map_err(|e| rpc_error(code::SETUP_FAILED, e.to_string()))?;
        let id = {
            let mut next = self
                .next_session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *next += 1;
            format!("s{next}")
        };
        self.lock_sessions().insert(id.clone(), (node, session));
        Ok(json!({ "session": id }))
    }

    async fn close(&self, p: Option<&RawValue>) -> Result<Value, RpcError> {
        let close: protocol::CloseParams = params(p)?;
        let removed = self.lock_sessions().remove(&close.session);
        match removed {
            Some((_, session)) => {
                session.close().await;
                Ok(Value::Null)
            }
            None => Err(unknown_session(&close.session)),
        }
    }

    fn execute(self: Arc<Self>, id: &Value, p: Option<&RawValue>) -> Result<(), RpcError> {
        let request: protocol::ExecuteRequest = params(p)?;
        let (node, session) = self
            .lock_sessions()
            .get(&request.session)
            .cloned()
            .ok_or_else(|| unknown_session(&request.session))?;
        // The host validated the item already; checking again costs little and keeps a node
        // from ever seeing parameters its types do not hold.
        let prepared = node
            .prepare(request.params, UnknownFields::Reject)
            .map_err(|problems| {
                let words: Vec<String> = problems.iter().map(ToString::to_string).collect();
                rpc_error(code::INVALID_PARAMS, words.join("; "))
            })?;
        let token = CancellationToken::new();
        let context = ItemContext {
            index: request.item,
            deadline: None,
            cancel: token.clone(),
            dry_run: request.dry_run,
        };
        let key = id.to_string();
        let id = id.clone();
        // Registered before the task can finish, so a fast task always finds its own entry.
        let mut running = self.lock_running();
        let state = Arc::clone(&self);
        let task = tokio::spawn(async move {
            let outcome = session.execute(prepared, &context).await;
            // Cancelled meanwhile: `$/cancel` already answered it.
            if state.lock_running().remove(&id.to_string()).is_none() {
                return;
            }
            state.send(match outcome {
                Ok(outputs) => protocol::result_line(&id, &Outputs { outputs: &outputs }),
                Err(e) => protocol::error_line(&id, &failure(&e)),
            });
        });
        running.insert(key, (token, task.abort_handle()));
        Ok(())
    }
}

/// The result of a successful `execute`, written without building a JSON tree.
#[derive(serde::Serialize)]
struct Outputs<'a> {
    outputs: &'a [nodehost_core::Output],
}

fn unknown_session(session: &str) -> RpcError {
    rpc_error(
        code::INVALID_PARAMS,
        format!("unknown session `{}`", crate::truncate(session, 60)),
    )
}

/// A node's error as the JSON-RPC error of `execute`: its message, and its error object's
/// other members (`httpStatus`, `details`, `maybeApplied`) plus `retryable` as `data`.
fn failure(error: &NodeError) -> RpcError {
    let mut data = match serde_json::to_value(error) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    data.remove("message");
    if error.retryable {
        data.insert("retryable".into(), Value::Bool(true));
    }
    RpcError {
        code: code::ITEM_FAILED,
        message: error.message.clone(),
        data: (!data.is_empty()).then_some(Value::Object(data)),
    }
}
