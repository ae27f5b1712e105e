//! Benchmarks 1, 2, 4 and 5 of BENCHMARKS.md, each printing a markdown table with its target
//! and whether the measured median meets it. Runs of the two clients alternate, so a burst of
//! load from elsewhere on the machine hits both rather than one.

use std::time::Duration;

use crate::harness::{Client, Format, Harness, load_average};
use crate::measure::Measured;
use crate::stats::Summary;

/// Flags of `overhead` (benchmark 1).
#[derive(clap::Args, Debug, Clone)]
pub struct OverheadArgs {
    /// Get-By-ID items per run.
    #[arg(long, default_value_t = 5_000)]
    pub items: usize,
    /// Measured rounds per concurrency, each running both clients (after one warm-up run each).
    #[arg(long, default_value_t = 21)]
    pub runs: usize,
    /// Concurrencies to compare at.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub concurrency: Vec<usize>,
}

/// Flags of `instructions` (benchmark 1 counted in instructions).
#[derive(clap::Args, Debug, Clone)]
pub struct InstructionsArgs {
    /// Get-By-ID items of the shorter run; the longer one has twice as many.
    #[arg(long, default_value_t = 2_000)]
    pub items: usize,
    /// Concurrencies to compare at.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub concurrency: Vec<usize>,
}

/// Flags of `startup` (benchmark 2).
#[derive(clap::Args, Debug, Clone)]
pub struct StartupArgs {
    /// Measured runs per client (after three warm-up runs each).
    #[arg(long, default_value_t = 50)]
    pub runs: usize,
}

