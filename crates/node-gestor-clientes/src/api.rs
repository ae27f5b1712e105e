//! The typed client of the Gestor Clientes Max API: one session per run, holding the HTTP
//! client, the base URL and the `Authorization` header, and one method per endpoint.
//!
//! This is the only place the API key is exposed, and the only place URLs are built. What an
//! answer means (records, errors) is decided in [`crate::answer`].

use std::fmt;

use nodehost_core::{ItemContext, Json, NodeError, Output, SessionOptions, SetupError};
use nodehost_http::answer::Redactor;
use nodehost_http::{HttpClient, HttpError, HttpOptions, Request, Response};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::ExposeSecret;
use serde::Serialize;
use url::Url;

use crate::answer;
use crate::credentials::{CREDENTIAL_NAME, GestorCredentials};
use crate::params::ClientId;

/// A connected session: everything needed to call the API for one run.
pub struct GestorSession {
    http: HttpClient,
    /// The base URL without empty path segments, so joins never make `//`.
    base: Url,
    authorization: HeaderValue,
    redactor: Redactor,
}

impl fmt::Debug for GestorSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GestorSession")
            .field("base", &self.base.as_str())
            .field("authorization", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl GestorSession {
    /// Check the credentials and build the HTTP client and the `Authorization` header once.
    pub fn open(credentials: GestorCredentials, options: &SessionOptions) -> Result<Self, SetupError> {
        let options = HttpOptions::from_session(options);
        let invalid = |reason: String| SetupError::InvalidCredentials {
            credential: CREDENTIAL_NAME.to_owned(),
            reason,
        };
        let mut base = nodehost_http::check_base_url(&credentials.base_url, options.allow_insecure_http)
            .map_err(|e| invalid(format!("baseUrl: {e}")))?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid(format!(
                "baseUrl `{}` must not have a query (`?...`) or fragment (`#...`): give the API \
                 root, e.g. https://agenda.example.com/api",
                base.origin().ascii_serialization()
            )));
        }
        // Empty segments (a trailing slash, or several) would turn into `//` once `clients` is
        // appended; drop them here so every URL is built from clean segments.
        let segments: Vec<String> = base
            .path_segments()
            .ok_or_else(|| invalid("baseUrl cannot take a path".to_owned()))?
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        base.set_path(&format!("/{}", segments.join("/")));

        // The one place the key is exposed: it goes straight into a sensitive header value.
        // Surrounding whitespace is dropped because keys pasted into files and variables often
        // carry a trailing newline, which is never part of a key.
        let key = credentials.api_key.expose_secret().trim();
        if key.is_empty() {
            return Err(invalid("apiKey is empty".to_owned()));
        }
        let mut authorization = HeaderValue::try_from(format!("Bearer {key}")).map_err(|_| {
            invalid("apiKey contains characters that cannot be sent in an HTTP header".to_owned())
        })?;
        authorization.set_sensitive(true);
        let redactor = Redactor::from_authorization(&authorization);

        let http = HttpClient::new(&options).map_err(|e| SetupError::Other(e.to_string()))?;
        Ok(Self {
            http,
            base,
            authorization,
            redactor,
        })
    }

    /// `GET /clients`.
    pub async fn list_clients(&self, item: &ItemContext) -> Result<Vec<Output>, NodeError> {
        let response = self.send(Method::GET, &["clients"], NO_BODY, item).await?;
        answer::client_list(&response, &self.redactor, "GET /clients")
    }

    /// `GET /clients/search?q=...`: the records the API's search matches.
    pub async fn search_clients(&self, q: &str, item: &ItemContext) -> Result<Vec<Output>, NodeError> {
        let response = self
            .send_to(Method::GET, self.search_url(q), NO_BODY, item)
            .await?;
        answer::client_list(&response, &self.redactor, "GET /clients/search")
    }

    /// The URL of a search for `q` (percent-encoded by `url`).
    pub fn search_url(&self, q: &str) -> Url {
        let mut url = self.url(&["clients", "search"]);
        url.query_pairs_mut().append_pair("q", q);
        url
    }

    /// `GET /clients/{id}`.
    pub async fn get_client(&self, id: ClientId, item: &ItemContext) -> Result<Output, NodeError> {
        let id = id.to_string();
        let response = self.send(Method::GET, &["clients", &id], NO_BODY, item).await?;
        answer::client_record(&response, &self.redactor, false)
    }

    /// `POST /clients` with `body` (the create parameters).
    pub async fn create_client(
        &self,
        body: &impl Serialize,
        item: &ItemContext,
    ) -> Result<Output, NodeError> {
        let response = self.send(Method::POST, &["clients"], Some(body), item).await?;
        answer::client_record(&response, &self.redactor, true)
    }

    /// `PUT /clients/{id}` with only the fields to change.
    pub async fn update_client(
        &self,
        id: ClientId,
        body: &impl Serialize,
        item: &ItemContext,
    ) -> Result<Output, NodeError> {
        let id = id.to_string();
        let response = self
            .send(Method::PUT, &["clients", &id], Some(body), item)
            .await?;
        answer::client_record(&response, &self.redactor, true)
    }

    /// `DELETE /clients/{id}`.
    pub async fn delete_client(&self, id: ClientId, item: &ItemContext) -> Result<Json, NodeError> {
        let segment = id.to_string();
        let response = self
            .send(Method::DELETE, &["clients", &segment], NO_BODY, item)
            .await?;
        answer::deleted(&response, &self.redactor, id)
    }

    /// A request as a dry run shows it: method, URL, the headers it carries (the key
    /// redacted) and its body, with `sent: false`.
    pub fn describe(&self, method: &Method, url: &Url, body: Option<&impl Serialize>) -> Json {
        let mut headers = Json::new();
        headers.insert("Authorization".into(), "Bearer [REDACTED]".into());
        headers.insert("Accept".into(), "application/json".into());
        let body = body.and_then(|b| serde_json::to_value(b).ok());
        if body.is_some() {
            headers.insert("Content-Type".into(), "application/json".into());
        }
        let mut request = Json::new();
        request.insert("method".into(), method.as_str().into());
        request.insert("url".into(), url.as_str().into());
        request.insert("headers".into(), headers.into());
        if let Some(body) = body {
            request.insert("body".into(), body);
        }
        request.insert("sent".into(), false.into());
        request
    }

    /// `GET /test-connection`: who the key belongs to.
    pub async fn test_connection(&self) -> Result<String, NodeError> {
        let item = ItemContext::detached(0);
        let response = self
            .send(Method::GET, &["test-connection"], NO_BODY, &item)
            .await?;
        answer::key_owner(&response, &self.redactor)
    }

    /// `{base}/{segments...}`. Segments are percent-encoded by `url`, and IDs are digits only,
    /// so nothing a user types can change the path.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `open` checked that the base URL can take a path, so this cannot fail.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Send one request with the session's headers; a failure without an answer becomes a
    /// `NodeError` naming the host and the cause.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&(impl Serialize + ?Sized)>,
        item: &ItemContext,
    ) -> Result<Response, NodeError> {
        self.send_to(method, self.url(segments), body, item).await
    }

    async fn send_to(
        &self,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
        item: &ItemContext,
    ) -> Result<Response, NodeError> {
        let writes = method != Method::GET;
        // `Accept: application/json` is the HTTP client's default header.
        let mut request =
            Request::new(method, url).sensitive_header(AUTHORIZATION, self.authorization.clone());
        if let Some(body) = body {
            request = request.json_body(body).map_err(NodeError::internal)?;
        }
        self.http
            .send(request, item)
            .await
            .map_err(|e| transport_error(&e, writes, &self.redactor))
    }
}

/// No request body.
const NO_BODY: Option<&Json> = None;

/// A request that got no usable answer.
fn transport_error(error: &HttpError, writes: bool, redactor: &Redactor) -> NodeError {
    let mut message = format!(
        "could not reach the Gestor Clientes Max API: {}",
        redactor.redact(&error.to_string())
    );
    if matches!(error, HttpError::InvalidUrl { .. }) {
        message.push_str(" (check baseUrl in the gestorClientesMaxApi credentials)");
    }
    NodeError::new(message).maybe_applied(writes && error.maybe_sent())
}
