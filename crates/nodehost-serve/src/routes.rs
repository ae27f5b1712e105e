//! The handlers of the service's routes: authentication, limits, status codes and bodies. Every
//! run goes through the same pipeline as `nodehost run` ([`Host::run`](nodehost_core::Host::run): validation of every
//! item first, then the engine); this file owns only what is HTTP's.
//!
//! Status codes of `POST /v1/nodes/{name}/run`: 200 the run completed (error items under
//! continue-on-fail included); 422 items were invalid and nothing was sent; 424 the run stopped
//! on an item failure (the document says what was applied); 400 the body is not a run envelope
//! or the credentials are missing or unusable; 404 unknown node; 401 no or a wrong token; 413
//! body or item count over the limit; 503 too many runs at once (`Retry-After`), or the run was
//! given up at its deadline or at shutdown. Every error body is `{"error": {"reason", "message"}}`,
//! the run document's own `error` member for runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nodehost_core::{CancellationToken, Document, RequestError, RunConfig, RunDocument, StopReason};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::openapi::{
    ErrorBodyBody, JsonObjectBody, NdjsonLineBody, NodeSummariesBody, RunBodyBody, RunDocumentBody,
    StatusBody, UnavailableBody,
};
use crate::{DEFAULT_CONCURRENCY, Metrics, Served};

struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        let mut body = serde_json::to_vec(&self.0).unwrap_or_default();
        body.push(b'\n');
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response()
    }
}

/// Every answer that is not a run document: `{"error": {"reason", "message"}}`.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct ErrorDetail {
    reason: Reason,
    /// What was wrong and what to do, in words.
    message: String,
}

/// Why a request was not answered with a run document.
#[derive(Debug, Clone, Copy, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Reason {
    /// 401: no bearer token, or not the server's.
    Unauthenticated,
    /// 404: no such endpoint.
    NotFound,
    /// 404: no node of that name.
    UnknownNode,
    /// 404: the node has no operation of that name.
    UnknownOperation,
    /// 404: `/mcp` has no tool to offer (no server-side credentials).
    NoTools,
    /// 400: the body is not JSON; the message gives line and column.
    InvalidJson,
    /// 400: the body is JSON but not a run (an unknown envelope field, a bad parameter).
    InvalidRequest,
    /// 400: the node needs credentials and neither the request nor the server has them.
    MissingCredentials,
    /// 400: the credentials cannot be used (a field missing or of the wrong type).
    InvalidCredentials,
    /// 413: the body is over --max-body-mib.
    BodyTooLarge,
    /// 413: the run holds more items than --max-items.
    TooManyItems,
    /// 408: the body stopped arriving for --idle-timeout.
    RequestTimeout,
    /// 503: every run slot is taken (--max-runs); retry after `Retry-After`.
    Overloaded,
    /// 405: the endpoint does not take that method (`Allow` lists those it takes).
    MethodNotAllowed,
    /// 406: `/mcp` needs `Accept` to list `application/json` and `text/event-stream`.
    NotAcceptable,
    /// 415: `/mcp` takes `application/json` bodies only.
    UnsupportedMediaType,
    /// 403: a `Host` header that is not the server's own (DNS rebinding protection).
    ForbiddenHost,
    /// 500: a defect; the message says what failed.
    Internal,
}

pub(crate) fn error(status: StatusCode, reason: Reason, message: &str) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            reason,
            message: message.to_owned(),
        },
    };
    (status, Json(serde_json::to_value(&body).unwrap_or(Value::Null))).into_response()
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = StatusBody)))]
pub(crate) async fn healthz() -> Response {
    Json(json!({"status": "alive"})).into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", body = JsonObjectBody)))]
pub(crate) async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(crate::openapi::document).clone()).into_response()
}

