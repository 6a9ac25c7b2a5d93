//! A raw HTTP/1.1 client for the lab, over TLS trusting only the lab's CA (or plain TCP for
//! an `insecure_http` lab): what curl does, with every header under the test's control.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rollout_lab::Lab;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An answer: status code, header block and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The values of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

/// A TLS client configuration that trusts only `ca_pem`.
pub fn tls_client(ca_pem: &str) -> tokio_rustls::TlsConnector {
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("the CA is PEM");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("the CA is a certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A connection to the lab, after the TLS handshake when it serves TLS.
pub async fn connect(lab: &Lab) -> Box<dyn Io> {
    connect_to(lab.addr(), lab.access().ca_pem.as_deref()).await
}

pub async fn connect_to(addr: SocketAddr, ca_pem: Option<&str>) -> Box<dyn Io> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the lab accepts connections");
    match ca_pem {
        None => Box::new(tcp),
        Some(ca) => {
            let name = ServerName::IpAddress(addr.ip().into());
            let tls = tls_client(ca)
                .connect(name, tcp)
                .await
                .expect("the TLS handshake succeeds against the lab's CA");
            Box::new(tls)
        }
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub async fn request(
    lab: &Lab,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut io = connect(lab).await;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        lab.addr()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    io.write_all(head.as_bytes())
        .await
        .expect("request head sent");
    // The server may answer (and close) before it has read a body it refuses.
    let _ = io.write_all(body).await;
    read_answer(&mut io).await
}

/// Reads an answer until the server closes the connection.
pub async fn read_answer(io: &mut Box<dyn Io>) -> Answer {
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), io.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// `Authorization: Bearer <the lab's token>`.
pub fn bearer(lab: &Lab) -> String {
    format!("Bearer {}", lab.token())
}
