//! Helpers for the end-to-end tests: the built `nodehost` binary run as a child process with a
//! deadline, a sandbox started in-process on a free loopback port with its own database, a
//! `nodehost sandbox` child process, and a raw TCP server that misbehaves on purpose.
//!
//! Everything here is per test: no port, file or counter is shared, so tests run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failed setup is a failed test

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gestor_sandbox::{DbLocation, Faults, RunningSandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The node every test runs.
pub const NODE: &str = "gestorClientesMaxCliente";

/// Backoff (base, cap) in milliseconds that keeps retries fast: tests assert attempt counts,
/// not wall-clock patience.
pub const FAST_BACKOFF_MS: (u64, u64) = (1, 20);

/// How long any single `nodehost` invocation may take before the test calls it a hang.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(20);

/// The `nodehost` binary next to the test executable (`target/<profile>/nodehost`).
pub fn nodehost_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/nodehost
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps");
    let bin = dir.join(format!("nodehost{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p nodehost-cli` first (`cargo test --workspace` builds it)",
        bin.display()
    );
    bin
}

/// The one way every test starts `nodehost`: the binary this build made, with an environment
/// that holds nothing of the developer's (no credentials, `RUST_LOG`, registered plugins or
/// `XDG_*` folders). Only what finding programs needs passes through (`PATH`, and pyenv's
/// settings for a `python3` shim); `HOME` is a folder of this test process's own, and
/// `NODEHOST_PLUGINS` names a registry file that does not exist. A test sets what it means.
pub fn command() -> Command {
    let mut command = Command::new(nodehost_bin());
    clean_env(&mut command);
    command
}

/// The environment of [`command`], for a program that starts `nodehost` itself (`prlimit`,
/// `script`, `sh`).
pub fn clean_env(command: &mut Command) {
    command.env_clear();
    for var in ["PATH", "PYENV_ROOT", "PYENV_VERSION", "TMPDIR", "SYSTEMROOT"] {
        if let Some(value) = std::env::var_os(var) {
            command.env(var, value);
        }
    }
    command.env("HOME", test_home());
    command.env("NODEHOST_PLUGINS", no_plugins_file());
}

/// An empty home folder for the processes this test binary starts, removed by no one (it lives
/// under the temporary folder and holds only what `nodehost` writes there).
pub fn test_home() -> PathBuf {
    static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOME.get_or_init(|| {
        let home = std::env::temp_dir().join(format!("nodehost-e2e-{}-home", std::process::id()));
        std::fs::create_dir_all(&home).expect("create the tests' home folder");
        home
    })
    .clone()
}

/// `nodehost serve --sandbox` on a free loopback port, with the embedded emulator's data in
/// memory, and `env` set: the process and its base URL (what it prints on stdout).
pub fn serve_on_sandbox(env: &[(&str, &str)]) -> (Interactive, String) {
    let mut cmd = nodehost([
        "serve",
        "--sandbox",
        "--sandbox-db",
        ":memory:",
        "--listen",
        "127.0.0.1:0",
    ])
    .deadline(Duration::from_secs(300));
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let server = cmd.spawn();
    let line = server
        .next_line(Duration::from_secs(20))
        .expect("serve prints where it listens on stdout");
    let listening: Value = serde_json::from_str(&line).expect("a JSON line");
    let url = listening["listening"].as_str().expect("listening").to_owned();
    (server, url)
}

/// A plugin registry file that does not exist: no plugins.
fn no_plugins_file() -> PathBuf {
    std::env::temp_dir().join(format!("nodehost-e2e-{}-no-plugins.json", std::process::id()))
}

/// A file of the repository, by its path from the repository root.
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A binary built beside `nodehost` (another workspace member's, e.g. an example plugin).
pub fn built_bin(name: &str) -> PathBuf {
    let bin = nodehost_bin().with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --workspace` first (`cargo test --workspace` builds it)",
        bin.display()
    );
    bin
}

/// One `nodehost` invocation, built up then run to completion with a deadline.
#[derive(Debug, Clone)]
pub struct Cmd {
    args: Vec<OsString>,
    stdin: Vec<u8>,
    envs: Vec<(String, String)>,
    deadline: Duration,
    /// `--backoff-base-ms` and `--backoff-cap-ms`, when set.
    backoff: Option<(u64, u64)>,
}

/// Start describing `nodehost ARGS...`.
pub fn nodehost<I, S>(args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    Cmd {
        args: args.into_iter().map(Into::into).collect(),
        stdin: Vec::new(),
        envs: Vec::new(),
        deadline: DEFAULT_DEADLINE,
        backoff: None,
    }
}

/// `nodehost run gestorClientesMaxCliente --credentials FILE` plus fast retries.
pub fn run_node(credentials: &Path) -> Cmd {
    let mut cmd = nodehost(["run", NODE, "--credentials"]);
    cmd.args.push(credentials.into());
    cmd.backoff = Some(FAST_BACKOFF_MS);
    cmd
}

impl Cmd {
    /// Append arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Replace the backoff flags (milliseconds).
    #[must_use]
    pub fn backoff_ms(mut self, base: u64, cap: u64) -> Self {
        self.backoff = Some((base, cap));
        self
    }

    /// Bytes fed to stdin (then closed).
    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// A JSON value fed to stdin.
    #[must_use]
    pub fn stdin_json(self, value: &Value) -> Self {
        self.stdin(value.to_string())
    }

    /// Set an environment variable for the child.
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Longest the child may run before the test fails as a hang.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    fn command(&self) -> Command {
        let mut command = command();
        command.args(&self.args);
        if let Some((base, cap)) = self.backoff {
            command.args([
                "--backoff-base-ms",
                &base.to_string(),
                "--backoff-cap-ms",
                &cap.to_string(),
            ]);
        }
        for (k, v) in &self.envs {
            command.env(k, v);
        }
        command
    }

    /// Run to completion; panics (naming the command) if it outlives its deadline.
    pub fn run(&self) -> Outcome {
        let started = Instant::now();
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nodehost");
        let stdin = child.stdin.take().expect("piped stdin");
        let bytes = self.stdin.clone();
        // A child that stops reading early (bad input) makes this write fail: that is fine.
        let writer = std::thread::spawn(move || {
            let mut stdin = stdin;
            let _ = stdin.write_all(&bytes);
        });
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let status = wait_until(&mut child, self.deadline);
        let _ = writer.join();
        let stdout = stdout.join().expect("stdout reader");
        let stderr = stderr.join().expect("stderr reader");
        let Some(status) = status else {
            panic!(
                "nodehost {:?} did not finish within {:?} (a hang); stderr so far:\n{}",
                self.args,
                self.deadline,
                String::from_utf8_lossy(&stderr)
            );
        };
        Outcome {
            status,
            stdout,
            stderr,
            elapsed: started.elapsed(),
        }
    }

    /// Start without waiting: stdin stays open for the test to write, stdout arrives by line.
    pub fn spawn(&self) -> Interactive {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nodehost");
        let stdin = child.stdin.take();
        let (tx, lines) = channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        Interactive {
            child,
            stdin,
            lines,
            reader: Some(reader),
            stderr: Some(stderr),
        }
    }
}

fn drain(mut source: impl std::io::Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits for the child at most `deadline`; kills it and returns `None` past that.
fn wait_until(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a finished invocation left behind.
#[derive(Debug)]
pub struct Outcome {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Outcome {
    /// The exit code (`None` when a signal ended the process).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stderr as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout_text(),
                self.stderr_text()
            )
        })
    }

    /// stdout parsed as NDJSON.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout_text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output line {l:?}: {e}")))
            .collect()
    }

    /// The `json` of every output item, in output order (e.g. every client of one `getAll`).
    pub fn output_jsons(&self) -> Vec<Value> {
        let doc = self.json();
        doc["items"]
            .as_array()
            .expect("\"items\" array")
            .iter()
            .map(|i| i["json"].clone())
            .collect()
    }

    /// The `json` of every output item, in order, checking each `pairedItem` equals its position
    /// (one output per input item).
    pub fn items_in_order(&self) -> Vec<Value> {
        let doc = self.json();
        let items = doc["items"].as_array().expect("\"items\" array").clone();
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                assert_eq!(item["pairedItem"], json!({"item": i}), "output {i} out of order");
                item["json"].clone()
            })
            .collect()
    }

    /// Panics with the whole story unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout_text(),
            self.stderr_text()
        );
        self.assert_no_panic()
    }

    /// Panics if the process reported a Rust panic.
    #[track_caller]
    pub fn assert_no_panic(&self) -> &Self {
        let stderr = self.stderr_text();
        assert!(!stderr.contains("panicked"), "nodehost panicked:\n{stderr}");
        self
    }
}

/// A child started with [`Cmd::spawn`].
#[derive(Debug)]
pub struct Interactive {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Interactive {
    /// Write one line (a newline is added) and flush it.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(line.as_bytes()).expect("write stdin");
        stdin.write_all(b"\n").expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Write bytes as they are (no newline), and flush them. A child that stopped reading
    /// makes this a no-op.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(bytes).and_then(|()| stdin.flush());
        }
    }

    /// Close stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line, or `None` if none came within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The process id, for signals.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal by name (`INT`, `KILL`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait for the exit (panics after `deadline`) and collect the remaining stdout lines and
    /// all of stderr.
    pub fn wait(mut self, deadline: Duration) -> (ExitStatus, Vec<String>, String) {
        self.stdin = None;
        self.collect(deadline)
    }

    /// Wait for the process to exit with its stdin still open, so an interrupt is the only
    /// thing that can end the run (closing stdin would race it as an end of input).
    pub fn wait_with_stdin_open(mut self, deadline: Duration) -> (ExitStatus, Vec<String>, String) {
        let result = self.collect(deadline);
        self.stdin = None;
        result
    }

    fn collect(&mut self, deadline: Duration) -> (ExitStatus, Vec<String>, String) {
        let status = wait_until(&mut self.child, deadline);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let rest: Vec<String> = self.lines.try_iter().collect();
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().expect("stderr reader"))
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        let Some(status) = status else {
            panic!("nodehost did not exit within {deadline:?}; stderr:\n{stderr}");
        };
        (status, rest, stderr)
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        // A test that failed half-way must not leave a process behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A credentials file for `--credentials`.
pub fn credentials_file(dir: &Path, base_url: &str, api_key: &str) -> PathBuf {
    let path = dir.join(format!("creds-{}.json", COUNTER.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, json!({"baseUrl": base_url, "apiKey": api_key}).to_string())
        .expect("write credentials");
    path
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A runtime of its own for servers a test runs in-process, so that tests stay plain `#[test]`
/// functions that block on child processes.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A sandbox running in this process, on a free loopback port, with its own database.
#[derive(Debug)]
pub struct Sandbox {
    runtime: tokio::runtime::Runtime,
    running: Option<RunningSandbox>,
    config: SandboxConfig,
    base_url: String,
    api_key: String,
    http: reqwest::Client,
    /// Keeps a temporary database directory alive as long as the sandbox.
    _dir: Option<tempfile::TempDir>,
}

impl Sandbox {
    /// In-memory database, no faults, no sample clients.
    pub fn memory() -> Self {
        Self::start(SandboxConfig::default(), None)
    }

    /// In-memory database with `seed` deterministic sample clients (ids 1..=seed).
    pub fn seeded(seed: u32) -> Self {
        Self::start(
            SandboxConfig {
                seed,
                ..SandboxConfig::default()
            },
            None,
        )
    }

    /// In-memory database with these faults and sample clients.
    pub fn with_faults(seed: u32, faults: Faults) -> Self {
        Self::start(
            SandboxConfig {
                seed,
                faults,
                ..SandboxConfig::default()
            },
            None,
        )
    }

    /// A database file in a fresh temporary directory (kept until the sandbox is dropped).
    pub fn on_file() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = DbLocation::File(dir.path().join("sandbox.db"));
        Self::start(
            SandboxConfig {
                db,
                ..SandboxConfig::default()
            },
            Some(dir),
        )
    }

    /// Start with `config` (its listen address is replaced by 127.0.0.1:0; a fixed key is
    /// chosen when none is given, so a restart accepts the same key).
    pub fn start(mut config: SandboxConfig, dir: Option<tempfile::TempDir>) -> Self {
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        if config.api_key.is_none() {
            config.api_key = Some(format!(
                "gck_{:064x}",
                u128::from(std::process::id()) << 32 | COUNTER.fetch_add(1, Ordering::Relaxed) as u128
            ));
        }
        let runtime = runtime();
        let running = runtime
            .block_on(gestor_sandbox::start(config.clone()))
            .expect("start sandbox");
        let base_url = running.base_url();
        let api_key = running.api_key().to_owned();
        Self {
            runtime,
            running: Some(running),
            config,
            base_url,
            api_key,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT/api`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The key it accepts.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Where its data lives.
    pub fn db(&self) -> &DbLocation {
        &self.config.db
    }

    /// A credentials file pointing at this sandbox, in `dir`.
    pub fn credentials(&self, dir: &Path) -> PathBuf {
        credentials_file(dir, &self.base_url, &self.api_key)
    }

    /// Stop it (waiting for in-flight requests) and start it again on the same database, key
    /// and faults, on a new port.
    pub fn restart(&mut self) {
        let running = self.running.take().expect("running");
        self.runtime.block_on(running.shutdown()).expect("shutdown");
        let running = self
            .runtime
            .block_on(gestor_sandbox::start(self.config.clone()))
            .expect("restart sandbox");
        self.base_url = running.base_url();
        self.running = Some(running);
    }

    /// Request counts per `METHOD /path` since start (faulted attempts included).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        let url = format!("{}/__sandbox/stats", self.base_url);
        let body: Value = self.runtime.block_on(async {
            self.http
                .get(url)
                .bearer_auth(&self.api_key)
                .send()
                .await
                .expect("stats request")
                .json()
                .await
                .expect("stats body")
        });
        serde_json::from_value(body["requests"].clone()).expect("stats shape")
    }

    /// Requests to one `METHOD /path` (0 when none came).
    pub fn requests(&self, key: &str) -> u64 {
        self.stats().get(key).copied().unwrap_or(0)
    }

    /// Every request that reached the sandbox.
    pub fn total_requests(&self) -> u64 {
        self.stats().values().sum()
    }

    /// Every client record, read over HTTP (retrying through injected faults). The read
    /// itself counts as `GET /api/clients` in the stats.
    pub fn clients(&self) -> Vec<Value> {
        let url = format!("{}/clients", self.base_url);
        self.runtime.block_on(async {
            for _ in 0..100 {
                let response = self
                    .http
                    .get(&url)
                    .bearer_auth(&self.api_key)
                    .send()
                    .await
                    .expect("list request");
                if response.status().is_success() {
                    return response.json::<Vec<Value>>().await.expect("list body");
                }
            }
            panic!("the sandbox never answered GET /clients with 200");
        })
    }

    /// One client by id, `None` on 404.
    pub fn client(&self, id: u64) -> Option<Value> {
        self.clients().into_iter().find(|c| c["id"] == json!(id))
    }
}

/// A `nodehost sandbox` child process on a free port: the real binary, killable with `-9`.
#[derive(Debug)]
pub struct SandboxProcess {
    child: Child,
    /// `http://127.0.0.1:PORT/api`.
    pub base_url: String,
    stderr: Option<JoinHandle<()>>,
}

impl SandboxProcess {
    /// Start `nodehost sandbox --listen 127.0.0.1:0 --db DB --api-key KEY`, wait until it says
    /// where it listens.
    pub fn start(db: &Path, api_key: &str) -> Self {
        let mut child = nodehost(["sandbox", "--listen", "127.0.0.1:0", "--api-key", api_key, "--db"])
            .args([db.as_os_str()])
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nodehost sandbox");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("sandbox listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let base_url = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("`nodehost sandbox` did not report its address");
        Self {
            child,
            base_url,
            stderr: Some(reader),
        }
    }

    /// `kill -9`: no shutdown, no flush, no goodbye.
    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "the sandbox was killed by SIGKILL"
        );
        if let Some(h) = self.stderr.take() {
            let _ = h.join();
        }
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the raw server does with one request, once it has read the request head and body.
#[derive(Debug, Clone)]
pub enum Action {
    /// Reset the connection (TCP RST) without answering.
    Reset,
    /// Send a 200 head announcing a body, then send nothing more and keep the connection open.
    StallAfterHeaders,
    /// Send these bytes verbatim, then close.
    Respond(String),
}

/// One request as the raw server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request line, e.g. `GET /api/clients/7 HTTP/1.1`.
    pub request_line: String,
    /// The whole head, headers included (to check what a client sent).
    pub head: String,
}

type Behaviour = dyn Fn(usize, &Seen) -> Action + Send + Sync;

/// A TCP server speaking just enough HTTP/1.1 to misbehave in precise ways.
#[derive(Debug)]
pub struct RawServer {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl RawServer {
    /// Serve on a free loopback port; `behaviour(n, request)` picks the action for the n-th
    /// request (0-based).
    pub fn start(behaviour: impl Fn(usize, &Seen) -> Action + Send + Sync + 'static) -> Self {
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let runtime = runtime();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_by_server = Arc::clone(&seen);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let behaviour = Arc::clone(&behaviour);
                let seen = Arc::clone(&seen_by_server);
                tokio::spawn(serve_one(stream, behaviour, seen));
            }
        });
        Self { runtime, addr, seen }
    }

    /// `http://127.0.0.1:PORT/api`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Request lines received so far.
    pub fn request_lines(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.request_line).collect()
    }

    /// Stop serving.
    pub fn stop(self) {
        self.runtime.shutdown_background();
    }
}

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    behaviour: Arc<Behaviour>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    // One request per connection: every answer says `Connection: close`.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = Seen {
        request_line: head.lines().next().unwrap_or_default().to_owned(),
        head,
    };
    let n = {
        let mut seen = seen.lock().unwrap();
        seen.push(request.clone());
        seen.len() - 1
    };
    match behaviour(n, &request) {
        Action::Reset => {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Action::StallAfterHeaders => {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
                )
                .await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Action::Respond(text) => {
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A complete HTTP/1.1 answer with a body and `Connection: close`.
pub fn http_response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A free loopback port with nothing listening on it (connections are refused).
pub fn refused_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/api")
}

/// A fresh temporary directory for credentials files and databases.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
