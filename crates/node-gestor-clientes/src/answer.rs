//! What the API's answers mean: the records a success carries, and the `NodeError` a failure
//! becomes (status, the API's own message, Zod issues, or a clean excerpt of a proxy's page).
//!
//! Pure functions of a [`Response`]: no I/O here, so every error text is unit-testable.

use nodehost_core::{Json, NodeError, Output};
use nodehost_http::answer::{EXCERPT_CHARS, Redactor, excerpt, status_text, truncate};
use nodehost_http::{HttpErrorExt as _, Response};
use serde_json::{Value, json};

use crate::params::ClientId;

/// Who answered, at the start of every API error.
const API: &str = "Gestor Clientes Max API";

/// The answer to `GET /clients`: one object per client.
pub(crate) fn client_list(
    response: &Response,
    redactor: &Redactor,
    request: &str,
) -> Result<Vec<Output>, NodeError> {
    if response.is_success()
        && let Some(clients) = pass_through_list(&response.body, redactor)
    {
        return Ok(clients);
    }
    let value = success_json(response, redactor, false)?;
    let Value::Array(items) = value else {
        return Err(NodeError::new(format!(
            "{API} answered {} to {request} with {}, expected a JSON array of clients",
            status_text(response.status),
            describe(&value)
        ))
        .with_status(response.status));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(record) => Ok(redacted_record(record, redactor)),
            other => Err(NodeError::new(format!(
                "{API} answered {request} with an array whose element {i} is {}, expected a \
                 client object",
                describe(&other)
            ))
            .with_status(response.status)),
        })
        .collect()
}

/// The answer to a request that returns one client record (get, create, update).
pub(crate) fn client_record(
    response: &Response,
    redactor: &Redactor,
    write: bool,
) -> Result<Output, NodeError> {
    if response.is_success()
        && let Some(record) = pass_through(&response.body, redactor)
    {
        return Ok(record);
    }
    match success_json(response, redactor, write)? {
        Value::Object(record) => Ok(redacted_record(record, redactor)),
        other => Err(NodeError::new(format!(
            "{API} answered {} with {}, expected a client object",
            status_text(response.status),
            describe(&other)
        ))
        .with_status(response.status)
        .maybe_applied(write)),
    }
}

/// A success body that is one client object on one line and does not hold the key, as the
/// output unchanged: the fast path, which builds no JSON tree. `None` sends the body through
/// the parser, which reports what is wrong with it or redacts the key.
fn pass_through(body: &[u8], redactor: &Redactor) -> Option<Output> {
    Output::from_object_bytes(keyless(body, redactor)?)
}

/// [`pass_through`] for a JSON array of client objects: every element, or `None`.
fn pass_through_list(body: &[u8], redactor: &Redactor) -> Option<Vec<Output>> {
    // Reading borrowed `RawValue`s from bytes checks that they are UTF-8.
    let elements: Vec<&serde_json::value::RawValue> =
        serde_json::from_slice(keyless(body, redactor)?).ok()?;
    elements.into_iter().map(Output::from_object_raw).collect()
}

/// The body, unless it holds the key (which must go through the redacting path).
fn keyless<'a>(body: &'a [u8], redactor: &Redactor) -> Option<&'a [u8]> {
    (!redactor.finds_key_in(body)).then_some(body)
}

/// A record from a success body that could not pass through, with the key scrubbed: a server
/// that echoes it must not put it in the output.
fn redacted_record(record: Json, redactor: &Redactor) -> Output {
    redactor.redact_object(record).into()
}

/// The answer to `DELETE /clients/{id}`: the API's JSON body when it sends one, otherwise
/// `{"deleted": true, "id": id}` (the contract documents an empty 200; 204 was seen too).
pub(crate) fn deleted(response: &Response, redactor: &Redactor, id: ClientId) -> Result<Json, NodeError> {
    if !response.is_success() {
        return Err(api_error(response, redactor, true));
    }
    let confirmation = || {
        let mut out = Json::new();
        out.insert("deleted".into(), Value::Bool(true));
        out.insert("id".into(), json!(id.get()));
        out
    };
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(confirmation());
    }
    // The status already says the delete happened; a body we cannot use must not turn that
    // into a failure, so it is reported beside the confirmation.
    Ok(match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(body)) => redactor.redact_object(body),
        Ok(other) => {
            let mut out = confirmation();
            out.insert("response".into(), redactor.redact_value(other));
            out
        }
        Err(_) => {
            let mut out = confirmation();
            out.insert(
                "response".into(),
                Value::String(redactor.redact(&excerpt(&response.body))),
            );
            out
        }
    })
}

