//! How many `GET /api/clients/{id}` a sandbox answers per second: starts one on a temporary
//! database file (or in memory), seeds it, then keeps CONCURRENCY keep-alive connections busy
//! for SECONDS and prints requests per second and latency percentiles.
//!
//! ```text
//! cargo run --release -p gestor-sandbox --example get_by_id_throughput -- [CONCURRENCY] [SECONDS] [memory]
//! ```
//!
//! The load generator shares the machine with the sandbox, so the figure is a floor.

use std::time::{Duration, Instant};

use gestor_sandbox::{DbLocation, SandboxConfig};

/// Seeded clients the requests cycle through.
const CLIENTS: u32 = 1000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let concurrency: usize = args.next().map_or(Ok(32), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let memory = args.next().is_some_and(|a| a == "memory");
    // Bounded by design: a short run against loopback only.
    let seconds = seconds.min(60);

    let dir = tempfile::tempdir()?;
    let config = SandboxConfig {
        listen: "127.0.0.1:0".parse()?,
        db: if memory {
            DbLocation::Memory
        } else {
            DbLocation::File(dir.path().join("bench.db"))
        },
        seed: CLIENTS,
        ..SandboxConfig::default()
    };
    let sandbox = gestor_sandbox::start(config).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let base = sandbox.base_url();
    let key = sandbox.api_key().to_owned();
    let deadline = Instant::now() + Duration::from_secs(seconds);

    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (http, base, key) = (http.clone(), base.clone(), key.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut i = w as u64;
                while Instant::now() < deadline {
                    let id = 1 + i % u64::from(CLIENTS);
                    i += concurrency as u64;
                    let started = Instant::now();
                    let ok = match http
                        .get(format!("{base}/clients/{id}"))
                        .bearer_auth(&key)
                        .send()
                        .await
                    {
                        Ok(res) => res.status() == 200 && res.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        latencies.push(started.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();

    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{} db, {concurrency} connections, {seconds} s: {:.0} req/s, {errors} errors, p50 {:?}, p99 {:?}",
        if memory { "memory" } else { "file" },
        latencies.len() as f64 / seconds as f64,
        pct(0.50),
        pct(0.99),
    );
    sandbox.shutdown().await?;
    Ok(())
}
