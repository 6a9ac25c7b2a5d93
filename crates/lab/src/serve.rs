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
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
/// seconds (watch streams end on `shutdown` themselves).
pub async fn run(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
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
        let (app, acceptor, watcher) = (app.clone(), acceptor.clone(), graceful.watcher());
        let read_timeout = options.read_timeout;
        tokio::spawn(async move {
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
                    let conn = http.serve_connection(TokioIo::new(tls), service);
                    let _ = watcher.watch(conn).await;
                }
                None => {
                    let conn = http.serve_connection(TokioIo::new(tcp), service);
                    let _ = watcher.watch(conn).await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}
