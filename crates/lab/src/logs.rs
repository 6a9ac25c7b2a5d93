//! Where `pods/{name}/log` reads from: the kubelet registers a source when it runs.

use crate::error::ApiError;

/// Options of a log request (upstream `PodLogOptions`, validated by the API).
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
    pub previous: bool,
    pub tail_lines: Option<usize>,
    pub follow: bool,
    /// Lines written before this instant are left out (`sinceSeconds` resolved against the
    /// request's arrival, or `sinceTime`); applied after `tail_lines`, as the kubelet does.
    pub since: Option<jiff::Timestamp>,
    /// Each line is prefixed with its RFC 3339 (nanosecond) timestamp and a space.
    pub timestamps: bool,
    /// The answer stops after this many bytes (timestamps included), even mid-line.
    pub limit_bytes: Option<u64>,
}

/// A byte stream of log output.
pub type LogStream = futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

/// Serves container logs.
pub trait LogSource: Send + Sync {
    fn logs(&self, req: &LogRequest) -> Result<LogStream, ApiError>;
}
