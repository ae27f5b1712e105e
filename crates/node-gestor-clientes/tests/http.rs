//! The node at the HTTP boundary: for every operation, the exact request it sends (method,
//! path, headers, body) and what a user gets back, on success and on failure, against a
//! wiremock server standing in for the Gestor Clientes Max API.

// Test helpers panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use node_gestor_clientes::{ClienteNode, ClienteParams, GestorCredentials, GestorSession};
use nodehost_core::{ItemContext, Json, Node, NodeError, Output, SessionOptions, SetupError};
use nodehost_http::{HttpErrorExt as _, HttpOptions, RetryPolicy};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// A canary: it must never appear in any error or debug text.
const KEY: &str = "gck_5ec7e7c0ffee0123456789abcdef0123456789abcdef0123456789abcdef01";

fn http_options() -> HttpOptions {
    HttpOptions {
        retry: RetryPolicy {
            max_tries: 2,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
        },
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    }
}

fn options() -> SessionOptions {
    SessionOptions::new().with(http_options())
}

fn credentials(base_url: &str) -> GestorCredentials {
    GestorCredentials::new(base_url, SecretString::from(KEY))
}

/// A session against the mock, with a trailing slash on the base URL: it must not produce `//`.
async fn session(server: &MockServer) -> GestorSession {
    ClienteNode
        .connect(Some(credentials(&format!("{}/api/", server.uri()))), &options())
        .await
        .unwrap()
}

fn params(value: Value) -> ClienteParams {
    serde_json::from_value(value).unwrap()
}

async fn run(server: &MockServer, value: Value) -> Result<Vec<Output>, NodeError> {
    let session = session(server).await;
    ClienteNode
        .execute(&session, params(value), &ItemContext::detached(0))
        .await
}

async fn respond(server: &MockServer, verb: &str, route: &str, template: ResponseTemplate) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(template)
        .mount(server)
        .await;
}

/// The one request the server received.
async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "expected exactly one request: {requests:?}");
    requests.remove(0)
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

/// Headers every request carries; `Content-Type` only with a body.
fn assert_headers(request: &Request, with_body: bool) {
    let auth = format!("Bearer {KEY}");
    assert_eq!(header(request, "authorization"), Some(auth.as_str()));
    assert_eq!(header(request, "accept"), Some("application/json"));
    if with_body {
        assert_eq!(header(request, "content-type"), Some("application/json"));
    } else {
        assert_eq!(header(request, "content-type"), None);
        assert!(request.body.is_empty());
    }
}

fn assert_no_key(error: &NodeError) {
    let texts = [
        error.to_string(),
        format!("{error:?}"),
        serde_json::to_string(error).unwrap(),
    ];
    for text in texts {
        assert!(!text.contains(KEY), "the key leaked: {text}");
        assert!(!text.contains("5ec7e7c0ffee"), "part of the key leaked: {text}");
    }
}

fn record(id: u64, name: &str) -> Value {
    json!({
        "id": id,
        "userId": "6f1c2a44-8a0e-4a51-9a9e-0d6c4b7a1f00",
        "name": name,
        "email": null,
        "phone": null,
        "status": "active",
        "paymentStatus": "a_pagar",
        "createdAt": "2025-06-24T20:36:45.969Z",
        "updatedAt": "2025-06-24T20:36:45.969Z",
    })
}

