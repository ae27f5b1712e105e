//! `nodehost mcp` driven by a real MCP client (rmcp's) over stdio, as an agent's host would:
//! the handshake, the tool list with schemas and annotations, every operation against an
//! embedded sandbox, and the failures a model must be able to act on.

use std::process::Stdio;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, Tool};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// `nodehost mcp ARGS` with piped stdio, no developer settings and no registered plugins.
fn mcp(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::from(nodehost_e2e::command());
    cmd.arg("mcp")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// `nodehost mcp --sandbox` on a fresh in-memory sandbox (3 seeded clients), plus `args`.
fn server(args: &[&str]) -> tokio::process::Child {
    let mut all = vec!["--sandbox", "--sandbox-db", ":memory:"];
    all.extend_from_slice(args);
    mcp(&all).spawn().unwrap()
}

/// All of a child's stderr, once it closes.
fn collect(stderr: tokio::process::ChildStderr) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut all = String::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    })
}

async fn connect(args: &[&str]) -> (RunningService<RoleClient, ()>, tokio::process::Child) {
    let mut child = server(args);
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let client = tokio::time::timeout(Duration::from_secs(20), ().serve((stdout, stdin)))
        .await
        .expect("the handshake finished in time")
        .expect("the handshake succeeded");
    (client, child)
}

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(m) => m,
        _ => panic!("arguments are an object"),
    }
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap()
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn items(result: &CallToolResult) -> Vec<Value> {
    assert_eq!(result.is_error, Some(false), "{}", text(result));
    let structured = result.structured_content.clone().expect("structuredContent");
    // The text block carries the same JSON, for clients that read only text.
    assert_eq!(serde_json::from_str::<Value>(&text(result)).unwrap(), structured);
    structured["items"].as_array().unwrap().clone()
}

