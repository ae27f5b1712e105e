//! The sandbox keeps what it acknowledged: concurrent writers lose nothing, and a write answered
//! before a `kill -9` of a `nodehost sandbox` process is there after it restarts.

use std::collections::{BTreeMap, BTreeSet};

use nodehost_e2e::{Sandbox, SandboxProcess, credentials_file, run_node, tempdir};
use serde_json::{Value, json};

const WRITERS: usize = 4;
const PER_WRITER: usize = 50;

#[test]
fn concurrent_writers_lose_nothing() {
    let mut sandbox = Sandbox::on_file();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    // Four `nodehost run` processes at once, each with 8 requests in flight.
    let outputs: Vec<Vec<Value>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let creds = creds.clone();
                scope.spawn(move || {
                    let items: Vec<Value> = (0..PER_WRITER)
                        .map(|n| json!({"operation": "create", "name": format!("W{w}-{n:02}"), "notes": format!("{n}")}))
                        .collect();
                    let out = run_node(&creds)
                        .args(["--concurrency", "8"])
                        .stdin_json(&Value::Array(items))
                        .run();
                    out.assert_code(0);
                    out.items_in_order()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let acknowledged: BTreeMap<u64, Value> = outputs
        .into_iter()
        .flatten()
        .map(|record| (record["id"].as_u64().unwrap(), record))
        .collect();
    assert_eq!(
        acknowledged.len(),
        WRITERS * PER_WRITER,
        "two creates got the same id"
    );

    // Every acknowledged record is stored exactly as acknowledged, also after a restart.
    for _ in 0..2 {
        let stored: BTreeMap<u64, Value> = sandbox
            .clients()
            .into_iter()
            .map(|c| (c["id"].as_u64().unwrap(), c))
            .collect();
        assert_eq!(stored, acknowledged);
        sandbox.restart();
    }
    let names: BTreeSet<&str> = acknowledged
        .values()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), WRITERS * PER_WRITER);
}

#[test]
fn writes_acknowledged_before_kill_9_are_there_after_restart() {
    let dir = tempdir();
    let db = dir.path().join("data").join("sandbox.db");
    let key = "gck_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let sandbox = SandboxProcess::start(&db, key);
    let creds = credentials_file(dir.path(), &sandbox.base_url, key);

    let items: Vec<Value> = (0..10)
        .map(|n| json!({"operation": "create", "name": format!("Duravel {n}")}))
        .collect();
    let created = run_node(&creds).stdin_json(&Value::Array(items)).run();
    created.assert_code(0);
    let created = created.items_in_order();
    let (first, second) = (created[0]["id"].clone(), created[1]["id"].clone());
    let updated = run_node(&creds)
        .stdin_json(
            &json!([{"operation": "update", "clientId": first, "notes": "after update", "status": "inactive"},
            {"operation": "delete", "clientId": second}]),
        )
        .run();
    updated.assert_code(0);
    let updated_record = updated.items_in_order()[0].clone();

    // The last answer has been read: kill the server without any chance to flush.
    sandbox.kill_9();

    let restarted = SandboxProcess::start(&db, key);
    let creds = credentials_file(dir.path(), &restarted.base_url, key);
    let listed = run_node(&creds).stdin_json(&json!({"operation": "getAll"})).run();
    listed.assert_code(0);
    let stored = listed.output_jsons();
    let mut expected: Vec<Value> = created
        .iter()
        .filter(|c| c["id"] != second)
        .map(|c| {
            if c["id"] == first {
                updated_record.clone()
            } else {
                c.clone()
            }
        })
        .collect();
    let by_id = |v: &Value| v["id"].as_u64().unwrap();
    expected.sort_by_key(by_id);
    let mut stored_sorted = stored.clone();
    stored_sorted.sort_by_key(by_id);
    assert_eq!(stored_sorted, expected);
}
