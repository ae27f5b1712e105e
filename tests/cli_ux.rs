//! The command line as a person and an operator's tools meet it: shell completions that
//! parse, man pages that match the code, JSON logs a collector can read (with no key in them),
//! a progress display only on a terminal's stderr, and colour only where it belongs.

use std::path::Path;
use std::process::Command;

use nodehost_e2e::{NODE, Sandbox, credentials_file, nodehost, nodehost_bin, repo_file, tempdir};
use serde_json::{Value, json};

#[test]
fn completions_for_every_shell_are_generated_and_bash_parses_them() {
    // (shell, its marker, node names complete, operations complete): clap_complete writes
    // value completions of positional arguments for bash and zsh, of options for fish too.
    for (shell, marker, nodes, operations) in [
        ("bash", "complete -F", true, true),
        ("zsh", "#compdef nodehost", true, true),
        ("fish", "complete -c nodehost", false, true),
        ("powershell", "Register-ArgumentCompleter", false, false),
        ("elvish", "edit:completion:arg-completer[nodehost]", false, false),
    ] {
        let out = nodehost(["completions", shell]).run();
        out.assert_code(0);
        let script = out.stdout_text();
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        assert_eq!(script.contains(NODE), nodes, "{shell}: node names");
        assert_eq!(script.contains("getAll"), operations, "{shell}: operations");
    }
    let dir = tempdir();
    let path = dir.path().join("nodehost.bash");
    std::fs::write(&path, nodehost(["completions", "bash"]).run().stdout_text()).unwrap();
    let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_checked_in_man_pages_are_the_generated_ones() {
    let dir = tempdir();
    nodehost(["man", "--write"])
        .args([dir.path()])
        .run()
        .assert_code(0);
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let checked_in = repo_file("man");
    assert_eq!(
        names(dir.path()),
        names(&checked_in),
        "regenerate with `cargo run -- man --write man/`"
    );
    for name in names(dir.path()) {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&name)).unwrap(),
            std::fs::read_to_string(checked_in.join(&name)).unwrap(),
            "man/{name} differs from the code; regenerate with `cargo run -- man --write man/`"
        );
    }
    let page = nodehost(["man"]).run().stdout_text();
    assert!(page.contains(".TH nodehost 1"), "{page}");
}

#[test]
fn json_logs_are_one_object_per_line_with_the_runs_fields_and_never_the_key() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let key = "gck_".to_owned() + &"a1B2c3".repeat(10);
    let creds = credentials_file(dir.path(), sandbox.base_url(), &key);
    // A wrong key: the API answers 401, and the key is in the request every attempt sends.
    let out = nodehost(["run", NODE, "--credentials"])
        .args([&creds])
        .args(["--log-format", "json", "--continue-on-fail"])
        .env("RUST_LOG", "trace")
        .stdin_json(&json!([{"operation": "get", "clientId": 1}]))
        .run();
    out.assert_code(0);
    let stderr = out.stderr_text();
    assert!(!stderr.contains(&key[4..]), "the key reached the logs");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for line in &lines {
        for field in ["timestamp", "level", "target"] {
            assert!(line.get(field).is_some(), "no `{field}`: {line}");
        }
    }
    let finished = lines
        .iter()
        .find(|l| l["message"] == "run finished")
        .expect("a line for the run");
    assert_eq!(finished["node"], NODE);
    assert_eq!(finished["items"], 1);
    assert_eq!(finished["failed"], 1);
    let attempt = lines
        .iter()
        .find(|l| l["message"] == "http attempt")
        .expect("a line per attempt");
    assert_eq!(attempt["status"], 401);
    assert_eq!(attempt["attempt"], 1);
    assert_eq!(attempt["span"]["node"], NODE);
    assert_eq!(attempt["span"]["item"], 0);
    // Messages are JSON lines too; the variable does what the flag does.
    let env = nodehost(["list"])
        .env("NODEHOST_LOG_FORMAT", "json")
        .args(["--plugins", "/nonexistent/p.json"])
        .run();
    env.assert_code(0);
    let usage = nodehost(["describe", "nope"])
        .env("NODEHOST_LOG_FORMAT", "json")
        .run();
    usage.assert_code(2);
    let line: Value = serde_json::from_str(usage.stderr_text().trim()).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert!(line["message"].as_str().unwrap().contains("nope"), "{line}");
}

