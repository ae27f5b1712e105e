//! The `nodehost` binary seen from a terminal or a script: JSON piped in, exit status, stdout
//! and stderr snapshotted together (as ruff does with insta_cmd).

use std::process::Command;

use insta_cmd::assert_cmd_snapshot;

/// `nodehost` with a cleared environment: tests never pick up a developer's credentials,
/// plugins or log settings.
fn nodehost() -> Command {
    let mut cmd = nodehost_e2e::command();
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// `run --sandbox` against a private in-memory sandbox seeded with 3 clients.
fn run_on_sandbox() -> Command {
    let mut cmd = nodehost();
    cmd.args([
        "run",
        "gestorClientesMaxCliente",
        "--sandbox",
        "--sandbox-db",
        ":memory:",
        "--pretty",
    ]);
    cmd
}

/// Values that change between runs: ports, timestamps, owner ids.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", "[TIMESTAMP]");
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    s
}

#[test]
fn list_names_every_node() {
    assert_cmd_snapshot!(nodehost().arg("list"));
}

#[test]
fn version_and_help_work() {
    let out = nodehost().arg("--version").output().expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("nodehost "));
    for sub in ["list", "describe", "schema", "run", "sandbox"] {
        let out = nodehost().args([sub, "--help"]).output().expect("runs");
        assert!(out.status.success(), "{sub} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Example"),
            "{sub} --help shows an example"
        );
    }
}

#[test]
fn describe_prints_the_checked_in_definition() {
    let out = nodehost()
        .args(["describe", "gestorClientesMaxCliente"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let on_disk = std::fs::read(nodehost_e2e::repo_file(
        "node-definitions/gestorClientesMaxCliente.json",
    ))
    .expect("definition file");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json"),
        serde_json::from_slice::<serde_json::Value>(&on_disk).expect("json")
    );
}

#[test]
fn unknown_node_is_a_usage_error() {
    assert_cmd_snapshot!(nodehost().args(["describe", "nope"]));
    assert_cmd_snapshot!(nodehost().args(["run", "nope"]).pass_stdin("[]"));
}

#[test]
fn schema_of_one_operation() {
    assert_cmd_snapshot!(nodehost().args(["schema", "gestorClientesMaxCliente", "--operation", "delete"]));
    assert_cmd_snapshot!(nodehost().args(["schema", "gestorClientesMaxCliente", "--operation", "merge"]));
}

#[test]
fn malformed_json_reports_line_and_column() {
    assert_cmd_snapshot!(
        nodehost()
            .args(["run", "gestorClientesMaxCliente"])
            .pass_stdin("[\n  {\"operation\": \"get\", \"clientId\": 7,}\n]")
    );
}

#[test]
fn empty_input_is_a_usage_error() {
    assert_cmd_snapshot!(
        nodehost()
            .args(["run", "gestorClientesMaxCliente"])
            .pass_stdin("")
    );
}

#[test]
fn invalid_items_stop_the_run_before_anything_is_sent() {
    // No credentials are needed to find out that the input is wrong.
    assert_cmd_snapshot!(nodehost().args(["run", "gestorClientesMaxCliente"]).pass_stdin(
        r#"[
            {"operation": "get", "clientId": "12/../7"},
            {"operation": "create", "name": "Ana", "cpf": "123.456.789-00", "birthDate": "2023-02-30", "emial": "a@b.co"},
            {"operation": "get", "clientId": 3},
            {"operation": "archive", "clientId": 3}
        ]"#
    ));
}

