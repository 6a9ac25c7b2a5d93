//! The lab's listener: accepts connections, runs the TLS handshake (unless the lab was
//! started with `insecure_http`) and serves HTTP/1.1 on each with the API router.
//!
//! A connection cannot hold the server: each runs on its own task, and one that stalls is
//! closed after `read_timeout` wherever it stalls, in the TLS handshake, in the request
//! headers (hyper's header read timeout) or in a request body (`api::body_bytes`). An idle
//! keep-alive connection is closed after the same time, as upstream's idle timeout does.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How connections are served.
#[derive(Clone)]
pub struct ServeOptions {
    /// `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The longest a client may take to finish its TLS handshake, its request headers or
    /// its request body, and the longest a keep-alive connection stays idle.
    pub read_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish for a few
/// seconds (watch streams end on `shutdown` themselves). Connections may be upgraded
/// (websockets for exec, attach and port-forward, see `api::streaming`).
pub async fn run(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: CancellationToken,
) {
    // hyper-util's graceful watcher does not take upgradeable connections: each connection
    // task shuts its connection down itself, and the tracker waits for them.
    let tracker = TaskTracker::new();
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        let tcp = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                // Out of file descriptors, or a connection reset before it was taken:
                // back off a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (app, acceptor, stop) = (app.clone(), acceptor.clone(), shutdown.clone());
        let read_timeout = options.read_timeout;
        tracker.spawn(async move {
            let service = TowerToHyperService::new(app);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(read_timeout);
            match acceptor {
                Some(acceptor) => {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(read_timeout, acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let conn = http
                        .serve_connection(TokioIo::new(tls), service)
                        .with_upgrades();
                    until_shutdown(conn, &stop).await;
                }
                None => {
                    let conn = http
                        .serve_connection(TokioIo::new(tcp), service)
                        .with_upgrades();
                    until_shutdown(conn, &stop).await;
                }
            }
        });
    }
    drop(listener);
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
}

/// Serves one connection; on `shutdown` it finishes the request in flight and closes.
async fn until_shutdown<I, S, B>(
    conn: hyper::server::conn::http1::UpgradeableConnection<I, S>,
    shutdown: &CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