/// `script` runs a command on a pseudo-terminal: stderr is a terminal there, stdout goes to a
/// file. Returns what the terminal showed.
fn on_terminal(command: &str, env: &[(&str, &str)]) -> String {
    let script = Command::new("script").arg("--version").output();
    assert!(
        script.is_ok_and(|o| o.status.success()),
        "`script` is missing: install it with `apt-get install -y bsdutils`"
    );
    let dir = tempdir();
    let log = dir.path().join("terminal.log");
    let mut cmd = Command::new("script");
    nodehost_e2e::clean_env(&mut cmd);
    // A terminal test says which terminal it is: progress and colour read `TERM`.
    cmd.env("TERM", "xterm-256color");
    cmd.args(["-qec", command]).arg(&log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{command}");
    String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned()
}

/// 30 items that take `delay_ms` each at `-j 1`: a run of at least 30 times that.
fn slow_run(dir: &Path, extra: &str, delay_ms: u64) -> (String, std::path::PathBuf) {
    let input = dir.join("slow.json");
    let items: Vec<Value> = (0..30)
        .map(|i| json!({"operation": "echo", "value": format!("v{i}"), "delayMs": delay_ms}))
        .collect();
    std::fs::write(&input, Value::Array(items).to_string()).unwrap();
    let out = dir.join("out.json");
    let command = format!(
        "TEST_PLUGIN_TOKEN=t0ken {} run testPlugin --plugin {} -j 1 --input {} {extra} > {}",
        nodehost_bin().display(),
        repo_file("tests/plugins/misbehaving.py").display(),
        input.display(),
        out.display()
    );
    (command, out)
}

#[test]
fn progress_shows_on_a_terminal_only_and_never_in_stdout() {
    let dir = tempdir();
    // At least 6 s: the display, due after 1 s, has 5 s to show even on a loaded machine.
    let (command, out) = slow_run(dir.path(), "", 200);
    let terminal = on_terminal(&command, &[]);
    assert!(
        terminal.contains("/30 items"),
        "no progress on the terminal:\n{terminal}"
    );
    assert!(terminal.contains("0 failed"), "{terminal}");
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        document["items"].as_array().unwrap().len(),
        30,
        "stdout is the document alone"
    );

    let (command, _) = slow_run(dir.path(), "--quiet", 100);
    let quiet = on_terminal(&command, &[]);
    assert!(!quiet.contains("items"), "--quiet showed progress:\n{quiet}");

    // stderr not a terminal: no progress.
    let (command, _) = slow_run(dir.path(), "", 100);
    let mut sh = Command::new("sh");
    nodehost_e2e::clean_env(&mut sh);
    let piped = sh.args(["-c", &command]).output().unwrap();
    assert!(piped.status.success());
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(
        !stderr.contains("items"),
        "progress on a non-terminal stderr:\n{stderr}"
    );
}

#[test]
fn colour_follows_the_terminal_no_color_and_clicolor_force() {
    let command = format!("{} describe nope", nodehost_bin().display());
    let coloured = on_terminal(&format!("{command}; true"), &[]);
    assert!(
        coloured.contains("\u{1b}[1;31mnodehost:\u{1b}[0m"),
        "{coloured:?}"
    );
    let plain = on_terminal(&format!("{command}; true"), &[("NO_COLOR", "1")]);
    assert!(
        plain.contains("nodehost: ") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );

    let piped = nodehost(["describe", "nope"]).run();
    assert!(!piped.stderr_text().contains('\u{1b}'));
    let forced = nodehost(["describe", "nope"]).env("CLICOLOR_FORCE", "1").run();
    assert!(
        forced.stderr_text().contains("\u{1b}[1;31mnodehost:"),
        "{}",
        forced.stderr_text()
    );
    // Data never carries colour.
    let data = nodehost(["list"]).env("CLICOLOR_FORCE", "1").run();
    assert!(!data.stdout_text().contains('\u{1b}'));
}
