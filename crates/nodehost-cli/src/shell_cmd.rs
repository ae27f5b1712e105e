//! `nodehost completions SHELL` and `nodehost man`: generated from the clap definitions, so
//! they cannot drift from the flags. Completions also know the registered node names and
//! operations (plugins included), taken when the script is generated.

use std::io::Write as _;
use std::path::Path;

use clap::CommandFactory;
use clap::builder::PossibleValuesParser;
use nodehost_core::Registry;

use crate::CliError;
use crate::cli::Cli;

pub fn completions(registry: &Registry, shell: clap_complete::Shell) -> Result<(), CliError> {
    let nodes: Vec<String> = registry.names().map(str::to_owned).collect();
    let mut operations: Vec<String> = registry
        .nodes()
        .flat_map(|n| n.description().operations.iter().map(|o| o.value.clone()))
        .collect();
    operations.sort();
    operations.dedup();
    let with_nodes = |cmd: clap::Command| {
        cmd.mut_arg("node", |a| {
            a.value_parser(PossibleValuesParser::new(nodes.clone()))
        })
    };
    // Built first: the subcommands' arguments are deferred until then (`cli::Command`).
    let mut cmd = Cli::command();
    cmd.build();
    let mut cmd = cmd
        .mut_subcommand("run", with_nodes)
        .mut_subcommand("describe", with_nodes)
        .mut_subcommand("schema", |c| {
            with_nodes(c).mut_arg("operation", |a| {
                a.value_parser(PossibleValuesParser::new(operations.clone()))
            })
        })
        .mut_subcommand("credentials", |c| c.mut_subcommand("test", with_nodes));
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "nodehost", &mut out);
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| CliError::stopped(format!("cannot write output: {e}")))
}

/// Every page: `nodehost.1` and one per subcommand (`nodehost-plugin-add.1`), hidden ones
/// left out.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
        let name = if prefix.is_empty() {
            cmd.get_name().to_owned()
        } else {
            format!("{prefix}-{}", cmd.get_name())
        };
        let page_cmd = cmd.clone().name(name.clone());
        let mut page = Vec::new();
        if clap_mangen::Man::new(page_cmd).render(&mut page).is_ok() {
            out.push((format!("{name}.1"), page));
        }
        for sub in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            walk(sub, &name, out);
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "", &mut out);
    out
}

pub fn man(write: Option<&Path>) -> Result<(), CliError> {
    let pages = pages();
    let Some(dir) = write else {
        let root = pages.into_iter().next().map(|(_, page)| page).unwrap_or_default();
        return std::io::stdout()
            .write_all(&root)
            .map_err(|e| CliError::stopped(format!("cannot write output: {e}")));
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
    for (name, page) in &pages {
        let path = dir.join(name);
        std::fs::write(&path, page)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
    }
    crate::stderr::say(format!(
        "wrote {} man page(s) into {}",
        pages.len(),
        dir.display()
    ));
    Ok(())
}
