//! The endpoints around the client API: `health` (no auth), `test-connection`, the sandbox's
//! own `__sandbox/stats`, and Express-style answers for unknown routes. Owns their bodies.

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::accounts::User;
use crate::attempts::Attempts;
use crate::record::now_timestamp;
use crate::responses::{ApiError, express_not_found, json};

/// `GET /api/health`: the server is up. Needs no key.
pub(crate) async fn health() -> Response {
    json(
        StatusCode::OK,
        &json!({"status": "ok", "timestamp": now_timestamp()}),
    )
}

/// `GET /api/test-connection`: who the key belongs to; the natural credential check.
pub(crate) async fn test_connection(Extension(user): Extension<User>) -> Response {
    json(
        StatusCode::OK,
        &json!({"user": {"name": &*user.name, "email": &*user.email}, "authMethod": "api_key"}),
    )
}

/// `GET /api/__sandbox/stats`: request counts per `METHOD /path` since start, faulted attempts
/// included, this endpoint excluded.
pub(crate) async fn stats(State(attempts): State<Attempts>) -> Response {
    json(StatusCode::OK, &json!({"requests": attempts.snapshot()}))
}

/// `PUT`/`PATCH`/`DELETE /api/clients/search`: the vendor routes these to `/clients/:id`, and
/// `search` is no id.
pub(crate) async fn search_is_no_id() -> Response {
    ApiError::ClientNotFound.into_response()
}

/// Any path or method without a route.
pub(crate) async fn no_route(req: Request) -> Response {
    express_not_found(req.method().as_str(), req.uri().path())
}
