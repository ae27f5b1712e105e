//! A node known only by a JSON definition (no Rust params type), as a plugin's would be, runs
//! through the same pipeline as the typed memo node and behaves the same way: validation
//! messages, same-record ordering, continue-on-fail, the stop report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use nodehost_core::{
    DynamicNode, HostedNode, ItemContext, JsonSession, NodeDescription, NodeError, OperationHints, Output,
    Plan, Registry, RunConfig, RunInput, SessionOptions, SetupError, StringFormat, UnknownFields, engine,
};
use serde_json::{Map, Value, json};

/// The memo node's definition, written by hand: what a plugin in any language would send.
fn definition() -> Value {
    let key = json!({"title": "Key", "description": "Record key.", "type": "integer", "format": "uint64", "minimum": 1});
    let delay = json!({"description": "Milliseconds to wait.", "type": "integer", "format": "uint64", "minimum": 0, "default": 0});
    json!({
        "displayName": "Memo",
        "name": "memo",
        "version": 1,
        "description": "Keeps values in memory",
        "credentials": [],
        "usableAsTool": true,
        "properties": [{"displayName": "Operation", "name": "operation", "type": "options", "default": "list",
            "options": [{"name": "Put", "value": "put", "action": "Put a value"},
                        {"name": "Get", "value": "get", "action": "Get a value"},
                        {"name": "List", "value": "list", "action": "List values"}]}],
        "operations": {
            "put": {"readOnly": false, "idempotent": true, "destructive": false,
                    "locks": {"read": ["all"], "write": ["k/{key}"]}},
            "get": {"readOnly": true, "idempotent": true, "destructive": false, "locks": {"read": ["k/{key}"]}},
            "list": {"readOnly": true, "idempotent": true, "destructive": false, "locks": {"write": ["all"]}}
        },
        "parametersSchema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "oneOf": [
                {"title": "put", "description": "Store a value under a key.", "type": "object",
                 "properties": {"operation": {"type": "string", "const": "put"}, "key": key,
                    "value": {"description": "Value to store.", "type": "string", "minLength": 1},
                    "code": {"description": "A code in the `code` format.", "type": ["string", "null"], "format": "code"},
                    "delayMs": delay, "fail": {"type": "boolean", "default": false}},
                 "required": ["operation", "key", "value"], "additionalProperties": false},
                {"title": "get", "description": "Read one key.", "type": "object",
                 "properties": {"operation": {"type": "string", "const": "get"}, "key": key, "delayMs": delay},
                 "required": ["operation", "key"], "additionalProperties": false},
                {"title": "list", "description": "Read every key.", "type": "object",
                 "properties": {"operation": {"type": "string", "const": "list", "default": "list"},
                    "limit": {"type": "integer", "minimum": 1, "default": 50}},
                 "additionalProperties": false}
            ]
        }
    })
}

