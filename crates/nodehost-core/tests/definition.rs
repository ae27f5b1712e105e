//! The definition and schemas derived from a node's types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use nodehost_core::Registry;
use support::MemoNode;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(MemoNode::default()).expect("memo registers");
    r
}

#[test]
fn definition_is_derived_from_the_params_type() {
    let r = registry();
    let node = r.get("memo").unwrap();
    insta::assert_json_snapshot!(node.definition());
}

#[test]
fn operation_schema_is_flat_and_names_every_field() {
    let r = registry();
    let node = r.get("memo").unwrap();
    insta::assert_json_snapshot!(node.item_schema(Some("put")).unwrap());
    assert!(node.item_schema(Some("nope")).is_none());
}