/// The tools `nodehost mcp` should offer for the built-in nodes' operations that `keep`
/// accepts, sorted as it lists them: from the registry, never a hand-kept list.
fn tool_names(keep: impl Fn(&nodehost_core::OperationHints) -> bool) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = nodehost_cli::registry()
        .nodes()
        .flat_map(|node| {
            let name = node.name().to_owned();
            node.description()
                .operations
                .iter()
                .filter(|op| keep(&op.hints))
                .map(move |op| &*format!("{name}_{}", op.value).leak())
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort_unstable();
    names
}

fn tool<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

#[tokio::test]
async fn an_mcp_client_lists_the_tools_with_schemas_and_annotations() {
    let (client, _child) = connect(&[]).await;
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "nodehost");
    assert_eq!(info.protocol_version.as_str(), "2025-11-25");

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    // One tool per operation the registry holds, by name: the list comes from the node.
    assert_eq!(names, tool_names(|_| true));
    // An upsert is safe to repeat: the agent is told so, not "creates something new".
    let upsert = tool(&tools, "gestorClientesMaxCliente_upsert");
    assert_eq!(upsert.annotations.as_ref().unwrap().idempotent_hint, Some(true));
    assert!(
        upsert
            .description
            .as_deref()
            .unwrap()
            .contains("repeating the same call is harmless"),
        "{:?}",
        upsert.description
    );
    let get = tool(&tools, "gestorClientesMaxCliente_get");
    assert_eq!(
        get.title.as_deref(),
        Some("Gestor Clientes Max Cliente: Get a client")
    );
    let description = get.description.as_deref().unwrap();
    assert!(description.contains("Read-only"), "{description}");
    assert!(description.contains("{\"items\": [...]}"), "{description}");
    let schema = Value::Object((*get.input_schema).clone());
    assert!(schema["properties"].get("operation").is_none(), "{schema}");
    assert!(schema["properties"].get("clientId").is_some(), "{schema}");
    assert_eq!(schema["required"], json!(["clientId"]));
    assert!(get.output_schema.is_some());

    // Every hint is stated, from the operation's own hints.
    for (name, read_only, destructive, idempotent) in [
        ("gestorClientesMaxCliente_get", true, false, true),
        ("gestorClientesMaxCliente_getAll", true, false, true),
        ("gestorClientesMaxCliente_create", false, false, false),
        ("gestorClientesMaxCliente_update", false, false, true),
        ("gestorClientesMaxCliente_delete", false, true, true),
    ] {
        let a = tool(&tools, name).annotations.clone().unwrap();
        assert_eq!(a.read_only_hint, Some(read_only), "{name}");
        assert_eq!(a.destructive_hint, Some(destructive), "{name}");
        assert_eq!(a.idempotent_hint, Some(idempotent), "{name}");
        assert_eq!(a.open_world_hint, Some(true), "{name}");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_operation_runs_through_tools_call_and_failures_are_results_a_model_can_act_on() {
    let (client, _child) = connect(&[]).await;
    let created = items(
        &call(
            &client,
            "gestorClientesMaxCliente_create",
            json!({"name": "Ana MCP", "email": "ana.mcp@example.com"}),
        )
        .await,
    );
    assert_eq!(created.len(), 1);
    let id = created[0]["id"].as_u64().unwrap();
    assert_eq!(created[0]["name"], "Ana MCP");

    let got = items(&call(&client, "gestorClientesMaxCliente_get", json!({"clientId": id})).await);
    assert_eq!(got[0]["email"], "ana.mcp@example.com");

    let updated = items(
        &call(
            &client,
            "gestorClientesMaxCliente_update",
            json!({"clientId": id, "city": "Recife"}),
        )
        .await,
    );
    assert_eq!(updated[0]["city"], "Recife");

    let all = items(
        &call(
            &client,
            "gestorClientesMaxCliente_getAll",
            json!({"returnAll": true}),
        )
        .await,
    );
    assert_eq!(all.len(), 4, "3 seeded clients and the new one, one item each");

    let deleted = items(
        &call(
            &client,
            "gestorClientesMaxCliente_delete",
            json!({"clientId": id}),
        )
        .await,
    );
    assert_eq!(deleted.len(), 1);

    // The API's 404, with its own message, as an error result.
    let missing = call(&client, "gestorClientesMaxCliente_get", json!({"clientId": id})).await;
    assert_eq!(missing.is_error, Some(true));
    let words = text(&missing);
    assert!(
        words.contains("404") && words.contains("Cliente não encontrado"),
        "{words}"
    );

    // An invalid argument: nothing is sent, and the text names the field.
    let invalid = call(
        &client,
        "gestorClientesMaxCliente_get",
        json!({"clientId": "abc"}),
    )
    .await;
    assert_eq!(invalid.is_error, Some(true));
    let words = text(&invalid);
    assert!(
        words.starts_with("invalid arguments, nothing was done: field `clientId`"),
        "{words}"
    );
    let unknown_field = call(
        &client,
        "gestorClientesMaxCliente_get",
        json!({"clientId": 1, "clientID": 2}),
    )
    .await;
    assert!(
        text(&unknown_field).contains("clientID"),
        "{}",
        text(&unknown_field)
    );

    // The API's validation issues reach the model.
    let bad_email = call(
        &client,
        "gestorClientesMaxCliente_create",
        json!({"name": "B", "email": "not-an-email"}),
    )
    .await;
    assert_eq!(bad_email.is_error, Some(true));
    assert!(text(&bad_email).contains("email"), "{}", text(&bad_email));

    // An unknown tool is a JSON-RPC error, not a result.
    let unknown = client
        .call_tool(CallToolRequestParams::new("gestorClientesMaxCliente_explode"))
        .await;
    match unknown {
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.code.0, -32602);
            assert!(e.message.contains("unknown tool"), "{}", e.message);
        }
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn read_only_and_tool_globs_narrow_what_an_agent_may_do() {
    let (client, _child) = connect(&["--read-only"]).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, tool_names(|hints| hints.read_only));
    assert!(names.contains(&"gestorClientesMaxCliente_get"), "{names:?}");
    let refused = client
        .call_tool(
            CallToolRequestParams::new("gestorClientesMaxCliente_delete")
                .with_arguments(args(json!({"clientId": 1}))),
        )
        .await;
    assert!(matches!(refused, Err(ServiceError::McpError(_))), "{refused:?}");
    client.cancel().await.unwrap();

    let (client, _child) = connect(&["--tools", "*_create,*_getAll"]).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "gestorClientesMaxCliente_create",
            "gestorClientesMaxCliente_getAll"
        ]
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_filter_that_leaves_no_tool_is_refused_at_start() {
    let out = nodehost_e2e::command()
        .args([
            "mcp",
            "--sandbox",
            "--sandbox-db",
            ":memory:",
            "--tools",
            "nothing_*",
        ])
        .env(
            "NODEHOST_PLUGINS",
            std::env::temp_dir().join("nodehost-e2e-mcp-no-plugins.json"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tools `nothing_*` matches no tool"), "{stderr}");
    assert!(stderr.contains("no tool to offer"), "{stderr}");
}

#[tokio::test]
async fn stdout_carries_only_protocol_messages_even_with_trace_logs() {
    let mut child = mcp(&["--sandbox", "--sandbox-db", ":memory:"])
        .env("RUST_LOG", "trace")
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let logs = collect(child.stderr.take().unwrap());
    let requests = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "gestorClientesMaxCliente_get", "arguments": {"clientId": 1}}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "gestorClientesMaxCliente_get", "arguments": {"clientId": 404}}}),
    ];
    let mut lines = BufReader::new(stdout).lines();
    let mut answered = 0;
    for r in &requests {
        stdin.write_all(format!("{r}\n").as_bytes()).await.unwrap();
        if r.get("id").is_none() {
            continue;
        }
        // Read up to this request's answer; every line on the way must be a message.
        loop {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("an answer in time")
                .unwrap()
                .expect("stdout still open");
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carried a line that is not JSON ({e}): {line}"));
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
            if message["id"] == r["id"] {
                answered += 1;
                break;
            }
        }
    }
    assert_eq!(answered, 4);
    drop(stdin);
    while let Some(line) = lines.next_line().await.unwrap() {
        let message: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
    }
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "the server exits when the client closes its stdin"
    );
    assert!(
        logs.await.unwrap().lines().count() > 10,
        "trace logs went to stderr"
    );
}

