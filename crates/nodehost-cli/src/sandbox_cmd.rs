//! `nodehost sandbox`: the flags of a local emulator of a service nodes call (whichever the
//! registered nodes offer: the Gestor Clientes Max API for the built-in node), where its data
//! lives by default, and running it in the foreground until Ctrl-C (or SIGTERM). The emulator
//! itself is the node crate's; this file only translates flags and talks to the person.
//!
//! It is the one place that shows the sandbox's API key in clear, on stderr, once at start:
//! the key is needed to point a client at the sandbox and exists nowhere else in clear.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use nodehost_core::{EmulatorConfig, EmulatorData, EmulatorFaults, Registry};
use secrecy::{ExposeSecret as _, SecretString};

/// The `--db` value that selects a throwaway in-memory database.
const MEMORY_DB: &str = ":memory:";
/// Longest `--latency-ms` accepted: a day; anything longer is a typo, not a test.
const MAX_LATENCY_MS: u64 = 86_400_000;

// Flags of `nodehost sandbox`.
// (Not a doc comment: see `defer` on `cli::Command`.)
#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// The credential type whose service to emulate; needed only when the registered nodes
    /// offer emulators of more than one.
    #[arg(long, value_name = "CREDENTIAL_TYPE")]
    pub service: Option<String>,

    /// Address to listen on; port 0 picks a free port. Keep it on loopback unless you mean it.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5800")]
    pub listen: SocketAddr,

    /// Data file, created if missing, or `:memory:` for a throwaway run [default:
    /// sandbox-CREDENTIAL_TYPE.db in $XDG_DATA_HOME/nodehost, else ~/.local/share/nodehost]
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// API key to accept (stored hashed). Without it a new `gck_...` key is minted at each
    /// start; keys from earlier starts on the same database keep working.
    #[arg(
        long,
        value_name = "KEY",
        env = "GESTOR_SANDBOX_API_KEY",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub api_key: Option<SecretString>,

    /// Sample clients (deterministic Brazilian data, valid CPFs) inserted when the database
    /// holds no client.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u32,

    /// Delay added to every answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_LATENCY_MS))]
    pub latency_ms: u64,

    /// Share (0 to 1) of requests answered 503 with an HTML body, at random.
    #[arg(long = "fail-503", value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub fail_503: f64,

    /// Share (0 to 1) of requests answered 429 with Retry-After, at random.
    #[arg(long = "rate-limit-429", value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    pub rate_limit_429: f64,

    /// Retry-After value (seconds) sent with every 429.
    #[arg(long = "retry-after", value_name = "SECS", default_value_t = 1)]
    pub retry_after: u64,

    /// The first N requests to each METHOD + path are answered 503 (deterministic, for tests).
    #[arg(long = "fail-first-503", value_name = "N", default_value_t = 0)]
    pub fail_first_503: u32,

    /// The N requests after those are answered 429 (deterministic, for tests).
    #[arg(long = "rate-limit-first-429", value_name = "N", default_value_t = 0)]
    pub rate_limit_first_429: u32,
}

impl SandboxArgs {
    /// Where the data lives: `--db`, `:memory:`, or the default file of `credential_type`.
    pub fn data(&self, credential_type: &str) -> EmulatorData {
        match &self.db {
            Some(path) if path == Path::new(MEMORY_DB) => EmulatorData::Memory,
            Some(path) => EmulatorData::File(path.clone()),
            None => EmulatorData::File(data_dir().join(format!("sandbox-{credential_type}.db"))),
        }
    }

    /// The emulator configuration these flags describe.
    pub fn config(&self, credential_type: &str) -> EmulatorConfig {
        EmulatorConfig {
            listen: self.listen,
            data: self.data(credential_type),
            // The single place the key leaves its SecretString: the emulator hashes it at start.
            api_key: self.api_key.as_ref().map(|k| k.expose_secret().to_owned()),
            seed: self.seed,
            faults: EmulatorFaults {
                latency: Duration::from_millis(self.latency_ms),
                error_503_share: self.fail_503,
                rate_limit_429_share: self.rate_limit_429,
                retry_after_secs: self.retry_after,
                fail_first_n_503: self.fail_first_503,
                rate_limit_first_n_429: self.rate_limit_first_429,
            },
        }
    }
}

/// The folder of nodehost's data files (the sandboxes' among them): `$XDG_DATA_HOME/nodehost`,
/// else `$HOME/.local/share/nodehost`, else (Windows) `%LOCALAPPDATA%\nodehost`, else the
/// current directory.
pub fn data_dir() -> PathBuf {
    data_dir_from_env(|name| std::env::var_os(name))
}

/// `data_dir` over any environment, so it can be tested without touching the real one.
fn data_dir_from_env(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    // The XDG spec says relative values are invalid and must be ignored.
    let absolute_env = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(data) = absolute_env("XDG_DATA_HOME") {
        return data.join("nodehost");
    }
    if let Some(home) = absolute_env("HOME") {
        return home.join(".local").join("share").join("nodehost");
    }
    if let Some(local) = absolute_env("LOCALAPPDATA") {
        return local.join("nodehost");
    }
    PathBuf::from(".")
}

