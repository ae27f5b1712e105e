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
pub mod formats;
mod node;
pub mod params;
mod upsert;

pub use api::GestorSession;
pub use credentials::{CREDENTIAL_NAME, GestorCredentials};
pub use node::{ClienteNode, NODE_NAME};
pub use params::{
    ClientChanges, ClientFields, ClientId, ClientRef, ClienteParams, CreateParams, GetAllParams, MatchBy,
    PaymentStatus, SearchParams, Status, UpdateParams, UpsertParams,
};