/// The MCP server (Streamable HTTP, stateless): every node operation the server holds
/// credentials for as a tool. A JSON-RPC message in, its answer out, as the MCP
/// specification's Streamable HTTP transport has them; any MCP client library speaks it.
#[utoipa::path(post, path = "/mcp", tag = "mcp", security(("bearer" = [])),
    request_body(content = JsonObjectBody, description = "A JSON-RPC 2.0 message (`initialize`, `tools/list`, `tools/call`, ...)", content_type = "application/json"),
    responses(
        (status = 200, description = "The JSON-RPC answer", body = JsonObjectBody),
        (status = 202, description = "A notification, accepted"),
        (status = 400, description = "The body is not JSON (a JSON-RPC parse error, code -32700, with a null id), or an unknown `MCP-Protocol-Version` (`invalidRequest`)", body = JsonObjectBody),
        (status = 403, description = "On loopback, a `Host` header that is not a loopback name (`forbiddenHost`: DNS rebinding protection)", body = ErrorBodyBody),
        (status = 404, description = "No node can be offered as a tool: the server has no credentials (`noTools`)", body = ErrorBodyBody),
        (status = 405, description = "A method other than POST (`methodNotAllowed`): the server is stateless, with no stream to GET and no session to DELETE", body = ErrorBodyBody),
        (status = 406, description = "`Accept` does not list both `application/json` and `text/event-stream` (`notAcceptable`)", body = ErrorBodyBody),
        (status = 413, description = "The body is over --max-body-mib (`bodyTooLarge`)", body = ErrorBodyBody),
        (status = 415, description = "The body is not `application/json` (`unsupportedMediaType`)", body = ErrorBodyBody),
        (status = 401, description = "No bearer token, or not the server's (`unauthenticated`)", body = ErrorBodyBody),
    ))]
#[allow(dead_code)] // Documents the rmcp service mounted at `/mcp`.
pub(crate) fn mcp_doc() {}

/// Around `/mcp`: a JSON body that does not parse is JSON-RPC's parse error (-32700, null id,
/// HTTP 400); the transport's own refusals (406, 403, 415, 405, 413, 400), which rmcp answers
/// as plain text, become `{"error": {"reason", "message"}}` like every other route's.
pub(crate) async fn mcp_contract(
    State(served): State<Arc<Served>>,
    request: Request,
    next: Next,
) -> Response {
    let json_body = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let request = if json_body && request.method() == axum::http::Method::POST {
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, served.config.max_body).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Reason::BodyTooLarge,
                    &format!(
                        "the request body is larger than {} MiB (--max-body-mib)",
                        served.config.max_body / (1024 * 1024)
                    ),
                );
            }
        };
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            let answer = json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32700, "message": format!("Parse error: {e}")},
            });
            return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let reason = match status.as_u16() {
        403 => Reason::ForbiddenHost,
        405 => Reason::MethodNotAllowed,
        406 => Reason::NotAcceptable,
        413 => Reason::BodyTooLarge,
        415 => Reason::UnsupportedMediaType,
        _ => Reason::InvalidRequest,
    };
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text
    };
    let mut fixed = error(status, reason, &message);
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        fixed.headers_mut().insert(header::ALLOW, allow.clone());
    }
    fixed
}

/// A method the endpoint does not take: the same JSON error as the rest.
pub(crate) async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        Reason::MethodNotAllowed,
        "this endpoint does not take that method; /openapi.json lists what each endpoint takes",
    )
}

pub(crate) async fn authenticate(
    State(served): State<Arc<Served>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &served.config.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .map(|t| Sha256::digest(t.as_bytes()));
        let ok = given.is_some_and(|g| bool::from(g.as_slice().ct_eq(expected.digest().as_slice())));
        if !ok {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                Reason::Unauthenticated,
                "missing or wrong bearer token: send `Authorization: Bearer TOKEN`",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

/// The token of an `Authorization: Bearer TOKEN` value. The scheme is case-insensitive
/// (RFC 7235, section 2.1): `bearer` and `BEARER` are `Bearer`.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Ready to take a run: a run slot is free.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "A run slot is free", body = StatusBody),
        (status = 503, description = "Every run slot is taken (`overloaded`)", body = ErrorBodyBody),
    ))]
