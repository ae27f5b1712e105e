//! The bytes-to-prepared-items path of `nodehost run`, without the network: what the fuzz
//! target feeds and what the e2e corpus test replays. Kept in one file so both exercise exactly
//! the same calls, in the order `run_cmd` makes them.

use nodehost_core::input::{item_fields, unknown_node_parameters};
use nodehost_core::{ItemFailure, RunInput, UnknownFields, prepare_item};
use serde_json::{Map, Value};

/// What the bytes became, for a test to check; the fuzz target only cares that it returns.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The whole input read as a document: `None` when it is not JSON or not a usable shape.
    pub document_items: Option<usize>,
    /// Items of the document that validated.
    pub document_valid: usize,
    /// Non-blank lines read as NDJSON.
    pub lines: usize,
    /// Lines that validated.
    pub lines_valid: usize,
}

/// Feed `bytes` through the document path (`serde_json` → `RunInput::from_value` → node-level
/// parameter check → `prepare_item` for every item) and the NDJSON path (per line:
/// `serde_json` → `item_fields` → `prepare_item`), with the real registry.
pub fn run(bytes: &[u8]) -> Verdict {
    let registry = nodehost_cli::registry();
    let node = registry
        .get("gestorClientesMaxCliente")
        .expect("the binary registers the Cliente node");
    let mut verdict = Verdict::default();

    if let Ok(value) = serde_json::from_slice::<Value>(bytes)
        && let Ok(input) = RunInput::from_value(value)
    {
        // `run` refuses typos in node-level parameters before looking at items.
        let _ = unknown_node_parameters(&input.parameters, node.validator());
        verdict.document_items = Some(input.items.len());
        for unknown in [UnknownFields::Reject, UnknownFields::Ignore] {
            let mut valid = 0;
            for (index, item) in input.items.iter().enumerate() {
                if check(prepare_item(
                    node.as_ref(),
                    &input.parameters,
                    index,
                    item.clone(),
                    unknown,
                )) {
                    valid += 1;
                }
            }
            if unknown == UnknownFields::Reject {
                verdict.document_valid = valid;
            }
        }
    }

    let empty = Map::new();
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let index = verdict.lines;
        verdict.lines += 1;
        if let Ok(value) = serde_json::from_slice::<Value>(line)
            && let Ok(item) = item_fields(index, value)
            && check(prepare_item(
                node.as_ref(),
                &empty,
                index,
                item,
                UnknownFields::Reject,
            ))
        {
            verdict.lines_valid += 1;
        }
    }
    verdict
}

/// Whether the item validated; a refusal must name its item and say something.
fn check(result: Result<nodehost_core::Prepared, ItemFailure>) -> bool {
    match result {
        Ok(_) => true,
        Err(ItemFailure::Invalid(problems)) => {
            assert!(!problems.problems.is_empty(), "an invalid item with no problem");
            assert!(
                problems.problems.iter().all(|p| !p.message.is_empty()),
                "a problem without words"
            );
            false
        }
        Err(other) => panic!("prepare_item failed with something other than Invalid: {other}"),
    }
}
