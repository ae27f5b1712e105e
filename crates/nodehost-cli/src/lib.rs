//! The `nodehost` command line: turns arguments, stdin and the environment into calls to the
//! core and the registered nodes, and results into stdout, stderr and an exit status.
//!
//! Library crates report precise errors; only this crate decides wording on stderr and exit
//! codes (0 completed, 1 an item failure stopped the run, 2 unusable input or invocation).

pub mod cli;
mod connection;
mod describe_cmd;
mod input_reader;
mod mcp_cmd;
pub mod n8n_cmd;
mod output;
mod plugin_cmd;
mod progress;
mod run_cmd;
pub mod sandbox_cmd;
mod serve_cmd;
mod shell_cmd;
pub mod stderr;
mod worker_cmd;

use std::process::ExitCode;

use nodehost_core::Registry;

pub use cli::Cli;
pub use describe_cmd::render;
pub use nodehost_serve::openapi_document;

/// Every node this binary offers.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    // Registration derives each node's schemas; a failure is a bug in a node crate that the
    // definition tests catch, so it is reported rather than ignored.
    if let Err(e) = node_gestor_clientes::register(&mut registry) {
        stderr::say(format!("internal error: {e}"));
    }
    registry
}

/// A failure the CLI reports on stderr with an exit status.
#[derive(Debug)]
pub struct CliError {
    /// Exit status.
    pub code: u8,
    /// What to print on stderr.
    pub message: String,
}

impl CliError {
    /// Unusable input or invocation (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// The run stopped on an item failure (exit 1); details are already on stdout.
    pub fn stopped(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

/// Run one parsed command line to completion.
pub async fn run(cli: Cli) -> ExitCode {
    let result = dispatch(cli).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                stderr::fail(&e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let options = plugin_cmd::options(&cli.plugins)?;
    let mut registry = match cli.command {
        cli::Command::Plugin(command) => {
            return plugin_cmd::run(command, registry(), &cli.plugins, &options).await;
        }
        cli::Command::Sandbox(args) => {
            return sandbox_cmd::run(&registry(), args)
                .await
                .map_err(|e| CliError::usage(format!("sandbox: {e:#}")));
        }
        _ => registry(),
    };
    // Generated files hold the built-in nodes only, unless asked: a developer's registered
    // plugins must never leak into node-definitions/ or the n8n package.
    let generating = match &cli.command {
        cli::Command::Describe(args) => args.write.is_some() && !args.with_plugins,
        cli::Command::N8n(args) => !args.with_plugins,
        _ => false,
    };
    if !generating {
        plugin_cmd::load_registered(&mut registry, &cli.plugins, &options).await;
    }
    match cli.command {
        cli::Command::List => output::print_json(&registry.summary(), true),
        cli::Command::Describe(args) => describe_cmd::describe(&registry, args),
        cli::Command::Schema(args) => describe_cmd::schema(&registry, args),
        cli::Command::Run(args) => {
            let plugin = match &args.plugin {
                Some(program) => Some(
                    plugin_cmd::start_unregistered(&mut registry, program, &args.plugin_arg, &options)
                        .await?,
                ),
                None => None,
            };
            let result = run_cmd::run(registry, args, cli.output.quiet).await;
            if let Some(p) = plugin {
                p.shutdown().await;
            }
            result
        }
        cli::Command::Credentials(cli::CredentialsCommand::Test(args)) => {
            run_cmd::test_credentials(registry, args).await
        }
        cli::Command::Mcp(args) => mcp_cmd::run(registry, args).await,
        cli::Command::Serve(args) => serve_cmd::run(registry, args).await,
        cli::Command::Worker(args) => worker_cmd::run(registry, args).await,
        cli::Command::Submit(args) => worker_cmd::submit(args).await,
        cli::Command::N8n(args) => n8n_cmd::run(&registry, args),
        cli::Command::Completions(args) => shell_cmd::completions(&registry, args.shell),
        cli::Command::Man(args) => shell_cmd::man(args.write.as_deref()),
        cli::Command::Plugin(_) | cli::Command::Sandbox(_) => Ok(()),
    }
}

fn unknown_node(registry: &Registry, name: &str) -> CliError {
    let error = nodehost_core::RequestError::UnknownNode {
        name: name.to_owned(),
        available: registry.names().map(str::to_owned).collect(),
    };
    CliError::usage(error.to_string())
}