/// The same behaviour as the typed memo node, reading its parameters as JSON.
#[derive(Default)]
struct JsonMemo {
    store: Arc<Mutex<BTreeMap<u64, String>>>,
    log: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl DynamicNode for JsonMemo {
    async fn open(&self, _: Option<Value>, _: &SessionOptions) -> Result<Arc<dyn JsonSession>, SetupError> {
        Ok(Arc::new(JsonMemoSession {
            store: Arc::clone(&self.store),
            log: Arc::clone(&self.log),
        }))
    }
}

struct JsonMemoSession {
    store: Arc<Mutex<BTreeMap<u64, String>>>,
    log: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl JsonSession for JsonMemoSession {
    async fn execute(
        &self,
        params: Map<String, Value>,
        _: OperationHints,
        _: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        let key = params.get("key").and_then(Value::as_u64).unwrap_or_default();
        let delay = params.get("delayMs").and_then(Value::as_u64).unwrap_or_default();
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let record = |k: &u64, v: &str| support::obj(json!({"key": k, "value": v})).into();
        match params["operation"].as_str() {
            Some("put") => {
                let value = params["value"].as_str().unwrap_or_default().to_owned();
                if params.get("fail") == Some(&json!(true)) {
                    return Err(NodeError::new(format!("cannot put {key}")).with_field("httpStatus", 503));
                }
                self.store.lock().unwrap().insert(key, value.clone());
                self.log.lock().unwrap().push(format!("put {key}={value}"));
                Ok(vec![record(&key, &value)])
            }
            Some("get") => {
                let value = self.store.lock().unwrap().get(&key).cloned();
                self.log.lock().unwrap().push(format!("get {key}"));
                value
                    .map(|v| vec![record(&key, &v)])
                    .ok_or_else(|| NodeError::new(format!("no key {key}")).with_field("httpStatus", 404))
            }
            _ => {
                let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(50);
                let store = self.store.lock().unwrap();
                Ok(store
                    .iter()
                    .take(limit as usize)
                    .map(|(k, v)| record(k, v))
                    .collect())
            }
        }
    }
}

fn dynamic() -> (Arc<HostedNode>, Arc<Mutex<Vec<String>>>) {
    // Read from text, as from a plugin's answer or a cached registry file.
    let text = definition().to_string();
    let mut description: NodeDescription = serde_json::from_str(&text).expect("a valid definition");
    description.formats = vec![StringFormat::new("code", "three capital letters", |s| {
        s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
    })];
    let memo = JsonMemo::default();
    let log = Arc::clone(&memo.log);
    let mut registry = Registry::new();
    registry
        .register_dynamic(description, None, Arc::new(memo))
        .unwrap();
    (registry.get("memo").unwrap(), log)
}

fn typed() -> (Arc<HostedNode>, support::MemoNode) {
    let node = support::MemoNode::default();
    let mut registry = Registry::new();
    registry.register(node.clone()).unwrap();
    (registry.get("memo").unwrap(), node)
}

fn object(v: Value) -> Map<String, Value> {
    let Value::Object(m) = v else { panic!("object") };
    m
}

#[test]
fn validation_speaks_the_same_words_for_both() {
    let (dynamic, _) = dynamic();
    let (typed, _) = typed();
    let problems = |node: &Arc<HostedNode>, item: &Value| {
        let plan = Plan::new(Arc::clone(node), Map::new(), UnknownFields::Reject).unwrap();
        match plan.prepare(3, object(item.clone())).1 {
            Ok(p) => format!("valid, locks {:?}", p.locks),
            Err(e) => e.to_string(),
        }
    };
    for item in [
        json!({"operation": "put", "key": 0, "value": "", "code": "abc"}),
        json!({"operation": "put"}),
        json!({"operation": "put", "key": "7", "value": 5}),
        json!({"operation": "get", "key": 1, "kye": 2}),
        json!({"operation": "get", "key": 1, "value": "x"}),
        json!({"operation": "explode"}),
        json!({"operation": 5}),
        json!({"operation": "put", "key": 7, "value": "v", "code": "ABC"}),
        json!({}),
    ] {
        assert_eq!(problems(&dynamic, &item), problems(&typed, &item), "{item}");
    }
    assert_eq!(
        problems(
            &dynamic,
            &json!({"operation": "put", "key": 0, "value": "", "code": "abc"})
        ),
        "item 3: field `key`: expected a number >= 1, got 0; field `value`: must not be empty, got \"\"; \
         field `code`: expected three capital letters, got \"abc\""
    );
}

async fn run(node: &Arc<HostedNode>, items: Value, concurrency: usize, continue_on_fail: bool) -> Value {
    let input = RunInput::from_value(items).unwrap();
    let total = input.items.len();
    let plan = Plan::new(Arc::clone(node), input.parameters, UnknownFields::Reject).unwrap();
    let work = match plan.validate_all(input.items, continue_on_fail) {
        Ok(work) => work,
        Err(refused) => return json!(refused.document(Vec::new(), Some(total))),
    };
    let session = node.open(None, &SessionOptions::default()).await.unwrap();
    let config = RunConfig {
        concurrency,
        continue_on_fail,
        ..RunConfig::default()
    };
    let mut out = Vec::new();
    let report = engine::execute(session, futures::stream::iter(work), &config, &mut out).await;
    json!(report.document(out, Some(total)))
}

#[tokio::test]
async fn runs_produce_the_same_documents_for_both() {
    let scenarios = [
        // Same-record order under concurrency: the get sees the first put, the list every
        // earlier write and no later one.
        (
            json!([
                {"operation": "put", "key": 1, "value": "first", "delayMs": 30},
                {"operation": "get", "key": 1},
                {"operation": "put", "key": 1, "value": "second"},
                {"operation": "put", "key": 2, "value": "other", "delayMs": 5},
                {"operation": "list"},
                {"operation": "put", "key": 3, "value": "after-list"}
            ]),
            16,
            false,
        ),
        // Continue-on-fail: a failure and an invalid item become paired error items.
        (
            json!([
                {"operation": "put", "key": 1, "value": "a"},
                {"operation": "get", "key": 99},
                {"operation": "put", "key": -5, "value": "b"},
                {"operation": "get", "key": 1}
            ]),
            4,
            true,
        ),
        // A failure stops the run: the report says what was applied.
        (
            json!([
                {"operation": "put", "key": 1, "value": "a"},
                {"operation": "put", "key": 2, "value": "b", "fail": true},
                {"operation": "put", "key": 3, "value": "c"}
            ]),
            1,
            false,
        ),
        // Invalid items: nothing is sent.
        (
            json!([{"operation": "put", "key": 1, "value": "a"}, {"operation": "nope"}]),
            4,
            false,
        ),
    ];
    for (items, concurrency, continue_on_fail) in scenarios {
        let (dynamic, log) = dynamic();
        let (typed, memo) = typed();
        let a = run(&dynamic, items.clone(), concurrency, continue_on_fail).await;
        let b = run(&typed, items.clone(), concurrency, continue_on_fail).await;
        assert_eq!(a, b, "{items}");
        // The same operations ran; across records their order is the scheduler's to choose.
        let sorted = |log: &Mutex<Vec<String>>| {
            let mut log = log.lock().unwrap().clone();
            log.sort();
            log
        };
        assert_eq!(sorted(&log), sorted(&memo.0.log), "{items}");
    }
    // What the first scenario's document says, so the comparison is not of two broken runs.
    let (dynamic, _) = dynamic();
    let document = run(
        &dynamic,
        json!([
            {"operation": "put", "key": 1, "value": "first", "delayMs": 30},
            {"operation": "get", "key": 1},
            {"operation": "put", "key": 1, "value": "second"},
            {"operation": "list"}
        ]),
        16,
        false,
    )
    .await;
    assert_eq!(
        document["items"][1],
        json!({"json": {"key": 1, "value": "first"}, "pairedItem": {"item": 1}})
    );
    assert_eq!(document["items"][3]["json"], json!({"key": 1, "value": "second"}));
    assert!(document.get("error").is_none(), "{document}");
}

#[test]
fn an_inconsistent_definition_is_refused_with_a_reason() {
    let mut missing_branch = definition();
    missing_branch["operations"]["delete"] =
        json!({"readOnly": false, "idempotent": true, "destructive": true});
    let mut bad_lock = definition();
    bad_lock["operations"]["get"]["locks"] = json!({"read": ["k/{key"]});
    let mut no_hints = definition();
    no_hints["operations"]["get"] = json!({"locks": {}});
    for (def, words) in [
        (missing_branch, "operation `delete` has no branch"),
        (no_hints, "operation `get`"),
    ] {
        let err = NodeDescription::from_definition(&def).unwrap_err();
        assert!(err.to_string().contains(words), "{err}");
    }
    let description = NodeDescription::from_definition(&bad_lock).unwrap();
    let err = HostedNode::dynamic(description, None, Arc::new(JsonMemo::default())).unwrap_err();
    assert!(err.to_string().contains("`{` without `}`"), "{err}");
}
