//! The bytes-to-prepared-items path of `nodehost run`, without the network: what the fuzz
//! target feeds and what the e2e corpus test replays. Kept in one file so both exercise exactly
//! the same calls, in the order `run_cmd` makes them.

use nodehost_core::Document;
use nodehost_core::input::{item_fields, parse_json};
use nodehost_core::{ItemFailure, Plan, UnknownFields};
use serde_json::Map;

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

/// Feed `bytes` through the document path (`Document::parse` → its items → the run
/// plan's node-level parameter check → `Plan::prepare` for every item) and the NDJSON path (per
/// line: `parse_json` → `item_fields` → `Plan::prepare`), with the real registry.
pub fn run(bytes: &[u8]) -> Verdict {
    let registry = nodehost_cli::registry();
    let node = registry
        .get("gestorClientesMaxCliente")
        .expect("the binary registers the Cliente node");
    let mut verdict = Verdict::default();

    // The document path of `run`: the document located, then every item read and validated.
    if let Ok(document) = Document::parse(bytes)
        && let Ok(input) = document.into_input()
    {
        verdict.document_items = Some(input.items.len());
        for unknown in [UnknownFields::Reject, UnknownFields::Ignore] {
            // `run` refuses typos in node-level parameters before looking at items.
            let Ok(plan) = Plan::new(node.clone(), input.parameters.clone(), unknown) else {
                continue;
            };
            let mut valid = 0;
            for (index, item) in input.items.iter().enumerate() {
                if check(plan.prepare(index, item.clone()).1) {
                    valid += 1;
                }
            }
            if unknown == UnknownFields::Reject {
                verdict.document_valid = valid;
            }
        }
    }

    let plan = Plan::new(node, Map::new(), UnknownFields::Reject).expect("no node-level parameters");
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let index = verdict.lines;
        verdict.lines += 1;
        if let Ok(value) = parse_json(line)
            && let Ok(item) = item_fields(index, value)
            && check(plan.prepare(index, item).1)
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
