//! Ctrl-C (SIGINT) during a streaming run: no new item starts, the item in flight finishes, and
//! the output says exactly which items were applied, so the user can resume without duplicates.

use std::time::{Duration, Instant};

use gestor_sandbox::Faults;
use nodehost_e2e::{Sandbox, run_node, tempdir};
use serde_json::{Value, json};

#[test]
fn sigint_lets_the_item_in_flight_finish_and_reports_what_was_applied() {
    // Every answer takes 400 ms, so an item is surely in flight when the signal lands.
    let sandbox = slow_sandbox(Duration::from_millis(400));
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
    until_seen(&sandbox, "POST /api/clients", 3);
    child.signal("INT");
    // Stdin stays open: the run must end on the signal, not on end of input.
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(10));
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

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
    child.signal("INT");
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(10));
    // It ended on the signal with stdin still open (the wait above fails on a hang).
    assert_eq!(status.code(), Some(1), "{stderr}");
    let error: Value = serde_json::from_str(rest.last().expect("an error line")).unwrap();
    assert_eq!(error["error"]["applied"], json!([[0, 0]]));
    assert!(stderr.contains("run interrupted: 1 item(s) applied"), "{stderr}");
}

/// A sandbox that takes `latency` to answer every request, so an item is surely in flight.
fn slow_sandbox(latency: Duration) -> Sandbox {
    Sandbox::with_faults(
        0,
        Faults {
            latency,
            ..Faults::default()
        },
    )
}

/// Waits until the sandbox has seen `n` requests to `key`: the n-th is then in flight.
fn until_seen(sandbox: &Sandbox, key: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox.requests(key) < n {
        assert!(Instant::now() < deadline, "{key} was never sent");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_stops_a_run_like_ctrl_c_and_writes_the_report() {
    let sandbox = slow_sandbox(Duration::from_millis(400));
    let dir = tempdir();
    let mut child = run_node(&sandbox.credentials(dir.path()))
        .args(["--ndjson", "--concurrency", "1"])
        .spawn();
    child.send_line(&json!({"operation": "create", "name": "Terminado 0"}).to_string());
    until_seen(&sandbox, "POST /api/clients", 1);
    child.signal("TERM");
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{stderr}");
    // The create in flight finished; the report says so, and the store agrees.
    assert_eq!(rest.len(), 2, "{rest:?}");
    let error: Value = serde_json::from_str(&rest[1]).unwrap();
    assert_eq!(error["error"]["reason"], "cancelled");
    assert_eq!(error["error"]["applied"], json!([[0, 0]]));
    assert_eq!(sandbox.clients().len(), 1);
}

#[test]
fn a_second_signal_gives_up_the_create_in_flight_and_reports_it_as_maybe_applied() {
    // The sandbox takes 30 s to answer: the create is surely in flight, and only giving it up
    // ends the run before the harness's limit.
    let sandbox = slow_sandbox(Duration::from_secs(30));
    let dir = tempdir();
    let mut child = run_node(&sandbox.credentials(dir.path()))
        .args(["--ndjson", "--deadline", "120"])
        .spawn();
    child.send_line(&json!({"operation": "create", "name": "Talvez"}).to_string());
    until_seen(&sandbox, "POST /api/clients", 1);
    child.signal("INT");
    // Two signals in a row may arrive as one; then the 10 s drain limit gives it up instead.
    std::thread::sleep(Duration::from_millis(200));
    child.signal("INT");
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let error: Value = serde_json::from_str(rest.last().expect("a report line")).unwrap();
    let error = &error["error"];
    assert_eq!(error["reason"], "cancelled", "{error}");
    assert_eq!(error["applied"], json!([]));
    assert_eq!(error["failed"], json!([[0, 0]]));
    assert_eq!(
        error["maybeApplied"],
        json!([[0, 0]]),
        "the create may have been stored"
    );
    assert!(stderr.contains("maybe applied"), "{stderr}");
}

#[test]
fn a_signal_during_a_backoff_ends_the_item_with_its_last_answer_and_no_retry() {
    // Every GET is answered 429 with Retry-After: 5; the item waits 5 s before its second try,
    // and the signal comes during that wait.
    let sandbox = Sandbox::with_faults(
        1,
        Faults {
            rate_limit_first_n_429: 10,
            retry_after_secs: 5,
            ..Faults::default()
        },
    );
    let dir = tempdir();
    let mut child = run_node(&sandbox.credentials(dir.path()))
        .args(["--ndjson"])
        .backoff_ms(100, 10_000)
        .spawn();
    child.send_line(&json!({"operation": "get", "clientId": 1}).to_string());
    until_seen(&sandbox, "GET /api/clients/1", 1);
    child.signal("INT");
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last: Value = serde_json::from_str(rest.last().expect("a report line")).unwrap();
    assert_eq!(last["error"]["httpStatus"], 429, "{last}");
    assert_eq!(last["error"]["failed"], json!([[0, 0]]));
    assert_eq!(
        sandbox.requests("GET /api/clients/1"),
        1,
        "the backoff was cut short: no retry"
    );
}

#[test]
fn a_bad_ndjson_line_stops_the_run_at_once_while_more_input_may_follow() {
    // Stdin stays open after the bad line: the run must not wait for the end of input to say so.
    let sandbox = Sandbox::seeded(1);
    let dir = tempdir();
    let mut child = run_node(&sandbox.credentials(dir.path()))
        .args(["--ndjson", "--concurrency", "4"])
        .spawn();
    child.send_line(r#"{"operation": "get", "clientId": 1}"#);
    child.send_line(r#"{"operation": "get", "clientId": "#);
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("input line 2"), "{stderr}");
    let error: Value = serde_json::from_str(rest.last().expect("a report line")).unwrap();
    assert_eq!(error["error"]["applied"], json!([[0, 0]]));
    assert_eq!(error["error"]["failed"], json!([[1, 1]]));
    assert_eq!(error["error"]["inputAfterStopNotRead"], true);
}

#[test]
fn an_endless_ndjson_line_is_refused_as_soon_as_it_passes_the_limit() {
    // `cat /dev/zero`: no newline ever comes. The line is refused once it passes 64 MiB, with
    // stdin still open and more zeros on the way.
    let sandbox = Sandbox::seeded(1);
    let dir = tempdir();
    let mut child = run_node(&sandbox.credentials(dir.path()))
        .args(["--ndjson"])
        .spawn();
    let zeros = "\0".repeat(1024 * 1024);
    for _ in 0..65 {
        child.send_raw(zeros.as_bytes());
    }
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("input line 1: line is longer than 64 MiB"),
        "{stderr}"
    );
    let error: Value = serde_json::from_str(rest.last().expect("a report line")).unwrap();
    assert_eq!(error["error"]["failed"], json!([[0, 0]]));
    assert_eq!(sandbox.total_requests(), 0);
}
