//! The published contract checked by a third party: Schemathesis (pinned, from PyPI; `scripts/test`
//! installs it) generates requests from the checked-in `openapi.json` (examples, coverage,
//! fuzzing and stateful phases, a fixed seed, bounded in examples) and sends them to a live
//! `nodehost serve` with a token. Every answer must be no 5xx, a status the document lists for
//! its route, with the content type, headers and body the document gives it.

use std::process::Command;
use std::time::Duration;

/// The version `scripts/test` installs; another one may check differently.
const SCHEMATHESIS: &str = "4.32.5";
const TOKEN: &str = "schemathesis-token-0123";

#[test]
fn schemathesis_finds_no_answer_outside_the_published_contract() {
    let version = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--version"])
        .output();
    let installed = version
        .as_ref()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(SCHEMATHESIS));
    assert!(
        installed,
        "Schemathesis {SCHEMATHESIS} is missing: install it with \
         `python3 -m pip install schemathesis=={SCHEMATHESIS}` (scripts/test does)"
    );
    let (server, url) = nodehost_e2e::serve_on_sandbox(&[("NODEHOST_TOKEN", TOKEN)]);
    // Schemathesis keeps a cache (and Hypothesis a database) in its working folder: a scratch
    // one, so nothing lands in the checkout.
    let scratch = nodehost_e2e::tempdir();
    let mut st = Command::new("python3");
    nodehost_e2e::clean_env(&mut st);
    let run = st
        .current_dir(scratch.path())
        .args(["-m", "schemathesis.cli", "run"])
        .arg(nodehost_e2e::repo_file("openapi.json"))
        .args(["--url", &url])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--max-examples", "30", "--seed", "1", "--no-color"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
        ])
        .output()
        .expect("run schemathesis");
    server.signal("TERM");
    let (status, _, stderr) = server.wait(Duration::from_secs(30));
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "Schemathesis found answers outside openapi.json:\n{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("passed"), "{report}");
    assert_eq!(status.code(), Some(0), "serve: {stderr}");
}
