//! `nodehost serve` over real HTTP: the built binary on a free loopback port, with the
//! server-side credentials of an in-process sandbox, called with reqwest.

use std::time::Duration;

use nodehost_e2e::{Action, Interactive, NODE, RawServer, Sandbox, nodehost, tempdir};
use serde_json::{Value, json};

struct Server {
    process: Option<Interactive>,
    base: String,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    token: Option<String>,
}

impl Server {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = nodehost([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--backoff-base-ms",
            "1",
            "--backoff-cap-ms",
            "20",
        ])
        .args(extra)
        .deadline(Duration::from_secs(60));
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let process = cmd.spawn();
        let line = process
            .next_line(Duration::from_secs(20))
            .expect("serve prints where it listens on stdout");
        let listening: Value = serde_json::from_str(&line).expect("a JSON line");
        let token = env
            .iter()
            .find(|(k, _)| *k == "NODEHOST_TOKEN")
            .map(|(_, v)| (*v).to_owned());
        Self {
            process: Some(process),
            base: listening["listening"].as_str().expect("listening").to_owned(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::new(),
            token,
        }
    }

    fn with_sandbox(sandbox: &Sandbox, dir: &std::path::Path) -> Self {
        let creds = sandbox.credentials(dir);
        Self::start(&["--credentials", creds.to_str().unwrap()], &[])
    }

    /// `(status, headers, body as JSON)`.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, reqwest::header::HeaderMap, Value) {
        self.call_with(method, path, body, self.token.as_deref())
    }

    fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.runtime.block_on(async {
            let verb = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = self.http.request(verb, format!("{}{path}", self.base));
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            if let Some(b) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(b.to_owned());
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let text = response.text().await.expect("a body");
            let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
            documented(method, path, status, &headers, &value);
            (status, headers, value)
        })
    }

    fn run(&self, body: &Value) -> (u16, Value) {
        let (status, _, value) = self.call("POST", &format!("/v1/nodes/{NODE}/run"), Some(&body.to_string()));
        (status, value)
    }

    /// `GET /metrics`, which must answer 200, as text.
    fn metrics(&self) -> String {
        self.runtime.block_on(async {
            let r = self
                .http
                .get(format!("{}/metrics", self.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.text().await.unwrap()
        })
    }

    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let process = self.process.take().unwrap();
        process.signal("TERM");
        let (status, _, stderr) = process.wait(Duration::from_secs(30));
        (status, stderr)
    }
}

/// The checked-in OpenAPI document.
fn openapi() -> &'static Value {
    static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(nodehost_e2e::repo_file("openapi.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

/// Every answer these tests see is one the OpenAPI document promises: its status is listed
/// for the endpoint, and its body validates against the schema given for its content type.
fn documented(method: &str, path: &str, status: u16, headers: &reqwest::header::HeaderMap, body: &Value) {
    let path = path.split('?').next().unwrap();
    let parts: Vec<&str> = path.split('/').collect();
    let template = match parts.as_slice() {
        ["", "v1", "nodes", _] => "/v1/nodes/{name}".to_owned(),
        ["", "v1", "nodes", _, tail] => format!("/v1/nodes/{{name}}/{tail}"),
        _ => path.to_owned(),
    };
    let doc = openapi();
    let Some(operation) = doc["paths"][&template].get(method.to_lowercase()) else {
        // Only the fallback answers what the document does not list.
        assert_eq!(
            (status, body["error"]["reason"].as_str()),
            (404, Some("notFound")),
            "{method} {path}"
        );
        return;
    };
    let response = &operation["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {template} answered {status}, which the OpenAPI document does not list"
    );
    let content_type = headers[reqwest::header::CONTENT_TYPE].to_str().unwrap();
    let media = content_type.split(';').next().unwrap();
    let schema = &response["content"][media]["schema"];
    assert!(
        schema.is_object(),
        "{method} {template} {status}: no schema for {media}"
    );
    let root = json!({"allOf": [schema], "components": doc["components"]});
    let validator = jsonschema::validator_for(&root).unwrap();
    if let Err(e) = validator.validate(body) {
        panic!("{method} {template} {status}: the body does not match the document: {e}\n{body}");
    }
}

#[test]
fn the_openapi_document_is_served_as_checked_in() {
    let server = Server::start(&[], &[]);
    let (status, _, served) = server.call("GET", "/openapi.json", None);
    assert_eq!(status, 200);
    assert_eq!(&served, openapi());
}

#[test]
fn lists_describes_and_gives_schemas() {
    let server = Server::start(&[], &[]);
    let (status, _, nodes) = server.call("GET", "/v1/nodes", None);
    assert_eq!(status, 200);
    assert!(
        nodes.as_array().unwrap().iter().any(|n| n["name"] == NODE),
        "{nodes}"
    );

    let (status, _, definition) = server.call("GET", &format!("/v1/nodes/{NODE}"), None);
    assert_eq!(status, 200);
    assert_eq!(definition["name"], NODE);

    let (status, _, schema) = server.call("GET", &format!("/v1/nodes/{NODE}/schema?operation=get"), None);
    assert_eq!(status, 200);
    assert!(
        schema["required"]
            .as_array()
            .unwrap()
            .contains(&json!("clientId")),
        "{schema}"
    );

    let (status, _, body) = server.call("GET", &format!("/v1/nodes/{NODE}/schema?operation=fly"), None);
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (404, Some("unknownOperation"))
    );

    let (status, _, body) = server.call("GET", "/v1/nodes/noSuchNode", None);
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (404, Some("unknownNode"))
    );

    let (status, _, body) = server.call("GET", "/healthz", None);
    assert_eq!((status, &body["status"]), (200, &json!("alive")));
    let (status, _, _) = server.call("GET", "/readyz", None);
    assert_eq!(status, 200);
}

