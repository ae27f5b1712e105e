//! A canary API key runs through every error path a user can hit (bad URL, refused connection,
//! 401, 404, 400, 500 with HTML, a server echoing the key back, timeout, invalid input, broken
//! credentials), with and without `RUST_LOG=trace`, and must not appear in any byte of stdout
//! or stderr.

use std::path::Path;

use gestor_sandbox::SandboxConfig;
use nodehost_e2e::{
    Action, Cmd, NODE, Outcome, RawServer, Sandbox, Seen, credentials_file, http_response, nodehost,
    refused_base_url, run_node, tempdir,
};
use serde_json::json;

/// Looks like a vendor key; its hex body is distinctive enough that any echo is found.
const CANARY_HEX: &str = "c4a7a12bdeadbeef0badc0de5ec7e7c4a7a12bdeadbeef0badc0de5ec7e7cafe";

fn canary() -> String {
    format!("gck_{CANARY_HEX}")
}

/// Runs `cmd` plain and with `RUST_LOG=trace`; checks the exit status is the expected one (the
/// path was really taken) and that no part of the key shows anywhere.
fn assert_never_leaks(label: &str, cmd: &Cmd, expected_codes: &[i32]) -> Outcome {
    let mut last = None;
    for trace in [false, true] {
        let cmd = if trace {
            cmd.clone().env("RUST_LOG", "trace")
        } else {
            cmd.clone()
        };
        let out = cmd.run();
        out.assert_no_panic();
        assert!(
            out.code().is_some_and(|c| expected_codes.contains(&c)),
            "{label} (trace: {trace}): exit {:?}\nstdout: {}\nstderr: {}",
            out.code(),
            out.stdout_text(),
            out.stderr_text()
        );
        assert!(
            out.code() == Some(0) || !out.stderr.is_empty(),
            "{label}: no message on stderr"
        );
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            // The whole key, its hex body, and any 16-character piece of it.
            for window in CANARY_HEX.as_bytes().windows(16).step_by(8) {
                let piece = std::str::from_utf8(window).unwrap();
                assert!(
                    !text.contains(piece),
                    "{label} (trace: {trace}): part of the key `{piece}` on {stream}:\n{text}"
                );
            }
        }
        last = Some(out);
    }
    last.unwrap()
}

fn get(creds: &Path) -> Cmd {
    run_node(creds).stdin_json(&json!({"operation": "get", "clientId": 7}))
}

fn create(creds: &Path) -> Cmd {
    run_node(creds).stdin_json(&json!({"operation": "create", "name": "Canário"}))
}

#[test]
fn bad_urls_never_show_the_key() {
    let dir = tempdir();
    for url in [
        "not a url",
        "ftp://agenda.example.com/api",
        "http://agenda.example.com/api",
        "https://user:password@agenda.example.com/api",
        "https://no-such-host.invalid/api",
    ] {
        let creds = credentials_file(dir.path(), url, &canary());
        assert_never_leaks(url, &get(&creds), &[1, 2]);
    }
}

#[test]
fn a_refused_connection_never_shows_the_key() {
    let dir = tempdir();
    let creds = credentials_file(dir.path(), &refused_base_url(), &canary());
    assert_never_leaks("refused get", &get(&creds).args(["--max-tries", "2"]), &[1]);
    assert_never_leaks("refused create", &create(&creds).args(["--max-tries", "2"]), &[1]);
    let check = nodehost(["credentials", "test", NODE, "--credentials"]).args([&creds]);
    assert_never_leaks("refused credentials test", &check, &[1, 2]);
}

#[test]
fn a_401_never_shows_the_wrong_key() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = credentials_file(dir.path(), sandbox.base_url(), &canary());
    let out = assert_never_leaks("401", &get(&creds), &[1]);
    assert!(out.stderr_text().contains("401"));
    let check = nodehost(["credentials", "test", NODE, "--credentials"]).args([&creds]);
    assert_never_leaks("401 credentials test", &check, &[1]);
}

#[test]
fn a_404_and_continue_on_fail_never_show_the_key() {
    let sandbox = Sandbox::start(
        SandboxConfig {
            api_key: Some(canary()),
            ..SandboxConfig::default()
        },
        None,
    );
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let out = assert_never_leaks("404", &get(&creds), &[1]);
    assert!(out.stderr_text().contains("404"));
    // The key worked: the sandbox answered, and a successful item leaks nothing either.
    let mixed = run_node(&creds).args(["--continue-on-fail"]).stdin_json(&json!([
        {"operation": "create", "name": "Ok"},
        {"operation": "get", "clientId": 999},
        {"operation": "get", "clientId": "7?x=1"},
    ]));
    let out = assert_never_leaks("continue-on-fail", &mixed, &[0]);
    assert_eq!(out.items_in_order()[0]["name"], "Ok");
}

