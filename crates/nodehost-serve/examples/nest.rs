//! An engine's own axum app with nodehost's API nested under `/nodehost`, served on a free
//! loopback port, with an emulated Gestor Clientes Max API behind it whose credentials the
//! service holds. Prints the address, then serves until Ctrl-C.
//!
//! ```sh
//! cargo run -p nodehost-serve --example nest
//! curl -s localhost:PORT/nodehost/v1/nodes
//! curl -s -X POST localhost:PORT/nodehost/v1/nodes/gestorClientesMaxCliente/run -d '{"operation":"get","clientId":1}'
//! ```

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use nodehost_core::{Emulator as _, EmulatorConfig, Host, Registry, ServerCredentials};
use nodehost_serve::ServeConfig;

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
    let config = ServeConfig {
        credentials,
        ..ServeConfig::default()
    };
    let app = Router::new()
        .route("/", get(|| async { "the engine's own page\n" }))
        .nest(
            "/nodehost",
            nodehost_serve::router(Arc::new(Host::new(registry)), config),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{}/nodehost/v1/nodes", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    api.stop().await?;
    Ok(())
}
