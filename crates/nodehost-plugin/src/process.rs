//! One running plugin process: the pipes, the requests in flight, and what happens when the
//! plugin misbehaves.
//!
//! Three tasks serve a process: a writer (requests queued by any item, written in batches), a
//! reader (stdout: every line is a JSON-RPC message or the plugin is finished) and a stderr
//! forwarder (each line to the host's log, the last few kept for error messages). The first
//! misbehaviour (a crash, garbage, an answer to a request never sent, a line past the limit)
//! kills the process group and fails every request in flight with one message that names the
//! plugin, says what it did and quotes the end of its stderr.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use nodehost_core::Secrets;
use nodehost_core::lines::{Line, Lines};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::protocol::{self, Message, RpcError, code, method};

/// Lines of a plugin's stderr quoted in its error messages.
const TAIL_LINES: usize = 5;
/// Longest stderr line forwarded (longer ones are cut).
const MAX_LOG_LINE: usize = 64 * 1024;
/// How long a dead plugin's stderr and exit status are waited for, to report them.
const REPORT_WAIT: Duration = Duration::from_secs(2);

/// Where a plugin's stderr lines go: `(plugin, line)`, secrets already removed.
pub type LogFn = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// What to start: an executable and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginCommand {
    /// The executable (an absolute path once registered).
    pub program: PathBuf,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
}

impl PluginCommand {
    /// The command `program args...`.
    pub fn new(program: impl Into<PathBuf>, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// The executable's file name, how a plugin is called before it says its name.
    pub fn label(&self) -> String {
        self.program.file_name().map_or_else(
            || self.program.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

/// Limits and where logs go. Every limit is explicit.
#[derive(Clone)]
pub struct PluginOptions {
    /// Time allowed for `initialize` (default 10 s).
    pub init_timeout: Duration,
    /// Time allowed for `open`, `close` and `shutdown` (default 30 s).
    pub call_timeout: Duration,
    /// Longest line accepted on the plugin's stdout (default 16 MiB).
    pub max_line_bytes: usize,
    /// How many times a plugin that died is started again within one run (default 3).
    pub max_restarts: u32,
    /// Where its stderr goes.
    pub log: LogFn,
}

impl Default for PluginOptions {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            max_line_bytes: protocol::MAX_LINE_BYTES,
            max_restarts: 3,
            log: Arc::new(|plugin: &str, line: &str| {
                tracing::info!(target: "nodehost::plugin", plugin, "{line}");
            }),
        }
    }
}

impl std::fmt::Debug for PluginOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginOptions")
            .field("init_timeout", &self.init_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("max_line_bytes", &self.max_line_bytes)
            .field("max_restarts", &self.max_restarts)
            .finish_non_exhaustive()
    }
}

/// Why a call got no result.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The plugin answered with an error.
    Rpc(RpcError),
    /// The plugin died or misbehaved while the request was in flight; the message says how.
    Dead(String),
    /// The plugin was already gone: the request was not sent.
    Gone(String),
    /// No answer before the deadline (the request was cancelled with `$/cancel`).
    Timeout,
}

type Reply = Result<Box<RawValue>, CallError>;

/// A running plugin.
pub struct Process {
    label: String,
    pid: Option<u32>,
    writer: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    next_id: AtomicU64,
    /// Set once: why the process can take no more requests.
    dead: OnceLock<String>,
    /// The host is shutting it down: its end is not a failure.
    closing: AtomicBool,
    tail: Mutex<VecDeque<String>>,
    stderr_done: watch::Receiver<bool>,
    exit: watch::Receiver<Option<std::process::ExitStatus>>,
    secrets: RwLock<Secrets>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("label", &self.label)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Process {
    /// Start `command` in a process group of its own, its pipes served by three tasks.
    pub fn spawn(
        command: &PluginCommand,
        label: String,
        options: &PluginOptions,
    ) -> Result<Arc<Self>, String> {
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own group: a Ctrl-C in the terminal reaches the host only (which then cancels
        // in order), and killing the group takes whatever the plugin started with it.
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start plugin `{}`: {e}", command.program.display()))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(format!(
                "cannot start plugin `{label}`: its pipes were not opened"
            ));
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = watch::channel(false);
        let (exit_tx, exit_rx) = watch::channel(None);
        let process = Arc::new(Self {
            pid: child.id(),
            label,
            writer: Mutex::new(Some(tx)),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            dead: OnceLock::new(),
            closing: AtomicBool::new(false),
            tail: Mutex::new(VecDeque::new()),
            stderr_done: done_rx,
            exit: exit_rx,
            secrets: RwLock::new(Secrets::none()),
        });
        tokio::spawn(write_lines(stdin, rx));
        tokio::spawn(forward_stderr(
            Arc::downgrade(&process),
            stderr,
            Arc::clone(&options.log),
            done_tx,
        ));
        tokio::spawn(read_messages(
            Arc::clone(&process),
            stdout,
            options.max_line_bytes,
        ));
        tokio::spawn(wait_exit(Arc::downgrade(&process), child, exit_tx));
        Ok(process)
    }

