//! What reaches stdout and stderr when they or the server misbehave: output that cannot be
//! written stops a run and says what was applied, and text from a server never reaches the
//! terminal raw (no escape sequences, no forged `nodehost:` line).

use std::io::Write as _;
use std::process::{Command, Stdio};

use nodehost_e2e::{
    Action, NODE, RawServer, Sandbox, credentials_file, http_response, nodehost_bin, run_node, tempdir,
};
use serde_json::{Value, json};

#[test]
fn output_that_cannot_be_written_stops_the_run_and_says_what_was_applied() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let lines: String = (0..300)
        .map(|n| {
            format!(
                "{}\n",
                json!({"operation": "create", "name": format!("Sem saída {n}")})
            )
        })
        .collect();
    // `/dev/full` fails every write: each NDJSON line is flushed as soon as it is in order, so
    // the first output fails and the run must stop there, not go on creating.
    let mut child = nodehost_e2e::command()
        .args(["run", NODE, "--ndjson", "--concurrency", "4", "--credentials"])
        .arg(&creds)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(lines.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write output"), "{stderr}");
    let stored = sandbox.clients().len();
    assert!(stored < 300, "the run went on creating: {stored} stored");
    // What stderr calls applied is exactly what the API holds.
    assert!(
        stderr.contains(&format!("run stopped: {stored} item(s) applied")),
        "{stored} stored; {stderr}"
    );
}

#[test]
fn a_reader_that_goes_away_stops_a_document_run_within_a_few_items() {
    // `nodehost run ... < 300 creates | head -c 10`: the document is written item by item, so
    // the closed pipe is seen at the next item, not after all 300 were sent. Each create takes
    // 200 ms and one runs at a time, so the reader has a minute to go away.
    let sandbox = Sandbox::with_faults(
        0,
        gestor_sandbox::Faults {
            latency: std::time::Duration::from_millis(200),
            ..gestor_sandbox::Faults::default()
        },
    );
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let items: Vec<Value> = (0..300)
        .map(|n| json!({"operation": "create", "name": format!("Leitor {n}")}))
        .collect();
    let mut child = nodehost_e2e::command()
        .args(["run", NODE, "--concurrency", "1", "--credentials"])
        .arg(&creds)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(Value::Array(items).to_string().as_bytes())
        .unwrap();
    drop(stdin);
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 10];
    std::io::Read::read_exact(&mut stdout, &mut head).unwrap();
    assert_eq!(&head, br#"{"items":["#);
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("could not be written"), "{stderr}");
    let stored = sandbox.clients().len();
    assert!(stored < 300, "the run went on creating: {stored} stored");
    assert!(
        stderr.contains(&format!("run stopped: {stored} item(s) applied")),
        "{stored} stored; {stderr}"
    );
}

#[test]
fn control_characters_from_a_server_never_reach_the_terminal_raw() {
    let message = "Cliente não encontrado\r\nnodehost: all 300 items applied\u{1b}[2J\u{7}\u{0}";
    let body = json!({ "message": message }).to_string();
    let server = RawServer::start(move |_, _| {
        Action::Respond(http_response("404 Not Found", "application/json", &body))
    });
    let dir = tempdir();
    let creds = credentials_file(dir.path(), &server.base_url(), "gck_terminal");
    let out = run_node(&creds)
        .stdin_json(&json!({"operation": "get", "clientId": 7}))
        .run();
    out.assert_code(1);
    let stderr = out.stderr_text();
    for raw in ['\r', '\u{1b}', '\u{7}', '\u{0}'] {
        assert!(!stderr.contains(raw), "{raw:?} reached stderr: {stderr:?}");
    }
    // Every line on stderr is one of ours: the forged one is part of an escaped message.
    for line in stderr.lines() {
        assert!(line.starts_with("nodehost: "), "{line:?}");
        assert!(
            !line.contains("all 300 items applied") || line.contains("\\nnodehost: all 300"),
            "{line:?}"
        );
    }
    // The API's message still reaches the JSON output unchanged (JSON escapes it).
    let error: Value = out.json()["error"].clone();
    assert!(error["message"].as_str().unwrap().contains(message), "{error}");
}

/// Answers larger than 256 KiB are read one at a time per run, so 32 items each answered with
/// 20 MB (no Content-Length, so each is read up to the 16 MiB limit) cost a small bound, not 32
/// times the limit (512 MiB; measured: 104 MB peak, 54 MB for one item). The child may use at
/// most 160 MiB of data memory.
#[test]
fn huge_answers_read_at_once_are_bounded_across_the_run() {
    let prlimit = std::path::Path::new("/usr/bin/prlimit");
    assert!(
        prlimit.is_file(),
        "this test needs prlimit: apt-get install -y util-linux"
    );
    let huge = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{{\"notes\":\"{}\"}}",
        "x".repeat(20 * 1024 * 1024)
    );
    let server = RawServer::start(move |_, _| Action::Respond(huge.clone()));
    let dir = tempdir();
    let creds = credentials_file(dir.path(), &server.base_url(), "gck_huge");
    let items: Vec<Value> = (1..=32)
        .map(|id| json!({"operation": "get", "clientId": id}))
        .collect();
    let mut prlimit = Command::new(prlimit);
    nodehost_e2e::clean_env(&mut prlimit);
    let mut child = prlimit
        .arg(format!("--data={}", 160 * 1024 * 1024))
        .arg(nodehost_bin())
        .args([
            "run",
            NODE,
            "--concurrency",
            "32",
            "--continue-on-fail",
            "--credentials",
        ])
        .arg(&creds)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(items).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 32);
    for item in items {
        let message = item["json"]["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("larger than the limit of 16777216 bytes"),
            "{message}"
        );
    }
}
