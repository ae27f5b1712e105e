//! Who may call what: the key in `Authorization: Bearer`, and the 401 body of the contract.

use crate::harness::{Sandbox, content_type};
use serde_json::{Value, json};

#[tokio::test]
async fn health_needs_no_key() {
    let sb = Sandbox::start().await;
    let res = sb.http.get(sb.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(content_type(&res), "application/json; charset=utf-8");
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn test_connection_names_the_key_owner() {
    let sb = Sandbox::start().await;
    let res = sb.get("/test-connection").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"user": {"name": "Sandbox Owner", "email": "owner@sandbox.local"}, "authMethod": "api_key"})
    );
}

#[tokio::test]
async fn missing_wrong_or_malformed_keys_get_the_contract_401() {
    let sb = Sandbox::start().await;
    let key = sb.running.api_key().to_owned();
    let attempts: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("wrong key", Some(format!("Bearer gck_{}", "0".repeat(64)))),
        ("other scheme", Some(format!("Basic {key}"))),
        ("no token", Some("Bearer ".to_owned())),
        ("key without scheme", Some(key.clone())),
    ];
    for path in [
        "/test-connection",
        "/clients",
        "/clients/1",
        "/clients/search?q=a",
        "/__sandbox/stats",
    ] {
        for (what, header) in &attempts {
            let mut req = sb.http.get(sb.url(path));
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{what} on {path}");
            assert_eq!(content_type(&res), "application/json; charset=utf-8");
            assert_eq!(
                res.json::<Value>().await.unwrap(),
                json!({"message": "Acesso negado. Login necessário."}),
                "{what} on {path}"
            );
        }
    }
    // The scheme is case-insensitive (RFC 7235), the key is not.
    let res = sb
        .http
        .get(sb.url("/test-connection"))
        .header("authorization", format!("bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = sb
        .http
        .get(sb.url("/test-connection"))
        .header("authorization", format!("Bearer {}", key.to_uppercase()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn writes_without_a_key_change_nothing() {
    let sb = Sandbox::start().await;
    let created = sb.create(json!({"name": "Ana"})).await;
    let id = created["id"].as_i64().unwrap();
    let url = sb.url(&format!("/clients/{id}"));
    let put = sb
        .http
        .put(&url)
        .json(&json!({"name": "Mallory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 401);
    let del = sb.http.delete(&url).send().await.unwrap();
    assert_eq!(del.status(), 401);
    let post = sb
        .http
        .post(sb.url("/clients"))
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401);
    let all: Value = sb.get("/clients").await.json().await.unwrap();
    assert_eq!(all, json!([created]));
}

#[tokio::test]
async fn generated_keys_have_the_vendor_shape_and_debug_output_hides_them() {
    let sb = Sandbox::start_with(|c| c.api_key = None).await;
    let key = sb.running.api_key();
    assert!(key.starts_with("gck_") && key.len() == 68, "{key}");
    assert!(
        key[4..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert!(!format!("{:?}", sb.running).contains(key));

    let cfg = gestor_sandbox::SandboxConfig {
        api_key: Some("gck_secret_value".into()),
        ..Default::default()
    };
    let shown = format!("{cfg:?}");
    assert!(
        !shown.contains("gck_secret_value") && shown.contains("redacted"),
        "{shown}"
    );
}
