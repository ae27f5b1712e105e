//! The node's operations, one file each: its parameters, what it is (an
//! [`OperationSpec`](nodehost_core::OperationSpec): display name, action, description,
//! side-effect hints, the records it touches) and what it does, for real and as a dry run,
//! side by side. The list below makes them the node's parameter enum; the definition, the n8n
//! form, the MCP tools and the validator follow from it. Adding an operation is a file here,
//! its `mod` line and its line in the list (see the crate documentation).

mod create;
mod delete;
mod get;
mod get_all;
mod search;
mod update;
mod upsert;

pub use create::{Create, CreateParams};
pub use delete::Delete;
pub use get::Get;
pub use get_all::{GetAll, GetAllParams};
use nodehost_core::{Json, Output};
pub use search::{Search, SearchParams};
pub use update::{Update, UpdateParams};
pub use upsert::{MatchBy, Upsert, UpsertParams};

use crate::api::GestorSession;

nodehost_core::operations! {
    /// One item's parameters, selected by `operation`, in the order the n8n form lists them.
    #[derive(Clone, PartialEq)]
    pub enum ClienteParams for GestorSession {
        Create(Create),
        GetAll(GetAll),
        Get(Get),
        Update(Update),
        Delete(Delete),
        Search(Search),
        Upsert(Upsert),
    }
}

/// A listing's records: all of them with `returnAll`, else at most `limit`.
fn limited(mut records: Vec<Output>, return_all: bool, limit: u32) -> Vec<Output> {
    if !return_all {
        records.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    records
}

/// A request without a body, for [`GestorSession::describe`].
const NO_BODY: Option<&Json> = None;

/// What a dry run of one item shows besides its operation: the requests it would send (none
/// sent, unless marked).
fn dry_run(requests: Vec<Json>) -> Output {
    let mut out = Json::new();
    out.insert(
        "requests".into(),
        requests
            .into_iter()
            .map(serde_json::Value::Object)
            .collect::<Vec<_>>()
            .into(),
    );
    Output::from(out)
}
