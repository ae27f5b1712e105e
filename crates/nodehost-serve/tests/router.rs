//! The service in-process, as an engine mounts it: nested under a prefix of an axum app of its
//! own and called with `oneshot`, no socket and no process. The emulated API behind it is real
//! HTTP on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use nodehost_core::{Emulator as _, EmulatorConfig, Host, Registry, RunningEmulator, ServerCredentials};
use nodehost_serve::{ServeConfig, Token};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const NODE: &str = "gestorClientesMaxCliente";
const TOKEN: &str = "a-token-of-twenty-chars";

struct Engine {
    app: Router,
    api: Box<dyn RunningEmulator>,
}

async fn engine(token: Option<&str>, hold_credentials: bool) -> Engine {
    let mut registry = Registry::new();
    node_gestor_clientes::register(&mut registry).unwrap();
    let api = node_gestor_clientes::GestorEmulator
        .start(EmulatorConfig {
            seed: 3,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
    let mut credentials = ServerCredentials::new();
    if hold_credentials {
        credentials.hold(node_gestor_clientes::CREDENTIAL_NAME, api.credentials());
    }
    let config = ServeConfig {
        token: token.map(|t| Token::new(t).unwrap()),
        credentials,
        ..ServeConfig::default()
    };
    let app = Router::new()
        .route("/", axum::routing::get(|| async { "engine" }))
        .nest(
            "/nodehost",
            nodehost_serve::router(Arc::new(Host::new(registry)), config),
        );
    Engine { app, api }
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let answer = app.clone().oneshot(request).await.unwrap();
    let status = answer.status();
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

fn run(body: &Value) -> Request<Body> {
    Request::post(format!("/nodehost/v1/nodes/{NODE}/run"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn nested_under_a_prefix_it_lists_describes_and_leaves_the_engine_routes_alone() {
    let e = engine(None, true).await;
    let (status, list) = call(
        &e.app,
        Request::get("/nodehost/v1/nodes").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.as_array().unwrap().iter().any(|n| n["name"] == NODE),
        "{list}"
    );
    let (status, definition) = call(
        &e.app,
        Request::get(format!("/nodehost/v1/nodes/{NODE}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(definition["name"], NODE);
    let (status, page) = call(&e.app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!((status, page), (StatusCode::OK, json!("engine")));
    let (status, missing) = call(&e.app, Request::get("/nodehost/v2").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["reason"], "notFound");
    e.api.stop().await.unwrap();
}

#[tokio::test]
async fn a_run_with_the_held_credentials_answers_items_in_input_order() {
    let e = engine(None, true).await;
    let items = json!([
        {"operation": "get", "clientId": 2},
        {"operation": "create", "name": "Ana Souza"},
        {"operation": "get", "clientId": 1},
    ]);
    let (status, document) = call(&e.app, run(&items)).await;
    assert_eq!(status, StatusCode::OK, "{document}");
    let items = document["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["json"]["id"], 2);
    assert_eq!(items[1]["json"]["name"], "Ana Souza");
    assert_eq!(items[2]["json"]["id"], 1);
    let paired: Vec<&Value> = items.iter().map(|i| &i["pairedItem"]["item"]).collect();
    assert_eq!(paired, [&json!(0), &json!(1), &json!(2)]);
    e.api.stop().await.unwrap();
}

#[tokio::test]
async fn an_invalid_item_refuses_the_run_and_nothing_is_created() {
    let e = engine(None, true).await;
    let items = json!([{"operation": "create", "name": "Bia"}, {"operation": "create"}]);
    let (status, document) = call(&e.app, run(&items)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{document}");
    assert_eq!(document["error"]["reason"], "invalidItems");
    let (_, listed) = call(&e.app, run(&json!({"operation": "getAll"}))).await;
    let names: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["json"]["name"])
        .collect();
    assert!(
        !names.contains(&&json!("Bia")),
        "the valid item was not sent either: {names:?}"
    );
    assert_eq!(names.len(), 3);
    e.api.stop().await.unwrap();
}

#[tokio::test]
async fn without_held_credentials_a_run_must_bring_its_own() {
    let e = engine(None, false).await;
    let (status, body) = call(&e.app, run(&json!([{"operation": "get", "clientId": 1}]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["reason"], "missingCredentials");
    let envelope =
        json!({"credentials": e.api.credentials(), "items": [{"operation": "get", "clientId": 1}]});
    let (status, body) = call(&e.app, run(&envelope)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = e.api.credentials()["apiKey"].as_str().unwrap().to_owned();
    assert!(!body.to_string().contains(&key), "the key is never in an answer");
    let (status, body) = call(
        &e.app,
        Request::post("/nodehost/mcp").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["reason"], "noTools");
    e.api.stop().await.unwrap();
}

#[tokio::test]
async fn with_a_token_the_api_needs_it_and_the_probes_do_not() {
    let e = engine(Some(TOKEN), true).await;
    let (status, body) = call(
        &e.app,
        Request::get("/nodehost/v1/nodes").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["reason"], "unauthenticated");
    let with = |token: &str| {
        Request::get("/nodehost/v1/nodes")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        call(&e.app, with("not-the-token-at-all")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call(&e.app, with(TOKEN)).await.0, StatusCode::OK);
    // The scheme is case-insensitive (RFC 7235); the token is not.
    for value in [format!("bearer {TOKEN}"), format!("BEARER  {TOKEN}")] {
        let request = Request::get("/nodehost/v1/nodes")
            .header(header::AUTHORIZATION, value)
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(&e.app, request).await.0, StatusCode::OK);
    }
    assert_eq!(
        call(&e.app, with(&TOKEN.to_uppercase())).await.0,
        StatusCode::UNAUTHORIZED
    );
    for probe in ["/nodehost/healthz", "/nodehost/readyz", "/nodehost/openapi.json"] {
        let (status, _) = call(&e.app, Request::get(probe).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{probe}");
    }
    e.api.stop().await.unwrap();
}

#[test]
fn a_short_token_is_refused_and_debug_shows_none_of_it() {
    assert_eq!(Token::new("  \n").unwrap_err().to_string(), "the token is empty");
    assert!(
        Token::new("short")
            .unwrap_err()
            .to_string()
            .contains("shorter than 16")
    );
    let token = Token::new(TOKEN).unwrap();
    assert!(!format!("{token:?}").contains("twenty"));
}

#[tokio::test]
async fn a_concurrency_past_int32_is_refused_as_the_contract_says() {
    let e = engine(None, true).await;
    for (query, status) in [
        ("2147483647", StatusCode::OK),
        ("2147483648", StatusCode::BAD_REQUEST),
        ("18446744073709551615", StatusCode::BAD_REQUEST),
        ("many", StatusCode::BAD_REQUEST),
    ] {
        let request = Request::post(format!("/nodehost/v1/nodes/{NODE}/run?concurrency={query}"))
            .body(Body::from(r#"{"operation": "get", "clientId": 1}"#))
            .unwrap();
        let (got, body) = call(&e.app, request).await;
        assert_eq!(got, status, "{query}: {body}");
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(body["error"]["reason"], "invalidRequest", "{query}");
        }
    }
    e.api.stop().await.unwrap();
}

#[test]
fn the_published_run_body_refuses_what_the_server_refuses() {
    let document = nodehost_serve::openapi_document();
    let schema = &document["components"]["schemas"]["RunBody"];
    let validator = jsonschema::validator_for(schema).unwrap();
    for valid in [
        json!({"operation": "get", "clientId": 1}),
        json!([{"operation": "get", "clientId": 1}]),
        json!({"items": [{"operation": "get", "clientId": 1}], "continueOnFail": true}),
    ] {
        assert!(validator.is_valid(&valid), "{valid}");
    }
    // An object with `items` is an envelope, and its items are an array.
    for invalid in [json!({"items": "x"}), json!({"parameters": 1}), json!("text")] {
        assert!(!validator.is_valid(&invalid), "{invalid}");
    }
}

#[tokio::test]
async fn every_refusal_of_mcp_and_of_a_method_is_the_json_error_body() {
    let e = engine(None, true).await;
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let mcp = |content_type: &str, accept: &str, host: &str, body: String| {
        Request::post("/nodehost/mcp")
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ACCEPT, accept)
            .header(header::HOST, host)
            .body(Body::from(body))
            .unwrap()
    };
    let both = "application/json, text/event-stream";
    // The way in works: an initialize is answered.
    let (status, answer) = call(
        &e.app,
        mcp("application/json", both, "localhost", initialize.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"]["serverInfo"]["name"], "nodehost");

    for (request, status, reason) in [
        (
            mcp("text/plain", both, "localhost", initialize.to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupportedMediaType",
        ),
        (
            mcp(
                "application/json",
                "application/json",
                "localhost",
                initialize.to_string(),
            ),
            StatusCode::NOT_ACCEPTABLE,
            "notAcceptable",
        ),
        (
            mcp("application/json", both, "evil.example", initialize.to_string()),
            StatusCode::FORBIDDEN,
            "forbiddenHost",
        ),
        (
            Request::get("/nodehost/mcp")
                .header(header::ACCEPT, both)
                .header(header::HOST, "localhost")
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "methodNotAllowed",
        ),
        (
            Request::put("/nodehost/v1/nodes").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "methodNotAllowed",
        ),
    ] {
        let (got, body) = call(&e.app, request).await;
        assert_eq!(
            (got, &body["error"]["reason"]),
            (status, &json!(reason)),
            "{body}"
        );
        assert!(
            body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }

    // A body that is not JSON is JSON-RPC's parse error, with a null id.
    let (status, answer) = call(
        &e.app,
        mcp("application/json", both, "localhost", "{not json".into()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
    assert_eq!(answer["id"], Value::Null);
    e.api.stop().await.unwrap();
}
