//! `nodehost plugin add|list|remove|check`, the registered plugins' nodes joining the
//! registry of every command, and `run --plugin`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nodehost_core::Registry;
use nodehost_plugin::{Plugin, PluginCommand, PluginEntry, PluginOptions, PluginsFile};
use serde_json::{Value, json};

use crate::CliError;
use crate::cli::{PluginArgs, PluginCheckArgs, PluginCommand as Command, PluginTarget};
use crate::output::print_json;
use crate::stderr::say;

/// How plugins are started: their stderr goes to ours, prefixed with their name.
pub fn options(args: &PluginArgs) -> Result<PluginOptions, CliError> {
    let secs = args.plugin_init_timeout;
    if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
        return Err(CliError::usage(format!(
            "--plugin-init-timeout must be between 0 and 3600 seconds, got {secs}"
        )));
    }
    Ok(PluginOptions {
        init_timeout: Duration::from_secs_f64(secs),
        log: Arc::new(|plugin: &str, line: &str| say(format!("plugin {plugin}: {line}"))),
        ..PluginOptions::default()
    })
}

/// The registry file in use, if there can be one.
fn file_path(args: &PluginArgs) -> Option<PathBuf> {
    args.plugins.clone().or_else(PluginsFile::default_path)
}

fn file(args: &PluginArgs) -> Result<PluginsFile, CliError> {
    let path = file_path(args).ok_or_else(|| {
        CliError::usage(
            "no place for the plugin registry: set HOME, XDG_CONFIG_HOME, NODEHOST_PLUGINS or --plugins",
        )
    })?;
    PluginsFile::load(&path).map_err(CliError::usage)
}

/// Add every registered plugin's nodes to `registry`. A broken entry, a plugin that changed
/// and cannot be read again, or a name another node has is skipped with a warning; the others
/// still load.
pub async fn load_registered(registry: &mut Registry, args: &PluginArgs, options: &PluginOptions) {
    let Some(path) = file_path(args) else { return };
    let mut file = match PluginsFile::load(&path) {
        Ok(f) => f,
        Err(e) => {
            say(format!("{e}; going on without plugins"));
            return;
        }
    };
    let mut rewritten = false;
    for entry in file.entries() {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                say(e);
                continue;
            }
        };
        let mut thorough = false;
        if entry.changed() {
            match reread(&entry, options).await {
                Ok(fresh) => {
                    say(format!(
                        "plugin `{}` changed since it was registered; its definitions were read again",
                        entry.name
                    ));
                    file.remove(&entry.name);
                    file.upsert(&fresh);
                    rewritten = true;
                    entry = fresh;
                    thorough = true;
                }
                Err(e) => {
                    say(format!(
                        "plugin `{}` is skipped: it changed since it was registered and could not be read again: {e}",
                        entry.name
                    ));
                    continue;
                }
            }
        }
        let plugin = Plugin::registered(
            entry.command.clone(),
            &entry.name,
            entry.nodes.clone(),
            options.clone(),
        );
        if let Err(e) = register(registry, &plugin, &entry.handshake(), thorough) {
            say(format!("plugin `{}` is skipped: {e}", entry.name));
        }
    }
    if rewritten && let Err(e) = file.save() {
        say(e);
    }
}

async fn reread(entry: &PluginEntry, options: &PluginOptions) -> Result<PluginEntry, String> {
    let (plugin, result) = Plugin::start(entry.command.clone(), options.clone())
        .await
        .map_err(|e| e.0)?;
    plugin.shutdown().await;
    Ok(PluginEntry::new(entry.command.clone(), &result))
}

/// Add all of a plugin's nodes to `registry`, or none.
fn register(
    registry: &mut Registry,
    plugin: &Arc<Plugin>,
    result: &nodehost_plugin::protocol::InitializeResult,
    thorough: bool,
) -> Result<Vec<String>, String> {
    let nodes = plugin.nodes(result, thorough).map_err(|p| p.join("; "))?;
    let mut trial = registry.clone();
    let mut names = Vec::with_capacity(nodes.len());
    for node in nodes {
        names.push(node.name().to_owned());
        trial.insert(node).map_err(|e| e.to_string())?;
    }
    *registry = trial;
    Ok(names)
}

/// `run --plugin PATH`: start the plugin and add its nodes (checked) to `registry`.
pub async fn start_unregistered(
    registry: &mut Registry,
    program: &Path,
    args: &[String],
    options: &PluginOptions,
) -> Result<Arc<Plugin>, CliError> {
    let command = PluginCommand::new(resolve(program)?, args.iter().cloned());
    let (plugin, result) = Plugin::start(command, options.clone())
        .await
        .map_err(|e| CliError::usage(e.0))?;
    if let Err(e) = register(registry, &plugin, &result, true) {
        plugin.shutdown().await;
        return Err(CliError::usage(format!(
            "plugin `{}` cannot be used: {e}",
            result.plugin.name
        )));
    }
    Ok(plugin)
}

