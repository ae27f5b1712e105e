//! A small in-memory node for the core's tests: records in a map, with latency and failures on
//! demand, so ordering, locking and continue-on-fail can be observed without a network.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use nodehost_core::{
    ItemContext, Json, NoCredentials, Node, NodeError, NodeInfo, Output, SessionOptions, SetupError,
    StringFormat,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// Parameters of the memo node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "operation", rename_all = "camelCase")]
pub enum MemoParams {
    /// Store a value under a key.
    #[schemars(extend("x-operation" = {"action": "Put a value", "hints": "update",
        "locks": {"read": ["all"], "write": ["k/{key}"]}}))]
    Put(PutParams),
    /// Read one key.
    #[schemars(extend("x-operation" = {"action": "Get a value", "hints": "read",
        "locks": {"read": ["k/{key}"]}}))]
    Get(KeyParams),
    /// Read every key.
    #[schemars(extend("x-operation" = {"action": "List values", "hints": "read",
        "locks": {"write": ["all"]}}))]
    List(ListParams),
}

/// Store a value.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PutParams {
    /// Record key.
    #[schemars(title = "Key", range(min = 1))]
    pub key: u64,
    /// Value to store.
    #[schemars(length(min = 1))]
    pub value: String,
    /// A code in the `code` format.
    #[serde(default)]
    #[schemars(extend("format" = "code"))]
    pub code: Option<String>,
    /// Milliseconds to wait before writing.
    #[serde(default)]
    pub delay_ms: u64,
    /// Fail instead of writing.
    #[serde(default)]
    pub fail: bool,
    /// Panic instead of writing (a node bug the engine must contain).
    #[serde(default)]
    pub panic: bool,
}

/// Read one key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyParams {
    /// Record key.
    #[schemars(title = "Key", range(min = 1))]
    pub key: u64,
    /// Milliseconds to wait before reading.
    #[serde(default)]
    pub delay_ms: u64,
}

/// Read all.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// Most records to return.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1))]
    pub limit: u64,
}

fn default_limit() -> u64 {
    50
}

/// The memo node's state: an in-memory store and the order operations happened in.
#[derive(Debug, Default)]
pub struct MemoState {
    pub store: Mutex<BTreeMap<u64, String>>,
    pub log: Mutex<Vec<String>>,
}

/// The memo node; clones share state, so a test can inspect it after a run.
#[derive(Debug, Default, Clone)]
pub struct MemoNode(pub std::sync::Arc<MemoState>);

fn code_ok(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

#[async_trait]
impl Node for MemoNode {
    type Params = MemoParams;
    type Credentials = NoCredentials;
    type Session = ();

    fn info(&self) -> NodeInfo {
        NodeInfo {
            name: "memo".into(),
            display_name: "Memo".into(),
            version: 1,
            description: "Keeps values in memory".into(),
            group: vec!["transform".into()],
            icon: None,
            default_operation: "list".into(),
            usable_as_tool: true,
            supports_dry_run: false,
        }
    }

    fn formats(&self) -> Vec<StringFormat> {
        vec![StringFormat::new("code", "three capital letters", code_ok)]
    }

    async fn connect(&self, _: Option<NoCredentials>, _: &SessionOptions) -> Result<(), SetupError> {
        Ok(())
    }

    async fn execute(&self, _: &(), params: MemoParams, _: &ItemContext) -> Result<Vec<Output>, NodeError> {
        match params {
            MemoParams::Put(p) => {
                // A zero sleep still waits for the timer's next tick (about 1 ms).
                if p.delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(p.delay_ms)).await;
                }
                if p.panic {
                    panic!("memo node bug on key {}", p.key);
                }
                if p.fail {
                    return Err(NodeError::new(format!("cannot put {}", p.key)).with_field("httpStatus", 503));
                }
                self.0.store.lock().unwrap().insert(p.key, p.value.clone());
                self.0
                    .log
                    .lock()
                    .unwrap()
                    .push(format!("put {}={}", p.key, p.value));
                Ok(vec![obj(json!({"key": p.key, "value": p.value})).into()])
            }
            MemoParams::Get(p) => {
                // A zero sleep still waits for the timer's next tick (about 1 ms).
                if p.delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(p.delay_ms)).await;
                }
                let v = self.0.store.lock().unwrap().get(&p.key).cloned();
                self.0.log.lock().unwrap().push(format!("get {}", p.key));
                match v {
                    Some(v) => Ok(vec![obj(json!({"key": p.key, "value": v})).into()]),
                    None => Err(NodeError::new(format!("no key {}", p.key)).with_field("httpStatus", 404)),
                }
            }
            MemoParams::List(p) => {
                let store = self.0.store.lock().unwrap();
                Ok(store
                    .iter()
                    .take(p.limit as usize)
                    .map(|(k, v)| obj(json!({"key": k, "value": v})).into())
                    .collect())
            }
        }
    }
}

pub fn obj(v: serde_json::Value) -> Json {
    match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("test objects are objects"),
    }
}
