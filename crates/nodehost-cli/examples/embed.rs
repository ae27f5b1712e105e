//! A minimal automation engine embedding nodehost in-process: register a node, validate every
//! item, open a session with credentials, execute, and collect the output items in order.
//!
//! Run it with `cargo run -p nodehost-cli --example embed`. It starts a throwaway local
//! Gestor Clientes Max sandbox so it needs nothing else; point the credentials at a real
//! API instead in your engine.

use nodehost_core::{Registry, RunConfig, RunInput, RunOptions, UnknownFields, engine, prepare_all};
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

    // 1. The registry holds nodes type-erased; the engine only sees `dyn DynNode`.
    let mut registry = Registry::new();
    registry.register(node_gestor_clientes::ClienteNode::new())?;
    let node = registry
        .get("gestorClientesMaxCliente")
        .ok_or("node not registered")?;

    // 2. Items as your engine has them: n8n-shaped or plain objects.
    let input = RunInput::from_value(json!([
        {"json": {"operation": "create", "name": "Carla Dias", "email": "carla@example.com"}},
        {"operation": "get", "clientId": 1},
        {"operation": "getAll", "returnAll": false, "limit": 2},
    ]))?;

    // 3. Every item is validated before anything is sent.
    let prepared = prepare_all(node.as_ref(), &input, UnknownFields::Reject).map_err(|invalid| {
        invalid
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;

    // 4. One session per run: credentials are checked and the HTTP client is built once.
    let credentials = json!({"baseUrl": sandbox.base_url(), "apiKey": sandbox.api_key()});
    let session = node.open(Some(credentials), &RunOptions::default()).await?;

    // 5. Execute with bounded concurrency; output arrives in input order.
    let mut outputs = Vec::new();
    let report = engine::execute(
        session,
        futures::stream::iter(prepared),
        &RunConfig::default(),
        |item| {
            outputs.push(item.clone());
            Ok(())
        },
    )
    .await;
    for item in &outputs {
        println!("{}", serde_json::to_string(item)?);
    }
    if let Some(error) = report.error_json(Some(input.items.len())) {
        eprintln!("run stopped: {error}");
    }
    sandbox.shutdown().await?;
    Ok(())
}
