//! The stand-in model server: lifecycle, connections and graceful shutdown.
//!
//! [`Server::bind`] listens at once (so TCP probes see the pod) and
//! [`Server::run`] simulates the model load, serves the routes of
//! [`routes`](self) and, when its shutdown future resolves, stops accepting,
//! lets in-flight requests finish, closes keep-alive connections after their
//! current request and returns. [`serve`] is both in one call;
//! [`run_from_env`] is the process entry point the `rollout` binary calls.

mod config;
mod events;
mod metrics;
mod routes;
mod run;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::{Config, ConfigError};
pub use events::{Event, Trigger};
pub use metrics::Metrics;
pub use routes::{POD_HEADER, VERSION_HEADER};
pub use run::run_from_env;

use routes::AppState;

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Listening, model not loaded yet: predict and status answer 503.
    Loading,
    /// Model loaded and serving.
    Ready,
    /// Shutdown requested: no new connections, in-flight requests finishing.
    Draining,
}

/// Why [`Server::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// The shutdown future resolved and in-flight requests were drained.
    Shutdown,
    /// `FAIL_AT_START` asked for an immediate exit with this code.
    FailedAtStart(i32),
    /// `CRASH_AFTER_SECONDS` elapsed.
    Crashed,
}

impl ExitReason {
    /// The process exit code this reason maps to.
    pub fn exit_code(self) -> i32 {
        match self {
            ExitReason::Shutdown => 0,
            ExitReason::FailedAtStart(code) => code,
            ExitReason::Crashed => 1,
        }
    }
}

/// A failure of the server itself (not of a request).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be opened.
    #[error("model server cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// The ready file could not be written once the model loaded.
    #[error("model server cannot write ready file {}: {source}", path.display())]
    ReadyFile { path: PathBuf, source: io::Error },
    /// `ALLOC_MB` could not be allocated.
    #[error("model server cannot allocate {mib} MiB of model memory")]
    Allocation { mib: u64 },
}

type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// A bound, not yet running model server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
    phase: watch::Sender<Phase>,
    events: EventSink,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("phase", &*self.phase.borrow())
            .finish_non_exhaustive()
    }
}

/// Binds `config.listen` and runs the server until `shutdown` resolves,
/// logging lifecycle events to stdout.
pub async fn serve<T: Into<Trigger>>(
    config: Config,
    shutdown: impl Future<Output = T>,
) -> Result<ExitReason, ServerError> {
    if let Some(code) = config.fail_at_start {
        events::stdout(&Event::FailingAtStart { code });
        return Ok(ExitReason::FailedAtStart(code));
    }
    Server::bind(config).await?.run(shutdown).await
}

