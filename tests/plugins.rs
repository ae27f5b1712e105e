//! Plugin nodes through the `nodehost` binary, as a user runs them: registered once, then
//! listed, described and run like built-in nodes; and plugins that misbehave (crash, hang,
//! print garbage, speak another protocol version, never answer, echo a secret, answer a request
//! never sent), checked by exit status, messages, what was sent, and that no process is left.
//!
//! Plugins here: `examples/plugins/keyvalue.py` (the Python example), `cpf-tools-plugin` (the
//! Rust SDK example, built by the workspace) and `tests/plugins/misbehaving.py`.

use std::path::PathBuf;
use std::time::Duration;

use nodehost_e2e::{Cmd, Outcome, built_bin, nodehost, repo_file};
use serde_json::{Value, json};

const TOKEN: &str = "tok-7f3a9c1e5b2d";

fn python() -> String {
    let found = std::process::Command::new("python3").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "python3 is missing: install it with `apt-get install -y python3` (the plugin tests run Python plugins)"
    );
    "python3".to_owned()
}

fn keyvalue() -> PathBuf {
    python();
    repo_file("examples/plugins/keyvalue.py")
}

fn misbehaving() -> PathBuf {
    python();
    repo_file("tests/plugins/misbehaving.py")
}

/// A scratch directory with its own plugin registry file, plus files for the test plugin's
/// log and pids.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `nodehost ARGS` with this scratch's registry, log and pid files.
    fn nodehost<const N: usize>(&self, args: [&str; N]) -> Cmd {
        nodehost(args)
            .env("NODEHOST_PLUGINS", self.path("plugins.json").to_str().unwrap())
            .env("TEST_PLUGIN_LOG", self.path("log").to_str().unwrap())
            .env("TEST_PLUGIN_PIDS", self.path("pids").to_str().unwrap())
            .env("TEST_PLUGIN_TOKEN", TOKEN)
    }

    /// `nodehost run testPlugin --plugin misbehaving.py [--plugin-arg MODE] ARGS`.
    fn run_test_plugin(&self, mode: &str, args: &[&str]) -> Cmd {
        let plugin = misbehaving();
        self.nodehost([
            "run",
            "testPlugin",
            "--plugin",
            plugin.to_str().unwrap(),
            "--plugin-arg",
            mode,
        ])
        .args(args)
        .args(["--backoff-base-ms", "1", "--backoff-cap-ms", "5"])
    }

    /// Methods the test plugin received, in order.
    fn methods(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Every process the test plugin started (itself and a sleeping child) has ended. It
    /// writes their pids before it reads its first request, so any plugin that answered one
    /// wrote them.
    fn assert_nothing_left(&self) {
        let pids = std::fs::read_to_string(self.path("pids")).unwrap_or_default();
        assert!(!pids.trim().is_empty(), "the test plugin wrote no pids");
        self.assert_none_alive(&pids);
    }

    /// What the test plugin started, if it got that far, has ended (for a plugin that may
    /// have been killed before it wrote its pids: one that never answers).
    fn assert_nothing_left_if_started(&self) {
        let pids = std::fs::read_to_string(self.path("pids")).unwrap_or_default();
        self.assert_none_alive(&pids);
    }

    fn assert_none_alive(&self, pids: &str) {
        for pid in pids.lines() {
            // A killed process may linger a moment as a zombie until its parent reaps it;
            // `/proc/PID/stat` says which.
            let alive = wait_for(Duration::from_secs(5), || !running(pid));
            assert!(alive, "process {pid} started by the plugin outlived the run");
        }
    }
}

fn running(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        // The state follows the command name in parentheses: Z is a zombie (dead).
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
    }
}

/// Poll `done` until it holds or `limit` passes (waiting for an event, not timing one).
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