#[tokio::test]
async fn a_plugin_node_becomes_tools_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("plugins.json");
    let plugin = nodehost_e2e::built_bin("cpf-tools-plugin");
    let added = nodehost_e2e::command()
        .args(["plugin", "add"])
        .arg(&plugin)
        .env("NODEHOST_PLUGINS", &registry)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    let mut child = mcp(&["--nodes", "cpfTools"])
        .env("NODEHOST_PLUGINS", &registry)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (stdout, stdin) = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let client = ().serve((stdout, stdin)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["cpfTools_format", "cpfTools_validate"]);
    let a = tool(&tools, "cpfTools_validate").annotations.clone().unwrap();
    assert_eq!(
        a.open_world_hint,
        Some(false),
        "no credential type: nothing outside is reached"
    );
    let valid = items(&call(&client, "cpfTools_validate", json!({"cpf": "529.982.247-25"})).await);
    assert_eq!(valid, [json!({"cpf": "529.982.247-25", "valid": true})]);
    let refused = call(&client, "cpfTools_format", json!({"cpf": "1"})).await;
    assert_eq!(refused.is_error, Some(true));
    assert!(
        text(&refused).starts_with("not a valid CPF"),
        "{}",
        text(&refused)
    );
    client.cancel().await.unwrap();
}

#[test]
fn a_wrong_key_is_an_error_result_that_never_shows_the_key() {
    // The sandbox runs on a runtime of its own, so it is started outside this test's.
    let sandbox = nodehost_e2e::Sandbox::memory();
    let dir = nodehost_e2e::tempdir();
    let key = "gck_".to_owned() + &"5eC7e7".repeat(10);
    let creds = nodehost_e2e::credentials_file(dir.path(), sandbox.base_url(), &key);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(wrong_key(creds, key));
}

