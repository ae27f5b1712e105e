//! Local emulators of the services nodes call: what `--sandbox` starts.
//!
//! A node crate may offer an [`Emulator`] of its remote service beside the node (registered
//! with [`Registry::offer_emulator`](crate::Registry::offer_emulator)); a caller that wants a
//! self-contained run (`nodehost run --sandbox`, a demo, a test) starts the emulator of the
//! node's credential type and runs with the credentials it answers. The host knows no service
//! by name: which emulators exist is whatever the registered nodes offer.
//!
//! This module only describes emulators; starting one (sockets, files) is the implementor's.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

/// Where an emulator keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmulatorData {
    /// In memory: gone when it stops.
    Memory,
    /// In this file, created if missing and kept between starts.
    File(PathBuf),
}

/// Faults an emulator injects into its answers, for tests and benchmarks of retries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmulatorFaults {
    /// Delay added to every answer.
    pub latency: Duration,
    /// Share (0 to 1) of requests answered 503, at random.
    pub error_503_share: f64,
    /// Share (0 to 1) of requests answered 429 with `Retry-After`, at random.
    pub rate_limit_429_share: f64,
    /// The `Retry-After` of every 429, in seconds.
    pub retry_after_secs: u64,
    /// The first N requests to each method and path are answered 503.
    pub fail_first_n_503: u32,
    /// The N requests after those are answered 429.
    pub rate_limit_first_n_429: u32,
}

/// How to start an emulator.
#[derive(Clone, PartialEq)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where its data lives.
    pub data: EmulatorData,
    /// The API key it accepts; `None` mints one.
    pub api_key: Option<String>,
    /// Sample records inserted when its data holds none.
    pub seed: u32,
    /// Faults injected into its answers.
    pub faults: EmulatorFaults,
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("listen", &self.listen)
            .field("data", &self.data)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .finish()
    }
}

impl Default for EmulatorConfig {
    /// A free loopback port, in memory, a minted key, no sample records, no faults.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data: EmulatorData::Memory,
            api_key: None,
            seed: 0,
            faults: EmulatorFaults::default(),
        }
    }
}

/// Why an emulator could not start or stop.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EmulatorError(pub String);

/// A local stand-in for the service of one credential type.
#[async_trait]
pub trait Emulator: Send + Sync + 'static {
    /// The credential type whose service this emulates; its credentials reach the emulator.
    fn credential_type(&self) -> &str;

    /// The emulated service, in words (`the Gestor Clientes Max API`).
    fn service(&self) -> &str;

    /// Start serving; returns once it accepts requests.
    async fn start(&self, config: EmulatorConfig) -> Result<Box<dyn RunningEmulator>, EmulatorError>;
}

/// An emulator that is serving.
#[async_trait]
pub trait RunningEmulator: Send + Sync + fmt::Debug {
    /// The URL clients call (what the credentials' base URL says).
    fn base_url(&self) -> String;

    /// Credentials of the emulator's credential type that reach it, secret fields included.
    fn credentials(&self) -> Value;

    /// Stop accepting, let requests in flight finish, and release its data.
    async fn stop(self: Box<Self>) -> Result<(), EmulatorError>;
}
