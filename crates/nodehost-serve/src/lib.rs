//! nodehost-serve: the host as a stateless HTTP service, as a library an engine mounts.
//!
//! [`router`] builds an [`axum::Router`] over a [`Host`]: list, describe and schema of the
//! nodes, runs (every item validated before anything is sent, then bounded concurrency with
//! input order kept, retries where safe and the stop report, as [`Host::run`] does them), the
//! nodes as MCP tools at `/mcp`, Prometheus metrics, probes and the OpenAPI document. Nest it
//! in an app of your own, or serve it as it is; the accept loop, signals and flags are the
//! caller's (`nodehost serve` is one such caller).
//!
//! ```
//! # use std::sync::Arc;
//! # use axum::body::Body;
//! # use axum::http::Request;
//! # use tower::ServiceExt as _;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut registry = nodehost_core::Registry::new();
//! node_gestor_clientes::register(&mut registry)?;
//! let host = Arc::new(nodehost_core::Host::new(registry));
//! // nodehost's API under /nodehost in an app of the engine's own.
//! let app = axum::Router::new()
//!     .nest("/nodehost", nodehost_serve::router(host, nodehost_serve::ServeConfig::default()));
//! let answer = app
//!     .oneshot(Request::get("/nodehost/v1/nodes").body(Body::empty())?)
//!     .await?;
//! assert_eq!(answer.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! `cargo run -p nodehost-serve --example nest` serves that app on a port with an emulated
//! API behind it.

mod openapi;
mod routes;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use nodehost_core::{CancellationToken, Host, ServerCredentials};
use nodehost_mcp::{McpServer, Offered, ToolFilter};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

pub use openapi::document as openapi_document;

/// Items of one run executing at once when the request does not say.
const DEFAULT_CONCURRENCY: usize = 8;

/// Shortest token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

/// How the service behaves: its token, the credentials it holds, its limits.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The bearer token every `/v1` and `/mcp` request must carry; `None`: no token.
    pub token: Option<Token>,
    /// Credentials for the runs and tool calls whose request brings none.
    pub credentials: ServerCredentials,
    /// Largest request body, in bytes (413 past it).
    pub max_body: usize,
    /// Most items one run may hold (413 past it).
    pub max_items: usize,
    /// Highest `?concurrency` a run may ask for.
    pub max_concurrency: usize,
    /// Runs at once (503 with `Retry-After` past it); shared with the caller to drain.
    pub runs: RunSlots,
    /// How long one run may take before it is given up.
    pub run_deadline: Duration,
    /// How long one item may take.
    pub item_deadline: Duration,
    /// How long a request body may stop arriving before the request is refused (408).
    pub idle: Duration,
    /// Whether the service is reached beyond loopback: `/mcp` then accepts any `Host` header
    /// (the token guards it), where on loopback it refuses non-loopback ones (DNS rebinding).
    pub public: bool,
    /// Cancelled to give up every run in flight (the end of a drain).
    pub shutdown: CancellationToken,
}

impl Default for ServeConfig {
    /// No token, no credentials held, `nodehost serve`'s default limits.
    fn default() -> Self {
        Self {
            token: None,
            credentials: ServerCredentials::new(),
            max_body: 16 * 1024 * 1024,
            max_items: 100_000,
            max_concurrency: 16,
            runs: RunSlots::new(64),
            run_deadline: Duration::from_secs(300),
            item_deadline: Duration::from_secs(15),
            idle: Duration::from_secs(60),
            public: false,
            shutdown: CancellationToken::new(),
        }
    }
}

/// A bearer token, kept only as its SHA-256 and compared in constant time. `Debug` shows
/// nothing of it.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Nothing but white space.
    #[error("the token is empty")]
    Empty,
    /// Fewer than [`MIN_TOKEN_CHARS`] characters.
    #[error("the token is shorter than {MIN_TOKEN_CHARS} characters")]
    TooShort,
}

impl Token {
    /// The token in `text`, surrounding white space (a file's final newline) removed.
    pub fn new(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TokenError::Empty);
        }
        if text.chars().count() < MIN_TOKEN_CHARS {
            return Err(TokenError::TooShort);
        }
        Ok(Self(Sha256::digest(text.as_bytes()).into()))
    }

    fn digest(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The run slots of a service: each run and MCP tool call holds one while it runs. The caller
/// keeps a clone to drain: [`RunSlots::all_free`] completes once every run has ended.
#[derive(Debug, Clone)]
pub struct RunSlots {
    semaphore: Arc<Semaphore>,
    max: usize,
}

impl RunSlots {
    /// `max` runs at once (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Runs in flight now.
    pub fn busy(&self) -> usize {
        self.max.saturating_sub(self.semaphore.available_permits())
    }

    /// The most runs at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Completes once no run holds a slot.
    pub async fn all_free(&self) {
        let n = u32::try_from(self.max).unwrap_or(u32::MAX);
        let _ = self.semaphore.acquire_many(n).await;
    }
}

type Labels = Vec<(&'static str, String)>;

/// What `/metrics` shows, in Prometheus text.
struct Metrics {
    registry: prometheus_client::registry::Registry,
    runs: Family<Labels, Counter>,
    items: Family<Labels, Counter>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = prometheus_client::registry::Registry::with_prefix("nodehost");
        let runs = Family::<Labels, Counter>::default();
        let items = Family::<Labels, Counter>::default();
        let duration: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 18)));
        let in_flight = Gauge::default();
        registry.register("runs", "Runs, by node and outcome", runs.clone());
        registry.register("items", "Items of runs, by node and state", items.clone());
        registry.register_with_unit(
            "run_duration",
            "How long runs took, by node",
            prometheus_client::registry::Unit::Seconds,
            duration.clone(),
        );
        registry.register("runs_in_flight", "Runs executing now", in_flight.clone());
        Self {
            registry,
            runs,
            items,
            duration,
            in_flight,
        }
    }
}