fn items(out: &Outcome) -> Vec<Value> {
    out.json()["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_registered_python_plugin_is_listed_described_run_and_removed_like_a_built_in() {
    let s = Scratch::new();
    let plugin = keyvalue();
    let added = s.nodehost(["plugin", "add", plugin.to_str().unwrap()]).run();
    added.assert_code(0);
    assert_eq!(added.json()["name"], "keyvalue");
    assert_eq!(added.json()["nodes"], json!(["keyValueStore"]));
    assert!(added.stderr_text().contains("registered plugin `keyvalue` 1.0.0"));

    let listed = s.nodehost(["list"]).run();
    listed.assert_code(0);
    let names: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["gestorClientesMaxCliente", "keyValueStore"]);

    // Described from the registry file, as the plugin defined it (normalised like built-ins).
    let described = s.nodehost(["describe", "keyValueStore"]).run();
    described.assert_code(0);
    assert_eq!(described.json()["displayName"], "Key-Value Store");
    assert_eq!(
        described.json()["operations"]["set"]["locks"],
        json!({"write": ["key/{key}"]})
    );
    let schema = s
        .nodehost(["schema", "keyValueStore", "--operation", "get"])
        .run();
    schema.assert_code(0);
    assert_eq!(schema.json()["required"], json!(["key"]));

    let run = s
        .nodehost(["run", "keyValueStore", "--continue-on-fail"])
        .env("KEYVALUE_TOKEN", TOKEN)
        .stdin_json(&json!([
            {"operation": "set", "key": "a", "value": "1"},
            {"operation": "get", "key": "a"},
            {"operation": "get", "key": "missing"}
        ]))
        .run();
    run.assert_code(0);
    let out = items(&run);
    assert_eq!(out[0]["json"], json!({"key": "a", "value": "1"}));
    assert_eq!(out[1]["json"], json!({"key": "a", "value": "1"}));
    assert_eq!(out[2]["json"]["error"]["httpStatus"], 404);
    assert_eq!(
        out[2]["json"]["error"]["message"],
        "item 2: no value under key `missing`"
    );
    // Its stderr is forwarded, prefixed with its name.
    assert!(
        run.stderr_text()
            .contains("nodehost: plugin keyvalue: opened session s1"),
        "{}",
        run.stderr_text()
    );

    s.nodehost(["plugin", "remove", "keyvalue"]).run().assert_code(0);
    let listed = s.nodehost(["plugin", "list"]).run();
    assert_eq!(listed.json(), json!([]));
    let gone = s.nodehost(["describe", "keyValueStore"]).run();
    gone.assert_code(2);
    let missing = s.nodehost(["plugin", "remove", "keyvalue"]).run();
    missing.assert_code(2);
    assert!(
        missing
            .stderr_text()
            .contains("no plugin named `keyvalue` is registered")
    );
}

#[test]
fn a_rust_node_served_by_the_sdk_runs_through_run_plugin_without_registration() {
    let s = Scratch::new();
    let plugin = built_bin("cpf-tools-plugin");
    let run = s
        .nodehost([
            "run",
            "cpfTools",
            "--plugin",
            plugin.to_str().unwrap(),
            "--continue-on-fail",
        ])
        .stdin_json(&json!([
            {"operation": "format", "cpf": "52998224725"},
            {"operation": "validate", "cpf": "529.982.247-26"},
            {"operation": "format", "cpf": "123"}
        ]))
        .run();
    run.assert_code(0);
    let out = items(&run);
    assert_eq!(
        out[0]["json"],
        json!({"cpf": "52998224725", "formatted": "529.982.247-25"})
    );
    assert_eq!(out[1]["json"], json!({"cpf": "529.982.247-26", "valid": false}));
    assert_eq!(
        out[2]["json"]["error"]["message"],
        "item 2: not a valid CPF: it needs 11 digits with correct check digits"
    );
    assert_eq!(out[2]["json"]["error"]["details"][0]["path"], json!(["cpf"]));
    // Not registered by running it.
    assert_eq!(s.nodehost(["plugin", "list"]).run().json(), json!([]));
}

#[test]
fn an_invalid_batch_sends_nothing_to_the_plugin() {
    let s = Scratch::new();
    let run = s
        .run_test_plugin("ok", &[])
        .stdin_json(&json!([{"operation": "echo", "value": "a"}, {"operation": "echo", "valu": "b"}]))
        .run();
    run.assert_code(1);
    assert!(run.stderr_text().contains("item 1"), "{}", run.stderr_text());
    assert!(run.stderr_text().contains("valu"), "{}", run.stderr_text());
    assert!(
        !s.methods().iter().any(|m| m == "execute" || m == "open"),
        "{:?}",
        s.methods()
    );
    s.assert_nothing_left();
}

