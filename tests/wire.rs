//! The binary against a raw TCP server that resets connections or stalls after the response
//! headers: reads are retried an exact number of times, a create is never sent twice once it
//! may have reached the server, and every timeout is named with its duration.

use nodehost_e2e::{Action, RawServer, credentials_file, http_response, refused_base_url, run_node, tempdir};
use serde_json::{Value, json};

fn record(id: u64) -> Value {
    json!({"id": id, "userId": "0b7c1e4e-6d4a-4f3e-9a55-3f1f8a7e2c11", "name": "Rede Instável",
        "email": null, "phone": null, "cpf": null, "birthDate": null, "cep": null, "street": null,
        "number": null, "complement": null, "neighborhood": null, "city": null, "state": null,
        "address": null, "notes": null, "status": "active", "paymentStatus": "a_pagar",
        "createdAt": "2025-06-24T20:36:45.969Z", "updatedAt": "2025-06-24T20:36:45.969Z"})
}

fn error_of(out: &nodehost_e2e::Outcome) -> (String, Value) {
    let doc = out.json();
    let error = doc["error"].clone();
    (error["message"].as_str().unwrap().to_owned(), error)
}

#[test]
fn a_get_whose_connection_is_reset_is_retried_and_succeeds() {
    let server = RawServer::start(|n, _| {
        if n == 0 {
            Action::Reset
        } else {
            Action::Respond(http_response(
                "200 OK",
                "application/json",
                &record(7).to_string(),
            ))
        }
    });
    let dir = tempdir();
    let out = run_node(&credentials_file(dir.path(), &server.base_url(), "gck_wire"))
        .args(["--max-tries", "3"])
        .stdin_json(&json!({"operation": "get", "clientId": 7}))
        .run();
    out.assert_code(0);
    assert_eq!(out.items_in_order(), vec![record(7)]);
    assert_eq!(
        server.request_lines(),
        ["GET /api/clients/7 HTTP/1.1", "GET /api/clients/7 HTTP/1.1"]
    );
}

#[test]
fn a_get_reset_every_time_gives_up_after_max_tries_and_says_so() {
    let server = RawServer::start(|_, _| Action::Reset);
    let dir = tempdir();
    let out = run_node(&credentials_file(dir.path(), &server.base_url(), "gck_wire"))
        .args(["--max-tries", "3"])
        .stdin_json(&json!({"operation": "get", "clientId": 7}))
        .run();
    out.assert_code(1);
    assert_eq!(server.request_lines().len(), 3);
    let (message, error) = error_of(&out);
    assert!(
        message.contains("GET") && message.contains("/api/clients/7"),
        "{message}"
    );
    assert!(message.contains("3 attempts"), "{message}");
    assert!(
        message.contains("connection reset") || message.contains("connection closed"),
        "{message}"
    );
    assert!(
        error["maybeApplied"] == json!([]),
        "a read changes nothing: {error}"
    );
}

#[test]
fn a_get_that_stalls_after_the_headers_times_out_on_each_attempt_and_names_the_timeout() {
    let server = RawServer::start(|_, _| Action::StallAfterHeaders);
    let dir = tempdir();
    let out = run_node(&credentials_file(dir.path(), &server.base_url(), "gck_wire"))
        .args(["--max-tries", "2", "--timeout", "0.3"])
        .stdin_json(&json!({"operation": "get", "clientId": 7}))
        .run();
    out.assert_code(1);
    assert_eq!(server.request_lines().len(), 2);
    let (message, _) = error_of(&out);
    assert!(message.contains("timed out after 300ms"), "{message}");
    assert!(message.contains("2 attempts"), "{message}");
    assert!(out.elapsed.as_millis() >= 600, "{:?}", out.elapsed);
}

#[test]
fn a_create_is_not_repeated_after_a_reset_and_the_user_is_told_it_may_be_applied() {
    let server = RawServer::start(|_, _| Action::Reset);
    let dir = tempdir();
    let out = run_node(&credentials_file(dir.path(), &server.base_url(), "gck_wire"))
        .args(["--max-tries", "5"])
        .stdin_json(&json!({"operation": "create", "name": "Uma Vez"}))
        .run();
    out.assert_code(1);
    assert_eq!(server.request_lines(), ["POST /api/clients HTTP/1.1"]);
    let (message, error) = error_of(&out);
    assert!(message.contains("1 attempt;"), "{message}");
    assert!(message.contains("may have reached the server"), "{message}");
    assert_eq!(error["maybeApplied"], json!([[0, 0]]));
}