impl Server {
    /// Opens the listening socket (port 0 picks a free port).
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let addr = config.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let (phase, phase_rx) = watch::channel(Phase::Loading);
        Ok(Server {
            listener,
            addr,
            state: Arc::new(AppState::new(config, phase_rx)),
            phase,
            events: Arc::new(events::stdout),
        })
    }

    /// Sends lifecycle events to `sink` instead of stdout.
    pub fn on_event(mut self, sink: impl Fn(&Event) + Send + Sync + 'static) -> Server {
        self.events = Arc::new(sink);
        self
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Follows the server's [`Phase`]; `wait_for(|p| *p == Phase::Ready)`
    /// waits for the model to load.
    pub fn phase(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Follows the number of requests being handled.
    pub fn inflight(&self) -> watch::Receiver<usize> {
        self.state.metrics.watch_inflight()
    }

    /// Serves until `shutdown` resolves (then drains) or a failure knob fires.
    pub async fn run<T: Into<Trigger>>(
        self,
        shutdown: impl Future<Output = T>,
    ) -> Result<ExitReason, ServerError> {
        let Server {
            listener,
            addr,
            state,
            phase,
            events,
        } = self;
        let config = &state.config;
        if let Some(code) = config.fail_at_start {
            events(&Event::FailingAtStart { code });
            return Ok(ExitReason::FailedAtStart(code));
        }
        let _model_memory = allocate(config.alloc_mib)?;
        if config.alloc_mib > 0 {
            events(&Event::Allocated {
                mib: config.alloc_mib,
            });
        }
        if let Some(path) = &config.ready_file {
            remove_ready_file(path).await;
        }
        events(&Event::Loading {
            model: config.model_name.clone(),
            version: config.version.clone(),
            load_time: (!config.never_ready).then_some(config.load_time),
        });
        let mut loading = std::pin::pin!(load_model(config));
        let mut loaded = false;
        let mut crash = std::pin::pin!(crash_timer(config.crash_after));
        let mut shutdown = std::pin::pin!(shutdown);
        let (drain_tx, drain_rx) = watch::channel(false);
        let mut connections = JoinSet::new();

        let trigger = loop {
            tokio::select! {
                trigger = &mut shutdown => break trigger.into(),
                () = &mut crash => {
                    events(&Event::Crashing { after: config.crash_after.unwrap_or_default() });
                    return Ok(ExitReason::Crashed);
                }
                result = &mut loading, if !loaded => {
                    result?;
                    loaded = true;
                    state.metrics.set_loaded(true);
                    phase.send_replace(Phase::Ready);
                    events(&Event::Loaded { addr });
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(connection(stream, state.clone(), drain_rx.clone()));
                    }
                    Err(e) => {
                        events(&Event::AcceptFailed { message: e.to_string() });
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next() => {}
            }
        };

        drop(listener);
        phase.send_replace(Phase::Draining);
        events(&Event::Draining {
            trigger,
            inflight: state.metrics.inflight(),
        });
        if let Some(path) = &config.ready_file {
            remove_ready_file(path).await;
        }
        drain_tx.send_replace(true);
        while connections.join_next().await.is_some() {}
        events(&Event::ShutdownComplete);
        Ok(ExitReason::Shutdown)
    }
}

/// Serves one connection; on drain, finishes the current request and closes.
async fn connection(stream: TcpStream, state: Arc<AppState>, mut drain: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| routes::handle(state.clone(), req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = async { drop(drain.wait_for(|draining| *draining).await) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn load_model(config: &Config) -> Result<(), ServerError> {
    if config.never_ready {
        return std::future::pending().await;
    }
    tokio::time::sleep(config.load_time).await;
    if let Some(path) = &config.ready_file {
        tokio::fs::write(path, b"")
            .await
            .map_err(|source| ServerError::ReadyFile {
                path: path.clone(),
                source,
            })?;
    }
    Ok(())
}

async fn crash_timer(after: Option<Duration>) {
    match after {
        Some(after) => tokio::time::sleep(after).await,
        None => std::future::pending().await,
    }
}

async fn remove_ready_file(path: &std::path::Path) {
    let _ = tokio::fs::remove_file(path).await;
}

/// Allocates `mib` MiB and writes every page so it counts as resident.
fn allocate(mib: u64) -> Result<Vec<u8>, ServerError> {
    let bytes = usize::try_from(mib)
        .ok()
        .and_then(|m| m.checked_mul(1 << 20))
        .ok_or(ServerError::Allocation { mib })?;
    let mut memory = Vec::new();
    memory
        .try_reserve_exact(bytes)
        .map_err(|_| ServerError::Allocation { mib })?;
    memory.resize(bytes, 0);
    for page in memory.chunks_mut(4096) {
        if let Some(first) = page.first_mut() {
            *first = 1;
        }
    }
    Ok(std::hint::black_box(memory))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_map_to_process_exit_codes() {
        assert_eq!(ExitReason::Shutdown.exit_code(), 0);
        assert_eq!(ExitReason::FailedAtStart(3).exit_code(), 3);
        assert_eq!(ExitReason::Crashed.exit_code(), 1);
    }

    #[test]
    fn allocating_model_memory_touches_the_requested_size() {
        assert_eq!(allocate(2).map(|m| m.len()).ok(), Some(2 << 20));
        assert_eq!(allocate(0).map(|m| m.len()).ok(), Some(0));
    }
}