/// The answer to `GET /test-connection`, as "key belongs to NAME <email> (authMethod)".
pub(crate) fn key_owner(response: &Response, redactor: &Redactor) -> Result<String, NodeError> {
    let value = success_json(response, redactor, false)?;
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let name = value.pointer("/user/name").and_then(text);
    let email = value.pointer("/user/email").and_then(text);
    let method = value.get("authMethod").and_then(text);
    let who = match (name, email) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => {
            return Ok(format!(
                "key accepted ({API} answered {} without naming the user)",
                status_text(response.status)
            ));
        }
    };
    let mut out = format!("key belongs to {who}");
    if let Some(method) = method {
        out.push_str(&format!(" ({method})"));
    }
    Ok(redactor.redact(&out))
}

/// The JSON body of a 2xx answer, or the error the answer stands for.
fn success_json(response: &Response, redactor: &Redactor, write: bool) -> Result<Value, NodeError> {
    if !response.is_success() {
        return Err(api_error(response, redactor, write));
    }
    // A write that got a 2xx was applied, whatever the body says.
    let unusable = |what: String| {
        NodeError::new(format!("{API} answered {} {what}", status_text(response.status)))
            .with_status(response.status)
            .maybe_applied(write)
    };
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Err(unusable("with an empty body, expected JSON".to_owned()));
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        // The parser's words say what is wrong: not JSON at all, or nested deeper than any
        // JSON reader here takes (128 levels or more).
        let what = e.to_string();
        let words = what.split(" at line ").next().unwrap_or(&what).to_owned();
        unusable(format!(
            "with a body that cannot be read as JSON ({words}): {}",
            redactor.redact(&excerpt(&response.body))
        ))
    })
}

/// The error a non-2xx answer stands for.
///
/// The API's own `message` is quoted unchanged; for a 400 each Zod issue's path and message
/// follow, and the issues go to `details`. A body that is not the API's JSON (a proxy's HTML
/// page) is quoted as a short, clean excerpt.
pub(crate) fn api_error(response: &Response, redactor: &Redactor, write: bool) -> NodeError {
    let status = response.status;
    let mut message = format!("{API} answered {}", status_text(status));
    if response.attempts > 1 {
        message.push_str(&format!(" after {} attempts", response.attempts));
    }
    let mut details = None;
    let parsed = serde_json::from_slice::<Value>(&response.body).ok();
    let api_message = parsed.as_ref().and_then(|v| {
        v.get("message")
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .filter(|m| !m.trim().is_empty())
    });
    match (&parsed, api_message) {
        (Some(body), Some(api_message)) => {
            message.push_str(": ");
            message.push_str(api_message);
            if let Some(Value::Array(issues)) = body.get("errors") {
                let listed: Vec<String> = issues.iter().filter_map(issue_text).collect();
                if !listed.is_empty() {
                    message.push_str(&format!(" ({})", listed.join("; ")));
                }
                details = Some(Value::Array(issues.clone()));
            }
        }
        (Some(body), None) => {
            message.push_str(": ");
            message.push_str(&truncate(&body.to_string(), EXCERPT_CHARS));
        }
        (None, _) => {
            let text = excerpt(&response.body);
            if text.is_empty() {
                message.push_str(" with an empty body");
            } else {
                message.push_str(": ");
                message.push_str(&text);
            }
        }
    }
    match status {
        401 => message.push_str(" (check apiKey in the gestorClientesMaxApi credentials)"),
        404 if api_message.is_none() => message.push_str(
            " (is baseUrl the API root, including the /api segment, e.g. \
             https://agenda.example.com/api?)",
        ),
        300..=399 => {
            message.push_str(" (redirects are not followed: check baseUrl");
            if let Some(location) = response.header_str("location") {
                // Only where it points, never a query that might carry a token.
                let location = location.split(['?', '#']).next().unwrap_or_default();
                message.push_str(&format!("; the API points to {}", truncate(location, 120)));
            }
            message.push(')');
        }
        _ => {}
    }
    let mut error = NodeError::new(redactor.redact(&message))
        .with_status(status)
        // A server error may come after the write was committed (or from a proxy in front of
        // a server that committed it); a 4xx is a refusal.
        .maybe_applied(write && status >= 500);
    if let Some(details) = details {
        error = error.with_details(redactor.redact_value(details));
    }
    error
}

