//! The client: one pooled `reqwest` client per run, the attempt loop, bounded body reads.
//!
//! Owns *how* a request is carried out: timeouts, keep-alive, rate limiting, retries (by
//! asking `crate::retry::decide`), and reading at most `max_response_bytes`. It does
//! not judge statuses: any final answer is returned as a [`Response`] so the node can report
//! the API's own message.
//!
//! This sits on the hot path of every item, so per request it builds nothing it can share:
//! the `reqwest` client, its connection pool and the default headers live in one `Arc`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use nodehost_core::ItemContext;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use crate::classify::{Timeouts, classify};
use crate::error::HttpError;
use crate::limiter::RateLimiter;
use crate::message::{Request, Response, application_json};
use crate::options::{HttpOptions, RetryPolicy};
use crate::redact::{check_url, target};
use crate::retry::{self, Decision, Failure};

/// Idle keep-alive connections are dropped after this long. Node.js servers (the usual
/// backend of such APIs) close idle connections after 5 s; closing ours first avoids reusing a
/// connection the server is closing, which would fail a create with "maybe sent".
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Bodies up to this size are read by every item at once. A larger one is read by one item at
/// a time per session, so the answers being read cost at most `concurrency` times this plus
/// one `max_response_bytes`, not `concurrency` times the limit (2 GB at `-j 128` before).
pub const SMALL_BODY_BYTES: usize = 256 * 1024;

/// Pre-allocation for a body of announced length; larger bodies grow as they arrive, so a
/// lying `Content-Length` cannot make us reserve the whole limit up front.
const MAX_BODY_PREALLOC: usize = SMALL_BODY_BYTES;

/// Retries stop for the whole session once this many attempts in a row, across all its items,
/// failed transiently with no usable answer in between: a server that is down is given up on
/// after a bounded number of retries rather than `max_tries` per item. Any answer closes it.
pub const BREAKER_FAILURES: u32 = 64;

/// Sent with every request, so API operators can tell who is calling.
pub const USER_AGENT: &str = concat!("nodehost/", env!("CARGO_PKG_VERSION"));

/// Requests tried again, across every client of the process (for a progress display).
static RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many requests were tried again so far in this process.
pub fn retries() -> u64 {
    RETRIES.load(Ordering::Relaxed)
}

/// An HTTP client for one run: cheap to clone, every clone shares the connection pool and the
/// rate limiter.
#[derive(Clone)]

pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    retry: RetryPolicy,
    /// Transient failures in a row across the session, with no answer in between.
    failures_in_a_row: AtomicU32,
    /// Held while reading a body past [`SMALL_BODY_BYTES`].
    large_body: tokio::sync::Semaphore,
    timeouts: Timeouts,
    max_response_bytes: usize,
    allow_insecure_http: bool,
    limiter: Option<RateLimiter>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Configuration only: the client holds no secret, but say so by construction.
        let inner = &self.inner;
        f.debug_struct("HttpClient")
            .field("retry", &inner.retry)
            .field("connect_timeout", &inner.timeouts.connect)
            .field("request_timeout", &inner.timeouts.request)
            .field("max_response_bytes", &inner.max_response_bytes)
            .field("allow_insecure_http", &inner.allow_insecure_http)
            .field("rate_limited", &inner.limiter.is_some())
            .finish()
    }
}

