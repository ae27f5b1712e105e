//! The client against real sockets: what goes over the wire, how often, and what comes back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // in tests a panic is the failure report

mod support;

use std::time::{Duration, Instant};

use nodehost_core::ItemContext;
use nodehost_http::{HttpClient, HttpError, HttpOptions, Request, RetryPolicy};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::json;
use support::{Reply, Server, refused_url, respond, respond_chunked};

/// An item outside any run: no deadline, never cancelled.
fn item() -> ItemContext {
    ItemContext::detached(0)
}

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Fast backoff so the suite stays quick; the rules do not depend on the durations.
fn options(max_tries: u32) -> HttpOptions {
    HttpOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_tries,
            base: MS(5),
            cap: MS(50),
        },
        ..HttpOptions::default()
    }
}

fn client(options: &HttpOptions) -> HttpClient {
    HttpClient::new(options).unwrap()
}

fn ok_json() -> Reply {
    respond(200, &[("content-type", "application/json")], r#"{"ok":true}"#)
}

#[tokio::test]
async fn get_is_retried_on_503_until_it_succeeds() {
    let server = Server::start(vec![
        respond(503, &[], "busy"),
        respond(503, &[], "busy"),
        ok_json(),
    ])
    .await;
    let response = client(&options(4))
        .send(Request::get(server.url("/api/clients")), &item())
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.attempts, 3);
    assert_eq!(response.body, br#"{"ok":true}"#);
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn exhausted_retries_return_the_last_answer() {
    let server = Server::start(vec![respond(429, &[], "slow down")]).await;
    let response = client(&options(3))
        .send(Request::get(server.url("/x")), &item())
        .await
        .unwrap();
    assert_eq!((response.status, response.attempts), (429, 3));
    assert_eq!(response.body, b"slow down");
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn post_is_never_retried_on_a_status() {
    for status in [429, 502, 503, 504] {
        let server = Server::start(vec![respond(status, &[], ""), respond(201, &[], "{}")]).await;
        let request = Request::post(server.url("/api/clients"))
            .json_body(&json!({"name": "Ana"}))
            .unwrap();
        let response = client(&options(4)).send(request, &item()).await.unwrap();
        assert_eq!((response.status, response.attempts), (status, 1), "POST {status}");
        assert_eq!(server.requests(), 1, "POST {status}");
    }
}

#[tokio::test]
async fn answers_that_are_not_transient_are_never_retried() {
    for status in [400, 401, 404, 409, 500, 501] {
        let server = Server::start(vec![respond(status, &[], r#"{"message":"no"}"#), ok_json()]).await;
        let response = client(&options(4))
            .send(Request::get(server.url("/x")), &item())
            .await
            .unwrap();
        assert_eq!((response.status, response.attempts), (status, 1), "GET {status}");
        assert_eq!(response.body, br#"{"message":"no"}"#, "GET {status}");
        assert_eq!(server.requests(), 1, "GET {status}");
    }
}

#[tokio::test]
async fn post_is_not_retried_after_a_reset_and_may_have_been_sent() {
    let server = Server::start(vec![Reply::Reset, respond(201, &[], "{}")]).await;
    let request = Request::post(server.url("/api/clients"))
        .json_body(&json!({"name": "Ana"}))
        .unwrap();
    let err = client(&options(4)).send(request, &item()).await.unwrap_err();
    assert!(err.maybe_sent(), "{err}");
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests(), 1);
    let msg = err.to_string();
    assert!(msg.contains("connection reset"), "{msg}");
    assert!(
        msg.contains(&format!("POST http://{}/api/clients", server.addr)),
        "{msg}"
    );
    assert!(msg.contains("may have reached the server"), "{msg}");
}

#[tokio::test]
async fn get_is_retried_after_a_reset() {
    let server = Server::start(vec![Reply::Reset, ok_json()]).await;
    let response = client(&options(4))
        .send(Request::get(server.url("/x")), &item())
        .await
        .unwrap();
    assert_eq!((response.status, response.attempts), (200, 2));
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn post_is_retried_when_the_connection_is_refused() {
    let url = refused_url("/api/clients").await;
    let request = Request::post(url.clone())
        .json_body(&json!({"name": "Ana"}))
        .unwrap();
    let err = client(&options(3)).send(request, &item()).await.unwrap_err();
    assert!(!err.maybe_sent(), "{err}");
    assert_eq!(err.attempts(), 3);
    let msg = err.to_string();
    let host_port = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    assert!(
        msg.contains("connection refused") && msg.contains(&host_port),
        "{msg}"
    );
    assert!(
        msg.contains("3 attempts") && msg.contains("was not sent"),
        "{msg}"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = Server::start(vec![respond(503, &[("retry-after", "1")], ""), ok_json()]).await;
    let mut opts = options(3);
    opts.retry.base = MS(1);
    opts.retry.cap = Duration::from_secs(2);
    let started = Instant::now();
    let response = client(&opts)
        .send(Request::get(server.url("/x")), &item())
        .await
        .unwrap();
    assert_eq!((response.status, response.attempts), (200, 2));
    assert!(
        started.elapsed() >= MS(950),
        "waited only {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_after_beyond_the_cap_returns_the_answer_at_once() {
    let server = Server::start(vec![respond(429, &[("retry-after", "5")], ""), ok_json()]).await;
    let mut opts = options(3);
    opts.retry.cap = Duration::from_secs(2);
    let response = client(&opts)
        .send(Request::get(server.url("/x")), &item())
        .await
        .unwrap();
    // One attempt, and the 429 itself: nothing waited for a retry that could not come.
    assert_eq!((response.status, response.attempts), (429, 1));
    assert_eq!(response.header_str("retry-after"), Some("5"));
}

#[tokio::test]
async fn a_stalled_answer_times_out_and_says_so() {
    let server = Server::start(vec![Reply::StallAfterHeaders]).await;
    let mut opts = options(2);
    opts.request_timeout = MS(300);
    let err = client(&opts)
        .send(Request::get(server.url("/x")), &item())
        .await
        .unwrap_err();
    assert!(err.is_timeout() && err.maybe_sent(), "{err}");
    assert_eq!(err.attempts(), 2, "a GET gets another try");
    // The server never finishes its answer: returning at all is the timeout at work.
    assert!(err.to_string().contains("timed out after 300ms"), "{err}");

    let request = Request::post(server.url("/x")).json_body(&json!({})).unwrap();
    let err = client(&opts).send(request, &item()).await.unwrap_err();
    assert_eq!(err.attempts(), 1, "a POST does not: {err}");
    assert!(err.maybe_sent());
}

#[tokio::test]
async fn bodies_beyond_the_limit_are_refused() {
    let big = "x".repeat(2_000);
    let mut opts = options(4);
    opts.max_response_bytes = 1_000;
    for reply in [respond(200, &[], &big), respond_chunked(200, &big)] {
        let server = Server::start(vec![reply]).await;
        let err = client(&opts)
            .send(Request::get(server.url("/x")), &item())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                HttpError::BodyTooLarge {
                    limit: 1_000,
                    status: 200,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("limit of 1000 bytes"), "{err}");
        assert_eq!(server.requests(), 1, "an oversized answer is not fetched again");
    }
    let exact = "y".repeat(1_000);
    for reply in [respond(200, &[], &exact), respond_chunked(200, &exact)] {
        let server = Server::start(vec![reply]).await;
        let response = client(&opts)
            .send(Request::get(server.url("/x")), &item())
            .await
            .unwrap();
        assert_eq!(response.body.len(), 1_000);
    }
}

#[tokio::test]
async fn json_headers_are_sent() {
    let server = Server::start(vec![ok_json()]).await;
    let client = client(&options(1));
    client
        .send(Request::get(server.url("/a")), &item())
        .await
        .unwrap();
    client
        .send(
            Request::post(server.url("/b"))
                .json_body(&json!({"name": "Ana"}))
                .unwrap(),
            &item(),
        )
        .await
        .unwrap();
    let mut bare = Request::put(server.url("/c"));
    bare.body = Some(br#"{"name":"Bia"}"#.to_vec());
    client.send(bare, &item()).await.unwrap();

    let heads = server.heads();
    assert!(heads[0].starts_with("get /a "), "{}", heads[0]);
    assert!(
        heads.iter().all(|h| h.contains("accept: application/json")),
        "{heads:?}"
    );
    assert!(!heads[0].contains("content-type"), "{}", heads[0]);
    assert!(
        heads[1].contains("content-type: application/json"),
        "{}",
        heads[1]
    );
    assert!(
        heads[2].contains("content-type: application/json"),
        "{}",
        heads[2]
    );
    assert!(heads[0].contains("user-agent: nodehost/"), "{}", heads[0]);
}

#[tokio::test]
async fn connections_are_kept_alive() {
    let server = Server::start(vec![ok_json()]).await;
    let client = client(&options(1));
    for _ in 0..5 {
        client
            .send(Request::get(server.url("/x")), &item())
            .await
            .unwrap();
    }
    assert_eq!(server.requests(), 5);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn the_rate_limit_spaces_attempts_across_clones() {
    let server = Server::start(vec![ok_json()]).await;
    let mut opts = options(1);
    opts.rate_limit_per_second = Some(20.0);
    let first = client(&opts);
    let second = first.clone();
    let started = Instant::now();
    let url = server.url("/x");
    let sends = (0..6).map(|i| {
        let client = if i % 2 == 0 { first.clone() } else { second.clone() };
        let url = url.clone();
        async move { client.send(Request::get(url), &item()).await.map(|r| r.status) }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| matches!(s, Ok(200))), "{statuses:?}");
    // Six attempts at 20 per second: the first at once, five more 50ms apart.
    assert!(started.elapsed() >= MS(240), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_rate_limit_counts_retries() {
    let server = Server::start(vec![respond(503, &[], ""), respond(503, &[], ""), ok_json()]).await;
    let mut opts = options(3);
    opts.rate_limit_per_second = Some(10.0);
    let started = Instant::now();
    let response = client(&opts)
        .send(Request::get(server.url("/x")), &item())
        .await
        .unwrap();
    assert_eq!(response.attempts, 3);
    assert!(started.elapsed() >= MS(190), "{:?}", started.elapsed());
}

#[tokio::test]
async fn errors_and_debug_carry_no_secrets() {
    let mut url = refused_url("/api/clients").await;
    url.set_query(Some("api_key=s3cr3t-query"));
    let request = Request::get(url).sensitive_header(
        AUTHORIZATION,
        HeaderValue::from_static("Bearer gck_deadbeefdeadbeef"),
    );
    let shown_request = format!("{request:?}");
    let client = client(&options(2));
    let err = client.send(request, &item()).await.unwrap_err();
    let shown = format!("{err} {err:?} {shown_request} {client:?}");
    for secret in ["s3cr3t-query", "gck_deadbeefdeadbeef"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains("/api/clients?***"), "{shown}");
}

#[tokio::test]
async fn clear_text_to_a_remote_host_is_refused_before_sending() {
    let request = Request::get("http://agenda.example.com/api/clients".parse().unwrap());
    let err = client(&options(1)).send(request, &item()).await.unwrap_err();
    assert!(matches!(err, HttpError::InvalidUrl { .. }), "{err:?}");
    assert!(!err.maybe_sent());
    assert!(err.to_string().contains("unencrypted"), "{err}");
}

#[test]
fn unusable_options_are_refused() {
    let mut opts = options(1);
    opts.request_timeout = Duration::ZERO;
    assert!(matches!(HttpClient::new(&opts), Err(HttpError::Setup(_))));
    let mut opts = options(1);
    opts.rate_limit_per_second = Some(0.0);
    assert!(matches!(HttpClient::new(&opts), Err(HttpError::Setup(_))));
}

#[tokio::test]
async fn an_unknown_host_is_retried_and_never_sent() {
    // `.invalid` never resolves (RFC 6761), so this needs no network.
    let request = Request::post("https://nodehost-test.invalid/api/clients".parse().unwrap())
        .json_body(&json!({"name": "Ana"}))
        .unwrap();
    let err = client(&options(2)).send(request, &item()).await.unwrap_err();
    assert!(!err.maybe_sent(), "{err}");
    assert_eq!(
        err.attempts(),
        2,
        "a request that never left may be retried, even a POST"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("could not resolve host") && msg.contains("nodehost-test.invalid:443"),
        "{msg}"
    );
}