#[test]
fn output_order_and_paired_item_hold_at_concurrency_16_with_answers_out_of_order() {
    let s = Scratch::new();
    let input: Vec<Value> = (0..120)
        .map(|i| json!({"operation": "echo", "value": format!("v{i}"), "delayMs": (i * 37) % 23}))
        .collect();
    let run = s
        .run_test_plugin("ok", &["-j", "16"])
        .stdin_json(&Value::Array(input))
        .run();
    run.assert_code(0);
    let out = items(&run);
    assert_eq!(out.len(), 120);
    for (i, item) in out.iter().enumerate() {
        assert_eq!(item["pairedItem"]["item"], i);
        assert_eq!(item["json"]["value"], format!("v{i}"));
        assert_eq!(item["json"]["item"], i, "the plugin was told the item's index");
    }
    assert_eq!(s.methods().iter().filter(|m| *m == "execute").count(), 120);
    s.assert_nothing_left();
}

#[test]
fn a_crash_fails_the_item_with_the_plugins_last_words_and_continue_on_fail_restarts_it() {
    let s = Scratch::new();
    let batch = json!([
        {"operation": "echo", "value": "a"},
        {"operation": "echo", "value": "b", "crash": true},
        {"operation": "echo", "value": "c"}
    ]);
    let stopped = s.run_test_plugin("ok", &["-j", "1"]).stdin_json(&batch).run();
    stopped.assert_code(1);
    let error = &stopped.json()["error"];
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("item 1: plugin `misbehaving.py` exited (exit status 3)"),
        "{message}"
    );
    assert!(message.contains("about to crash on item 1"), "{message}");
    assert_eq!(error["applied"], json!([[0, 0]]));
    assert_eq!(error["notRun"], json!([[2, 2]]));
    // A read-only item that died in flight changed nothing.
    assert_eq!(error["maybeApplied"], json!([]));
    s.assert_nothing_left();

    let s = Scratch::new();
    let went_on = s
        .run_test_plugin("ok", &["-j", "1", "--continue-on-fail"])
        .stdin_json(&batch)
        .run();
    went_on.assert_code(0);
    let out = items(&went_on);
    assert_eq!(out[0]["json"]["value"], "a");
    assert!(
        out[1]["json"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exited (exit status 3)")
    );
    assert_eq!(
        out[2]["json"]["value"], "c",
        "the plugin was started again for the rest"
    );
    assert_eq!(s.methods().iter().filter(|m| *m == "initialize").count(), 2);
    s.assert_nothing_left();
}

#[test]
fn a_write_in_flight_when_the_plugin_dies_is_reported_as_maybe_applied() {
    let s = Scratch::new();
    let run = s
        .run_test_plugin("ok", &[])
        .stdin_json(&json!([{"operation": "create", "value": "x", "crash": true}]))
        .run();
    run.assert_code(1);
    assert_eq!(run.json()["error"]["maybeApplied"], json!([[0, 0]]));
}

#[test]
fn a_hung_item_times_out_naming_the_plugin_and_nothing_is_left_running() {
    let s = Scratch::new();
    let run = s
        .run_test_plugin("ok", &["--deadline", "1"])
        .stdin_json(&json!([{"operation": "echo", "value": "a", "hang": true}]))
        .run();
    run.assert_code(1);
    let message = run.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("plugin `misbehaving.py` did not answer item 0 within the item deadline"),
        "{message}"
    );
    // (Its stderr is quoted too when it has been read by then; that is a race with the
    // deadline, so only the crash test asserts on it.)
    let methods = s.methods();
    assert!(methods.contains(&"$/cancel".to_owned()), "{methods:?}");
    assert!(methods.contains(&"shutdown".to_owned()), "{methods:?}");
    s.assert_nothing_left();
}

#[test]
fn garbage_on_stdout_and_answers_to_requests_never_sent_are_protocol_errors() {
    for (flag, words) in [
        ("garbage", "wrote a line that is not JSON"),
        ("unknownId", "answered a request id the host never sent (999999)"),
    ] {
        let s = Scratch::new();
        let run = s
            .run_test_plugin("ok", &[])
            .stdin_json(&json!([{"operation": "echo", "value": "a", flag: true}]))
            .run();
        run.assert_code(1);
        let message = run.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("plugin `misbehaving.py`"), "{message}");
        assert!(message.contains(words), "{message}");
        s.assert_nothing_left();
    }
}

