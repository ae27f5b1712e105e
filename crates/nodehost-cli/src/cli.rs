//! Command-line interface: the commands, their flags and their help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::sandbox_cmd::SandboxArgs;

/// nodehost: run workflow nodes from the command line. JSON in on stdin, JSON out on stdout;
/// logs and messages on stderr.
#[derive(Debug, Parser)]
#[command(name = "nodehost", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Exit status: 0 the run completed (error items under --continue-on-fail included), \
1 an item failure stopped the run, 2 unusable input or invocation.\n\n\
Try it on a local emulator:\n  echo '{\"operation\":\"create\",\"name\":\"Ana\"}' | nodehost run gestorClientesMaxCliente --sandbox"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub plugins: PluginArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How logs and messages look on stderr.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Log and message lines on stderr: `text` for people, `json` (one object per line, with
    /// timestamp, level, target, message and the run's fields) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "NODEHOST_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// No progress display.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

/// The format of stderr lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where registered plugins are kept, and how long one may take to start.
#[derive(Debug, Args, Clone)]
pub struct PluginArgs {
    /// The plugin registry file (default: `$XDG_CONFIG_HOME/nodehost/plugins.json` or
    /// `~/.config/nodehost/plugins.json`).
    #[arg(long, global = true, value_name = "FILE", env = "NODEHOST_PLUGINS")]
    pub plugins: Option<PathBuf>,
    /// Seconds a plugin may take to answer `initialize`.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10.0)]
    pub plugin_init_timeout: f64,
}

// `defer`: a subcommand's arguments are built only when the command line enters it, so a
// `run` does not build `serve`'s, `worker`'s and the rest (a third of the parser's start-up;
// BENCHMARKS.md, "Lean"). Help, completions and man pages build them all as before. A
// deferred subcommand adds its arguments after its own about, so a flattened argument struct
// must not have a doc comment: clap would make it the about of every subcommand that flattens it.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// List every registered node as a JSON array.
    #[command(after_help = "Example:\n  nodehost list")]
    List,
    /// Print a node's definition (identical to node-definitions/NODE.json).
    #[command(after_help = "Examples:\n  nodehost describe gestorClientesMaxCliente\n  \
nodehost describe --all --write node-definitions/")]
    Describe(DescribeArgs),
    /// Print the JSON Schema of one input item.
    #[command(after_help = "Examples:\n  nodehost schema gestorClientesMaxCliente\n  \
nodehost schema gestorClientesMaxCliente --operation create")]
    Schema(SchemaArgs),
    /// Execute a node on items read from stdin (or --input) and write output items to stdout.
    #[command(after_help = "Examples:\n  \
echo '[{\"operation\":\"get\",\"clientId\":7}]' | nodehost run gestorClientesMaxCliente\n  \
nodehost run gestorClientesMaxCliente --sandbox --input examples/tour.json\n  \
nodehost run gestorClientesMaxCliente --ndjson --concurrency 16 < items.ndjson > out.ndjson\n\n\
Input: an array of items, one item object, or {\"parameters\": {..}, \"items\": [..], \"credentials\": {..}, \
\"continueOnFail\": bool}. An item is {\"json\": {..}} or a plain object.\n\
Output: {\"items\": [{\"json\": {..}, \"pairedItem\": {\"item\": N}}, ..]} plus \"error\" when the run stopped.")]
    Run(RunArgs),
    /// Check credentials against the remote service.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Serve every node operation as an MCP tool for AI agents, over stdio.
    #[command(after_help = "Examples:\n  nodehost mcp --sandbox\n  \
nodehost mcp --credentials creds.json --read-only\n  \
nodehost mcp --credentials creds.json --tools 'gestorClientesMaxCliente_get*'\n\n\
Tools are named <node>_<operation>. Credentials come from --credentials or the environment, \
never from the client. Stdout carries only MCP messages; logs go to stderr.")]
    Mcp(McpArgs),
    /// Serve the nodes over HTTP (JSON), for engines in any language.
    #[command(after_help = "Examples:\n  nodehost serve --sandbox\n  \
NODEHOST_TOKEN=$(cat token) nodehost serve --listen 0.0.0.0:5900 --credentials creds.json\n\n\
Endpoints: GET /v1/nodes, GET /v1/nodes/NAME, GET /v1/nodes/NAME/schema[?operation=OP], \
POST /v1/nodes/NAME/run[?concurrency=N] (body: the envelope `run` reads), POST /mcp (MCP, \
Streamable HTTP), GET /healthz, GET /readyz, GET /metrics, GET /openapi.json. \
Every /v1 and /mcp request needs `Authorization: Bearer TOKEN` when a token is set (--token-file or \
NODEHOST_TOKEN); a non-loopback --listen without a token is refused.")]
    Serve(ServeArgs),
    /// Take jobs from a NATS JetStream queue and run them (a pool of stateless workers).
    #[command(after_help = "Examples:\n  nats-server -js &\n  \
