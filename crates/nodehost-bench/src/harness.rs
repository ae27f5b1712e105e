//! What every benchmark shares: an in-process sandbox to talk to, input files, and running
//! either client (the `nodehost` binary or our own `nodehost-raw-client`) as a whole process on them,
//! checking that it succeeded and wrote one answer per item.
//!
//! The sandbox lives in this process, not in a child: then `wait4` reports the client alone,
//! and this process's own CPU time while a client runs is the sandbox's work.

use std::fmt;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};

use crate::measure::{self, Measured};

/// Key the benchmark sandboxes accept.
pub const API_KEY: &str = "gck_nodehost_bench";
/// Sample clients in every sandbox; items ask for ids 1..=SEEDED in turn.
pub const SEEDED: u32 = 1_000;
/// The node under test.
const NODE: &str = "gestorClientesMaxCliente";

/// Which program makes the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// `nodehost run gestorClientesMaxCliente`.
    Nodehost,
    /// `nodehost-raw-client`: reqwest and nothing else.
    Raw,
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Client::Nodehost => "nodehost",
            Client::Raw => "raw reqwest",
        })
    }
}

/// How items are laid out in the input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON array in, one `{"items": [...]}` document out.
    Document,
    /// One item per line in and out (`--ndjson`).
    Lines,
}

/// The shared state of one benchmark session.
#[derive(Debug)]
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    nodehost: PathBuf,
    /// `nodehost-raw-client`, beside this executable.
    raw: PathBuf,
    me: PathBuf,
}

/// A sandbox serving on the harness's runtime until dropped.
#[derive(Debug)]
pub struct Sandbox {
    running: Option<gestor_sandbox::RunningSandbox>,
    base_url: String,
}

impl Sandbox {
    /// Its API root (with `/api`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Harness {
    /// Finds both programs and makes a scratch directory. `nodehost` defaults to the binary
    /// beside this one (`target/release/nodehost`).
    pub fn new(nodehost: Option<PathBuf>) -> anyhow::Result<Self> {
        let me = std::env::current_exe().context("cannot find this executable")?;
        let nodehost = match nodehost {
            Some(p) => p,
            None => me.with_file_name("nodehost"),
        };
        ensure!(
            nodehost.is_file(),
            "{} not found: build it first with `cargo build --release -p nodehost-cli -p nodehost-bench`, or pass --nodehost PATH",
            nodehost.display()
        );
        let raw = me.with_file_name("nodehost-raw-client");
        ensure!(
            raw.is_file(),
            "{} not found: build it first with `cargo build --release -p nodehost-cli -p nodehost-bench`",
            raw.display()
        );
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let dir = tempfile::Builder::new().prefix("nodehost-bench").tempdir()?;
        Ok(Self {
            runtime,
            dir,
            nodehost,
            raw,
            me,
        })
    }

    /// Starts a sandbox on a free loopback port, in memory, seeded with `SEEDED` clients,
    /// adding `latency` to every answer.
    pub fn sandbox(&self, latency: Duration) -> anyhow::Result<Sandbox> {
        let config = gestor_sandbox::SandboxConfig {
            listen: "127.0.0.1:0".parse()?,
            db: gestor_sandbox::DbLocation::Memory,
            api_key: Some(API_KEY.to_owned()),
            seed: SEEDED,
            faults: gestor_sandbox::Faults {
                latency,
                ..gestor_sandbox::Faults::default()
            },
            limits: gestor_sandbox::Limits::default(),
        };
        let running = self
            .runtime
            .block_on(gestor_sandbox::start(config))
            .context("cannot start the sandbox")?;
        Ok(Sandbox {
            base_url: running.base_url(),
            running: Some(running),
        })
    }

    /// Stops a sandbox and waits for it to be gone.
    pub fn stop(&self, mut sandbox: Sandbox) {
        if let Some(running) = sandbox.running.take() {
            // A failing shutdown changes nothing about the figures already taken.
            let _ = self.runtime.block_on(running.shutdown());
        }
    }

    /// The `nodehost` binary under test.
    pub fn nodehost(&self) -> &Path {
        &self.nodehost
    }

