//! The five operations the node uses, plus PATCH and search: statuses, bodies, defaults,
//! timestamps and the empty-body delete.

use crate::harness::{Sandbox, content_type};
use reqwest::Method;
use serde_json::{Value, json};

/// `2025-06-24T20:36:45.969Z`: UTC, milliseconds, `Z`.
fn assert_api_timestamp(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {v}"));
    assert_eq!(s.len(), 24, "{s}");
    assert!(
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok()
            && s.as_bytes()[19] == b'.',
        "{s}"
    );
}

#[tokio::test]
async fn create_with_only_a_name_fills_every_default() {
    let sb = Sandbox::start().await;
    let res = sb
        .call(Method::POST, "/clients", Some(json!({"name": "Ana Souza"})))
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(content_type(&res), "application/json; charset=utf-8");
    let c: Value = res.json().await.unwrap();
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "userId",
            "name",
            "email",
            "phone",
            "cpf",
            "birthDate",
            "cep",
            "street",
            "number",
            "complement",
            "neighborhood",
            "city",
            "state",
            "address",
            "notes",
            "status",
            "paymentStatus",
            "consultationPrice",
            "createdAt",
            "updatedAt"
        ]
    );
    assert!(c["id"].as_i64().unwrap() >= 1);
    let user_id = c["userId"].as_str().unwrap();
    let groups: Vec<usize> = user_id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{user_id}");
    assert_eq!(c["name"], "Ana Souza");
    for nullable in [
        "email",
        "phone",
        "cpf",
        "birthDate",
        "cep",
        "street",
        "number",
        "complement",
        "neighborhood",
        "city",
        "state",
        "address",
        "notes",
        "consultationPrice",
    ] {
        assert_eq!(c[nullable], Value::Null, "{nullable}");
    }
    assert_eq!(c["status"], "active");
    assert_eq!(c["paymentStatus"], "a_pagar");
    assert_api_timestamp(&c["createdAt"]);
    assert_eq!(c["createdAt"], c["updatedAt"]);
}

