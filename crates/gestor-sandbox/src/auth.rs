//! Bearer-key authentication in front of every protected route. Owns reading the
//! `Authorization` header; the key table itself lives in `accounts`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::accounts::KeyTable;
use crate::responses::ApiError;

/// Lets the request through with its `User` in the extensions, or answers 401.
pub(crate) async fn require_key(State(keys): State<KeyTable>, mut req: Request, next: Next) -> Response {
    let user = bearer_token(req.headers()).and_then(|key| keys.user_for(key).cloned());
    match user {
        Some(user) => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        None => ApiError::Unauthorized.into_response(),
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, as RFC 7235 says).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