#[test]
fn runs_answer_the_run_document_with_a_status_that_says_what_happened() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let server = Server::with_sandbox(&sandbox, dir.path());

    // Success: the same document `nodehost run` prints.
    let (status, doc) =
        server.run(&json!({"operation": "create", "name": "Ana Served", "email": "ana@example.com"}));
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["items"][0]["json"]["name"], "Ana Served");
    assert_eq!(doc["items"][0]["pairedItem"], json!({"item": 0}));
    assert!(doc.get("error").is_none());
    assert_eq!(sandbox.clients().len(), 1);

    // Invalid items: 422, and nothing reached the API.
    let before = sandbox.total_requests();
    let (status, doc) = server.run(&json!([{"operation": "create", "name": "Ok"}, {"operation": "get"}]));
    assert_eq!(status, 422, "{doc}");
    assert_eq!(doc["error"]["reason"], "invalidItems");
    assert_eq!(doc["error"]["invalidItems"][0]["item"], 1);
    assert_eq!(sandbox.total_requests(), before, "a refused run sends nothing");
    assert_eq!(sandbox.clients().len(), 1);

    // An item failure stops the run: 424 with what was applied. One item at a time, so the
    // item after the failure is certainly not started.
    let body = json!([
        {"operation": "getAll"},
        {"operation": "get", "clientId": 999_999},
        {"operation": "create", "name": "Never"}
    ]);
    let (status, _, doc) = server.call(
        "POST",
        &format!("/v1/nodes/{NODE}/run?concurrency=1"),
        Some(&body.to_string()),
    );
    assert_eq!(status, 424, "{doc}");
    assert_eq!(doc["error"]["reason"], "itemFailed");
    assert_eq!(doc["error"]["httpStatus"], 404);
    assert_eq!(doc["error"]["applied"], json!([[0, 0]]));
    assert_eq!(doc["error"]["notRun"], json!([[2, 2]]));

    // Continue-on-fail: 200 with an error item.
    let (status, doc) =
        server.run(&json!({"continueOnFail": true, "items": [{"operation": "get", "clientId": 999_999}]}));
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["items"][0]["json"]["error"]["httpStatus"], 404);

    // Malformed JSON: 400 with the place.
    let (status, _, body) = server.call("POST", &format!("/v1/nodes/{NODE}/run"), Some("{\"operation\": "));
    assert_eq!(status, 400);
    assert_eq!(body["error"]["reason"], "invalidJson");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("line 1"),
        "{body}"
    );

    // A query string that is not a number: a JSON 400 like every other error.
    let (status, _, body) = server.call(
        "POST",
        &format!("/v1/nodes/{NODE}/run?concurrency=many"),
        Some("[]"),
    );
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (400, Some("invalidRequest"))
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("concurrency"),
        "{body}"
    );

    // Unknown node: 404.
    let (status, _, body) = server.call("POST", "/v1/nodes/noSuchNode/run", Some("[]"));
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (404, Some("unknownNode"))
    );

    // Credentials from the envelope win, and are never echoed.
    let (status, doc) = server.run(&json!({
        "credentials": {"baseUrl": sandbox.base_url(), "apiKey": "wrong-key-but-a-secret-1234"},
        "items": [{"operation": "getAll"}]
    }));
    assert_eq!(status, 424, "{doc}");
    assert_eq!(doc["error"]["httpStatus"], 401);
    assert!(!doc.to_string().contains("wrong-key-but-a-secret-1234"));
    assert!(!doc.to_string().contains(sandbox.api_key()));

    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(sandbox.api_key()), "{stderr}");
}

