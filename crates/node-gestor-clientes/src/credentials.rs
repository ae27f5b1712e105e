//! The `gestorClientesMaxApi` credential type: what it holds, how it is described, and where a
//! user may provide it.
//!
//! The API key is a [`SecretString`] from the moment it is deserialized. This module never
//! exposes it; only the `api` module does, once, to build the `Authorization` header.

use nodehost_core::CredentialType;
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

/// Machine name of the credential type.
pub const CREDENTIAL_NAME: &str = "gestorClientesMaxApi";
/// Environment variable holding the base URL.
pub const ENV_BASE_URL: &str = "GESTOR_CLIENTES_MAX_BASE_URL";
/// Environment variable holding the API key.
pub const ENV_API_KEY: &str = "GESTOR_CLIENTES_MAX_API_KEY";

/// Credentials of the Gestor Clientes Max API.
///
/// `Debug` shows the base URL and redacts the key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "Gestor Clientes Max API")]
pub struct GestorCredentials {
    /// The API root including the `/api` segment, e.g. `https://agenda.example.com/api`.
    #[schemars(title = "Base URL", extend("format" = "uri"))]
    pub base_url: String,
    /// The API key (vendor keys look like `gck_` followed by 64 hex characters); sent as `Authorization: Bearer`.
    #[schemars(
        title = "API Key",
        with = "String",
        extend("x-secret" = true, "writeOnly" = true)
    )]
    pub api_key: SecretString,
}

impl GestorCredentials {
    /// Credentials from a base URL and a key.
    pub fn new(base_url: impl Into<String>, api_key: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
        }
    }
}

/// The credential type as the host publishes it.
pub fn credential_type() -> CredentialType {
    CredentialType {
        env: vec![
            ("baseUrl".into(), ENV_BASE_URL.into()),
            ("apiKey".into(), ENV_API_KEY.into()),
        ],
        authenticate: Some(json!({
            "type": "generic",
            "properties": {
                "headers": { "Authorization": "=Bearer {{$credentials.apiKey}}" }
            }
        })),
        test: Some(json!({
            "request": {
                "baseURL": "={{$credentials.baseUrl}}",
                "url": "/test-connection"
            }
        })),
        ..CredentialType::for_fields::<GestorCredentials>(CREDENTIAL_NAME, "Gestor Clientes Max API")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "gck_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn debug_redacts_the_key() {
        let creds: GestorCredentials = serde_json::from_value(json!({
            "baseUrl": "https://agenda.example.com/api",
            "apiKey": KEY,
        }))
        .unwrap();
        for shown in [format!("{creds:?}"), format!("{creds:#?}")] {
            assert!(!shown.contains(KEY), "{shown}");
            assert!(!shown.contains("0123456789abcdef"), "{shown}");
            assert!(shown.contains("https://agenda.example.com/api"), "{shown}");
        }
    }

    #[test]
    fn schema_marks_the_key_secret() {
        let schema = serde_json::to_value(schemars::schema_for!(GestorCredentials)).unwrap();
        let key = &schema["properties"]["apiKey"];
        assert_eq!(key["type"], "string");
        assert_eq!(key["x-secret"], true);
        assert_eq!(key["writeOnly"], true);
        assert_eq!(schema["required"], json!(["baseUrl", "apiKey"]));
        assert!(schema["properties"]["baseUrl"].get("x-secret").is_none());
    }
}
