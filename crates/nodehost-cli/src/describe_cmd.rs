//! `describe` and `schema`: what a node publishes, and the generated `node-definitions/`.

use std::path::Path;

use nodehost_core::Registry;
use serde_json::Value;

use crate::cli::{DescribeArgs, SchemaArgs};
use crate::output::print_json;
use crate::{CliError, unknown_node};

pub fn describe(registry: &Registry, args: DescribeArgs) -> Result<(), CliError> {
    if args.all {
        let files = registry.definition_files();
        return match args.write {
            Some(dir) => write_files(&dir, &files),
            None => {
                let all: serde_json::Map<String, Value> = files.into_iter().collect();
                print_json(&all, true)
            }
        };
    }
    let name = args.node.unwrap_or_default();
    let node = registry.get(&name).ok_or_else(|| unknown_node(registry, &name))?;
    print_json(node.definition(), true)
}

pub fn schema(registry: &Registry, args: SchemaArgs) -> Result<(), CliError> {
    let node = registry
        .get(&args.node)
        .ok_or_else(|| unknown_node(registry, &args.node))?;
    match node.schema_of(args.operation.as_deref()) {
        Ok(schema) => print_json(&schema, true),
        Err(message) => Err(CliError::usage(message)),
    }
}

/// The exact bytes of a definition file.
pub fn render(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn write_files(dir: &Path, files: &[(String, Value)]) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
    for (name, value) in files {
        let path = dir.join(name);
        std::fs::write(&path, render(value))
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
        crate::stderr::say(format!("wrote {}", path.display()));
    }
    Ok(())
}