#[tokio::test]
async fn create_normalises_cpf_and_cep_and_strips_unknown_members() {
    let sb = Sandbox::start().await;
    let res = sb
        .call(
            Method::POST,
            "/clients",
            Some(json!({
                "name": "João da Silva", "email": "joao@example.com.br", "phone": "(11) 98765-4321",
                "cpf": "529.982.247-25", "birthDate": "1990-02-28", "cep": "01310-100",
                "street": "Avenida Paulista", "number": "1000", "complement": "Apto 12",
                "neighborhood": "Bela Vista", "city": "São Paulo", "state": "SP",
                "address": "Av. Paulista, 1000", "notes": "prefere manhã", "status": "inactive",
                "paymentStatus": "pago", "consultationPrice": 150,
                "id": 999, "userId": "someone-else", "createdAt": "2000-01-01T00:00:00.000Z", "color": "blue"
            })),
        )
        .await;
    assert_eq!(res.status(), 201);
    let raw = res.text().await.unwrap();
    // Node.js writes integral numbers without a fraction.
    assert!(raw.contains(r#""consultationPrice":150,"#), "{raw}");
    let c: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(c["cpf"], "52998224725");
    assert_eq!(c["cep"], "01310100");
    assert_eq!(c["status"], "inactive");
    assert_eq!(c["paymentStatus"], "pago");
    assert_ne!(c["id"], 999);
    assert_ne!(c["userId"], "someone-else");
    assert_ne!(c["createdAt"], "2000-01-01T00:00:00.000Z");
    assert!(c.get("color").is_none());
    // What was stored is what was answered.
    let fetched: Value = sb
        .get(&format!("/clients/{}", c["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, c);
}

#[tokio::test]
async fn list_is_an_array_ordered_by_id_and_get_finds_each() {
    let sb = Sandbox::start().await;
    let empty = sb.get("/clients").await;
    assert_eq!(empty.status(), 200);
    assert_eq!(empty.json::<Value>().await.unwrap(), json!([]));
    let mut created = Vec::new();
    for name in ["Carla", "Bruno", "Alice"] {
        created.push(sb.create(json!({"name": name, "consultationPrice": 99.5})).await);
    }
    let all: Value = sb.get("/clients").await.json().await.unwrap();
    assert_eq!(all, Value::Array(created.clone()));
    for c in &created {
        let res = sb.get(&format!("/clients/{}", c["id"])).await;
        assert_eq!(res.status(), 200);
        assert_eq!(&res.json::<Value>().await.unwrap(), c);
    }
}

#[tokio::test]
async fn unknown_or_non_numeric_ids_are_404_on_every_method() {
    let sb = Sandbox::start().await;
    sb.create(json!({"name": "Ana"})).await;
    for id in [
        "999999",
        "abc",
        "1.5",
        "-1",
        "1abc",
        "0x1",
        "99999999999999999999999",
        "search",
    ] {
        for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
            if id == "search" && method == Method::GET {
                continue; // that is the search endpoint
            }
            let body = (method == Method::PUT || method == Method::PATCH).then(|| json!({"notes": "x"}));
            let res = sb.call(method.clone(), &format!("/clients/{id}"), body).await;
            assert_eq!(res.status(), 404, "{method} {id}");
            assert_eq!(
                res.json::<Value>().await.unwrap(),
                json!({"message": "Cliente não encontrado"}),
                "{method} {id}"
            );
        }
    }
}

#[tokio::test]
async fn put_changes_only_given_fields_and_null_clears() {
    let sb = Sandbox::start().await;
    let c = sb
        .create(json!({"name": "Ana", "email": "ana@example.com", "phone": "11 5555-0000", "city": "Recife", "consultationPrice": 200}))
        .await;
    let id = c["id"].as_i64().unwrap();
    // Timestamps have millisecond resolution: make sure the update lands in a later one.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let res = sb
        .call(
            Method::PUT,
            &format!("/clients/{id}"),
            Some(json!({"email": null, "city": "Olinda", "consultationPrice": null})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let u: Value = res.json().await.unwrap();
    assert_eq!(u["email"], Value::Null);
    assert_eq!(u["city"], "Olinda");
    assert_eq!(u["consultationPrice"], Value::Null);
    assert_eq!(u["phone"], "11 5555-0000", "untouched field kept");
    assert_eq!(u["name"], "Ana");
    assert_eq!(u["createdAt"], c["createdAt"]);
    assert_api_timestamp(&u["updatedAt"]);
    assert!(
        u["updatedAt"].as_str() > c["updatedAt"].as_str(),
        "updatedAt bumped"
    );
    let fetched: Value = sb.get(&format!("/clients/{id}")).await.json().await.unwrap();
    assert_eq!(fetched, u);
}

#[tokio::test]
async fn patch_behaves_like_put() {
    let sb = Sandbox::start().await;
    let c = sb.create(json!({"name": "Ana", "status": "active"})).await;
    let res = sb
        .call(
            Method::PATCH,
            &format!("/clients/{}", c["id"]),
            Some(json!({"status": "inactive", "paymentStatus": "cancelado"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let u: Value = res.json().await.unwrap();
    assert_eq!(
        (
            u["status"].as_str(),
            u["paymentStatus"].as_str(),
            u["name"].as_str()
        ),
        (Some("inactive"), Some("cancelado"), Some("Ana"))
    );
}

#[tokio::test]
async fn name_can_be_changed_but_never_cleared() {
    let sb = Sandbox::start().await;
    let c = sb.create(json!({"name": "Ana"})).await;
    let path = format!("/clients/{}", c["id"]);
    for (body, code) in [
        (json!({"name": null}), "invalid_type"),
        (json!({"name": ""}), "too_small"),
    ] {
        let res = sb.call(Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(res.status(), 400, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["errors"][0]["code"], code);
        assert_eq!(err["errors"][0]["path"], json!(["name"]));
    }
    let res = sb
        .call(Method::PUT, &path, Some(json!({"name": "Ana Maria"})))
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Ana Maria");
}

#[tokio::test]
async fn delete_answers_200_with_an_empty_body_then_the_client_is_gone() {
    let sb = Sandbox::start().await;
    let a = sb.create(json!({"name": "Ana"})).await;
    let b = sb.create(json!({"name": "Bia"})).await;
    let res = sb
        .call(Method::DELETE, &format!("/clients/{}", a["id"]), None)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(content_type(&res), "", "no content type on the empty body");
    assert_eq!(res.bytes().await.unwrap().len(), 0);
    assert_eq!(sb.get(&format!("/clients/{}", a["id"])).await.status(), 404);
    assert_eq!(
        sb.call(Method::DELETE, &format!("/clients/{}", a["id"]), None)
            .await
            .status(),
        404
    );
    let all: Value = sb.get("/clients").await.json().await.unwrap();
    assert_eq!(all, json!([b]));
    // Ids are never reused, like a serial column.
    let c = sb.create(json!({"name": "Caio"})).await;
    assert!(c["id"].as_i64() > b["id"].as_i64());
}

#[tokio::test]
async fn search_matches_name_email_phone_cpf_or_city_case_insensitively() {
    let sb = Sandbox::start().await;
    let ana = sb.create(json!({"name": "Ana Souza", "city": "Recife"})).await;
    let bia = sb
        .create(json!({"name": "Beatriz", "email": "bia@souza.dev", "cpf": "52998224725"}))
        .await;
    sb.create(json!({"name": "Caio", "city": "Natal"})).await;
    let search = |q: &'static str| {
        let sb = &sb;
        async move {
            let res = sb
                .http
                .get(sb.url("/clients/search"))
                .query(&[("q", q)])
                .bearer_auth(sb.running.api_key())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(search("souza").await, json!([ana, bia]));
    assert_eq!(search("RECIFE").await, json!([ana]));
    assert_eq!(search("9822").await, json!([bia]));
    assert_eq!(search("100%").await, json!([]), "wildcards match themselves");
    let res = sb.get("/clients/search").await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_express_style_404() {
    let sb = Sandbox::start().await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::POST, "/clients/1"),
        (Method::DELETE, "/clients"),
    ] {
        let res = sb.call(method.clone(), path, None).await;
        assert_eq!(res.status(), 404, "{method} {path}");
        assert!(content_type(&res).starts_with("text/html"));
        assert!(
            res.text()
                .await
                .unwrap()
                .contains(&format!("Cannot {method} /api{path}"))
        );
    }
}

#[tokio::test]
async fn seeded_clients_are_valid_brazilian_records_and_seed_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = crate::harness::config(&dir);
    cfg.seed = 25;
    let first = gestor_sandbox::start(cfg.clone()).await.unwrap();
    let http = reqwest::Client::new();
    let list = |sb: &gestor_sandbox::RunningSandbox| {
        http.get(format!("{}/clients", sb.base_url()))
            .bearer_auth(sb.api_key())
            .send()
    };
    let seeded: Vec<Value> = list(&first).await.unwrap().json().await.unwrap();
    assert_eq!(seeded.len(), 25);
    for c in &seeded {
        assert_eq!(c["cpf"].as_str().unwrap().len(), 11, "{c}");
        assert_eq!(c["state"].as_str().unwrap().len(), 2, "{c}");
        assert!(c["email"].as_str().unwrap().contains('@'), "{c}");
    }
    first.shutdown().await.unwrap();
    let second = gestor_sandbox::start(cfg).await.unwrap();
    let again: Vec<Value> = list(&second).await.unwrap().json().await.unwrap();
    assert_eq!(again, seeded, "a database with clients is not seeded again");
    second.shutdown().await.unwrap();
}