#[test]
fn a_plugin_of_another_protocol_version_or_one_that_never_answers_is_refused_at_setup() {
    let s = Scratch::new();
    let run = s
        .run_test_plugin("wrong-version", &[])
        .stdin_json(&json!([{"operation": "echo", "value": "a"}]))
        .run();
    run.assert_code(2);
    assert!(
        run.stderr_text()
            .contains("plugin `misbehaving.py` speaks protocol version 2; this nodehost speaks version 1"),
        "{}",
        run.stderr_text()
    );
    s.assert_nothing_left();

    let s = Scratch::new();
    let run = s
        .run_test_plugin("silent", &["--plugin-init-timeout", "0.5"])
        .stdin_json(&json!([{"operation": "echo", "value": "a"}]))
        .run();
    run.assert_code(2);
    assert!(
        run.stderr_text()
            .contains("plugin `misbehaving.py` did not answer `initialize` within 500ms"),
        "{}",
        run.stderr_text()
    );
    s.assert_nothing_left_if_started();
}

#[test]
fn a_secret_the_plugin_echoes_is_redacted_from_outputs_errors_and_its_forwarded_stderr() {
    let s = Scratch::new();
    let run = s
        .run_test_plugin("ok", &["--continue-on-fail"])
        .stdin_json(&json!([
            {"operation": "echo", "value": "a", "secret": true},
            {"operation": "create", "value": "b", "secret": true}
        ]))
        .run();
    run.assert_code(0);
    let stdout = run.stdout_text();
    let stderr = run.stderr_text();
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "{stdout}\n{stderr}"
    );
    let out = items(&run);
    assert_eq!(out[0]["json"]["token"], "[REDACTED]");
    assert_eq!(out[0]["json"]["note"], "x[REDACTED]");
    assert_eq!(out[1]["json"]["error"]["message"], "item 1: bad token [REDACTED]");
    assert_eq!(out[1]["json"]["error"]["details"]["token"], "[REDACTED]");
    assert!(
        stderr.contains("plugin misbehaving.py: the token is [REDACTED]"),
        "{stderr}"
    );
}

#[test]
fn retryable_failures_are_retried_for_idempotent_operations_only() {
    let s = Scratch::new();
    let run = s
        .run_test_plugin("ok", &["--continue-on-fail"])
        .stdin_json(&json!([
            {"operation": "echo", "value": "a", "failTimes": 2},
            {"operation": "create", "value": "b", "failTimes": 1}
        ]))
        .run();
    run.assert_code(0);
    let out = items(&run);
    assert_eq!(out[0]["json"]["attempts"], 3, "an idempotent read is tried again");
    assert_eq!(out[1]["json"]["error"]["message"], "item 1: busy, attempt 1");
    assert_eq!(out[1]["json"]["error"]["httpStatus"], 503);
    assert_eq!(
        s.methods().iter().filter(|m| *m == "execute").count(),
        4,
        "a create is sent once"
    );

    let s = Scratch::new();
    let once = s
        .run_test_plugin("ok", &["--max-tries", "1"])
        .stdin_json(&json!([{"operation": "echo", "value": "a", "failTimes": 1}]))
        .run();
    once.assert_code(1);
    assert_eq!(s.methods().iter().filter(|m| *m == "execute").count(), 1);
}

#[test]
fn registration_refuses_a_plugin_whose_node_clashes_with_a_built_in() {
    let s = Scratch::new();
    let plugin = misbehaving();
    let added = s
        .nodehost(["plugin", "add", plugin.to_str().unwrap(), "--", "clash"])
        .run();
    added.assert_code(2);
    assert!(
        added
            .stderr_text()
            .contains("plugin `misbehaving` is not registered: a node named `gestorClientesMaxCliente` is already registered"),
        "{}",
        added.stderr_text()
    );
    assert!(!s.path("plugins.json").exists());
}

