//! The plugin executable over its real stdin and stdout: the handshake and one item, as the
//! host sends them. (Being an integration test of this package also makes `cargo test` build
//! the executable, which the workspace's end-to-end plugin tests start.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

#[test]
fn the_executable_answers_the_handshake_and_an_item_then_exits_at_end_of_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cpf-tools-plugin"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let requests = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "1", "host": {"name": "test", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "open", "params": {"node": "cpfTools", "credentials": null}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "execute",
               "params": {"session": "s1", "item": 0, "params": {"operation": "validate", "cpf": "52998224725"}}}),
    ];
    let mut stdin = child.stdin.take().unwrap();
    for r in &requests {
        writeln!(stdin, "{r}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    answers.sort_by_key(|a| a["id"].as_u64());
    assert_eq!(answers[0]["result"]["plugin"]["name"], "cpf-tools");
    assert_eq!(answers[1]["result"]["session"], "s1");
    assert_eq!(
        answers[2]["result"],
        json!({"outputs": [{"cpf": "52998224725", "valid": true}]})
    );
}
