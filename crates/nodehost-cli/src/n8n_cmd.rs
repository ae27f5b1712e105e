//! `nodehost n8n`: the generated part of the n8n community package (`integrations/n8n/`).
//!
//! Every registered node (plugins included) becomes `nodes/CLASS/CLASS.node.js`, an n8n node
//! class whose description is the node's definition without nodehost's own members and whose
//! `execute` hands the items to the package's hand-written runtime (`lib/nodehost.js`), which
//! runs them through nodehost. Every credential type becomes `credentials/CLASS.credentials.js`.
//! The `n8n` member of the package's `package.json` lists them all; the rest of that file, the
//! runtime, the tests and the README are the package's own and are never touched.

use std::path::Path;

use nodehost_core::Registry;
use serde_json::{Map, Value, json};

use crate::CliError;
use crate::cli::N8nArgs;

/// Members of a node definition that are nodehost's, not n8n's.
const NODEHOST_NODE_MEMBERS: &[&str] = &["operations", "parametersSchema", "supportsDryRun"];
/// Members of a credential definition that are nodehost's, not n8n's.
const NODEHOST_CREDENTIAL_MEMBERS: &[&str] = &["environment", "schema"];

/// One generated file: its path inside the package, and its exact contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// Path relative to the package root, with `/` separators.
    pub path: String,
    /// The exact bytes to write.
    pub contents: String,
}

/// The generated files of the package in `dir` (whose `package.json` must exist): one per
/// node, one per credential type, and `package.json` with its `n8n` member set.
pub fn package_files(registry: &Registry, package_json: &str) -> Result<Vec<PackageFile>, String> {
    let mut package: Map<String, Value> =
        serde_json::from_str(package_json).map_err(|e| format!("package.json is not a JSON object: {e}"))?;
    let mut files = Vec::new();
    let mut node_paths = Vec::new();
    let mut credential_paths = Vec::new();
    let definitions = registry.definition_files();
    // The fields of each credential type: n8n adds its own members to a credential's data
    // (`allowedHttpRequestDomains`, ...), and nodehost refuses fields it does not know.
    let fields: Map<String, Value> = definitions
        .iter()
        .filter(|(file, _)| file.ends_with(".credentials.json"))
        .filter_map(|(_, definition)| {
            let name = definition.get("name")?.as_str()?;
            let names: Vec<Value> = definition
                .get("properties")?
                .as_array()?
                .iter()
                .filter_map(|p| p.get("name").cloned())
                .collect();
            Some((name.to_owned(), Value::Array(names)))
        })
        .collect();
    for (file, definition) in definitions {
        let Some(object) = definition.as_object() else {
            continue;
        };
        let name = object.get("name").and_then(Value::as_str).unwrap_or_default();
        let class = class_name(name);
        if file.ends_with(".credentials.json") {
            let path = format!("credentials/{class}.credentials.js");
            files.push(PackageFile {
                contents: credential_file(&class, strip(object, NODEHOST_CREDENTIAL_MEMBERS)),
                path: path.clone(),
            });
            credential_paths.push(path);
        } else {
            let path = format!("nodes/{class}/{class}.node.js");
            let credential_fields: Map<String, Value> = object
                .get("credentials")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name")?.as_str())
                .filter_map(|c| Some((c.to_owned(), fields.get(c)?.clone())))
                .collect();
            files.push(PackageFile {
                contents: node_file(
                    &class,
                    name,
                    strip(object, NODEHOST_NODE_MEMBERS),
                    &Value::Object(credential_fields),
                ),
                path: path.clone(),
            });
            node_paths.push(path);
        }
    }
    package.insert(
        "n8n".into(),
        json!({"n8nNodesApiVersion": 1, "nodes": node_paths, "credentials": credential_paths}),
    );
    let mut text = serde_json::to_string_pretty(&package).unwrap_or_default();
    text.push('\n');
    files.push(PackageFile {
        path: "package.json".into(),
        contents: text,
    });
    Ok(files)
}

/// `nodehost n8n --write DIR`: write the generated files into the package at DIR.
pub fn run(registry: &Registry, args: N8nArgs) -> Result<(), CliError> {
    let dir = &args.write;
    let package_json = read_package_json(dir)?;
    let files = package_files(registry, &package_json).map_err(CliError::usage)?;
    for file in &files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, &file.contents)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
        crate::stderr::say(format!("wrote {}", path.display()));
    }
    Ok(())
}

fn read_package_json(dir: &Path) -> Result<String, CliError> {
    let path = dir.join("package.json");
    std::fs::read_to_string(&path).map_err(|e| {
        CliError::usage(format!(
            "cannot read {}: {e}; DIR must be the n8n package (a copy of integrations/n8n/ \
             from the nodehost repository), whose runtime the generated nodes use",
            path.display()
        ))
    })
}

