//! `ClienteNode`: the `gestorClientesMaxCliente` node: what it is, its credential, its session,
//! and the dispatch of an item to its operation (one file each under `operations/`).

use async_trait::async_trait;
use nodehost_core::{
    CredentialType, ItemContext, Node, NodeError, NodeInfo, Output, SessionOptions, SetupError, StringFormat,
};

use crate::api::GestorSession;
use crate::credentials::{self, GestorCredentials};
use crate::formats;
use crate::operations::ClienteParams;
use nodehost_core::Json;

/// Machine name of the node.
pub const NODE_NAME: &str = "gestorClientesMaxCliente";

/// The `gestorClientesMaxCliente` node: client records in the Gestor Clientes Max API. Its
/// operations are the variants of [`ClienteParams`].
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
            description:
                "Create, list, get, update, delete, search and upsert clients in Gestor Clientes Max".into(),
            icon: Some("fa:users".into()),
            default_operation: "getAll".into(),
            supports_dry_run: true,
            ..NodeInfo::new(NODE_NAME, "Gestor Clientes Max Cliente")
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
        if !item.dry_run {
            return params.execute(session, item).await;
        }
        // `{"dryRun": true, "operation", ...what the operation shows}`: the requests the item
        // would send, none of them sent unless marked (an upsert's search).
        let operation = params.operation();
        let shown = params
            .dry_run(session, item)
            .await?
            .into_object()
            .map_err(NodeError::internal)?;
        let mut out = Json::new();
        out.insert("dryRun".into(), true.into());
        out.insert("operation".into(), operation.into());
        out.extend(shown);
        Ok(vec![Output::from(out)])
    }

    async fn test_credentials(&self, session: &GestorSession) -> Result<String, NodeError> {
        session.test_connection().await
    }
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