/// The executable as an absolute path: as given when it names a file, else found on PATH.
fn resolve(program: &Path) -> Result<PathBuf, CliError> {
    let text = program.as_os_str().to_string_lossy();
    if text.contains(std::path::MAIN_SEPARATOR) {
        return std::fs::canonicalize(program)
            .map_err(|e| CliError::usage(format!("cannot use plugin {}: {e}", program.display())));
    }
    which::which(program).map_err(|_| {
        CliError::usage(format!(
            "cannot use plugin {}: no such file, and no command of that name on PATH",
            program.display()
        ))
    })
}

/// `builtins`: the binary's own nodes, which a registered plugin's nodes must not clash with.
pub async fn run(
    command: Command,
    builtins: Registry,
    args: &PluginArgs,
    options: &PluginOptions,
) -> Result<(), CliError> {
    match command {
        Command::Add(target) => add(target, builtins, args, options).await,
        Command::List => list(args),
        Command::Remove(name) => remove(&name.name, args),
        Command::Check(check) => conformance(check, options).await,
    }
}

async fn add(
    target: PluginTarget,
    mut registry: Registry,
    args: &PluginArgs,
    options: &PluginOptions,
) -> Result<(), CliError> {
    let mut file = file(args)?;
    let command = PluginCommand::new(resolve(&target.program)?, target.args);
    let (plugin, result) = Plugin::start(command.clone(), options.clone())
        .await
        .map_err(|e| CliError::usage(e.0))?;
    plugin.shutdown().await;
    let name = result.plugin.name.clone();
    // Its nodes must fit beside the built-ins and every other registered plugin (an earlier
    // registration of the same plugin is replaced).
    for entry in file.entries().into_iter().flatten().filter(|e| e.name != name) {
        let other = Plugin::registered(
            entry.command.clone(),
            &entry.name,
            entry.nodes.clone(),
            options.clone(),
        );
        let _ = register(&mut registry, &other, &entry.handshake(), false);
    }
    let nodes = register(&mut registry, &plugin, &result, true)
        .map_err(|e| CliError::usage(format!("plugin `{name}` is not registered: {e}")))?;
    let entry = PluginEntry::new(command, &result);
    file.upsert(&entry);
    file.save().map_err(CliError::usage)?;
    say(format!(
        "registered plugin `{name}` {} with node(s) {} in {}",
        entry.version,
        nodes.join(", "),
        file.path().display()
    ));
    print_json(&summary(&entry, "ok", None), true)
}

fn summary(entry: &PluginEntry, status: &str, problem: Option<&str>) -> Value {
    let mut value = json!({
        "name": entry.name,
        "version": entry.version,
        "program": entry.command.program,
        "args": entry.command.args,
        "nodes": entry.node_names(),
        "status": status,
    });
    if let Some(p) = problem {
        value["problem"] = json!(p);
    }
    value
}

fn list(args: &PluginArgs) -> Result<(), CliError> {
    let file = file(args)?;
    let entries: Vec<Value> = file
        .entries()
        .into_iter()
        .map(|entry| match entry {
            Ok(e) if e.changed() => summary(
                &e,
                "changed",
                Some("the executable changed since registration; its definitions are read again at the next use"),
            ),
            Ok(e) => summary(&e, "ok", None),
            Err(problem) => json!({ "status": "broken", "problem": problem }),
        })
        .collect();
    print_json(&entries, true)
}

fn remove(name: &str, args: &PluginArgs) -> Result<(), CliError> {
    let mut file = file(args)?;
    if !file.remove(name) {
        let known: Vec<String> = file.entries().into_iter().flatten().map(|e| e.name).collect();
        return Err(CliError::usage(format!(
            "no plugin named `{name}` is registered (registered: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    file.save().map_err(CliError::usage)?;
    say(format!("removed plugin `{name}` from {}", file.path().display()));
    Ok(())
}

async fn conformance(args: PluginCheckArgs, options: &PluginOptions) -> Result<(), CliError> {
    let command = PluginCommand::new(resolve(&args.target.program)?, args.target.args);
    let credentials = match &args.credentials {
        None => None,
        Some(path) => {
            let text = std::fs::read(path)
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
            let value: Value = serde_json::from_slice(&text).map_err(|_| {
                CliError::usage(format!("{} is not a JSON object of credentials", path.display()))
            })?;
            Some(value)
        }
    };
    let checks = nodehost_plugin::conformance(&command, options, credentials).await;
    let count = |o: &str| checks.iter().filter(|c| c.outcome == o).count();
    let (passed, failed, skipped) = (count("pass"), count("fail"), count("skip"));
    for c in &checks {
        say(format!("{}: {} ({})", c.outcome, c.check, c.detail));
    }
    print_json(
        &json!({ "checks": checks, "passed": passed, "failed": failed, "skipped": skipped }),
        true,
    )?;
    if failed > 0 {
        return Err(CliError::stopped(format!("{failed} check(s) failed")));
    }
    say(format!("{passed} check(s) passed, {skipped} skipped"));
    Ok(())
}