/// Starts the emulator, tells the person how to use it, and serves until Ctrl-C or SIGTERM.
pub async fn run(registry: &Registry, args: SandboxArgs) -> anyhow::Result<()> {
    let emulator = match &args.service {
        Some(kind) => registry.emulator(kind),
        None => {
            let mut all = registry.emulators();
            match (all.next(), all.next()) {
                (Some(one), None) => Some(std::sync::Arc::clone(one)),
                (None, _) => anyhow::bail!("no registered node offers a local emulator"),
                (Some(_), Some(_)) => None,
            }
        }
    };
    let Some(emulator) = emulator else {
        let offered: Vec<&str> = registry.emulators().map(|e| e.credential_type()).collect();
        anyhow::bail!(
            "name the service to emulate with --service CREDENTIAL_TYPE, one of: {}",
            offered.join(", ")
        );
    };
    let kind = emulator.credential_type().to_owned();
    let config = args.config(&kind);
    let data = match &config.data {
        EmulatorData::Memory => "in memory (gone when the sandbox stops)".to_owned(),
        EmulatorData::File(path) => path.display().to_string(),
    };
    let minted = config.api_key.is_none();
    let file = matches!(config.data, EmulatorData::File(_));
    let sandbox = emulator
        .start(config)
        .await
        .map_err(anyhow::Error::msg)
        .context("cannot start the sandbox")?;
    let credentials = sandbox.credentials();
    eprintln!("sandbox listening on {}", sandbox.base_url());
    eprintln!("emulating {} (credential type `{kind}`)", emulator.service());
    let fields = credentials.as_object().cloned().unwrap_or_default();
    let kind_env = registry
        .credential_types()
        .find(|c| c.name == kind)
        .map(|c| c.env.clone())
        .unwrap_or_default();
    for (field, value) in &fields {
        let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        if field != "baseUrl" {
            eprintln!("{field}: {value}");
        }
    }
    if minted && file {
        eprintln!("         (new for this run; keys printed by earlier runs on this database still work)");
    }
    eprintln!("data: {data}");
    if !kind_env.is_empty() {
        eprintln!("point nodehost at it:");
        for (field, var) in &kind_env {
            if let Some(value) = fields.get(field) {
                let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                eprintln!("  export {var}={value}");
            }
        }
    }
    eprintln!("press Ctrl-C to stop");
    stop_signal().await;
    sandbox
        .stop()
        .await
        .map_err(anyhow::Error::msg)
        .context("sandbox failed")?;
    eprintln!("sandbox stopped");
    Ok(())
}

/// Completes on Ctrl-C, or on SIGTERM where there is one (service managers, `docker stop`).
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No handler could be installed, so the default action (exit) still applies to
            // Ctrl-C: wait for nothing rather than stop at once.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    () = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// Reads `--api-key` straight into a SecretString, refusing what cannot travel in a header.
fn parse_secret(raw: &str) -> Result<SecretString, String> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the key must be non-empty visible ASCII without spaces".to_owned());
    }
    Ok(SecretString::from(raw))
}

/// A share of requests: a number from 0 to 1.
fn parse_share(raw: &str) -> Result<f64, String> {
    let share: f64 = raw.parse().map_err(|_| format!("`{raw}` is not a number"))?;
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!(
            "{raw} is not between 0 and 1 (e.g. 0.1 for one request in ten)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser, Debug)]
    struct Wrapper {
        #[command(flatten)]
        args: SandboxArgs,
    }

    fn parse(argv: &[&str]) -> Result<SandboxArgs, clap::Error> {
        Wrapper::try_parse_from(std::iter::once("sandbox").chain(argv.iter().copied())).map(|w| w.args)
    }

    #[test]
    fn flags_become_the_library_config_and_debug_hides_the_key() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--db",
            ":memory:",
            "--api-key",
            "gck_abc",
            "--seed",
            "3",
            "--latency-ms",
            "20",
            "--fail-503",
            "0.25",
            "--rate-limit-429",
            "0.5",
            "--retry-after",
            "9",
            "--fail-first-503",
            "2",
        ]);
        let Ok(args) = args else {
            panic!("flags rejected: {args:?}");
        };
        assert!(!format!("{args:?}").contains("gck_abc"));
        let cfg = args.config("someApi");
        assert!(!format!("{cfg:?}").contains("gck_abc"));
        assert_eq!(cfg.data, EmulatorData::Memory);
        assert_eq!(cfg.api_key.as_deref(), Some("gck_abc"));
        assert_eq!(cfg.seed, 3);
        assert_eq!(cfg.faults.latency, Duration::from_millis(20));
        assert_eq!(
            (cfg.faults.error_503_share, cfg.faults.rate_limit_429_share),
            (0.25, 0.5)
        );
        assert_eq!((cfg.faults.retry_after_secs, cfg.faults.fail_first_n_503), (9, 2));
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused() {
        for bad in ["1.5", "-0.1", "NaN", "half"] {
            assert!(parse(&["--fail-503", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_data_folder_follows_xdg_then_home_and_ignores_relative_values() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.into())
        };
        assert_eq!(
            data_dir_from_env(env(&[("XDG_DATA_HOME", "/data"), ("HOME", "/home/ana")])),
            Path::new("/data/nodehost")
        );
        assert_eq!(
            data_dir_from_env(env(&[("XDG_DATA_HOME", "relative"), ("HOME", "/home/ana")])),
            Path::new("/home/ana/.local/share/nodehost")
        );
        assert_eq!(data_dir_from_env(env(&[])), Path::new("."));
    }
}
