//! `create`: a new client; the API answers the record it stored.

use async_trait::async_trait;
use nodehost_core::{ItemContext, NodeError, Operation, OperationHints, OperationSpec, Output};
use reqwest::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dry_run;
use crate::api::GestorSession;
use crate::params::{ClientFields, NonEmptyString, drop_null_defaults};

/// Parameters of `create`; serialized, they are the `POST /clients` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(inline, transform = drop_null_defaults)]
pub struct CreateParams {
    /// The client's full name.
    #[schemars(title = "Name")]
    pub name: NonEmptyString,
    /// The other client fields; only those given are sent.
    #[serde(flatten)]
    pub fields: ClientFields,
}

/// `create`.
#[derive(Debug)]
pub struct Create;

#[async_trait]
impl Operation for Create {
    type Session = GestorSession;
    type Params = CreateParams;
    // Every write claims the `clients` collection shared and `getAll` claims it exclusively,
    // so a listing sees every earlier write and later writes wait for it.
    const SPEC: OperationSpec = OperationSpec::new(
        "Create",
        "Create a client",
        OperationHints::CREATE,
        "Create a client and return the record the API stored.",
    )
    .reads(&["clients"]);

    async fn execute(
        session: &GestorSession,
        params: CreateParams,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        Ok(vec![session.create_client(&params, item).await?])
    }

    async fn dry_run(
        session: &GestorSession,
        params: CreateParams,
        _: &ItemContext,
    ) -> Result<Output, NodeError> {
        let url = session.url(&["clients"]);
        Ok(dry_run(vec![session.describe(
            &Method::POST,
            &url,
            Some(&params),
        )]))
    }
}