fn object(value: Value) -> Json {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

// ---- create ------------------------------------------------------------------------------

#[tokio::test]
async fn create_posts_only_the_given_fields_normalised() {
    let server = MockServer::start().await;
    let created = record(12, "Ana Souza");
    respond(
        &server,
        "POST",
        "/api/clients",
        ResponseTemplate::new(201).set_body_json(&created),
    )
    .await;

    let out = run(
        &server,
        json!({
            "operation": "create",
            "name": "Ana Souza",
            "email": "ana@example.com",
            "cpf": "529.982.247-25",
            "cep": "01310-100",
            "state": "sp",
            "birthDate": "1990-05-17T00:00:00.000Z",
            "status": "inactive",
            "paymentStatus": "pago",
            "consultationPrice": 0,
        }),
    )
    .await
    .unwrap();

    assert_eq!(out, vec![object(created)]);
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/api/clients");
    assert_eq!(request.url.query(), None);
    assert_headers(&request, true);
    assert_eq!(
        request.body_json::<Value>().unwrap(),
        json!({
            "name": "Ana Souza",
            "email": "ana@example.com",
            "cpf": "52998224725",
            "birthDate": "1990-05-17",
            "cep": "01310100",
            "state": "SP",
            "status": "inactive",
            "paymentStatus": "pago",
            "consultationPrice": 0,
        })
    );
}

#[tokio::test]
async fn create_with_a_name_only_sends_just_the_name() {
    let server = MockServer::start().await;
    respond(
        &server,
        "POST",
        "/api/clients",
        ResponseTemplate::new(201).set_body_json(record(1, "Bia")),
    )
    .await;

    run(&server, json!({"operation": "create", "name": "Bia"}))
        .await
        .unwrap();

    let request = only_request(&server).await;
    assert_eq!(request.body_json::<Value>().unwrap(), json!({"name": "Bia"}));
}

#[tokio::test]
async fn create_400_lists_each_zod_issue_and_keeps_them_in_details() {
    let server = MockServer::start().await;
    let issues = json!([
        {"code": "invalid_string", "validation": "email", "path": ["email"], "message": "Invalid email"},
        {"code": "too_small", "minimum": 1, "type": "string", "inclusive": true, "path": ["name"], "message": "Nome é obrigatório"},
    ]);
    respond(
        &server,
        "POST",
        "/api/clients",
        ResponseTemplate::new(400).set_body_json(json!({"message": "Invalid data", "errors": issues})),
    )
    .await;

    let error = run(&server, json!({"operation": "create", "name": "Ana"}))
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        "Gestor Clientes Max API answered 400 Bad Request: Invalid data \
         (email: Invalid email; name: Nome é obrigatório)"
    );
    assert_eq!(error.http_status(), Some(400));
    assert_eq!(error.details, Some(issues));
    assert!(!error.maybe_applied, "the API refused the create");
    assert_no_key(&error);
}

#[tokio::test]
async fn create_500_html_gives_a_clean_excerpt_and_is_never_repeated() {
    let server = MockServer::start().await;
    let page = "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title>\
                <style>h1 { color: red }</style></head>\n<body><h1>Internal   Server Error</h1>\
                <p>The server encountered an internal error &amp; could not complete your request.</p>\
                </body></html>";
    respond(
        &server,
        "POST",
        "/api/clients",
        ResponseTemplate::new(500).set_body_raw(page, "text/html"),
    )
    .await;

    let error = run(&server, json!({"operation": "create", "name": "Ana"}))
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        "Gestor Clientes Max API answered 500 Internal Server Error: 500 Internal Server Error \
         Internal Server Error The server encountered an internal error & could not complete \
         your request."
    );
    assert_eq!(error.http_status(), Some(500));
    assert!(
        error.maybe_applied,
        "a create that met a server error may have been stored"
    );
    only_request(&server).await;
    assert_no_key(&error);
}

#[tokio::test]
async fn create_with_an_unreachable_server_names_the_host() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let session = ClienteNode
        .connect(
            Some(credentials(&format!("http://127.0.0.1:{port}/api"))),
            &options(),
        )
        .await
        .unwrap();

    let error = ClienteNode
        .execute(
            &session,
            params(json!({"operation": "create", "name": "Ana"})),
            &ItemContext::detached(0),
        )
        .await
        .unwrap_err();

    assert!(
        error
            .message
            .starts_with("could not reach the Gestor Clientes Max API: "),
        "{}",
        error.message
    );
    assert!(
        error.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        error.message
    );
    assert!(error.message.contains("connection refused"), "{}", error.message);
    assert_eq!(error.http_status(), None);
    assert!(
        !error.maybe_applied,
        "a refused connection never delivered the create"
    );
    assert_no_key(&error);
}