/// `gestorClientesMaxCliente` → `GestorClientesMaxCliente`: n8n loads the class named like
/// the file. Characters that cannot be in a JavaScript identifier become `_`.
pub fn class_name(name: &str) -> String {
    let mut class = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                class.push(c.to_ascii_uppercase());
            } else {
                class.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if class.is_empty() || class.starts_with(|c: char| c.is_ascii_digit()) {
        class.insert(0, '_');
    }
    class
}

fn strip(object: &Map<String, Value>, members: &[&str]) -> Value {
    Value::Object(
        object
            .iter()
            .filter(|(key, _)| !members.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    )
}

const HEADER: &str = "// Generated by `nodehost n8n --write integrations/n8n` from the node's definition; do not edit.\n\
// A test in the nodehost repository fails when this file differs from what the code generates.\n\
'use strict';\n";

fn node_file(class: &str, name: &str, description: Value, credential_fields: &Value) -> String {
    let description = serde_json::to_string_pretty(&description).unwrap_or_default();
    let name = serde_json::to_string(name).unwrap_or_default();
    let credential_fields = serde_json::to_string_pretty(credential_fields).unwrap_or_default();
    format!(
        "{HEADER}\nconst {{ runNode }} = require('../../lib/nodehost');\n\n\
         const description = {description};\n\n\
         // The fields nodehost reads from each credential type (n8n adds members of its own).\n\
         const credentialFields = {credential_fields};\n\n\
         class {class} {{\n  constructor() {{\n    this.description = description;\n  }}\n\n  \
         // n8n calls `execute` with its execution context as `this`.\n  \
         async execute() {{\n    return runNode(this, {name}, description, {{ credentialFields }});\n  }}\n}}\n\n\
         module.exports = {{ {class} }};\n"
    )
}

fn credential_file(class: &str, definition: Value) -> String {
    let mut body = String::new();
    if let Value::Object(members) = definition {
        for (key, value) in members {
            let value = serde_json::to_string_pretty(&value)
                .unwrap_or_default()
                .replace('\n', "\n    ");
            body.push_str(&format!("    this.{key} = {value};\n"));
        }
    }
    format!(
        "{HEADER}\nclass {class} {{\n  constructor() {{\n{body}  }}\n}}\n\nmodule.exports = {{ {class} }};\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_the_identifiers_n8n_looks_for() {
        assert_eq!(class_name("gestorClientesMaxCliente"), "GestorClientesMaxCliente");
        assert_eq!(class_name("gestorClientesMaxApi"), "GestorClientesMaxApi");
        assert_eq!(class_name("my-plugin.echo"), "MyPluginEcho");
        assert_eq!(class_name("3d"), "_3d");
        assert_eq!(class_name(""), "_");
    }

    #[test]
    fn the_package_lists_every_node_and_credential_and_keeps_its_own_members() {
        let registry = crate::registry();
        let files = package_files(
            &registry,
            r#"{"name": "n8n-nodes-nodehost", "version": "0.1.0", "n8n": {"nodes": ["old.js"]}}"#,
        )
        .unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "nodes/GestorClientesMaxCliente/GestorClientesMaxCliente.node.js",
                "credentials/GestorClientesMaxApi.credentials.js",
                "package.json"
            ]
        );
        let package: Value = serde_json::from_str(&files[2].contents).unwrap();
        assert_eq!(package["name"], "n8n-nodes-nodehost");
        assert_eq!(
            package["n8n"]["nodes"],
            json!(["nodes/GestorClientesMaxCliente/GestorClientesMaxCliente.node.js"])
        );
        let node = &files[0].contents;
        assert!(node.contains("class GestorClientesMaxCliente {"));
        assert!(
            node.contains("runNode(this, \"gestorClientesMaxCliente\", description, { credentialFields })")
        );
        assert!(node.contains(
            "const credentialFields = {\n  \"gestorClientesMaxApi\": [\n    \"baseUrl\",\n    \"apiKey\"\n  ]\n};"
        ));
        assert!(
            !node.contains("parametersSchema"),
            "nodehost's members are not n8n's"
        );
        let credential = &files[1].contents;
        assert!(credential.contains("this.name = \"gestorClientesMaxApi\";"));
        assert!(credential.contains("this.test = {"));
        assert!(!credential.contains("GESTOR_CLIENTES_MAX_API_KEY"));
    }

    #[test]
    fn a_package_json_that_is_not_an_object_is_refused() {
        let error = package_files(&crate::registry(), "[1]").unwrap_err();
        assert!(error.contains("package.json is not a JSON object"), "{error}");
    }
}
