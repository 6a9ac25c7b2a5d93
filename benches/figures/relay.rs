//! A counting TCP relay: clients connect to it instead of the lab, every byte is passed on
//! unchanged, and each HTTP/1.1 request line from client to server is recorded (a watch
//! counts once, however long it streams).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// Longer lines are bodies, not request lines.
const MAX_LINE: usize = 16 * 1024;

/// A running relay; stops when dropped.
pub struct Relay {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `METHOD PATH` when `line` is an HTTP request line (without its query string).
fn request_line(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = text.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !METHODS.contains(&method) || !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return None;
    }
    let watch = if target.contains("watch=true") || target.contains("watch=1") {
        " (watch)"
    } else {
        ""
    };
    let path = target.split('?').next().unwrap_or(target);
    Some(format!("{method} {path}{watch}"))
}

/// Copies client → server, recording request lines.
async fn upstream(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    requests: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut line = Vec::new();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                if let Some(r) = request_line(&line)
                    && let Ok(mut all) = requests.lock()
                {
                    all.push(r);
                }
                line.clear();
            } else if line.len() < MAX_LINE {
                line.push(b);
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Relay {
    /// Listens on a free loopback port and relays every connection to `target`.
    pub async fn start(target: SocketAddr) -> Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = (client.set_nodelay(true), server.set_nodelay(true));
                    let (cr, mut cw) = client.into_split();
                    let (mut sr, sw) = server.into_split();
                    let up = tokio::spawn(upstream(cr, sw, seen));
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                    up.abort();
                });
            }
        });
        Ok(Relay {
            addr,
            requests,
            task,
        })
    }

    /// The request lines recorded since the last call.
    pub fn take(&self) -> Vec<String> {
        self.requests
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}
