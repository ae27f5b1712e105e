//! Every response the sandbox writes by itself: JSON bodies in Express's exact content type and
//! the error answers of the contract (401, 404, 400 with Zod issues, ...). Owns the wording of
//! error messages; decides nothing about when they apply.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::zod::Issue;

/// Express writes this, not plain `application/json`; clients must cope with the parameter.
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// `value` as a JSON response with `status`.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE))],
            body,
        )
            .into_response(),
        Err(e) => ApiError::Internal(format!("serialising response: {e}")).into_response(),
    }
}

/// A failed request, rendered as the vendor renders it.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 401: no key, a malformed header, or an unknown key.
    Unauthorized,
    /// 404: unknown or non-numeric client id.
    ClientNotFound,
    /// 400: the body broke the schema; every issue is listed.
    Invalid(Vec<Issue>),
    /// 400: the body is not JSON (or not a JSON object/array, which Express's parser refuses).
    InvalidJson,
    /// 400: a required query parameter is missing.
    MissingQuery(&'static str),
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge,
    /// 500: a bug or a database failure; the detail is logged, not sent.
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"message": "Acesso negado. Login necessário."}),
            ),
            Self::ClientNotFound => (
                StatusCode::NOT_FOUND,
                json!({"message": "Cliente não encontrado"}),
            ),
            Self::Invalid(issues) => (
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid data", "errors": issues.into_iter().map(Value::Object).collect::<Vec<_>>()}),
            ),
            Self::InvalidJson => (StatusCode::BAD_REQUEST, json!({"message": "Invalid JSON"})),
            Self::MissingQuery(name) => (
                StatusCode::BAD_REQUEST,
                json!({"message": format!("Parâmetro de busca '{name}' é obrigatório")}),
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"message": "request entity too large"}),
            ),
            Self::Internal(detail) => {
                tracing::error!(%detail, "sandbox internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": "Erro interno do servidor"}),
                )
            }
        };
        json(status, &body)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// Express's answer to a path or method it has no route for: 404 with a small HTML page.
pub(crate) fn express_not_found(method: &str, path: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot {method} {}</pre>\n</body>\n</html>\n",
        html_escape(path)
    );
    html(StatusCode::NOT_FOUND, body)
}

/// An HTML response, as proxies and Express's defaults send.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
