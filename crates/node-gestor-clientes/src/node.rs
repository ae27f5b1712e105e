//! `ClienteNode`: the `gestorClientesMaxCliente` node, mapped onto the typed API client. Its
//! operations (names, hints, the records each touches) are declared on [`ClienteParams`].

use async_trait::async_trait;
use nodehost_core::{
    CredentialType, ItemContext, Node, NodeError, NodeInfo, Output, SessionOptions, SetupError, StringFormat,
};

use crate::api::GestorSession;
use crate::credentials::{self, GestorCredentials};
use crate::formats;
use crate::params::ClienteParams;

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
            description: "Create, list, get, update and delete clients in Gestor Clientes Max".into(),
            group: vec!["transform".into()],
            icon: Some("fa:users".into()),
            default_operation: "getAll".into(),
            usable_as_tool: true,
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
        }
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
    }
}
