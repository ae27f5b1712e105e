//! Fault injection: added latency, 503s with an HTML body and 429s with `Retry-After`, chosen
//! per attempt as documented on `Faults`. Owns the decision and the fault responses; counting
//! attempts is `attempts`' job.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::attempts::Attempts;
use crate::config::Faults;
use crate::responses::html;

/// Paths under this prefix are the sandbox's own controls: never counted, never faulted.
pub(crate) const CONTROL_PREFIX: &str = "/api/__sandbox/";

/// What the fault middleware needs.
#[derive(Debug, Clone)]
pub(crate) struct FaultState {
    pub faults: Arc<Faults>,
    pub attempts: Attempts,
}

/// Counts the attempt, then delays and/or answers with a fault, or passes it on.
pub(crate) async fn inject(State(state): State<FaultState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with(CONTROL_PREFIX) {
        return next.run(req).await;
    }
    let attempt = state.attempts.record(req.method().as_str(), path);
    let faults = &*state.faults;
    if faults.is_off() {
        return next.run(req).await;
    }
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    match decide(faults, attempt, rand::random::<f64>()) {
        Some(Fault::Unavailable) => unavailable(),
        Some(Fault::RateLimited) => rate_limited(faults.retry_after_secs),
        None => next.run(req).await,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Unavailable,
    RateLimited,
}

/// The fault for attempt number `attempt` (1-based), given one uniform draw in `[0, 1)`.
fn decide(faults: &Faults, attempt: u64, draw: f64) -> Option<Fault> {
    let first_503 = u64::from(faults.fail_first_n_503);
    let first_429 = first_503 + u64::from(faults.rate_limit_first_n_429);
    if attempt <= first_503 {
        Some(Fault::Unavailable)
    } else if attempt <= first_429 {
        Some(Fault::RateLimited)
    } else if draw < faults.error_503_share {
        Some(Fault::Unavailable)
    } else if draw < faults.error_503_share + faults.rate_limit_429_share {
        Some(Fault::RateLimited)
    } else {
        None
    }
}

/// What a reverse proxy in front of a down backend answers.
fn unavailable() -> Response {
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n".to_owned(),
    )
}

/// What express-rate-limit answers by default, plus the `Retry-After` a client must honour.
fn rate_limited(retry_after_secs: u64) -> Response {
    let mut response = html(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests, please try again later.".to_owned(),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_faults_come_first_then_the_random_shares() {
        let faults = Faults {
            fail_first_n_503: 2,
            rate_limit_first_n_429: 1,
            error_503_share: 0.25,
            rate_limit_429_share: 0.25,
            ..Faults::default()
        };
        let seen: Vec<_> = (1..=4).map(|n| decide(&faults, n, 0.9)).collect();
        assert_eq!(
            seen,
            [
                Some(Fault::Unavailable),
                Some(Fault::Unavailable),
                Some(Fault::RateLimited),
                None
            ]
        );
        assert_eq!(decide(&faults, 9, 0.1), Some(Fault::Unavailable));
        assert_eq!(decide(&faults, 9, 0.3), Some(Fault::RateLimited));
    }
}
