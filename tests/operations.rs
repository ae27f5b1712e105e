//! Every operation of the Cliente node through the built binary against a sandbox over real
//! HTTP, as a user would run them: one command per step, output read back from stdout.

use std::time::Duration;

use nodehost_e2e::{NODE, Sandbox, nodehost, run_node, tempdir};
use serde_json::{Value, json};

#[test]
fn every_operation_round_trips_create_get_update_getall_delete_then_404() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());

    let created = run_node(&creds)
        .stdin_json(
            &json!({"operation": "create", "name": "Ana Souza", "email": "ana@example.com",
            "cpf": "529.982.247-25", "cep": "01310-100", "state": "sp", "notes": "first visit",
            "consultationPrice": 180}),
        )
        .run();
    created.assert_code(0);
    let record = created.items_in_order().remove(0);
    let id = record["id"].as_u64().expect("numeric id");
    // What the user typed, normalised as documented, and the API's defaults.
    assert_eq!(record["name"], "Ana Souza");
    assert_eq!(record["cpf"], "52998224725");
    assert_eq!(record["cep"], "01310100");
    assert_eq!(record["state"], "SP");
    assert_eq!(record["status"], "active");
    assert_eq!(record["paymentStatus"], "a_pagar");

    let got = run_node(&creds)
        .stdin_json(&json!([{"operation": "get", "clientId": id.to_string()}]))
        .run();
    got.assert_code(0);
    assert_eq!(got.items_in_order(), vec![record.clone()]);

    // `null` clears a field; fields left out are not touched.
    let updated = run_node(&creds)
        .stdin_json(&json!({"operation": "update", "clientId": id, "notes": null, "status": "inactive"}))
        .run();
    updated.assert_code(0);
    let after = updated.items_in_order().remove(0);
    assert_eq!(after["notes"], Value::Null);
    assert_eq!(after["status"], "inactive");
    assert_eq!(after["email"], "ana@example.com");
    assert_eq!(after["createdAt"], record["createdAt"]);

    let listed = run_node(&creds).stdin_json(&json!({"operation": "getAll"})).run();
    listed.assert_code(0);
    assert_eq!(listed.items_in_order(), vec![after]);

    let deleted = run_node(&creds)
        .stdin_json(&json!({"operation": "delete", "clientId": id}))
        .run();
    deleted.assert_code(0);
    assert_eq!(deleted.items_in_order(), vec![json!({"deleted": true, "id": id})]);

    let gone = run_node(&creds)
        .stdin_json(&json!({"operation": "get", "clientId": id}))
        .run();
    gone.assert_code(1);
    let error = &gone.json()["error"];
    assert_eq!(error["httpStatus"], 404);
    assert_eq!(error["item"], 0);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("404") && message.contains("Cliente não encontrado"),
        "{message}"
    );
    assert!(gone.stderr_text().contains("Cliente não encontrado"));
    // A 404 is an answer, not weather: asked once.
    assert_eq!(sandbox.requests(&format!("GET /api/clients/{id}")), 2);
}

#[test]
fn continue_on_fail_turns_invalid_and_missing_items_into_paired_error_items() {
    let sandbox = Sandbox::seeded(2);
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let out = run_node(&creds)
        .args(["--continue-on-fail"])
        .stdin_json(&json!([
            {"operation": "get", "clientId": 1},
            {"operation": "create", "name": "Bia", "email": "not-an-email"},
            {"operation": "get", "clientId": 999},
            {"operation": "create", "name": "Caio"},
            {"operation": "frobnicate"},
        ]))
        .run();
    out.assert_code(0);
    let items = out.items_in_order();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["id"], 1);
    let invalid = items[1]["error"]["message"].as_str().unwrap();
    assert!(
        invalid.contains("email") && invalid.contains("not-an-email"),
        "{invalid}"
    );
    assert_eq!(items[1]["error"]["item"], 1);
    assert_eq!(items[2]["error"]["httpStatus"], 404);
    assert_eq!(items[2]["error"]["item"], 2);
    assert_eq!(items[3]["name"], "Caio");
    let unknown = items[4]["error"]["message"].as_str().unwrap();
    assert!(unknown.contains("Unknown operation: frobnicate"), "{unknown}");
    assert!(
        out.stderr_text().contains("3 item(s) failed"),
        "{}",
        out.stderr_text()
    );
    // The invalid items were never sent: one create and two gets reached the API.
    assert_eq!(sandbox.requests("POST /api/clients"), 1);
    assert_eq!(sandbox.requests("GET /api/clients/1"), 1);
    assert_eq!(sandbox.requests("GET /api/clients/999"), 1);
}

