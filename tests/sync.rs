//! The sync operations end to end: `search`, `upsert` by CPF or email, and `--dry-run`, through
//! the built binary against a sandbox over real HTTP. What each did is counted on the sandbox.

use nodehost_e2e::{Sandbox, nodehost, repo_file, run_node, tempdir};
use serde_json::{Value, json};

/// Valid CPFs (check digits computed), distinct.
fn cpf(n: u32) -> String {
    let base: Vec<u32> = format!("{:09}", 100_000_000 + n * 7919)
        .chars()
        .map(|c| c.to_digit(10).unwrap())
        .collect();
    let digit = |digits: &[u32]| {
        let len = digits.len() as u32 + 1;
        let sum: u32 = digits.iter().enumerate().map(|(i, d)| d * (len - i as u32)).sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r }
    };
    let mut all = base.clone();
    all.push(digit(&all));
    all.push(digit(&all));
    all.iter().map(ToString::to_string).collect()
}

#[test]
fn search_returns_one_item_per_match_of_name_email_phone_cpf_or_city() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    // One at a time, so ids follow the input (the search answers by id).
    let made = run_node(&creds)
        .args(["-j", "1"])
        .stdin_json(&json!([
            {"operation": "create", "name": "Ana Souza", "city": "Recife"},
            {"operation": "create", "name": "Bruno Lima", "email": "bruno@souza.example"},
            {"operation": "create", "name": "Carla Dias", "city": "Olinda"}
        ]))
        .run();
    made.assert_code(0);
    let found = run_node(&creds)
        .stdin_json(&json!({"operation": "search", "q": "SOUZA"}))
        .run();
    found.assert_code(0);
    let names: Vec<Value> = found.output_jsons().iter().map(|c| c["name"].clone()).collect();
    assert_eq!(
        names,
        [json!("Ana Souza"), json!("Bruno Lima")],
        "name or email, any case"
    );
    let limited = run_node(&creds)
        .stdin_json(&json!({"operation": "search", "q": "a", "returnAll": false, "limit": 2}))
        .run();
    assert_eq!(limited.output_jsons().len(), 2);
    let none = run_node(&creds)
        .stdin_json(&json!({"operation": "search", "q": "nobody"}))
        .run();
    none.assert_code(0);
    assert!(none.output_jsons().is_empty());
}

#[test]
fn upsert_creates_then_updates_only_what_changed_then_leaves_it_alone() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let upsert = |item: Value| {
        let out = run_node(&creds).stdin_json(&item).run();
        out.assert_code(0);
        out.items_in_order().remove(0)
    };
    let item = json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "529.982.247-25", "city": "Recife"});
    let created = upsert(item.clone());
    assert_eq!(created["upsert"], "created");
    let id = created["id"].clone();

    let mut changed = item.clone();
    changed["city"] = json!("Olinda");
    changed["phone"] = json!("81 99999-0000");
    let updated = upsert(changed.clone());
    assert_eq!(
        (updated["upsert"].clone(), updated["id"].clone()),
        (json!("updated"), id.clone())
    );
    assert_eq!(updated["changedFields"], json!(["phone", "city"]));
    assert_eq!(updated["city"], "Olinda");

    let puts = sandbox.requests(&format!("PUT /api/clients/{id}"));
    let same = upsert(changed);
    assert_eq!(same["upsert"], "unchanged");
    assert_eq!(same["changedFields"], json!([]));
    assert_eq!(
        sandbox.requests(&format!("PUT /api/clients/{id}")),
        puts,
        "unchanged sends nothing"
    );

    // By email, ignoring case: the same client.
    let by_email =
        upsert(json!({"operation": "upsert", "matchBy": "email", "name": "Ana", "email": "ANA@example.com"}));
    assert_eq!(by_email["upsert"], "created", "no client has that email yet");
    let again =
        upsert(json!({"operation": "upsert", "matchBy": "email", "name": "Ana", "email": "ana@EXAMPLE.com"}));
    assert_eq!(
        (again["upsert"].clone(), again["id"].clone()),
        (json!("unchanged"), by_email["id"].clone())
    );
    assert_eq!(sandbox.clients().len(), 2);
}

#[test]
fn an_upsert_that_matches_two_clients_fails_naming_them_and_writes_nothing() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    run_node(&creds)
        .stdin_json(&json!([
            {"operation": "create", "name": "Ana", "cpf": "52998224725"},
            {"operation": "create", "name": "Ana (dup)", "cpf": "52998224725"}
        ]))
        .run()
        .assert_code(0);
    let writes = sandbox.requests("POST /api/clients");
    let out = run_node(&creds)
        .stdin_json(&json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "52998224725", "city": "X"}))
        .run();
    out.assert_code(1);
    let error = &out.json()["error"];
    assert!(
        error["message"].as_str().unwrap().contains("2 clients"),
        "{error}"
    );
    assert_eq!(
        error["details"]["matchingIds"].as_array().unwrap().len(),
        2,
        "{error}"
    );
    assert_eq!(sandbox.requests("POST /api/clients"), writes);
    assert!(
        sandbox.stats().keys().all(|k| !k.starts_with("PUT")),
        "{:?}",
        sandbox.stats()
    );
}

