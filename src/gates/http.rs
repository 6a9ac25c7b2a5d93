//! The gates' HTTP client: one request with a deadline, the status and (capped) body back,
//! or a short reason it did not happen. HTTP/1.1 on hyper, and https with rustls against
//! the system's trusted roots: the client stack the Kubernetes client already brings. No
//! connection is reused between measurements, so each one reaches the pod or Service
//! afresh (a Service round-robins per connection).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The most of a response body a gate reads: enough for a health page or an inference
/// result, bounded against a endpoint that streams forever.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A response as a gate judges it.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

/// A client for measurements.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    /// https, or why there is none (no trusted roots on this machine).
    tls: Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>, String>,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let builder = || {
            let mut b = Client::builder(TokioExecutor::new());
            b.pool_max_idle_per_host(0);
            b
        };
        let client = builder().build(connector.clone());
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map(|b| {
                connector.enforce_http(false);
                builder().build(b.https_only().enable_http1().wrap_connector(connector))
            })
            .map_err(|e| format!("no trusted roots for https: {e}"));
        Http { client, tls }
    }

    /// GET `url`, or POST `body` as JSON; within `timeout` for the whole exchange.
    pub async fn request(
        &self,
        url: &str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Response, String> {
        let uri: hyper::Uri = url.parse().map_err(|_| "not a URL".to_string())?;
        let mut builder = hyper::Request::builder().uri(uri);
        builder = match body {
            Some(_) => builder
                .method(hyper::Method::POST)
                .header(hyper::header::CONTENT_TYPE, "application/json"),
            None => builder.method(hyper::Method::GET),
        };
        let request = builder
            .header(hyper::header::USER_AGENT, "rollout-gate")
            .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let https = request.uri().scheme_str() == Some("https");
        let exchange = async {
            let response = match (https, &self.tls) {
                (false, _) => self.client.request(request).await,
                (true, Ok(tls)) => tls.request(request).await,
                (true, Err(e)) => return Err(e.clone()),
            }
            .map_err(|e| cause(&e))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), BODY_LIMIT)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        format!(
                            "HTTP {status}, body larger than {}",
                            crate::input::size(BODY_LIMIT as u64)
                        )
                    } else {
                        format!("HTTP {status}, body cut short: {e}")
                    }
                })?
                .to_bytes();
            Ok(Response { status, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            )),
        }
    }
}

/// The innermost cause of a client error ("Connection refused (os error 111)"), which
/// is what the user can act on; the layers above it only say "client error (Connect)".
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let text = inner.to_string();
    let connect = e
        .downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some_and(hyper_util::client::legacy::Error::is_connect);
    if connect {
        format!("cannot connect: {text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot server: answers the first request with `status` and `body`, returns the
    /// request line and body it read.
    async fn serve_once(
        status: u16,
        body: &'static str,
    ) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("has an address");
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accepts");
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            // Read headers and any body sent with them.
            loop {
                let n = sock.read(&mut buf).await.expect("reads");
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(str::to_string)
                        })
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
            }
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(reply.as_bytes()).await.expect("writes");
            String::from_utf8_lossy(&got).to_string()
        });
        (format!("http://{addr}/check"), task)
    }

    #[tokio::test]
    async fn a_get_returns_the_status_and_body() {
        let (url, server) = serve_once(503, "down").await;
        let r = Http::new()
            .request(&url, None, Duration::from_secs(5))
            .await
            .expect("answers");
        assert_eq!(r.status, 503);
        assert_eq!(&r.body[..], b"down");
        assert!(
            server
                .await
                .expect("served")
                .starts_with("GET /check HTTP/1.1")
        );
    }

    #[tokio::test]
    async fn a_body_is_posted_as_json() {
        let (url, server) = serve_once(200, "{}").await;
        let r = Http::new()
            .request(&url, Some(br#"{"x":1}"#), Duration::from_secs(5))
            .await
            .expect("answers");
        assert_eq!(r.status, 200);
        let seen = server.await.expect("served");
        assert!(seen.starts_with("POST /check"), "{seen}");
        assert!(
            seen.to_ascii_lowercase()
                .contains("content-type: application/json")
        );
        assert!(seen.ends_with(r#"{"x":1}"#), "{seen}");
    }

    #[tokio::test]
    async fn a_refused_connection_says_so() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = listener.local_addr().expect("has an address");
        drop(listener);
        let e = Http::new()
            .request(&format!("http://{addr}/"), None, Duration::from_secs(5))
            .await
            .expect_err("refused");
        assert!(
            e.starts_with("cannot connect") && e.contains("refused"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn https_checks_the_servers_certificate_against_the_trusted_roots() {
        // A TLS server with a certificate no root vouches for: the handshake is refused,
        // and the measurement says why.
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("a cert");
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
            .expect("a key");
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("a server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("has an address");
        tokio::spawn(async move {
            if let Ok((sock, _)) = listener.accept().await {
                let _ = acceptor.accept(sock).await;
            }
        });
        let http = Http::new();
        let e = http
            .request(&format!("https://{addr}/"), None, Duration::from_secs(5))
            .await
            .expect_err("refused");
        // A machine without a CA bundle has no https at all, and says so.
        let want = match &http.tls {
            Ok(_) => "invalid peer certificate",
            Err(_) => "no trusted roots for https",
        };
        assert!(e.contains(want), "{e}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("has an address");
        let e = Http::new()
            .request(&format!("http://{addr}/"), None, Duration::from_millis(200))
            .await
            .expect_err("times out");
        assert_eq!(e, "no answer within 200ms");
        drop(listener);
    }
}
