//! Benchmark 7 (issue 14): `nodehost serve` against `nodehost run` and the raw client.
//!
//! - **Throughput**: `POST /v1/nodes/gestorClientesMaxCliente/run` with one Get-By-ID item,
//!   from 1 and 64 concurrent clients (one pooled keep-alive reqwest client in this process),
//!   against the same one-item request as a whole `nodehost run` process per request, 1 and 64
//!   processes at a time. Every answer is checked (status 200, the asked-for client back).
//! - **Cost of a served item**: one `POST` of N items at `?concurrency=1` and `16`, from the
//!   request's first byte to the answer's last, against the raw client (`nodehost-raw-client`, a whole
//!   process) on the same N items; per item, and as a ratio.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use futures::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

use crate::harness::{Client, Format, Harness, SEEDED, Sandbox, load_average};
use crate::stats::Summary;

/// Flags of `serve` (benchmark 7).
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// One-item requests per served throughput measurement.
    #[arg(long, default_value_t = 4_000)]
    pub requests: usize,
    /// One-item `nodehost run` processes per measurement.
    #[arg(long, default_value_t = 256)]
    pub processes: usize,
    /// Concurrent clients (and processes) to compare at.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub clients: Vec<usize>,
    /// Items of the one large request compared with the raw client.
    #[arg(long, default_value_t = 5_000)]
    pub items: usize,
    /// Measured rounds of everything (after one warm-up).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

fn median(samples: &[f64]) -> anyhow::Result<Summary> {
    Summary::of(samples).context("no measurement")
}

fn one_item(i: usize) -> (u64, String) {
    let id = (i % SEEDED as usize + 1) as u64;
    (id, format!("{{\"operation\":\"get\",\"clientId\":{id}}}"))
}

/// Requests per second of `requests` one-item runs over `clients` concurrent clients.
async fn served_throughput(
    http: &reqwest::Client,
    url: &str,
    requests: usize,
    clients: usize,
) -> anyhow::Result<f64> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..clients).map(|_| {
        let next = Arc::clone(&next);
        let http = http.clone();
        let url = url.to_owned();
        async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= requests {
                    return Ok::<(), anyhow::Error>(());
                }
                let (id, body) = one_item(i);
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                ensure!(
                    response.status() == 200,
                    "served run answered {}",
                    response.status()
                );
                let doc: serde_json::Value = response.json().await?;
                ensure!(doc["items"][0]["json"]["id"] == id, "wrong answer: {doc}");
            }
        }
    });
    futures::future::try_join_all(workers).await?;
    Ok(requests as f64 / started.elapsed().as_secs_f64())
}

