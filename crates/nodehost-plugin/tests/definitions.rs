//! What registration refuses in a plugin's definitions, and the registry file that keeps
//! them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nodehost_plugin::protocol::{InitializeResult, Software};
use nodehost_plugin::{PluginCommand, PluginEntry, PluginsFile, check_definitions};
use serde_json::{Value, json};

fn good_node() -> Value {
    let mut builtin = nodehost_core::Registry::new();
    builtin.register(cpf_tools_plugin::CpfTools).unwrap();
    builtin.get("cpfTools").unwrap().definition().clone()
}

fn answer(nodes: Vec<Value>, credentials: Vec<Value>) -> InitializeResult {
    InitializeResult {
        protocol_version: "1".into(),
        plugin: Software {
            name: "p".into(),
            version: "1".into(),
        },
        nodes,
        credentials,
    }
}

fn problems(node: Value, credentials: Vec<Value>) -> String {
    check_definitions(&answer(vec![node], credentials))
        .expect_err("refused")
        .join("\n")
}

#[test]
fn a_good_definition_is_read_back_as_it_was_published() {
    let nodes = check_definitions(&answer(vec![good_node()], vec![])).unwrap();
    assert_eq!(nodes[0].0.to_definition(), good_node());
}

#[test]
fn each_broken_field_is_named() {
    let mut n = good_node();
    n["name"] = json!("has space");
    assert!(problems(n, vec![]).contains("`name` must be letters"));

    let mut n = good_node();
    n.as_object_mut().unwrap().remove("displayName");
    assert!(problems(n, vec![]).contains("`displayName` must be a non-empty string"));

    let mut n = good_node();
    n["properties"][0].as_object_mut().unwrap().remove("type");
    assert!(problems(n, vec![]).contains("`properties[0].type`"));

    let mut n = good_node();
    n["parametersSchema"]["oneOf"][0]["properties"]["cpf"]["type"] = json!("text");
    assert!(problems(n, vec![]).contains("`parametersSchema` is not a valid JSON Schema 2020-12 document"));

    let mut n = good_node();
    n["parametersSchema"]["$schema"] = json!("http://json-schema.org/draft-07/schema#");
    assert!(problems(n, vec![]).contains("must be JSON Schema 2020-12"));

    let mut n = good_node();
    n["parametersSchema"]["oneOf"][0]["properties"]["cpf"]["pattern"] = json!("([");
    assert!(problems(n, vec![]).contains("parametersSchema"));

    let mut n = good_node();
    n["credentials"] = json!([{"name": "nowhereApi", "required": true}]);
    assert!(
        problems(n, vec![])
            .contains("names credential type `nowhereApi`, which the plugin's `credentials` do not define")
    );

    let mut n = good_node();
    n["operations"].as_object_mut().unwrap().remove("format");
    assert!(problems(n, vec![]).contains("`format`"));

    let two = answer(vec![good_node(), good_node()], vec![]);
    assert!(
        check_definitions(&two)
            .unwrap_err()
            .join(" ")
            .contains("another node of the plugin has this name")
    );
    assert!(check_definitions(&answer(vec![], vec![])).unwrap_err()[0].contains("offers no node"));
}

#[test]
fn the_registry_file_keeps_entries_apart_and_notices_a_changed_executable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/plugins.json");
    let mut file = PluginsFile::load(&path).unwrap();
    assert!(file.entries().is_empty(), "a missing file holds no plugin");

    let program = dir.path().join("plugin.sh");
    std::fs::write(&program, "#!/bin/sh\n").unwrap();
    let entry = PluginEntry::new(
        PluginCommand::new(&program, ["--flag"]),
        &answer(vec![good_node()], vec![]),
    );
    file.upsert(&entry);
    file.save().unwrap();

    // A broken entry beside it is reported alone and kept when the file is saved again.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["plugins"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "broken"}));
    std::fs::write(&path, doc.to_string()).unwrap();
    let mut file = PluginsFile::load(&path).unwrap();
    let entries = file.entries();
    assert_eq!(entries[0].as_ref().unwrap(), &entry);
    assert!(entries[1].as_ref().unwrap_err().contains("entry 1 (`broken`)"));
    assert!(!entry.changed());
    file.upsert(&entry);
    file.save().unwrap();
    assert_eq!(PluginsFile::load(&path).unwrap().entries().len(), 2);

    std::fs::write(&program, "#!/bin/sh\necho changed\n").unwrap();
    assert!(entry.changed());
    assert!(file.remove("p"));
    assert!(!file.remove("p"));

    std::fs::write(&path, "{not json").unwrap();
    assert!(
        PluginsFile::load(&path)
            .unwrap_err()
            .contains("is not valid JSON")
    );
}
