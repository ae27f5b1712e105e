//! Where a run's credentials come from (embedded sandbox, envelope, `--credentials FILE`,
//! environment) and the HTTP options built from flags.

use std::io::Read as _;
use std::time::Duration;

use nodehost_core::{HostedNode, SessionOptions};
use nodehost_http::{HttpOptions, RetryPolicy};
use serde_json::{Map, Value};

use crate::CliError;
use crate::cli::ConnectionArgs;

/// Largest credentials file read.
const MAX_CREDENTIALS_FILE: u64 = 1024 * 1024;

/// The item deadline from `--deadline`.
pub fn item_deadline(args: &ConnectionArgs) -> Result<Duration, CliError> {
    if args.deadline.is_finite() && args.deadline > 0.0 && args.deadline <= 86_400.0 {
        Ok(Duration::from_secs_f64(args.deadline))
    } else {
        Err(CliError::usage(format!(
            "--deadline must be between 0 and 86400 seconds, got {}",
            args.deadline
        )))
    }
}

/// A `--FLAG SECS` value: more than 0 and at most a day.
pub fn seconds(flag: &str, v: f64) -> Result<Duration, CliError> {
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(CliError::usage(format!(
            "--{flag} must be between 0 and 86400 seconds, got {v}"
        )))
    }
}

/// Session options from the connection flags.
pub fn session_options(args: &ConnectionArgs) -> Result<SessionOptions, CliError> {
    let secs = seconds;
    if args.backoff_base_ms > args.backoff_cap_ms {
        return Err(CliError::usage(
            "--backoff-base-ms must not exceed --backoff-cap-ms",
        ));
    }
    let retry = RetryPolicy {
        max_tries: args.max_tries,
        base: Duration::from_millis(args.backoff_base_ms),
        cap: Duration::from_millis(args.backoff_cap_ms),
    };
    // The policy alone is what the host's retries of plugin items read.
    Ok(SessionOptions::new().with(retry).with(HttpOptions {
        connect_timeout: secs("connect-timeout", args.connect_timeout)?,
        request_timeout: secs("timeout", args.timeout)?,
        retry,
        rate_limit_per_second: args.rate_limit,
        allow_insecure_http: args.allow_insecure_http,
        ..HttpOptions::default()
    }))
}

/// Sample clients in a fresh embedded sandbox (ids 1 to 3).
pub const SEED_CLIENTS: u32 = 3;

/// The data file `run --sandbox` starts afresh each time.
pub fn run_sandbox_db_path() -> std::path::PathBuf {
    crate::sandbox_cmd::default_db_path().with_file_name("run-sandbox.db")
}

/// An embedded sandbox kept alive for the duration of a run.
pub struct EmbeddedSandbox {
    running: gestor_sandbox::RunningSandbox,
}

impl EmbeddedSandbox {
    /// Start it on a free loopback port. Without `db`, it starts from a fresh data file
    /// (`run-sandbox.db` beside the `nodehost sandbox` data file) seeded with
    /// [`SEED_CLIENTS`] sample clients, so the same input gives the same output every time.
    pub async fn start(db: Option<&str>) -> Result<Self, CliError> {
        let db = match db {
            Some(":memory:") => gestor_sandbox::DbLocation::Memory,
            Some(path) => gestor_sandbox::DbLocation::File(path.into()),
            None => {
                let path = run_sandbox_db_path();
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    match std::fs::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(CliError::usage(format!(
                                "cannot reset the sandbox data file {}: {e}",
                                path.display()
                            )));
                        }
                    }
                }
                gestor_sandbox::DbLocation::File(path)
            }
        };
        // `gestor_sandbox::start` creates the data file's directory (owner-only file).
        let place = match &db {
            gestor_sandbox::DbLocation::File(p) => p.display().to_string(),
            gestor_sandbox::DbLocation::Memory => "memory".to_owned(),
        };
        let config = gestor_sandbox::SandboxConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            db,
            seed: SEED_CLIENTS,
            ..gestor_sandbox::SandboxConfig::default()
        };
        let running = gestor_sandbox::start(config)
            .await
            .map_err(|e| CliError::usage(format!("cannot start the embedded sandbox: {e}")))?;
        crate::stderr::say(format!(
            "embedded sandbox at {} (data: {place})",
            running.base_url()
        ));
        Ok(Self { running })
    }

    /// Credentials pointing at it.
    pub fn credentials(&self) -> Value {
        let mut m = Map::new();
        m.insert("baseUrl".into(), Value::String(self.running.base_url()));
        m.insert("apiKey".into(), Value::String(self.running.api_key().to_owned()));
        Value::Object(m)
    }

    /// Stop it, letting in-flight requests finish.
    pub async fn stop(self) {
        if let Err(e) = self.running.shutdown().await {
            crate::stderr::say(format!("sandbox shutdown: {e}"));
        }
    }
}

