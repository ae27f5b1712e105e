//! The route table and the layers around it (limits, fault injection, authentication). Owns the
//! order those apply in:
//!
//! load shedding → concurrency limit → body limit → timeout → attempt counting and faults →
//! routing → authentication (protected routes only) → handler.
//!
//! The concurrency limit wraps the whole router (a layer added with `Router::layer` would get
//! one semaphore per route).

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::accounts::KeyTable;
use crate::attempts::Attempts;
use crate::config::Limits;
use crate::faults::{self, FaultState};
use crate::store::Store;
use crate::{auth, clients_api, service_api};

/// Everything handlers can ask for; each takes only its part through `FromRef`.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub store: Store,
    pub keys: KeyTable,
    pub faults: FaultState,
}

impl FromRef<AppState> for Store {
    fn from_ref(s: &AppState) -> Self {
        s.store.clone()
    }
}

impl FromRef<AppState> for Attempts {
    fn from_ref(s: &AppState) -> Self {
        s.faults.attempts.clone()
    }
}

/// A service ready for `axum::serve`: the routes inside every limit.
pub(crate) fn service(
    state: AppState,
    limits: &Limits,
) -> impl tower::Service<
    axum::extract::Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let protected = Router::new()
        .route("/api/test-connection", get(service_api::test_connection))
        .route("/api/clients", get(clients_api::list).post(clients_api::create))
        .route(
            "/api/clients/search",
            get(clients_api::search)
                .put(service_api::search_is_no_id)
                .patch(service_api::search_is_no_id)
                .delete(service_api::search_is_no_id),
        )
        .route(
            "/api/clients/{id}",
            get(clients_api::get_one)
                .put(clients_api::update)
                .patch(clients_api::update)
                .delete(clients_api::delete),
        )
        .route("/api/__sandbox/stats", get(service_api::stats))
        .route_layer(middleware::from_fn_with_state(
            state.keys.clone(),
            auth::require_key,
        ));
    let router = Router::new()
        .route("/api/health", get(service_api::health))
        .merge(protected)
        .fallback(service_api::no_route)
        .method_not_allowed_fallback(service_api::no_route)
        .layer(middleware::from_fn_with_state(
            state.faults.clone(),
            faults::inject,
        ))
        // Keep axum's own limit (2 MiB by default) equal to ours, whichever is larger.
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .with_state(state);
    ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async { overloaded() }))
        .load_shed()
        .concurrency_limit(limits.max_concurrent_requests)
        .layer(RequestBodyLimitLayer::new(limits.body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .service(router)
}

/// Shed at once rather than queue: a client under test should see overload, not a hang.
fn overloaded() -> Response {
    let mut response = crate::responses::json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({"message": "Sandbox overloaded: too many concurrent requests"}),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response.into_response()
}
