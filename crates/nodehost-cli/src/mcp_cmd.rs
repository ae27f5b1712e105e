//! `nodehost mcp`: every node operation as an MCP tool, served over stdio. Stdout carries
//! nothing but protocol messages; every message and log line goes to stderr.

use nodehost_core::{Host, Registry};
use nodehost_mcp::{FilterList, McpError, McpServer, Offered, ToolFilter, Warning};

use crate::CliError;
use crate::cli::McpArgs;
use crate::connection::{Sandboxes, credentials, item_deadline, missing_hint, session_options};
use crate::stderr::{self, say};

pub async fn run(registry: Registry, args: McpArgs) -> Result<(), CliError> {
    let deadline = item_deadline(&args.connection)?;
    let sandbox = if args.connection.sandbox {
        Some(Sandboxes::all(&registry, args.connection.sandbox_db.as_deref()).await?)
    } else {
        None
    };
    let result = serve(registry, &args, deadline, sandbox.as_ref()).await;
    if let Some(s) = sandbox {
        s.stop().await;
    }
    result
}

async fn serve(
    registry: Registry,
    args: &McpArgs,
    deadline: std::time::Duration,
    sandbox: Option<&Sandboxes>,
) -> Result<(), CliError> {
    let mut offered = Vec::new();
    for node in registry.nodes() {
        let emulated = match (node.credential(), sandbox) {
            (Some(kind), Some(s)) => s.credentials(&kind.name),
            _ => None,
        };
        let credentials = match (node.credential(), emulated) {
            (None, _) => None,
            (Some(_), Some(value)) => Some(value),
            (Some(_), None) => match credentials(node, None, &args.connection) {
                Ok(Some(value)) => Some(value),
                Ok(None) => {
                    if args.nodes.is_empty() || args.nodes.iter().any(|n| n == node.name()) {
                        say(format!(
                            "node `{}` is not offered: {}",
                            node.name(),
                            missing_hint(node)
                        ));
                    }
                    continue;
                }
                Err(e) => {
                    say(format!("node `{}` is not offered: {}", node.name(), e.message));
                    continue;
                }
            },
        };
        if let (Some(kind), Some(value)) = (node.credential(), &credentials) {
            stderr::add_secrets(&nodehost_core::Secrets::of_credentials(kind, value));
        }
        offered.push(Offered {
            node: std::sync::Arc::clone(node),
            credentials,
        });
    }
    let host = Host::with_options(registry, session_options(&args.connection)?);
    let filter = ToolFilter {
        nodes: args.nodes.clone(),
        tools: args.tools.clone(),
        read_only: args.read_only,
    };
    let (server, warnings) = McpServer::new(std::sync::Arc::new(host), offered, &filter, Some(deadline))
        .map_err(|e| CliError::usage(error_text(e)))?;
    for w in &warnings {
        say(warning_text(w));
    }
    let names: Vec<String> = server.tools().iter().map(|t| t.name.to_string()).collect();
    say(format!(
        "serving {} tool(s) over MCP on stdio (protocol up to {}): {}",
        names.len(),
        nodehost_mcp::NEWEST_REVISION,
        names.join(", ")
    ));
    // One message per line, with JSON-RPC's parse errors and 2025-03-26's batches.
    nodehost_mcp::serve_lines(server, tokio::io::stdin(), tokio::io::stdout())
        .await
        .map_err(|e| CliError::usage(format!("mcp: {e}")))
}

/// The flag a filter list comes from.
fn flag(list: FilterList) -> &'static str {
    match list {
        FilterList::Nodes => "--nodes",
        FilterList::Tools => "--tools",
    }
}

/// A warning of the MCP library in the words of the flags.
fn warning_text(warning: &Warning) -> String {
    match warning {
        Warning::MatchesNothing { list, pattern } => format!(
            "{} `{pattern}` matches no {}",
            flag(*list),
            if *list == FilterList::Nodes {
                "node"
            } else {
                "tool"
            }
        ),
        other => other.to_string(),
    }
}

/// An error of the MCP library in the words of the flags.
fn error_text(error: McpError) -> String {
    match error {
        McpError::InvalidPattern {
            list,
            pattern,
            reason,
        } => {
            format!("{} `{pattern}` is not a name or glob: {reason}", flag(list))
        }
        McpError::NoTools { warnings, usable } => format!(
            "{}no tool to offer: the filters leave none of {}",
            warnings
                .iter()
                .map(|w| format!("{}; ", warning_text(w)))
                .collect::<String>(),
            if usable.is_empty() {
                "the nodes (none is usable)".to_owned()
            } else {
                usable.join(", ")
            }
        ),
        other => other.to_string(),
    }
}
