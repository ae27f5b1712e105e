//! `ClienteNode`: the `gestorClientesMaxCliente` node, mapped onto the typed API client. Its
//! operations (names, hints, the records each touches) are declared on [`ClienteParams`].

use async_trait::async_trait;
use nodehost_core::{
    CredentialType, ItemContext, Node, NodeError, NodeInfo, Output, SessionOptions, SetupError, StringFormat,
};

use crate::api::GestorSession;
use crate::credentials::{self, GestorCredentials};
use crate::formats;
use crate::params::{ClientId, ClienteParams, UpsertParams};
use crate::upsert::{self, Decision};
use nodehost_core::Json;
use reqwest::Method;

/// Machine name of the node.
pub const NODE_NAME: &str = "gestorClientesMaxCliente";

/// The `gestorClientesMaxCliente` node: create, list, get, update and delete client records in
/// the Gestor Clientes Max API.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClienteNode;

impl ClienteNode {
    /// The node.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Node for ClienteNode {
    type Params = ClienteParams;
    type Credentials = GestorCredentials;
    type Session = GestorSession;

    fn info(&self) -> NodeInfo {
        NodeInfo {
            name: NODE_NAME.into(),
            display_name: "Gestor Clientes Max Cliente".into(),
            version: 1,
            description:
                "Create, list, get, update, delete, search and upsert clients in Gestor Clientes Max".into(),
            group: vec!["transform".into()],
            icon: Some("fa:users".into()),
            default_operation: "getAll".into(),
            usable_as_tool: true,
            supports_dry_run: true,
        }
    }

    fn credential(&self) -> Option<CredentialType> {
        Some(credentials::credential_type())
    }

    fn formats(&self) -> Vec<StringFormat> {
        formats::all()
    }

    async fn connect(
        &self,
        credentials: Option<GestorCredentials>,
        options: &SessionOptions,
    ) -> Result<GestorSession, SetupError> {
        // The host refuses a run without credentials before it gets here.
        let credentials = credentials.ok_or_else(|| SetupError::MissingCredentials {
            credential: credentials::CREDENTIAL_NAME.to_owned(),
            fields: vec!["baseUrl".into(), "apiKey".into()],
        })?;
        GestorSession::open(credentials, options)
    }

    async fn execute(
        &self,
        session: &GestorSession,
        params: ClienteParams,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        if item.dry_run {
            return Ok(vec![dry_run(session, params, item).await?]);
        }
        match params {
            ClienteParams::Create(p) => Ok(vec![session.create_client(&p, item).await?]),
            ClienteParams::GetAll(p) => {
                let mut clients = session.list_clients(item).await?;
                if !p.return_all {
                    clients.truncate(usize::try_from(p.limit).unwrap_or(usize::MAX));
                }
                Ok(clients)
            }
            ClienteParams::Get(p) => Ok(vec![session.get_client(p.client_id, item).await?]),
            ClienteParams::Update(p) => {
                // The schema's `minProperties` already demands a field; this guards callers
                // that skip validation, so an empty PUT is never sent.
                if p.is_empty() {
                    return Err(NodeError::new(
                        "operation `update` needs at least one field to change besides \
                         `clientId` (e.g. name, email, phone, status)",
                    ));
                }
                Ok(vec![session.update_client(p.client_id, &p.changes, item).await?])
            }
            ClienteParams::Delete(p) => Ok(vec![session.delete_client(p.client_id, item).await?.into()]),
            ClienteParams::Search(p) => {
                let mut clients = session.search_clients(p.q.as_str(), item).await?;
                if !p.return_all {
                    clients.truncate(usize::try_from(p.limit).unwrap_or(usize::MAX));
                }
                Ok(clients)
            }
            ClienteParams::Upsert(p) => Ok(vec![upsert(session, &p, item).await?]),
        }
    }

    async fn test_credentials(&self, session: &GestorSession) -> Result<String, NodeError> {
        session.test_connection().await
    }
}

