//! `delete`: one client by its ID; the output says which was deleted (the API answers an
//! empty 200).

use async_trait::async_trait;
use nodehost_core::{ItemContext, NodeError, Operation, OperationHints, OperationSpec, Output};
use reqwest::Method;

use super::{NO_BODY, dry_run};
use crate::api::GestorSession;
use crate::params::ClientRef;

/// `delete`.
#[derive(Debug)]
pub struct Delete;

#[async_trait]
impl Operation for Delete {
    type Session = GestorSession;
    type Params = ClientRef;
    const SPEC: OperationSpec = OperationSpec::new(
        "Delete",
        "Delete a client",
        OperationHints::DELETE,
        "Delete a client by its ID.",
    )
    .reads(&["clients"])
    .writes(&["client/{clientId|int}"]);

    async fn execute(
        session: &GestorSession,
        params: ClientRef,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        Ok(vec![session.delete_client(params.client_id, item).await?.into()])
    }

    async fn dry_run(
        session: &GestorSession,
        params: ClientRef,
        _: &ItemContext,
    ) -> Result<Output, NodeError> {
        let url = session.url(&["clients", &params.client_id.to_string()]);
        Ok(dry_run(vec![session.describe(&Method::DELETE, &url, NO_BODY)]))
    }
}