#[tokio::test]
async fn create_that_timed_out_is_not_repeated_and_may_have_been_applied() {
    let server = MockServer::start().await;
    respond(
        &server,
        "POST",
        "/api/clients",
        ResponseTemplate::new(201)
            .set_body_json(record(1, "Ana"))
            .set_delay(Duration::from_secs(2)),
    )
    .await;
    let options = SessionOptions::new().with(HttpOptions {
        request_timeout: Duration::from_millis(200),
        ..http_options()
    });
    let session = ClienteNode
        .connect(Some(credentials(&format!("{}/api", server.uri()))), &options)
        .await
        .unwrap();

    let error = ClienteNode
        .execute(
            &session,
            params(json!({"operation": "create", "name": "Ana"})),
            &ItemContext::detached(0),
        )
        .await
        .unwrap_err();

    assert!(error.message.contains("timed out"), "{}", error.message);
    assert!(error.message.contains("127.0.0.1"), "{}", error.message);
    assert!(error.maybe_applied, "the create may have reached the server");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_no_key(&error);
}

// ---- getAll ------------------------------------------------------------------------------

#[tokio::test]
async fn get_all_returns_one_item_per_client() {
    let server = MockServer::start().await;
    let clients = json!([record(1, "Ana"), record(2, "Bia"), record(3, "Caio")]);
    respond(
        &server,
        "GET",
        "/api/clients",
        ResponseTemplate::new(200).set_body_json(&clients),
    )
    .await;

    let out = run(&server, json!({"operation": "getAll"})).await.unwrap();

    let want: Vec<Json> = clients.as_array().unwrap().iter().cloned().map(object).collect();
    assert_eq!(out, want);
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/api/clients");
    assert_headers(&request, false);
}

#[tokio::test]
async fn get_all_respects_limit_unless_return_all() {
    let server = MockServer::start().await;
    let clients = json!([record(1, "Ana"), record(2, "Bia"), record(3, "Caio")]);
    respond(
        &server,
        "GET",
        "/api/clients",
        ResponseTemplate::new(200).set_body_json(&clients),
    )
    .await;

    let limited = run(
        &server,
        json!({"operation": "getAll", "returnAll": false, "limit": 2}),
    )
    .await
    .unwrap();
    assert_eq!(
        limited
            .iter()
            .map(|c| c.to_object().unwrap()["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(1), json!(2)]
    );
    let all = run(
        &server,
        json!({"operation": "getAll", "returnAll": true, "limit": 2}),
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 3, "limit only applies when returnAll is false");
}

#[tokio::test]
async fn get_all_rejects_an_answer_that_is_not_an_array() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/clients",
        ResponseTemplate::new(200).set_body_json(json!({"clients": [record(1, "Ana")]})),
    )
    .await;

    let error = run(&server, json!({"operation": "getAll"})).await.unwrap_err();

    assert_eq!(
        error.message,
        "Gestor Clientes Max API answered 200 OK to GET /clients with an object, expected a \
         JSON array of clients"
    );
    assert_no_key(&error);
}

#[tokio::test]
async fn get_all_503_is_retried_then_reported_with_the_attempts() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/clients",
        ResponseTemplate::new(503).set_body_raw("<h1>Service Unavailable</h1>", "text/html"),
    )
    .await;

    let error = run(&server, json!({"operation": "getAll"})).await.unwrap_err();

    assert_eq!(
        error.message,
        "Gestor Clientes Max API answered 503 Service Unavailable after 2 attempts: Service Unavailable"
    );
    assert_eq!(error.http_status(), Some(503));
    assert!(!error.maybe_applied, "a read changes nothing");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

// ---- get ---------------------------------------------------------------------------------

#[tokio::test]
async fn get_fetches_one_client_by_a_digit_string_id() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/clients/7",
        ResponseTemplate::new(200).set_body_json(record(7, "Ana")),
    )
    .await;

    let out = run(&server, json!({"operation": "get", "clientId": "7"}))
        .await
        .unwrap();

    assert_eq!(out, vec![object(record(7, "Ana"))]);
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/api/clients/7");
    assert_headers(&request, false);
}

#[tokio::test]
async fn get_404_passes_the_api_message_through() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/clients/404",
        ResponseTemplate::new(404).set_body_json(json!({"message": "Cliente não encontrado"})),
    )
    .await;

    let error = run(&server, json!({"operation": "get", "clientId": 404}))
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        "Gestor Clientes Max API answered 404 Not Found: Cliente não encontrado"
    );
    assert_eq!(error.http_status(), Some(404));
    assert_no_key(&error);
}

