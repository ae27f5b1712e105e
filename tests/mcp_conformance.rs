//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! `tests/mcp-conformance/`, with the Node.js 22 it needs from the npm registry's `node`
//! package; `scripts/test` installs both with `npm ci`) against `serve`'s `/mcp`.
//!
//! The scenarios that apply to a server that offers only tools: `server-initialize`, `ping`,
//! `tools-list` and `dns-rebinding-protection`. The others need what nodehost does not offer
//! (resources, prompts, logging, completion, sampling, elicitation, SSE streams) or fixture
//! tools of the suite's own (`test_simple_text`, `test_image_content`, ...). The suite drives
//! servers over HTTP only; `nodehost mcp` on stdio is the same server (`McpServer`) behind
//! `serve_lines`, tested on raw lines in `mcp.rs`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const SCENARIOS: [&str; 4] = [
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
];

fn suite_bin() -> PathBuf {
    let bin = nodehost_e2e::repo_file("tests/mcp-conformance/node_modules/.bin");
    assert!(
        bin.join("conformance").is_file() && bin.join("node").is_file(),
        "the MCP conformance suite is not installed: run \
         `npm ci --prefix tests/mcp-conformance --no-audit --no-fund` (scripts/test does)"
    );
    bin
}

#[test]
fn the_official_conformance_suite_passes_against_serve_s_mcp() {
    let bin = suite_bin();
    let (server, base) = nodehost_e2e::serve_on_sandbox(&[]);
    let url = format!("{base}/mcp");
    let mut failures = Vec::new();
    for scenario in SCENARIOS {
        let mut suite = Command::new(bin.join("conformance"));
        nodehost_e2e::clean_env(&mut suite);
        // The suite's `#!/usr/bin/env node` finds the Node.js 22 installed beside it.
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let out = suite
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .args(["server", "--url", &url, "--scenario", scenario])
            .output()
            .expect("run the conformance suite");
        let report =
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !report.contains(" 0 failed") {
            failures.push(format!("{scenario}:\n{report}"));
        }
    }
    server.signal("TERM");
    let (status, _, stderr) = server.wait(Duration::from_secs(30));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(status.code(), Some(0), "serve: {stderr}");
}
