//! The credentials a long-lived server (`serve`, `worker`, `mcp`) holds for the runs whose
//! requests bring none, by credential type: one lookup, whichever server asks.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::hosted::HostedNode;
use crate::registry::Registry;
use crate::secrets::Secrets;

/// Credentials by credential type name. `Debug` names the types, never a value.
#[derive(Clone, Default)]
pub struct ServerCredentials {
    by_type: BTreeMap<String, Value>,
}

impl fmt::Debug for ServerCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.by_type.keys()).finish()
    }
}

impl ServerCredentials {
    /// None held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hold `value` for every node of `credential_type`, unless credentials of that type are
    /// already held (the first source wins). Returns whether it was kept.
    pub fn hold(&mut self, credential_type: impl Into<String>, value: Value) -> bool {
        let mut kept = false;
        self.by_type.entry(credential_type.into()).or_insert_with(|| {
            kept = true;
            value
        });
        kept
    }

    /// Whether credentials of `credential_type` are held.
    pub fn holds(&self, credential_type: &str) -> bool {
        self.by_type.contains_key(credential_type)
    }

    /// The credentials held for `credential_type`.
    pub fn get(&self, credential_type: &str) -> Option<&Value> {
        self.by_type.get(credential_type)
    }

    /// The credentials `node` runs with when its request brings none: `Some(None)` when it
    /// needs none, `None` when it needs some and none are held.
    pub fn for_node(&self, node: &HostedNode) -> Option<Option<Value>> {
        match node.credential() {
            None => Some(None),
            Some(kind) => self.get(&kind.name).cloned().map(Some),
        }
    }

    /// The credential types held.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.by_type.keys().map(String::as_str)
    }

    /// Every secret field of the credentials held, as `registry`'s credential types mark them.
    pub fn secrets(&self, registry: &Registry) -> Secrets {
        registry
            .credential_types()
            .filter_map(|kind| Some(Secrets::of_credentials(kind, self.get(&kind.name)?)))
            .fold(Secrets::none(), |all, one| all.with(&one))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_source_wins_and_debug_shows_no_value() {
        let mut held = ServerCredentials::new();
        assert!(held.hold("api", json!({"apiKey": "first-secret"})));
        assert!(!held.hold("api", json!({"apiKey": "second"})));
        assert_eq!(held.get("api"), Some(&json!({"apiKey": "first-secret"})));
        assert!(held.holds("api") && !held.holds("other"));
        let debug = format!("{held:?}");
        assert_eq!(debug, r#"{"api"}"#);
    }
}