async fn wrong_key(creds: std::path::PathBuf, key: String) {
    let mut child = mcp(&["--credentials", creds.to_str().unwrap()])
        .env("RUST_LOG", "debug")
        .spawn()
        .unwrap();
    let (stdout, stdin) = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let logs = collect(child.stderr.take().unwrap());
    let client = ().serve((stdout, stdin)).await.unwrap();
    let refused = call(&client, "gestorClientesMaxCliente_get", json!({"clientId": 1})).await;
    assert_eq!(refused.is_error, Some(true));
    let words = text(&refused);
    assert!(words.contains("401"), "{words}");
    assert!(
        !serde_json::to_string(&refused).unwrap().contains(&key[4..]),
        "{words}"
    );
    client.cancel().await.unwrap();
    let _ = child.wait().await;
    let logs = logs.await.unwrap();
    assert!(!logs.contains(&key[4..]), "the key reached stderr:\n{logs}");
}

/// `nodehost mcp --sandbox` on raw stdio lines: what a client that is not an SDK sees.
fn raw_session(lines: &[String]) -> Vec<Value> {
    let mut child = nodehost_e2e::command()
        .args(["mcp", "--sandbox", "--sandbox-db", ":memory:"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        stdin.write_all(input.as_bytes()).unwrap();
        // Stdin stays open until the answers are read: closing it ends the session.
        stdin
    });
    // Answers are read on a thread of their own, so a server that never answers fails the
    // test at the deadline instead of hanging it.
    let expected = lines
        .iter()
        .filter(|l| l.contains("\"id\"") || !l.starts_with('{'))
        .count();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut answers: Vec<Value> = Vec::new();
    while answers.len() < expected {
        let Ok(text) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!(
                "{} of {expected} answers within a minute: {answers:?}",
                answers.len()
            );
        };
        answers.push(serde_json::from_str(&text).unwrap());
    }
    drop(writer.join().unwrap());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    answers
}

#[test]
fn a_line_that_is_not_json_is_a_parse_error_and_a_2025_03_26_batch_gets_one_answer() {
    let initialize = |revision: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
        .to_string()
    };
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let batch = json!([
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}},
        {"jsonrpc": "2.0", "id": "three", "method": "ping"},
    ])
    .to_string();
    let answers = raw_session(&[
        "this is not json".to_owned(),
        initialize("2025-03-26"),
        initialized,
        batch,
    ]);
    assert_eq!(answers.len(), 3, "{answers:?}");
    // JSON-RPC: a parse error, with a null id, and the session goes on.
    assert_eq!(answers[0]["error"]["code"], -32700, "{}", answers[0]);
    assert_eq!(answers[0]["id"], Value::Null);
    assert_eq!(answers[1]["result"]["protocolVersion"], "2025-03-26");
    // The batch's two requests, answered together in the batch's order.
    let batch = answers[2].as_array().expect("one array for the batch");
    assert_eq!(batch.len(), 2, "{batch:?}");
    assert_eq!(batch[0]["id"], 2);
    assert!(
        batch[0]["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(batch[1]["id"], "three");
    assert_eq!(batch[1]["result"], json!({}));
}

#[test]
fn the_2026_07_28_revision_needs_no_handshake_and_discovers_the_server() {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    });
    let discover = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}});
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "gestorClientesMaxCliente_get", "arguments": {"clientId": 1}, "_meta": meta}});
    let answers = raw_session(&[discover.to_string(), call.to_string()]);
    assert_eq!(answers.len(), 2, "{answers:?}");
    let versions = answers[0]["result"]["supportedVersions"].as_array().unwrap();
    assert!(versions.contains(&json!("2026-07-28")), "{versions:?}");
    assert!(
        versions.contains(&json!("2025-11-25")),
        "older clients keep theirs: {versions:?}"
    );
    assert_eq!(answers[0]["result"]["capabilities"], json!({"tools": {}}));
    // A tool call with the revision's per-request metadata, no initialize before it.
    let text = answers[1]["result"]["content"][0]["text"].as_str().unwrap();
    let items: Value = serde_json::from_str(text).unwrap();
    assert_eq!(items["items"][0]["id"], 1, "{text}");
}