#[test]
fn a_wrong_key_fails_with_the_apis_401_message_and_is_not_retried() {
    let sandbox = Sandbox::seeded(1);
    let dir = tempdir();
    let creds = nodehost_e2e::credentials_file(dir.path(), sandbox.base_url(), "gck_wrong");
    let out = run_node(&creds)
        .stdin_json(&json!({"operation": "get", "clientId": 1}))
        .run();
    out.assert_code(1);
    let error = &out.json()["error"];
    assert_eq!(error["httpStatus"], 401);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("Acesso negado. Login necessário."), "{message}");
    assert!(out.stderr_text().contains("Acesso negado. Login necessário."));
    assert_eq!(sandbox.requests("GET /api/clients/1"), 1);
}

#[test]
fn invalid_items_stop_the_run_before_any_request_is_sent() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let out = run_node(&creds)
        .stdin_json(&json!([
            {"operation": "create", "name": "Valid"},
            {"operation": "create", "name": "", "cpf": "123", "state": "XYZ"},
            {"operation": "update", "clientId": 1},
            {"operation": "get", "clientId": "12/../7"},
        ]))
        .run();
    out.assert_code(1);
    let error = &out.json()["error"];
    // Every item is in exactly one range: the invalid ones failed, the valid one never ran.
    assert_eq!(error["reason"], "invalidItems");
    assert_eq!(error["applied"], json!([]));
    assert_eq!(error["failed"], json!([[1, 3]]));
    assert_eq!(error["notRun"], json!([[0, 0]]));
    assert_eq!(error["maybeApplied"], json!([]));
    let invalid: Vec<u64> = error["invalidItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_u64().unwrap())
        .collect();
    assert_eq!(invalid, [1, 2, 3]);
    // Every problem of item 1 is reported at once, each naming its field.
    let problems = &error["invalidItems"][0]["problems"];
    let paths: Vec<&str> = problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    for field in ["name", "cpf", "state"] {
        assert!(paths.contains(&field), "no problem for {field}: {problems}");
    }
    let stderr = out.stderr_text();
    assert!(
        stderr.contains("3 of 4 item(s) invalid; nothing was sent"),
        "{stderr}"
    );
    assert_eq!(
        sandbox.total_requests(),
        0,
        "a request reached the API: {:?}",
        sandbox.stats()
    );
}

#[test]
fn data_survives_a_sandbox_restart_on_the_same_file() {
    let mut sandbox = Sandbox::on_file();
    let dir = tempdir();
    let out = run_node(&sandbox.credentials(dir.path()))
        .stdin_json(
            &json!([{"operation": "create", "name": "Persistente", "city": "Recife"},
            {"operation": "create", "name": "Apagada"}]),
        )
        .run();
    out.assert_code(0);
    let items = out.items_in_order();
    let (kept, removed) = (items[0].clone(), items[1]["id"].clone());
    run_node(&sandbox.credentials(dir.path()))
        .stdin_json(&json!({"operation": "delete", "clientId": removed}))
        .run()
        .assert_code(0);

    sandbox.restart();
    let creds = sandbox.credentials(dir.path());
    let out = run_node(&creds).stdin_json(&json!({"operation": "getAll"})).run();
    out.assert_code(0);
    assert_eq!(out.items_in_order(), vec![kept.clone()]);
    // The id sequence continues: a new client never reuses a deleted id.
    let out = run_node(&creds)
        .stdin_json(&json!({"operation": "create", "name": "Depois"}))
        .run();
    out.assert_code(0);
    assert!(out.items_in_order()[0]["id"].as_u64() > removed.as_u64());
}