pub(crate) async fn ready(State(served): State<Arc<Served>>) -> Response {
    if served.config.runs.busy() >= served.config.runs.max() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            Reason::Overloaded,
            "every run slot is taken",
        );
    }
    Json(json!({"status": "ready"})).into_response()
}

/// Prometheus metrics: runs by outcome, items by state, run durations, runs in flight.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "OpenMetrics text: `nodehost_runs_total{node,outcome}`, `nodehost_items_total{node,state}`, `nodehost_run_duration_seconds` (histogram), `nodehost_runs_in_flight`", body = String, content_type = "application/openmetrics-text"),
    ))]
pub(crate) async fn metrics(State(served): State<Arc<Served>>) -> Response {
    let busy = served.config.runs.busy();
    served
        .metrics
        .in_flight
        .set(i64::try_from(busy).unwrap_or(i64::MAX));
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &served.metrics.registry).is_err() {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            Reason::Internal,
            "cannot encode the metrics",
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// The nodes this server runs.
#[utoipa::path(get, path = "/v1/nodes", tag = "nodes", security(("bearer" = [])),
    responses(
        (status = 200, description = "One summary per node, as `nodehost list` prints them", body = NodeSummariesBody),
        (status = 401, description = "No bearer token, or not the server's (`unauthenticated`); with `WWW-Authenticate: Bearer`", body = ErrorBodyBody),
    ))]
pub(crate) async fn list(State(served): State<Arc<Served>>) -> Response {
    Json(served.host.registry().summary()).into_response()
}

/// A node's definition: n8n's node description, with its parameters' JSON Schema, as
/// `nodehost describe` prints it and `node-definitions/` holds it.
#[utoipa::path(get, path = "/v1/nodes/{name}", tag = "nodes", security(("bearer" = [])),
    params(("name" = String, Path, description = "The node's name, as `GET /v1/nodes` gives it")),
    responses(
        (status = 200, description = "The definition", body = JsonObjectBody),
        (status = 404, description = "No node of that name (`unknownNode`)", body = ErrorBodyBody),
        (status = 401, description = "No bearer token, or not the server's (`unauthenticated`); with `WWW-Authenticate: Bearer`", body = ErrorBodyBody),
    ))]
pub(crate) async fn definition(State(served): State<Arc<Served>>, Path(name): Path<String>) -> Response {
    match served.host.node(&name) {
        Ok(node) => Json(node.definition().clone()).into_response(),
        Err(e) => request_error(&e),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct SchemaQuery {
    operation: Option<String>,
}

/// The JSON Schema of one item of a run (of one operation's items with `operation`).
#[utoipa::path(get, path = "/v1/nodes/{name}/schema", tag = "nodes", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "The node's name"),
        ("operation" = Option<String>, Query, description = "Only this operation's parameters"),
    ),
    responses(
        (status = 200, description = "A JSON Schema (2020-12)", body = JsonObjectBody),
        (status = 404, description = "No such node (`unknownNode`) or operation (`unknownOperation`, the message lists them)", body = ErrorBodyBody),
        (status = 401, description = "No bearer token, or not the server's (`unauthenticated`); with `WWW-Authenticate: Bearer`", body = ErrorBodyBody),
    ))]
pub(crate) async fn schema(
    State(served): State<Arc<Served>>,
    Path(name): Path<String>,
    query: Result<Query<SchemaQuery>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(&e),
    };
    let node = match served.host.node(&name) {
        Ok(node) => node,
        Err(e) => return request_error(&e),
    };
    match node.schema_of(query.operation.as_deref()) {
        Ok(schema) => Json(schema).into_response(),
        Err(message) => error(StatusCode::NOT_FOUND, Reason::UnknownOperation, &message),
    }
}