/// Pick credentials: the envelope's, else `--credentials FILE`, else the environment
/// variables the credential type names.
pub fn credentials(
    node: &HostedNode,
    envelope: Option<Value>,
    args: &ConnectionArgs,
) -> Result<Option<Value>, CliError> {
    if envelope.is_some() {
        return Ok(envelope);
    }
    if let Some(path) = &args.credentials {
        return read_credentials_file(path).map(Some);
    }
    let Some(kind) = node.credential() else {
        return Ok(None);
    };
    let mut fields = Map::new();
    for (field, var) in &kind.env {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            fields.insert(field.clone(), Value::String(v));
        }
    }
    Ok(if fields.is_empty() {
        None
    } else {
        Some(Value::Object(fields))
    })
}

/// A credentials file: a regular file of at most [`MAX_CREDENTIALS_FILE`] bytes holding JSON.
/// Errors say where the JSON is broken, never what it contains.
fn read_credentials_file(path: &std::path::Path) -> Result<Value, CliError> {
    let cannot =
        |e: std::io::Error| CliError::usage(format!("cannot read credentials file {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    // A FIFO or a device (`/dev/zero`) may never end: only regular files are read.
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(CliError::usage(format!(
            "credentials file {} is not a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CREDENTIALS_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_CREDENTIALS_FILE {
        return Err(CliError::usage(format!(
            "credentials file {} is larger than 1 MiB",
            path.display()
        )));
    }
    nodehost_core::input::parse_json(&bytes).map_err(|e| {
        CliError::usage(format!(
            "credentials file {} is not valid JSON (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

/// How a user of the CLI gives credentials of `node`'s type, for the "missing" error.
pub fn missing_hint(node: &HostedNode) -> String {
    let Some(kind) = node.credential() else {
        return String::new();
    };
    let fields: Vec<String> = kind
        .schema_fields()
        .iter()
        .map(|f| format!("\"{f}\": ..."))
        .collect();
    let mut hint = format!(
        "missing credentials of type `{}`: give `credentials` {{{}}} in the input envelope, pass \
         `--credentials FILE` (a JSON file with those fields)",
        kind.name,
        fields.join(", ")
    );
    let vars: Vec<&str> = kind.env.iter().map(|(_, v)| v.as_str()).collect();
    match vars.as_slice() {
        [] => {}
        [one] => hint.push_str(&format!(", or set the environment variable {one}")),
        [init @ .., last] => hint.push_str(&format!(
            ", or set the environment variables {} and {last}",
            init.join(", ")
        )),
    }
    hint
}

/// The credentials a long-lived server (`serve`, `worker`) holds, by credential type: the
/// embedded sandbox's, then `--credentials FILE` for every node whose type it fits, else the
/// environment variables of each type (as `nodehost run` reads them). Each is removed from
/// everything printed on stderr from now on.
pub fn server_credentials(
    registry: &nodehost_core::Registry,
    sandbox: Option<&EmbeddedSandbox>,
    args: &ConnectionArgs,
) -> Result<Vec<(String, Value)>, CliError> {
    let mut held = Vec::new();
    if let Some(s) = sandbox {
        held.push((crate::run_cmd::SANDBOX_CREDENTIAL.to_owned(), s.credentials()));
    }
    for node in registry.nodes() {
        if let Some(kind) = node.credential()
            && !held.iter().any(|(k, _): &(String, Value)| *k == kind.name)
            && let Some(value) = credentials(node, None, args)?
        {
            held.push((kind.name.clone(), value));
        }
    }
    for node in registry.nodes() {
        if let Some(kind) = node.credential()
            && let Some((_, value)) = held.iter().find(|(k, _)| *k == kind.name)
        {
            crate::stderr::add_secrets(&nodehost_core::Secrets::of_credentials(kind, value));
        }
    }
    Ok(held)
}
