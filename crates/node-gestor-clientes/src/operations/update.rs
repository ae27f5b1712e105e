//! `update`: the given fields of one client; fields left out are not touched.

use async_trait::async_trait;
use nodehost_core::{ItemContext, NodeError, Operation, OperationHints, OperationSpec, Output};
use reqwest::Method;
use schemars::JsonSchema;
use serde::Deserialize;

use super::dry_run;
use crate::api::GestorSession;
use crate::params::{ClientChanges, ClientId};

/// Parameters of `update`: which client, and at least one field to change.
// `minProperties: 2` counts `clientId` and one field to change (the core adds one for
// `operation`); the validator rejects unknown fields, so only a real client field can count.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(inline, extend("minProperties" = 2))]
pub struct UpdateParams {
    /// The client's numeric ID, as a number or a string of digits.
    #[schemars(title = "Client ID")]
    pub client_id: ClientId,
    /// What to change; serialized, it is the `PUT /clients/{id}` body.
    #[serde(flatten)]
    pub changes: ClientChanges,
}

impl UpdateParams {
    /// Whether the update would send anything besides the ID.
    pub fn is_empty(&self) -> bool {
        self.changes.name.is_none() && self.changes.fields.is_empty()
    }
}

/// `update`.
#[derive(Debug)]
pub struct Update;

#[async_trait]
impl Operation for Update {
    type Session = GestorSession;
    type Params = UpdateParams;
    // Writes to one client run in input order.
    const SPEC: OperationSpec = OperationSpec::new(
        "Update",
        "Update a client",
        OperationHints::UPDATE,
        "Change the given fields of a client; fields left out are not touched.",
    )
    .reads(&["clients"])
    .writes(&["client/{clientId|int}"]);

    async fn execute(
        session: &GestorSession,
        params: UpdateParams,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        // The schema's `minProperties` already demands a field; this guards callers that
        // skip validation, so an empty PUT is never sent.
        if params.is_empty() {
            return Err(NodeError::new(
                "operation `update` needs at least one field to change besides \
                 `clientId` (e.g. name, email, phone, status)",
            ));
        }
        Ok(vec![
            session
                .update_client(params.client_id, &params.changes, item)
                .await?,
        ])
    }

    async fn dry_run(
        session: &GestorSession,
        params: UpdateParams,
        _: &ItemContext,
    ) -> Result<Output, NodeError> {
        let url = session.url(&["clients", &params.client_id.to_string()]);
        Ok(dry_run(vec![session.describe(
            &Method::PUT,
            &url,
            Some(&params.changes),
        )]))
    }
}