/// A query string axum cannot read (`?concurrency=many`): the same JSON error as the rest.
fn bad_query(e: &QueryRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        Reason::InvalidRequest,
        &format!("query string: {}", e.body_text()),
    )
}

fn request_error(e: &RequestError) -> Response {
    let (status, reason): (StatusCode, Reason) = match e {
        RequestError::UnknownNode { .. } => (StatusCode::NOT_FOUND, Reason::UnknownNode),
        RequestError::Setup(nodehost_core::SetupError::MissingCredentials { .. }) => {
            (StatusCode::BAD_REQUEST, Reason::MissingCredentials)
        }
        RequestError::Setup(_) => (StatusCode::BAD_REQUEST, Reason::InvalidCredentials),
        _ => (StatusCode::BAD_REQUEST, Reason::InvalidRequest),
    };
    error(status, reason, &e.to_string())
}

#[derive(serde::Deserialize)]
pub(crate) struct RunQuery {
    /// An `int32` in the published contract: larger values are refused, not clamped.
    concurrency: Option<u32>,
    #[serde(rename = "dryRun", default)]
    dry_run: bool,
}

/// Cancels its run when dropped before the run ended: the client went away.
struct CancelOnDrop(Option<CancellationToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.cancel();
        }
    }
}

/// Run items through a node: every item is validated before anything is sent, then they run
/// with bounded concurrency, retries where safe, and outputs in input order.
#[utoipa::path(post, path = "/v1/nodes/{name}/run", tag = "runs", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "The node's name"),
        ("concurrency" = Option<u32>, Query, description = "Items executing at once (default 8, at most --max-concurrency)"),
        ("dryRun" = Option<bool>, Query, description = "Send no write: each output item lists the requests the item would send (the key redacted); reads a node needs to decide (an upsert's search) are sent and marked. A node that cannot do a dry run is a 400 `invalidRequest`"),
        ("Accept" = Option<String>, Header, description = "`application/x-ndjson` streams one output item per line as they complete, in input order, then a `done` line"),
    ),
    request_body(content = RunBodyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The run completed (under continue-on-fail, failed items are error items)", content(
            (RunDocumentBody = "application/json"),
            (NdjsonLineBody = "application/x-ndjson"),
        )),
        (status = 422, description = "Items were invalid; nothing was sent. `error.reason` is `invalidItems` and `error.invalidItems` names each item and field", body = RunDocumentBody),
        (status = 424, description = "The run stopped on an item failure (`itemFailed`, with `httpStatus` and the API's `details`); `applied`, `notRun` and `maybeApplied` say what happened to every item", body = RunDocumentBody),
        (status = 400, description = "Not JSON (`invalidJson`, with line and column), not a run (`invalidRequest`), or credentials missing (`missingCredentials`) or unusable (`invalidCredentials`)", body = ErrorBodyBody),
        (status = 404, description = "No node of that name (`unknownNode`)", body = ErrorBodyBody),
        (status = 408, description = "The body stopped arriving for --idle-timeout (`requestTimeout`); nothing was run", body = ErrorBodyBody),
        (status = 413, description = "The body is over --max-body-mib (`bodyTooLarge`) or holds more than --max-items items (`tooManyItems`); nothing was run", body = ErrorBodyBody),
        (status = 503, description = "Every run slot is taken (`overloaded`, with `Retry-After`), or the run was given up at --run-deadline or at shutdown (the run document, `cancelled`)", body = UnavailableBody),
        (status = 401, description = "No bearer token, or not the server's (`unauthenticated`); with `WWW-Authenticate: Bearer`", body = ErrorBodyBody),
    ))]