#[test]
fn missing_credentials_are_a_400_that_says_how_to_give_them() {
    let server = Server::start(&[], &[]);
    let (status, doc) = server.run(&json!({"operation": "getAll"}));
    assert_eq!(status, 400, "{doc}");
    assert_eq!(doc["error"]["reason"], "missingCredentials");
}

#[test]
fn a_token_is_required_when_set_and_compared_exactly() {
    let token = "a-token-of-thirty-two-characters";
    let server = Server::start(&[], &[("NODEHOST_TOKEN", token)]);
    let path = "/v1/nodes";
    let (status, headers, body) = server.call_with("GET", path, None, None);
    assert_eq!(status, 401);
    assert_eq!(body["error"]["reason"], "unauthenticated");
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (status, _, _) = server.call_with("GET", path, None, Some("a-token-of-thirty-two-characterS"));
    assert_eq!(status, 401);
    let (status, _, _) = server.call_with("GET", path, None, Some("a-token-of-thirty-two-character"));
    assert_eq!(status, 401);
    let (status, _, _) = server.call_with("GET", path, None, Some(token));
    assert_eq!(status, 200);
    // Health is for load balancers: no token.
    let (status, _, _) = server.call_with("GET", "/healthz", None, None);
    assert_eq!(status, 200);
    let (_, stderr) = server.stop();
    assert!(!stderr.contains(token), "the token is never logged: {stderr}");
}

#[test]
fn a_public_address_without_a_token_is_refused_at_start() {
    let out = nodehost(["serve", "--listen", "0.0.0.0:0"]).run();
    out.assert_code(2);
    assert!(
        out.stderr_text().contains("without a token"),
        "{}",
        out.stderr_text()
    );
}

#[test]
fn bodies_and_runs_over_the_limits_are_refused_before_anything_is_sent() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let server = Server::start(
        &[
            "--credentials",
            creds.to_str().unwrap(),
            "--max-body-mib",
            "1",
            "--max-items",
            "3",
        ],
        &[],
    );
    let big = json!({"operation": "create", "name": "x".repeat(2 * 1024 * 1024)});
    let (status, doc) = server.run(&big);
    assert_eq!(
        (status, doc["error"]["reason"].as_str()),
        (413, Some("bodyTooLarge")),
        "{doc}"
    );
    let four: Vec<Value> = (0..4)
        .map(|i| json!({"operation": "create", "name": format!("c{i}")}))
        .collect();
    let (status, doc) = server.run(&Value::Array(four));
    assert_eq!(
        (status, doc["error"]["reason"].as_str()),
        (413, Some("tooManyItems")),
        "{doc}"
    );
    assert_eq!(sandbox.total_requests(), 0);
}

#[test]
fn runs_beyond_the_limit_get_503_and_sigterm_gives_up_a_stuck_run_with_its_report() {
    // The API answers headers, then stalls: the one run slot stays taken until shutdown.
    let api = RawServer::start(|_, _| Action::StallAfterHeaders);
    let server = Server::start(
        &[
            "--max-runs",
            "1",
            "--drain",
            "1",
            "--deadline",
            "600",
            "--timeout",
            "600",
        ],
        &[],
    );
    let envelope = json!({
        "credentials": {"baseUrl": api.base_url(), "apiKey": "k"},
        "items": [{"operation": "create", "name": "Stuck"}]
    });
    let url = format!("{}/v1/nodes/{NODE}/run", server.base);
    let first = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = reqwest::Client::new()
                .post(url)
                .body(envelope.to_string())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    });
    // The run holds its slot once its request reached the API.
    while api.seen().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, headers, body) = server.call("POST", &format!("/v1/nodes/{NODE}/run"), Some("[]"));
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (503, Some("overloaded")),
        "{body}"
    );
    assert_eq!(headers["retry-after"], "1");
    let (status, _, _) = server.call("GET", "/readyz", None);
    assert_eq!(status, 503);

    let (exit, stderr) = server.stop();
    assert_eq!(exit.code(), Some(0), "{stderr}");
    let (status, doc) = first.join().unwrap();
    assert_eq!(status, 503, "{doc}");
    assert_eq!(doc["error"]["reason"], "cancelled");
    assert_eq!(
        doc["error"]["maybeApplied"],
        json!([[0, 0]]),
        "a create given up may have been applied: {doc}"
    );
    api.stop();
}

