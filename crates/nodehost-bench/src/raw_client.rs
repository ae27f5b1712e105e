//! The baseline: the least a program can do to turn the same Get-By-ID items into the same
//! requests and write the answers out, with the same HTTP stack as nodehost (reqwest, one
//! pooled keep-alive client, TCP_NODELAY, the same timeouts, and byte for byte the same
//! requests: method, path and headers, `User-Agent` included) and the same
//! concurrency, keeping output in input order.
//!
//! What it leaves out is exactly what nodehost adds: the node registry, parameter resolution
//! and JSON Schema validation, the engine's scheduling and per-record locks, retries, checking
//! the answer (bodies are copied verbatim, unchecked) and error reporting. It reads the same input
//! (a JSON array, or one item per line with `--ndjson`) and the same credential variables.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::{Stream, StreamExt as _};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde_json::Value;
use tokio::io::AsyncBufReadExt as _;

/// Same values as nodehost's defaults, so neither side pays for a setting the other skips.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Flags of `nodehost-raw-client`.
#[derive(clap::Args, Debug, Clone)]
pub struct RawArgs {
    /// Requests in flight at once.
    #[arg(short = 'j', long, default_value_t = 8)]
    pub concurrency: usize,
    /// Read one item per line and write one answer per line.
    #[arg(long)]
    pub ndjson: bool,
}

/// Runs the raw client on stdin/stdout: the main of `nodehost-raw-client`.
pub fn main(args: &RawArgs) -> anyhow::Result<()> {
    // The same runtime as nodehost, driven the same way: the work runs on a worker thread.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let args = args.clone();
    let result = runtime.block_on(async move { tokio::spawn(async move { run(&args).await }).await? });
    runtime.shutdown_background();
    result
}

async fn run(args: &RawArgs) -> anyhow::Result<()> {
    let base =
        std::env::var("GESTOR_CLIENTES_MAX_BASE_URL").context("GESTOR_CLIENTES_MAX_BASE_URL is not set")?;
    let key =
        std::env::var("GESTOR_CLIENTES_MAX_API_KEY").context("GESTOR_CLIENTES_MAX_API_KEY is not set")?;
    let base = base.trim_end_matches('/').to_owned();
    let mut auth = HeaderValue::from_str(&format!("Bearer {key}"))?;
    auth.set_sensitive(true);
    // Accept as a default header and Authorization per request, as nodehost sends them, so
    // the header lines come in the same order too.
    let mut default_headers = reqwest::header::HeaderMap::new();
    default_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .tcp_nodelay(true)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(nodehost_http::USER_AGENT)
        .default_headers(default_headers)
        .build()?;
    let fetch = |id: u64| {
        let request = client
            .get(format!("{base}/clients/{id}"))
            .header(AUTHORIZATION, auth.clone());
        async move {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            if !status.is_success() {
                bail!("client {id}: HTTP {status}");
            }
            Ok(body)
        }
    };
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    if args.ndjson {
        let answers = lines()
            .map(|id| async move { fetch(id?).await })
            .buffered(args.concurrency.max(1));
        let mut answers = std::pin::pin!(answers);
        let mut index = 0usize;
        while let Some(body) = answers.next().await {
            write_item(&mut out, &body?, index)?;
            out.write_all(b"\n")?;
            // Streamed, as nodehost --ndjson does: a reader sees each answer at once.
            out.flush()?;
            index += 1;
        }
    } else {
        let mut input = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut input).await?;
        let items: Vec<Value> = serde_json::from_slice(&input).context("input is not a JSON array")?;
        let ids = items.iter().map(client_id).collect::<anyhow::Result<Vec<_>>>()?;
        let answers = futures::stream::iter(ids)
            .map(fetch)
            .buffered(args.concurrency.max(1));
        let mut answers = std::pin::pin!(answers);
        out.write_all(b"{\"items\":[")?;
        let mut index = 0usize;
        while let Some(body) = answers.next().await {
            if index > 0 {
                out.write_all(b",")?;
            }
            write_item(&mut out, &body?, index)?;
            index += 1;
        }
        out.write_all(b"]}\n")?;
    }
    out.flush()?;
    Ok(())
}

/// `{"json":<answer>,"pairedItem":{"item":N}}`, the answer copied verbatim.
fn write_item(out: &mut impl std::io::Write, body: &[u8], index: usize) -> std::io::Result<()> {
    out.write_all(b"{\"json\":")?;
    out.write_all(body)?;
    write!(out, ",\"pairedItem\":{{\"item\":{index}}}}}")
}

/// The ids of stdin's lines, one JSON item per line, read as they are needed.
fn lines() -> impl Stream<Item = anyhow::Result<u64>> {
    let reader = tokio::io::BufReader::with_capacity(256 * 1024, tokio::io::stdin()).lines();
    futures::stream::unfold(reader, |mut reader| async move {
        loop {
            match reader.next_line().await {
                Ok(None) => return None,
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => {
                    let id = serde_json::from_str::<Value>(&line)
                        .map_err(anyhow::Error::from)
                        .and_then(|v| client_id(&v));
                    return Some((id, reader));
                }
                Err(e) => return Some((Err(e.into()), reader)),
            }
        }
    })
}

fn client_id(item: &Value) -> anyhow::Result<u64> {
    let item = item.get("json").unwrap_or(item);
    match item.get("clientId") {
        Some(Value::Number(n)) => n.as_u64().context("clientId is not a positive integer"),
        Some(Value::String(s)) => s.parse().context("clientId is not a positive integer"),
        _ => bail!("item has no clientId: {item}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_id_of_plain_and_n8n_shaped_items() {
        let ids: Vec<_> = [
            serde_json::json!({"operation": "get", "clientId": 7}),
            serde_json::json!({"json": {"operation": "get", "clientId": "8"}}),
        ]
        .iter()
        .map(|v| client_id(v).ok())
        .collect();
        assert_eq!(ids, [Some(7), Some(8)]);
        assert!(client_id(&serde_json::json!({"operation": "getAll"})).is_err());
    }
}
