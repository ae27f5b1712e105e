//! Where a run's credentials come from (embedded sandbox, envelope, `--credentials FILE`,
//! environment) and the HTTP options built from flags.

use std::time::Duration;

use nodehost_core::{DynNode, HttpOptions, RetryPolicy, RunOptions};
use serde_json::{Map, Value};

use crate::CliError;
use crate::cli::ConnectionArgs;

/// Largest credentials file read.
const MAX_CREDENTIALS_FILE: u64 = 1024 * 1024;

/// Run options from the connection flags.
pub fn run_options(args: &ConnectionArgs) -> Result<RunOptions, CliError> {
    let secs = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 && v <= 86_400.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(CliError::usage(format!(
                "--{name} must be between 0 and 86400 seconds, got {v}"
            )))
        }
    };
    if args.backoff_base_ms > args.backoff_cap_ms {
        return Err(CliError::usage(
            "--backoff-base-ms must not exceed --backoff-cap-ms",
        ));
    }
    Ok(RunOptions {
        http: HttpOptions {
            connect_timeout: secs("connect-timeout", args.connect_timeout)?,
            request_timeout: secs("timeout", args.timeout)?,
            retry: RetryPolicy {
                max_tries: args.max_tries,
                base: Duration::from_millis(args.backoff_base_ms),
                cap: Duration::from_millis(args.backoff_cap_ms),
            },
            rate_limit_per_second: args.rate_limit,
            allow_insecure_http: args.allow_insecure_http,
            ..HttpOptions::default()
        },
    })
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
        eprintln!(
            "nodehost: embedded sandbox at {} (data: {place})",
            running.base_url()
        );
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
            eprintln!("nodehost: sandbox shutdown: {e}");
        }
    }
}

/// Pick credentials: the envelope's, else `--credentials FILE`, else the environment.
pub fn credentials(
    node: &dyn DynNode,
    envelope: Option<Value>,
    args: &ConnectionArgs,
) -> Result<Option<Value>, CliError> {
    if envelope.is_some() {
        return Ok(envelope);
    }
    if let Some(path) = &args.credentials {
        let meta = std::fs::metadata(path)
            .map_err(|e| CliError::usage(format!("cannot read credentials file {}: {e}", path.display())))?;
        if meta.len() > MAX_CREDENTIALS_FILE {
            return Err(CliError::usage(format!(
                "credentials file {} is larger than 1 MiB",
                path.display()
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| CliError::usage(format!("cannot read credentials file {}: {e}", path.display())))?;
        // Report where the JSON is broken, never what it contains.
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            CliError::usage(format!(
                "credentials file {} is not valid JSON (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        return Ok(Some(value));
    }
    let Some(spec) = &node.spec().credential else {
        return Ok(None);
    };
    let mut fields = Map::new();
    for (field, var) in spec.env {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            fields.insert((*field).to_owned(), Value::String(v));
        }
    }
    Ok(if fields.is_empty() {
        None
    } else {
        Some(Value::Object(fields))
    })
}
