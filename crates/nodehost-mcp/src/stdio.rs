//! MCP over a pair of byte streams (stdio), one JSON-RPC message per line, with what JSON-RPC
//! asks of a server that rmcp's line transport leaves out:
//!
//! - a line that is not JSON is answered with a parse error (-32700, `"id": null`) and the
//!   session goes on, where the transport dropped the line without a word;
//! - under the 2025-03-26 revision, which allows JSON-RPC batches, a batch (an array) is split
//!   into its messages and their answers are sent back together as one array, in the batch's
//!   order; an empty batch is an invalid request (-32600). Later revisions removed batches,
//!   and their refusal stays the server's.
//!
//! The server sees only single messages; this file only reframes lines.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::sync::mpsc;

use crate::McpServer;

/// Longest line read; a longer one is answered as a parse error and dropped.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// The revision that allows batches.
const BATCH_REVISION: &str = "2025-03-26";

/// Batches waiting for their answers: each request id to its batch, and each batch's answers
/// by position.
#[derive(Default)]
struct Batches {
    by_id: HashMap<String, (u64, usize)>,
    open: HashMap<u64, Vec<Option<Value>>>,
    next: u64,
}

impl Batches {
    /// Open a batch of `size` answers; `ids` are the positions answered by the server.
    fn open(&mut self, answers: Vec<Option<Value>>, ids: Vec<(String, usize)>) -> u64 {
        let batch = self.next;
        self.next += 1;
        for (id, position) in ids {
            self.by_id.insert(id, (batch, position));
        }
        self.open.insert(batch, answers);
        batch
    }

    /// Take the server's answer `message` into its batch; the whole batch once complete.
    /// `Err(message)` when it belongs to no batch.
    fn answer(&mut self, message: Value) -> Result<Option<Value>, Value> {
        let Some(id) = message.get("id").map(Value::to_string) else {
            return Err(message);
        };
        let Some((batch, position)) = self.by_id.remove(&id) else {
            return Err(message);
        };
        let Some(answers) = self.open.get_mut(&batch) else {
            return Err(message);
        };
        answers[position] = Some(message);
        if answers.iter().all(Option::is_some) {
            let answers = self.open.remove(&batch).unwrap_or_default();
            return Ok(Some(Value::Array(answers.into_iter().flatten().collect())));
        }
        Ok(None)
    }
}

fn line(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Serve `server` over `input` and `output` (stdin and stdout) until the input ends.
pub async fn serve_lines<R, W>(server: McpServer, input: R, output: W) -> Result<(), String>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    use rmcp::ServiceExt as _;
    let (to_server, server_in) = tokio::io::duplex(256 * 1024);
    let (server_out, from_server) = tokio::io::duplex(256 * 1024);
    let (lines_tx, mut lines_rx) = mpsc::channel::<Vec<u8>>(64);
    let batches = Arc::new(std::sync::Mutex::new(Batches::default()));
    let allow_batches = Arc::new(AtomicBool::new(false));

    // The one writer of the output.
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(bytes) = lines_rx.recv().await {
            if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });

    // The server's answers, gathered into their batches where they belong to one.
    let answers = {
        let lines = lines_tx.clone();
        let batches = Arc::clone(&batches);
        tokio::spawn(async move {
            let mut reader = BufReader::new(from_server).lines();
            while let Ok(Some(text)) = reader.next_line().await {
                let batching = !batches
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .open
                    .is_empty();
                // Read only while a batch waits for answers; otherwise the line goes as it came.
                let parsed = if batching {
                    serde_json::from_str::<Value>(&text).ok()
                } else {
                    None
                };
                let send = match parsed {
                    Some(message) => {
                        let taken = batches
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .answer(message);
                        match taken {
                            Ok(None) => continue,
                            Ok(Some(batch)) => line(&batch),
                            Err(message) => line(&message),
                        }
                    }
                    None => {
                        let mut bytes = text.into_bytes();
                        bytes.push(b'\n');
                        bytes
                    }
                };
                if lines.send(send).await.is_err() {
                    break;
                }
            }
        })
    };

    // The input, line by line: parse errors answered here, batches split, the rest passed on.
    let requests = {
        let lines = lines_tx.clone();
        let allow = Arc::clone(&allow_batches);
        tokio::spawn(async move {
            let mut to_server = to_server;
            let mut reader = BufReader::new(input);
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                let read = (&mut reader)
                    .take(MAX_LINE as u64 + 1)
                    .read_until(b'\n', &mut buffer)
                    .await;
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if buffer.len() > MAX_LINE {
                    let _ = lines
                        .send(line(&error(
                            Value::Null,
                            -32700,
                            "Parse error: the line is too long".into(),
                        )))
                        .await;
                    // Skip the rest of the line.
                    let mut rest = Vec::new();
                    let _ = reader.read_until(b'\n', &mut rest).await;
                    continue;
                }
                let text = String::from_utf8_lossy(&buffer);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                // Lines to pass on: a single message as it came, a batch's messages one by one.
                let forward: Vec<Vec<u8>> = match serde_json::from_str::<Value>(text) {
                    Err(e) => {
                        let _ = lines
                            .send(line(&error(Value::Null, -32700, format!("Parse error: {e}"))))
                            .await;
                        continue;
                    }
                    Ok(Value::Array(messages)) if allow.load(Ordering::Acquire) => {
                        if messages.is_empty() {
                            let _ = lines
                                .send(line(&error(
                                    Value::Null,
                                    -32600,
                                    "Invalid Request: an empty batch".into(),
                                )))
                                .await;
                            continue;
                        }
                        let mut answers = Vec::with_capacity(messages.len());
                        let mut ids = Vec::new();
                        let mut forward = Vec::new();
                        for message in messages {
                            match message.get("id") {
                                _ if !message.is_object() => answers.push(Some(error(
                                    Value::Null,
                                    -32600,
                                    "Invalid Request: a batch holds JSON-RPC messages (objects)".into(),
                                ))),
                                Some(id) if message.get("method").is_some() => {
                                    ids.push((id.to_string(), answers.len()));
                                    answers.push(None);
                                    forward.push(message);
                                }
                                // A notification (or an answer) gets no answer of its own.
                                _ => forward.push(message),
                            }
                        }
                        if answers.is_empty() {
                            // Notifications only: nothing comes back.
                        } else if ids.is_empty() {
                            let _ = lines
                                .send(line(&Value::Array(answers.into_iter().flatten().collect())))
                                .await;
                        } else {
                            batches
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .open(answers, ids);
                        }
                        forward.iter().map(line).collect()
                    }
                    Ok(message) => {
                        if message.get("method").and_then(Value::as_str) == Some("initialize") {
                            let revision = message.pointer("/params/protocolVersion").and_then(Value::as_str);
                            allow.store(revision == Some(BATCH_REVISION), Ordering::Release);
                        }
                        let mut bytes = text.as_bytes().to_vec();
                        bytes.push(b'\n');
                        vec![bytes]
                    }
                };
                for bytes in forward {
                    if to_server.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
            }
            // End of input: the server sees it and ends the session.
            let _ = to_server.shutdown().await;
        })
    };

    let running = server
        .serve((server_in, server_out))
        .await
        .map_err(|e| format!("the client's handshake failed: {e}"))?;
    let ended = running.waiting().await.map_err(|e| e.to_string());
    let _ = requests.await;
    let _ = answers.await;
    drop(lines_tx);
    let _ = writer.await;
    ended.map(|_| ())
}
