//! The wire format of protocol v1: JSON-RPC 2.0, one message per line on the plugin's stdin
//! (host to plugin) and stdout (plugin to host). `docs/plugin-protocol.md` is the reference;
//! this module is its one implementation, used by both the host and the SDK.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: &str = "1";

/// Longest line either side accepts by default (16 MiB).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Method names.
pub mod method {
    /// Handshake: versions, definitions.
    pub const INITIALIZE: &str = "initialize";
    /// Bind a node to credentials.
    pub const OPEN: &str = "open";
    /// Execute one item.
    pub const EXECUTE: &str = "execute";
    /// End a session.
    pub const CLOSE: &str = "close";
    /// End the plugin; the host closes its stdin afterwards.
    pub const SHUTDOWN: &str = "shutdown";
    /// Notification: the host gave up a request.
    pub const CANCEL: &str = "$/cancel";
}

/// Error codes.
pub mod code {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// The message is not a JSON-RPC request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The params are not what the method takes (an unknown session or node, an invalid item).
    pub const INVALID_PARAMS: i64 = -32602;
    /// A bug in the plugin.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The item failed (the usual answer of a failed `execute`).
    pub const ITEM_FAILED: i64 = -32000;
    /// `open` failed: bad credentials, unreachable service.
    pub const SETUP_FAILED: i64 = -32001;
    /// The request was cancelled by `$/cancel`.
    pub const CANCELLED: i64 = -32800;
}

/// A request or notification, as written.
#[derive(Debug, Serialize)]
pub struct Request<'a, P: Serialize> {
    /// Always `"2.0"`.
    pub jsonrpc: &'static str,
    /// Absent for a notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The method.
    pub method: &'a str,
    /// The params.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<P>,
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// The code (see [`code`]).
    pub code: i64,
    /// What went wrong, for the user.
    pub message: String,
    /// Structured detail: for `execute`, [`FailureData`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// The optional `data` of a failed `execute`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureData {
    /// HTTP status of the remote service's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Structured detail (the service's validation issues, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Trying again later may succeed (the host retries idempotent operations).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
    /// The item may have changed remote state before failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maybe_applied: bool,
}

/// Any message read off a line, before it is known what it is.
#[derive(Debug, Deserialize)]
pub struct Incoming {
    /// Must be `"2.0"`.
    pub jsonrpc: Option<String>,
    /// A request's or response's id (a number or a string in JSON-RPC; this protocol's host
    /// sends numbers).
    #[serde(default)]
    pub id: Option<Value>,
    /// Present on requests and notifications.
    #[serde(default)]
    pub method: Option<String>,
    /// A request's params.
    #[serde(default)]
    pub params: Option<Box<RawValue>>,
    /// A successful response's result (`null` included: present is what counts).
    #[serde(default, deserialize_with = "present")]
    pub result: Option<Box<RawValue>>,
    /// A failed response's error.
    #[serde(default)]
    pub error: Option<RpcError>,
}

/// A member that is there, whatever its value (`null` too), as `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// What [`Incoming`] turned out to be.
#[derive(Debug)]
pub enum Message {
    /// A request (has an id and a method).
    Request {
        /// Its id.
        id: Value,
        /// Its method.
        method: String,
        /// Its params.
        params: Option<Box<RawValue>>,
    },
    /// A notification (a method, no id).
    Notification {
        /// Its method.
        method: String,
        /// Its params.
        params: Option<Box<RawValue>>,
    },
    /// A response (an id and exactly one of result and error).
    Response {
        /// The id of the request it answers.
        id: Value,
        /// The result, or the error.
        outcome: Result<Box<RawValue>, RpcError>,
    },
}

/// Why a line is not a JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAMessage(pub String);

impl Message {
    /// Read one line.
    pub fn parse(line: &[u8]) -> Result<Self, NotAMessage> {
        let incoming: Incoming = serde_json::from_slice(line).map_err(|e| {
            NotAMessage(if e.is_data() {
                format!("a JSON value that is not a JSON-RPC message ({e})")
            } else {
                format!("a line that is not JSON ({e})")
            })
        })?;
        if incoming.jsonrpc.as_deref() != Some("2.0") {
            return Err(NotAMessage("a message without `\"jsonrpc\": \"2.0\"`".into()));
        }
        match (incoming.id, incoming.method, incoming.result, incoming.error) {
            (Some(id), Some(method), None, None) if !id.is_null() => Ok(Self::Request {
                id,
                method,
                params: incoming.params,
            }),
            (None, Some(method), None, None) => Ok(Self::Notification {
                method,
                params: incoming.params,
            }),
            (Some(id), None, Some(result), None) => Ok(Self::Response { id, outcome: Ok(result) }),
            (Some(id), None, None, Some(error)) => Ok(Self::Response { id, outcome: Err(error) }),
            _ => Err(NotAMessage(
                "a message that is neither a request, a notification nor a response with exactly one of `result` and `error`".into(),
            )),
        }
    }
}

