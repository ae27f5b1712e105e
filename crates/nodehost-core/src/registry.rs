//! The set of nodes a host offers, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::erased::{DynNode, Erased};
use crate::node::Node;

/// Nodes by name, type-erased.
#[derive(Default, Clone)]
pub struct Registry {
    nodes: BTreeMap<&'static str, Arc<dyn DynNode>>,
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
    /// The node's schema or spec is inconsistent.
    #[error("node cannot be registered: {0}")]
    InvalidNode(String),
    /// Another node already has this name.
    #[error("a node named `{0}` is already registered")]
    Duplicate(String),
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a node; derives and checks its definition.
    pub fn register<N: Node>(&mut self, node: N) -> Result<&mut Self, RegistryError> {
        let erased = Erased::new(node).map_err(RegistryError::InvalidNode)?;
        let name = erased.spec().name;
        if self.nodes.contains_key(name) {
            return Err(RegistryError::Duplicate(name.to_owned()));
        }
        self.nodes.insert(name, Arc::new(erased));
        Ok(self)
    }

    /// The node called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn DynNode>> {
        self.nodes.get(name).cloned()
    }

    /// Every node, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &Arc<dyn DynNode>> {
        self.nodes.values()
    }

    /// Names of every node.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.nodes.keys().copied()
    }

    /// The `nodehost list` summary.
    pub fn summary(&self) -> Value {
        Value::Array(
            self.nodes
                .values()
                .map(|n| {
                    let s = n.spec();
                    json!({
                        "name": s.name,
                        "displayName": s.display_name,
                        "version": s.version,
                        "description": s.description,
                    })
                })
                .collect(),
        )
    }
}
