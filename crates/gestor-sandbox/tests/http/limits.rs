//! Every limit is explicit and answers with the right status: body size (413), request time
//! (408), concurrency (503 at once, not a queue).

use std::time::Duration;

use crate::harness::Sandbox;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn bodies_over_the_limit_get_413_and_store_nothing() {
    let sb = Sandbox::start_with(|c| c.limits.body_bytes = 4096).await;
    let big = json!({"name": "A", "notes": "x".repeat(5000)});
    let res = sb.call(Method::POST, "/clients", Some(big.clone())).await;
    assert_eq!(res.status(), 413);
    // Sent chunked, without a Content-Length, the limit still holds.
    let status = post_chunked(&sb, &serde_json::to_vec(&big).unwrap()).await;
    assert_eq!(status, "413");
    let ok = sb
        .call(
            Method::POST,
            "/clients",
            Some(json!({"name": "A", "notes": "x".repeat(3000)})),
        )
        .await;
    assert_eq!(ok.status(), 201);
    assert_eq!(
        sb.get("/clients").await.json::<Vec<Value>>().await.unwrap().len(),
        1
    );
}

/// Posts `body` with `Transfer-Encoding: chunked` over a raw connection (so no length is
/// announced) and returns the status code of the answer.
async fn post_chunked(sb: &Sandbox, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(sb.running.local_addr())
        .await
        .unwrap();
    let head = format!(
        "POST /api/clients HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        sb.running.api_key()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and close before the last chunk: stop writing then.
    for chunk in body.chunks(1000) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if tcp.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer.split(' ').nth(1).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn slow_requests_time_out_with_408() {
    // Every answer would take a minute: only the request timeout can answer first.
    let sb = Sandbox::start_with(|c| {
        c.limits.request_timeout = Duration::from_millis(100);
        c.faults.latency = Duration::from_secs(60);
    })
    .await;
    let res = sb.get("/clients").await;
    assert_eq!(res.status(), 408);
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed_at_once() {
    // Two requests that take a minute hold both slots; a third is answered 503 while they are
    // still in flight, which is what "at once" means here (no wall clock is read).
    let sb = Sandbox::start_with(|c| {
        c.limits.max_concurrent_requests = 2;
        c.faults.latency = Duration::from_secs(60);
    })
    .await;
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let http = sb.http.clone();
            let url = sb.url("/health");
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    // The slow requests take their slots when the server reads them; until then a probe may
    // get a slot of its own (and wait the minute), so probes go out one at a time, each given
    // up after a moment, until one is shed.
    let mut shed = None;
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_millis(200), sb.http.get(sb.url("/health")).send()).await {
            Ok(Ok(answer)) if answer.status() == 503 => {
                shed = Some(answer);
                break;
            }
            Ok(Ok(answer)) => panic!(
                "a probe was answered {} while both slots were taken",
                answer.status()
            ),
            _ => {}
        }
    }
    let shed = shed.expect("no request was shed while two took both slots");
    assert_eq!(shed.headers()["retry-after"], "1");
    assert!(
        shed.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("overloaded")
    );
    for s in &slow {
        assert!(!s.is_finished(), "the slow requests are still in flight");
    }
    for s in slow {
        s.abort();
    }
}
