//! Where `pods/{name}/log` reads from: the kubelet registers a source when it runs.

use crate::error::ApiError;

/// Options of a log request (`container`, `previous`, `tailLines`, `follow`).
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
    pub previous: bool,
    pub tail_lines: Option<usize>,
    pub follow: bool,
}

/// A byte stream of log output.
pub type LogStream = futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

/// Serves container logs.
pub trait LogSource: Send + Sync {
    fn logs(&self, req: &LogRequest) -> Result<LogStream, ApiError>;
}
