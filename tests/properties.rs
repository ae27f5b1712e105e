//! Properties of the stdin path that `nodehost run` takes before anything is sent, with the real
//! registry: no JSON item can make validation panic, every well-formed create validates, an id
//! is accepted exactly when it is a positive whole number (so nothing else reaches a URL), and
//! the fuzz corpus replays cleanly.

#[path = "../fuzz/src/stdin_path.rs"]
mod stdin_path;

use nodehost_core::{ItemFailure, Plan, Prepared, UnknownFields};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Resolve and validate one item as `run` does, with node-level `parameters`.
fn prepare_item(
    parameters: &Map<String, Value>,
    index: usize,
    item: Map<String, Value>,
    unknown: UnknownFields,
) -> Result<Prepared, ItemFailure> {
    let node = nodehost_cli::registry().get("gestorClientesMaxCliente").unwrap();
    match Plan::new(node, parameters.clone(), unknown) {
        Ok(plan) => plan.prepare(index, item).1,
        // A typo among node-level parameters refuses the run before any item.
        Err(e) => Err(ItemFailure::Invalid(nodehost_core::ItemProblems {
            item: index,
            problems: vec![nodehost_core::Problem {
                path: "parameters".into(),
                message: e.to_string(),
            }],
        })),
    }
}

/// Field names the node knows, plus a few it does not, so generated objects hit both paths.
const KEYS: &[&str] = &[
    "operation",
    "clientId",
    "name",
    "email",
    "phone",
    "cpf",
    "birthDate",
    "cep",
    "street",
    "number",
    "complement",
    "neighborhood",
    "city",
    "state",
    "address",
    "notes",
    "status",
    "paymentStatus",
    "consultationPrice",
    "userId",
    "returnAll",
    "limit",
    "json",
    "pairedItem",
    "id",
    "",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("create".to_owned()),
            Just("get".to_owned()),
            Just("getAll".to_owned()),
            Just("update".to_owned()),
            Just("delete".to_owned()),
            "[0-9]{0,25}",
            ".*",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn any_item() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(KEYS), any_json()), 0..10)
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A CPF with correct check digits (not all one digit).
fn cpf() -> impl Strategy<Value = String> {
    prop::array::uniform9(0u32..10)
        .prop_filter("one repeated digit is never issued", |d| {
            d.iter().any(|&x| x != d[0])
        })
        .prop_map(|d| {
            let mut digits = d.to_vec();
            for len in [9, 10] {
                let sum: u32 = digits
                    .iter()
                    .enumerate()
                    .map(|(i, x)| x * (len as u32 + 1 - i as u32))
                    .sum();
                let check = (sum * 10) % 11 % 10;
                digits.push(check);
            }
            digits.iter().map(|d| char::from_digit(*d, 10).unwrap()).collect()
        })
}

