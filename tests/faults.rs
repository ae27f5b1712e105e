//! Runs of hundreds of items against a sandbox that answers 503 and 429 on purpose: idempotent
//! requests are retried until every output is right, creates are never sent twice, and the
//! number of attempts is exactly what the retry policy promises (counted by the sandbox).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use gestor_sandbox::Faults;
use nodehost_e2e::{Sandbox, run_node, tempdir};
use serde_json::{Value, json};

/// Seeded clients in the read/update tests.
const CLIENTS: u64 = 300;

#[test]
fn reads_and_updates_under_deterministic_503_and_429_take_exactly_four_attempts_each() {
    // Every METHOD+path is answered 503, 503, 429 (Retry-After: 0), then for real.
    let sandbox = Sandbox::with_faults(
        CLIENTS as u32,
        Faults {
            fail_first_n_503: 2,
            rate_limit_first_n_429: 1,
            retry_after_secs: 0,
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let items: Vec<Value> = (1..=CLIENTS)
        .map(|id| {
            if id.is_multiple_of(2) {
                json!({"operation": "update", "clientId": id, "notes": format!("note {id}")})
            } else {
                json!({"operation": "get", "clientId": id})
            }
        })
        .collect();
    let out = run_node(&sandbox.credentials(dir.path()))
        .args(["--max-tries", "4", "--concurrency", "16"])
        .stdin_json(&Value::Array(items))
        .run();
    out.assert_code(0);
    let outputs = out.items_in_order();
    assert_eq!(outputs.len(), CLIENTS as usize);

    let stats = sandbox.stats();
    let records: BTreeMap<u64, Value> = sandbox
        .clients()
        .into_iter()
        .map(|c| (c["id"].as_u64().unwrap(), c))
        .collect();
    for (i, output) in outputs.iter().enumerate() {
        let id = i as u64 + 1;
        assert_eq!(output["id"], id);
        // Every output is the record as stored after the run.
        assert_eq!(output, &records[&id], "output of item {i}");
        let (method, expected_notes) = if id.is_multiple_of(2) {
            ("PUT", json!(format!("note {id}")))
        } else {
            ("GET", records[&id]["notes"].clone())
        };
        assert_eq!(output["notes"], expected_notes);
        assert_eq!(
            stats.get(&format!("{method} /api/clients/{id}")),
            Some(&4),
            "attempts at {method} /api/clients/{id}"
        );
    }
    assert_eq!(stats.values().sum::<u64>(), 4 * CLIENTS);
}

#[test]
fn reads_under_random_503_and_429_all_complete_with_correct_outputs() {
    let sandbox = Sandbox::with_faults(
        CLIENTS as u32,
        Faults {
            error_503_share: 0.2,
            rate_limit_429_share: 0.1,
            retry_after_secs: 0,
            ..Faults::default()
        },
    );
    let dir = tempdir();
    // Every client read twice, in shuffled-looking order; 600 items.
    let ids: Vec<u64> = (0..2 * CLIENTS).map(|n| (n * 7) % CLIENTS + 1).collect();
    let items: Vec<Value> = ids
        .iter()
        .map(|id| json!({"operation": "get", "clientId": id}))
        .collect();
    // A fault share of 0.3 with 12 tries leaves one item in ~2 million failing by chance.
    let out = run_node(&sandbox.credentials(dir.path()))
        .args(["--max-tries", "12", "--concurrency", "16"])
        .stdin_json(&Value::Array(items))
        .run();
    out.assert_code(0);
    let outputs = out.items_in_order();
    let total: u64 = sandbox.stats().values().sum();
    let records: BTreeMap<u64, Value> = sandbox
        .clients()
        .into_iter()
        .map(|c| (c["id"].as_u64().unwrap(), c))
        .collect();
    assert_eq!(outputs.len(), ids.len());
    for (output, id) in outputs.iter().zip(&ids) {
        assert_eq!(output, &records[id]);
    }
    // Faults were really injected and retried past: ~600 / 0.7 attempts are expected.
    assert!(total > ids.len() as u64, "no retry happened: {total} requests");
}

#[test]
fn creates_under_503_are_sent_once_each_and_the_failed_ones_are_named() {
    const CREATES: usize = 200;
    // The first 20 POSTs are answered 503 and a further 20% at random.
    let sandbox = Sandbox::with_faults(
        0,
        Faults {
            fail_first_n_503: 20,
            error_503_share: 0.2,
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let names: Vec<String> = (0..CREATES).map(|n| format!("Cliente {n:03}")).collect();
    let items: Vec<Value> = names
        .iter()
        .map(|n| json!({"operation": "create", "name": n}))
        .collect();
    let out = run_node(&sandbox.credentials(dir.path()))
        .args(["--continue-on-fail", "--max-tries", "5", "--concurrency", "16"])
        .stdin_json(&Value::Array(items))
        .run();
    out.assert_code(0);
    let outputs = out.items_in_order();
    assert_eq!(outputs.len(), CREATES);

    // No retry of a create: exactly one POST per item, whatever the answer.
    assert_eq!(sandbox.requests("POST /api/clients"), CREATES as u64);

    let stored = sandbox.clients();
    let stored_names: Vec<&str> = stored.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = stored_names.iter().copied().collect();
    assert_eq!(unique.len(), stored_names.len(), "a client was created twice");

    let mut failed = 0;
    for (output, name) in outputs.iter().zip(&names) {
        if let Some(error) = output.get("error") {
            failed += 1;
            assert_eq!(error["httpStatus"], 503);
            let message = error["message"].as_str().unwrap();
            assert!(message.contains("503"), "{message}");
            // A 503 after a POST may hide a committed write: the user is told to check.
            assert_eq!(error["maybeApplied"], true);
            assert!(!unique.contains(name.as_str()), "{name} failed yet was stored");
        } else {
            assert_eq!(output["name"], name.as_str());
            assert!(
                unique.contains(name.as_str()),
                "{name} reported created but not stored"
            );
        }
    }
    assert!(
        failed >= 20,
        "the 20 deterministic 503s are reported, got {failed}"
    );
    assert_eq!(stored.len() + failed, CREATES);
    assert!(
        out.stderr_text().contains(&format!("{failed} item(s) failed")),
        "{}",
        out.stderr_text()
    );
}

/// Expands the engine's `[[a, b], ...]` ranges.
fn indices(ranges: &Value) -> Vec<usize> {
    ranges
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r[0].as_u64().unwrap() as usize..=r[1].as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn a_create_run_stopped_by_a_503_reports_what_was_applied_so_a_rerun_duplicates_nothing() {
    const CREATES: usize = 60;
    // The first POST to arrive is answered 503. Items already started when it fails may still
    // complete (how many is the scheduler's business); what the engine guarantees is below.
    let sandbox = Sandbox::with_faults(
        0,
        Faults {
            fail_first_n_503: 1,
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let names: Vec<String> = (0..CREATES).map(|n| format!("Lote {n:02}")).collect();
    let items: Vec<Value> = names
        .iter()
        .map(|n| json!({"operation": "create", "name": n}))
        .collect();

    let first = run_node(&creds)
        .args(["--concurrency", "4"])
        .stdin_json(&Value::Array(items.clone()))
        .run();
    first.assert_code(1);
    let doc = first.json();
    let error = &doc["error"];
    let applied = indices(&error["applied"]);
    let failed = indices(&error["failed"]);
    let not_run = indices(&error["notRun"]);
    assert_eq!(error["httpStatus"], 503);
    assert_eq!(failed.len(), 1, "{error}");
    assert_eq!(
        indices(&error["maybeApplied"]),
        failed,
        "a 503 on a create may hide a write"
    );
    // Only items after the failed one are left unstarted, and some are: the run stopped.
    assert!(
        !not_run.is_empty() && not_run.iter().all(|&i| i > failed[0]),
        "{error}"
    );
    // Every item is accounted for exactly once.
    let mut all: Vec<usize> = applied.iter().chain(&failed).chain(&not_run).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..CREATES).collect::<Vec<_>>(), "{error}");
    // The output holds exactly the applied items, and they are exactly what was stored.
    let paired: Vec<usize> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["pairedItem"]["item"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(paired, applied);
    let stored: BTreeSet<String> = sandbox
        .clients()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let applied_names: BTreeSet<String> = applied.iter().map(|&i| names[i].clone()).collect();
    assert_eq!(stored, applied_names);
    assert!(first.stderr_text().contains("run stopped"));

    // Re-running the failed and not-run items (the 503 stored nothing) completes the batch.
    let rest: Vec<Value> = failed.iter().chain(&not_run).map(|&i| items[i].clone()).collect();
    run_node(&creds)
        .stdin_json(&Value::Array(rest))
        .run()
        .assert_code(0);
    let mut stored: Vec<String> = sandbox
        .clients()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    stored.sort();
    assert_eq!(stored, names, "each client exactly once after the re-run");
    assert_eq!(sandbox.requests("POST /api/clients"), CREATES as u64 + 1);
}

#[test]
fn retry_after_is_honoured_and_a_longer_one_than_the_cap_is_handed_back_at_once() {
    let sandbox = Sandbox::with_faults(
        1,
        Faults {
            rate_limit_first_n_429: 1,
            retry_after_secs: 1,
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let get = json!({"operation": "get", "clientId": 1});

    // Cap 2 s: the client waits the second it was asked to, then succeeds.
    let out = run_node(&creds).backoff_ms(1, 2000).stdin_json(&get).run();
    out.assert_code(0);
    assert_eq!(out.items_in_order()[0]["id"], 1);
    assert_eq!(sandbox.requests("GET /api/clients/1"), 2);
    assert!(
        out.elapsed >= Duration::from_secs(1),
        "Retry-After ignored: {:?}",
        out.elapsed
    );

    // Cap 500 ms < Retry-After 1 s: no waiting past the cap, the 429 is reported at once.
    let sandbox = Sandbox::with_faults(
        1,
        Faults {
            rate_limit_first_n_429: 1,
            retry_after_secs: 1,
            ..Faults::default()
        },
    );
    let creds = sandbox.credentials(dir.path());
    let out = run_node(&creds).backoff_ms(1, 500).stdin_json(&get).run();
    out.assert_code(1);
    let error = &out.json()["error"];
    assert_eq!(error["httpStatus"], 429);
    assert!(error["message"].as_str().unwrap().contains("429"));
    // One request: the answer came back at once, with no wait for a retry that would not come.
    assert_eq!(sandbox.requests("GET /api/clients/1"), 1);
}

#[test]
fn retries_stop_at_max_tries_and_the_message_counts_them() {
    let sandbox = Sandbox::with_faults(
        1,
        Faults {
            fail_first_n_503: 10,
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let out = run_node(&sandbox.credentials(dir.path()))
        .args(["--max-tries", "3"])
        .stdin_json(&json!({"operation": "get", "clientId": 1}))
        .run();
    out.assert_code(1);
    assert_eq!(sandbox.requests("GET /api/clients/1"), 3);
    let error = &out.json()["error"];
    assert_eq!(error["httpStatus"], 503);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("503") && message.contains("after 3 attempts"),
        "{message}"
    );
}

#[test]
fn the_stderr_summary_of_a_stopped_run_counts_the_items_never_started() {
    let sandbox = Sandbox::with_faults(
        0,
        Faults {
            fail_first_n_503: 1,
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let items: Vec<Value> = (0..10)
        .map(|n| json!({"operation": "create", "name": format!("N{n}")}))
        .collect();
    let out = run_node(&sandbox.credentials(dir.path()))
        .args(["--concurrency", "1"])
        .stdin_json(&Value::Array(items))
        .run();
    out.assert_code(1);
    assert_eq!(out.json()["error"]["notRun"], json!([[1, 9]]));
    let stderr = out.stderr_text();
    assert!(
        stderr.contains("run stopped: 0 item(s) applied, 1 failed, 9 not run"),
        "{stderr}"
    );
}

#[test]
fn reads_survive_the_reference_fault_profile_with_the_default_retries() {
    // The profile the hardening pass used: a 503 HTML page for a quarter of the requests and a
    // 429 with `Retry-After: 1` for 4 %. With four tries an item failed in about one run in
    // ten; retrying within the item's deadline (the default ten tries) they all complete.
    let sandbox = Sandbox::with_faults(
        100,
        Faults {
            error_503_share: 0.25,
            rate_limit_429_share: 0.04,
            retry_after_secs: 1,
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let items: Vec<Value> = (1..=100)
        .map(|id| json!({"operation": "get", "clientId": id}))
        .collect();
    // The default backoff (200 ms doubling, 10 s cap), so a 1 s Retry-After is honoured, and
    // the default ten tries. The deadline is raised from 15 s so that what is tested is the
    // number of tries, not a slow machine: an item fails only after ten failures in a row
    // (0.29^10, about 4 in a million).
    let out = run_node(&sandbox.credentials(dir.path()))
        .args(["--concurrency", "8", "--deadline", "60"])
        .backoff_ms(200, 10_000)
        .stdin_json(&Value::Array(items))
        .deadline(Duration::from_secs(120))
        .run();
    out.assert_code(0);
    let ids: Vec<u64> = out
        .items_in_order()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=100).collect::<Vec<_>>());
}

#[test]
fn a_server_that_keeps_failing_is_given_up_on_after_a_bounded_number_of_retries() {
    // Every request is a 503. Ten tries for each of 50 items would be 500 requests; once 64
    // attempts in a row failed, the session stops retrying, so each item left gets one.
    let server = nodehost_e2e::RawServer::start(|_, _| {
        nodehost_e2e::Action::Respond(nodehost_e2e::http_response(
            "503 Service Unavailable",
            "text/html",
            "<h1>down</h1>",
        ))
    });
    let dir = tempdir();
    let creds = nodehost_e2e::credentials_file(dir.path(), &server.base_url(), "gck_down");
    let items: Vec<Value> = (1..=50)
        .map(|id| json!({"operation": "get", "clientId": id}))
        .collect();
    let out = run_node(&creds)
        .args(["--concurrency", "8", "--continue-on-fail"])
        .stdin_json(&Value::Array(items))
        .run();
    out.assert_code(0);
    assert_eq!(out.output_jsons().len(), 50);
    assert!(out.output_jsons().iter().all(|o| o["error"]["httpStatus"] == 503));
    let requests = server.request_lines().len();
    // 50 first attempts, at most 64 retries before the breaker, and one more per item in
    // flight when it opened.
    assert!((50..=50 + 64 + 8).contains(&requests), "{requests} requests");
}

#[test]
fn a_server_that_never_answers_ends_each_item_at_its_deadline() {
    // Headers, then silence: each attempt would wait its full 30 s timeout; the item's
    // deadline of 1 s ends it, and the harness's 20 s limit would catch a run that waited.
    let server = nodehost_e2e::RawServer::start(|_, _| nodehost_e2e::Action::StallAfterHeaders);
    let dir = tempdir();
    let creds = nodehost_e2e::credentials_file(dir.path(), &server.base_url(), "gck_silent");
    let items: Vec<Value> = (1..=10)
        .map(|id| json!({"operation": "get", "clientId": id}))
        .collect();
    let out = run_node(&creds)
        .args([
            "--concurrency",
            "8",
            "--continue-on-fail",
            "--deadline",
            "1",
            "--timeout",
            "30",
        ])
        .stdin_json(&Value::Array(items))
        .run();
    out.assert_code(0);
    let outputs = out.output_jsons();
    assert_eq!(outputs.len(), 10);
    for o in &outputs {
        let message = o["error"]["message"].as_str().unwrap();
        assert!(
            message.ends_with("did not finish within the item deadline of 1s"),
            "{message}"
        );
        assert!(
            o["error"].get("maybeApplied").is_none(),
            "a read changes nothing: {o}"
        );
    }
}
