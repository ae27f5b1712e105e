//! A minimal automation engine embedding nodehost in-process, streaming: every item validated
//! before anything is sent, then output items handed to the engine's sink one by one, in input
//! order, as they complete. (`Host::run` does the same and collects a run document; see the
//! `nodehost_core` crate docs.)
//!
//! Run it with `cargo run -p nodehost-cli --example embed`. It starts a throwaway local
//! Gestor Clientes Max sandbox so it needs nothing else; point the credentials at a real
//! API instead in your engine.

use nodehost_core::{FnSink, Host, Registry, RunConfig, RunInput, UnknownFields, engine};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = gestor_sandbox::start(gestor_sandbox::SandboxConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        db: gestor_sandbox::DbLocation::Memory,
        seed: 3,
        ..gestor_sandbox::SandboxConfig::default()
    })
    .await?;

    // 1. A host holds the registry and the sessions (one connection pool per credential).
    let mut registry = Registry::new();
    registry.register(node_gestor_clientes::ClienteNode)?;
    let host = Host::new(registry);

    // 2. Items as your engine has them: n8n-shaped or plain objects.
    let input = RunInput::from_value(json!([
        {"json": {"operation": "create", "name": "Carla Dias", "email": "carla@example.com"}},
        {"operation": "get", "clientId": 1},
        {"operation": "getAll", "returnAll": false, "limit": 2},
    ]))?;
    let total = input.items.len();

    // 3. Every item is validated before anything is sent.
    let plan = host.plan(
        "gestorClientesMaxCliente",
        input.parameters,
        UnknownFields::Reject,
    )?;
    let work = match plan.validate_all(input.items, false) {
        Ok(work) => work,
        Err(refused) => return Err(format!("{:?}", refused.error(Some(total))).into()),
    };

    // 4. Execute with bounded concurrency; each output item reaches the sink in input order.
    let credentials = json!({"baseUrl": sandbox.base_url(), "apiKey": sandbox.api_key()});
    let session = host.session(plan.node(), Some(credentials)).await?;
    let mut sink = FnSink(|item| {
        println!("{}", serde_json::to_string(&item)?);
        Ok(())
    });
    let report = engine::execute(
        session,
        futures::stream::iter(work),
        &RunConfig::default(),
        &mut sink,
    )
    .await;
    if let Some(error) = report.error(Some(total)) {
        eprintln!("run stopped: {}", error.to_value());
    }
    sandbox.shutdown().await?;
    Ok(())
}
