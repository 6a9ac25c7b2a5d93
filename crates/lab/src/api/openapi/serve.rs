//! Serving the documents as upstream's `handler3` does: built once, an `ETag` that is the
//! SHA-512 of the body, `serverRelativeURL`s carrying it as `?hash=`, `Cache-Control:
//! public, immutable` (and an `Expires` a year ahead) when the hash matches, and a 301 to the
//! current hash when it does not.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::build_document;
use crate::api::respond;
use crate::error::ApiError;
use crate::kinds;

/// A document as served: its bytes and upstream's ETag (upper-case hex SHA-512).
pub struct Served {
    pub body: Vec<u8>,
    pub etag: String,
}

impl Served {
    fn of(value: &Value) -> Served {
        use sha2::{Digest, Sha512};
        let body = value.to_string().into_bytes();
        let etag = Sha512::digest(&body)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Served { body, etag }
    }
}

/// Every document, keyed as in the root (`api/v1`, `apis/apps/v1`), with the root itself
/// and the time they were built (their `Last-Modified`).
pub struct Documents {
    pub by_path: BTreeMap<String, Served>,
    pub root: Served,
    pub built: Timestamp,
}

/// The documents, built on first use (a few hundred milliseconds) and then kept.
pub fn documents() -> &'static Documents {
    DOCS.get_or_init(|| {
        let mut by_path = BTreeMap::new();
        let mut root = Map::new();
        for (g, v) in kinds::group_versions() {
            let Some(doc) = build_document(g, v) else {
                continue;
            };
            let key = kinds::gv_path(g, v).trim_start_matches('/').to_string();
            let served = Served::of(&doc);
            root.insert(
                key.clone(),
                json!({"serverRelativeURL": server_relative_url(&key, &served.etag)}),
            );
            by_path.insert(key, served);
        }
        Documents {
            by_path,
            root: Served::of(&json!({"paths": root})),
            built: Timestamp::now(),
        }
    })
}

static DOCS: OnceLock<Documents> = OnceLock::new();

/// The documents for a request: the first one builds them on a blocking thread (about a
/// second in a debug build), so the runtime's workers keep serving meanwhile.
async fn ready() -> &'static Documents {
    match DOCS.get() {
        Some(docs) => docs,
        None => match tokio::task::spawn_blocking(documents).await {
            Ok(docs) => docs,
            Err(_) => documents(),
        },
    }
}

/// `/openapi/v3/apis/apps/v1?hash=...`, as upstream's `constructServerRelativeURL`.
pub fn server_relative_url(key: &str, etag: &str) -> String {
    format!("/openapi/v3/{key}?hash={etag}")
}

/// HTTP dates as Go's `http.TimeFormat` writes them.
pub(super) fn http_date(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_matches('"') == etag || t.trim() == "*")
        })
}

/// The body with upstream's headers (or 304 when the client has it already).
fn content(served: &Served, built: Timestamp, headers: &HeaderMap) -> Response<Body> {
    let mut resp = if if_none_match(headers, &served.etag) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::from(served.body.clone()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let h = resp.headers_mut();
    for (name, value) in [
        (header::ETAG, format!("\"{}\"", served.etag)),
        (header::LAST_MODIFIED, http_date(built)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// `GET /openapi/v3`: the paths of every group-version's document.
pub async fn serve_root(headers: HeaderMap) -> Response<Body> {
    let docs = ready().await;
    content(&docs.root, docs.built, &headers)
}

/// `GET /openapi/v3/{gv}`: one document, JSON only (a client asking for nothing but the
/// protobuf form gets 406). With `?hash=` naming an older document, a 301 to the current
/// one; with the current hash, cacheable for a year.
pub async fn serve_document(
    Path(gv): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let docs = ready().await;
    let Some(served) = docs.by_path.get(gv.trim_end_matches('/')) else {
        return respond::error_response(&ApiError::no_route());
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    let json_ok = accept.split(',').any(|a| {
        let media = a.split(';').next().unwrap_or("").trim();
        media.is_empty() || matches!(media, "application/json" | "application/*" | "*/*")
    });
    if !json_ok {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_ACCEPTABLE;
        return r;
    }
    let hash = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "hash")
        .map(|(_, v)| v.into_owned());
    let key = gv.trim_end_matches('/');
    if hash
        .as_deref()
        .is_some_and(|h| !h.is_empty() && h != served.etag)
    {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(v) = HeaderValue::from_str(&server_relative_url(key, &served.etag)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let mut resp = content(served, docs.built, &headers);
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    if hash.is_some_and(|h| !h.is_empty()) {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, immutable"),
        );
        let year = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24 * 365))
            .unwrap_or_else(|_| Timestamp::now());
        if let Ok(v) = HeaderValue::from_str(&http_date(year)) {
            h.insert(header::EXPIRES, v);
        }
    }
    resp
}
