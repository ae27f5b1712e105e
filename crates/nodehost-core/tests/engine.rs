//! Behaviour of the engine seen from an embedder: validation before execution, parameter
//! resolution, ordering under concurrency, continue-on-fail and stop reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use nodehost_core::{
    FnSink, HostedNode, ItemFailure, OutputItem, Plan, Registry, RequestError, RunConfig, RunInput,
    RunReport, SessionOptions, StopCause, UnknownFields, WorkItem, engine,
};
use serde_json::{Map, Value, json};
use support::MemoNode;

fn memo() -> (MemoNode, Arc<HostedNode>) {
    let node = MemoNode::default();
    let mut r = Registry::new();
    r.register(node.clone()).unwrap();
    (node, r.get("memo").unwrap())
}

fn object(v: Value) -> Map<String, Value> {
    let Value::Object(m) = v else { panic!("object") };
    m
}

fn plan(node: &Arc<HostedNode>, parameters: Value, unknown: UnknownFields) -> Plan {
    Plan::new(Arc::clone(node), object(parameters), unknown).unwrap()
}

fn problems(node: &Arc<HostedNode>, item: Value) -> String {
    match plan(node, json!({}), UnknownFields::Reject)
        .prepare(3, object(item))
        .1
    {
        Ok(_) => "valid".into(),
        Err(e) => e.to_string(),
    }
}

fn prepare_all(node: &Arc<HostedNode>, input: RunInput) -> Result<Vec<WorkItem>, Box<RunReport>> {
    plan(node, Value::Object(input.parameters), UnknownFields::Reject).validate_all(input.items, false)
}

#[test]
fn validation_names_item_field_expected_and_received_all_at_once() {
    let (_, node) = memo();
    let n = &node;
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
    assert!(
        plan(&node, json!({}), UnknownFields::Ignore)
            .prepare(0, object(item))
            .1
            .is_ok()
    );
}

#[test]
fn long_received_values_are_cut_short() {
    let (_, node) = memo();
    let huge = "x".repeat(10_000_000);
    let message = problems(
        &node,
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
    let prepared = prepare_all(&node, input).expect("all valid");
    assert_eq!(prepared.len(), 3);
    // list takes `limit` from the node level; put takes `value`; neither complains about the other.
    assert!(prepared.iter().all(|(_, p)| p.is_ok()));
}

#[test]
fn a_typo_in_node_parameters_is_reported_as_such_not_as_a_problem_of_an_item() {
    let (_, node) = memo();
    let err = Plan::new(node, object(json!({"valeu": "x"})), UnknownFields::Reject).unwrap_err();
    assert_eq!(
        err,
        RequestError::UnknownParameters {
            node: "memo".into(),
            fields: vec!["valeu".into()]
        }
    );
    assert_eq!(
        err.to_string(),
        "unknown node-level parameter(s) `valeu`: no operation of `memo` takes them"
    );
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
    let refused = prepare_all(&node, input).unwrap_err();
    let Some(StopCause::Invalid { listed, more: 0 }) = &refused.stop else {
        panic!("{refused:?}")
    };
    assert_eq!(listed.iter().map(|p| p.item).collect::<Vec<_>>(), vec![1, 2]);
    let error = refused.error(Some(3)).unwrap().to_value();
    assert_eq!(error["message"], "2 of 3 item(s) invalid; nothing was sent");
    assert_eq!(error["reason"], "invalidItems");
    assert_eq!(
        (
            &error["applied"],
            &error["failed"],
            &error["notRun"],
            &error["maybeApplied"]
        ),
        (&json!([]), &json!([[1, 2]]), &json!([[0, 0]]), &json!([]))
    );
    assert!(state.0.log.lock().unwrap().is_empty(), "nothing executed");
}

async fn run(node: &Arc<HostedNode>, items: Value, config: RunConfig) -> (Vec<OutputItem>, RunReport) {
    let input = RunInput::from_value(items).unwrap();
    let plan = plan(node, Value::Object(input.parameters), UnknownFields::Reject);
    let prepared: Vec<_> = input
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| plan.prepare(i, item))
        .collect();
    let session = node.open(None, &SessionOptions::default()).await.unwrap();
    let mut out = Vec::new();
    let report = engine::execute(session, futures::stream::iter(prepared), &config, &mut out).await;
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
    assert_eq!(out[4].json.to_value().unwrap()["value"], "v5");
    assert_eq!(report.applied.count(), 20);
    assert!(!report.is_stopped());
    assert_eq!(
        serde_json::to_value(&out[0]).unwrap(),
        json!({"json": {"key": 1, "value": "v1"}, "pairedItem": {"item": 0}})
    );
}

