//! Start, stop, restart: data and keys survive on a file; concurrent writers lose nothing; an
//! in-memory database works the same while it lives.

use std::collections::BTreeSet;

use crate::harness::{self, Sandbox};
use gestor_sandbox::{DbLocation, SandboxConfig};
use reqwest::Method;
use serde_json::{Value, json};

async fn get_json(http: &reqwest::Client, url: String, key: &str) -> (u16, Value) {
    let res = http.get(url).bearer_auth(key).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn data_and_keys_survive_a_restart_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let first = gestor_sandbox::start(harness::config(&dir)).await.unwrap();
    let first_key = first.api_key().to_owned();
    let created: Value = http
        .post(format!("{}/clients", first.base_url()))
        .bearer_auth(&first_key)
        .json(&json!({"name": "Ana", "cpf": "52998224725"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    first.shutdown().await.unwrap();

    // No key given: a new one is minted for this run, and the earlier one still works.
    let second = gestor_sandbox::start(harness::config(&dir)).await.unwrap();
    assert_ne!(second.api_key(), first_key);
    for key in [first_key.as_str(), second.api_key()] {
        let (status, body) = get_json(
            &http,
            format!("{}/clients/{}", second.base_url(), created["id"]),
            key,
        )
        .await;
        assert_eq!((status, &body), (200, &created));
    }
    let (_, who_first) = get_json(
        &http,
        format!("{}/test-connection", second.base_url()),
        &first_key,
    )
    .await;
    let (_, who_second) = get_json(
        &http,
        format!("{}/test-connection", second.base_url()),
        second.api_key(),
    )
    .await;
    assert_eq!(who_first, who_second, "both keys belong to the same owner");
    second.shutdown().await.unwrap();

    // A key given explicitly is the one reported, and is accepted from then on.
    let mut cfg = harness::config(&dir);
    cfg.api_key = Some("my-own-key".into());
    let third = gestor_sandbox::start(cfg).await.unwrap();
    assert_eq!(third.api_key(), "my-own-key");
    let (status, all) = get_json(&http, format!("{}/clients", third.base_url()), "my-own-key").await;
    assert_eq!((status, all), (200, json!([created])));
    third.shutdown().await.unwrap();

    // Only the SHA-256 of keys is on disk.
    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(harness::db_path(&dir).parent().unwrap()).unwrap() {
        on_disk.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let haystack = String::from_utf8_lossy(&on_disk);
    assert!(!haystack.contains(&first_key) && !haystack.contains("my-own-key"));
}

#[tokio::test]
async fn two_hundred_concurrent_creates_get_two_hundred_distinct_ids() {
    let sb = Sandbox::start().await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let http = sb.http.clone();
            let url = sb.url("/clients");
            let key = sb.running.api_key().to_owned();
            tokio::spawn(async move {
                let res = http
                    .post(url)
                    .bearer_auth(key)
                    .json(&json!({"name": format!("Cliente {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
                res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 200);
    let all: Vec<Value> = sb.get("/clients").await.json().await.unwrap();
    let listed: BTreeSet<i64> = all.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, ids);
}

#[tokio::test]
async fn concurrent_updates_of_one_client_each_land_whole() {
    let sb = Sandbox::start().await;
    let c = sb.create(json!({"name": "Ana"})).await;
    let path = format!("/clients/{}", c["id"]);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let http = sb.http.clone();
            let url = sb.url(&path);
            let key = sb.running.api_key().to_owned();
            tokio::spawn(async move {
                let res = http
                    .put(url)
                    .bearer_auth(key)
                    .json(&json!({"notes": format!("n{i}"), "number": format!("{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let last: Value = sb.get(&path).await.json().await.unwrap();
    // Whichever update came last, its two fields arrived together.
    assert_eq!(
        last["notes"].as_str().unwrap()[1..],
        *last["number"].as_str().unwrap()
    );
}

#[tokio::test]
async fn an_in_memory_database_serves_concurrent_reads_and_writes() {
    let sb = Sandbox::start_with(|c| c.db = DbLocation::Memory).await;
    let c = sb.create(json!({"name": "Ana"})).await;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let http = sb.http.clone();
            let base = sb.running.base_url();
            let key = sb.running.api_key().to_owned();
            let id = c["id"].clone();
            tokio::spawn(async move {
                let res = if i % 2 == 0 {
                    http.get(format!("{base}/clients/{id}"))
                        .bearer_auth(key)
                        .send()
                        .await
                } else {
                    http.post(format!("{base}/clients"))
                        .bearer_auth(key)
                        .json(&json!({"name": "B"}))
                        .send()
                        .await
                };
                res.unwrap().status().as_u16()
            })
        })
        .collect();
    for t in tasks {
        assert!([200, 201].contains(&t.await.unwrap()));
    }
    assert_eq!(
        sb.get("/clients").await.json::<Vec<Value>>().await.unwrap().len(),
        51
    );
}

#[tokio::test]
async fn base_url_points_at_the_bound_port_and_a_busy_port_is_an_error() {
    let sb = Sandbox::start().await;
    let port = sb.running.local_addr().port();
    assert_ne!(port, 0);
    assert_eq!(sb.running.base_url(), format!("http://127.0.0.1:{port}/api"));
    let clash = SandboxConfig {
        listen: sb.running.local_addr(),
        ..SandboxConfig::default()
    };
    let err = gestor_sandbox::start(clash).await.unwrap_err();
    assert!(matches!(err, gestor_sandbox::SandboxError::Bind { .. }), "{err}");
    // The running one is unaffected.
    assert_eq!(sb.call(Method::GET, "/health", None).await.status(), 200);
}