#[test]
fn one_broken_registry_entry_does_not_break_the_others() {
    let s = Scratch::new();
    let plugin = keyvalue();
    s.nodehost(["plugin", "add", plugin.to_str().unwrap()])
        .run()
        .assert_code(0);
    let path = s.path("plugins.json");
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    file["plugins"]
        .as_array_mut()
        .unwrap()
        .insert(0, json!({"name": "broken", "program": 42}));
    std::fs::write(&path, file.to_string()).unwrap();

    let listed = s.nodehost(["list"]).run();
    listed.assert_code(0);
    assert!(listed.stdout_text().contains("keyValueStore"));
    assert!(
        listed.stderr_text().contains("entry 0 (`broken`)"),
        "{}",
        listed.stderr_text()
    );
    let plugins = s.nodehost(["plugin", "list"]).run();
    assert_eq!(plugins.json()[0]["status"], "broken");
    assert_eq!(plugins.json()[1]["status"], "ok");
}

#[test]
fn a_plugin_whose_executable_changed_is_read_again() {
    let s = Scratch::new();
    let copy = s.path("kv.py");
    std::fs::copy(keyvalue(), &copy).unwrap();
    let added = s
        .nodehost(["plugin", "add", "python3", "--", copy.to_str().unwrap()])
        .run();
    added.assert_code(0);
    let text = std::fs::read_to_string(&copy).unwrap();
    std::fs::write(
        &copy,
        text.replace("\"Key-Value Store\"", "\"Key-Value Store 2\""),
    )
    .unwrap();

    let plugins = s.nodehost(["plugin", "list"]).run();
    assert_eq!(plugins.json()[0]["status"], "changed");
    let described = s.nodehost(["describe", "keyValueStore"]).run();
    described.assert_code(0);
    assert_eq!(described.json()["displayName"], "Key-Value Store 2");
    assert!(
        described
            .stderr_text()
            .contains("changed since it was registered")
    );
    // Stored again: the next command starts nothing.
    assert_eq!(s.nodehost(["plugin", "list"]).run().json()[0]["status"], "ok");
}

#[test]
fn plugin_check_passes_a_conformant_plugin_and_fails_a_wrong_one() {
    let s = Scratch::new();
    let creds = s.path("creds.json");
    std::fs::write(&creds, json!({"token": TOKEN}).to_string()).unwrap();
    let plugin = keyvalue();
    let good = s
        .nodehost([
            "plugin",
            "check",
            "--credentials",
            creds.to_str().unwrap(),
            plugin.to_str().unwrap(),
        ])
        .run();
    good.assert_code(0);
    let report = good.json();
    assert_eq!(report["failed"], 0, "{report}");
    let checks: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(checks.iter().any(|c| c.contains("execute `get`")), "{checks:?}");

    let rust = built_bin("cpf-tools-plugin");
    s.nodehost(["plugin", "check", rust.to_str().unwrap()])
        .run()
        .assert_code(0);

    let bad = s
        .nodehost([
            "plugin",
            "check",
            misbehaving().to_str().unwrap(),
            "--",
            "wrong-version",
        ])
        .run();
    bad.assert_code(1);
    assert_eq!(bad.json()["checks"][0]["outcome"], "fail");

    // A stray line on stdout after answering its first `execute`: the round trip got its
    // answer (and the host would start the plugin again for the next call), but the plugin
    // broke the protocol, and `check` says so.
    let stray = s
        .nodehost([
            "plugin",
            "check",
            "--credentials",
            creds.to_str().unwrap(),
            misbehaving().to_str().unwrap(),
            "--",
            "garbage-after-first",
        ])
        .run();
    stray.assert_code(1);
    let report = stray.json();
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .collect();
    assert!(
        failed
            .iter()
            .any(|c| c["check"] == "keeps to the protocol through the round trips"
                && c["detail"].as_str().unwrap().contains("not JSON")),
        "{report}"
    );
}

#[test]
fn the_sandbox_flag_is_refused_for_a_node_that_does_not_use_the_emulated_api() {
    let s = Scratch::new();
    let run = s
        .run_test_plugin("ok", &["--sandbox"])
        .stdin_json(&json!([{"operation": "echo", "value": "a"}]))
        .run();
    run.assert_code(2);
    let stderr = run.stderr_text();
    assert!(
        stderr.contains("--sandbox") && stderr.contains("emulator") && stderr.contains("`testPlugin`"),
        "{stderr}"
    );
}

