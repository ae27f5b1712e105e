//! The `gestorClientesMaxCliente` node and its `gestorClientesMaxApi` credential type: client
//! records in the Gestor Clientes Max API.
//!
//! This crate owns the node's parameters (and the JSON Schema derived from them), its string
//! formats, its credential type and its typed API client. It knows nothing of the CLI or of
//! how the engine schedules items; HTTP mechanics (timeouts, retries, limits) belong to
//! `nodehost-http`.

mod answer;
mod api;
pub mod credentials;
#[cfg(feature = "emulator")]
mod emulator;
pub mod formats;
mod node;
pub mod params;
mod upsert;

pub use api::GestorSession;
pub use credentials::{CREDENTIAL_NAME, GestorCredentials};
#[cfg(feature = "emulator")]
pub use emulator::GestorEmulator;
pub use node::{ClienteNode, NODE_NAME};
pub use params::{
    ClientChanges, ClientFields, ClientId, ClientRef, ClienteParams, CreateParams, GetAllParams, MatchBy,
    PaymentStatus, SearchParams, Status, UpdateParams, UpsertParams,
};

/// Register the node, and the local emulator of its API it offers for `--sandbox` (feature
/// `emulator`), with `registry`: the one line a host adds to offer this crate.
pub fn register(registry: &mut nodehost_core::Registry) -> Result<(), nodehost_core::RegistryError> {
    registry.register(ClienteNode::new())?;
    #[cfg(feature = "emulator")]
    registry.offer_emulator(GestorEmulator);
    Ok(())
}