nodehost worker --nats nats://127.0.0.1:4222 --credentials creds.json --jobs 4\n\n\
A job is the envelope `run` reads plus \"jobId\" and \"node\", published on --subject (see \
`nodehost submit`). Each item's outcome is journaled in --bucket as it happens; a job whose \
worker died is redelivered and resumes: applied items are not sent again, and items in flight \
are re-run only when idempotent (otherwise reported maybeApplied). The result (the run \
document plus jobId, node, worker, delivery) is published on --results-subject.JOB_ID before \
the job is acknowledged. SIGTERM: no new job is taken, running jobs finish (--drain).")]
    Worker(WorkerArgs),
    /// Publish a job for the workers; with --wait, print its result and exit as `run` does.
    #[command(after_help = "Examples:\n  \
echo '[{\"operation\":\"get\",\"clientId\":1}]' | nodehost submit gestorClientesMaxCliente --wait\n  \
nodehost submit gestorClientesMaxCliente --input batch.json --job-id import-0042\n\n\
Input: what `run` reads (an array of items, one item, or an envelope). The same --job-id \
submitted twice is one job. Exit status with --wait: 0 the job completed, 1 it stopped on an \
item failure or was dead-lettered, 2 unusable input or no connection.")]
    Submit(SubmitArgs),
    /// Write the generated nodes and credential types of the n8n community package.
    #[command(after_help = "Example:\n  nodehost n8n --write integrations/n8n\n\n\
Every registered node (plugins included) becomes nodes/CLASS/CLASS.node.js and every credential \
type credentials/CLASS.credentials.js; the `n8n` member of DIR/package.json lists them. DIR must \
be the package (integrations/n8n/ of the nodehost repository, or a copy), whose runtime the \
generated nodes use.")]
    N8n(N8nArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(
        after_help = "Examples:\n  nodehost completions bash > ~/.local/share/bash-completion/completions/nodehost\n  \
nodehost completions zsh > ~/.zfunc/_nodehost\n  \
nodehost completions fish > ~/.config/fish/completions/nodehost.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page, or write every man page into a directory.
    #[command(after_help = "Examples:\n  nodehost man | man -l -\n  nodehost man --write man/")]
    Man(ManArgs),
    /// Register, list, remove and check plugins: nodes from other executables.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Start a local emulator of a service nodes call (the Gestor Clientes Max API's, built in).
    #[command(
        after_help = "Examples:\n  nodehost sandbox\n  nodehost sandbox --listen 127.0.0.1:0 --db :memory: --seed 20"
    )]
    Sandbox(SandboxArgs),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum PluginCommand {
    /// Start a plugin, check its definitions and register it, so its nodes are listed,
    /// described and run like built-in ones.
    #[command(
        after_help = "Examples:\n  nodehost plugin add examples/plugins/keyvalue.py\n  \
nodehost plugin add python3 -- examples/plugins/keyvalue.py"
    )]
    Add(PluginTarget),
    /// List registered plugins (without starting them).
    #[command(after_help = "Example:\n  nodehost plugin list")]
    List,
    /// Remove a registered plugin by its name.
    #[command(after_help = "Example:\n  nodehost plugin remove keyvalue")]
    Remove(PluginName),
    /// Check that a plugin follows the protocol: handshake, definitions, an execute round trip
    /// of a read-only operation, and its answers to bad requests.
    #[command(
        after_help = "Examples:\n  nodehost plugin check examples/plugins/keyvalue.py \\\n    \
--credentials <(echo '{\"token\": \"t0ken-example\"}')"
    )]
    Check(PluginCheckArgs),
}

