//! The `gestorClientesMaxCliente` node and its `gestorClientesMaxApi` credential type: client
//! records in the Gestor Clientes Max API.
//!
//! This crate owns the node's operations (one file each under `operations/`), the parameter
//! types they share and the JSON Schema derived from them, its string formats, its credential
//! type, its typed API client, and the local emulator of the API it offers for `--sandbox`
//! (feature `emulator`, the `gestor-sandbox` crate). It knows nothing of the CLI or of how the
//! engine schedules items; HTTP mechanics (timeouts, retries, limits) belong to
//! `nodehost-http`.
//!
//! # Adding an operation: one file, and its line in the list
//!
//! 1. Write `src/operations/NAME.rs`: the parameters (a struct deriving `Deserialize` and
//!    `JsonSchema` with `#[schemars(inline)]`; doc comments become the field descriptions),
//!    and a unit type implementing [`nodehost_core::Operation`]: its
//!    [`OperationSpec`](nodehost_core::OperationSpec) (display name, n8n action, description,
//!    side-effect hints, the records it reads and writes) and its `execute` and `dry_run`
//!    side by side. `operations/get.rs` is the smallest (43 lines).
//! 2. In `src/operations/mod.rs`, add `mod NAME;` and the variant to `operations!`
//!    (`Archive(archive::Archive),`): its name in camelCase is the `operation` value.
//! 3. Regenerate what is checked in: `cargo run -- describe --all --write node-definitions/`,
//!    `cargo run -- n8n --write integrations/n8n` and `cargo insta review` (the definition
//!    snapshot). The MCP tools, the n8n form, the validator and `nodehost schema` follow from
//!    the enum at run time; nothing else lists the operations.
//!
//! # Adding a node: a crate, and one registration line
//!
//! A crate beside this one holds a type implementing [`nodehost_core::Node`] (what it is, its
//! credential type, how it opens a session, and `execute` handing the item to
//! `params.execute(session, item)`), its operations as above, and a `register` function like
//! [`register`] (with the node's emulator, if it offers one). The binary gets the dependency
//! in `crates/nodehost-cli/Cargo.toml` and one line in `nodehost_cli::registry()`. A small
//! node fits in one file (`src/lib.rs`); this one spreads its API client, answers and formats
//! over a few.

mod answer;
mod api;
pub mod credentials;
#[cfg(feature = "emulator")]
mod emulator;
pub mod formats;
mod node;
pub mod operations;
pub mod params;

pub use api::GestorSession;
pub use credentials::{CREDENTIAL_NAME, GestorCredentials};
#[cfg(feature = "emulator")]
pub use emulator::GestorEmulator;
pub use node::{ClienteNode, NODE_NAME};
pub use operations::{
    ClienteParams, CreateParams, GetAllParams, MatchBy, SearchParams, UpdateParams, UpsertParams,
};
pub use params::{ClientChanges, ClientFields, ClientId, ClientRef, PaymentStatus, Status};

/// Register the node, and the local emulator of its API it offers for `--sandbox` (feature
/// `emulator`), with `registry`: the one line a host adds to offer this crate.
pub fn register(registry: &mut nodehost_core::Registry) -> Result<(), nodehost_core::RegistryError> {
    registry.register(ClienteNode::new())?;
    #[cfg(feature = "emulator")]
    registry.offer_emulator(GestorEmulator);
    Ok(())
}
