//! HTTP routing and the TF-Serving-style API of the stand-in model.
//!
//! Routes: `/healthz` (alive), `/readyz` (loaded and not draining),
//! `/metrics`, `GET /v1/models/{name}` (model status, 503 while loading) and
//! `POST /v1/models/{name}:predict`. Every response carries `X-Model-Version`
//! and `X-Pod-Name`, so a client can tell which pod and version answered.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::Phase;
use super::config::Config;
use super::metrics::Metrics;

/// Largest predict body accepted.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Header naming the model version that answered.
pub const VERSION_HEADER: &str = "x-model-version";
/// Header naming the pod that answered.
pub const POD_HEADER: &str = "x-pod-name";

/// What request handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub config: Config,
    pub metrics: Metrics,
    pub phase: watch::Receiver<Phase>,
    predicts: AtomicU64,
    version_header: Option<HeaderValue>,
    pod_header: Option<HeaderValue>,
}

impl AppState {
    pub fn new(config: Config, phase: watch::Receiver<Phase>) -> AppState {
        AppState {
            metrics: Metrics::new(&config.model_name, &config.version),
            version_header: HeaderValue::from_str(&config.version).ok(),
            pod_header: HeaderValue::from_str(&config.pod_name).ok(),
            predicts: AtomicU64::new(0),
            phase,
            config,
        }
    }
}

/// Answers one request; never fails, every problem becomes a status code.
pub(crate) async fn handle(
    state: Arc<AppState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let _inflight = (path != "/metrics").then(|| state.metrics.start_request());
    let mut response = route(&state, &path, req).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (VERSION_HEADER, &state.version_header),
        (POD_HEADER, &state.pod_header),
    ] {
        if let Some(value) = value {
            headers.insert(HeaderName::from_static(name), value.clone());
        }
    }
    Ok(response)
}

async fn route(state: &AppState, path: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let read_only = method == Method::GET || method == Method::HEAD;
    match path {
        "/healthz" if read_only => text(StatusCode::OK, "ok\n"),
        "/readyz" if read_only => match *state.phase.borrow() {
            Phase::Ready => text(StatusCode::OK, "ready\n"),
            Phase::Loading => text(StatusCode::SERVICE_UNAVAILABLE, "loading\n"),
            Phase::Draining => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        },
        "/metrics" if read_only => {
            let mut response = text(StatusCode::OK, state.metrics.render());
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" | "/readyz" | "/metrics" => not_allowed("GET, HEAD"),
        _ => match path.strip_prefix("/v1/models/") {
            Some(rest) => model_route(state, rest, req).await,
            None => error_json(StatusCode::NOT_FOUND, format!("no route for {path}")),
        },
    }
}

async fn model_route(
    state: &AppState,
    rest: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (name, verb) = match rest.split_once(':') {
        Some((name, verb)) => (name, Some(verb)),
        None => (rest, None),
    };
    if name != state.config.model_name {
        return error_json(
            StatusCode::NOT_FOUND,
            format!("Servable not found for request: Latest({name})"),
        );
    }
    match (verb, req.method()) {
        (None, &Method::GET | &Method::HEAD) => model_status(state),
        (None, _) => not_allowed("GET, HEAD"),
        (Some("predict"), &Method::POST) => {
            let start = Instant::now();
            let response = predict(state, req).await;
            state
                .metrics
                .observe_predict(response.status().as_u16(), start.elapsed());
            response
        }
        (Some("predict"), _) => not_allowed("POST"),
        (Some(verb), _) => error_json(
            StatusCode::NOT_FOUND,
            format!("unsupported model method :{verb}; only :predict is served"),
        ),
    }
}

fn model_status(state: &AppState) -> Response<Full<Bytes>> {
    let loaded = state.metrics.is_loaded();
    let (status, state_name, code) = if loaded {
        (StatusCode::OK, "AVAILABLE", "OK")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "LOADING", "UNAVAILABLE")
    };
    let body = json!({
        "model_version_status": [{
            "version": state.config.version,
            "state": state_name,
            "status": {"error_code": code, "error_message": ""}
        }]
    });
    json_response(status, &body)
}

