//! Shared helpers for the integration tests: start a server on a free
//! loopback port, send one request per connection, bound every wait.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use model_server::server::{Config, Event, ExitReason, Phase, Server, ServerError};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Longest any test waits for a condition before failing.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test if it takes longer than [`DEADLINE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A test config: loopback, free port, recognisable names, no delays.
pub fn config() -> Config {
    Config {
        model_name: "classifier".into(),
        version: "v2".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        pod_name: "inference-abc".into(),
        ..Config::default()
    }
}

/// A server running in a task.
pub struct Running {
    pub addr: SocketAddr,
    pub phase: watch::Receiver<Phase>,
    pub inflight: watch::Receiver<usize>,
    pub events: Arc<Mutex<Vec<Event>>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<ExitReason, ServerError>>,
}

pub async fn start(config: Config) -> Running {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let server = Server::bind(config)
        .await
        .unwrap()
        .on_event(move |e| sink.lock().unwrap().push(e.clone()));
    let (stop, stopped) = oneshot::channel::<()>();
    let addr = server.local_addr();
    let phase = server.phase();
    let inflight = server.inflight();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        phase,
        inflight,
        events,
        stop: Some(stop),
        task,
    }
}

impl Running {
    pub async fn ready(&mut self) {
        within(
            "the model to load",
            self.phase.wait_for(|p| *p == Phase::Ready),
        )
        .await
        .unwrap();
    }

    pub fn request_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn finish(self) -> Result<ExitReason, ServerError> {
        within("the server to return", self.task).await.unwrap()
    }

    pub async fn stop(mut self) -> ExitReason {
        self.request_shutdown();
        self.finish().await.unwrap()
    }

    pub fn log(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends one request on a fresh connection.
pub async fn send(addr: SocketAddr, method: Method, path: &str, body: &str) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = within("a response", sender.send_request(request))
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, Method::GET, path, "").await
}

pub async fn predict(addr: SocketAddr, body: &str) -> Reply {
    send(addr, Method::POST, "/v1/models/classifier:predict", body).await
}
