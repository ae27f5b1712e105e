//! Behaviour of the engine seen from an embedder: validation before execution, parameter
//! resolution, ordering under concurrency, continue-on-fail and stop reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use nodehost_core::{
    DynNode, ItemFailure, OutputItem, Registry, RunConfig, RunInput, RunOptions, UnknownFields, engine,
    prepare_all, prepare_item,
};
use serde_json::{Value, json};
use support::MemoNode;

fn memo() -> (MemoNode, Arc<dyn DynNode>) {
    let node = MemoNode::default();
    let mut r = Registry::new();
    r.register(node.clone()).unwrap();
    (node, r.get("memo").unwrap())
}

fn problems(node: &dyn DynNode, item: Value) -> String {
    let Value::Object(item) = item else {
        panic!("object")
    };
    match prepare_item(node, &Default::default(), 3, item, UnknownFields::Reject) {
        Ok(_) => "valid".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn validation_names_item_field_expected_and_received_all_at_once() {
    let (_, node) = memo();
    let n = node.as_ref();
    insta::assert_snapshot!(problems(n, json!({"operation": "put", "key": 0, "value": "", "code": "abc"})), @"item 3: field `key`: expected a number >= 1, got 0; field `value`: must not be empty, got \"\"; field `code`: expected three capital letters, got \"abc\"");
    insta::assert_snapshot!(problems(n, json!({"operation": "put"})), @"item 3: field `key`: required, but missing; expected an integer; field `value`: required, but missing; expected a string");
    insta::assert_snapshot!(problems(n, json!({"operation": "put", "key": "7", "value": 5})), @"item 3: field `key`: expected an integer, got \"7\"; field `value`: expected a string, got 5");
    insta::assert_snapshot!(problems(n, json!({"operation": "get", "key": 1, "kye": 2})), @"item 3: field `kye`: unknown field `kye` for operation `get`; did you mean `key`?");
    insta::assert_snapshot!(problems(n, json!({"operation": "get", "key": 1, "value": "x"})), @"item 3: field `value`: unknown field `value` for operation `get` (it belongs to: put)");
    insta::assert_snapshot!(problems(n, json!({"operation": "explode"})), @"item 3: Unknown operation: explode (supported: put, get, list)");
    insta::assert_snapshot!(problems(n, json!({"operation": 5})), @"item 3: field `operation`: expected a string naming an operation, got 5");
    assert_eq!(
        problems(n, json!({})),
        "valid",
        "an item without operation uses the default (list)"
    );
}

#[test]
fn unknown_fields_can_be_ignored_on_request() {
    let (_, node) = memo();
    let item = json!({"operation": "get", "key": 1, "comment": "from a spreadsheet"});
    let Value::Object(item) = item else { unreachable!() };
    assert!(prepare_item(node.as_ref(), &Default::default(), 0, item, UnknownFields::Ignore).is_ok());
}

#[test]
fn long_received_values_are_cut_short() {
    let (_, node) = memo();
    let huge = "x".repeat(10_000_000);
    let message = problems(
        node.as_ref(),
        json!({"operation": "put", "key": 1, "value": 1, "code": huge}),
    );
    assert!(message.len() < 400, "message is {} bytes", message.len());
    assert!(message.contains("10000000 characters"));
}

#[test]
fn item_fields_override_node_parameters_and_other_operations_parameters_are_dropped() {
    let (_, node) = memo();
    let input = RunInput::from_value(json!({
        "parameters": {"operation": "put", "value": "node-level", "limit": 3},
        "items": [{"key": 1}, {"key": 2, "value": "own"}, {"operation": "list"}]
    }))
    .unwrap();
    let prepared = prepare_all(node.as_ref(), &input, UnknownFields::Reject).expect("all valid");
    assert_eq!(prepared.len(), 3);
    // list takes `limit` from the node level; put takes `value`; neither complains about the other.
    assert!(prepared.iter().all(|(_, p)| p.is_ok()));
}

#[test]
fn a_typo_in_node_parameters_is_reported() {
    let (_, node) = memo();
    let input = RunInput::from_value(json!({"parameters": {"valeu": "x"}, "items": [{}]})).unwrap();
    let err = prepare_all(node.as_ref(), &input, UnknownFields::Reject).unwrap_err();
    assert_eq!(err[0].problems[0].path, "parameters.valeu");
}

#[test]
fn every_invalid_item_is_reported_before_anything_runs() {
    let (state, node) = memo();
    let input = RunInput::from_value(json!([
        {"operation": "put", "key": 1, "value": "a"},
        {"operation": "put", "key": -1, "value": "b"},
        {"operation": "nope"}
    ]))
    .unwrap();
    let err = prepare_all(node.as_ref(), &input, UnknownFields::Reject).unwrap_err();
    assert_eq!(err.iter().map(|p| p.item).collect::<Vec<_>>(), vec![1, 2]);
    assert!(state.0.log.lock().unwrap().is_empty(), "nothing executed");
}

async fn run(
    node: &Arc<dyn DynNode>,
    items: Value,
    config: RunConfig,
) -> (Vec<OutputItem>, nodehost_core::RunReport) {
    let input = RunInput::from_value(items).unwrap();
    let prepared: Vec<_> = input
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            (
                i,
                prepare_item(
                    node.as_ref(),
                    &input.parameters,
                    i,
                    item.clone(),
                    UnknownFields::Reject,
                ),
            )
        })
        .collect();
    let session = node.open(None, &RunOptions::default()).await.unwrap();
    let mut out = Vec::new();
    let report = engine::execute(session, futures::stream::iter(prepared), &config, |item| {
        out.push(item.clone());
        Ok(())
    })
    .await;
    (out, report)
}

