//! Benchmark 3 of BENCHMARKS.md: items per second through parameter resolution, schema
//! validation and dispatch, with a node that does no I/O.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use nodehost_core::{FnSink, Plan, Registry, RunConfig, SessionOptions, UnknownFields, engine};
use serde_json::{Map, Value, json};

// The allocator the nodehost binary ships with, so items/s here are those of the binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn items(n: usize) -> Vec<Map<String, Value>> {
    (0..n)
        .map(|i| match json!({"operation": "get", "key": (i % 1000) + 1}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut registry = Registry::new();
    registry.register(support::MemoNode::default()).unwrap();
    let plan = Plan::new(registry.get("memo").unwrap(), Map::new(), UnknownFields::Reject).unwrap();
    const N: usize = 10_000;

    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("resolve+validate", |b| {
        b.iter_batched(
            || items(N),
            |items| {
                for (i, item) in items.into_iter().enumerate() {
                    let (_, p) = plan.prepare(i, item);
                    std::hint::black_box(p.is_ok());
                }
            },
            BatchSize::LargeInput,
        );
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Prefill so every get finds its key.
    let memo = support::MemoNode::default();
    for k in 1..=1000u64 {
        memo.0.store.lock().unwrap().insert(k, "v".into());
    }
    let mut registry = Registry::new();
    registry.register(memo).unwrap();
    let node = registry.get("memo").unwrap();
    let session = rt.block_on(node.open(None, &SessionOptions::default())).unwrap();
    let plan = Plan::new(node, Map::new(), UnknownFields::Reject).unwrap();
    for concurrency in [1usize, 16] {
        let name = format!("resolve+validate+execute (1 core, concurrency {concurrency})");
        group.bench_function(name, |b| {
            b.iter_batched(
                || items(N),
                |items| {
                    let prepared = items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| plan.prepare(i, item));
                    let config = RunConfig {
                        concurrency,
                        ..RunConfig::default()
                    };
                    let mut count = 0usize;
                    let mut sink = FnSink(|_| {
                        count += 1;
                        Ok(())
                    });
                    rt.block_on(engine::execute(
                        session.clone(),
                        futures::stream::iter(prepared),
                        &config,
                        &mut sink,
                    ));
                    assert_eq!(count, N);
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
