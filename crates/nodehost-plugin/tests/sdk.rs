//! The plugin side, spoken to line by line as a host would: the SDK serving the example
//! `cpfTools` node over an in-memory pipe.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodehost_plugin::PluginServer;
use nodehost_plugin::protocol::code;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Send `requests` (one per line), close the input, and collect every answer by id.
async fn exchange(requests: &[Value]) -> Vec<Value> {
    let (mut host_end, plugin_end) = tokio::io::duplex(1 << 20);
    let (plugin_in, plugin_out) = tokio::io::split(plugin_end);
    let server = tokio::spawn(
        PluginServer::new("cpf-tools", "0.0.0")
            .node(cpf_tools_plugin::CpfTools)
            .serve(plugin_in, plugin_out),
    );
    for r in requests {
        host_end.write_all(format!("{r}\n").as_bytes()).await.unwrap();
    }
    let (read, mut write) = tokio::io::split(host_end);
    let mut lines = BufReader::new(read).lines();
    let mut answers = Vec::new();
    let wanted = requests.iter().filter(|r| r.get("id").is_some()).count();
    while answers.len() < wanted {
        let line = lines.next_line().await.unwrap().expect("an answer per request");
        answers.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    write.shutdown().await.unwrap();
    drop(write);
    drop(lines);
    server.await.unwrap().unwrap();
    answers.sort_by_key(|a| a["id"].as_u64().unwrap_or(u64::MAX));
    answers
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn init() -> Value {
    request(
        1,
        "initialize",
        json!({"protocolVersion": "1", "host": {"name": "test", "version": "0"}}),
    )
}

#[tokio::test]
async fn the_handshake_gives_the_same_definition_as_the_node_built_in() {
    let answers = exchange(&[init()]).await;
    let result = &answers[0]["result"];
    assert_eq!(result["protocolVersion"], "1");
    assert_eq!(result["plugin"], json!({"name": "cpf-tools", "version": "0.0.0"}));
    let mut builtin = nodehost_core::Registry::new();
    builtin.register(cpf_tools_plugin::CpfTools).unwrap();
    assert_eq!(&result["nodes"][0], builtin.get("cpfTools").unwrap().definition());
    assert_eq!(result["credentials"], json!([]));
}

#[tokio::test]
async fn items_run_in_a_session_and_failures_carry_their_details() {
    let answers = exchange(&[
        init(),
        request(2, "open", json!({"node": "cpfTools", "credentials": null})),
        request(
            3,
            "execute",
            json!({"session": "s1", "item": 0, "params": {"operation": "format", "cpf": "52998224725"}}),
        ),
        request(
            4,
            "execute",
            json!({"session": "s1", "item": 1, "params": {"operation": "format", "cpf": "1"}}),
        ),
        request(5, "close", json!({"session": "s1"})),
        request(6, "shutdown", Value::Null),
    ])
    .await;
    assert_eq!(answers[1]["result"], json!({"session": "s1"}));
    assert_eq!(
        answers[2]["result"],
        json!({"outputs": [{"cpf": "52998224725", "formatted": "529.982.247-25"}]})
    );
    assert_eq!(answers[3]["error"]["code"], code::ITEM_FAILED);
    assert_eq!(answers[3]["error"]["data"]["details"][0]["path"], json!(["cpf"]));
    assert_eq!(answers[4]["result"], Value::Null);
    assert_eq!(answers[5]["result"], Value::Null);
}

#[tokio::test]
async fn bad_requests_get_errors_and_the_plugin_goes_on() {
    let answers = exchange(&[
        request(
            1,
            "initialize",
            json!({"protocolVersion": "2", "host": {"name": "test", "version": "0"}}),
        ),
        request(2, "nodehost/unknown", json!({})),
        request(
            3,
            "execute",
            json!({"session": "nope", "item": 0, "params": {"operation": "validate", "cpf": "1"}}),
        ),
        request(4, "open", json!({"node": "nope", "credentials": null})),
        request(5, "open", json!({"node": "cpfTools", "credentials": null})),
        request(
            6,
            "execute",
            json!({"session": "s1", "item": 0, "params": {"operation": "validate", "cpf": 7}}),
        ),
        json!({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": 99}}),
        request(
            7,
            "execute",
            json!({"session": "s1", "item": 1, "params": {"operation": "validate", "cpf": "1"}}),
        ),
    ])
    .await;
    assert!(
        answers[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("protocol version 1")
    );
    assert_eq!(answers[1]["error"]["code"], code::METHOD_NOT_FOUND);
    assert_eq!(answers[2]["error"]["code"], code::INVALID_PARAMS);
    assert_eq!(answers[2]["error"]["message"], "unknown session `nope`");
    assert_eq!(answers[3]["error"]["message"], "unknown node `nope`");
    assert_eq!(answers[5]["error"]["code"], code::INVALID_PARAMS);
    assert!(
        answers[5]["error"]["message"].as_str().unwrap().contains("cpf"),
        "{}",
        answers[5]
    );
    assert_eq!(
        answers[6]["result"],
        json!({"outputs": [{"cpf": "1", "valid": false}]})
    );
}