pub(crate) async fn run_node(
    State(served): State<Arc<Served>>,
    Path(name): Path<String>,
    query: Result<Query<RunQuery>, QueryRejection>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return bad_query(&e),
    };
    if query.concurrency.is_some_and(|c| i32::try_from(c).is_err()) {
        return error(
            StatusCode::BAD_REQUEST,
            Reason::InvalidRequest,
            "query string: concurrency is at most 2147483647 (an int32)",
        );
    }
    let ndjson = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/x-ndjson"));
    let Ok(permit) = Arc::clone(&served.config.runs.semaphore).try_acquire_owned() else {
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            Reason::Overloaded,
            "too many runs at once; retry after the time Retry-After gives",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let node = match served.host.node(&name) {
        Ok(node) => node,
        Err(e) => return request_error(&e),
    };
    let bytes = match read_body(body, served.config.max_body, served.config.idle).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Reason::BodyTooLarge,
                &format!(
                    "the request body is larger than {} MiB (--max-body-mib)",
                    served.config.max_body / (1024 * 1024)
                ),
            );
        }
        Err(BodyError::Stalled) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                Reason::RequestTimeout,
                &format!(
                    "the request body stopped arriving for {}s (--idle-timeout); nothing was run",
                    served.config.idle.as_secs_f64()
                ),
            );
        }
        Err(BodyError::Broken) => {
            return error(
                StatusCode::BAD_REQUEST,
                Reason::InvalidRequest,
                "the request body could not be read; nothing was run",
            );
        }
    };
    let mut input = match Document::parse(&bytes).and_then(Document::into_input) {
        Ok(input) => input,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                Reason::InvalidJson,
                &format!("request body: {e}"),
            );
        }
    };
    if input.items.len() > served.config.max_items {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Reason::TooManyItems,
            &format!(
                "the run has {} items; the most one run may hold is {} (--max-items)",
                input.items.len(),
                served.config.max_items
            ),
        );
    }
    if input.credentials.is_none()
        && let Some(kind) = node.credential()
    {
        input.credentials = served.config.credentials.get(&kind.name).cloned();
    }
    let items = input.items.len();
    let continue_on_fail = input.continue_on_fail.unwrap_or(false);
    // `abort` (the deadline, the end of the drain) gives up the items in flight; `cancel` (the
    // client went away) only stops new ones, so those in flight finish and are accounted.
    let abort = served.config.shutdown.child_token();
    let cancel = abort.child_token();
    let config = RunConfig {
        concurrency: query
            .concurrency
            .map_or(DEFAULT_CONCURRENCY, |c| usize::try_from(c).unwrap_or(usize::MAX))
            .clamp(1, served.config.max_concurrency),
        item_deadline: Some(served.config.item_deadline),
        cancel: cancel.clone(),
        abort: abort.clone(),
        node: Arc::from(node.name()),
        dry_run: query.dry_run,
        ..RunConfig::default()
    };
    if ndjson {
        return stream_run(served, node, input, config, cancel, abort, permit).await;
    }
    // The run goes on in its own task: a client that disconnects drops this handler, which
    // cancels the run (no new item starts; the ones in flight finish and are logged).
    let mut guard = CancelOnDrop(Some(cancel.clone()));
    let deadline = served.config.run_deadline;
    let task = {
        let served = Arc::clone(&served);
        let name = name.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let timer = {
                tokio::spawn(async move {
                    tokio::time::sleep(deadline).await;
                    abort.cancel();
                })
            };
            let result = served.host.run(&name, input, &config).await;
            timer.abort();
            match &result {
                Ok(d) => {
                    // Under continue-on-fail a failed item is an error item of a completed run
                    // (a stopped run's report counts them itself). Error items are built by
                    // the engine, never an answer passed through, so only those are looked at.
                    let failed = if continue_on_fail && d.error.is_none() {
                        d.items
                            .iter()
                            .filter(|i| {
                                !i.json.is_passed_through()
                                    && i.json.to_object().is_ok_and(|o| o.contains_key("error"))
                            })
                            .count()
                    } else {
                        0
                    };
                    let tally = Tally {
                        via: "http",
                        items,
                        failed,
                        refused: false,
                    };
                    log_run(
                        &served.metrics,
                        &name,
                        &tally,
                        d.error.as_ref(),
                        started.elapsed(),
                    );
                }
                Err(_) => {
                    let tally = Tally {
                        via: "http",
                        items,
                        failed: 0,
                        refused: true,
                    };
                    log_run(&served.metrics, &name, &tally, None, started.elapsed());
                }
            }
            drop(permit);
            result
        })
    };
    let result = task.await;
    guard.0 = None;
    match result {
        Ok(Ok(document)) => run_response(document),
        Ok(Err(e)) => request_error(&e),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            Reason::Internal,
            "the run ended unexpectedly",
        ),
    }
}