#[tokio::test]
async fn a_401_quotes_the_api_and_points_at_the_key_without_showing_it() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/clients/1",
        ResponseTemplate::new(401).set_body_json(json!({"message": "Acesso negado. Login necessário."})),
    )
    .await;

    let error = run(&server, json!({"operation": "get", "clientId": 1}))
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        "Gestor Clientes Max API answered 401 Unauthorized: Acesso negado. Login necessário. \
         (check apiKey in the gestorClientesMaxApi credentials)"
    );
    assert_eq!(error.http_status(), Some(401));
    assert_no_key(&error);
}

#[tokio::test]
async fn a_proxy_echoing_the_key_never_puts_it_in_the_error() {
    let server = MockServer::start().await;
    let page =
        format!("<html><body><pre>GET /api/clients/1\nAuthorization: Bearer {KEY}</pre></body></html>");
    respond(
        &server,
        "GET",
        "/api/clients/1",
        ResponseTemplate::new(400).set_body_raw(page, "text/html"),
    )
    .await;

    let error = run(&server, json!({"operation": "get", "clientId": 1}))
        .await
        .unwrap_err();

    assert!(
        error.message.contains("Authorization: Bearer [REDACTED]"),
        "{}",
        error.message
    );
    assert_no_key(&error);
}

#[tokio::test]
async fn get_writes_the_answer_out_exactly_as_the_api_sent_it() {
    // Key order, a price's trailing zero and accented text survive byte for byte: the record is
    // passed through, not rebuilt.
    let server = MockServer::start().await;
    let body = r#"{"id":7,"name":"João Araújo","consultationPrice":120.50,"state":"SP","notes":null}"#;
    respond(
        &server,
        "GET",
        "/api/clients/7",
        ResponseTemplate::new(200).set_body_raw(body, "application/json"),
    )
    .await;

    let out = run(&server, json!({"operation": "get", "clientId": 7}))
        .await
        .unwrap();

    assert_eq!(out.len(), 1);
    assert_eq!(serde_json::to_string(&out[0]).unwrap(), body);
    assert_eq!(out[0].to_object().unwrap()["name"], "João Araújo");
}

#[tokio::test]
async fn a_pretty_printed_answer_becomes_a_one_line_output() {
    let server = MockServer::start().await;
    let pretty = serde_json::to_string_pretty(&record(7, "Ana")).unwrap();
    respond(
        &server,
        "GET",
        "/api/clients/7",
        ResponseTemplate::new(200).set_body_raw(pretty, "application/json"),
    )
    .await;

    let out = run(&server, json!({"operation": "get", "clientId": 7}))
        .await
        .unwrap();

    assert_eq!(out, vec![object(record(7, "Ana"))]);
    assert!(!serde_json::to_string(&out[0]).unwrap().contains('\n'));
}

#[tokio::test]
async fn a_record_echoing_the_key_is_output_with_the_key_redacted() {
    let server = MockServer::start().await;
    let echo = json!({"id": 1, "notes": format!("seen: Bearer {KEY}"), KEY: "as a key too"});
    respond(
        &server,
        "GET",
        "/api/clients/1",
        ResponseTemplate::new(200).set_body_json(&echo),
    )
    .await;
    respond(
        &server,
        "GET",
        "/api/clients",
        ResponseTemplate::new(200).set_body_json(json!([record(2, "Bia"), echo])),
    )
    .await;

    let one = run(&server, json!({"operation": "get", "clientId": 1}))
        .await
        .unwrap();
    let all = run(&server, json!({"operation": "getAll", "returnAll": true}))
        .await
        .unwrap();

    for out in [&one[0], &all[1]] {
        let text = serde_json::to_string(out).unwrap();
        assert!(!text.contains(KEY), "{text}");
        assert_eq!(out.to_object().unwrap()["notes"], "seen: Bearer [REDACTED]");
        assert_eq!(out.to_object().unwrap()["[REDACTED]"], "as a key too");
    }
    assert_eq!(all[0], object(record(2, "Bia")));
}

// ---- update ------------------------------------------------------------------------------

