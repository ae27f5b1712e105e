//! The set of nodes a host offers, by name, and the credential types they use.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::description::{CredentialType, NodeDescription};
use crate::emulator::Emulator;
use crate::hosted::{DynamicNode, HostedNode};
use crate::node::Node;

/// Nodes by name.
#[derive(Default, Clone)]
pub struct Registry {
    nodes: BTreeMap<String, Arc<HostedNode>>,
    credentials: BTreeMap<String, CredentialType>,
    /// Local emulators, by the credential type whose service they emulate.
    emulators: BTreeMap<String, Arc<dyn Emulator>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.nodes.keys()).finish()
    }
}

/// Why a node could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The node's description is inconsistent.
    #[error("node cannot be registered: {0}")]
    InvalidNode(String),
    /// Another node already has this name.
    #[error("a node named `{0}` is already registered")]
    Duplicate(String),
    /// Another credential type of this name, with other fields, is registered.
    #[error("a different credential type named `{0}` is already registered")]
    CredentialClash(String),
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a typed node; derives and checks its description.
    pub fn register<N: Node>(&mut self, node: N) -> Result<&mut Self, RegistryError> {
        let hosted = HostedNode::typed(node).map_err(|e| RegistryError::InvalidNode(e.0))?;
        self.insert(hosted)
    }

    /// Add a node known only by its description, executed by `node`.
    pub fn register_dynamic(
        &mut self,
        description: NodeDescription,
        credential: Option<CredentialType>,
        node: Arc<dyn DynamicNode>,
    ) -> Result<&mut Self, RegistryError> {
        let hosted = HostedNode::dynamic(description, credential, node)
            .map_err(|e| RegistryError::InvalidNode(e.0))?;
        self.insert(hosted)
    }

    /// Add a hosted node.
    pub fn insert(&mut self, node: HostedNode) -> Result<&mut Self, RegistryError> {
        self.insert_shared(Arc::new(node))
    }

    /// Add a hosted node that another registry may hold too.
    pub fn insert_shared(&mut self, node: Arc<HostedNode>) -> Result<&mut Self, RegistryError> {
        self.check(&node)?;
        if let Some(kind) = node.credential() {
            self.credentials
                .entry(kind.name.clone())
                .or_insert_with(|| kind.clone());
        }
        self.nodes.insert(node.name().to_owned(), node);
        Ok(self)
    }

    /// Whether `node` could be added: its name is free and its credential type, if another
    /// node already uses one of that name, is the same.
    pub fn check(&self, node: &HostedNode) -> Result<(), RegistryError> {
        let name = node.name();
        if self.nodes.contains_key(name) {
            return Err(RegistryError::Duplicate(name.to_owned()));
        }
        if let Some(kind) = node.credential()
            && self
                .credentials
                .get(&kind.name)
                .is_some_and(|known| known != kind)
        {
            return Err(RegistryError::CredentialClash(kind.name.clone()));
        }
        Ok(())
    }

    /// The node called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<HostedNode>> {
        self.nodes.get(name).cloned()
    }

    /// Every node, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &Arc<HostedNode>> {
        self.nodes.values()
    }

    /// Every credential type, by name.
    pub fn credential_types(&self) -> impl Iterator<Item = &CredentialType> {
        self.credentials.values()
    }

    /// Offer a local emulator of the service of its credential type (what `--sandbox`
    /// starts). A second emulator for the same credential type replaces the first.
    pub fn offer_emulator(&mut self, emulator: impl Emulator) -> &mut Self {
        self.emulators
            .insert(emulator.credential_type().to_owned(), Arc::new(emulator));
        self
    }

    /// The emulator of the service of credential type `credential_type`, if a node offers one.
    pub fn emulator(&self, credential_type: &str) -> Option<Arc<dyn Emulator>> {
        self.emulators.get(credential_type).cloned()
    }

    /// Every emulator on offer, by credential type.
    pub fn emulators(&self) -> impl Iterator<Item = &Arc<dyn Emulator>> {
        self.emulators.values()
    }

    /// Names of every node.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.nodes.keys().map(String::as_str)
    }

    /// The `nodehost list` summary: `{name, displayName, version, description}` per node.
    pub fn summary(&self) -> Value {
        Value::Array(self.nodes.values().map(|n| crate::hosted::summary(n)).collect())
    }

    /// `(file name, content)` of every node and credential definition, as checked in under
    /// `node-definitions/`.
    pub fn definition_files(&self) -> Vec<(String, Value)> {
        let mut files: Vec<(String, Value)> = self
            .nodes
            .values()
            .map(|n| (format!("{}.json", n.name()), n.definition().clone()))
            .collect();
        files.extend(
            self.credentials
                .values()
                .map(|c| (format!("{}.credentials.json", c.name), c.to_definition())),
        );
        files
    }
}
