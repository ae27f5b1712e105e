//! `upsert`: create the client, or update the one with the same CPF or email, for syncing.
//! What it sends is decided (`decide`) from the API's search for the match key.

mod decide;

use async_trait::async_trait;
use nodehost_core::{ItemContext, Json, NodeError, Operation, OperationHints, OperationSpec, Output};
use reqwest::Method;
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

use self::decide::{Decision, decide};
use super::create::CreateParams;
use super::{NO_BODY, dry_run};
use crate::api::GestorSession;

/// Which field identifies the client an upsert updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum MatchBy {
    Cpf,
    Email,
}

/// Parameters of `upsert`: those of `create`, and which of its fields finds the client.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(inline, transform = match_field_required)]
pub struct UpsertParams {
    /// The field that finds the existing client: `cpf` (its digits) or `email` (ignoring
    /// case). It must be given in the item.
    #[schemars(title = "Match By")]
    pub match_by: MatchBy,
    /// The client; on create it is the `POST /clients` body, on update only the fields that
    /// differ from the stored record are sent.
    #[serde(flatten)]
    pub client: CreateParams,
}

/// `matchBy: cpf` needs a `cpf` that is not null, and `matchBy: email` an `email`. One
/// `if`/`then`/`else` (the core carries those keywords into each operation's schema).
fn match_field_required(schema: &mut Schema) {
    if let Some(object) = schema.as_object_mut() {
        let when =
            |by: &str| serde_json::json!({"properties": {"matchBy": {"const": by}}, "required": ["matchBy"]});
        let needs =
            |field: &str| serde_json::json!({"required": [field], "properties": {field: {"type": "string"}}});
        object.insert("if".into(), when("cpf"));
        object.insert("then".into(), needs("cpf"));
        object.insert(
            "else".into(),
            serde_json::json!({"if": when("email"), "then": needs("email")}),
        );
    }
}

impl UpsertParams {
    /// The normalised value the client is found by (CPF digits, email in lower case), or
    /// `None` when the item does not give it (validation refuses such an item first).
    pub fn match_key(&self) -> Option<String> {
        match self.match_by {
            MatchBy::Cpf => self
                .client
                .fields
                .cpf
                .clone()
                .flatten()
                .map(|c| c.as_str().to_owned()),
            MatchBy::Email => self
                .client
                .fields
                .email
                .clone()
                .flatten()
                .map(|e| e.as_str().trim().to_lowercase()),
        }
    }
}

/// `upsert`.
#[derive(Debug)]
pub struct Upsert;

#[async_trait]
impl Operation for Upsert {
    type Session = GestorSession;
    type Params = UpsertParams;
    // Upserts with the same CPF or email run in input order, so a batch never creates one
    // client twice; like every write, they wait for an earlier listing and hold later ones.
    // Repeating one is harmless (the second finds the client and sends nothing), hence the
    // hints of an update; its create is still a POST, never retried once it may have arrived.
    const SPEC: OperationSpec = OperationSpec::new(
        "Create or Update",
        "Create or update a client",
        OperationHints::UPDATE,
        // The line break is the one the description has always had (it was a doc comment).
        "Create the client, or update the one with the same CPF or email: found by `matchBy`,\n\
         only the fields that differ are sent, and nothing when none does.",
    )
    .fields_in("additionalFields")
    .reads(&["clients"])
    .writes(&["cpf/{cpf|digits}", "email/{email|lower}"]);

    /// Search by the match key, then create, update what differs, or send nothing.
    async fn execute(
        session: &GestorSession,
        params: UpsertParams,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        let (key, found) = find_match(session, &params, item).await?;
        let (record, outcome, changed) = match decide(&params, &key, found)? {
            Decision::Create(body) => (session.create_client(&body, item).await?, "created", None),
            Decision::Update { id, changes, changed } => (
                session.update_client(id, &changes, item).await?,
                "updated",
                Some(changed),
            ),
            Decision::Unchanged(record) => (Output::from(record), "unchanged", Some(Vec::new())),
        };
        let mut record = record.into_object().map_err(NodeError::internal)?;
        record.insert("upsert".into(), outcome.into());
        if let Some(changed) = changed {
            record.insert("changedFields".into(), changed.into());
        }
        Ok(vec![Output::from(record)])
    }

    /// The search is sent (marked `"sent": true`, with why), since what the upsert would write
    /// depends on its answer; the write is not. `upsert` says `would create`, `would update`
    /// or `unchanged`.
    async fn dry_run(
        session: &GestorSession,
        params: UpsertParams,
        item: &ItemContext,
    ) -> Result<Output, NodeError> {
        let (key, found) = find_match(session, &params, item).await?;
        let mut search = session.describe(&Method::GET, &session.search_url(&key), NO_BODY);
        search.insert("sent".into(), true.into());
        let field = match params.match_by {
            MatchBy::Cpf => "CPF",
            MatchBy::Email => "email",
        };
        search.insert(
            "purpose".into(),
            format!(
                "find the client with this {field}: the upsert creates one when none is found, and \
                 otherwise updates what differs (this search is sent even in a dry run)"
            )
            .into(),
        );
        search.insert("answered".into(), found.len().into());
        let mut requests = vec![search];
        let mut decided = Json::new();
        let (outcome, changed) = match decide(&params, &key, found)? {
            Decision::Create(body) => {
                let url = session.url(&["clients"]);
                requests.push(session.describe(&Method::POST, &url, Some(&body)));
                ("would create", None)
            }
            Decision::Update { id, changes, changed } => {
                let url = session.url(&["clients", &id.to_string()]);
                requests.push(session.describe(&Method::PUT, &url, Some(&changes)));
                ("would update", Some(changed))
            }
            Decision::Unchanged(_) => ("unchanged", Some(Vec::new())),
        };
        decided.insert("upsert".into(), outcome.into());
        if let Some(changed) = changed {
            decided.insert("changedFields".into(), changed.into());
        }
        let requests = dry_run(requests).into_object().map_err(NodeError::internal)?;
        decided.extend(requests);
        Ok(Output::from(decided))
    }
}

/// The match key and the clients the API's search answers for it (a run and a dry run alike
/// send this search).
async fn find_match(
    session: &GestorSession,
    params: &UpsertParams,
    item: &ItemContext,
) -> Result<(String, Vec<Json>), NodeError> {
    // Validation demands the field `matchBy` names; this guards callers that skip it.
    let key = params.match_key().ok_or_else(|| {
        NodeError::new(
            "operation `upsert` needs the field `matchBy` names (cpf or email), and it is not given",
        )
    })?;
    let found = session
        .search_clients(&key, item)
        .await?
        .into_iter()
        .map(Output::into_object)
        .collect::<Result<Vec<_>, _>>()
        .map_err(NodeError::internal)?;
    Ok((key, found))
}