/// One line: a request (`id` given) or a notification.
pub fn request_line<P: Serialize>(id: Option<u64>, method: &str, params: Option<P>) -> Vec<u8> {
    let mut line = serde_json::to_vec(&Request {
        jsonrpc: "2.0",
        id,
        method,
        params,
    })
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// One line: the success response to `id`.
pub fn result_line<R: Serialize>(id: &Value, result: &R) -> Vec<u8> {
    #[derive(Serialize)]
    struct Success<'a, R> {
        jsonrpc: &'static str,
        id: &'a Value,
        result: &'a R,
    }
    let mut line = serde_json::to_vec(&Success {
        jsonrpc: "2.0",
        id,
        result,
    })
    .unwrap_or_else(|e| error_line(id, &internal(format!("cannot write the result: {e}"))));
    if !line.ends_with(b"\n") {
        line.push(b'\n');
    }
    line
}

/// One line: the error response to `id`.
pub fn error_line(id: &Value, error: &RpcError) -> Vec<u8> {
    #[derive(Serialize)]
    struct Failure<'a> {
        jsonrpc: &'static str,
        id: &'a Value,
        error: &'a RpcError,
    }
    let mut line = serde_json::to_vec(&Failure {
        jsonrpc: "2.0",
        id,
        error,
    })
    .unwrap_or_default();
    line.push(b'\n');
    line
}

fn internal(message: String) -> RpcError {
    RpcError {
        code: code::INTERNAL_ERROR,
        message,
        data: None,
    }
}

/// `initialize` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// The host's protocol version.
    pub protocol_version: String,
    /// Who the host is.
    pub host: Software,
}

impl InitializeParams {
    /// What this host sends: its protocol version, name and version.
    pub fn nodehost() -> Self {
        Self {
            protocol_version: PROTOCOL_VERSION.to_owned(),
            host: Software {
                name: "nodehost".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        }
    }
}

/// A name and a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// `initialize` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    /// The plugin's protocol version.
    pub protocol_version: String,
    /// Who the plugin is; `name` is how it is registered and removed.
    pub plugin: Software,
    /// Node definitions (the format of `node-definitions/NAME.json`).
    pub nodes: Vec<Value>,
    /// Credential definitions (the format of `NAME.credentials.json`).
    #[serde(default)]
    pub credentials: Vec<Value>,
}

/// `open` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenParams {
    /// The node.
    pub node: String,
    /// Its credentials, checked by the host against the credential type.
    pub credentials: Option<Value>,
}

/// `open` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenResult {
    /// The session's id, chosen by the plugin.
    pub session: String,
}

/// `execute` params, as the host writes them.
#[derive(Debug, Serialize)]
pub struct ExecuteParams<'a> {
    /// The session.
    pub session: &'a str,
    /// The item's index in the input.
    pub item: usize,
    /// The item's resolved, validated parameters, `operation` included.
    pub params: &'a Map<String, Value>,
    /// A dry run (sent only when true, and only to a node whose definition has
    /// `"supportsDryRun": true`): send no write, answer what would be sent.
    #[serde(rename = "dryRun", skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// `execute` params, as a plugin reads them.
#[derive(Debug, Deserialize)]
pub struct ExecuteRequest {
    /// The session.
    pub session: String,
    /// The item's index.
    pub item: usize,
    /// The parameters.
    pub params: Map<String, Value>,
    /// A dry run.
    #[serde(rename = "dryRun", default)]
    pub dry_run: bool,
}

/// `close` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloseParams {
    /// The session.
    pub session: String,
}

/// `$/cancel` params.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelParams {
    /// The id of the request given up.
    pub id: Value,
}

/// Whether a plugin's protocol version is one this host speaks: the same major version.
pub fn compatible(version: &str) -> bool {
    version.split('.').next() == PROTOCOL_VERSION.split('.').next()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_are_classified() {
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"result":{"outputs":[]}}"#),
            Ok(Message::Response { outcome: Ok(_), .. })
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"no"}}"#),
            Ok(Message::Response { outcome: Err(e), .. }) if e.message == "no"
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":2,"result":null}"#),
            Ok(Message::Response { outcome: Ok(r), .. }) if r.get() == "null"
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","method":"$/cancel","params":{"id":3}}"#),
            Ok(Message::Notification { .. })
        ));
        for (line, words) in [
            (&b"hello"[..], "not JSON"),
            (br#"[1,2]"#, "not a JSON-RPC message"),
            (br#"{"id":1,"result":{}}"#, "jsonrpc"),
            (
                br#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}"#,
                "exactly one",
            ),
        ] {
            let e = Message::parse(line).unwrap_err();
            assert!(e.0.contains(words), "{e}");
        }
    }

    #[test]
    fn versions_match_on_the_major_number() {
        assert!(compatible("1"));
        assert!(compatible("1.2"));
        assert!(!compatible("2"));
        assert!(!compatible(""));
    }
}
