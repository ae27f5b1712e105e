//! Where a run's credentials come from (embedded emulators, envelope, `--credentials FILE`,
//! environment) and the HTTP options built from flags.

use std::io::Read as _;
use std::time::Duration;

use nodehost_core::{EmulatorConfig, EmulatorData, HostedNode, Registry, ServerCredentials, SessionOptions};
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

/// Sample records in a fresh embedded emulator (for the Gestor node: clients 1 to 3).
pub const SEED_RECORDS: u32 = 3;

/// The data file `--sandbox` starts afresh each time for the emulator of `credential_type`,
/// beside the `nodehost sandbox` data files.
pub fn run_sandbox_db_path(credential_type: &str) -> std::path::PathBuf {
    crate::sandbox_cmd::data_dir().join(format!("run-sandbox-{credential_type}.db"))
}

/// The local emulators `--sandbox` started (those the registered nodes offer), kept alive for
/// the duration of a command.
pub struct Sandboxes {
    running: Vec<(String, Box<dyn nodehost_core::RunningEmulator>)>,
}

impl Sandboxes {
    /// The emulator of the service `node` calls. A node that needs no credentials, or whose
    /// credential type no registered node offers an emulator of, is refused.
    pub async fn for_node(
        registry: &Registry,
        node: &HostedNode,
        db: Option<&str>,
    ) -> Result<Self, CliError> {
        let Some(kind) = node.credential() else {
            return Err(CliError::usage(format!(
                "--sandbox starts a local emulator of the service a node calls, and node `{}` calls none (it needs no credentials)",
                node.name()
            )));
        };
        let Some(emulator) = registry.emulator(&kind.name) else {
            let offered: Vec<String> = registry
                .emulators()
                .map(|e| format!("{} (`{}`)", e.service(), e.credential_type()))
                .collect();
            return Err(CliError::usage(format!(
                "--sandbox: no registered node offers a local emulator of the service node `{}` calls (credential type `{}`); emulators on offer: {}",
                node.name(),
                kind.name,
                if offered.is_empty() {
                    "none".to_owned()
                } else {
                    offered.join(", ")
                }
            )));
        };
        Self::start(&[emulator], db).await
    }

    /// Every emulator the registered nodes offer (`serve`, `mcp`, `worker`).
    pub async fn all(registry: &Registry, db: Option<&str>) -> Result<Self, CliError> {
        let emulators: Vec<_> = registry.emulators().cloned().collect();
        Self::start(&emulators, db).await
    }

    /// Start each on a free loopback port. Without `db`, each starts from a fresh data file
    /// ([`run_sandbox_db_path`]) seeded with [`SEED_RECORDS`] sample records, so the same input
    /// gives the same output every time. With a file and several emulators, each gets its own
    /// file beside it, named after its credential type.
    async fn start(
        emulators: &[std::sync::Arc<dyn nodehost_core::Emulator>],
        db: Option<&str>,
    ) -> Result<Self, CliError> {
        let mut started = Self { running: Vec::new() };
        for emulator in emulators {
            let kind = emulator.credential_type();
            let data = match db {
                Some(":memory:") => EmulatorData::Memory,
                Some(path) if emulators.len() == 1 => EmulatorData::File(path.into()),
                Some(path) => {
                    let path = std::path::Path::new(path);
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    EmulatorData::File(path.with_file_name(format!("{kind}-{name}")))
                }
                None => {
                    let path = run_sandbox_db_path(kind);
                    if let Err(e) = remove_db(&path) {
                        started.stop().await;
                        return Err(e);
                    }
                    EmulatorData::File(path)
                }
            };
            let place = match &data {
                EmulatorData::File(p) => p.display().to_string(),
                EmulatorData::Memory => "memory".to_owned(),
            };
            let config = EmulatorConfig {
                data,
                seed: SEED_RECORDS,
                ..EmulatorConfig::default()
            };
            match emulator.start(config).await {
                Ok(running) => {
                    crate::stderr::say(format!(
                        "embedded sandbox at {} (data: {place})",
                        running.base_url()
                    ));
                    started.running.push((kind.to_owned(), running));
                }
                Err(e) => {
                    started.stop().await;
                    return Err(CliError::usage(format!(
                        "cannot start the embedded sandbox of {}: {e}",
                        emulator.service()
                    )));
                }
            }
        }
        Ok(started)
    }

    /// Credentials of `credential_type` pointing at its emulator.
    pub fn credentials(&self, credential_type: &str) -> Option<Value> {
        self.running
            .iter()
            .find(|(k, _)| k == credential_type)
            .map(|(_, r)| r.credentials())
    }

    /// Hold every emulator's credentials for the runs of its credential type.
    pub fn hold(&self, held: &mut ServerCredentials) {
        for (kind, running) in &self.running {
            held.hold(kind.clone(), running.credentials());
        }
    }

    /// Stop them, letting in-flight requests finish.
    pub async fn stop(self) {
        for (_, running) in self.running {
            if let Err(e) = running.stop().await {
                crate::stderr::say(format!("sandbox shutdown: {e}"));
            }
        }
    }
}

/// Remove a data file and its SQLite companions, so a run starts from the seed.
fn remove_db(path: &std::path::Path) -> Result<(), CliError> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.to_path_buf().into_os_string();
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
    Ok(())
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

/// The credentials a long-lived server (`serve`, `worker`, `mcp`) holds, by credential type:
/// the embedded emulators', then `--credentials FILE` for every node whose type it fits, else
/// the environment variables of each type (as `nodehost run` reads them). Each is removed from
/// everything printed on stderr from now on.
pub fn server_credentials(
    registry: &Registry,
    sandboxes: Option<&Sandboxes>,
    args: &ConnectionArgs,
) -> Result<ServerCredentials, CliError> {
    let mut held = ServerCredentials::new();
    if let Some(s) = sandboxes {
        s.hold(&mut held);
    }
    for node in registry.nodes() {
        if let Some(kind) = node.credential()
            && !held.holds(&kind.name)
            && let Some(value) = credentials(node, None, args)?
        {
            held.hold(kind.name.clone(), value);
        }
    }
    crate::stderr::add_secrets(&held.secrets(registry));
    Ok(held)
}