fn config(concurrency: usize, continue_on_fail: bool) -> RunConfig {
    RunConfig {
        concurrency,
        continue_on_fail,
        ..RunConfig::default()
    }
}

#[tokio::test]
async fn output_order_equals_input_order_and_every_item_is_paired() {
    let (_, node) = memo();
    // Earlier items are slower, so they finish last.
    let items: Vec<Value> = (1..=20)
        .map(|k| json!({"operation": "put", "key": k, "value": format!("v{k}"), "delayMs": (21 - k) * 2}))
        .collect();
    let (out, report) = run(&node, Value::Array(items), config(16, false)).await;
    let paired: Vec<usize> = out.iter().map(|o| o.paired_item).collect();
    assert_eq!(paired, (0..20).collect::<Vec<_>>());
    assert_eq!(out[4].json.to_value()["value"], "v5");
    assert_eq!(report.applied.count(), 20);
    assert!(!report.is_stopped());
    assert_eq!(
        serde_json::to_value(&out[0]).unwrap(),
        json!({"json": {"key": 1, "value": "v1"}, "pairedItem": {"item": 0}})
    );
}

#[tokio::test]
async fn items_on_the_same_record_run_in_input_order_under_concurrency() {
    let (state, node) = memo();
    let items = json!([
        {"operation": "put", "key": 1, "value": "first", "delayMs": 40},
        {"operation": "get", "key": 1},
        {"operation": "put", "key": 1, "value": "second"},
        {"operation": "put", "key": 2, "value": "other", "delayMs": 5},
        {"operation": "list"},
        {"operation": "put", "key": 3, "value": "after-list"}
    ]);
    let (out, _) = run(&node, items, config(16, false)).await;
    assert_eq!(
        out[1].json.to_value()["value"],
        "first",
        "the get sees the earlier put, not the later one"
    );
    let list: Vec<Value> = out
        .iter()
        .filter(|o| o.paired_item == 4)
        .map(|o| o.json.to_value()["value"].clone())
        .collect();
    assert_eq!(
        list,
        vec!["second", "other"],
        "list sees every earlier write and no later one"
    );
    let log = state.0.log.lock().unwrap().clone();
    let pos = |s: &str| log.iter().position(|l| l == s).unwrap();
    assert!(pos("put 1=first") < pos("get 1") && pos("get 1") < pos("put 1=second"));
    assert!(log.iter().any(|l| l == "put 2=other"));
}

#[tokio::test]
async fn continue_on_fail_turns_failures_into_paired_error_items() {
    for concurrency in [1, 4] {
        let (_, node) = memo();
        let items = json!([
            {"operation": "put", "key": 1, "value": "a"},
            {"operation": "get", "key": 99},
            {"operation": "put", "key": -5, "value": "b"},
            {"operation": "get", "key": 1}
        ]);
        let (out, report) = run(&node, items, config(concurrency, true)).await;
        assert_eq!(out.len(), 4, "concurrency {concurrency}");
        assert_eq!(out[1].json.to_value()["error"]["message"], "item 1: no key 99");
        assert_eq!(out[1].json.to_value()["error"]["httpStatus"], 404);
        assert_eq!(out[2].paired_item, 2);
        assert_eq!(out[2].json.to_value()["error"]["problems"][0]["path"], "key");
        assert_eq!(out[3].json.to_value()["value"], "a");
        assert_eq!(report.failed.count(), 2);
        assert!(!report.is_stopped());
    }
}