#[tokio::test]
async fn update_puts_only_the_given_fields_with_null_and_zero_sent() {
    let server = MockServer::start().await;
    let updated = record(5, "Ana");
    respond(
        &server,
        "PUT",
        "/api/clients/5",
        ResponseTemplate::new(200).set_body_json(&updated),
    )
    .await;

    let out = run(
        &server,
        json!({
            "operation": "update",
            "clientId": "5",
            "email": null,
            "city": "Recife",
            "consultationPrice": 0,
        }),
    )
    .await
    .unwrap();

    assert_eq!(out, vec![object(updated)]);
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "PUT");
    assert_eq!(request.url.path(), "/api/clients/5");
    assert_headers(&request, true);
    assert_eq!(
        request.body_json::<Value>().unwrap(),
        json!({"email": null, "city": "Recife", "consultationPrice": 0})
    );
}

#[tokio::test]
async fn update_404_passes_the_api_message_through() {
    let server = MockServer::start().await;
    respond(
        &server,
        "PUT",
        "/api/clients/99",
        ResponseTemplate::new(404).set_body_json(json!({"message": "Cliente não encontrado"})),
    )
    .await;

    let error = run(
        &server,
        json!({"operation": "update", "clientId": 99, "name": "Ana"}),
    )
    .await
    .unwrap_err();

    assert_eq!(
        error.message,
        "Gestor Clientes Max API answered 404 Not Found: Cliente não encontrado"
    );
    assert!(!error.maybe_applied);
    assert_no_key(&error);
}

#[tokio::test]
async fn update_without_fields_sends_nothing() {
    let server = MockServer::start().await;

    let error = run(&server, json!({"operation": "update", "clientId": 5}))
        .await
        .unwrap_err();

    assert!(error.message.contains("at least one field"), "{}", error.message);
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---- delete ------------------------------------------------------------------------------

#[tokio::test]
async fn delete_with_an_empty_200_confirms_with_the_id() {
    let server = MockServer::start().await;
    respond(&server, "DELETE", "/api/clients/9", ResponseTemplate::new(200)).await;

    let out = run(&server, json!({"operation": "delete", "clientId": "9"}))
        .await
        .unwrap();

    assert_eq!(out, vec![object(json!({"deleted": true, "id": 9}))]);
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "DELETE");
    assert_eq!(request.url.path(), "/api/clients/9");
    assert_headers(&request, false);
}

#[tokio::test]
async fn delete_with_a_204_confirms_with_the_id() {
    let server = MockServer::start().await;
    respond(&server, "DELETE", "/api/clients/9", ResponseTemplate::new(204)).await;

    let out = run(&server, json!({"operation": "delete", "clientId": 9}))
        .await
        .unwrap();

    assert_eq!(out, vec![object(json!({"deleted": true, "id": 9}))]);
}

#[tokio::test]
async fn delete_passes_a_json_body_through() {
    let server = MockServer::start().await;
    let body = json!({"message": "Cliente removido", "id": 9});
    respond(
        &server,
        "DELETE",
        "/api/clients/9",
        ResponseTemplate::new(200).set_body_json(&body),
    )
    .await;

    let out = run(&server, json!({"operation": "delete", "clientId": 9}))
        .await
        .unwrap();

    assert_eq!(out, vec![object(body)]);
}

#[tokio::test]
async fn delete_404_passes_the_api_message_through() {
    let server = MockServer::start().await;
    respond(
        &server,
        "DELETE",
        "/api/clients/9",
        ResponseTemplate::new(404).set_body_json(json!({"message": "Cliente não encontrado"})),
    )
    .await;

    let error = run(&server, json!({"operation": "delete", "clientId": 9}))
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        "Gestor Clientes Max API answered 404 Not Found: Cliente não encontrado"
    );
    assert_no_key(&error);
}

#[tokio::test]
async fn a_404_html_page_hints_at_the_api_segment_of_base_url() {
    let server = MockServer::start().await;
    respond(
        &server,
        "DELETE",
        "/api/clients/9",
        ResponseTemplate::new(404)
            .set_body_raw("<html><body>Cannot DELETE /clients/9</body></html>", "text/html"),
    )
    .await;

    let error = run(&server, json!({"operation": "delete", "clientId": 9}))
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        "Gestor Clientes Max API answered 404 Not Found: Cannot DELETE /clients/9 (is baseUrl the \
         API root, including the /api segment, e.g. https://agenda.example.com/api?)"
    );
}