/// Requests per second of `requests` one-item `nodehost run` processes, `clients` at a time.
async fn process_throughput(
    h: &Harness,
    sandbox: &Sandbox,
    requests: usize,
    clients: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut runs = futures::stream::iter(0..requests)
        .map(|i| {
            let mut cmd = h.run_one(sandbox);
            async move {
                let (id, body) = one_item(i);
                let mut child = cmd.spawn().context("cannot start nodehost run")?;
                let mut stdin = child.stdin.take().context("no stdin")?;
                stdin.write_all(body.as_bytes()).await?;
                drop(stdin);
                let out = child.wait_with_output().await?;
                ensure!(out.status.success(), "nodehost run exited {}", out.status);
                let doc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
                ensure!(doc["items"][0]["json"]["id"] == id, "wrong answer: {doc}");
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(clients);
    while let Some(done) = runs.next().await {
        done?;
    }
    Ok(requests as f64 / started.elapsed().as_secs_f64())
}

/// Seconds for one POST of the items in `input` at `concurrency`, checked.
async fn served_batch(
    http: &reqwest::Client,
    url: &str,
    body: &[u8],
    items: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let response = http
        .post(format!("{url}?concurrency={concurrency}"))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "served run answered {}",
        response.status()
    );
    let doc: serde_json::Value = response.json().await?;
    let took = started.elapsed().as_secs_f64();
    ensure!(
        doc["items"].as_array().map(Vec::len) == Some(items),
        "the served run answered {} items of {items}",
        doc["items"].as_array().map_or(0, Vec::len)
    );
    Ok(took)
}

/// Benchmark 7.
pub fn serve(h: &Harness, args: &ServeArgs) -> anyhow::Result<()> {
    println!("## 7. `nodehost serve`: one-item runs over HTTP, and a served item against the raw client\n");
    println!("load average before: {}\n", load_average());
    let sandbox = h.sandbox(Duration::ZERO)?;
    let (mut server, base) = h.serve(&sandbox)?;
    let url = format!("{base}/v1/nodes/gestorClientesMaxCliente/run");
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .build()?;
    let input = h.input(args.items, Format::Document)?;
    let batch = std::fs::read(&input)?;
    let result = (|| -> anyhow::Result<()> {
        // Warm-up: connections, the server's shared session, page cache.
        h.block_on(served_throughput(&http, &url, 200, 8))?;
        h.block_on(process_throughput(h, &sandbox, 8, 2))?;

        println!(
            "| concurrency | one `POST` of {} items (s) | `nodehost run` process (s) | raw client process (s) | per item: served / run / raw (µs) | served / raw, run / raw (per-round medians) |",
            args.items
        );
        println!("|---|---|---|---|---|---|");
        for c in [1, 16] {
            h.block_on(served_batch(&http, &url, &batch, args.items, c))?;
            for client in [Client::Nodehost, Client::Raw] {
                h.run(client, &sandbox, &input, Format::Document, c, args.items)?;
            }
            let (mut served, mut run, mut raw) = (Vec::new(), Vec::new(), Vec::new());
            let (mut served_ratio, mut run_ratio) = (Vec::new(), Vec::new());
            for r in 0..args.runs {
                // Rotate who goes first, so none always follows another's cache state.
                let mut times = [0.0; 3];
                for k in 0..3 {
                    let which = (k + r) % 3;
                    times[which] = match which {
                        0 => h.block_on(served_batch(&http, &url, &batch, args.items, c))?,
                        1 => h
                            .run(
                                Client::Nodehost,
                                &sandbox,
                                &input,
                                Format::Document,
                                c,
                                args.items,
                            )?
                            .wall
                            .as_secs_f64(),
                        _ => h
                            .run(Client::Raw, &sandbox, &input, Format::Document, c, args.items)?
                            .wall
                            .as_secs_f64(),
                    };
                }
                served.push(times[0]);
                run.push(times[1]);
                raw.push(times[2]);
                served_ratio.push(times[0] / times[2]);
                run_ratio.push(times[1] / times[2]);
            }
            let (s, n, w) = (median(&served)?, median(&run)?, median(&raw)?);
            let (sr, nr) = (median(&served_ratio)?, median(&run_ratio)?);
            let per = |x: f64| x / args.items as f64 * 1e6;
            println!(
                "| {c} | {:.3} | {:.3} | {:.3} | {:.1} / {:.1} / {:.1} | {:.3}, {:.3} |",
                s.median,
                n.median,
                w.median,
                per(s.median),
                per(n.median),
                per(w.median),
                sr.median,
                nr.median
            );
        }
        // After the batches: 64 processes at a time leave the machine busy for a while.
        println!(
            "\n| clients | `POST /run`, one item (requests/s) | `nodehost run` per request (requests/s) | served / process |"
        );
        println!("|---|---|---|---|");
        for &c in &args.clients {
            let mut served = Vec::new();
            let mut process = Vec::new();
            for _ in 0..args.runs {
                served.push(h.block_on(served_throughput(&http, &url, args.requests, c))?);
                process.push(h.block_on(process_throughput(h, &sandbox, args.processes, c))?);
            }
            let (s, p) = (median(&served)?, median(&process)?);
            println!(
                "| {c} | {:.0} ({:.0}-{:.0}) | {:.0} ({:.0}-{:.0}) | {:.1}x |",
                s.median,
                s.min,
                s.max,
                p.median,
                p.min,
                p.max,
                s.median / p.median
            );
        }

        Ok(())
    })();
    let _ = server.kill();
    let _ = server.wait();
    h.stop(sandbox);
    println!("\nload average after: {}\n", load_average());
    result
}