#[tokio::test]
async fn a_run_builds_neither_the_n8n_form_nor_the_published_schema_of_a_typed_node() {
    let (_, node) = memo();
    let items = json!([{"operation": "put", "key": 1, "value": "a"}, {"operation": "get", "key": 1}]);
    let (out, report) = run(&node, items, config(1, false)).await;
    assert_eq!((out.len(), report.applied.count()), (2, 2));
    let description = node.description();
    assert!(description.properties.peek().is_none(), "the form was derived");
    assert!(
        description.parameters_schema.peek().is_none(),
        "the schema was derived"
    );
    // Read afterwards, both are what the operations say.
    let schema = node.item_schema(None).unwrap();
    let branches: Vec<&str> = schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(branches, ["put", "get", "list"]);
    assert_eq!(description.properties[0]["name"], "operation");
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
        out[1].json.to_value().unwrap()["value"],
        "first",
        "the get sees the earlier put, not the later one"
    );
    let list: Vec<Value> = out
        .iter()
        .filter(|o| o.paired_item == 4)
        .map(|o| o.json.to_value().unwrap()["value"].clone())
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
        assert_eq!(
            out[1].json.to_value().unwrap()["error"]["message"],
            "item 1: no key 99"
        );
        assert_eq!(out[1].json.to_value().unwrap()["error"]["httpStatus"], 404);
        assert_eq!(out[2].paired_item, 2);
        assert_eq!(
            out[2].json.to_value().unwrap()["error"]["problems"][0]["path"],
            "key"
        );
        assert_eq!(out[3].json.to_value().unwrap()["value"], "a");
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
        let prepared = prepare_all(&node, input).unwrap();
        let session = node.open(None, &SessionOptions::default()).await.unwrap();
        let mut emitted = 0;
        let mut sink = FnSink(|_| {
            emitted += 1;
            if emitted > 2 {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            } else {
                Ok(())
            }
        });
        let report = engine::execute(
            session,
            futures::stream::iter(prepared),
            &config(concurrency, false),
            &mut sink,
        )
        .await;
        assert_eq!(
            emitted, 3,
            "concurrency {concurrency}: no emit after the failing one"
        );
        assert!(report.output_failed() && report.is_stopped());
        let error = report.error(Some(20)).unwrap().to_value();
        assert_eq!(error["reason"], "outputFailed", "concurrency {concurrency}");
        assert_eq!(
            report.applied.count() + report.failed.count() + report.not_run_with_unread(Some(20)).count(),
            20,
            "concurrency {concurrency}: every item is accounted for once"
        );
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
    let Some(StopCause::Item(ItemFailure::Node { item, error })) = &report.stop else {
        panic!("{report:?}")
    };
    assert_eq!((*item, error.field("httpStatus")), (1, Some(&json!(503))));
    let err = report.error(Some(9)).unwrap().to_value();
    assert_eq!(err["message"], "item 1: cannot put 2");
    assert_eq!(err["httpStatus"], 503);
    assert_eq!(err["reason"], "itemFailed");
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
        cfg.cancel.cancel();
        let (out, report) = run(&node, Value::Array(items), cfg).await;
        assert!(out.is_empty(), "concurrency {concurrency}");
        assert!(state.0.store.lock().unwrap().is_empty());
        assert!(matches!(report.stop, Some(StopCause::Cancelled)));
        let error = report.error(Some(50)).unwrap().to_value();
        assert_eq!(error["reason"], "cancelled");
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
            out[1].json.to_value().unwrap()["error"]["message"],
            "item 1: internal error (a bug in nodehost or the node, please report it): the node panicked on this item"
        );
        assert_eq!(out[2].json.to_value().unwrap()["value"], "c");
        assert_eq!(report.failed.count(), 1);
    }
}

