//! `nodehost-bench`: benchmarks 1, 2, 4 and 5 of BENCHMARKS.md, run side by side in one
//! process against an in-process sandbox, each printing a markdown table. Benchmark 3 is the
//! criterion bench `cargo bench -p nodehost-core --bench dispatch`.
//!
//! ```text
//! cargo build --release -p nodehost-cli -p nodehost-bench
//! target/release/nodehost-bench all          # or: overhead | startup | memory | concurrency
//! target/release/nodehost-bench instructions # benchmark 1 counted by callgrind (needs valgrind)
//! ```
//!
//! Not part of `cargo test`: wall-clock figures depend on the machine and its load.

mod benches;
mod harness;
mod lean_bench;
mod measure;
mod serve_bench;
mod stats;
mod workers_bench;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The allocator nodehost uses, so the raw client differs from it only in what it leaves out
// (and the in-process sandbox is as quick as the `nodehost sandbox` one).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Benchmarks of nodehost against a raw reqwest client on a local sandbox.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// The nodehost binary to measure [default: `nodehost` beside this executable].
    #[arg(long, global = true, value_name = "PATH")]
    nodehost: Option<PathBuf>,
    /// Run everything (sandbox and clients) on these CPUs only, e.g. `--cpus 0`: takes the
    /// scheduler's placement of client and sandbox threads, and the cost of waking an idle
    /// CPU, out of the figures.
    #[arg(long, global = true, value_delimiter = ',', value_name = "LIST")]
    cpus: Vec<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// 1. Host overhead: N Get-By-ID items, nodehost vs raw reqwest, wall-time ratio.
    Overhead(benches::OverheadArgs),
    /// 1b. Host overhead in instructions per item, counted by callgrind (needs valgrind).
    Instructions(benches::InstructionsArgs),
    /// 2. Start-up: one item, one request, whole process, median of many runs.
    Startup(benches::StartupArgs),
    /// 4. Streaming memory: peak RSS of --ndjson runs of two sizes.
    Memory(benches::MemoryArgs),
    /// 5. Concurrency pays: speed-up at high concurrency with 10 ms of sandbox latency.
    Concurrency(benches::ConcurrencyArgs),
    /// 7. `nodehost serve`: one-item runs over HTTP vs `nodehost run` per request; items vs raw.
    Serve(serve_bench::ServeArgs),
    /// 8. Workers on NATS JetStream: items/s through one and two workers vs the raw client.
    Workers(workers_bench::WorkersArgs),
    /// Lean (issue 18): peak RSS of short runs and commands and binary sizes, vs the raw floor.
    Lean(lean_bench::LeanArgs),
    /// Benchmarks 1, 2, 4 and 5 with their default settings, in that order.
    All,
    /// Runs a command and writes its peak RSS to a file (used by `memory`).
    #[command(hide = true)]
    RssProbe(measure::ProbeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::RssProbe(args) => {
            return measure::probe_main(args).unwrap_or_else(|e| {
                eprintln!("nodehost-bench rss-probe: {e:#}");
                ExitCode::FAILURE
            });
        }
        command => {
            if !cli.cpus.is_empty()
                && let Err(e) = measure::pin_to(&cli.cpus)
            {
                eprintln!("nodehost-bench: cannot pin to CPUs {:?}: {e}", cli.cpus);
                return ExitCode::FAILURE;
            }
            benchmark(cli.nodehost.clone(), command, &cli.cpus)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nodehost-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn benchmark(nodehost: Option<PathBuf>, command: &Command, cpus: &[usize]) -> anyhow::Result<()> {
    let h = harness::Harness::new(nodehost)?;
    println!("# nodehost benchmarks\n");
    println!("{}\n", machine());
    if !cpus.is_empty() {
        println!("pinned: sandbox and clients run on CPUs {cpus:?} only\n");
    }
    match command {
        Command::Overhead(a) => benches::overhead(&h, a),
        Command::Instructions(a) => benches::instructions(&h, a),
        Command::Startup(a) => benches::startup(&h, a),
        Command::Memory(a) => benches::memory(&h, a),
        Command::Concurrency(a) => benches::concurrency(&h, a),
        Command::Serve(a) => serve_bench::serve(&h, a),
        Command::Workers(a) => workers_bench::workers(&h, a),
        Command::Lean(a) => lean_bench::lean(&h, a),
        Command::All => {
            benches::overhead(&h, &defaults()?)?;
            benches::startup(&h, &defaults()?)?;
            benches::memory(&h, &defaults()?)?;
            benches::concurrency(&h, &defaults()?)?;
            println!(
                "Benchmark 3 (in-process validation + dispatch) is criterion: `cargo bench -p nodehost-core --bench dispatch`."
            );
            Ok(())
        }
        Command::RssProbe(_) => Ok(()),
    }
}

/// A benchmark's flags at their defaults, for `all`.
fn defaults<T: clap::Args + clap::FromArgMatches>() -> anyhow::Result<T> {
    let matches = T::augment_args(clap::Command::new("all")).try_get_matches_from(["all"])?;
    Ok(T::from_arg_matches(&matches)?)
}

/// One line on the machine: cores, CPU model, memory, kernel.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.1} GiB", kib as f64 / 1048576.0),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {cores} cores, {model}, {memory} RAM, Linux {}",
        kernel.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_defaults_parse() {
        let cli = Cli::try_parse_from(["nodehost-bench", "overhead", "--concurrency", "1,4,16"]);
        match cli.map(|c| c.command) {
            Ok(Command::Overhead(a)) => {
                assert_eq!((a.items, a.concurrency), (5_000, vec![1, 4, 16]));
            }
            other => panic!("unexpected: {other:?}"),
        }
        let memory: benches::MemoryArgs = defaults().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(memory.items, [10_000, 200_000]);
    }
}