impl HttpClient {
    /// Build the client for a run. Fails on options that would mean waiting forever or never.
    pub fn new(options: &HttpOptions) -> Result<Self, HttpError> {
        if options.connect_timeout.is_zero() || options.request_timeout.is_zero() {
            return Err(HttpError::Setup(
                "connect and request timeouts must be greater than zero".to_owned(),
            ));
        }
        let limiter = options.rate_limit_per_second.map(RateLimiter::new).transpose()?;
        let mut default_headers = HeaderMap::with_capacity(1);
        default_headers.insert(ACCEPT, application_json());
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            // Covers the whole attempt, body included, so a server trickling bytes cannot hold
            // an item forever.
            .timeout(options.request_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // A redirect would turn a POST into a GET and replay headers to another place; the
            // node reports the 3xx instead, so the user fixes the base URL.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .default_headers(default_headers)
            .build()
            .map_err(|e| HttpError::Setup(e.without_url().to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                retry: options.retry,
                failures_in_a_row: AtomicU32::new(0),
                large_body: tokio::sync::Semaphore::new(1),
                timeouts: Timeouts {
                    connect: options.connect_timeout,
                    request: options.request_timeout,
                },
                max_response_bytes: options.max_response_bytes,
                allow_insecure_http: options.allow_insecure_http,
                limiter,
            }),
        })
    }

    /// Send a request for `item`, retrying transient failures as [`retry::decide`] allows.
    ///
    /// A retry is not started once the item's run is cancelled, nor when its backoff would
    /// outlast the item's deadline: the last failure is reported at once instead, and a
    /// cancellation cuts a backoff short.
    ///
    /// Every final HTTP answer is `Ok`, whatever its status (429/5xx included once retries are
    /// exhausted); `Err` means no usable answer, and [`HttpError::maybe_sent`] tells whether the
    /// server may nevertheless have applied the request.
    pub async fn send(&self, request: Request, item: &ItemContext) -> Result<Response, HttpError> {
        let inner = &*self.inner;
        let idempotent = request.is_idempotent();
        let Request {
            method,
            url,
            mut headers,
            body,
        } = request;
        check_url(&url, inner.allow_insecure_http)?;
        if body.is_some() && !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, application_json());
        }
        // A shared buffer: each attempt's copy of the body is a reference count.
        let body = body.map(Bytes::from);

        let mut attempt: u32 = 0;
        let mut maybe_sent = false;
        loop {
            attempt += 1;
            if attempt > 1 {
                RETRIES.fetch_add(1, Ordering::Relaxed);
            }
            // Built from the parts each time: reqwest consumes the request it sends, and the
            // parts stay here for the next attempt and for error messages.
            let mut req = reqwest::Request::new(method.clone(), url.clone());
            *req.headers_mut() = headers.clone();
            *req.body_mut() = body.clone().map(reqwest::Body::from);
            let can_retry = attempt < inner.retry.max_tries;

            if let Some(limiter) = &inner.limiter {
                limiter.acquire().await;
            }
            let started = Instant::now();
            let outcome = self.attempt(req).await;
            let elapsed_ms = started.elapsed().as_millis();

            let (failure, cause) = match outcome {
                Attempt::Answer(response) => {
                    let status = response.status().as_u16();
                    tracing::debug!(%method, path = url.path(), status, attempt, elapsed_ms, "http attempt");
                    maybe_sent = true;
                    if !retry::is_transient_status(status) {
                        // Read first: most answers find it zero, and a store on a line every
                        // worker shares would cost each of them a cache miss.
                        if inner.failures_in_a_row.load(Ordering::Relaxed) != 0 {
                            inner.failures_in_a_row.store(0, Ordering::Relaxed);
                        }
                    } else {
                        inner.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
                        let failure = Failure::Status {
                            status,
                            retry_after: retry_after(response.headers()),
                        };
                        if let Decision::Retry { after } =
                            self.decide(can_retry, attempt, idempotent, &failure)
                            && may_wait(item, after)
                            && backoff(after, item).await
                        {
                            // Dropping the unread body closes that one connection; reading
                            // an error page we will not use would cost more.
                            drop(response);
                            continue;
                        }
                    }
                    match self.read_body(response, &method, &url, attempt).await {
                        Ok(response) => return Ok(response),
                        Err(BodyError::TooLarge(err)) => return Err(err),
                        // Broke off mid-body: a wire failure like any other, and a GET may
                        // try again.
                        Err(BodyError::Wire(err)) => {
                            let (failure, cause) = classify(&err, inner.timeouts);
                            tracing::debug!(%method, path = url.path(), attempt, %cause, "http body failed");
                            (failure, cause)
                        }
                    }
                }
                Attempt::Failed(err) => {
                    inner.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
                    let (failure, cause) = classify(&err, inner.timeouts);
                    tracing::debug!(%method, path = url.path(), attempt, elapsed_ms, %cause, "http attempt failed");
                    (failure, cause)
                }
                Attempt::Invalid(reason) => {
                    return Err(HttpError::InvalidRequest {
                        target: target(&method, &url),
                        reason,
                    });
                }
            };
            maybe_sent |= failure.may_have_reached_server();
            let retry = match self.decide(can_retry, attempt, idempotent, &failure) {
                Decision::Retry { after } => may_wait(item, after) && backoff(after, item).await,
                Decision::GiveUp => false,
            };
            if !retry {
                return Err(HttpError::Transport {
                    target: target(&method, &url),
                    cause,
                    attempts: attempt,
                    maybe_sent,
                });
            }
        }
    }

    /// One attempt up to the response head.
    async fn attempt(&self, req: reqwest::Request) -> Attempt {
        match self.inner.client.execute(req).await {
            Ok(response) => Attempt::Answer(response),
            // Builder errors are ours (a header or URL reqwest will not send), not the wire's.
            Err(err) if err.is_builder() => Attempt::Invalid(
                std::error::Error::source(&err)
                    .map_or_else(|| "rejected by the HTTP client".to_owned(), ToString::to_string),
            ),
            Err(err) => Attempt::Failed(err),
        }
    }

    fn decide(&self, can_retry: bool, attempt: u32, idempotent: bool, failure: &Failure) -> Decision {
        if !can_retry || self.inner.failures_in_a_row.load(Ordering::Relaxed) >= BREAKER_FAILURES {
            return Decision::GiveUp;
        }
        let jitter: f64 = rand::random();
        retry::decide(&self.inner.retry, attempt, idempotent, failure, jitter)
    }

    /// Read the final answer's body, within the size limit.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        method: &reqwest::Method,
        url: &url::Url,
        attempts: u32,
    ) -> Result<Response, BodyError> {
        let limit = self.inner.max_response_bytes;
        let status = response.status().as_u16();
        let too_large = || {
            BodyError::TooLarge(HttpError::BodyTooLarge {
                target: target(method, url),
                status,
                limit,
                attempts,
            })
        };
        let announced = response.content_length();
        if announced.is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let headers = std::mem::take(response.headers_mut());
        let prealloc = announced.map_or(0, |len: u64| {
            usize::try_from(len).map_or(MAX_BODY_PREALLOC, |len| len.min(MAX_BODY_PREALLOC))
        });
        let mut body = Vec::with_capacity(prealloc);
        let mut large = None;
        while let Some(chunk) = response.chunk().await.map_err(BodyError::Wire)? {
            // `body.len() <= limit` holds on entry, so the subtraction cannot underflow.
            if chunk.len() > limit - body.len() {
                return Err(too_large());
            }
            if large.is_none() && body.len() + chunk.len() > SMALL_BODY_BYTES {
                // The semaphore is never closed, so acquiring only waits.
                large = self.inner.large_body.acquire().await.ok();
                // Reserve once what the body may still need rather than doubling as it grows
                // (which would peak at three times the limit during a copy); pages not yet
                // written cost no memory.
                let wanted = announced
                    .and_then(|len| usize::try_from(len).ok())
                    .unwrap_or(limit)
                    .min(limit);
                body.reserve_exact(wanted.saturating_sub(body.len()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            attempts,
        })
    }
}

/// Why a body could not be read.
enum BodyError {
    /// Over the limit: final, the same request would get the same body.
    TooLarge(HttpError),
    /// The connection broke or timed out mid-body.
    Wire(reqwest::Error),
}

/// What one attempt produced.
enum Attempt {
    Answer(reqwest::Response),
    Failed(reqwest::Error),
    Invalid(String),
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    retry::parse_retry_after(value, SystemTime::now())
}

/// Whether a backoff of `after` may start: the run is not cancelled and the item's deadline
/// leaves time for it and some of the next attempt.
fn may_wait(item: &ItemContext, after: Duration) -> bool {
    !item.is_cancelled() && item.remaining().is_none_or(|left| left > after)
}

/// Wait `after`; `false` when the run was cancelled meanwhile (give up, do not retry).
async fn backoff(after: Duration, item: &ItemContext) -> bool {
    if after.is_zero() {
        return !item.is_cancelled();
    }
    tokio::select! {
        () = tokio::time::sleep(after) => true,
        () = item.cancel.cancelled() => false,
    }
}
