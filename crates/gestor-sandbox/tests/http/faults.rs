//! Injected faults: deterministic first-N 503/429, random shares, latency, and the stats a test
//! reads to count a client's attempts.

use std::time::{Duration, Instant};

use crate::harness::{Sandbox, content_type};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn first_attempts_fail_with_html_503_then_429_with_retry_after() {
    let sb = Sandbox::start_with(|c| {
        c.faults.fail_first_n_503 = 2;
        c.faults.rate_limit_first_n_429 = 1;
        c.faults.retry_after_secs = 7;
    })
    .await;
    for _ in 0..2 {
        let res = sb.get("/clients").await;
        assert_eq!(res.status(), 503);
        assert!(content_type(&res).starts_with("text/html"));
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("<title>503 Service Temporarily Unavailable</title>")
        );
    }
    let res = sb.get("/clients").await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "7");
    let res = sb.get("/clients").await;
    assert_eq!(res.status(), 200);
    // Counting is per METHOD + path: another path starts at attempt 1 again.
    assert_eq!(
        sb.call(Method::POST, "/clients", Some(json!({"name": "A"})))
            .await
            .status(),
        503
    );
    assert_eq!(sb.get("/clients/1").await.status(), 503);
    assert_eq!(
        sb.stats().await,
        json!({"GET /api/clients": 4, "GET /api/clients/1": 1, "POST /api/clients": 1})
    );
    // The faulted POST stored nothing.
    assert_eq!(sb.get("/clients").await.json::<Value>().await.unwrap(), json!([]));
}

#[tokio::test]
async fn faults_come_before_authentication_like_a_proxy() {
    let sb = Sandbox::start_with(|c| c.faults.fail_first_n_503 = 1).await;
    let res = sb.http.get(sb.url("/clients")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let res = sb.http.get(sb.url("/clients")).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_full_share_faults_every_attempt_and_a_zero_share_none() {
    let all_503 = Sandbox::start_with(|c| c.faults.error_503_share = 1.0).await;
    let all_429 = Sandbox::start_with(|c| c.faults.rate_limit_429_share = 1.0).await;
    for _ in 0..20 {
        assert_eq!(all_503.get("/health").await.status(), 503);
        let res = all_429.get("/clients").await;
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "1");
    }
    // The stats endpoint itself is never faulted, so a test can always read it.
    assert_eq!(all_503.stats().await, json!({"GET /api/health": 20}));
}

#[tokio::test]
async fn a_half_share_faults_roughly_half() {
    let sb = Sandbox::start_with(|c| c.faults.error_503_share = 0.5).await;
    let mut failed = 0;
    for _ in 0..200 {
        if sb.get("/health").await.status() == 503 {
            failed += 1;
        }
    }
    // Binomial(200, 0.5): outside 50..=150 has probability below 1e-12.
    assert!((50..=150).contains(&failed), "{failed} of 200");
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let sb = Sandbox::start_with(|c| c.faults.latency = Duration::from_millis(150)).await;
    let started = Instant::now();
    assert_eq!(sb.get("/clients").await.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shares_outside_zero_to_one_are_refused_at_start() {
    for faults in [
        gestor_sandbox::Faults {
            error_503_share: 1.5,
            ..Default::default()
        },
        gestor_sandbox::Faults {
            rate_limit_429_share: -0.1,
            ..Default::default()
        },
        gestor_sandbox::Faults {
            error_503_share: f64::NAN,
            ..Default::default()
        },
        gestor_sandbox::Faults {
            error_503_share: 0.6,
            rate_limit_429_share: 0.6,
            ..Default::default()
        },
    ] {
        let cfg = gestor_sandbox::SandboxConfig {
            faults,
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        };
        let err = gestor_sandbox::start(cfg).await.unwrap_err();
        assert!(
            matches!(err, gestor_sandbox::SandboxError::InvalidConfig(_)),
            "{err}"
        );
    }
}
