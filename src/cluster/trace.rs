//! Request-level tracing of every API call, at debug level under the `rollout::api` target
//! (`-vv`, or `RUST_LOG=rollout::api=debug`): method, path and query, status, latency. It
//! sees only the request line and the status, so no header (a bearer token) and no body (a
//! Secret's data) can reach the log.

use std::time::Duration;

use http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, ServerErrorsFailureClass, SharedClassifier};
use tower_http::trace::{MakeSpan, OnFailure, OnResponse, TraceLayer};
use tracing::Span;

/// The span of one request: what was asked.
#[derive(Debug, Clone, Copy)]
pub struct ApiSpan;

/// The answer: its status and how long the headers took.
#[derive(Debug, Clone, Copy)]
pub struct ApiResponse;

/// A request that got no answer, or whose body stream broke.
#[derive(Debug, Clone, Copy)]
pub struct ApiFailure;

impl<B> MakeSpan<B> for ApiSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        tracing::debug_span!(target: "rollout::api", "api", method = %request.method(), path)
    }
}

impl<B> OnResponse<B> for ApiResponse {
    fn on_response(self, response: &Response<B>, latency: Duration, _: &Span) {
        tracing::debug!(
            target: "rollout::api",
            status = response.status().as_u16(),
            latency_ms = latency.as_millis() as u64,
        );
    }
}

impl OnFailure<ServerErrorsFailureClass> for ApiFailure {
    fn on_failure(&mut self, failure: ServerErrorsFailureClass, latency: Duration, _: &Span) {
        tracing::debug!(
            target: "rollout::api",
            failure = %failure,
            latency_ms = latency.as_millis() as u64,
        );
    }
}

/// The layer the client is built with.
pub type ApiTrace = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    ApiSpan,
    (),
    ApiResponse,
    (),
    (),
    ApiFailure,
>;

pub fn layer() -> ApiTrace {
    TraceLayer::new_for_http()
        .make_span_with(ApiSpan)
        .on_request(())
        .on_response(ApiResponse)
        .on_body_chunk(())
        .on_eos(())
        .on_failure(ApiFailure)
}
