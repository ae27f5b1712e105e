//! A worker in this process, a job submitted to it, and its result: the whole round trip of a
//! pool of one, against an emulated Gestor Clientes Max API. Needs a NATS server with
//! JetStream on the default port (`nats-server -js`).
//!
//! ```sh
//! nats-server -js &
//! cargo run -p nodehost-worker --example pool
//! ```

use std::sync::Arc;
use std::time::Duration;

use nodehost_core::{
    CancellationToken, Emulator as _, EmulatorConfig, Host, Registry, RunInput, ServerCredentials,
};
use nodehost_worker::{Queue, QueueConfig, Worker, WorkerConfig};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::new();
    node_gestor_clientes::register(&mut registry)?;
    let api = node_gestor_clientes::GestorEmulator
        .start(EmulatorConfig {
            seed: 3,
            ..EmulatorConfig::default()
        })
        .await?;
    let mut credentials = ServerCredentials::new();
    credentials.hold(node_gestor_clientes::CREDENTIAL_NAME, api.credentials());
    // Names of the example's own, so it leaves a real pool's streams alone.
    let names = QueueConfig {
        stream: "NODEHOST_EXAMPLE_JOBS".into(),
        subject: "nodehost-example.jobs".into(),
        results_subject: "nodehost-example.results".into(),
        dead_letter_subject: "nodehost-example.dead".into(),
        bucket: "nodehost-example-items".into(),
        ..QueueConfig::default()
    };
    let worker = Worker::start(
        Arc::new(Host::new(registry)),
        Queue::connect(names.clone()).await?,
        WorkerConfig {
            consumer: "nodehost-example".into(),
            name: "example".into(),
            credentials,
            ..WorkerConfig::default()
        },
    )
    .await?;
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone()));

    let submitter = Queue::connect(names).await?;
    let input = RunInput::from_value(
        json!([{"operation": "get", "clientId": 1}, {"operation": "create", "name": "Ana Souza"}]),
    )?;
    let job = submitter.submit("gestorClientesMaxCliente", input, None).await?;
    let result = submitter
        .result(&job.job_id, Some(Duration::from_secs(30)))
        .await?;
    println!("{}", serde_json::to_string_pretty(&result)?);

    stop.cancel();
    running.await?;
    api.stop().await?;
    Ok(())
}
