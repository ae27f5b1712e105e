//! Ctrl-C (SIGINT) during a streaming run: no new item starts, the item in flight finishes, and
//! the output says exactly which items were applied, so the user can resume without duplicates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use gestor_sandbox::Faults;
use nodehost_e2e::{Sandbox, run_node, tempdir};
use serde_json::{Value, json};

#[test]
fn sigint_lets_the_item_in_flight_finish_and_reports_what_was_applied() {
    // Every answer takes 400 ms, so an item is surely in flight when the signal lands.
    let sandbox = Sandbox::with_faults(
        0,
        Faults {
            latency: Duration::from_millis(400),
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let mut child = run_node(&sandbox.credentials(dir.path()))
        .args(["--ndjson", "--concurrency", "4"])
        .spawn();
    let create = |n: usize| json!({"operation": "create", "name": format!("Interrompido {n}")}).to_string();
    child.send_line(&create(0));
    child.send_line(&create(1));
    for n in 0..2 {
        let line = child
            .next_line(Duration::from_secs(10))
            .expect("output of the first items");
        let line: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(line["pairedItem"]["item"], n);
    }
    child.send_line(&create(2));
    // The sandbox counts a request when it arrives, before its latency: once it has seen the
    // third POST, item 2 is in flight.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox.requests("POST /api/clients") < 3 {
        assert!(Instant::now() < deadline, "item 2 was never sent");
        std::thread::sleep(Duration::from_millis(10));
    }
    let interrupted = Instant::now();
    child.signal("INT");
    // Stdin stays open: the run must end on the signal, not on end of input.
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(10));
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(interrupted.elapsed() < Duration::from_secs(5));

    assert_eq!(
        rest.len(),
        2,
        "the in-flight item's output, then the error line: {rest:?}"
    );
    let last: Value = serde_json::from_str(&rest[0]).unwrap();
    assert_eq!(last["pairedItem"]["item"], 2);
    assert_eq!(last["json"]["name"], "Interrompido 2");
    let error: Value = serde_json::from_str(&rest[1]).unwrap();
    let error = &error["error"];
    assert!(
        error["message"].as_str().unwrap().contains("cancelled"),
        "{error}"
    );
    assert_eq!(error["applied"], json!([[0, 2]]));
    assert_eq!(error["failed"], json!([]));
    assert_eq!(error["notRun"], json!([]));

    // What the output calls applied is exactly what the API holds.
    let mut names: Vec<String> = sandbox
        .clients()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Interrompido 0", "Interrompido 1", "Interrompido 2"]);
}

#[test]
fn sigint_while_waiting_for_input_ends_the_run_at_once() {
    let sandbox = Sandbox::seeded(1);
    let dir = tempdir();
    let mut child = run_node(&sandbox.credentials(dir.path()))
        .args(["--ndjson"])
        .spawn();
    child.send_line(r#"{"operation": "get", "clientId": 1}"#);
    assert!(child.next_line(Duration::from_secs(10)).is_some());
    let interrupted = Instant::now();
    child.signal("INT");
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        interrupted.elapsed() < Duration::from_secs(2),
        "{:?}",
        interrupted.elapsed()
    );
    let error: Value = serde_json::from_str(rest.last().expect("an error line")).unwrap();
    assert_eq!(error["error"]["applied"], json!([[0, 0]]));
    assert!(stderr.contains("run interrupted: 1 item(s) applied"), "{stderr}");
}
