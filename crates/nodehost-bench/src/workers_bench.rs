//! Benchmark 8 (issue 16): items per second through `nodehost worker` processes on NATS
//! JetStream, one and two workers, against the raw client on the same items and sandbox.
//!
//! A round publishes `--jobs` jobs of `--items` Get-By-ID items each (job ids unique to the
//! round) and waits for every result on the results stream; the time is from the first publish
//! to the last result, so it includes queueing, journaling every item in the key-value bucket,
//! and publishing each result. Every result is checked: no error, `--items` outputs. The raw
//! client runs the same total number of items as one process at the same concurrency.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use futures::StreamExt as _;

use crate::harness::{API_KEY, Client, Format, Harness, load_average};
use crate::stats::Summary;

/// Flags of `workers` (benchmark 8).
#[derive(clap::Args, Debug, Clone)]
pub struct WorkersArgs {
    /// Jobs per round.
    #[arg(long, default_value_t = 20)]
    pub jobs: usize,
    /// Items per job.
    #[arg(long, default_value_t = 500)]
    pub items: usize,
    /// Items at once within a job (`worker --concurrency`), and the raw client's concurrency.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Jobs at once per worker (`worker --jobs`).
    #[arg(long, default_value_t = 2)]
    pub jobs_per_worker: usize,
    /// Measured rounds (after one warm-up).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

struct Nats {
    child: Child,
    url: String,
    _store: tempfile::TempDir,
}

fn start_nats() -> anyhow::Result<Nats> {
    use std::io::BufRead as _;
    let store = tempfile::tempdir()?;
    let mut child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start nats-server: install it with `apt-get install -y nats-server`")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = std::io::BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().context("nats-server exited before listening")??;
        if let Some(at) = line.find("Listening for client connections on ") {
            break format!("nats://{}", line[at + 36..].trim());
        }
    };
    // Keep reading its log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Nats {
        child,
        url,
        _store: store,
    })
}

fn start_workers(
    h: &Harness,
    nats: &str,
    base_url: &str,
    n: usize,
    args: &WorkersArgs,
) -> anyhow::Result<Vec<Child>> {
    use std::io::BufRead as _;
    let mut workers = Vec::new();
    for i in 0..n {
        let mut child = Command::new(h.nodehost())
            .args(["worker", "--nats", nats, "--name", &format!("bench-{i}")])
            .args(["--concurrency", &args.concurrency.to_string()])
            .args(["--jobs", &args.jobs_per_worker.to_string()])
            .env("GESTOR_CLIENTES_MAX_BASE_URL", base_url)
            .env("GESTOR_CLIENTES_MAX_API_KEY", API_KEY)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nodehost worker")?;
        let mut ready = String::new();
        std::io::BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut ready)?;
        ensure!(ready.contains("\"worker\""), "nodehost worker printed {ready:?}");
        workers.push(child);
    }
    Ok(workers)
}

/// Seconds from the first of `args.jobs` publishes to the last result, every result checked.
async fn round(js: &async_nats::jetstream::Context, tag: &str, args: &WorkersArgs) -> anyhow::Result<f64> {
    let items: Vec<serde_json::Value> = (0..args.items)
        .map(|i| serde_json::json!({"operation": "get", "clientId": i % 1000 + 1}))
        .collect();
    let results = js.get_stream("NODEHOST_JOBS_RESULTS").await?;
    let consumer = results
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            // Results published from now on; this round's are told apart by their job id.
            filter_subject: "nodehost.results.>".to_owned(),
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let started = Instant::now();
    for j in 0..args.jobs {
        let id = format!("{tag}-{j}");
        let job = serde_json::json!({"jobId": id, "node": "gestorClientesMaxCliente", "items": items});
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        js.publish_with_headers("nodehost.jobs", headers, serde_json::to_vec(&job)?.into())
            .await?
            .await?;
    }
    let mut seen = 0;
    while seen < args.jobs {
        let message = tokio::time::timeout(Duration::from_secs(120), messages.next())
            .await
            .context("no result within 2 minutes")?
            .context("results ended")??;
        let result: serde_json::Value = serde_json::from_slice(&message.payload)?;
        if !result["jobId"]
            .as_str()
            .is_some_and(|id| id.starts_with(&format!("{tag}-")))
        {
            continue;
        }
        seen += 1;
        ensure!(result.get("error").is_none(), "a job failed: {}", result["error"]);
        ensure!(
            result["items"].as_array().map(Vec::len) == Some(args.items),
            "a job answered {} items of {}",
            result["items"].as_array().map_or(0, Vec::len),
            args.items
        );
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Benchmark 8.
pub fn workers(h: &Harness, args: &WorkersArgs) -> anyhow::Result<()> {
    println!("## 8. Workers on NATS JetStream: items per second through one and two workers\n");
    println!("load average before: {}\n", load_average());
    let total = args.jobs * args.items;
    println!(
        "{} jobs of {} Get-By-ID items per round ({total} items), `worker --concurrency {} --jobs {}`; raw client: one process, {total} items at concurrency {}\n",
        args.jobs, args.items, args.concurrency, args.jobs_per_worker, args.concurrency
    );
    let sandbox = h.sandbox(Duration::ZERO)?;
    let input = h.input(total, Format::Document)?;
    let mut nats = start_nats()?;
    let result = (|| -> anyhow::Result<()> {
        let js = h.block_on(async {
            let client = async_nats::connect(&nats.url).await?;
            anyhow::Ok(async_nats::jetstream::new(client))
        })?;
        println!(
            "| workers | items/s, median (min-max) | seconds per round | raw client items/s | workers / raw |"
        );
        println!("|---|---|---|---|---|");
        for n in [1, 2] {
            let mut workers = start_workers(h, &nats.url, sandbox.base_url(), n, args)?;
            let measured = (|| -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
                h.block_on(round(&js, &format!("w{n}-warm"), args))?;
                h.run(
                    Client::Raw,
                    &sandbox,
                    &input,
                    Format::Document,
                    args.concurrency,
                    total,
                )?;
                let (mut through, mut raw) = (Vec::new(), Vec::new());
                for r in 0..args.runs {
                    through.push(h.block_on(round(&js, &format!("w{n}-r{r}"), args))?);
                    raw.push(
                        h.run(
                            Client::Raw,
                            &sandbox,
                            &input,
                            Format::Document,
                            args.concurrency,
                            total,
                        )?
                        .wall
                        .as_secs_f64(),
                    );
                }
                Ok((through, raw))
            })();
            for w in &mut workers {
                let _ = w.kill();
                let _ = w.wait();
            }
            let (through, raw) = measured?;
            let rate: Vec<f64> = through.iter().map(|s| total as f64 / s).collect();
            let raw_rate: Vec<f64> = raw.iter().map(|s| total as f64 / s).collect();
            let (t, s, w) = (
                Summary::of(&rate).context("no rounds")?,
                Summary::of(&through).context("no rounds")?,
                Summary::of(&raw_rate).context("no rounds")?,
            );
            println!(
                "| {n} | {:.0} ({:.0}-{:.0}) | {:.3} | {:.0} | {:.2} |",
                t.median,
                t.min,
                t.max,
                s.median,
                w.median,
                t.median / w.median
            );
        }
        Ok(())
    })();
    let _ = nats.child.kill();
    let _ = nats.child.wait();
    h.stop(sandbox);
    println!("\nload average after: {}\n", load_average());
    result
}