#[test]
fn a_create_that_stalls_after_the_headers_is_not_repeated_and_the_timeout_is_named() {
    let server = RawServer::start(|_, _| Action::StallAfterHeaders);
    let dir = tempdir();
    let out = run_node(&credentials_file(dir.path(), &server.base_url(), "gck_wire"))
        .args(["--max-tries", "5", "--timeout", "0.3"])
        .stdin_json(&json!({"operation": "create", "name": "Uma Vez"}))
        .run();
    out.assert_code(1);
    assert_eq!(server.request_lines(), ["POST /api/clients HTTP/1.1"]);
    let (message, error) = error_of(&out);
    assert!(message.contains("timed out after 300ms"), "{message}");
    assert!(message.contains("may have reached the server"), "{message}");
    assert_eq!(error["maybeApplied"], json!([[0, 0]]));
}

#[test]
fn an_update_or_delete_is_retried_after_a_reset_because_repeating_it_is_harmless() {
    let server = RawServer::start(|n, seen| match (n, seen.request_line.starts_with("DELETE")) {
        (0 | 2, _) => Action::Reset,
        (_, true) => Action::Respond(http_response("200 OK", "application/json", "")),
        (_, false) => Action::Respond(http_response(
            "200 OK",
            "application/json",
            &record(7).to_string(),
        )),
    });
    let dir = tempdir();
    let out = run_node(&credentials_file(dir.path(), &server.base_url(), "gck_wire"))
        .args(["--max-tries", "2", "--concurrency", "1"])
        .stdin_json(&json!([{"operation": "update", "clientId": 7, "notes": "x"},
            {"operation": "delete", "clientId": 7}]))
        .run();
    out.assert_code(0);
    assert_eq!(
        server.request_lines(),
        [
            "PUT /api/clients/7 HTTP/1.1",
            "PUT /api/clients/7 HTTP/1.1",
            "DELETE /api/clients/7 HTTP/1.1",
            "DELETE /api/clients/7 HTTP/1.1"
        ]
    );
    assert_eq!(out.items_in_order()[1], json!({"deleted": true, "id": 7}));
}

#[test]
fn a_refused_connection_is_retried_even_for_a_create_because_nothing_was_sent() {
    let dir = tempdir();
    let out = run_node(&credentials_file(dir.path(), &refused_base_url(), "gck_wire"))
        .args(["--max-tries", "3"])
        .stdin_json(&json!({"operation": "create", "name": "Ninguém Ouve"}))
        .run();
    out.assert_code(1);
    let (message, error) = error_of(&out);
    assert!(
        message.contains("connection refused (3 attempts; the request was not sent)"),
        "{message}"
    );
    assert!(error["maybeApplied"] == json!([]), "{error}");
}

#[test]
fn an_answer_nested_too_deep_is_the_same_clear_item_error_on_every_path() {
    // 200 levels: deeper than a JSON reader takes. Plain, pretty, and with the key echoed
    // inside (which takes the redacting path): one behaviour, a per-item error in its words.
    let deep = |extra: &str| {
        format!(
            "{{\"id\":7,\"notes\":\"{extra}\",\"x\":{}1{}}}",
            "[".repeat(200),
            "]".repeat(200)
        )
    };
    for (label, body, args) in [
        ("plain", deep(""), vec![]),
        ("pretty", deep(""), vec!["--pretty"]),
        ("echoing the key", deep("Bearer gck_wire_deep_key"), vec![]),
    ] {
        let server =
            RawServer::start(move |_, _| Action::Respond(http_response("200 OK", "application/json", &body)));
        let dir = tempdir();
        let out = run_node(&credentials_file(
            dir.path(),
            &server.base_url(),
            "gck_wire_deep_key",
        ))
        .args(args)
        .stdin_json(&json!({"operation": "get", "clientId": 7}))
        .run();
        out.assert_code(1);
        let (message, _) = error_of(&out);
        assert!(
            message.contains(
                "answered 200 OK with a body that cannot be read as JSON (recursion limit exceeded)"
            ),
            "{label}: {message}"
        );
        assert!(!out.stdout_text().contains("gck_wire_deep_key"), "{label}");
    }
}