/// The request's `Authorization` header line, as a server that echoes it would quote it.
fn authorization_line(seen: &Seen) -> String {
    seen.head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("authorization"))
        .collect()
}

/// A misconfigured server or proxy that quotes the request's `Authorization` header back in
/// its answer: a JSON message (404), an HTML page (500), or a Zod issue (400).
/// With `echo_in_issues` false the 400 is a plain Zod answer.
fn echoing_server(echo_in_issues: bool) -> RawServer {
    RawServer::start(move |_, seen| {
        let line = &seen.request_line;
        let echoed = authorization_line(seen);
        let issue = if echo_in_issues {
            format!("rejected ({echoed})")
        } else {
            "Required".to_owned()
        };
        if line.starts_with("POST") {
            Action::Respond(http_response(
                "400 Bad Request",
                "application/json",
                &json!({"message": "Invalid data", "errors": [{"code": "custom", "path": ["name"],
                    "message": issue}]})
                .to_string(),
            ))
        } else if line.contains("/clients/7 ") {
            Action::Respond(http_response(
                "500 Internal Server Error",
                "text/html",
                &format!("<html><body><h1>Internal Server Error</h1><pre>{echoed}</pre></body></html>"),
            ))
        } else {
            Action::Respond(http_response(
                "404 Not Found",
                "application/json",
                &json!({"message": format!("Cliente não encontrado; you sent {echoed}")}).to_string(),
            ))
        }
    })
}

#[test]
fn a_400_and_a_500_html_page_and_a_404_that_echo_the_key_never_show_it() {
    let server = echoing_server(false);
    let dir = tempdir();
    let creds = credentials_file(dir.path(), &server.base_url(), &canary());
    let out = assert_never_leaks("400", &create(&creds), &[1]);
    assert!(out.stderr_text().contains("400") && out.stderr_text().contains("name: Required"));
    let out = assert_never_leaks("500 html", &get(&creds).args(["--max-tries", "1"]), &[1]);
    assert!(out.stderr_text().contains("500"));
    let out = assert_never_leaks(
        "404 echo",
        &run_node(&creds).stdin_json(&json!({"operation": "delete", "clientId": 8})),
        &[1],
    );
    assert!(out.stderr_text().contains("404"));
    // The key really travelled: every request carried it.
    let seen = server.seen();
    assert_eq!(seen.len(), 6);
    assert!(
        seen.iter()
            .all(|s| s.head.contains(&format!("Bearer {}", canary())))
    );
}

/// A server whose *successful* answers quote the request's `Authorization` header inside the
/// client record: the record is output, with the key redacted.
#[test]
fn a_success_answer_that_echoes_the_key_is_output_without_it() {
    let server = RawServer::start(move |_, seen| {
        let echoed = authorization_line(seen);
        let record = json!({"id": 7, "name": "Eco", "notes": echoed});
        let body = if seen.request_line.contains("/clients/7 ") {
            record.to_string()
        } else {
            json!([record]).to_string()
        };
        Action::Respond(http_response("200 OK", "application/json", &body))
    });
    let dir = tempdir();
    let creds = credentials_file(dir.path(), &server.base_url(), &canary());
    let out = assert_never_leaks("200 get echo", &get(&creds), &[0]);
    assert_eq!(
        out.items_in_order()[0]["notes"],
        "authorization: Bearer [REDACTED]"
    );
    let list = run_node(&creds).stdin_json(&json!({"operation": "getAll"}));
    let out = assert_never_leaks("200 getAll echo", &list, &[0]);
    assert_eq!(out.items_in_order()[0]["name"], "Eco");
}

#[test]
fn a_400_whose_zod_issues_echo_the_key_never_shows_it() {
    let server = echoing_server(true);
    let dir = tempdir();
    let creds = credentials_file(dir.path(), &server.base_url(), &canary());
    let out = assert_never_leaks("400", &create(&creds), &[1]);
    assert!(out.stderr_text().contains("400"));
}