/// A dry run of one item: `{"dryRun": true, "operation", "requests": [...]}`, the requests the
/// item would send, none of them sent, but for an upsert's search, which is sent (marked
/// `"sent": true`) because what the upsert would write depends on its answer.
async fn dry_run(
    session: &GestorSession,
    params: ClienteParams,
    item: &ItemContext,
) -> Result<Output, NodeError> {
    let none = None::<&Json>;
    let id_url = |id: ClientId| session.url(&["clients", &id.to_string()]);
    // What an upsert decided, shown after `operation`.
    let mut decided = Json::new();
    let (operation, requests) = match params {
        ClienteParams::Create(p) => (
            "create",
            vec![session.describe(&Method::POST, &session.url(&["clients"]), Some(&p))],
        ),
        ClienteParams::GetAll(_) => (
            "getAll",
            vec![session.describe(&Method::GET, &session.url(&["clients"]), none)],
        ),
        ClienteParams::Get(p) => (
            "get",
            vec![session.describe(&Method::GET, &id_url(p.client_id), none)],
        ),
        ClienteParams::Update(p) => (
            "update",
            vec![session.describe(&Method::PUT, &id_url(p.client_id), Some(&p.changes))],
        ),
        ClienteParams::Delete(p) => (
            "delete",
            vec![session.describe(&Method::DELETE, &id_url(p.client_id), none)],
        ),
        ClienteParams::Search(p) => (
            "search",
            vec![session.describe(&Method::GET, &session.search_url(p.q.as_str()), none)],
        ),
        ClienteParams::Upsert(p) => {
            let (key, found) = find_match(session, &p, item).await?;
            let mut search = session.describe(&Method::GET, &session.search_url(&key), none);
            search.insert("sent".into(), true.into());
            search.insert("purpose".into(), "find the client to update".into());
            search.insert("answered".into(), found.len().into());
            let mut requests = vec![search];
            let (outcome, changed) = match upsert::decide(&p, &key, found)? {
                Decision::Create(body) => {
                    requests.push(session.describe(&Method::POST, &session.url(&["clients"]), Some(&body)));
                    ("created", None)
                }
                Decision::Update { id, changes, changed } => {
                    requests.push(session.describe(&Method::PUT, &id_url(id), Some(&changes)));
                    ("updated", Some(changed))
                }
                Decision::Unchanged(_) => ("unchanged", Some(Vec::new())),
            };
            decided.insert("upsert".into(), outcome.into());
            if let Some(changed) = changed {
                decided.insert("changedFields".into(), changed.into());
            }
            ("upsert", requests)
        }
    };
    let mut out = Json::new();
    out.insert("dryRun".into(), true.into());
    out.insert("operation".into(), operation.into());
    out.extend(decided);
    out.insert(
        "requests".into(),
        requests
            .into_iter()
            .map(serde_json::Value::Object)
            .collect::<Vec<_>>()
            .into(),
    );
    Ok(Output::from(out))
}

/// An upsert's match key and the clients the API's search answers for it (a run and a dry run
/// alike send this search).
async fn find_match(
    session: &GestorSession,
    p: &UpsertParams,
    item: &ItemContext,
) -> Result<(String, Vec<Json>), NodeError> {
    // Validation demands the field `matchBy` names; this guards callers that skip it.
    let key = p.match_key().ok_or_else(|| {
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

/// Search by the match key, then create, update what differs, or send nothing.
async fn upsert(session: &GestorSession, p: &UpsertParams, item: &ItemContext) -> Result<Output, NodeError> {
    let (key, found) = find_match(session, p, item).await?;
    let (record, outcome, changed) = match upsert::decide(p, &key, found)? {
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
    Ok(Output::from(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodehost_core::{HostedNode, Lock, OperationHints, UnknownFields};
    use serde_json::{Value, json};

    fn locks(item: Value) -> Vec<Lock> {
        let node = HostedNode::typed(ClienteNode).unwrap();
        let Value::Object(params) = item else {
            unreachable!("items are objects")
        };
        node.prepare(params, UnknownFields::Reject).unwrap().locks
    }

    #[test]
    fn operations_are_declared_once_in_display_order_with_their_hints() {
        let node = HostedNode::typed(ClienteNode).unwrap();
        let ops: Vec<_> = node
            .description()
            .operations
            .iter()
            .map(|o| {
                (
                    o.value.as_str(),
                    o.display_name.as_str(),
                    o.action.as_str(),
                    o.hints,
                )
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                ("create", "Create", "Create a client", OperationHints::CREATE),
                ("getAll", "Get Many", "Get many clients", OperationHints::READ),
                ("get", "Get", "Get a client", OperationHints::READ),
                ("update", "Update", "Update a client", OperationHints::UPDATE),
                ("delete", "Delete", "Delete a client", OperationHints::DELETE),
                ("search", "Search", "Search clients", OperationHints::READ),
                (
                    "upsert",
                    "Create or Update",
                    "Create or update a client",
                    OperationHints::UPDATE
                ),
            ]
        );
        assert_eq!(node.description().default_operation, "getAll");
        let credential = node.credential().unwrap();
        assert_eq!(credential.name, "gestorClientesMaxApi");
        assert_eq!(credential.secret_fields(), ["apiKey"]);
    }

    #[test]
    fn writes_to_one_client_are_ordered_and_listings_see_every_earlier_write() {
        for id in [json!("7"), json!(7), json!("007")] {
            assert_eq!(
                locks(json!({"operation": "get", "clientId": id})),
                vec![Lock::shared("client/7")]
            );
        }
        for op in ["update", "delete"] {
            let mut item = json!({"operation": op, "clientId": 7});
            if op == "update" {
                item["name"] = json!("Ana");
            }
            assert_eq!(
                locks(item),
                vec![Lock::shared("clients"), Lock::exclusive("client/7")]
            );
        }
        assert_eq!(
            locks(json!({"operation": "create", "name": "Ana"})),
            vec![Lock::shared("clients")]
        );
        assert_eq!(
            locks(json!({"operation": "getAll"})),
            vec![Lock::exclusive("clients")]
        );
        // Upserts with one CPF or email are ordered whatever its spelling.
        assert_eq!(
            locks(json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana",
                "cpf": "529.982.247-25", "email": "Ana@Example.com"})),
            vec![
                Lock::shared("clients"),
                Lock::exclusive("cpf/52998224725"),
                Lock::exclusive("email/ana@example.com")
            ]
        );
    }
}
