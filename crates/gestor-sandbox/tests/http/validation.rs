//! 400 answers: Zod-shaped issues, all at once, in the vendor's wording; malformed bodies.

use crate::harness::Sandbox;
use reqwest::Method;
use serde_json::{Value, json};

async fn issues_for(sb: &Sandbox, method: Method, path: &str, body: Value) -> Value {
    let res = sb.call(method, path, Some(body)).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Invalid data");
    body["errors"].clone()
}

#[tokio::test]
async fn every_broken_field_is_reported_at_once_in_zod_shape() {
    let sb = Sandbox::start().await;
    let errors = issues_for(
        &sb,
        Method::POST,
        "/clients",
        json!({
            "name": 5, "email": "not-an-email", "phone": 11987654321u64, "cpf": "123.456.789-00",
            "birthDate": "2023-02-30", "cep": "1234", "state": "sp", "status": "paused",
            "paymentStatus": 1, "consultationPrice": -10
        }),
    )
    .await;
    assert_eq!(
        errors,
        json!([
            {"code": "invalid_type", "expected": "string", "received": "number", "path": ["name"], "message": "Expected string, received number"},
            {"validation": "email", "code": "invalid_string", "path": ["email"], "message": "Invalid email"},
            {"code": "invalid_type", "expected": "string", "received": "number", "path": ["phone"], "message": "Expected string, received number"},
            {"code": "custom", "path": ["cpf"], "message": "CPF inválido: informe 11 dígitos (ou 000.000.000-00) com dígitos verificadores corretos"},
            {"code": "custom", "path": ["birthDate"], "message": "Data inválida: use uma data real no formato AAAA-MM-DD"},
            {"validation": "regex", "code": "invalid_string", "path": ["cep"], "message": "CEP inválido: informe 8 dígitos (ou 00000-000)"},
            {"received": "sp", "code": "invalid_enum_value", "options": ["AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO"], "path": ["state"], "message": "Invalid enum value. Expected 'AC' | 'AL' | 'AP' | 'AM' | 'BA' | 'CE' | 'DF' | 'ES' | 'GO' | 'MA' | 'MT' | 'MS' | 'MG' | 'PA' | 'PB' | 'PR' | 'PE' | 'PI' | 'RJ' | 'RN' | 'RS' | 'RO' | 'RR' | 'SC' | 'SP' | 'SE' | 'TO', received 'sp'"},
            {"received": "paused", "code": "invalid_enum_value", "options": ["active", "inactive"], "path": ["status"], "message": "Invalid enum value. Expected 'active' | 'inactive', received 'paused'"},
            {"code": "invalid_type", "expected": "'a_pagar' | 'pago' | 'cancelado'", "received": "number", "path": ["paymentStatus"], "message": "Expected 'a_pagar' | 'pago' | 'cancelado', received number"},
            {"code": "too_small", "minimum": 0, "type": "number", "inclusive": true, "exact": false, "path": ["consultationPrice"], "message": "Number must be greater than or equal to 0"}
        ])
    );
    // Nothing was stored.
    assert_eq!(sb.get("/clients").await.json::<Value>().await.unwrap(), json!([]));
}

#[tokio::test]
async fn name_is_required_and_non_empty_on_create() {
    let sb = Sandbox::start().await;
    let missing = issues_for(&sb, Method::POST, "/clients", json!({"email": "a@b.co"})).await;
    assert_eq!(
        missing,
        json!([{"code": "invalid_type", "expected": "string", "received": "undefined", "path": ["name"], "message": "Required"}])
    );
    let empty = issues_for(&sb, Method::POST, "/clients", json!({"name": ""})).await;
    assert_eq!(
        empty,
        json!([{"code": "too_small", "minimum": 1, "type": "string", "inclusive": true, "exact": false, "path": ["name"], "message": "String must contain at least 1 character(s)"}])
    );
    let null_status = issues_for(
        &sb,
        Method::POST,
        "/clients",
        json!({"name": "A", "status": null}),
    )
    .await;
    assert_eq!(null_status[0]["received"], "null");
}

#[tokio::test]
async fn real_calendar_dates_only_and_only_real_ufs() {
    let sb = Sandbox::start().await;
    for ok in ["2000-02-29", "1985-12-31"] {
        let c = sb
            .create(json!({"name": "A", "birthDate": ok, "state": "DF"}))
            .await;
        assert_eq!(c["birthDate"], ok);
    }
    for bad in [
        "1900-02-29",
        "2024-04-31",
        "2024-1-05",
        "05/01/2024",
        "2024-01-05T00:00:00Z",
    ] {
        let errors = issues_for(
            &sb,
            Method::POST,
            "/clients",
            json!({"name": "A", "birthDate": bad}),
        )
        .await;
        assert_eq!(errors[0]["path"], json!(["birthDate"]), "{bad}");
    }
    for bad in ["XX", "S", "SPX", "Sp"] {
        let errors = issues_for(&sb, Method::POST, "/clients", json!({"name": "A", "state": bad})).await;
        assert_eq!(errors[0]["code"], "invalid_enum_value", "{bad}");
    }
}

#[tokio::test]
async fn updates_are_validated_too_and_a_bad_update_changes_nothing() {
    let sb = Sandbox::start().await;
    let c = sb.create(json!({"name": "Ana", "cpf": "52998224725"})).await;
    let path = format!("/clients/{}", c["id"]);
    let errors = issues_for(
        &sb,
        Method::PUT,
        &path,
        json!({"city": "Natal", "cpf": "52998224724"}),
    )
    .await;
    assert_eq!(errors[0]["path"], json!(["cpf"]));
    let fetched: Value = sb.get(&path).await.json().await.unwrap();
    assert_eq!(fetched, c);
}

#[tokio::test]
async fn malformed_or_non_object_bodies() {
    let sb = Sandbox::start().await;
    let send_raw = |body: &'static str, content_type: &'static str| {
        sb.http
            .post(sb.url("/clients"))
            .bearer_auth(sb.running.api_key())
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for broken in ["{\"name\": ", "{name: 'x'}", "\"just a string\"", "42", "null"] {
        let res = send_raw(broken, "application/json").await.unwrap();
        assert_eq!(res.status(), 400, "{broken}");
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"message": "Invalid JSON"}),
            "{broken}"
        );
    }
    let res = send_raw("[{\"name\": \"A\"}]", "application/json").await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["errors"],
        json!([{"code": "invalid_type", "expected": "object", "received": "array", "path": [], "message": "Expected object, received array"}])
    );
    // Like express.json(), a body without a JSON content type is not read at all.
    let res = send_raw("{\"name\": \"A\"}", "text/plain").await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["errors"][0]["message"],
        "Required"
    );
}