/// What every handler reads.
struct Served {
    metrics: Arc<Metrics>,
    host: Arc<Host>,
    config: ServeConfig,
}

/// The service's routes over `host`: `/v1/nodes...` and `/mcp` (behind the token, when there
/// is one), `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.
pub fn router(host: Arc<Host>, config: ServeConfig) -> Router {
    let metrics = Arc::new(Metrics::new());
    let mcp = mcp_server(&host, &config, &metrics);
    let public = config.public;
    let served = Arc::new(Served {
        metrics,
        host,
        config,
    });
    let mut v1 = Router::new()
        .route("/v1/nodes", get(routes::list))
        .route("/v1/nodes/{name}", get(routes::definition))
        .route("/v1/nodes/{name}/schema", get(routes::schema))
        .route("/v1/nodes/{name}/run", post(routes::run_node));
    v1 = match mcp {
        Some(mcp) => v1.merge(
            Router::new()
                .route_service("/mcp", mcp_service(&served, mcp, public))
                .route_layer(middleware::from_fn_with_state(
                    Arc::clone(&served),
                    routes::mcp_contract,
                )),
        ),
        None => v1.route(
            "/mcp",
            axum::routing::any(|| async {
                routes::error(
                    StatusCode::NOT_FOUND,
                    routes::Reason::NoTools,
                    "no node can be offered over MCP: tools run with the server's credentials; start serve with --credentials FILE or --sandbox",
                )
            }),
        ),
    };
    let v1 = v1.route_layer(middleware::from_fn_with_state(
        Arc::clone(&served),
        routes::authenticate,
    ));
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/openapi.json", get(routes::openapi))
        .route("/readyz", get(routes::ready))
        .route("/metrics", get(routes::metrics))
        .merge(v1)
        .fallback(|| async {
            routes::error(
                StatusCode::NOT_FOUND,
                routes::Reason::NotFound,
                "no such endpoint; see /v1/nodes",
            )
        })
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(served)
}

/// The MCP server of `/mcp`: every operation of the nodes the server holds credentials for (or
/// that need none), each call holding a run slot like a run does. `None` when no node is left.
fn mcp_server(host: &Arc<Host>, config: &ServeConfig, metrics: &Arc<Metrics>) -> Option<McpServer> {
    let offered: Vec<Offered> = host
        .registry()
        .nodes()
        .filter_map(|node| {
            Some(Offered {
                node: Arc::clone(node),
                credentials: config.credentials.for_node(node)?,
            })
        })
        .collect();
    if offered.is_empty() {
        return None;
    }
    let (server, _) = McpServer::new(
        Arc::clone(host),
        offered,
        &ToolFilter::default(),
        Some(config.item_deadline),
    )
    .ok()?;
    let metrics = Arc::clone(metrics);
    // A tool call is a one-item run: counted and logged like one.
    let observer: nodehost_mcp::Observer = Arc::new(move |node, failed, error, took| {
        let tally = routes::Tally {
            via: "mcp",
            items: 1,
            failed,
            refused: false,
        };
        routes::log_run(&metrics, node, &tally, error, took);
    });
    Some(
        server
            .with_slots(Arc::clone(&config.runs.semaphore))
            .with_observer(observer),
    )
}

/// `/mcp`: the MCP server over Streamable HTTP, stateless (no session to pin a client to one
/// replica) with plain JSON answers. Loopback services keep rmcp's DNS-rebinding guard (only
/// loopback `Host`s); public ones have a token, which a rebinding page cannot send, and accept
/// the `Host` a deployment gives them.
fn mcp_service(
    served: &Served,
    mcp: McpServer,
    public: bool,
) -> StreamableHttpService<McpServer, NeverSessionManager> {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(served.config.max_body)
        .with_cancellation_token(served.config.shutdown.child_token());
    if public {
        config = config.disable_allowed_hosts();
    }
    StreamableHttpService::new(
        move || Ok(mcp.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}
