//! `nodehost-raw-client`: the baseline the benchmarks compare nodehost with, as its own small
//! executable. It links only what it uses (tokio, reqwest with rustls, serde_json, clap and the
//! same allocator as nodehost), so its start-up time, peak RSS and size are the floor a program
//! that turns Get-By-ID items into requests can reach; inside `nodehost-bench` (which also
//! carries the sandbox, SQLite and the NATS client) it would pay for pages it never runs.

#[path = "../raw_client.rs"]
mod raw_client;

use std::process::ExitCode;

use clap::Parser as _;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reads Get-By-ID items on stdin, writes the answers on stdout, with reqwest and nothing else.
#[derive(clap::Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    args: raw_client::RawArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match raw_client::main(&cli.args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nodehost-raw-client: {e:#}");
            ExitCode::FAILURE
        }
    }
}