    /// The raw client the benchmarks compare it with.
    pub fn raw_client(&self) -> &Path {
        &self.raw
    }

    /// The harness's runtime, for benchmarks that drive HTTP themselves.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// `nodehost run NODE` on one item read from stdin, with the sandbox's credentials in the
    /// environment, as a process to spawn.
    pub fn run_one(&self, sandbox: &Sandbox) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.nodehost);
        cmd.args(["run", NODE])
            .env("GESTOR_CLIENTES_MAX_BASE_URL", &sandbox.base_url)
            .env("GESTOR_CLIENTES_MAX_API_KEY", API_KEY)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd
    }

    /// `nodehost serve` on a free loopback port with the sandbox's credentials in the
    /// environment; returns the process and its base URL.
    pub fn serve(&self, sandbox: &Sandbox) -> anyhow::Result<(std::process::Child, String)> {
        use std::io::BufRead as _;
        let mut child = Command::new(&self.nodehost)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("GESTOR_CLIENTES_MAX_BASE_URL", &sandbox.base_url)
            .env("GESTOR_CLIENTES_MAX_API_KEY", API_KEY)
            .env_remove("RUST_LOG")
            .env_remove("NODEHOST_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(File::create(self.dir.path().join("serve.err"))?))
            .spawn()
            .context("cannot start nodehost serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let listening: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("nodehost serve printed {line:?}"))?;
        let base = listening["listening"]
            .as_str()
            .context("no `listening` line from nodehost serve")?
            .to_owned();
        Ok((child, base))
    }

    /// Writes `n` Get-By-ID items (ids 1..=SEEDED in turn) and returns the file.
    pub fn input(&self, n: usize, format: Format) -> anyhow::Result<PathBuf> {
        let name = match format {
            Format::Document => format!("get-{n}.json"),
            Format::Lines => format!("get-{n}.ndjson"),
        };
        let path = self.dir.path().join(name);
        if path.exists() {
            return Ok(path);
        }
        let mut out = std::io::BufWriter::new(File::create(&path)?);
        if format == Format::Document {
            out.write_all(b"[")?;
        }
        for i in 0..n {
            let id = i % SEEDED as usize + 1;
            if format == Format::Document && i > 0 {
                out.write_all(b",")?;
            }
            write!(out, "{{\"operation\":\"get\",\"clientId\":{id}}}")?;
            if format == Format::Lines {
                out.write_all(b"\n")?;
            }
        }
        if format == Format::Document {
            out.write_all(b"]")?;
        }
        out.flush()?;
        Ok(path)
    }

    /// Runs `client` once on `input` against `sandbox` and measures it; fails unless it exited
    /// 0 and wrote exactly `items` answers.
    pub fn run(
        &self,
        client: Client,
        sandbox: &Sandbox,
        input: &Path,
        format: Format,
        concurrency: usize,
        items: usize,
    ) -> anyhow::Result<Measured> {
        let rss_report = self.dir.path().join("rss");
        let wrapper = (format == Format::Lines).then(|| {
            // Peak RSS is only read for streaming runs, through the probe (see `measure`).
            let mut probe = Command::new(&self.me);
            probe.arg("rss-probe").arg("--report").arg(&rss_report).arg("--");
            probe
        });
        let mut cmd = self.command(client, wrapper, sandbox, input, format, concurrency)?;
        let mut measured = measure::run(&mut cmd).with_context(|| format!("cannot run {client}"))?;
        if format == Format::Lines {
            measured.max_rss_kib = std::fs::read_to_string(&rss_report)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .context("the rss probe reported nothing")?;
        }
        self.check(client, measured.status, format, items)?;
        Ok(measured)
    }

    /// Runs `client` once on `input` behind `/usr/bin/time -f %M` and returns the run with the
    /// peak RSS GNU time reports (KiB). GNU time forks, so the child starts from time's own
    /// ~2 MiB, not from this process's (see `measure`): the floor a small client needs.
    pub fn run_timed(
        &self,
        client: Client,
        sandbox: &Sandbox,
        input: &Path,
        format: Format,
        concurrency: usize,
        items: usize,
    ) -> anyhow::Result<Measured> {
        let report = self.dir.path().join("time");
        let mut cmd = self.command(
            client,
            Some(gnu_time(&report)),
            sandbox,
            input,
            format,
            concurrency,
        )?;
        let mut measured = measure::run(&mut cmd).with_context(|| format!("cannot run {client}"))?;
        measured.max_rss_kib = read_gnu_time(&report)?;
        self.check(client, measured.status, format, items)?;
        Ok(measured)
    }

    /// Runs `nodehost ARGS` (a command that makes no request) behind GNU time; fails unless it
    /// exits 0. Returns the run with its peak RSS and how many bytes it printed.
    pub fn nodehost_timed(&self, args: &[&str]) -> anyhow::Result<(Measured, u64)> {
        let report = self.dir.path().join("time");
        let out = self.dir.path().join("out");
        let mut cmd = gnu_time(&report);
        cmd.arg(&self.nodehost)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(File::create(&out)?))
            .stderr(Stdio::from(File::create(self.dir.path().join("err"))?));
        let mut measured = measure::run(&mut cmd).with_context(|| format!("cannot run nodehost {args:?}"))?;
        measured.max_rss_kib = read_gnu_time(&report)?;
        if !measured.status.success() {
            let stderr = std::fs::read_to_string(self.dir.path().join("err")).unwrap_or_default();
            bail!(
                "nodehost {args:?} failed ({}): {}",
                measured.status,
                stderr.trim()
            );
        }
        let printed = std::fs::metadata(&out)?.len();
        Ok((measured, printed))
    }

    /// Starts `client` on `input` against `sandbox` (which should add latency) and returns the
    /// child, for sampling `/proc/PID/smaps_rollup` while its request waits.
    pub fn spawn(
        &self,
        client: Client,
        sandbox: &Sandbox,
        input: &Path,
        concurrency: usize,
    ) -> anyhow::Result<std::process::Child> {
        let mut cmd = self.command(client, None, sandbox, input, Format::Document, concurrency)?;
        Ok(cmd.spawn()?)
    }

    /// Runs `client` once on `input` under `valgrind --tool=callgrind` and returns the
    /// instructions it executed (all threads, user space): a count that, unlike time, does
    /// not depend on what else the machine is doing. Same checks as [`Harness::run`].
    pub fn instructions(
        &self,
        client: Client,
        sandbox: &Sandbox,
        input: &Path,
        concurrency: usize,
        items: usize,
    ) -> anyhow::Result<u64> {
        let profile = self.dir.path().join("callgrind.out");
        let mut valgrind = Command::new("valgrind");
        valgrind
            .arg("--tool=callgrind")
            .arg("--quiet")
            .arg(format!("--callgrind-out-file={}", profile.display()));
        let mut cmd = self.command(
            client,
            Some(valgrind),
            sandbox,
            input,
            Format::Document,
            concurrency,
        )?;
        let status = cmd
            .status()
            .with_context(|| format!("cannot run valgrind on {client}: is valgrind installed?"))?;
        self.check(client, status, Format::Document, items)?;
        let text = std::fs::read_to_string(&profile).context("callgrind wrote no profile")?;
        std::fs::remove_file(&profile)?;
        callgrind_total(&text).context("the callgrind profile has no total")
    }

    /// The command line that runs `client` (behind `wrapper`, if any) with the sandbox's
    /// credentials, `input` on stdin and stdout/stderr to scratch files.
    fn command(
        &self,
        client: Client,
        wrapper: Option<Command>,
        sandbox: &Sandbox,
        input: &Path,
        format: Format,
        concurrency: usize,
    ) -> anyhow::Result<Command> {
        let (program, subcommand): (&Path, &[&str]) = match client {
            Client::Nodehost => (&self.nodehost, &["run", NODE]),
            Client::Raw => (&self.raw, &[]),
        };
        let mut cmd = match wrapper {
            Some(mut wrapper) => {
                wrapper.arg(program);
                wrapper
            }
            None => Command::new(program),
        };
        cmd.args(subcommand);
        cmd.args(["--concurrency", &concurrency.to_string()]);
        if format == Format::Lines {
            cmd.arg("--ndjson");
        }
        cmd.env("GESTOR_CLIENTES_MAX_BASE_URL", &sandbox.base_url)
            .env("GESTOR_CLIENTES_MAX_API_KEY", API_KEY)
            .env_remove("RUST_LOG")
            .stdin(Stdio::from(File::open(input)?))
            .stdout(Stdio::from(File::create(self.dir.path().join("out"))?))
            .stderr(Stdio::from(File::create(self.dir.path().join("err"))?));
        Ok(cmd)
    }

    /// Fails unless the run exited 0 and wrote exactly `items` answers; removes its output.
    fn check(&self, client: Client, status: ExitStatus, format: Format, items: usize) -> anyhow::Result<()> {
        let out_path = self.dir.path().join("out");
        let stderr = std::fs::read_to_string(self.dir.path().join("err")).unwrap_or_default();
        if !status.success() {
            bail!("{client} failed ({status}): {}", stderr.trim());
        }
        let answers = match format {
            Format::Document => count(&std::fs::read(&out_path)?, b"\"pairedItem\""),
            // Streamed outputs are large: count lines without holding them (a large RSS here
            // would also show up in the next child's, see `measure`).
            Format::Lines => {
                let mut reader = std::io::BufReader::new(File::open(&out_path)?);
                let mut lines = 0;
                loop {
                    let chunk = std::io::BufRead::fill_buf(&mut reader)?;
                    if chunk.is_empty() {
                        break;
                    }
                    lines += chunk.iter().filter(|&&b| b == b'\n').count();
                    let n = chunk.len();
                    std::io::BufRead::consume(&mut reader, n);
                }
                lines
            }
        };
        std::fs::remove_file(&out_path)?;
        ensure!(
            answers == items,
            "{client} wrote {answers} answers for {items} items: {}",
            stderr.trim()
        );
        Ok(())
    }
}