/// `email: Invalid email`, from a Zod issue `{"path": ["email"], "message": "Invalid email"}`.
fn issue_text(issue: &Value) -> Option<String> {
    let message = issue.get("message").and_then(Value::as_str)?;
    let path: Vec<String> = issue
        .get("path")
        .and_then(Value::as_array)
        .map(|p| {
            p.iter()
                .map(|s| match s {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(if path.is_empty() {
        message.to_owned()
    } else {
        format!("{}: {message}", path.join("."))
    })
}

/// A JSON value's kind, for "expected X, got Y" texts.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    const KEY: &str = "gck_canary0123456789";

    fn redactor() -> Redactor {
        Redactor::from_authorization(&HeaderValue::from_static("Bearer gck_canary0123456789"))
    }

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            attempts: 1,
        }
    }

    #[test]
    fn api_message_passes_through_unchanged() {
        let e = api_error(
            &response(404, r#"{"message":"Cliente não encontrado"}"#),
            &redactor(),
            false,
        );
        assert_eq!(
            e.message,
            "Gestor Clientes Max API answered 404 Not Found: Cliente não encontrado"
        );
        assert_eq!(e.http_status(), Some(404));
        assert!(!e.maybe_applied);
    }

    #[test]
    fn zod_issues_are_listed_and_kept_in_details() {
        let body = r#"{"message":"Invalid data","errors":[
            {"code":"invalid_string","validation":"email","path":["email"],"message":"Invalid email"},
            {"code":"too_small","path":["address","number"],"message":"Required"}]}"#;
        let e = api_error(&response(400, body), &redactor(), true);
        assert_eq!(
            e.message,
            "Gestor Clientes Max API answered 400 Bad Request: Invalid data \
             (email: Invalid email; address.number: Required)"
        );
        assert_eq!(
            e.details.as_ref().and_then(Value::as_array).map(Vec::len),
            Some(2)
        );
        assert!(!e.maybe_applied, "a 400 is a refusal");
    }

    #[test]
    fn html_error_pages_become_a_short_clean_excerpt() {
        let page = "<html><head><title>502 Bad Gateway</title><style>body{color:red}</style>\
                    <script>var x = '<b>';</script></head><body>\n<!-- upstream -->\
                    <center><h1>Bad&nbsp;Gateway</h1></center>\n\n<hr><center>nginx &amp; co</center>\
                    </body></html>";
        let e = api_error(&response(502, page), &redactor(), true);
        assert_eq!(
            e.message,
            "Gestor Clientes Max API answered 502 Bad Gateway: 502 Bad Gateway Bad Gateway nginx & co"
        );
        assert!(e.maybe_applied);
    }

    #[test]
    fn retried_statuses_say_how_often() {
        let mut r = response(503, "");
        r.attempts = 4;
        let e = api_error(&r, &redactor(), false);
        assert_eq!(
            e.message,
            "Gestor Clientes Max API answered 503 Service Unavailable after 4 attempts with an empty body"
        );
    }

    #[test]
    fn the_key_is_scrubbed_from_echoed_bodies() {
        let body = format!("<pre>Authorization: Bearer {KEY}</pre>");
        let e = api_error(&response(500, &body), &redactor(), false);
        assert!(!e.message.contains(KEY), "{}", e.message);
        assert!(e.message.contains("[REDACTED]"));
        let body = format!(r#"{{"message":"bad key {KEY}"}}"#);
        let e = api_error(&response(401, &body), &redactor(), false);
        assert!(!e.message.contains(KEY), "{}", e.message);
    }
}