#[tokio::test]
async fn a_reader_that_goes_away_stops_the_run_and_nothing_is_emitted_after() {
    for concurrency in [1, 4] {
        let (state, node) = memo();
        let items: Vec<Value> = (1..=20)
            .map(|k| json!({"operation": "put", "key": k, "value": "x"}))
            .collect();
        let input = RunInput::from_value(Value::Array(items)).unwrap();
        let prepared = prepare_all(node.as_ref(), &input, UnknownFields::Reject).unwrap();
        let session = node.open(None, &RunOptions::default()).await.unwrap();
        let mut emitted = 0;
        let report = engine::execute(
            session,
            futures::stream::iter(prepared),
            &config(concurrency, false),
            |_| {
                emitted += 1;
                if emitted > 2 {
                    Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
                } else {
                    Ok(())
                }
            },
        )
        .await;
        assert_eq!(
            emitted, 3,
            "concurrency {concurrency}: no emit after the failing one"
        );
        assert!(report.output_error.is_some() && report.is_stopped());
        // Items already running when output failed still finish and count as applied.
        let written = state.0.store.lock().unwrap().len();
        assert_eq!(report.applied.count(), written, "concurrency {concurrency}");
        assert!(written < 20, "concurrency {concurrency}: the run stopped early");
    }
}

#[tokio::test]
async fn without_continue_on_fail_the_run_stops_and_says_what_was_applied() {
    let (state, node) = memo();
    let mut items: Vec<Value> = vec![
        json!({"operation": "put", "key": 1, "value": "a"}),
        json!({"operation": "put", "key": 2, "value": "b", "fail": true}),
    ];
    items.extend((3..10).map(|k| json!({"operation": "put", "key": k, "value": "late", "delayMs": 50})));
    let (out, report) = run(&node, Value::Array(items), config(1, false)).await;
    assert_eq!(out.len(), 1);
    let ItemFailure::Node { item, error } = report.stopped_by.clone().unwrap() else {
        panic!()
    };
    assert_eq!((item, error.http_status), (1, Some(503)));
    let err = report.error_json(Some(9)).unwrap();
    assert_eq!(err["applied"], json!([[0, 0]]));
    assert_eq!(err["failed"], json!([[1, 1]]));
    assert_eq!(err["notRun"], json!([[2, 8]]));
    assert_eq!(
        state.0.store.lock().unwrap().len(),
        1,
        "nothing after the failure ran"
    );
}

#[tokio::test]
async fn cancel_stops_starting_new_items() {
    for concurrency in [1, 2] {
        let (state, node) = memo();
        let items: Vec<Value> = (1..=50)
            .map(|k| json!({"operation": "put", "key": k, "value": "x", "delayMs": 5}))
            .collect();
        let cfg = config(concurrency, false);
        cfg.cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        let (out, report) = run(&node, Value::Array(items), cfg).await;
        assert!(out.is_empty(), "concurrency {concurrency}");
        assert!(state.0.store.lock().unwrap().is_empty());
        assert!(report.cancelled);
        let error = report.error_json(Some(50)).unwrap();
        assert!(error["message"].as_str().unwrap().contains("cancelled"));
        assert_eq!(error["notRun"], json!([[0, 49]]));
    }
}

#[tokio::test]
async fn a_panicking_node_fails_its_item_only_whatever_the_concurrency() {
    for concurrency in [1, 4] {
        let (_, node) = memo();
        let items = json!([
            {"operation": "put", "key": 1, "value": "a"},
            {"operation": "put", "key": 2, "value": "b", "panic": true},
            {"operation": "put", "key": 3, "value": "c"}
        ]);
        let (out, report) = run(&node, items, config(concurrency, true)).await;
        assert_eq!(out.len(), 3, "concurrency {concurrency}");
        assert_eq!(
            out[1].json.to_value()["error"]["message"],
            "item 1: internal error: the node panicked on this item"
        );
        assert_eq!(out[2].json.to_value()["value"], "c");
        assert_eq!(report.failed.count(), 1);
    }
}