#[tokio::test]
async fn an_item_past_its_deadline_fails_and_a_write_among_them_may_have_been_applied() {
    let (state, node) = memo();
    let items = json!([
        {"operation": "put", "key": 1, "value": "slow", "delayMs": 20_000},
        {"operation": "get", "key": 1, "delayMs": 20_000}
    ]);
    let cfg = RunConfig {
        item_deadline: Some(std::time::Duration::from_millis(50)),
        ..config(2, true)
    };
    let (out, report) = run(&node, items, cfg).await;
    let message = out[0].json.to_value().unwrap()["error"]["message"].clone();
    assert_eq!(message, "item 0: did not finish within the item deadline of 50ms");
    assert_eq!(
        out[1].json.to_value().unwrap()["error"]["message"],
        "item 1: did not finish within the item deadline of 50ms"
    );
    // The put may have reached the store before it was given up; the get changes nothing.
    assert_eq!(report.maybe_applied.as_slice(), &[(0, 0)]);
    assert_eq!(report.failed.as_slice(), &[(0, 1)]);
    assert!(state.0.store.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_aborted_run_gives_up_items_in_flight_and_still_accounts_for_every_item() {
    for concurrency in [1, 4] {
        let (_, node) = memo();
        let items: Vec<Value> = (1..=6)
            .map(|k| json!({"operation": "put", "key": k, "value": "x", "delayMs": 20_000}))
            .collect();
        let cfg = config(concurrency, false);
        // Abort without a cancel first: nothing new starts, and whatever had started is given up.
        cfg.abort.cancel();
        let (out, report) = run(&node, Value::Array(items), cfg).await;
        assert!(out.is_empty(), "concurrency {concurrency}");
        assert!(
            matches!(report.stop, Some(StopCause::Cancelled)),
            "concurrency {concurrency}"
        );
        let error = report.error(Some(6)).unwrap().to_value();
        assert_eq!(error["reason"], "cancelled");
        assert_eq!(error["applied"], json!([]));
        // The writes given up in flight are the failed ones, and may have been applied.
        assert_eq!(
            error["failed"], error["maybeApplied"],
            "concurrency {concurrency}"
        );
        assert_eq!(
            report.failed.count() + report.not_run_with_unread(Some(6)).count(),
            6
        );
    }
}

#[tokio::test]
async fn runs_on_one_host_share_a_session_and_are_cancelled_one_by_one() {
    let node = MemoNode::default();
    let mut registry = Registry::new();
    registry.register(node.clone()).unwrap();
    let host = nodehost_core::Host::new(registry);
    let memo = host.node("memo").unwrap();
    let a = host.session(&memo, None).await.unwrap();
    let b = host.session(&memo, None).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b), "the same credentials share one session");

    let items = |from: u64| {
        RunInput::from_value(Value::Array(
            (from..from + 5)
                .map(|k| json!({"operation": "put", "key": k, "value": "x"}))
                .collect(),
        ))
        .unwrap()
    };
    let cancelled = RunConfig::default();
    cancelled.cancel.cancel();
    let going = RunConfig::default();
    let (first, second) = tokio::join!(
        host.run("memo", items(1), &cancelled),
        host.run("memo", items(100), &going)
    );
    let (first, second) = (json!(first.unwrap()), json!(second.unwrap()));
    assert_eq!(first["error"]["reason"], "cancelled");
    assert_eq!(first["error"]["notRun"], json!([[0, 4]]));
    assert_eq!(second["items"].as_array().unwrap().len(), 5);
    assert!(second.get("error").is_none());
    let keys: Vec<u64> = node.0.store.lock().unwrap().keys().copied().collect();
    assert_eq!(keys, [100, 101, 102, 103, 104]);
}
