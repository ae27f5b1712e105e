//! Lean (issue 18): what a short nodehost process costs next to the floor, the small
//! `nodehost-raw-client` doing the same requests. Peak RSS of one-item and 1,000-item runs and of
//! the commands that make no request (`list`, `describe`, `schema`, `--version`), with GNU
//! time's `%M` as the issue measures it; where a run's resident memory goes (`smaps_rollup`
//! sampled while its request waits on a slow sandbox); and the size of both binaries.

use std::path::Path;
use std::time::Duration;

use crate::benches::summary;
use crate::harness::{Client, Format, Harness, load_average};

/// Flags of `lean`.
#[derive(clap::Args, Debug, Clone)]
pub struct LeanArgs {
    /// Measured runs of every row (after one warm-up each).
    #[arg(long, default_value_t = 11)]
    pub runs: usize,
}

const MIB: f64 = 1024.0;

/// Runs the benchmark and prints its tables.
pub fn lean(h: &Harness, args: &LeanArgs) -> anyhow::Result<()> {
    println!(
        "## Lean: peak RSS (GNU time %M) and size, nodehost against the raw floor, {} runs each\n",
        args.runs
    );
    println!("load average before: {}\n", load_average());
    let sandbox = h.sandbox(Duration::ZERO)?;
    println!(
        "| run | nodehost MiB, median (min-max) | raw client MiB | nodehost / raw | target | nodehost wall (ms) | raw wall (ms) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let rows: [(&str, usize, usize, Option<f64>); 3] = [
        ("1 item", 1, 1, Some(1.3)),
        ("1,000 items, -j 1", 1_000, 1, Some(1.5)),
        ("1,000 items, -j 16", 1_000, 16, None),
    ];
    for (label, items, concurrency, target) in rows {
        let input = h.input(items, Format::Document)?;
        let clients = [Client::Nodehost, Client::Raw];
        let mut runs: [Vec<crate::measure::Measured>; 2] = [Vec::new(), Vec::new()];
        for client in clients {
            h.run_timed(client, &sandbox, &input, Format::Document, concurrency, items)?;
        }
        for r in 0..args.runs {
            let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                runs[i].push(h.run_timed(
                    clients[i],
                    &sandbox,
                    &input,
                    Format::Document,
                    concurrency,
                    items,
                )?);
            }
        }
        let rss = |i: usize| summary(runs[i].iter().map(|m| m.max_rss_kib as f64 / MIB));
        let wall = |i: usize| summary(runs[i].iter().map(|m| m.wall.as_secs_f64() * 1e3));
        let (n, raw) = (rss(0)?, rss(1)?);
        let ratio = n.median / raw.median;
        let target = match target {
            Some(t) => format!("<= {t} ({})", if ratio <= t { "met" } else { "missed" }),
            None => String::new(),
        };
        println!(
            "| {label} | {:.2} ({:.2}-{:.2}) | {:.2} | {ratio:.2} | {target} | {:.2} | {:.2} |",
            n.median,
            n.min,
            n.max,
            raw.median,
            wall(0)?.median,
            wall(1)?.median
        );
    }

    println!("\n| command (no request) | peak RSS MiB, median (min-max) | printed (KiB) |");
    println!("|---|---|---|");
    for args_of in [
        &["--version"][..],
        &["list"],
        &["describe", "gestorClientesMaxCliente"],
        &["schema", "gestorClientesMaxCliente"],
    ] {
        h.nodehost_timed(args_of)?;
        let mut samples = Vec::new();
        let mut printed = 0;
        for _ in 0..args.runs {
            let (m, bytes) = h.nodehost_timed(args_of)?;
            samples.push(m.max_rss_kib as f64 / MIB);
            printed = bytes;
        }
        let s = summary(samples.into_iter())?;
        println!(
            "| `nodehost {}` | {:.2} ({:.2}-{:.2}) | {:.1} |",
            args_of.join(" "),
            s.median,
            s.min,
            s.max,
            printed as f64 / 1024.0
        );
    }
    h.stop(sandbox);

    println!(
        "\nWhere a one-item run's resident memory is while its request waits (a sandbox adding 1 s; `/proc/PID/smaps_rollup` and `smaps`, kB, sampled 0.5 s after start):\n"
    );
    println!("| client | Rss | anonymous (heap, stacks) | file-backed | of which the executable's code |");
    println!("|---|---|---|---|---|");
    let slow = h.sandbox(Duration::from_secs(1))?;
    let input = h.input(1, Format::Document)?;
    for client in [Client::Nodehost, Client::Raw] {
        let mut child = h.spawn(client, &slow, &input, 1)?;
        std::thread::sleep(Duration::from_millis(500));
        let sample = Resident::of(child.id());
        let _ = child.wait();
        match sample {
            Some(r) => println!(
                "| {client} | {} | {} | {} | {} |",
                r.rss, r.anonymous, r.file, r.exe_code
            ),
            None => println!("| {client} | (ended before the sample) | | | |"),
        }
    }
    h.stop(slow);

    println!("\n| binary | size (MB) | stripped (MB, `objcopy --strip-all`) |");
    println!("|---|---|---|");
    for path in [h.nodehost(), h.raw_client()] {
        println!(
            "| `{}` | {:.1} | {} |",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            std::fs::metadata(path)?.len() as f64 / 1e6,
            stripped_size(path).map_or_else(
                || "objcopy not found".to_owned(),
                |s| format!("{:.1}", s as f64 / 1e6)
            )
        );
    }
    match startup_order_found(h.nodehost()) {
        Some((found, listed)) => println!(
            "\nStart-up order (`crates/nodehost-cli/link/startup-order.txt`): {found} of its {listed} functions are in this binary; far fewer means the list is stale (`scripts/startup-order`)."
        ),
        None => println!("\nStart-up order: not checked (needs `nm` and the checked-in list)."),
    }
    println!("\nload average after: {}\n", load_average());
    Ok(())
}

