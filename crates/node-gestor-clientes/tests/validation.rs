//! The node's parameter schema as the core's validator applies it: every bad field of an item
//! is reported at once, before anything is sent, with the format's own words.

// Test helpers panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use node_gestor_clientes::ClienteNode;
use nodehost_core::{HostedNode, Plan, Problem, UnknownFields};
use serde_json::{Map, Value, json};

fn problems(item: Value) -> Vec<Problem> {
    let Value::Object(item) = item else { panic!() };
    let node = std::sync::Arc::new(HostedNode::typed(ClienteNode).unwrap());
    let plan = Plan::new(node, Map::new(), UnknownFields::Reject).unwrap();
    match plan.prepare(0, item).1 {
        Ok(_) => Vec::new(),
        Err(nodehost_core::ItemFailure::Invalid(p)) => p.problems,
        Err(other) => panic!("{other:?}"),
    }
}

/// The fields with a problem, each once.
fn paths(item: Value) -> Vec<String> {
    let mut paths: Vec<String> = problems(item).into_iter().map(|p| p.path).collect();
    paths.dedup();
    paths
}

#[test]
fn valid_items_of_every_operation_pass() {
    for item in [
        json!({}),
        json!({"operation": "getAll", "returnAll": false, "limit": 1}),
        json!({"operation": "get", "clientId": 7}),
        json!({"operation": "get", "clientId": "7"}),
        json!({"operation": "delete", "clientId": "0042"}),
        json!({"operation": "create", "name": "Ana", "cpf": "529.982.247-25", "cep": "01310-100",
               "state": "sp", "birthDate": "1990-05-17T00:00:00Z", "email": "ana@example.com",
               "consultationPrice": 0, "status": "active", "paymentStatus": "a_pagar", "phone": null}),
        json!({"operation": "update", "clientId": 5, "email": null}),
    ] {
        assert_eq!(problems(item.clone()), vec![], "{item}");
    }
}

#[test]
fn client_ids_that_could_bend_the_url_are_rejected() {
    for id in [
        json!(0),
        json!(-1),
        json!(1.5),
        json!("0"),
        json!("-1"),
        json!("1.5"),
        json!("12/../7"),
        json!("7?x=1"),
        json!(""),
        json!(null),
        json!(true),
    ] {
        let found = problems(json!({"operation": "get", "clientId": id}));
        assert!(found.iter().any(|p| p.path == "clientId"), "{id}: {found:?}");
    }
}

#[test]
fn every_bad_field_of_a_create_is_reported_at_once() {
    let found = paths(json!({
        "operation": "create",
        "name": "",
        "email": "ana at example",
        "cpf": "12345678900",
        "cep": "123",
        "state": "XX",
        "birthDate": "1990-02-30",
        "status": "gone",
        "paymentStatus": "paid",
        "consultationPrice": -1,
    }));
    for field in [
        "name",
        "email",
        "cpf",
        "cep",
        "state",
        "birthDate",
        "status",
        "paymentStatus",
        "consultationPrice",
    ] {
        assert!(
            found.iter().any(|p| p == field),
            "{field} not reported: {found:?}"
        );
    }
}

#[test]
fn format_problems_say_what_was_expected() {
    let found = problems(json!({"operation": "create", "name": "Ana", "cpf": "11111111111"}));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].message.contains("11-digit CPF with valid check digits"),
        "{}",
        found[0].message
    );
}

#[test]
fn update_needs_a_field_and_a_non_null_name() {
    let found = problems(json!({"operation": "update", "clientId": 5}));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].message.contains("at least one"), "{}", found[0].message);
    assert_eq!(
        paths(json!({"operation": "update", "clientId": 5, "name": null})),
        vec!["name"]
    );
    assert_eq!(
        paths(json!({"operation": "update", "clientId": 5, "name": ""})),
        vec!["name"]
    );
    assert_eq!(
        paths(json!({"operation": "update", "clientId": 5, "status": null})),
        vec!["status"]
    );
}

#[test]
fn get_all_limit_must_be_positive() {
    assert_eq!(
        paths(json!({"operation": "getAll", "returnAll": false, "limit": 0})),
        vec!["limit"]
    );
}

#[test]
fn an_upsert_needs_the_field_it_matches_by() {
    assert_eq!(
        problems(json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "529.982.247-25"})),
        vec![]
    );
    assert_eq!(
        problems(json!({"operation": "upsert", "matchBy": "email", "name": "Ana", "email": "a@b.co"})),
        vec![]
    );
    for item in [
        json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "email": "a@b.co"}),
        json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": null}),
    ] {
        let found = problems(item.clone());
        let text = format!("{found:?}");
        assert!(text.contains("cpf"), "{item}: {text}");
    }
    let found = problems(json!({"operation": "upsert", "matchBy": "phone", "name": "Ana"}));
    assert_eq!(found[0].path, "matchBy", "{found:?}");
    let found = problems(json!({"operation": "upsert", "name": "Ana", "cpf": "529.982.247-25"}));
    assert!(format!("{found:?}").contains("matchBy"), "{found:?}");
}

/// A backend for a node hosted from its description only: never opened here.
struct Unopened;

#[async_trait::async_trait]
impl nodehost_core::DynamicNode for Unopened {
    async fn open(
        &self,
        _: Option<Value>,
        _: &nodehost_core::SessionOptions,
    ) -> Result<std::sync::Arc<dyn nodehost_core::JsonSession>, nodehost_core::SetupError> {
        unreachable!("the test never opens a session")
    }
}

#[test]
fn the_typed_node_validates_as_its_definition_says() {
    // Hosting a typed node reuses the operations split from its generated schema instead of
    // splitting its published `parametersSchema` again; both must give the same node.
    let typed = HostedNode::typed(ClienteNode).unwrap();
    let described = HostedNode::dynamic(
        typed.description().clone(),
        typed.credential().cloned(),
        std::sync::Arc::new(Unopened),
    )
    .unwrap();
    assert_eq!(typed.definition(), described.definition());
    let operations: Vec<&str> = typed.validator().operation_names().collect();
    assert_eq!(
        operations,
        described.validator().operation_names().collect::<Vec<_>>()
    );
    assert!(operations.len() >= 5, "{operations:?}");
    for op in operations.iter().copied().map(Some).chain([None]) {
        assert_eq!(
            typed.item_schema(op),
            described.item_schema(op),
            "operation {op:?}"
        );
    }
    for item in [
        json!({"operation": "create", "name": "", "email": "x", "cpf": "111.111.111-11", "extra": 1}),
        json!({"operation": "update", "clientId": 0}),
        json!({"operation": "getAll", "returnAll": false, "limit": 0}),
        json!({"operation": "get", "clientId": "7"}),
    ] {
        let Value::Object(item) = item else { panic!() };
        let check = |node: &HostedNode| {
            let mut params = item.clone();
            let problems = node.validator().check(&mut params, UnknownFields::Reject);
            (
                problems
                    .into_iter()
                    .map(|p| (p.path, p.message))
                    .collect::<Vec<_>>(),
                params,
            )
        };
        assert_eq!(check(&typed), check(&described), "{item:?}");
    }
}