/// The instruction total of a callgrind profile: its `totals:` line (or `summary:`, which
/// older valgrinds write instead), the first event being `Ir`.
/// `/usr/bin/time -f %M -o REPORT`, ready for the program and its arguments.
fn gnu_time(report: &Path) -> Command {
    let mut time = Command::new("/usr/bin/time");
    time.arg("-f").arg("%M").arg("-o").arg(report);
    time
}

/// The peak RSS (KiB) GNU time wrote; says how to install it when it is missing.
fn read_gnu_time(report: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(report)
        .context("GNU time wrote no report (install it: sudo apt-get install -y time)")?;
    gnu_time_kib(&text).with_context(|| format!("GNU time wrote {text:?}"))
}

/// The `%M` figure of a GNU time report: its last line (a failing command makes time write
/// "Command exited with non-zero status N" before it).
fn gnu_time_kib(report: &str) -> Option<u64> {
    report.lines().next_back()?.trim().parse().ok()
}

fn callgrind_total(profile: &str) -> Option<u64> {
    profile.lines().find_map(|line| {
        let rest = line
            .strip_prefix("totals:")
            .or_else(|| line.strip_prefix("summary:"))?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

/// The load average of the machine, to print beside every set of figures.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_instruction_total_of_a_callgrind_profile() {
        let profile =
            "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=(1) main\n0 12\ntotals: 164808186\n";
        assert_eq!(callgrind_total(profile), Some(164_808_186));
        assert_eq!(callgrind_total("events: Ir\nsummary: 42\n"), Some(42));
        assert_eq!(callgrind_total("events: Ir\n"), None);
    }

    #[test]
    fn reads_the_peak_rss_of_a_gnu_time_report() {
        assert_eq!(gnu_time_kib("9368\n"), Some(9368));
        assert_eq!(
            gnu_time_kib("Command exited with non-zero status 2\n17808\n"),
            Some(17808)
        );
        assert_eq!(gnu_time_kib("Command terminated by signal 9\n"), None);
        assert_eq!(gnu_time_kib(""), None);
    }
}