fn valid_create() -> impl Strategy<Value = Map<String, Value>> {
    let optional = (
        prop::option::of("[a-z0-9._]{1,20}@[a-z]{1,12}\\.(com|com\\.br|org)"),
        prop::option::of(cpf()),
        prop::option::of(("[0-9]{5}", "[0-9]{3}", any::<bool>())),
        prop::option::of(prop::sample::select(&["SP", "rj", "Mg", "DF", "ba"][..])),
        prop::option::of((1900u32..2025, 1u32..13, 1u32..29)),
        prop::option::of(prop::sample::select(&["active", "inactive"][..])),
        prop::option::of(prop::sample::select(&["a_pagar", "pago", "cancelado"][..])),
        prop::option::of(0u32..100_000),
        prop::option::of(".{0,40}"),
    );
    ("\\PC{1,60}", optional).prop_map(
        |(name, (email, cpf, cep, state, birth, status, payment, price, notes))| {
            let mut item = Map::new();
            item.insert("operation".into(), json!("create"));
            item.insert("name".into(), json!(name));
            if let Some(v) = email {
                item.insert("email".into(), json!(v));
            }
            if let Some(v) = cpf {
                item.insert("cpf".into(), json!(v));
            }
            if let Some((a, b, dash)) = cep {
                item.insert(
                    "cep".into(),
                    json!(if dash {
                        format!("{a}-{b}")
                    } else {
                        format!("{a}{b}")
                    }),
                );
            }
            if let Some(v) = state {
                item.insert("state".into(), json!(v));
            }
            if let Some((y, m, d)) = birth {
                item.insert("birthDate".into(), json!(format!("{y:04}-{m:02}-{d:02}")));
            }
            if let Some(v) = status {
                item.insert("status".into(), json!(v));
            }
            if let Some(v) = payment {
                item.insert("paymentStatus".into(), json!(v));
            }
            if let Some(v) = price {
                item.insert("consultationPrice".into(), json!(f64::from(v) / 100.0));
            }
            if let Some(v) = notes {
                item.insert("notes".into(), json!(v));
            }
            item
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_json_item_makes_validation_panic_and_refusals_say_why(
        item in any_item(),
        parameters in any_item(),
        ignore in any::<bool>(),
    ) {
        let unknown = if ignore { UnknownFields::Ignore } else { UnknownFields::Reject };
        match prepare_item(&parameters, 3, item, unknown) {
            Ok(_) => {}
            Err(ItemFailure::Invalid(p)) => {
                prop_assert_eq!(p.item, 3);
                prop_assert!(!p.problems.is_empty());
                prop_assert!(p.to_string().starts_with("item 3: "));
            }
            Err(other) => prop_assert!(false, "unexpected failure kind: {other}"),
        }
    }

    #[test]
    fn every_well_formed_create_validates(item in valid_create()) {
        let result = prepare_item(&Map::new(), 0, item.clone(), UnknownFields::Reject);
        prop_assert!(result.is_ok(), "refused {item:?}: {:?}", result.err().map(|e| e.to_string()));
    }

    #[test]
    fn a_string_id_is_accepted_exactly_when_it_is_a_positive_whole_number(
        id in prop_oneof!["[0-9]{1,22}", "[0-9./?#%+ a-zA-Z\\-]{0,12}", "\\PC{0,8}"],
        op in prop::sample::select(&["get", "delete", "update"][..]),
    ) {
        let mut item = Map::new();
        item.insert("operation".into(), json!(op));
        item.insert("clientId".into(), json!(id));
        if op == "update" {
            item.insert("notes".into(), json!("x"));
        }
        let accepted = prepare_item(&Map::new(), 0, item, UnknownFields::Reject).is_ok();
        let positive_integer = !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && id.parse::<u64>().is_ok_and(|n| n >= 1);
        prop_assert_eq!(accepted, positive_integer, "id {:?}", id);
    }

    #[test]
    fn node_level_parameters_fill_only_what_an_item_leaves_out(id in 1u64..1_000_000, other in 1u64..1_000_000) {
        let parameters: Map<String, Value> =
            serde_json::from_value(json!({"operation": "get", "clientId": id})).unwrap();
        // An item without an operation takes the node's; one with its own id keeps it.
        let own: Map<String, Value> = serde_json::from_value(json!({"clientId": other})).unwrap();
        let prepared = prepare_item(&parameters, 0, own, UnknownFields::Reject).unwrap();
        let claims = |p: &nodehost_core::Prepared| p.locks.iter().map(|l| l.resource.clone()).collect::<Vec<_>>();
        prop_assert_eq!(claims(&prepared), vec![format!("client/{other}")]);
        let bare = prepare_item(&parameters, 1, Map::new(), UnknownFields::Reject).unwrap();
        prop_assert_eq!(claims(&bare), vec![format!("client/{id}")]);
    }

    #[test]
    fn mangled_json_never_panics_the_stdin_path(
        document in any_json(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        // Near-valid input reaches deeper than random bytes: valid JSON with a few bytes
        // overwritten, read both as a document and as NDJSON lines.
        let mut bytes = document.to_string().into_bytes();
        bytes.push(b'\n');
        for (at, byte) in cuts {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        // `run` checks inside that every refusal names its item and says something; what is
        // asserted here is that no input makes it panic.
        stdin_path::run(&bytes);
    }

    #[test]
    fn a_document_and_the_same_items_as_ndjson_lines_validate_alike(items in prop::collection::vec(any_item(), 0..6)) {
        // Two input paths, one pipeline: an item is valid in a document exactly when it is
        // valid as a line of its own.
        let document = serde_json::to_vec(&items).unwrap();
        let mut lines = Vec::new();
        for item in &items {
            lines.extend(serde_json::to_vec(item).unwrap());
            lines.push(b'\n');
        }
        let as_document = stdin_path::run(&document);
        let as_lines = stdin_path::run(&lines);
        prop_assert_eq!(as_document.document_items, Some(items.len()));
        prop_assert_eq!(as_lines.lines, items.len());
        prop_assert_eq!(as_document.document_valid, as_lines.lines_valid, "items {:?}", items);
    }
}

#[test]
fn the_fuzz_seed_corpus_replays_through_the_stdin_path() {
    let dir = nodehost_e2e::repo_file("fuzz/seeds/run_input");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus of {} files", files.len());
    let mut verdicts = std::collections::BTreeMap::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        verdicts.insert(
            file.file_name().unwrap().to_string_lossy().into_owned(),
            stdin_path::run(&bytes),
        );
    }
    // A few files pin what a user would see from the same input.
    let tour = &verdicts["tour.json"];
    assert_eq!((tour.document_items, tour.document_valid), (Some(5), 5));
    let injection = &verdicts["path-injection.json"];
    assert_eq!((injection.document_items, injection.document_valid), (Some(2), 0));
    let envelope = &verdicts["envelope.json"];
    assert_eq!((envelope.document_items, envelope.document_valid), (Some(3), 3));
    let mixed = &verdicts["mixed.ndjson"];
    assert_eq!((mixed.lines, mixed.lines_valid), (4, 3));
    assert_eq!(verdicts["every-problem.json"].document_valid, 0);
    assert_eq!(verdicts["empty"], stdin_path::Verdict::default());
}