// ---- credentials -------------------------------------------------------------------------

#[tokio::test]
async fn test_credentials_says_who_the_key_belongs_to() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/test-connection",
        ResponseTemplate::new(200).set_body_json(json!({
            "user": {"name": "Ana Souza", "email": "ana@example.com"},
            "authMethod": "api_key",
        })),
    )
    .await;
    let session = session(&server).await;

    let who = ClienteNode.test_credentials(&session).await.unwrap();

    assert_eq!(who, "key belongs to Ana Souza <ana@example.com> (api_key)");
    let request = only_request(&server).await;
    assert_eq!(request.url.path(), "/api/test-connection");
    assert_headers(&request, false);
}

#[tokio::test]
async fn test_credentials_reports_a_rejected_key() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/test-connection",
        ResponseTemplate::new(401).set_body_json(json!({"message": "Acesso negado. Login necessário."})),
    )
    .await;
    let session = session(&server).await;

    let error = ClienteNode.test_credentials(&session).await.unwrap_err();

    assert!(
        error
            .message
            .contains("401 Unauthorized: Acesso negado. Login necessário."),
        "{}",
        error.message
    );
    assert_no_key(&error);
}

#[tokio::test]
async fn connect_without_credentials_names_the_fields_it_needs() {
    let error = ClienteNode.connect(None, &options()).await.unwrap_err();

    let SetupError::MissingCredentials { credential, fields } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(credential, "gestorClientesMaxApi");
    assert_eq!(fields, &["baseUrl", "apiKey"]);
}

#[tokio::test]
async fn connect_refuses_unusable_base_urls_and_keys_without_showing_the_key() {
    let cases = [
        credentials("http://agenda.example.com/api"),
        credentials("ftp://agenda.example.com/api"),
        credentials("https://user:pass@agenda.example.com/api"),
        credentials("agenda.example.com/api"),
        credentials("https://agenda.example.com/api?token=x"),
        GestorCredentials::new("https://agenda.example.com/api", SecretString::from("  \n")),
        GestorCredentials::new("https://agenda.example.com/api", SecretString::from("gck_a\nb")),
    ];
    for creds in cases {
        let shown = format!("{creds:?}");
        let error = ClienteNode.connect(Some(creds), &options()).await.unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(
            matches!(error, SetupError::InvalidCredentials { .. }),
            "{shown}: {text}"
        );
        assert!(!text.contains("gck_a"), "{text}");
        assert!(!text.contains("pass@"), "{text}");
    }
}

#[tokio::test]
async fn debug_output_of_credentials_and_session_hides_the_key() {
    let server = MockServer::start().await;
    let creds = credentials(&server.uri());
    let session = session(&server).await;
    for text in [
        format!("{creds:?}"),
        format!("{creds:#?}"),
        format!("{session:?}"),
    ] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("5ec7e7c0ffee"), "{text}");
    }
}

#[tokio::test]
async fn base_url_without_trailing_slash_builds_the_same_paths() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/clients/3",
        ResponseTemplate::new(200).set_body_json(record(3, "Caio")),
    )
    .await;
    for base in [format!("{}/api", server.uri()), format!("{}/api//", server.uri())] {
        let session = ClienteNode
            .connect(Some(credentials(&base)), &options())
            .await
            .unwrap();
        ClienteNode
            .execute(
                &session,
                params(json!({"operation": "get", "clientId": 3})),
                &ItemContext::detached(0),
            )
            .await
            .unwrap();
    }
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.url.path() == "/api/clients/3"));
}

#[tokio::test]
async fn search_sends_the_term_encoded_and_returns_one_item_per_match() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/clients/search",
        ResponseTemplate::new(200).set_body_json(json!([record(1, "Ana Maria"), record(2, "Ana Paula")])),
    )
    .await;
    let out = run(
        &server,
        json!({"operation": "search", "q": "Ana & Co", "returnAll": false, "limit": 1}),
    )
    .await
    .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to_value().unwrap()["name"], "Ana Maria");
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/api/clients/search");
    assert_eq!(request.url.query(), Some("q=Ana+%26+Co"));
    assert_headers(&request, false);
}

