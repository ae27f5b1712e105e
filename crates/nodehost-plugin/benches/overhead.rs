//! Benchmark 6 of BENCHMARKS.md: the per-item overhead of a plugin node against the same node
//! built in. The `cpfTools` node of `examples/plugins/rust` runs the same items twice through
//! the same host pipeline: once registered in-process, once through its plugin executable
//! (JSON-RPC over a pipe to another process). The overhead per item is the difference of the
//! wall times divided by the number of items; rounds alternate the two so load drifts evenly.
//!
//! ```text
//! cargo build --release -p cpf-tools-plugin
//! cargo bench -p nodehost-plugin --bench overhead [-- ITEMS ROUNDS]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodehost_core::{HostedNode, Plan, Registry, RunConfig, SessionOptions, UnknownFields, engine};
use nodehost_plugin::{Plugin, PluginCommand, PluginOptions};
use serde_json::{Map, Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn items(n: usize) -> Vec<Map<String, Value>> {
    (0..n)
        .map(
            |i| match json!({"operation": "validate", "cpf": format!("529.982.247-{:02}", i % 100)}) {
                Value::Object(m) => m,
                _ => unreachable!(),
            },
        )
        .collect()
}

/// `target/release/cpf-tools-plugin`, beside this bench's own `target/release/deps/..`.
fn plugin_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("cpf-tools-plugin");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --release -p cpf-tools-plugin` first",
        bin.display()
    );
    bin
}

async fn run(node: &Arc<HostedNode>, n: usize, concurrency: usize) -> Duration {
    let plan = Plan::new(Arc::clone(node), Map::new(), UnknownFields::Reject).unwrap();
    let work = plan.validate_all(items(n), false).unwrap();
    let session = node.open(None, &SessionOptions::new()).await.unwrap();
    let config = RunConfig {
        concurrency,
        ..RunConfig::default()
    };
    let mut out = Vec::with_capacity(n);
    let start = Instant::now();
    let report = engine::execute(
        Arc::clone(&session),
        futures::stream::iter(work),
        &config,
        &mut out,
    )
    .await;
    let elapsed = start.elapsed();
    assert_eq!(report.applied.count(), n);
    assert_eq!(out.len(), n);
    session.close().await;
    elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(20_000);
    let rounds = args.get(1).copied().unwrap_or(7);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut builtin = Registry::new();
        builtin.register(cpf_tools_plugin::CpfTools).unwrap();
        let builtin = builtin.get("cpfTools").unwrap();
        let (plugin, result) = Plugin::start(
            PluginCommand::new(plugin_bin(), Vec::<String>::new()),
            PluginOptions::default(),
        )
        .await
        .unwrap();
        let nodes = plugin.nodes(&result, true).unwrap();
        let hosted = Arc::new(nodes.into_iter().next().unwrap());
        println!("| concurrency | built in (µs/item) | plugin (µs/item) | overhead (µs/item) |");
        println!("|---|---|---|---|");
        for concurrency in [1, 16] {
            // Warm both (the plugin process is started by the first open).
            run(&builtin, 1000, concurrency).await;
            run(&hosted, 1000, concurrency).await;
            let (mut b, mut p) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                b.push(run(&builtin, n, concurrency).await.as_secs_f64() * 1e6 / n as f64);
                p.push(run(&hosted, n, concurrency).await.as_secs_f64() * 1e6 / n as f64);
            }
            let (b, p) = (median(b), median(p));
            println!("| {concurrency} | {b:.2} | {p:.2} | {:.2} |", p - b);
        }
        plugin.shutdown().await;
    });
}