// A plugin executable and its arguments.
// (Not a doc comment: see `defer` on `cli::Command`.)
#[derive(Debug, Args, Clone)]
pub struct PluginTarget {
    /// The plugin executable: a path, or a command found on PATH.
    pub program: PathBuf,
    /// Arguments the plugin is started with, after `--`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PluginName {
    /// The plugin's name, as `nodehost plugin list` shows it.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct PluginCheckArgs {
    #[command(flatten)]
    pub target: PluginTarget,
    /// Credentials (a JSON file) for nodes that need them; without, their round trip is skipped.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command (`nodehost.1`, `nodehost-run.1`, ...) into DIR.
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Offer only these nodes (names or globs, comma-separated or repeated).
    #[arg(long, value_name = "NODES", value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Offer only these tools (names or globs like `*_get*`, comma-separated or repeated).
    #[arg(long, value_name = "TOOLS", value_delimiter = ',')]
    pub tools: Vec<String>,
    /// Offer only operations that change nothing.
    #[arg(long)]
    pub read_only: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5900")]
    pub listen: std::net::SocketAddr,
    /// File holding the bearer token every /v1 and /mcp request must carry (else NODEHOST_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Largest request body, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_body_mib: u64,
    /// Most items one run may hold.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_items: u64,
    /// Most items of one run executing at once (a request's `?concurrency=` is capped by it).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_concurrency: u32,
    /// Most runs at once; one more is answered 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_runs: u32,
    /// Longest one run may take, in seconds; past it the items in flight are given up.
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub run_deadline: f64,
    /// After SIGTERM, seconds running runs may take to finish before they are given up.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub drain: f64,
    /// Seconds a connection may sit idle (between requests, or while a request's headers or
    /// body are being sent) before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub idle_timeout: f64,
    /// Print the OpenAPI 3.1 document of the endpoints (what GET /openapi.json answers) and exit.
    #[arg(long)]
    pub openapi: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

// Where the queue is and what its parts are called (`worker` and `submit` must agree).
// (Not a doc comment: see `defer` on `cli::Command`.)
#[derive(Debug, Args, Clone)]
pub struct NatsArgs {
    /// The NATS server (JetStream enabled: `nats-server -js`).
    #[arg(
        long,
        value_name = "URL",
        env = "NODEHOST_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats: String,
    /// The work-queue stream of jobs (created if missing; results go to STREAM_RESULTS).
    #[arg(long, value_name = "NAME", default_value = "NODEHOST_JOBS")]
    pub stream: String,
    /// The subject jobs are published on.
    #[arg(long, value_name = "SUBJECT", default_value = "nodehost.jobs")]
    pub subject: String,
    /// Results are published on SUBJECT.JOB_ID.
    #[arg(long, value_name = "SUBJECT", default_value = "nodehost.results")]
    pub results_subject: String,
    /// Dead-lettered jobs (with the last error) are published on SUBJECT.JOB_ID.
    #[arg(long, value_name = "SUBJECT", default_value = "nodehost.dead")]
    pub dead_letter_subject: String,
    /// The key-value bucket journaling each item's outcome.
    #[arg(long, value_name = "NAME", default_value = "nodehost-items")]
    pub bucket: String,
    /// Seconds within which a second submission of the same job id is dropped (on stream creation).
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub duplicate_window: f64,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// The durable consumer every worker of the pool shares.
    #[arg(long, value_name = "NAME", default_value = "nodehost-workers")]
    pub consumer: String,
    /// Jobs this worker runs at once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// Items executing at once within one job (as `run --concurrency`).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Deliveries of a job before it goes to the dead-letter subject (its workers kept dying).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_deliver: i64,
    /// Seconds without an acknowledgement before JetStream redelivers a job (a running job
    /// sends in-progress acknowledgements every third of it). Set on consumer creation.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub ack_wait: f64,
    /// Seconds running jobs get to finish after SIGTERM; the unfinished are left to others.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub drain: f64,
    /// This worker's name in results and logs (default: HOSTNAME-PID).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Node name (see `nodehost list`).
    pub node: String,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Read the input from FILE instead of stdin.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// The job's id (letters, digits, `-`, `_`); a second submission of it is the same job.
    /// Default: a random one.
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,
    /// Failing items become error items (unless the envelope says otherwise).
    #[arg(long)]
    pub continue_on_fail: bool,
    /// Wait for the result, print it, and exit 0 (completed) or 1 (stopped, dead-lettered).
    #[arg(long)]
    pub wait: bool,
    /// With --wait, give up waiting after SECS (the job stays queued).
    #[arg(long, value_name = "SECS", requires = "wait")]
    pub timeout: Option<f64>,
    /// Indent the JSON output.
    #[arg(long)]
    pub pretty: bool,
}

#[derive(Debug, Args)]
pub struct N8nArgs {
    /// The n8n package directory to write into (it must hold the package's package.json).
    #[arg(long, value_name = "DIR")]
    pub write: PathBuf,
    /// Include the nodes of registered plugins (by default only the built-in nodes, so a
    /// machine's plugins never leak into a generated package).
    #[arg(long)]
    pub with_plugins: bool,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Node name (see `nodehost list`).
    #[arg(required_unless_present = "all")]
    pub node: Option<String>,
    /// Describe every node and credential type.
    #[arg(long)]
    pub all: bool,
    /// Write one JSON file per node and per credential type into DIR instead of printing
    /// (the built-in nodes only, unless --with-plugins).
    #[arg(long, value_name = "DIR", requires = "all")]
    pub write: Option<PathBuf>,
    /// With --write, include the nodes of registered plugins.
    #[arg(long, requires = "write")]
    pub with_plugins: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Node name.
    pub node: String,
    /// Only this operation's parameters.
    #[arg(long)]
    pub operation: Option<String>,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum CredentialsCommand {
    /// Call the service's credential check and say who the key belongs to.
    #[command(
        after_help = "Examples:\n  nodehost credentials test gestorClientesMaxCliente --credentials creds.json\n  \
nodehost credentials test gestorClientesMaxCliente --sandbox"
    )]
    Test(CredentialsTestArgs),
}