#[test]
fn a_timeout_never_shows_the_key() {
    let server = RawServer::start(|_, _| Action::StallAfterHeaders);
    let dir = tempdir();
    let creds = credentials_file(dir.path(), &server.base_url(), &canary());
    let out = assert_never_leaks(
        "timeout",
        &get(&creds).args(["--max-tries", "1", "--timeout", "0.2"]),
        &[1],
    );
    assert!(out.stderr_text().contains("timed out"));
}

#[test]
fn invalid_input_and_broken_credentials_never_show_the_key() {
    let dir = tempdir();
    let key = canary();
    let url = refused_base_url();
    // The key inside an envelope whose JSON is broken, and one whose items are invalid.
    let broken = format!(
        r#"{{"credentials": {{"baseUrl": "{url}", "apiKey": "{key}"}}, "items": [{{"operation": "get",}}]}}"#
    );
    assert_never_leaks("malformed envelope", &nodehost(["run", NODE]).stdin(broken), &[2]);
    let invalid = json!({"credentials": {"baseUrl": url, "apiKey": key},
        "items": [{"operation": "get", "clientId": "../7"}, {"operation": "nope"}]});
    assert_never_leaks(
        "invalid items",
        &nodehost(["run", NODE]).stdin_json(&invalid),
        &[1],
    );
    let wrong_shape = json!({"credentials": {"baseUrl": url, "apiKey": {"nested": key}},
        "items": [{"operation": "get", "clientId": 1}]});
    assert_never_leaks(
        "credentials of the wrong shape",
        &nodehost(["run", NODE]).stdin_json(&wrong_shape),
        &[2],
    );
    let unknown_field = json!({"credentials": {"baseUrl": url, "apiKey": key, "apiKye": key},
        "items": [{"operation": "get", "clientId": 1}]});
    assert_never_leaks(
        "unknown credential field",
        &nodehost(["run", NODE]).stdin_json(&unknown_field),
        &[1, 2],
    );

    // A credentials file that is not JSON, and a key that cannot travel in a header.
    let file = dir.path().join("broken.json");
    std::fs::write(&file, format!(r#"{{"baseUrl": "{url}", "apiKey": "{key}""#)).unwrap();
    assert_never_leaks("broken credentials file", &get(&file), &[2]);
    let newline = credentials_file(dir.path(), &url, &format!("{key}\n"));
    assert_never_leaks("key with a newline", &get(&newline), &[1, 2]);
    let spaced = credentials_file(dir.path(), &url, &format!("{key} \u{7f}"));
    assert_never_leaks("key with control characters", &get(&spaced), &[1, 2]);
    let missing_url = dir.path().join("no-url.json");
    std::fs::write(&missing_url, json!({"apiKey": key}).to_string()).unwrap();
    assert_never_leaks("credentials without baseUrl", &get(&missing_url), &[2]);
}

#[test]
fn the_key_in_the_users_own_data_is_never_echoed() {
    // Validation quotes what it received, and an unknown field is named: a key pasted into the
    // wrong place must still not be shown. The run refuses before anything is sent.
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = credentials_file(dir.path(), sandbox.base_url(), &canary());
    let key = canary();
    for (label, item) in [
        ("key as a clientId", json!({"operation": "get", "clientId": key})),
        (
            "key as an email",
            json!({"operation": "create", "name": "Ana", "email": key}),
        ),
        (
            "key as a field name",
            json!({"operation": "get", "clientId": 1, key.clone(): 1}),
        ),
        ("key as an operation", json!({"operation": key})),
    ] {
        let out = assert_never_leaks(label, &run_node(&creds).stdin_json(&item), &[1]);
        assert!(
            out.stderr_text().contains("[REDACTED]"),
            "{label}: {}",
            out.stderr_text()
        );
        let line = format!("{}\n", serde_json::to_string(&item).unwrap());
        assert_never_leaks(label, &run_node(&creds).args(["--ndjson"]).stdin(line), &[1]);
    }
    assert_eq!(sandbox.total_requests(), 0, "invalid items are never sent");
    // A key in the base URL's host or path is refused or logged without it.
    for url in [
        format!("http://{key}.invalid/api"),
        format!("{}/{key}", sandbox.base_url()),
    ] {
        let creds = credentials_file(dir.path(), &url, &key);
        assert_never_leaks(
            &url.replace(&key, "KEY"),
            &get(&creds).args(["--max-tries", "1"]),
            &[1, 2],
        );
    }
}