#[test]
fn ndjson_streams_one_item_per_line_in_input_order_then_the_report() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let server = Server::with_sandbox(&sandbox, dir.path());
    let items: Vec<Value> = (0..40)
        .map(|i| json!({"operation": "create", "name": format!("Client {i:02}")}))
        .chain([json!({"operation": "get", "clientId": 999_999})])
        .collect();
    let url = format!("{}/v1/nodes/{NODE}/run?concurrency=16", server.base);
    let (status, kind, text) = server.runtime.block_on(async {
        let r = server
            .http
            .post(url)
            .header("accept", "application/x-ndjson")
            .body(Value::Array(items).to_string())
            .send()
            .await
            .unwrap();
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        (r.status().as_u16(), kind, r.text().await.unwrap())
    });
    assert_eq!((status, kind.as_str()), (200, "application/x-ndjson"));
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 41, "40 items and the report: {text}");
    for (i, line) in lines[..40].iter().enumerate() {
        assert_eq!(line["pairedItem"]["item"], i);
        assert_eq!(line["json"]["name"], format!("Client {i:02}"));
    }
    let last = &lines[40];
    assert_eq!(last["done"], true);
    assert_eq!(last["error"]["reason"], "itemFailed");
    assert_eq!(last["error"]["applied"], json!([[0, 39]]));
    assert_eq!(last["error"]["failed"], json!([[40, 40]]));
    assert_eq!(sandbox.clients().len(), 40, "each created once");

    // A refused run is a plain 422 document: nothing was sent, nothing to stream.
    let (status, _, body) = server.runtime.block_on(async {
        let r = server
            .http
            .post(format!("{}/v1/nodes/{NODE}/run", server.base))
            .header("accept", "application/x-ndjson")
            .body(r#"[{"operation":"get"}]"#)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), (), r.json::<Value>().await.unwrap())
    });
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (422, Some("invalidItems"))
    );
}

#[test]
fn a_client_that_disconnects_cancels_its_run() {
    // Every request stalls until the attempt's timeout: item 0 is in flight when the client
    // goes away. Under continue-on-fail a run that was not cancelled would go on to all five.
    let api = RawServer::start(|_, _| Action::StallAfterHeaders);
    let server = Server::start(&["--max-tries", "1", "--timeout", "3"], &[]);
    let envelope = json!({
        "credentials": {"baseUrl": api.base_url(), "apiKey": "k"},
        "continueOnFail": true,
        "items": (0..5).map(|_| json!({"operation": "getAll"})).collect::<Vec<_>>()
    });
    let url = format!("{}/v1/nodes/{NODE}/run?concurrency=1", server.base);
    let (hang_up, hung_up) = tokio::sync::oneshot::channel::<()>();
    let client = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let request = reqwest::Client::new().post(url).body(envelope.to_string()).send();
            tokio::select! {
                _ = request => panic!("the run answered although its items stall"),
                _ = hung_up => {}
            }
        });
    });
    while api.seen().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    hang_up.send(()).unwrap();
    client.join().unwrap();
    // SIGTERM waits for the run to end (its item in flight times out), then exits.
    let (exit, stderr) = server.stop();
    assert_eq!(exit.code(), Some(0), "{stderr}");
    assert_eq!(
        api.seen().len(),
        1,
        "no item started after the client went away; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("run of `gestorClientesMaxCliente` (5 item(s)): cancelled"),
        "{stderr}"
    );
    api.stop();
}