#[test]
fn missing_credentials_are_a_usage_error_with_a_hint() {
    assert_cmd_snapshot!(
        nodehost()
            .args(["run", "gestorClientesMaxCliente"])
            .pass_stdin(r#"{"operation": "get", "clientId": 1}"#)
    );
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let out = nodehost()
        .args(["run", "gestorClientesMaxCliente"])
        .env("GESTOR_CLIENTES_MAX_BASE_URL", "http://agenda.example.com/api")
        .env("GESTOR_CLIENTES_MAX_API_KEY", "gck_canary_secret")
        .pass_stdin_bytes(br#"{"operation": "get", "clientId": 1}"#);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("http"), "{stderr}");
    assert!(!stderr.contains("gck_canary_secret"));
}

#[test]
fn create_on_the_sandbox() {
    settings().bind(|| {
        assert_cmd_snapshot!(run_on_sandbox().pass_stdin(
            r#"{"operation": "create", "name": "Ana Souza", "email": "ana@example.com", "cpf": "529.982.247-25",
                "birthDate": "1990-04-17T10:00:00Z", "cep": "01310-100", "state": "sp", "consultationPrice": 0}"#
        ));
    });
}

#[test]
fn get_all_gives_one_item_per_client() {
    settings().bind(|| {
        assert_cmd_snapshot!(
            run_on_sandbox().pass_stdin(r#"{"operation": "getAll", "returnAll": false, "limit": 2}"#)
        );
    });
}

#[test]
fn get_update_and_delete_on_the_sandbox() {
    settings().bind(|| {
        assert_cmd_snapshot!(run_on_sandbox().pass_stdin(
            r#"[
                {"operation": "get", "clientId": "2"},
                {"operation": "update", "clientId": 2, "notes": null, "paymentStatus": "pago"},
                {"operation": "delete", "clientId": 2},
                {"operation": "get", "clientId": 2}
            ]"#
        ));
    });
}

#[test]
fn continue_on_fail_keeps_going_and_pairs_error_items() {
    settings().bind(|| {
        assert_cmd_snapshot!(run_on_sandbox().arg("--continue-on-fail").pass_stdin(
            r#"[
                {"operation": "get", "clientId": 404},
                {"operation": "get", "clientId": 0},
                {"json": {"operation": "delete", "clientId": 3}}
            ]"#
        ));
    });
}

#[test]
fn envelope_parameters_apply_to_every_item() {
    settings().bind(|| {
        assert_cmd_snapshot!(run_on_sandbox().pass_stdin(
            r#"{"parameters": {"operation": "get"}, "items": [{"clientId": 1}, {"clientId": 3}]}"#
        ));
    });
}

#[test]
fn ndjson_streams_one_line_per_item() {
    let mut cmd = nodehost();
    cmd.args([
        "run",
        "gestorClientesMaxCliente",
        "--sandbox",
        "--sandbox-db",
        ":memory:",
        "--ndjson",
    ]);
    let out = cmd.pass_stdin_bytes(
        b"{\"operation\":\"get\",\"clientId\":1}\n\n{\"operation\":\"delete\",\"clientId\":1}\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["pairedItem"]["item"], 0);
    assert_eq!(lines[1]["json"], serde_json::json!({"deleted": true, "id": 1}));
}

#[test]
fn ndjson_bad_line_stops_the_stream_there() {
    let mut cmd = nodehost();
    cmd.args([
        "run",
        "gestorClientesMaxCliente",
        "--sandbox",
        "--sandbox-db",
        ":memory:",
        "--ndjson",
    ]);
    let out = cmd.pass_stdin_bytes(
        b"{\"operation\":\"get\",\"clientId\":1}\n{oops\n{\"operation\":\"get\",\"clientId\":2}\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["pairedItem"]["item"], 0);
    let error = &lines[1]["error"];
    assert_eq!(error["item"], 1);
    assert!(
        error["message"].as_str().unwrap_or_default().contains("line 2"),
        "{error}"
    );
}

#[test]
fn credentials_test_names_the_key_owner() {
    let out = nodehost()
        .args([
            "credentials",
            "test",
            "gestorClientesMaxCliente",
            "--sandbox",
            "--sandbox-db",
            ":memory:",
        ])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], true);
}

trait PassStdin {
    fn pass_stdin_bytes(&mut self, bytes: &[u8]) -> std::process::Output;
}

impl PassStdin for Command {
    fn pass_stdin_bytes(&mut self, bytes: &[u8]) -> std::process::Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(bytes).expect("writes");
        drop(stdin);
        child.wait_with_output().expect("finishes")
    }
}

#[test]
fn an_empty_array_is_a_completed_run_that_needs_no_credentials() {
    let out = nodehost()
        .args(["run", "gestorClientesMaxCliente"])
        .pass_stdin_bytes(b"[]");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"items\":[]}\n");
}
