//! `search`: the clients the API's search matches, one output item each.

use std::borrow::Cow;

use async_trait::async_trait;
use nodehost_core::{ItemContext, NodeError, Operation, OperationHints, OperationSpec, Output};
use reqwest::Method;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;

use super::{NO_BODY, dry_run, limited};
use crate::api::GestorSession;
use crate::params::{NonEmptyString, default_limit, default_true, limit_schema};

/// Parameters of `search`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(inline)]
pub struct SearchParams {
    /// What to look for; the API matches it inside the name, email, phone, CPF or city.
    #[schemars(title = "Search Term", with = "SearchTerm")]
    pub q: NonEmptyString,
    /// Return every match; when false, return at most `limit` matches.
    #[schemars(title = "Return All")]
    #[serde(default = "default_true")]
    pub return_all: bool,
    /// The most matches to return when `returnAll` is false.
    #[schemars(title = "Limit", schema_with = "limit_schema")]
    #[serde(default = "default_limit")]
    pub limit: u32,
}

/// The schema of a search term: one to 200 characters.
struct SearchTerm;

impl JsonSchema for SearchTerm {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "SearchTerm".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "minLength": 1, "maxLength": 200 })
    }
}

/// `search`.
#[derive(Debug)]
pub struct Search;

#[async_trait]
impl Operation for Search {
    type Session = GestorSession;
    type Params = SearchParams;
    // A listing, like `getAll`: it sees every earlier write.
    const SPEC: OperationSpec = OperationSpec::new(
        "Search",
        "Search clients",
        OperationHints::READ,
        "Find clients by a search term (the API's search), one output item per match.",
    )
    .writes(&["clients"]);

    async fn execute(
        session: &GestorSession,
        params: SearchParams,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        let clients = session.search_clients(params.q.as_str(), item).await?;
        Ok(limited(clients, params.return_all, params.limit))
    }

    async fn dry_run(
        session: &GestorSession,
        params: SearchParams,
        _: &ItemContext,
    ) -> Result<Output, NodeError> {
        let url = session.search_url(params.q.as_str());
        Ok(dry_run(vec![session.describe(&Method::GET, &url, NO_BODY)]))
    }
}
