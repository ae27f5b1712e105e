//! The `nodehost` binary.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = nodehost_cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nodehost: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let code = runtime.block_on(nodehost_cli::run(cli));
    // Do not wait for a blocking read of stdin that will never finish.
    runtime.shutdown_background();
    code
}