/// A mock API for upserts: the search answers `found`; POST and PUT answer the body back with
/// an id. Returns the requests it received, after the run.
async fn upsert_against(found: Value, item: Value) -> (Result<Vec<Output>, NodeError>, Vec<Request>) {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        "/api/clients/search",
        ResponseTemplate::new(200).set_body_json(found),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/clients"))
        .respond_with(|r: &Request| {
            let mut body: Value = serde_json::from_slice(&r.body).unwrap();
            body["id"] = json!(100);
            ResponseTemplate::new(201).set_body_json(body)
        })
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(|r: &Request| {
            let mut body = record(7, "Ana");
            for (k, v) in serde_json::from_slice::<Json>(&r.body).unwrap() {
                body[k] = v;
            }
            ResponseTemplate::new(200).set_body_json(body)
        })
        .mount(&server)
        .await;
    let result = run(&server, item).await;
    (result, server.received_requests().await.unwrap())
}

fn described(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            format!(
                "{} {}{}",
                r.method,
                r.url.path(),
                r.url.query().map(|q| format!("?{q}")).unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn upsert_with_no_client_of_that_cpf_creates_it() {
    // The search matches substrings: a longer CPF that contains this one is not the client.
    let (out, requests) = upsert_against(
        json!([{"id": 3, "name": "Bia", "cpf": "152998224725"}]),
        json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "529.982.247-25", "city": "Recife"}),
    )
    .await;
    assert_eq!(
        described(&requests),
        ["GET /api/clients/search?q=52998224725", "POST /api/clients"]
    );
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        body,
        json!({"name": "Ana", "cpf": "52998224725", "city": "Recife"})
    );
    let out = out.unwrap()[0].to_value().unwrap();
    assert_eq!(
        (out["id"].clone(), out["upsert"].clone()),
        (json!(100), json!("created"))
    );
}

#[tokio::test]
async fn upsert_of_a_known_email_puts_only_the_fields_that_differ() {
    let mut stored = record(7, "Ana");
    stored["email"] = json!("ana@example.com");
    stored["phone"] = json!("81 1111");
    let (out, requests) = upsert_against(
        json!([stored]),
        json!({"operation": "upsert", "matchBy": "email", "name": "Ana", "email": "ANA@Example.com", "phone": "81 9999"}),
    )
    .await;
    assert_eq!(
        described(&requests),
        [
            "GET /api/clients/search?q=ana%40example.com",
            "PUT /api/clients/7"
        ]
    );
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(body, json!({"phone": "81 9999"}));
    let out = out.unwrap()[0].to_value().unwrap();
    assert_eq!(out["upsert"], "updated");
    assert_eq!(out["changedFields"], json!(["phone"]));
    assert_eq!(out["phone"], "81 9999");
}

#[tokio::test]
async fn upsert_with_nothing_to_change_sends_no_write() {
    let mut stored = record(7, "Ana");
    stored["cpf"] = json!("52998224725");
    stored["city"] = json!("Recife");
    let (out, requests) = upsert_against(
        json!([stored]),
        json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "52998224725", "city": "Recife"}),
    )
    .await;
    assert_eq!(described(&requests), ["GET /api/clients/search?q=52998224725"]);
    let out = out.unwrap()[0].to_value().unwrap();
    assert_eq!(
        (out["id"].clone(), out["upsert"].clone()),
        (json!(7), json!("unchanged"))
    );
    assert_eq!(out["changedFields"], json!([]));
}

#[tokio::test]
async fn upsert_matching_two_clients_fails_naming_them_and_writes_nothing() {
    let (out, requests) = upsert_against(
        json!([{"id": 3, "cpf": "52998224725"}, {"id": 9, "cpf": "529.982.247-25"}]),
        json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "52998224725"}),
    )
    .await;
    assert_eq!(described(&requests), ["GET /api/clients/search?q=52998224725"]);
    let error = out.unwrap_err();
    assert!(error.message.contains("ids 3, 9"), "{}", error.message);
    assert_eq!(error.details, Some(json!({"matchingIds": [3, 9]})));
    assert_no_key(&error);
}