async fn predict(state: &AppState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let config = &state.config;
    if !state.metrics.is_loaded() {
        return error_json(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "model {:?} version {} is still loading",
                config.model_name, config.version
            ),
        );
    }
    let bytes = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return error_json(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds {MAX_BODY_BYTES} bytes"),
            );
        }
        Err(e) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                format!("could not read request body: {e}"),
            );
        }
    };
    let instances = match parse_instances(&bytes) {
        Ok(instances) => instances,
        Err(message) => return error_json(StatusCode::BAD_REQUEST, message),
    };
    let n = state
        .predicts
        .fetch_add(1, Ordering::SeqCst)
        .saturating_add(1);
    if !config.extra_latency.is_zero() {
        tokio::time::sleep(config.extra_latency).await;
    }
    if injected_failure(n, config.error_rate) {
        return error_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "injected failure on predict request {n} (ERROR_RATE={})",
                config.error_rate
            ),
        );
    }
    let predictions: Vec<Value> = instances.iter().map(|i| json!(score(i))).collect();
    let body = json!({
        "predictions": predictions,
        "model_name": config.model_name,
        "model_version": config.version,
        "pod": config.pod_name,
    });
    json_response(StatusCode::OK, &body)
}

/// Extracts the `instances` array of a TF-Serving row-format request.
pub(crate) fn parse_instances(body: &[u8]) -> Result<Vec<Value>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
    match value {
        Value::Object(mut map) => match map.remove("instances") {
            Some(Value::Array(instances)) => Ok(instances),
            Some(_) => Err("\"instances\" must be an array".to_string()),
            None => Err("body must have an \"instances\" array".to_string()),
        },
        _ => Err("body must be a JSON object with an \"instances\" array".to_string()),
    }
}

/// The stand-in model: numbers count as themselves, strings as their length in
/// characters, booleans as 0/1, arrays and objects as the sum of their parts.
pub(crate) fn score(value: &Value) -> f64 {
    match value {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.chars().count() as f64,
        Value::Array(items) => items.iter().map(score).sum(),
        Value::Object(map) => map.values().map(score).sum(),
    }
}

/// Whether the `n`-th (1-based) predict request fails at `rate`: exactly
/// `floor(n * rate)` of the first `n` requests fail, spread evenly.
pub(crate) fn injected_failure(n: u64, rate: f64) -> bool {
    let ppm = (rate.clamp(0.0, 1.0) * 1_000_000.0).round() as u128;
    let failed_through = |k: u64| u128::from(k) * ppm / 1_000_000;
    n > 0 && failed_through(n) > failed_through(n - 1)
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_json(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "error": message }))
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = error_json(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; use {allow}"),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_error_rate_fails_every_fourth_request() {
        let failed: Vec<u64> = (1..=12).filter(|n| injected_failure(*n, 0.25)).collect();
        assert_eq!(failed, vec![4, 8, 12]);
    }

    #[test]
    fn the_error_rate_extremes_fail_nothing_or_everything() {
        assert!((1..=100).all(|n| !injected_failure(n, 0.0)));
        assert!((1..=100).all(|n| injected_failure(n, 1.0)));
        assert!(!injected_failure(0, 1.0));
        assert!(injected_failure(u64::MAX, 1.0));
    }

    #[test]
    fn any_error_rate_fails_the_floor_of_its_share() {
        for rate in [0.1, 0.33, 0.5, 0.9] {
            let failed = (1..=1000).filter(|n| injected_failure(*n, rate)).count();
            assert_eq!(failed, (1000.0 * rate) as usize, "rate {rate}");
        }
    }

    #[test]
    fn scores_sum_numbers_and_count_characters() {
        let instances =
            parse_instances(br#"{"instances":[[1,2,3.5],"h\u00e9llo",{"a":1,"b":[true,null]},7]}"#)
                .unwrap();
        let scores: Vec<f64> = instances.iter().map(score).collect();
        assert_eq!(scores, vec![6.5, 5.0, 2.0, 7.0]);
    }

    #[test]
    fn malformed_predict_bodies_are_explained() {
        for (body, fragment) in [
            (&b"not json"[..], "not valid JSON"),
            (b"[1,2]", "JSON object"),
            (b"{}", "must have an \"instances\" array"),
            (b"{\"instances\":3}", "must be an array"),
        ] {
            let err = parse_instances(body).unwrap_err();
            assert!(err.contains(fragment), "{err}");
        }
    }
}
