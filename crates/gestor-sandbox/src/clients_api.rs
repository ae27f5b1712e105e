//! The `/api/clients` endpoints: list, search, create, get, update (PUT and PATCH alike) and
//! delete, for the authenticated user's clients. Owns the HTTP side of those operations:
//! reading bodies and ids, choosing statuses; rules and SQL live in `validation` and
//! `clients_repo`.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::accounts::User;
use crate::clients_repo;
use crate::record::now_timestamp;
use crate::responses::{ApiError, json};
use crate::store::Store;
use crate::validation::{ClientChanges, Mode};

/// Ids are positive integers of at most 18 digits (below `i64::MAX`); anything else is no id.
const MAX_ID_DIGITS: usize = 18;

// Handlers answer `Result<Response, ApiError>`: `ApiError` renders itself (status and body),
// so each handler is just its happy path with `?`.

/// `GET /api/clients`: every client of the user, by id.
pub(crate) async fn list(
    State(store): State<Store>,
    Extension(user): Extension<User>,
) -> Result<Response, ApiError> {
    let clients = store.read(move |c| clients_repo::list(c, &user.id)).await?;
    Ok(json(StatusCode::OK, &clients))
}

/// `GET /api/clients/search?q=term`: clients whose name, e-mail, phone, CPF or city contains
/// the term.
pub(crate) async fn search(
    State(store): State<Store>,
    Extension(user): Extension<User>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let term = query.ok().and_then(|Query(mut q)| q.remove("q"));
    let term = term
        .filter(|t| !t.trim().is_empty())
        .ok_or(ApiError::MissingQuery("q"))?;
    let clients = store
        .read(move |c| clients_repo::search(c, &user.id, term.trim()))
        .await?;
    Ok(json(StatusCode::OK, &clients))
}

/// `POST /api/clients`: 201 with the stored record.
pub(crate) async fn create(
    State(store): State<Store>,
    Extension(user): Extension<User>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body)?;
    let changes = ClientChanges::from_json(&body, Mode::Create).map_err(ApiError::Invalid)?;
    let client = changes.into_new_client(user.id.to_string(), now_timestamp());
    let client = store.write(move |c| clients_repo::insert(c, client)).await?;
    Ok(json(StatusCode::CREATED, &client))
}

/// `GET /api/clients/{id}`.
pub(crate) async fn get_one(
    State(store): State<Store>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let client = store
        .read(move |c| clients_repo::get(c, &user.id, id))
        .await?
        .ok_or(ApiError::ClientNotFound)?;
    Ok(json(StatusCode::OK, &client))
}

/// `PUT` and `PATCH /api/clients/{id}`: both change only the fields given (null clears one).
pub(crate) async fn update(
    State(store): State<Store>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Like the vendor, the body is validated before the id is looked up: a bad body on an
    // unknown id is a 400, not a 404.
    let body = read_json(&headers, body)?;
    let changes = ClientChanges::from_json(&body, Mode::Update).map_err(ApiError::Invalid)?;
    let id = parse_id(&id)?;
    let client = store
        .write(move |c| clients_repo::update(c, &user.id, id, changes))
        .await?
        .ok_or(ApiError::ClientNotFound)?;
    Ok(json(StatusCode::OK, &client))
}

/// `DELETE /api/clients/{id}`: 200 with an empty body and no content type, as documented.
pub(crate) async fn delete(
    State(store): State<Store>,
    Extension(user): Extension<User>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let deleted = store
        .write(move |c| clients_repo::delete(c, &user.id, id))
        .await?;
    if !deleted {
        return Err(ApiError::ClientNotFound);
    }
    Ok(StatusCode::OK.into_response())
}

/// A path id the vendor would find: ASCII digits only. Anything else cannot name a client.
fn parse_id(raw: &str) -> Result<i64, ApiError> {
    if raw.is_empty() || raw.len() > MAX_ID_DIGITS || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::ClientNotFound);
    }
    raw.parse().map_err(|_| ApiError::ClientNotFound)
}

/// The body as Express's `express.json()` sees it: without a JSON content type the body is
/// ignored and reads as `{}`; an empty body is `{}`; anything but an object or array at the top
/// is refused like malformed JSON (its strict mode).
fn read_json(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidJson
        }
    })?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    let text = body.trim_ascii();
    if !is_json || text.is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    if !matches!(text.first(), Some(b'{' | b'[')) {
        return Err(ApiError::InvalidJson);
    }
    serde_json::from_slice(text).map_err(|_| ApiError::InvalidJson)
}