    /// The plugin's name in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Why the process can take no more requests, once it cannot.
    pub fn dead(&self) -> Option<&str> {
        self.dead.get().map(String::as_str)
    }

    /// Remove `secrets` from its stderr, outputs and errors from now on.
    pub fn add_secrets(&self, secrets: &Secrets) {
        if secrets.is_empty() {
            return;
        }
        let mut known = self
            .secrets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *known = known.with(secrets);
    }

    /// The secrets known to this process.
    pub fn secrets(&self) -> Secrets {
        self.secrets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The last lines of its stderr, as `; its last stderr lines: "a" | "b"` (empty without).
    pub fn stderr_tail(&self) -> String {
        let tail = self
            .tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tail.is_empty() {
            return String::new();
        }
        let quoted: Vec<String> = tail.iter().map(|l| format!("{l:?}")).collect();
        format!("; its last stderr lines: {}", quoted.join(" | "))
    }

    /// Send a request and wait for its answer until `deadline`. A call given up (the deadline
    /// passed, or the caller dropped the future) is cancelled with `$/cancel`.
    pub async fn call<P: Serialize>(
        &self,
        method: &str,
        params: Option<P>,
        deadline: Option<Instant>,
    ) -> Reply {
        if let Some(reason) = self.dead.get() {
            return Err(CallError::Gone(reason.clone()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock_pending().insert(id, tx);
        // Checked again after the insert: a failure drains the map after it sets `dead`.
        if let Some(reason) = self.dead.get() {
            self.lock_pending().remove(&id);
            return Err(CallError::Gone(reason.clone()));
        }
        let mut guard = Cancel {
            process: self,
            id: Some(id),
        };
        self.send(protocol::request_line(Some(id), method, params));
        let answer = match deadline {
            None => rx.await,
            Some(at) => match tokio::time::timeout_at(at, rx).await {
                Ok(answer) => answer,
                // The guard cancels it.
                Err(_) => return Err(CallError::Timeout),
            },
        };
        guard.id = None;
        answer.unwrap_or_else(|_| Err(CallError::Dead(self.dead().unwrap_or("stopped").to_owned())))
    }

    /// Send a notification.
    pub fn send_notification<P: Serialize>(&self, method: &str, params: P) {
        self.send(protocol::request_line(None, method, Some(params)));
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Reply>>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn send(&self, line: Vec<u8>) {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(w) = writer.as_ref() {
            // A closed pipe is seen by the reader as the plugin's end.
            let _ = w.send(line);
        }
    }

    /// The plugin is finished: `what` it did. Kills its group, waits (briefly) for the end of
    /// its stderr and its exit status, and fails every request in flight with the story.
    async fn fail(&self, what: String, kill: bool) {
        if self.dead.get().is_some() {
            return;
        }
        if kill {
            self.kill_group();
        }
        let mut done = self.stderr_done.clone();
        let _ = tokio::time::timeout(REPORT_WAIT, done.wait_for(|d| *d)).await;
        let status = match self.exited_within(REPORT_WAIT).await {
            Some(status) if !kill => describe_exit(status),
            _ => String::new(),
        };
        // Closed its stdout but lives on, or started children: none of it outlives this.
        self.kill_group();
        let secrets = self.secrets();
        let reason = secrets.scrub(&format!(
            "plugin `{}` {what}{status}{}",
            self.label,
            self.stderr_tail()
        ));
        let _ = self.dead.set(reason.clone());
        let pending: Vec<_> = self.lock_pending().drain().collect();
        for (_, tx) in pending {
            let _ = tx.send(Err(CallError::Dead(reason.clone())));
        }
    }

    /// Its exit status, once it exited, waiting up to `limit`.
    async fn exited_within(&self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut exit = self.exit.clone();
        let status = tokio::time::timeout(limit, exit.wait_for(Option::is_some)).await;
        status.ok().and_then(|s| s.ok().and_then(|s| *s))
    }

    /// Kill the process group (the plugin and whatever it started).
    pub fn kill_group(&self) {
        #[cfg(unix)]
        if let Some(pid) = self
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }

    /// End the plugin in order: `shutdown`, close its stdin, wait for it to exit (up to
    /// `grace`), then kill its group whatever it did, so nothing it started outlives it.
    /// Whether it exited by itself in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        if self.dead.get().is_none() && !self.closing.swap(true, Ordering::AcqRel) {
            let _ = self
                .call::<()>(method::SHUTDOWN, None, Some(Instant::now() + grace))
                .await;
        }
        self.closing.store(true, Ordering::Release);
        // Dropping the sender ends the writer, which closes the plugin's stdin.
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let exited = self.exited_within(grace).await.is_some();
        self.kill_group();
        let _ = self.dead.set(format!("plugin `{}` was shut down", self.label));
        exited
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Not shut down in order (a run given up): nothing it started may outlive it.
        self.kill_group();
    }
}

/// Cancels a request that is given up before its answer.
struct Cancel<'a> {
    process: &'a Process,
    id: Option<u64>,
}

impl Drop for Cancel<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id
            && self.process.lock_pending().remove(&id).is_some()
            && self.process.dead.get().is_none()
        {
            self.process.send(protocol::request_line(
                None,
                method::CANCEL,
                Some(protocol::CancelParams { id: id.into() }),
            ));
        }
    }
}