#[test]
fn metrics_count_runs_and_items_by_outcome() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let server = Server::with_sandbox(&sandbox, dir.path());
    let (status, _) =
        server.run(&json!([{"operation": "create", "name": "A"}, {"operation": "create", "name": "B"}]));
    assert_eq!(status, 200);
    let (status, _) = server.run(&json!({"operation": "get"}));
    assert_eq!(status, 422);
    let text = server.metrics();
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(
        has(r#"nodehost_runs_total{node="gestorClientesMaxCliente",outcome="completed"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"nodehost_runs_total{node="gestorClientesMaxCliente",outcome="invalidItems"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"nodehost_items_total{node="gestorClientesMaxCliente",state="applied"} 2"#),
        "{text}"
    );
    assert!(
        has(r#"nodehost_items_total{node="gestorClientesMaxCliente",state="failed"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"nodehost_run_duration_seconds_count{node="gestorClientesMaxCliente"} 2"#),
        "{text}"
    );
    assert!(has("nodehost_runs_in_flight 0"), "{text}");
}

/// An MCP client (rmcp's, over Streamable HTTP) against `/mcp`: the token is required, the
/// tools are the node's operations, and a call runs with the server's credentials.
#[test]
fn mcp_is_served_at_slash_mcp_over_streamable_http_with_the_token() {
    use rmcp::ServiceExt as _;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let token = "a-token-of-thirty-two-characters";
    let server = Server::start(
        &["--credentials", creds.to_str().unwrap()],
        &[("NODEHOST_TOKEN", token)],
    );
    let url = format!("{}/mcp", server.base);

    // Without the token: 401 before MCP sees the request.
    let (status, headers, body) = server.call_with(
        "POST",
        "/mcp",
        Some(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
        None,
    );
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (401, Some("unauthenticated"))
    );
    assert_eq!(headers["www-authenticate"], "Bearer");

    server.runtime.block_on(async {
        let config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(token);
        let client =
            ().serve(StreamableHttpClientTransport::from_config(config))
                .await
                .expect("the MCP handshake over HTTP succeeds");
        let tools = client.list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        for op in ["create", "get", "getAll", "update", "delete"] {
            assert!(names.contains(&format!("{NODE}_{op}").as_str()), "{names:?}");
        }

        let created = client
            .call_tool(
                CallToolRequestParams::new(format!("{NODE}_create")).with_arguments(
                    json!({"name": "Ana MCP", "email": "ana.mcp@example.com"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(created.is_error, Some(false), "{created:?}");
        let item = &created.structured_content.clone().unwrap()["items"][0];
        assert_eq!(item["name"], "Ana MCP");

        // A failure the model can act on is a result, and never shows the key.
        let missing = client
            .call_tool(
                CallToolRequestParams::new(format!("{NODE}_get"))
                    .with_arguments(json!({"clientId": 999_999}).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        assert_eq!(missing.is_error, Some(true));
        let text = format!("{missing:?}");
        assert!(text.contains("404"), "{text}");
        assert!(!text.contains(sandbox.api_key()), "{text}");
        client.cancel().await.unwrap();
    });
    assert_eq!(sandbox.clients().len(), 1, "the create ran once");
    // Each tool call is a one-item run in /metrics: both completed, one item failed.
    let text = server.metrics();
    for line in [
        r#"nodehost_runs_total{node="gestorClientesMaxCliente",outcome="completed"} 2"#,
        r#"nodehost_items_total{node="gestorClientesMaxCliente",state="applied"} 1"#,
        r#"nodehost_items_total{node="gestorClientesMaxCliente",state="failed"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
    }
    let (status, stderr) = server.stop();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains(token) && !stderr.contains(sandbox.api_key()),
        "{stderr}"
    );
}

#[test]
fn mcp_without_server_side_credentials_says_how_to_give_them() {
    let server = Server::start(&[], &[]);
    let (status, _, body) = server.call(
        "POST",
        "/mcp",
        Some(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
    );
    assert_eq!((status, body["error"]["reason"].as_str()), (404, Some("noTools")));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--credentials"),
        "{body}"
    );
}

/// A connection that sends nothing, or stops in the middle of a request, is closed after
/// `--idle-timeout`; one that sent half a body gets a 408 first. The test waits for what the
/// server does (the close), not for how long it takes.
#[test]
fn idle_and_stalled_connections_are_closed_after_the_idle_timeout() {
    use std::io::{Read as _, Write as _};
    let server = Server::start(&["--idle-timeout", "0.5"], &[]);
    let addr = server.base.trim_start_matches("http://").to_owned();

    // Connected, nothing sent: closed without an answer.
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    let read = silent.read_to_end(&mut buf);
    assert!(read.is_ok(), "closed, not timed out on our side: {read:?}");

    // Half a body: 408, and nothing run.
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        half,
        "POST /v1/nodes/{NODE}/run HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"operation\""
    )
    .unwrap();
    let mut answer = String::new();
    let _ = half.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("requestTimeout"), "{answer}");

    // The server itself is fine.
    let (status, _, _) = server.call("GET", "/healthz", None);
    assert_eq!(status, 200);
}

#[test]
fn a_dry_run_over_http_sends_no_write() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let server = Server::with_sandbox(&sandbox, dir.path());
    let body = json!([{"operation": "create", "name": "Ana"}, {"operation": "delete", "clientId": 1}]);
    let (status, _, doc) = server.call(
        "POST",
        &format!("/v1/nodes/{NODE}/run?dryRun=true"),
        Some(&body.to_string()),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["items"][0]["json"]["requests"][0]["method"], "POST");
    assert_eq!(doc["items"][1]["json"]["requests"][0]["method"], "DELETE");
    assert_eq!(sandbox.total_requests(), 0, "nothing reached the API");
    assert!(!doc.to_string().contains(sandbox.api_key()));
}
