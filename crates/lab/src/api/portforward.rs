//! `pods/{name}/portforward` as kubectl 1.31+ asks for it: a websocket with subprotocol
//! `SPDY/3.1+portforward.k8s.io` carrying SPDY/3.1 (upstream `PortForwardWebsockets`,
//! client-go `tunneling_dialer.go`), framed by `spdy`. Each local connection kubectl accepts
//! opens two streams with the same `requestid`: `error` (the server writes a message there
//! if forwarding fails, then ends it) and `data` (the bytes both ways). The lab connects the
//! data stream to the pod's IP and port, as a kubelet connects inside the pod's network
//! namespace; a FIN from the client half-closes the connection to the pod, the pod closing
//! its side ends the data stream, and the error stream ends after both.
//!
//! The kubelet's older websocket protocol without SPDY (`v4.channel.k8s.io`, what kube-rs
//! speaks) is served too: the ports come in the query (`ports=80,8080`), port `i` has data
//! channel `2i` and error channel `2i+1`, each opened by a message carrying the port (two
//! bytes, little-endian); the websocket closes once every port's connection has ended.
//! Not served: plain SPDY upgrades (kubectl before 1.31), answered by a Status saying so.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, RawQuery, State};
use axum::http::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::ApiState;
use super::portforward_channels as channels;
use super::respond::error_response;
use super::spdy::{self, Frame};
use crate::error::ApiError;
use crate::kinds;

/// The tunnelling subprotocol kubectl offers.
pub const TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

type Upgrade = Result<
    axum::extract::ws::WebSocketUpgrade,
    axum::extract::ws::rejection::WebSocketUpgradeRejection,
