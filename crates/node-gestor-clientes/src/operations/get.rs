//! `get`: one client by its ID.

use async_trait::async_trait;
use nodehost_core::{ItemContext, NodeError, Operation, OperationHints, OperationSpec, Output};
use reqwest::Method;

use super::{NO_BODY, dry_run};
use crate::api::GestorSession;
use crate::params::ClientRef;

/// `get`.
#[derive(Debug)]
pub struct Get;

#[async_trait]
impl Operation for Get {
    type Session = GestorSession;
    type Params = ClientRef;
    const SPEC: OperationSpec = OperationSpec::new(
        "Get",
        "Get a client",
        OperationHints::READ,
        "Get one client by its ID.",
    )
    .reads(&["client/{clientId|int}"]);

    async fn execute(
        session: &GestorSession,
        params: ClientRef,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        Ok(vec![session.get_client(params.client_id, item).await?])
    }

    async fn dry_run(
        session: &GestorSession,
        params: ClientRef,
        _: &ItemContext,
    ) -> Result<Output, NodeError> {
        let url = session.url(&["clients", &params.client_id.to_string()]);
        Ok(dry_run(vec![session.describe(&Method::GET, &url, NO_BODY)]))
    }
}
