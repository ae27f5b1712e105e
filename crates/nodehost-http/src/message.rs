//! The request a node hands to the client and the response it gets back.
//!
//! Plain data with a few builder helpers. `Debug` shows header *names* only and body sizes:
//! header values carry the API key, bodies carry user data, and both end up in logs.

use std::fmt;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::redact::redacted;

/// `application/json`, for `Accept` and `Content-Type` (static bytes: no allocation).
pub(crate) fn application_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

/// One HTTP request, before retries.
#[derive(Clone)]
pub struct Request {
    /// HTTP method; GET, HEAD, PUT, DELETE and OPTIONS count as idempotent for retries.
    pub method: Method,
    /// Absolute URL.
    pub url: Url,
    /// Extra headers. Mark secrets with [`HeaderValue::set_sensitive`] (or use
    /// [`Request::sensitive_header`]) so HTTP/2 never indexes them.
    pub headers: HeaderMap,
    /// Body bytes; `Content-Type: application/json` is added when absent.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// `GET url`.
    pub fn get(url: Url) -> Self {
        Self::new(Method::GET, url)
    }

    /// `POST url`.
    pub fn post(url: Url) -> Self {
        Self::new(Method::POST, url)
    }

    /// `PUT url`.
    pub fn put(url: Url) -> Self {
        Self::new(Method::PUT, url)
    }

    /// `DELETE url`.
    pub fn delete(url: Url) -> Self {
        Self::new(Method::DELETE, url)
    }

    /// Set a JSON body (and its `Content-Type`); fails only for a value JSON cannot hold
    /// (a map with non-string keys).
    pub fn json_body<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Result<Self, serde_json::Error> {
        self.body = Some(serde_json::to_vec(body)?);
        self.headers.insert(CONTENT_TYPE, application_json());
        Ok(self)
    }

    /// Set a header, replacing any value it had.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Set a header holding a secret (e.g. `Authorization`): marked sensitive so HTTP/2
    /// header compression never indexes it.
    #[must_use]
    pub fn sensitive_header(self, name: HeaderName, mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        self.header(name, value)
    }

    /// Whether repeating the request has the effect of sending it once (RFC 9110 §9.2.2),
    /// which is what makes a retry after a maybe-delivered attempt safe.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        )
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &redacted(&self.url))
            .field("headers", &HeaderNames(&self.headers))
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

/// A final HTTP answer (any status), after retries.
#[derive(Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body, at most `max_response_bytes` long.
    pub body: Vec<u8>,
    /// Attempts made, this one included.
    pub attempts: u32,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value as text, when present and visible ASCII.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &HeaderNames(&self.headers))
            .field("body_bytes", &self.body.len())
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// Renders a header map as its names only.
struct HeaderNames<'a>(&'a HeaderMap);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::AUTHORIZATION;

    fn url(s: &str) -> Url {
        match Url::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let req = Request::post(url("https://u:hunter2@api.example.com/api/clients?key=s3cret"))
            .sensitive_header(
                AUTHORIZATION,
                HeaderValue::from_static("Bearer gck_0123456789abcdef"),
            )
            .header(
                HeaderName::from_static("x-api-key"),
                HeaderValue::from_static("plain-s3cret"),
            )
            .json_body(&serde_json::json!({"name": "Maria", "cpf": "52998224725"}))
            .unwrap();
        let shown = format!("{req:?} {req:#?}");
        for secret in ["gck_0123456789abcdef", "hunter2", "s3cret", "52998224725"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(shown.contains("authorization") && shown.contains("api.example.com"));
        assert!(req.headers.get(AUTHORIZATION).is_some_and(|v| v.is_sensitive()));
    }

    #[test]
    fn builders_set_json_headers_and_idempotency() {
        let req = Request::put(url("https://api.example.com/api/clients/1"))
            .json_body(&serde_json::json!({"name": "Ana"}))
            .unwrap();
        assert_eq!(req.body.as_deref(), Some(&br#"{"name":"Ana"}"#[..]));
        assert_eq!(req.headers.get(CONTENT_TYPE), Some(&application_json()));
        assert!(req.is_idempotent());
        assert!(Request::get(url("https://a.example/")).is_idempotent());
        assert!(Request::delete(url("https://a.example/")).is_idempotent());
        assert!(!Request::post(url("https://a.example/")).is_idempotent());
        assert!(!Request::new(Method::PATCH, url("https://a.example/")).is_idempotent());
    }
}