/// Items as NDJSON lines as they complete, in input order; the last line is `{"done": true}`,
/// with the run's `error` when it stopped. Every item is validated first: a refused run is a
/// plain 422 document, since nothing was sent.
async fn stream_run(
    served: Arc<Served>,
    node: Arc<nodehost_core::HostedNode>,
    input: nodehost_core::RunInput,
    mut config: RunConfig,
    cancel: CancellationToken,
    abort: CancellationToken,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Response {
    if let Err(e) = RequestError::check_dry_run(&node, &config) {
        return request_error(&e);
    }
    let secrets = match (node.credential(), &input.credentials) {
        (Some(kind), Some(value)) => nodehost_core::Secrets::of_credentials(kind, value),
        _ => nodehost_core::Secrets::none(),
    };
    let plan = match nodehost_core::Plan::new(
        Arc::clone(&node),
        input.parameters,
        nodehost_core::UnknownFields::Reject,
    ) {
        Ok(p) => p.with_secrets(secrets.clone()),
        Err(e) => return request_error(&e),
    };
    config.continue_on_fail = input.continue_on_fail.unwrap_or(false);
    config.secrets = secrets;
    let total = input.items.len();
    let work = match plan.validate_all(input.items, config.continue_on_fail) {
        Ok(work) => work,
        Err(refused) => return run_response(refused.document(Vec::new(), Some(total))),
    };
    let session = match served.host.session(plan.node(), input.credentials).await {
        Ok(s) => s,
        Err(e) => return request_error(&RequestError::Setup(e)),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let name = node.name().to_owned();
    let deadline = served.config.run_deadline;
    let timer_cancel = abort;
    tokio::spawn(async move {
        let started = Instant::now();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            timer_cancel.cancel();
        });
        let mut sink = LineSink(tx.clone());
        let report =
            nodehost_core::engine::execute(session, futures::stream::iter(work), &config, &mut sink).await;
        timer.abort();
        let error = report.error(Some(total));
        let mut last = json!({"done": true});
        if let Some(e) = &error {
            last["error"] = e.to_value();
        }
        let _ = tx.send(line(&last)).await;
        let tally = Tally {
            via: "http",
            items: total,
            failed: report.failed.count(),
            refused: false,
        };
        log_run(&served.metrics, &name, &tally, error.as_ref(), started.elapsed());
        drop(permit);
    });
    // Dropping the body (the client went away) cancels the run.
    let guard = CancelOnDrop(Some(cancel));
    let stream = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let next = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(next), (rx, guard)))
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        Body::from_stream(stream),
    )
        .into_response()
}

