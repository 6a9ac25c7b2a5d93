//! The lab's HTTP API: a Kubernetes API server on loopback (HTTPS unless started with
//! `insecure_http`, see `serve`), every route behind the bearer-token check of `auth`.
//!
//! | route | answer |
//! |---|---|
//! | `GET /version`, `/version/` | v1.33 version info (steers kubectl's dispatcher) |
//! | `GET /api`, `/apis` (and with a trailing `/`) | aggregated discovery when asked for, else `APIVersions` / `APIGroupList` |
//! | `GET /api/v1`, `/apis/{g}/{v}`, `/apis/{g}` | legacy `APIResourceList` / `APIGroup` |
//! | `GET /openapi/v3[/{gv}]` | OpenAPI v3 with the served kinds' schemas (see `openapi`) |
//! | `GET /healthz`, `/readyz`, `/livez` | `ok` |
//! | `GET /metrics` | Prometheus text: requests, open watches, stored objects (see `metrics`) |
//! | `GET /{prefix}/{resource}` | list, or watch with `watch=true` (all namespaces for namespaced types) |
//! | `POST /{prefix}/[namespaces/{ns}/]{resource}` | create |
//! | `DELETE /{prefix}/[namespaces/{ns}/]{resource}` | deletecollection |
//! | `GET PUT PATCH DELETE /{prefix}/[namespaces/{ns}/]{resource}/{name}` | object |
//! | `GET PUT PATCH .../{name}/status`, `.../{name}/scale` | subresources |
//! | `GET /api/v1/namespaces/{ns}/pods/{name}/log` | container logs (from the kubelet) |
//! | `POST /api/v1/namespaces/{ns}/pods/{name}/binding` | bind a pod to a node |
//! | `GET /api/v1/namespaces/{ns}/pods/{name}/exec`, `.../attach` | websocket `v5.channel.k8s.io` (see `streaming`) |
//! | `GET /api/v1/namespaces/{ns}/pods/{name}/portforward` | SPDY/3.1 tunnelled in a websocket (see `portforward`) |
//! | `POST /apis/authorization.k8s.io/v1/selfsubject{access,rules}reviews` | `kubectl auth can-i` (see `access`) |
//! | `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` | `kubectl auth whoami` |
//! | `GET PUT /lab/faults` | the lab's fault-injection settings (not Kubernetes) |
//!
//! `{prefix}` is `/api/v1` or `/apis/{group}/{version}`. Bodies may be JSON, YAML or, for
//! create, update, delete and the POST subresources, protobuf (read into JSON on arrival,
//! see `protobuf`); answers are JSON.

mod access;
mod auth;
mod discovery;
mod faults;
mod handlers;
pub mod metrics;
mod openapi;
mod paths;
mod pod_log;
mod portforward;
mod portforward_channels;
mod protobuf;
pub mod query;
mod respond;
mod spdy;
mod streaming;
mod watch;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, Response, StatusCode, header};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use faults::Faults;

use crate::logs::LogSource;
use crate::registry::Registry;

/// Shared state of every request.
#[derive(Clone)]
pub struct ApiState {
    pub registry: Registry,
    pub shutdown: CancellationToken,
    pub faults: Arc<Mutex<Faults>>,
    /// Signalled whenever `faults` is set (open watches check whether they must end).
    pub faults_changed: Arc<tokio::sync::Notify>,
    pub server_address: String,
    pub logs: Arc<Mutex<Option<Arc<dyn LogSource>>>>,
    /// The bearer token every request must carry (see `auth`).
    pub token: Arc<str>,
    /// How long a request body may take to arrive.
    pub read_timeout: std::time::Duration,
    /// Request and watch counters behind `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// The kubelets' running containers (exec, attach, port-forward).
    pub containers: crate::kubelet::exec::Containers,
}

