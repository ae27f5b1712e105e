//! The local emulator this node offers for `--sandbox`: the `gestor-sandbox` crate, an
//! independent implementation of the API contract, started with credentials that reach it.
//! The node and the emulator share no code, so each catches the other's mistakes.

use async_trait::async_trait;
use nodehost_core::{Emulator, EmulatorConfig, EmulatorData, EmulatorError, RunningEmulator};
use serde_json::{Value, json};

use crate::credentials::CREDENTIAL_NAME;

/// The Gestor Clientes Max API, emulated on loopback with SQLite.
#[derive(Debug, Clone, Copy, Default)]
pub struct GestorEmulator;

#[async_trait]
impl Emulator for GestorEmulator {
    fn credential_type(&self) -> &str {
        CREDENTIAL_NAME
    }

    fn service(&self) -> &str {
        "the Gestor Clientes Max API"
    }

    async fn start(&self, config: EmulatorConfig) -> Result<Box<dyn RunningEmulator>, EmulatorError> {
        let f = config.faults;
        let config = gestor_sandbox::SandboxConfig {
            listen: config.listen,
            db: match config.data {
                EmulatorData::Memory => gestor_sandbox::DbLocation::Memory,
                EmulatorData::File(path) => gestor_sandbox::DbLocation::File(path),
            },
            api_key: config.api_key,
            seed: config.seed,
            faults: gestor_sandbox::Faults {
                latency: f.latency,
                error_503_share: f.error_503_share,
                rate_limit_429_share: f.rate_limit_429_share,
                retry_after_secs: f.retry_after_secs,
                fail_first_n_503: f.fail_first_n_503,
                rate_limit_first_n_429: f.rate_limit_first_n_429,
            },
            limits: gestor_sandbox::Limits::default(),
        };
        let running = gestor_sandbox::start(config)
            .await
            .map_err(|e| EmulatorError(e.to_string()))?;
        Ok(Box::new(Running(running)))
    }
}

#[derive(Debug)]
struct Running(gestor_sandbox::RunningSandbox);

#[async_trait]
impl RunningEmulator for Running {
    fn base_url(&self) -> String {
        self.0.base_url()
    }

    fn credentials(&self) -> Value {
        json!({"baseUrl": self.0.base_url(), "apiKey": self.0.api_key()})
    }

    async fn stop(self: Box<Self>) -> Result<(), EmulatorError> {
        self.0.shutdown().await.map_err(|e| EmulatorError(e.to_string()))
    }
}