#[test]
fn ndjson_writes_each_output_line_as_soon_as_its_input_line_is_done() {
    let sandbox = Sandbox::seeded(3);
    let dir = tempdir();
    let mut child = run_node(&sandbox.credentials(dir.path()))
        .args(["--ndjson"])
        .spawn();
    // Stdin stays open: the first answer must arrive before the input ends.
    child.send_line(r#"{"operation": "get", "clientId": 2}"#);
    let first = child
        .next_line(Duration::from_secs(10))
        .expect("no output line while stdin is still open: not streaming");
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["json"]["id"], 2);
    assert_eq!(first["pairedItem"], json!({"item": 0}));
    child.send_line("");
    child.send_line(r#"{"json": {"operation": "get", "clientId": 3}}"#);
    child.close_stdin();
    let (status, rest, stderr) = child.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(rest.len(), 1, "{rest:?}");
    let second: Value = serde_json::from_str(&rest[0]).unwrap();
    assert_eq!(second["json"]["id"], 3);
    // Blank lines are skipped, not counted as items.
    assert_eq!(second["pairedItem"], json!({"item": 1}));
}

#[test]
fn credentials_test_names_the_keys_owner_and_refuses_a_wrong_key() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let ok = nodehost(["credentials", "test", NODE, "--credentials"])
        .args([sandbox.credentials(dir.path())])
        .run();
    ok.assert_code(0);
    assert_eq!(ok.json()["ok"], true);
    assert!(ok.json()["message"].as_str().unwrap().contains("Sandbox Owner"));

    let bad = nodehost_e2e::credentials_file(dir.path(), sandbox.base_url(), "gck_nope");
    let out = nodehost(["credentials", "test", NODE, "--credentials"])
        .args([bad])
        .run();
    out.assert_code(1);
    assert_eq!(out.json()["ok"], false);
    assert_eq!(out.json()["error"]["httpStatus"], 401);
    assert!(out.stderr_text().contains("credentials check failed"));
    assert_eq!(sandbox.requests("GET /api/test-connection"), 2);
}

#[test]
fn credentials_come_from_the_environment_when_no_file_is_given() {
    let sandbox = Sandbox::seeded(1);
    let out = nodehost(["run", NODE])
        .env("GESTOR_CLIENTES_MAX_BASE_URL", sandbox.base_url())
        .env("GESTOR_CLIENTES_MAX_API_KEY", sandbox.api_key())
        .stdin_json(&json!({"operation": "get", "clientId": 1}))
        .run();
    out.assert_code(0);
    assert_eq!(out.items_in_order()[0]["id"], 1);

    let missing = nodehost(["run", NODE])
        .stdin_json(&json!({"operation": "get", "clientId": 1}))
        .run();
    missing.assert_code(2);
    assert!(
        missing.stderr_text().contains("GESTOR_CLIENTES_MAX_API_KEY"),
        "{}",
        missing.stderr_text()
    );
}

#[test]
fn items_on_the_same_client_apply_in_input_order_at_any_concurrency() {
    let sandbox = Sandbox::seeded(4);
    let dir = tempdir();
    // Forty updates to client 1, interleaved with reads of other clients; then a getAll that
    // must see the last update.
    let mut items = Vec::new();
    for n in 0..40 {
        items.push(json!({"operation": "update", "clientId": 1, "notes": format!("v{n}")}));
        items.push(json!({"operation": "get", "clientId": 2 + n % 3}));
    }
    items.push(json!({"operation": "getAll"}));
    items.push(json!({"operation": "get", "clientId": 1}));
    let out = run_node(&sandbox.credentials(dir.path()))
        .args(["--concurrency", "32"])
        .stdin_json(&Value::Array(items))
        .run();
    out.assert_code(0);
    let doc = out.json();
    let outputs = doc["items"].as_array().unwrap();
    // getAll yields one item per client, all paired with its input.
    assert_eq!(outputs.len(), 80 + 4 + 1);
    for n in 0..40 {
        assert_eq!(outputs[2 * n]["json"]["notes"], format!("v{n}"));
        assert_eq!(outputs[2 * n]["pairedItem"]["item"], 2 * n);
    }
    let listed_first = outputs
        .iter()
        .find(|o| o["pairedItem"]["item"] == 80 && o["json"]["id"] == 1)
        .unwrap();
    assert_eq!(listed_first["json"]["notes"], "v39");
    assert_eq!(outputs.last().unwrap()["json"]["notes"], "v39");
    let order: Vec<u64> = outputs
        .iter()
        .map(|o| o["pairedItem"]["item"].as_u64().unwrap())
        .collect();
    assert!(
        order.is_sorted(),
        "output order differs from input order: {order:?}"
    );
}
