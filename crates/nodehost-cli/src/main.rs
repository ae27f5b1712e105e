//! The `nodehost` binary.

use clap::Parser;

// Items, requests, answers and output are many small, short-lived allocations spread over
// worker threads: glibc's malloc took ~22% of the CPU of `run` at concurrency 16 (perf), and
// mimalloc cut the wall time of that benchmark by about a quarter (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = nodehost_cli::Cli::parse();
    init_logs(cli.output.log_format);
    // Commands that only print what the registry holds do no concurrent I/O: one thread does,
    // and runtime workers would only add their stacks and allocator heaps to what `list` costs.
    use nodehost_cli::cli::Command;
    let printing_only = matches!(
        cli.command,
        Command::List
            | Command::Describe(_)
            | Command::Schema(_)
            | Command::N8n(_)
            | Command::Completions(_)
            | Command::Man(_)
    );
    let mut builder = if printing_only {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nodehost: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Run on a worker thread, not on this one: the engine spawns a task per item, and a task
    // spawned from a worker starts on that same worker, so at concurrency 1 an item does not
    // hop between threads (a futex wake and a context switch each way) twice per request.
    let code = runtime.block_on(async {
        tokio::spawn(nodehost_cli::run(cli)).await.unwrap_or_else(|e| {
            eprintln!("nodehost: internal error: {e}");
            std::process::ExitCode::from(2)
        })
    });
    // Do not wait for a blocking read of stdin that will never finish.
    runtime.shutdown_background();
    code
}

/// Logs on stderr through the secret-removing writer: text for people, or one JSON object per
/// line (event fields at the top level, the item's `node` and `item` under `span`).
fn init_logs(format: nodehost_cli::cli::LogFormat) {
    use nodehost_cli::cli::LogFormat;
    let json = format == LogFormat::Json;
    nodehost_cli::stderr::set_json(json);
    // JSON lines carry the messages too, which are INFO: a collector wants them.
    // `serve`'s one line per run and `worker`'s per job are INFO too, and wanted by default.
    let default = if json {
        "info,rmcp::service=error"
    } else {
        "warn,rmcp::service=error,nodehost_serve=info,nodehost_worker=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_writer(nodehost_cli::stderr::LogWriter)
        // The writer escapes control characters, so colour codes would show as text.
        .with_ansi(false)
        .with_env_filter(filter);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}