#[test]
fn a_batch_of_100_upserts_with_repeated_cpfs_at_concurrency_16_creates_each_client_once() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    // 25 people, each four times in a row (so their items are in flight together at
    // concurrency 16), the CPF spelled two ways.
    let items: Vec<Value> = (0..100)
        .map(|i| {
            let person = i / 4;
            let digits = cpf(person);
            let spelled = if i % 2 == 0 {
                digits
            } else {
                format!(
                    "{}.{}.{}-{}",
                    &digits[..3],
                    &digits[3..6],
                    &digits[6..9],
                    &digits[9..]
                )
            };
            json!({"operation": "upsert", "matchBy": "cpf", "name": format!("Person {person}"),
                   "cpf": spelled, "notes": format!("version {}", i % 4)})
        })
        .collect();
    let out = run_node(&creds)
        .args(["-j", "16"])
        .stdin_json(&Value::Array(items))
        .run();
    out.assert_code(0);
    let results = out.items_in_order();
    assert_eq!(results.len(), 100);
    assert_eq!(
        sandbox.requests("POST /api/clients"),
        25,
        "each person created once"
    );
    let clients = sandbox.clients();
    assert_eq!(clients.len(), 25);
    for (i, r) in results.iter().enumerate() {
        let expected = if i % 4 == 0 { "created" } else { "updated" };
        assert_eq!(r["upsert"], expected, "item {i}: {r}");
    }
    // Input order held per person: the last version won.
    assert!(clients.iter().all(|c| c["notes"] == "version 3"), "{clients:?}");
}

#[test]
fn a_dry_run_sends_no_write_and_shows_each_request_with_the_key_redacted() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    run_node(&creds)
        .stdin_json(&json!({"operation": "create", "name": "Ana", "cpf": "52998224725"}))
        .run()
        .assert_code(0);
    let before = sandbox.stats();
    let out = run_node(&creds)
        .args(["--dry-run"])
        .stdin_json(&json!([
            {"operation": "create", "name": "Bia"},
            {"operation": "update", "clientId": 1, "city": "Recife"},
            {"operation": "delete", "clientId": 1},
            {"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "529.982.247-25", "city": "Recife"}
        ]))
        .run();
    out.assert_code(0);
    let items = out.items_in_order();
    let after = sandbox.stats();
    // Only the upsert's search reached the API.
    let mut sent: Vec<(String, u64)> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .collect();
    sent.sort();
    assert_eq!(sent, [("GET /api/clients/search".to_owned(), 1)]);
    assert_eq!(sandbox.clients().len(), 1);

    assert_eq!(items[0]["requests"][0]["method"], "POST");
    assert_eq!(items[0]["requests"][0]["body"], json!({"name": "Bia"}));
    assert_eq!(items[0]["requests"][0]["sent"], false);
    assert_eq!(items[1]["requests"][0]["method"], "PUT");
    assert!(
        items[1]["requests"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("/api/clients/1")
    );
    assert_eq!(items[2]["requests"][0]["method"], "DELETE");
    let upsert = &items[3];
    // Nothing was written: the dry run says what would happen, and why the search was sent.
    assert_eq!(upsert["upsert"], "would update");
    assert_eq!(upsert["changedFields"], json!(["city"]));
    assert_eq!(upsert["requests"][0]["sent"], true);
    let purpose = upsert["requests"][0]["purpose"].as_str().unwrap();
    assert!(purpose.contains("find the client with this"), "{purpose}");
    assert!(purpose.contains("creates one when none is found"), "{purpose}");
    assert_eq!(upsert["requests"][1]["body"], json!({"city": "Recife"}));
    assert_eq!(
        upsert["requests"][1]["headers"]["Authorization"],
        "Bearer [REDACTED]"
    );
    let text = out.stdout_text() + &out.stderr_text();
    assert!(!text.contains(sandbox.api_key()), "the key never shows");
}

#[test]
fn a_dry_run_of_a_node_that_cannot_do_one_is_refused_before_anything_runs() {
    let plugin = repo_file("examples/plugins/keyvalue.py");
    let out = nodehost([
        "run",
        "keyValueStore",
        "--plugin",
        plugin.to_str().unwrap(),
        "--dry-run",
    ])
    .stdin_json(&json!({"operation": "set", "key": "a", "value": "1"}))
    .run();
    out.assert_code(2);
    assert!(
        out.stderr_text().contains("does not support --dry-run"),
        "{}",
        out.stderr_text()
    );
}
