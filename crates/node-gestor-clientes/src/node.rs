//! `ClienteNode`: the `gestorClientesMaxCliente` node's description and its five operations,
//! mapped onto the typed API client.

use async_trait::async_trait;
use nodehost_core::{
    Lock, Node, NodeError, NodeSpec, OperationHints, OperationSpec, Output, RunOptions, SetupError,
    StringFormat,
};

use crate::api::GestorSession;
use crate::credentials::{self, CREDENTIAL_NAME, GestorCredentials};
use crate::formats;
use crate::params::{ClientId, ClienteParams};

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

/// The node, for registries.
pub fn node() -> ClienteNode {
    ClienteNode
}

/// The lock on one client record.
fn client(id: ClientId) -> String {
    format!("client/{id}")
}

/// The lock on the collection: taken shared by every write, exclusively by `getAll`, so a
/// listing sees all earlier writes and later writes wait for it.
const CLIENTS: &str = "clients";

#[async_trait]
impl Node for ClienteNode {
    type Params = ClienteParams;
    type Credentials = GestorCredentials;
    type Session = GestorSession;

    fn spec(&self) -> NodeSpec {
        NodeSpec {
            name: NODE_NAME,
            display_name: "Gestor Clientes Max Cliente",
            version: 1,
            description: "Create, list, get, update and delete clients in Gestor Clientes Max",
            group: &["transform"],
            icon: Some("fa:users"),
            default_operation: "getAll",
            operations: vec![
                OperationSpec {
                    value: "create",
                    display_name: "Create",
                    action: "Create a client",
                    hints: OperationHints::CREATE,
                },
                OperationSpec {
                    value: "getAll",
                    display_name: "Get Many",
                    action: "Get many clients",
                    hints: OperationHints::READ,
                },
                OperationSpec {
                    value: "get",
                    display_name: "Get",
                    action: "Get a client",
                    hints: OperationHints::READ,
                },
                OperationSpec {
                    value: "update",
                    display_name: "Update",
                    action: "Update a client",
                    hints: OperationHints::UPDATE,
                },
                OperationSpec {
                    value: "delete",
                    display_name: "Delete",
                    action: "Delete a client",
                    hints: OperationHints::DELETE,
                },
            ],
            credential: Some(credentials::spec()),
            usable_as_tool: true,
        }
    }

    fn formats(&self) -> Vec<StringFormat> {
        formats::all()
    }

    fn access(&self, params: &ClienteParams) -> Vec<Lock> {
        match params {
            ClienteParams::Create(_) => vec![Lock::shared(CLIENTS)],
            ClienteParams::GetAll(_) => vec![Lock::exclusive(CLIENTS)],
            ClienteParams::Get(p) => vec![Lock::shared(client(p.client_id))],
            ClienteParams::Update(p) => {
                vec![Lock::exclusive(client(p.client_id)), Lock::shared(CLIENTS)]
            }
            ClienteParams::Delete(p) => {
                vec![Lock::exclusive(client(p.client_id)), Lock::shared(CLIENTS)]
            }
        }
    }

    async fn connect(
        &self,
        credentials: Option<GestorCredentials>,
        options: &RunOptions,
    ) -> Result<GestorSession, SetupError> {
        let credentials = credentials.ok_or_else(|| SetupError::MissingCredentials {
            credential: CREDENTIAL_NAME.to_owned(),
            hint: credentials::missing_hint(),
        })?;
        GestorSession::open(credentials, options)
    }

    async fn execute(
        &self,
        session: &GestorSession,
        params: ClienteParams,
    ) -> Result<Vec<Output>, NodeError> {
        match params {
            ClienteParams::Create(p) => Ok(vec![session.create_client(&p.body()).await?]),
            ClienteParams::GetAll(p) => {
                let mut clients = session.list_clients().await?;
                if !p.return_all {
                    clients.truncate(usize::try_from(p.limit).unwrap_or(usize::MAX));
                }
                Ok(clients)
            }
            ClienteParams::Get(p) => Ok(vec![session.get_client(p.client_id).await?]),
            ClienteParams::Update(p) => {
                // The schema's `minProperties` already demands a field; this guards callers
                // that skip validation, so an empty PUT is never sent.
                if p.is_empty() {
                    return Err(NodeError::new(
                        "operation `update` needs at least one field to change besides \
                         `clientId` (e.g. name, email, phone, status)",
                    ));
                }
                Ok(vec![session.update_client(p.client_id, &p.body()).await?])
            }
            ClienteParams::Delete(p) => Ok(vec![session.delete_client(p.client_id).await?.into()]),
        }
    }

    async fn test_credentials(&self, session: &GestorSession) -> Result<String, NodeError> {
        session.test_connection().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locks(item: serde_json::Value) -> Vec<Lock> {
        ClienteNode.access(&serde_json::from_value(item).unwrap())
    }

    #[test]
    fn operations_are_listed_in_display_order_with_their_hints() {
        let spec = ClienteNode.spec();
        let ops: Vec<_> = spec
            .operations
            .iter()
            .map(|o| (o.value, o.display_name, o.hints))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("create", "Create", OperationHints::CREATE),
                ("getAll", "Get Many", OperationHints::READ),
                ("get", "Get", OperationHints::READ),
                ("update", "Update", OperationHints::UPDATE),
                ("delete", "Delete", OperationHints::DELETE),
            ]
        );
        assert_eq!(spec.default_operation, "getAll");
        let credential = spec.credential.unwrap();
        assert_eq!(credential.name, "gestorClientesMaxApi");
        assert_eq!(
            credential.env,
            &[
                ("baseUrl", "GESTOR_CLIENTES_MAX_BASE_URL"),
                ("apiKey", "GESTOR_CLIENTES_MAX_API_KEY")
            ]
        );
    }

    #[test]
    fn writes_to_one_client_are_ordered_and_listings_see_every_earlier_write() {
        assert_eq!(
            locks(json!({"operation": "get", "clientId": "7"})),
            vec![Lock::shared("client/7")]
        );
        for op in ["update", "delete"] {
            let mut item = json!({"operation": op, "clientId": 7});
            if op == "update" {
                item["name"] = json!("Ana");
            }
            assert_eq!(
                locks(item),
                vec![Lock::exclusive("client/7"), Lock::shared("clients")]
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