>;

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/portforward`.
pub async fn serve(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ws: Upgrade,
) -> Response<Body> {
    let ip = match pod_ip(&state, &ns, &name) {
        Ok(ip) => ip,
        Err(e) => return error_response(&e),
    };
    let Ok(ws) = ws else {
        return error_response(&ApiError::bad_request(
            "the lab serves port-forward over websockets only (SPDY tunnelled in one, kubectl 1.31 and later; or v4.channel.k8s.io); it does not support SPDY upgrades",
        ));
    };
    let shutdown = state.shutdown.clone();
    let ws = ws.protocols([TUNNEL, super::streaming::V4]);
    if ws
        .selected_protocol()
        .is_some_and(|p| p.as_bytes() == TUNNEL.as_bytes())
    {
        return ws.on_upgrade(move |socket| run(socket, ip, name, shutdown));
    }
    let ports = match ports(query.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    ws.on_upgrade(move |socket| channels::run(socket, ip, name, ports, shutdown))
}

/// The `ports` of a websocket port-forward (pure): comma-separated or repeated.
pub fn ports(query: &str) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k != "ports" {
            continue;
        }
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "unable to parse \"{p}\" as a port: port must be > 0 and < 65536"
                    )));
                }
            }
        }
    }
    if ports.is_empty() {
        return Err(ApiError::bad_request("at least 1 port must be specified"));
    }
    Ok(ports)
}

fn pod_ip(state: &ApiState, ns: &str, name: &str) -> Result<Ipv4Addr, ApiError> {
    let rt = kinds::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
    let pod = state.registry.get(rt, ns, name)?;
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if phase != Some("Running") {
        return Err(ApiError::bad_request(format!(
            "unable to forward port because pod is not running. Current status={}",
            phase.unwrap_or("Pending")
        )));
    }
    state.containers.pod_ip(ns, name)
}

/// The two streams of one forwarded connection, as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: Option<u16>,
}

async fn run(
    socket: WebSocket,
    ip: Ipv4Addr,
    pod: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (sink, mut source) = socket.split();
    let (tx, writer) = super::streaming::writer(sink);
    let mut reader = spdy::Reader::default();
    let mut replies = spdy::Writer::default();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // Client bytes for each data stream; `None` is its FIN.
    let mut inbound: HashMap<u32, mpsc::UnboundedSender<Option<Bytes>>> = HashMap::new();
    let mut forwards = JoinSet::new();
    'session: loop {
        let msg = tokio::select! {
            m = source.next() => m,
            _ = shutdown.cancelled() => break,
        };
        let bytes = match msg {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        reader.push(&bytes);
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => break 'session,
            };
            match frame {
                Frame::SynStream { id, headers } => {
                    if tx.send(replies.syn_reply(id)).await.is_err() {
                        break 'session;
                    }
                    let request = spdy::header(&headers, "requestid")
                        .unwrap_or("")
                        .to_string();
                    let pair = pairs.entry(request.clone()).or_default();
                    pair.port = spdy::header(&headers, "port").and_then(|p| p.parse().ok());
                    match spdy::header(&headers, "streamtype") {
                        Some("error") => pair.error = Some(id),
                        Some("data") => pair.data = Some(id),
                        _ => {}
                    }
                    if let Pair {
                        error: Some(error),
                        data: Some(data),
                        port,
                    } = *pair
                    {
                        pairs.remove(&request);
                        let (in_tx, in_rx) = mpsc::unbounded_channel();
                        inbound.insert(data, in_tx);
                        let streams = Streams {
                            error,
                            data,
                            to_client: tx.clone(),
                        };
                        forwards.spawn(forward(streams, ip, port, pod.clone(), in_rx));
                    }
                }
                Frame::Data { id, fin, data } => {
                    if let Some(to_pod) = inbound.get(&id) {
                        if !data.is_empty() {
                            let _ = to_pod.send(Some(data));
                        }
                        if fin {
                            let _ = to_pod.send(None);
                        }
                    }
                }
                // The client is done with the stream: the connection to the pod closes.
                Frame::Reset { id } => {
                    inbound.remove(&id);
                }
                Frame::Ping { id } => {
                    let _ = tx.send(spdy::ping(id)).await;
                }
                Frame::GoAway => break 'session,
                Frame::Skipped => {}
            }
        }
    }
    forwards.abort_all();
    drop(tx);
    let _ = writer.await;
}

/// Where one forwarded connection writes.
struct Streams {
    error: u32,
    data: u32,
    to_client: mpsc::Sender<Vec<u8>>,
}

/// Connects to the pod and copies both ways until both directions are done, then ends the
/// error stream (kubectl waits for that before it lets the local connection go).
async fn forward(
    s: Streams,
    ip: Ipv4Addr,
    port: Option<u16>,
    pod: String,
    mut from_client: mpsc::UnboundedReceiver<Option<Bytes>>,
) {
    let Some(port) = port else {
        let msg = format!("error forwarding to pod {pod}: a port-forward stream needs a port");
        fail(&s, &msg).await;
        return;
    };
    let conn = match tokio::net::TcpStream::connect((ip, port)).await {
        Ok(c) => c,
        Err(e) => {
            let msg =
                format!("error forwarding port {port} to pod {pod}: dial tcp {ip}:{port}: {e}");
            fail(&s, &msg).await;
            return;
        }
    };
    let (mut from_pod, mut to_pod) = conn.into_split();
    let upstream = async move {
        while let Some(Some(chunk)) = from_client.recv().await {
            if to_pod.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to_pod.shutdown().await;
    };
    let to_client = s.to_client.clone();
    let downstream = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match from_pod.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_client
                        .send(spdy::data(s.data, false, &buf[..n]))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = to_client.send(spdy::data(s.data, true, &[])).await;
    };
    tokio::join!(upstream, downstream);
    let _ = s.to_client.send(spdy::data(s.error, true, &[])).await;
}

/// Reports a failure on the error stream and ends both streams.
async fn fail(s: &Streams, message: &str) {
    let _ = s
        .to_client
        .send(spdy::data(s.error, false, message.as_bytes()))
        .await;
    let _ = s.to_client.send(spdy::data(s.error, true, &[])).await;
    let _ = s.to_client.send(spdy::data(s.data, true, &[])).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_ports_come_comma_separated_or_repeated() {
        assert_eq!(ports("ports=80%2C1234").ok(), Some(vec![80, 1234]));
        assert_eq!(ports("ports=80&ports=8080").ok(), Some(vec![80, 8080]));
        assert!(ports("").is_err());
        assert!(ports("ports=0").is_err());
        assert!(ports("ports=http").is_err());
    }
}
