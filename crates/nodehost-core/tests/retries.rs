//! The host's retries of a dynamic node's items: a failure the node marks `retryable` is tried
//! again only for an idempotent operation, within `max_tries` and the item's deadline, and
//! never once the run is cancelled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use nodehost_core::{
    DynamicNode, HostedNode, ItemContext, JsonSession, NodeDescription, NodeError, OperationHints, Output,
    RetryPolicy, SessionOptions, SetupError,
};
use serde_json::{Map, Value, json};

/// Fails (retryable) until the given attempt, counting every call.
struct Flaky {
    calls: Arc<AtomicU32>,
    succeed_on: u32,
}

#[async_trait]
impl DynamicNode for Flaky {
    async fn open(&self, _: Option<Value>, _: &SessionOptions) -> Result<Arc<dyn JsonSession>, SetupError> {
        Ok(Arc::new(FlakySession {
            calls: Arc::clone(&self.calls),
            succeed_on: self.succeed_on,
        }))
    }
}

struct FlakySession {
    calls: Arc<AtomicU32>,
    succeed_on: u32,
}

#[async_trait]
impl JsonSession for FlakySession {
    async fn execute(
        &self,
        _: Map<String, Value>,
        _: OperationHints,
        _: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n < self.succeed_on {
            return Err(NodeError::new(format!("busy ({n})")).retryable(true));
        }
        Ok(vec![Map::new().into()])
    }
}

fn flaky(succeed_on: u32) -> (HostedNode, Arc<AtomicU32>) {
    let branch = |op: &str| {
        json!({"title": op, "type": "object", "properties": {"operation": {"type": "string", "const": op}},
               "required": ["operation"], "additionalProperties": false})
    };
    let definition = json!({
        "displayName": "Flaky", "name": "flaky", "version": 1, "description": "Fails, then works",
        "credentials": [], "properties": [],
        "operations": {
            "read": {"readOnly": true, "idempotent": true, "destructive": false},
            "create": {"readOnly": false, "idempotent": false, "destructive": false}
        },
        "parametersSchema": {"type": "object", "oneOf": [branch("read"), branch("create")]}
    });
    let calls = Arc::new(AtomicU32::new(0));
    let flaky = Flaky {
        calls: Arc::clone(&calls),
        succeed_on,
    };
    let description = NodeDescription::from_definition(&definition).unwrap();
    (
        HostedNode::dynamic(description, None, Arc::new(flaky)).unwrap(),
        calls,
    )
}

fn options(max_tries: u32) -> SessionOptions {
    SessionOptions::new().with(RetryPolicy {
        max_tries,
        base: Duration::ZERO,
        cap: Duration::ZERO,
    })
}

async fn execute(
    node: &HostedNode,
    operation: &str,
    options: &SessionOptions,
    item: ItemContext,
) -> Result<Vec<Output>, NodeError> {
    let params = match json!({"operation": operation}) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let prepared = node
        .prepare(params, nodehost_core::UnknownFields::Reject)
        .unwrap();
    let session = node.open(None, options).await.unwrap();
    session.execute(prepared, &item).await
}

#[tokio::test]
async fn an_idempotent_item_is_tried_until_it_succeeds_within_max_tries() {
    let (node, calls) = flaky(3);
    let out = execute(&node, "read", &options(5), ItemContext::detached(0)).await;
    assert!(out.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let (node, calls) = flaky(10);
    let err = execute(&node, "read", &options(4), ItemContext::detached(0))
        .await
        .unwrap_err();
    assert_eq!(err.message, "busy (4)", "the last attempt's error is the item's");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_create_is_sent_once_however_retryable_its_failure() {
    let (node, calls) = flaky(2);
    let err = execute(&node, "create", &options(10), ItemContext::detached(0))
        .await
        .unwrap_err();
    assert_eq!(err.message, "busy (1)");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn no_retry_once_the_run_is_cancelled_or_past_the_deadline() {
    let (node, calls) = flaky(10);
    let cancelled = ItemContext::detached(0);
    cancelled.cancel.cancel();
    execute(&node, "read", &options(10), cancelled).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let (node, calls) = flaky(10);
    let slow = SessionOptions::new().with(RetryPolicy {
        max_tries: 10,
        base: Duration::from_secs(60),
        cap: Duration::from_secs(60),
    });
    // A wait that cannot fit before the deadline is not started: the item fails at once
    // (a zero jitter draw could still fit, so the deadline is already here).
    let due = ItemContext {
        deadline: Some(tokio::time::Instant::now()),
        ..ItemContext::detached(0)
    };
    execute(&node, "read", &slow, due).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