/// The largest request body accepted, as upstream's `MaxRequestBodyBytes` (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The router of the whole API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            "/version",
            get(|| async { respond::json_response(StatusCode::OK, &discovery::version()) }),
        )
        // The Python client asks for `/version/`, which upstream serves too.
        .route(
            "/version/",
            get(|| async { respond::json_response(StatusCode::OK, &discovery::version()) }),
        )
        .route("/metrics", get(metrics::serve))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/api", get(api_root))
        .route("/apis", get(apis_root))
        // The Python client's `CoreApi().get_api_versions()` and `ApisApi` ask with a
        // trailing slash, which upstream serves as the same document.
        .route("/api/", get(api_root))
        .route("/apis/", get(apis_root))
        .route("/openapi/v3", get(openapi::serve_root))
        .route("/openapi/v3/", get(openapi::serve_root))
        .route("/openapi/v3/{*gv}", get(openapi::serve_document))
        .route(
            "/lab/faults",
            get(faults::get_faults).put(faults::put_faults),
        )
        .route(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            post(access::access_review),
        )
        .route(
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            post(access::rules_review),
        )
        .route(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            post(access::subject_review),
        )
        .merge(streaming_routes(&state))
        .route("/api/{*rest}", any(handlers::resource))
        .route("/apis/{*rest}", any(handlers::resource))
        .fallback(any(|| async {
            respond::error_response(&crate::error::ApiError::no_route())
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state)
}

/// exec, attach and portforward: websocket upgrades, counted as CONNECT requests.
fn streaming_routes(state: &ApiState) -> Router<ApiState> {
    let pod = "/api/v1/namespaces/{ns}/pods/{name}";
    Router::new()
        .route(&format!("{pod}/exec"), any(streaming::exec))
        .route(&format!("{pod}/attach"), any(streaming::attach))
        .route(&format!("{pod}/portforward"), any(portforward::serve))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            streaming::count_connect,
        ))
}

fn accept(req: &Request) -> String {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn api_root(State(state): State<ApiState>, req: Request) -> Response<Body> {
    match discovery::wants_aggregated(&accept(&req)) {
        Some(ct) => {
            respond::json_response_typed(StatusCode::OK, &discovery::aggregated(true, ct), ct)
        }
        None => respond::json_response(
            StatusCode::OK,
            &discovery::api_versions(&state.server_address),
        ),
    }
}

async fn apis_root(req: Request) -> Response<Body> {
    match discovery::wants_aggregated(&accept(&req)) {
        Some(ct) => {
            respond::json_response_typed(StatusCode::OK, &discovery::aggregated(false, ct), ct)
        }
        None => respond::json_response(StatusCode::OK, &discovery::api_group_list()),
    }
}

/// Reads a whole request body: 413 past [`MAX_BODY_BYTES`], 504 when it does not arrive
/// within the read timeout (a stalled client cannot hold a request open), 400 on a broken
/// one.
pub(crate) async fn body_bytes(
    state: &ApiState,
    body: Body,
) -> Result<Bytes, crate::error::ApiError> {
    use crate::error::ApiError;
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    match tokio::time::timeout(state.read_timeout, limited.collect()).await {
        Err(_) => Err(ApiError::body_timeout()),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::too_large(MAX_BODY_BYTES))
        }
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "unable to read the request body: {e}"
        ))),
    }
}

/// A declared body over [`MAX_BODY_BYTES`] is refused before it is read.
pub(crate) fn check_declared_length(
    headers: &axum::http::HeaderMap,
) -> Result<(), crate::error::ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES as u64 => {
            Err(crate::error::ApiError::too_large(MAX_BODY_BYTES))
        }
        _ => Ok(()),
    }
}

/// The manager name of a write: `fieldManager`, else the User-Agent's program name, as
/// upstream's default (`kubectl`, `kube-rs`...).
pub(crate) fn field_manager(query: &query::Query, headers: &axum::http::HeaderMap) -> String {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let manager = strategic_patch::manager_name(query.get("fieldManager"), ua);
    if manager.is_empty() {
        "unknown".to_string()
    } else {
        manager
    }
}

/// A Status answer for successful deletes of types that do not return the object.
pub(crate) fn success_status(name: &str, group: &str, plural: &str, uid: &Value) -> Value {
    let mut details = json!({"name": name, "kind": plural, "uid": uid});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// True for methods that change state (fault injection answers 409 only to these).
pub(crate) fn is_write(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}
