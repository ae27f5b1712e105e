//! A typed node written the declared way: one `Operation` per operation, listed with
//! `operations!`, and `NodeInfo` from its defaults. The host reads each operation's spec
//! (hints, locks, description) from the enum, dispatches items and dry runs to the right
//! operation, and takes the first operation as the default when none is named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use nodehost_core::{
    Host, ItemContext, Lock, NoCredentials, Node, NodeError, NodeInfo, Operation, OperationHints,
    OperationSpec, Output, Registry, RunConfig, RunInput, SessionOptions, SetupError,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, json};

/// The session: a prefix every answer carries.
struct Shop(&'static str);

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(inline)]
struct SkuParams {
    /// The article's code.
    sku: String,
}

struct Look;

#[async_trait]
impl Operation for Look {
    type Session = Shop;
    type Params = SkuParams;
    const SPEC: OperationSpec = OperationSpec::new(
        "Look Up",
        "Look up an article",
        OperationHints::READ,
        "Read one article.",
    )
    .reads(&["sku/{sku}"]);

    async fn execute(shop: &Shop, p: SkuParams, _: &ItemContext) -> Result<Vec<Output>, NodeError> {
        let mut out = Map::new();
        out.insert("looked".into(), json!(format!("{}{}", shop.0, p.sku)));
        Ok(vec![out.into()])
    }
}

struct Sell;

#[async_trait]
impl Operation for Sell {
    type Session = Shop;
    type Params = SkuParams;
    const SPEC: OperationSpec = OperationSpec::new(
        "Sell",
        "Sell an article",
        OperationHints::CREATE,
        "Sell one article.",
    )
    .writes(&["sku/{sku}"]);

    async fn execute(shop: &Shop, p: SkuParams, _: &ItemContext) -> Result<Vec<Output>, NodeError> {
        if p.sku == "LOST" {
            // Not this item's doing (say, its worker died with it in flight): the run goes on.
            return Err(NodeError::new("lost in flight")
                .maybe_applied(true)
                .continue_run());
        }
        let mut out = Map::new();
        out.insert("sold".into(), json!(format!("{}{}", shop.0, p.sku)));
        Ok(vec![out.into()])
    }

    async fn dry_run(_: &Shop, p: SkuParams, _: &ItemContext) -> Result<Output, NodeError> {
        let mut out = Map::new();
        out.insert("wouldSell".into(), json!(p.sku));
        Ok(out.into())
    }
}

nodehost_core::operations! {
    /// One item of the shop node.
    #[derive(Clone, PartialEq)]
    enum ShopParams for Shop {
        Look(Look),
        Sell(Sell),
    }
}

struct ShopNode;

#[async_trait]
impl Node for ShopNode {
    type Params = ShopParams;
    type Credentials = NoCredentials;
    type Session = Shop;

    fn info(&self) -> NodeInfo {
        NodeInfo {
            supports_dry_run: true,
            ..NodeInfo::new("shop", "Shop")
        }
    }

    async fn connect(&self, _: Option<NoCredentials>, _: &SessionOptions) -> Result<Shop, SetupError> {
        Ok(Shop("#"))
    }

    async fn execute(
        &self,
        shop: &Shop,
        params: ShopParams,
        item: &ItemContext,
    ) -> Result<Vec<Output>, NodeError> {
        if item.dry_run {
            return Ok(vec![params.dry_run(shop, item).await?]);
        }
        params.execute(shop, item).await
    }
}

fn host() -> Host {
    let mut registry = Registry::new();
    registry.register(ShopNode).unwrap();
    Host::new(registry)
}

#[test]
fn the_specs_become_the_description_and_the_first_operation_is_the_default() {
    let host = host();
    let node = host.node("shop").unwrap();
    let description = node.description();
    assert_eq!(description.default_operation, "look");
    assert_eq!(description.version, 1);
    assert!(description.usable_as_tool);
    let ops: Vec<_> = description
        .operations
        .iter()
        .map(|o| {
            (
                o.value.as_str(),
                o.display_name.as_str(),
                o.action.as_str(),
                o.hints,
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("look", "Look Up", "Look up an article", OperationHints::READ),
            ("sell", "Sell", "Sell an article", OperationHints::CREATE),
        ]
    );
    assert_eq!(
        description.operations[0].description.as_deref(),
        Some("Read one article.")
    );
    let prepared = |item: serde_json::Value| {
        let serde_json::Value::Object(item) = item else {
            unreachable!()
        };
        node.prepare(item, nodehost_core::UnknownFields::Reject)
            .unwrap()
            .locks
    };
    assert_eq!(
        prepared(json!({"operation": "look", "sku": "A1"})),
        [Lock::shared("sku/A1")]
    );
    assert_eq!(
        prepared(json!({"operation": "sell", "sku": "A1"})),
        [Lock::exclusive("sku/A1")]
    );
}

#[tokio::test]
async fn items_and_dry_runs_go_to_their_operation() {
    let host = host();
    let input = RunInput::from_value(json!([{"sku": "A1"}, {"operation": "sell", "sku": "B2"}])).unwrap();
    let document = host.run("shop", input, &RunConfig::default()).await.unwrap();
    let outputs: Vec<_> = document
        .items
        .iter()
        .map(|i| i.json.to_object().unwrap().into_owned())
        .collect();
    assert_eq!(outputs[0]["looked"], "#A1");
    assert_eq!(outputs[1]["sold"], "#B2");

    let input = RunInput::from_value(json!({
        "continueOnFail": true,
        "items": [{"operation": "sell", "sku": "C3"}, {"sku": "D4"}],
    }))
    .unwrap();
    let config = RunConfig {
        dry_run: true,
        ..RunConfig::default()
    };
    let document = host.run("shop", input, &config).await.unwrap();
    assert!(document.error.is_none());
    let first = document.items[0].json.to_object().unwrap();
    assert_eq!(first["wouldSell"], "C3");
    // An operation without a dry run says so, as that item's failure.
    let second = document.items[1].json.to_object().unwrap();
    assert!(
        second["error"].to_string().contains("has no dry run"),
        "{second:?}"
    );
}

#[tokio::test]
async fn a_failure_that_continues_the_run_is_an_error_item_and_the_rest_runs() {
    let host = host();
    // No continue-on-fail: an ordinary failure would stop the run here.
    let items = json!([
        {"operation": "sell", "sku": "A1"},
        {"operation": "sell", "sku": "LOST"},
        {"operation": "sell", "sku": "B2"},
    ]);
    let input = RunInput::from_value(items).unwrap();
    let config = RunConfig {
        concurrency: 1,
        ..RunConfig::default()
    };
    let document = host.run("shop", input, &config).await.unwrap();
    assert!(document.error.is_none(), "{:?}", document.error);
    let outputs: Vec<_> = document
        .items
        .iter()
        .map(|i| i.json.to_object().unwrap().into_owned())
        .collect();
    assert_eq!(outputs.len(), 3);
    assert_eq!(outputs[0]["sold"], "#A1");
    assert_eq!(outputs[1]["error"]["maybeApplied"], true);
    assert_eq!(outputs[2]["sold"], "#B2");
}