/// Flags of `memory` (benchmark 4).
#[derive(clap::Args, Debug, Clone)]
pub struct MemoryArgs {
    /// Item counts to compare; the ratio is the last over the first.
    #[arg(long, value_delimiter = ',', default_value = "10000,200000")]
    pub items: Vec<usize>,
    /// Measured runs per client and size.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Concurrency of every run.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

/// Flags of `concurrency` (benchmark 5).
#[derive(clap::Args, Debug, Clone)]
pub struct ConcurrencyArgs {
    /// Get-By-ID items per run.
    #[arg(long, default_value_t = 1_000)]
    pub items: usize,
    /// Latency the sandbox adds to every answer, in milliseconds.
    #[arg(long, default_value_t = 10)]
    pub latency_ms: u64,
    /// The concurrency compared with 1.
    #[arg(long, default_value_t = 32)]
    pub high: usize,
    /// Measured runs per concurrency.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub(crate) fn summary(samples: impl Iterator<Item = f64>) -> anyhow::Result<Summary> {
    let samples: Vec<f64> = samples.collect();
    Summary::of(&samples).ok_or_else(|| anyhow::anyhow!("no measurement"))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// Benchmark 1: nodehost's wall time over the raw client's on the same N items.
pub fn overhead(h: &Harness, args: &OverheadArgs) -> anyhow::Result<()> {
    println!(
        "## 1. Host overhead: {} Get-By-ID items, nodehost vs raw reqwest\n",
        args.items
    );
    println!("load average before: {}\n", load_average());
    let sandbox = h.sandbox(Duration::ZERO)?;
    let input = h.input(args.items, Format::Document)?;
    let mut ratios = Vec::new();
    println!(
        "| concurrency | client | wall median (s) | min-max (s) | items/s | client CPU (s) | sandbox CPU (s) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &c in &args.concurrency {
        let mut runs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
        let clients = [Client::Nodehost, Client::Raw];
        for client in clients {
            h.run(client, &sandbox, &input, Format::Document, c, args.items)?;
        }
        for r in 0..args.runs {
            // Alternate who goes first, so neither always follows the other's cache state.
            let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                runs[i].push(h.run(clients[i], &sandbox, &input, Format::Document, c, args.items)?);
            }
        }
        let mut medians = [0.0; 2];
        for (i, client) in clients.iter().enumerate() {
            let wall = summary(runs[i].iter().map(|m| secs(m.wall)))?;
            let cpu = summary(runs[i].iter().map(|m| secs(m.child_cpu)))?;
            let sandbox_cpu = summary(runs[i].iter().map(|m| secs(m.self_cpu)))?;
            medians[i] = wall.median;
            println!(
                "| {c} | {client} | {:.3} | {:.3}-{:.3} | {:.0} | {:.3} | {:.3} |",
                wall.median,
                wall.min,
                wall.max,
                args.items as f64 / wall.median,
                cpu.median,
                sandbox_cpu.median
            );
        }
        // Each round ran both clients back to back, so a round's ratio sees the same load on
        // both: the median of those is steadier than the ratio of two medians when the
        // machine's speed drifts between rounds.
        let paired = summary(
            runs[0]
                .iter()
                .zip(&runs[1])
                .map(|(n, r)| secs(n.wall) / secs(r.wall)),
        )?;
        ratios.push((c, medians[0] / medians[1], paired));
    }
    println!(
        "\n| concurrency | nodehost / raw (ratio of wall medians) | median of per-round ratios \
         (quartiles) | 95% interval of that median | target | verdict |"
    );
    println!("|---|---|---|---|---|---|");
    for (c, ratio, paired) in ratios {
        let (low, high) = paired.median_ci;
        // Judged on the interval, not the point: with this much run-to-run noise a median on
        // either side of the target alone says little.
        let judged = if high <= 1.10 {
            "met"
        } else if low > 1.10 {
            "**missed**"
        } else if paired.median <= 1.10 {
            "met by the median; the interval spans the target"
        } else {
            "**missed by the median**; the interval spans the target"
        };
        println!(
            "| {c} | {ratio:.3} | {:.3} ({:.3}-{:.3}) | {low:.3}-{high:.3} | <= 1.10 | {judged} |",
            paired.median, paired.q1, paired.q3,
        );
    }
    println!("\nload average after: {}\n", load_average());
    h.stop(sandbox);
    Ok(())
}

/// Benchmark 1 in instructions: what each client executes per Get-By-ID item, counted by
/// callgrind over runs of N and 2N items (the difference over N, so start-up and exit cancel
/// out). Wall time on a shared or virtual machine swings with where the scheduler puts the
/// threads; an instruction count does not, so this tells nodehost's own work apart from that.
pub fn instructions(h: &Harness, args: &InstructionsArgs) -> anyhow::Result<()> {
    let n = args.items.max(1);
    println!(
        "## 1b. Host overhead in instructions: per Get-By-ID item, from runs of {n} and {} items under callgrind\n",
        2 * n
    );
    let sandbox = h.sandbox(Duration::ZERO)?;
    let short = h.input(n, Format::Document)?;
    let long = h.input(2 * n, Format::Document)?;
    let clients = [Client::Nodehost, Client::Raw];
    println!(
        "| concurrency | client | instructions per item | instructions outside the items (start-up, exit) |"
    );
    println!("|---|---|---|---|");
    let mut ratios = Vec::new();
    for &c in &args.concurrency {
        let mut per_item = [0.0; 2];
        for (i, &client) in clients.iter().enumerate() {
            let few = h.instructions(client, &sandbox, &short, c, n)?;
            let many = h.instructions(client, &sandbox, &long, c, 2 * n)?;
            per_item[i] = many.saturating_sub(few) as f64 / n as f64;
            let fixed = few as f64 - per_item[i] * n as f64;
            println!("| {c} | {client} | {:.0} | {:.1} M |", per_item[i], fixed / 1e6);
        }
        ratios.push((c, per_item[0] / per_item[1]));
    }
    println!("\n| concurrency | nodehost / raw, instructions per item | target (of the wall-time ratio) |");
    println!("|---|---|---|");
    for (c, ratio) in ratios {
        println!("| {c} | {ratio:.3} | <= 1.10 |");
    }
    println!();
    h.stop(sandbox);
    Ok(())
}

/// Benchmark 2: one item, one request, whole process.
pub fn startup(h: &Harness, args: &StartupArgs) -> anyhow::Result<()> {
    println!(
        "## 2. Start-up: one Get-By-ID item, whole process, {} runs each\n",
        args.runs
    );
    println!("load average before: {}\n", load_average());
    let sandbox = h.sandbox(Duration::ZERO)?;
    let input = h.input(1, Format::Document)?;
    let clients = [Client::Nodehost, Client::Raw];
    let mut runs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..3 {
        for client in clients {
            h.run(client, &sandbox, &input, Format::Document, 1, 1)?;
        }
    }
    for r in 0..args.runs {
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            runs[i].push(h.run(clients[i], &sandbox, &input, Format::Document, 1, 1)?);
        }
    }
    println!("| client | wall median (ms) | min-max (ms) | client CPU median (ms) |");
    println!("|---|---|---|---|");
    let mut medians = [0.0; 2];
    for (i, client) in clients.iter().enumerate() {
        let wall = summary(runs[i].iter().map(|m| secs(m.wall) * 1e3))?;
        let cpu = summary(runs[i].iter().map(|m| secs(m.child_cpu) * 1e3))?;
        medians[i] = wall.median;
        println!(
            "| {client} | {:.2} | {:.2}-{:.2} | {:.2} |",
            wall.median, wall.min, wall.max, cpu.median
        );
    }
    let added = medians[0] - medians[1];
    println!("\n| nodehost adds (difference of medians) | target | verdict |");
    println!("|---|---|---|");
    println!("| {added:.2} ms | < 5 ms (issue 6) | {} |", verdict(added < 5.0));
    println!("| | < 2 ms (issue 18) | {} |", verdict(added < 2.0));
    println!("\nload average after: {}\n", load_average());
    h.stop(sandbox);
    Ok(())
}