fn line(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

struct LineSink(tokio::sync::mpsc::Sender<Vec<u8>>);

impl nodehost_core::OutputSink for LineSink {
    async fn send(&mut self, item: nodehost_core::OutputItem) -> std::io::Result<()> {
        self.0
            .send(line(&item))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

enum BodyError {
    TooLarge,
    /// Nothing arrived for the idle timeout.
    Stalled,
    Broken,
}

/// The body, up to `max` bytes. Past it the rest is read and dropped (up to 64 MiB more), so
/// the client, still sending, gets to read the 413 rather than a reset connection. A gap of
/// `idle` between two parts ends the read.
async fn read_body(body: Body, max: usize, idle: Duration) -> Result<Vec<u8>, BodyError> {
    use futures::StreamExt as _;
    const DISCARD: usize = 64 * 1024 * 1024;
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    let mut over = false;
    let mut dropped = 0usize;
    loop {
        let chunk = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return Err(BodyError::Stalled),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(chunk))) => chunk,
        };
        if over {
            dropped += chunk.len();
            if dropped > DISCARD {
                break;
            }
        } else if bytes.len() + chunk.len() > max {
            over = true;
            bytes = Vec::new();
        } else {
            bytes.extend_from_slice(&chunk);
        }
    }
    if over { Err(BodyError::TooLarge) } else { Ok(bytes) }
}

fn run_response(document: RunDocument) -> Response {
    let status = match document.error.as_ref().map(|e| e.reason) {
        None => StatusCode::OK,
        Some(StopReason::InvalidItems) => StatusCode::UNPROCESSABLE_ENTITY,
        Some(StopReason::ItemFailed) => StatusCode::FAILED_DEPENDENCY,
        Some(StopReason::Cancelled) => StatusCode::SERVICE_UNAVAILABLE,
        Some(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (
        status,
        Json(serde_json::to_value(&document).unwrap_or(Value::Null)),
    )
        .into_response()
}

/// One line per run for log collectors: node, items, outcome, duration; never a secret.
/// What [`log_run`] counts of one run.
pub(crate) struct Tally {
    /// `http` (a `/v1` run) or `mcp` (a tool call).
    pub(crate) via: &'static str,
    pub(crate) items: usize,
    /// Items that failed; what counts when the run completed (continue-on-fail).
    pub(crate) failed: usize,
    /// Refused before anything ran (bad input, credentials).
    pub(crate) refused: bool,
}

pub(crate) fn log_run(
    metrics: &Metrics,
    node: &str,
    tally: &Tally,
    error: Option<&nodehost_core::RunError>,
    took: Duration,
) {
    let Tally {
        via,
        items,
        failed,
        refused,
    } = *tally;
    let outcome = if refused {
        "refused".to_owned()
    } else {
        error
            .and_then(|e| serde_json::to_value(e.reason).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "completed".to_owned())
    };
    let (applied, maybe) = match error {
        Some(e) => (e.applied.count(), e.maybe_applied.count()),
        None if refused => (0, 0),
        None => (items.saturating_sub(failed), 0),
    };
    let by = |k: &'static str, v: &str| vec![("node", node.to_owned()), (k, v.to_owned())];
    metrics.runs.get_or_create(&by("outcome", &outcome)).inc();
    if let Some(e) = error {
        for (state, n) in [
            ("applied", e.applied.count()),
            ("failed", e.failed.count()),
            ("not_run", e.not_run.count()),
            ("maybe_applied", e.maybe_applied.count()),
        ] {
            metrics.items.get_or_create(&by("state", state)).inc_by(n as u64);
        }
    } else if !refused {
        metrics
            .items
            .get_or_create(&by("state", "applied"))
            .inc_by(applied as u64);
        if failed > 0 {
            metrics
                .items
                .get_or_create(&by("state", "failed"))
                .inc_by(failed as u64);
        }
    }
    if !refused {
        metrics
            .duration
            .get_or_create(&vec![("node", node.to_owned())])
            .observe(took.as_secs_f64());
    }
    tracing::info!(
        via,
        node = %node,
        items,
        applied,
        failed = if error.is_some() { error.map_or(0, |e| e.failed.count()) } else { failed },
        maybe_applied = maybe,
        outcome = %outcome,
        duration_ms = took.as_millis() as u64,
        "run finished"
    );
    if outcome != "completed" && outcome != "refused" {
        tracing::warn!(
            "run of `{node}` ({items} item(s)): {outcome}, {applied} applied, {maybe} maybe applied"
        );
    }
}