/// How many of the functions `scripts/startup-order` listed the binary defines, of how many.
fn startup_order_found(binary: &Path) -> Option<(usize, usize)> {
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nodehost-cli/link/startup-order.txt");
    let listed: Vec<String> = std::fs::read_to_string(list)
        .ok()?
        .lines()
        .map(str::to_owned)
        .collect();
    let nm = std::process::Command::new("nm")
        .arg("--defined-only")
        .arg(binary)
        .output()
        .ok()?;
    if !nm.status.success() {
        return None;
    }
    let defined: std::collections::HashSet<&str> = std::str::from_utf8(&nm.stdout)
        .ok()?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let found = listed.iter().filter(|f| defined.contains(f.as_str())).count();
    Some((found, listed.len()))
}

/// A process's resident memory, in kB, from `/proc`.
struct Resident {
    rss: u64,
    anonymous: u64,
    file: u64,
    exe_code: u64,
}

impl Resident {
    fn of(pid: u32) -> Option<Self> {
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
        let field = |name: &str| -> Option<u64> {
            rollup.lines().find_map(|l| {
                l.strip_prefix(name)?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
        };
        let rss = field("Rss:")?;
        let anonymous = field("Anonymous:")?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
        let mut exe_code = 0;
        let mut in_code = false;
        for line in smaps.lines() {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(range), Some(perms)) if range.contains('-') && perms.len() == 4 => {
                    let path = parts.nth(3);
                    in_code = perms.contains('x') && path.is_some_and(|p| Path::new(p) == exe);
                }
                (Some("Rss:"), Some(kb)) if in_code => exe_code += kb.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
        Some(Self {
            rss,
            anonymous,
            file: rss.saturating_sub(anonymous),
            exe_code,
        })
    }
}

/// Size of `path` with its symbol table and debug sections removed, if objcopy is installed.
fn stripped_size(path: &Path) -> Option<u64> {
    let out = std::env::temp_dir().join(format!("nodehost-bench-stripped-{}", std::process::id()));
    let ok = std::process::Command::new("objcopy")
        .arg("--strip-all")
        .arg(path)
        .arg(&out)
        .status()
        .ok()?
        .success();
    let size = ok
        .then(|| std::fs::metadata(&out).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_file(&out);
    size
}