#[derive(Debug, Args)]
pub struct CredentialsTestArgs {
    /// Node name.
    pub node: String,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

// Where credentials come from and how the node talks to its service.
// (Not a doc comment: see `defer` on `cli::Command`.)
#[derive(Debug, Args, Clone)]
pub struct ConnectionArgs {
    /// Credentials as a JSON file (used when the input envelope has none).
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Start a local emulator of the service the node calls (one the registered nodes offer)
    /// and point the credentials at it.
    #[arg(long)]
    pub sandbox: bool,
    /// Data file of the embedded emulator, kept between runs (default: a fresh
    /// `run-sandbox-CREDENTIAL_TYPE.db` beside the `nodehost sandbox` data files, seeded with
    /// 3 sample records).
    #[arg(long, value_name = "PATH", requires = "sandbox")]
    pub sandbox_db: Option<String>,
    /// Seconds allowed to connect.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Seconds allowed for one request attempt, body included.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
    /// Attempts per request, the first included (1 disables retries); retries also stop at the
    /// item's deadline.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_tries: u32,
    /// Backoff before the first retry, in milliseconds (doubles each retry, full jitter).
    #[arg(long, value_name = "MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub backoff_base_ms: u64,
    /// Longest wait between attempts, in milliseconds (Retry-After included).
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub backoff_cap_ms: u64,
    /// Longest one item may take, in seconds, attempts and backoff included; past it the item
    /// fails (a write among them is reported as maybe applied).
    #[arg(long, value_name = "SECS", default_value_t = 15.0)]
    pub deadline: f64,
    /// Cap on requests per second across the run, e.g. `20/s` or `20`.
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    pub rate_limit: Option<f64>,
    /// Allow plain http:// to a non-loopback host (the API key would travel in clear).
    #[arg(long)]
    pub allow_insecure_http: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Node name (see `nodehost list`).
    pub node: String,
    /// Run a node of this plugin executable without registering it.
    #[arg(long, value_name = "PATH")]
    pub plugin: Option<PathBuf>,
    /// An argument to start the --plugin executable with (repeatable).
    #[arg(long, value_name = "ARG", requires = "plugin", allow_hyphen_values = true)]
    pub plugin_arg: Vec<String>,
    /// Read input from FILE instead of stdin.
    #[arg(long, short, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Read one item per line and write one output item per line, streaming.
    #[arg(long)]
    pub ndjson: bool,
    /// Turn failing items into error items instead of stopping the run.
    #[arg(long)]
    pub continue_on_fail: bool,
    /// Items executing at once; items on the same record still run in input order.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Node-level parameters as a JSON object, applied to items that do not set them.
    #[arg(long, value_name = "JSON")]
    pub parameters: Option<String>,
    /// Drop fields no operation takes instead of rejecting the item.
    #[arg(long)]
    pub ignore_unknown_fields: bool,
    /// Pretty-print the output document (not with --ndjson).
    #[arg(long, conflicts_with = "ndjson")]
    pub pretty: bool,
    /// Validate everything and print, per item, the requests it would send (the key redacted),
    /// sending no write; reads a node needs in order to decide (an upsert's search) are sent
    /// and marked `"sent": true`.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let number = s.trim().trim_end_matches("/s").trim();
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!(
            "expected a positive number of requests per second like `20/s`, got `{s}`"
        )),
    }
}
