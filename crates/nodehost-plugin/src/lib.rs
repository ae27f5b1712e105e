//! nodehost plugins: nodes from any executable that speaks the nodehost plugin protocol
//! (JSON-RPC 2.0, one message per line over the plugin's stdin and stdout; see
//! `docs/plugin-protocol.md`).
//!
//! - [`protocol`]: the messages, shared by both sides.
//! - [`Plugin`] (host side): starts a plugin, checks its definitions, and gives its nodes as
//!   [`nodehost_core::HostedNode`]s that validate, order, retry and report exactly like
//!   built-in nodes. A plugin that crashes, hangs or writes garbage fails the items in flight
//!   with a message naming it; its process group never outlives the run.
//! - [`PluginServer`] (plugin side): turns any [`nodehost_core::Node`] into a plugin
//!   executable.
//! - [`PluginsFile`]: the registry file of `nodehost plugin add`.

pub mod check;
mod conformance;
mod host;
mod plugins_file;
mod process;
pub mod protocol;
mod sdk;

pub use check::check_definitions;
pub use conformance::{Check, conformance};
pub use host::{Plugin, PluginError};
pub use plugins_file::{FileStamp, PluginEntry, PluginsFile};
pub use process::{CallError, LogFn, PluginCommand, PluginOptions, Process};
pub use sdk::PluginServer;

/// `text` cut to at most `max` characters, with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}
