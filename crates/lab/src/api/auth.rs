//! Authentication: every request carries the lab's bearer token (`Authorization: Bearer
//! <token>`), which exists only in the lab's memory and in its 0600 kubeconfig. A request
//! without it, or with another, gets upstream's 401 `Unauthorized` Status. The health
//! endpoints (`/healthz`, `/livez`, `/readyz`) and `/version` answer without a token, as
//! upstream's `system:public-info-viewer` lets anonymous clients read them; they reveal
//! nothing about the lab's objects. A wrong token is refused even there, as upstream's
//! authenticator refuses it before any authorizer runs.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, header};
use axum::middleware::Next;

use super::ApiState;
use super::respond::error_response;
use crate::error::ApiError;

/// Paths anonymous clients may read.
const PUBLIC: [&str; 5] = ["/healthz", "/livez", "/readyz", "/version", "/version/"];

/// What a request's `Authorization` header says about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential {
    None,
    Valid,
    Invalid,
}

/// Judges an `Authorization` header value against the lab's token.
pub fn judge(authorization: Option<&[u8]>, token: &str) -> Credential {
    let Some(value) = authorization else {
        return Credential::None;
    };
    let given = value
        .strip_prefix(b"Bearer ")
        .or_else(|| value.strip_prefix(b"bearer "));
    match given {
        Some(t) if crate::tls::same_token(t.trim_ascii(), token.as_bytes()) => Credential::Valid,
        _ => Credential::Invalid,
    }
}

/// The middleware in front of every route.
pub async fn require_token(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Response<Body> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    match judge(header, &state.token) {
        Credential::Valid => next.run(req).await,
        Credential::None if PUBLIC.contains(&req.uri().path()) => next.run(req).await,
        _ => error_response(&ApiError::unauthorized()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_lab_token_as_a_bearer_credential_is_valid() {
        assert_eq!(judge(Some(b"Bearer abc"), "abc"), Credential::Valid);
        assert_eq!(judge(Some(b"Bearer abd"), "abc"), Credential::Invalid);
        assert_eq!(judge(Some(b"Basic abc"), "abc"), Credential::Invalid);
        assert_eq!(judge(Some(b"Bearer "), "abc"), Credential::Invalid);
        assert_eq!(judge(None, "abc"), Credential::None);
    }
}
