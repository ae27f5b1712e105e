//! `getAll`: the clients the API key can see, one output item each.

use async_trait::async_trait;
use nodehost_core::{ItemContext, NodeError, Operation, OperationHints, OperationSpec, Output};
use reqwest::Method;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{NO_BODY, dry_run, limited};
use crate::api::GestorSession;
use crate::params::{default_limit, default_true, limit_schema};

/// Parameters of `getAll`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(inline)]
pub struct GetAllParams {
    /// Return every client; when false, return at most `limit` clients.
    #[schemars(title = "Return All")]
    #[serde(default = "default_true")]
    pub return_all: bool,
    /// The most clients to return when `returnAll` is false.
    #[schemars(title = "Limit", schema_with = "limit_schema")]
    #[serde(default = "default_limit")]
    pub limit: u32,
}

impl Default for GetAllParams {
    fn default() -> Self {
        Self {
            return_all: true,
            limit: default_limit(),
        }
    }
}

/// `getAll`.
#[derive(Debug)]
pub struct GetAll;

#[async_trait]
impl Operation for GetAll {
    type Session = GestorSession;
    type Params = GetAllParams;
    // Claims the `clients` collection exclusively: it sees every earlier write, and later
    // writes wait for it.
    const SPEC: OperationSpec = OperationSpec::new(
        "Get Many",
        "Get many clients",
        OperationHints::READ,
        "List the clients the API key can see, one output item per client.",
    )
    .writes(&["clients"]);

    async fn execute(
        session: &GestorSession,
        params: GetAllParams,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        let clients = session.list_clients(item).await?;
        Ok(limited(clients, params.return_all, params.limit))
    }

    async fn dry_run(session: &GestorSession, _: GetAllParams, _: &ItemContext) -> Result<Output, NodeError> {
        let url = session.url(&["clients"]);
        Ok(dry_run(vec![session.describe(&Method::GET, &url, NO_BODY)]))
    }
}