#[test]
fn interrupting_twice_cancels_the_items_in_flight_then_shuts_the_plugin_down() {
    let s = Scratch::new();
    let mut child = s
        .run_test_plugin("ok", &["--ndjson", "--deadline", "120"])
        .spawn();
    child.send_line(&json!({"operation": "create", "value": "a", "hang": true}).to_string());
    assert!(
        wait_for(Duration::from_secs(10), || s
            .methods()
            .contains(&"execute".to_owned())),
        "the item never reached the plugin"
    );
    child.signal("INT");
    // Two signals in a row may arrive as one; then the 10 s drain limit gives it up instead.
    std::thread::sleep(Duration::from_millis(200));
    child.signal("INT");
    let (status, rest, stderr) = child.wait_with_stdin_open(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let report: Value = serde_json::from_str(rest.last().expect("a report line")).unwrap();
    assert_eq!(report["error"]["reason"], "cancelled");
    assert_eq!(
        report["error"]["maybeApplied"],
        json!([[0, 0]]),
        "a create given up in flight"
    );
    let methods = s.methods();
    let cancel = methods
        .iter()
        .position(|m| m == "$/cancel")
        .expect("$/cancel sent");
    let shutdown = methods
        .iter()
        .position(|m| m == "shutdown")
        .expect("shutdown sent");
    assert!(cancel < shutdown, "{methods:?}");
    s.assert_nothing_left();
}

#[test]
fn the_n8n_package_holds_a_registered_plugins_node_only_when_asked() {
    let s = Scratch::new();
    s.nodehost(["plugin", "add", keyvalue().to_str().unwrap()])
        .run()
        .assert_code(0);
    // A copy of the package, as a plugin user makes one.
    let package = s.path("n8n-package");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::copy(
        repo_file("integrations/n8n/package.json"),
        package.join("package.json"),
    )
    .unwrap();
    let manifest = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(package.join("package.json")).unwrap()).unwrap()
    };
    // By default a generator holds the built-in nodes only: a machine's plugins do not leak.
    let written = s.nodehost(["n8n", "--write", package.to_str().unwrap()]).run();
    written.assert_code(0);
    assert_eq!(
        manifest()["n8n"]["nodes"],
        json!(["nodes/GestorClientesMaxCliente/GestorClientesMaxCliente.node.js"])
    );
    let written = s
        .nodehost(["n8n", "--with-plugins", "--write", package.to_str().unwrap()])
        .run();
    written.assert_code(0);
    let manifest = manifest();
    assert_eq!(
        manifest["n8n"]["nodes"],
        json!([
            "nodes/GestorClientesMaxCliente/GestorClientesMaxCliente.node.js",
            "nodes/KeyValueStore/KeyValueStore.node.js"
        ])
    );
    assert_eq!(
        manifest["name"], "n8n-nodes-nodehost",
        "the package's own members stay"
    );
    let node = std::fs::read_to_string(package.join("nodes/KeyValueStore/KeyValueStore.node.js")).unwrap();
    assert!(node.contains("class KeyValueStore {"), "{node}");
    assert!(node.contains("\"displayName\": \"Key-Value Store\""), "{node}");
    assert!(
        node.contains("runNode(this, \"keyValueStore\", description"),
        "{node}"
    );

    // The same for the definition files.
    let definitions = s.path("definitions");
    s.nodehost(["describe", "--all", "--write", definitions.to_str().unwrap()])
        .run()
        .assert_code(0);
    let mut files: Vec<String> = std::fs::read_dir(&definitions)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "gestorClientesMaxApi.credentials.json",
            "gestorClientesMaxCliente.json"
        ]
    );

    // Without the package's package.json, nothing is written and the message says what DIR is.
    let empty = s.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let refused = s.nodehost(["n8n", "--write", empty.to_str().unwrap()]).run();
    refused.assert_code(2);
    assert!(
        refused.stderr_text().contains("DIR must be the n8n package"),
        "{}",
        refused.stderr_text()
    );
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}