/// Benchmark 4: peak RSS of `--ndjson` runs must not grow with the number of items.
pub fn memory(h: &Harness, args: &MemoryArgs) -> anyhow::Result<()> {
    println!(
        "## 4. Streaming memory: --ndjson, Get-By-ID at concurrency {}, real requests to the sandbox\n",
        args.concurrency
    );
    println!("load average before: {}\n", load_average());
    let sandbox = h.sandbox(Duration::ZERO)?;
    let clients = [Client::Nodehost, Client::Raw];
    println!("| items | client | peak RSS median (MiB) | min-max (MiB) | wall median (s) |");
    println!("|---|---|---|---|---|");
    let mut peaks: Vec<[f64; 2]> = Vec::new();
    for &n in &args.items {
        let input = h.input(n, Format::Lines)?;
        let mut runs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
        for r in 0..args.runs {
            let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                runs[i].push(h.run(clients[i], &sandbox, &input, Format::Lines, args.concurrency, n)?);
            }
        }
        let mut row = [0.0; 2];
        for (i, client) in clients.iter().enumerate() {
            let rss = summary(runs[i].iter().map(|m| m.max_rss_kib as f64 / 1024.0))?;
            let wall = summary(runs[i].iter().map(|m| secs(m.wall)))?;
            row[i] = rss.median;
            println!(
                "| {n} | {client} | {:.2} | {:.2}-{:.2} | {:.2} |",
                rss.median, rss.min, rss.max, wall.median
            );
        }
        peaks.push(row);
    }
    if let (Some(first), Some(last), Some(&n0), Some(&n1)) =
        (peaks.first(), peaks.last(), args.items.first(), args.items.last())
    {
        println!("\n| client | peak RSS at {n1} / at {n0} | target | verdict |");
        println!("|---|---|---|---|");
        let ratio = last[0] / first[0];
        println!("| nodehost | {ratio:.3} | <= 1.2 | {} |", verdict(ratio <= 1.2));
        println!("| raw reqwest (reference) | {:.3} | | |", last[1] / first[1]);
    }
    println!("\nload average after: {}\n", load_average());
    h.stop(sandbox);
    Ok(())
}

/// Benchmark 5: with 10 ms of added latency, concurrency must pay.
pub fn concurrency(h: &Harness, args: &ConcurrencyArgs) -> anyhow::Result<()> {
    println!(
        "## 5. Concurrency pays: {} Get-By-ID items, sandbox latency {} ms, nodehost\n",
        args.items, args.latency_ms
    );
    println!("load average before: {}\n", load_average());
    let sandbox = h.sandbox(Duration::from_millis(args.latency_ms))?;
    let input = h.input(args.items, Format::Document)?;
    let levels = [1, args.high];
    let mut runs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
    for r in 0..args.runs {
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            runs[i].push(h.run(
                Client::Nodehost,
                &sandbox,
                &input,
                Format::Document,
                levels[i],
                args.items,
            )?);
        }
    }
    println!("| concurrency | wall median (s) | min-max (s) | items/s |");
    println!("|---|---|---|---|");
    let mut medians = [0.0; 2];
    for (i, c) in levels.iter().enumerate() {
        let wall = summary(runs[i].iter().map(|m| secs(m.wall)))?;
        medians[i] = wall.median;
        println!(
            "| {c} | {:.3} | {:.3}-{:.3} | {:.0} |",
            wall.median,
            wall.min,
            wall.max,
            args.items as f64 / wall.median
        );
    }
    let speedup = medians[0] / medians[1];
    println!(
        "\n| speed-up, concurrency {} over 1 | target | verdict |",
        args.high
    );
    println!("|---|---|---|");
    println!("| {speedup:.1}x | >= 20x | {} |", verdict(speedup >= 20.0));
    println!("\nload average after: {}\n", load_average());
    h.stop(sandbox);
    Ok(())
}