/// `16 MiB`, `4 KiB`, `100 bytes`.
fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!(" (exit status {code})");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!(" (killed by signal {signal})");
        }
    }
    String::new()
}

/// Wait for the plugin to exit. One that exits by itself is finished even if its stdout
/// stays open (a child it started holds it): its group is killed, which ends the reader.
async fn wait_exit(
    process: std::sync::Weak<Process>,
    mut child: Child,
    exit: watch::Sender<Option<std::process::ExitStatus>>,
) {
    let Ok(status) = child.wait().await else { return };
    let _ = exit.send(Some(status));
    if let Some(process) = process.upgrade()
        && !process.closing.load(Ordering::Acquire)
    {
        process.kill_group();
    }
}

/// Write the lines queued on `rx` to `output` until every sender is gone, then close it; on
/// both sides of a plugin's pipes.
pub(crate) async fn write_lines<W: tokio::io::AsyncWrite + Unpin>(
    output: W,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut out = BufWriter::with_capacity(64 * 1024, output);
    while let Some(line) = rx.recv().await {
        if out.write_all(&line).await.is_err() {
            return;
        }
        // Everything queued meanwhile goes in the same write; letting the tasks that are
        // ready run first makes those batches larger (fewer writes, fewer wake-ups of the
        // other side).
        tokio::task::yield_now().await;
        while let Ok(more) = rx.try_recv() {
            if out.write_all(&more).await.is_err() {
                return;
            }
        }
        if out.flush().await.is_err() {
            return;
        }
    }
    let _ = out.shutdown().await;
}

async fn forward_stderr(
    process: std::sync::Weak<Process>,
    stderr: ChildStderr,
    log: LogFn,
    done: watch::Sender<bool>,
) {
    let mut reader = BufReader::new(stderr);
    let mut lines = Lines::new(MAX_LOG_LINE);
    loop {
        let text = match lines.next(&mut reader).await {
            Ok(Some(Line::Data(_, bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(Some(Line::TooLong(_))) => {
                format!("(a line longer than {} KiB, not shown)", MAX_LOG_LINE / 1024)
            }
            Ok(None) | Err(_) => break,
        };
        let Some(process) = process.upgrade() else { break };
        let text = process.secrets().scrub(&text);
        log(&process.label, &text);
        let mut tail = process
            .tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(crate::truncate(&text, 300));
    }
    let _ = done.send(true);
}

async fn read_messages(process: Arc<Process>, stdout: ChildStdout, max_line: usize) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut lines = Lines::new(max_line);
    let failure = loop {
        let bytes = match lines.next(&mut reader).await {
            Ok(Some(Line::Data(_, bytes))) => bytes,
            Ok(Some(Line::TooLong(_))) => {
                break format!(
                    "wrote a line longer than {} on stdout (a protocol error)",
                    size(max_line)
                );
            }
            Ok(None) | Err(_) => {
                if process.closing.load(Ordering::Acquire) {
                    return;
                }
                break "exited".to_owned();
            }
        };
        match Message::parse(&bytes) {
            Err(e) => {
                break format!(
                    "wrote {e} on stdout: `{}` (a protocol error: stdout carries only JSON-RPC messages; logs go to stderr)",
                    crate::truncate(&String::from_utf8_lossy(&bytes), 120)
                );
            }
            Ok(Message::Response { id, outcome }) => {
                let Some(id) = id.as_u64() else {
                    break format!("answered a request id the host never sent ({id})");
                };
                let waiting = process.lock_pending().remove(&id);
                match waiting {
                    Some(tx) => {
                        let _ = tx.send(outcome.map_err(CallError::Rpc));
                    }
                    // An answer to a request given up (cancelled, timed out): too late, dropped.
                    None if id < process.next_id.load(Ordering::Relaxed) => {}
                    None => break format!("answered a request id the host never sent ({id})"),
                }
            }
            Ok(Message::Request { id, method, .. }) => {
                process.send(protocol::error_line(
                    &id,
                    &RpcError {
                        code: code::METHOD_NOT_FOUND,
                        message: format!("the host takes no requests (`{}`)", crate::truncate(&method, 60)),
                        data: None,
                    },
                ));
            }
            // Notifications from a plugin carry nothing in protocol v1; later versions may.
            Ok(Message::Notification { .. }) => {}
        }
    };
    process.fail(failure.clone(), failure != "exited").await;
}
