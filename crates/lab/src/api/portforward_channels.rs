//! Port-forward over the kubelet's websocket protocol without SPDY (`v4.channel.k8s.io`,
//! upstream `kubelet/cri/streaming/portforward/websocket.go`; kube-rs `Api::portforward`
//! speaks it). One connection to the pod per requested port: channel `2i` carries port `i`'s
//! bytes both ways and `2i+1` its error; the server opens each channel with the port number
//! (two bytes, little-endian), writes a dial error on the error channel, and closes the
//! websocket once every port's connection has ended (the protocol has no half-close: the
//! client's close ends everything).

use std::net::Ipv4Addr;

use axum::extract::ws::{Message, WebSocket};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

/// One channel message: the channel byte, then the data (pure).
pub fn message(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(data.len() + 1);
    m.push(channel);
    m.extend_from_slice(data);
    m
}

pub async fn run(
    socket: WebSocket,
    ip: Ipv4Addr,
    pod: String,
    ports: Vec<u16>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (sink, mut source) = socket.split();
    let (tx, writer) = super::streaming::writer(sink);
    let mut to_pods: Vec<Option<OwnedWriteHalf>> = Vec::new();
    let mut readers = tokio::task::JoinSet::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = ((2 * i) as u8, (2 * i + 1) as u8);
        let _ = tx.send(message(data, &port.to_le_bytes())).await;
        let _ = tx.send(message(error, &port.to_le_bytes())).await;
        match tokio::net::TcpStream::connect((ip, *port)).await {
            Ok(conn) => {
                let (mut from_pod, to_pod) = conn.into_split();
                to_pods.push(Some(to_pod));
                let tx = tx.clone();
                readers.spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = from_pod.read(&mut buf).await {
                        if n == 0 || tx.send(message(data, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => {
                to_pods.push(None);
                let msg =
                    format!("error forwarding port {port} to pod {pod}: dial tcp {ip}:{port}: {e}");
                let _ = tx.send(message(error, msg.as_bytes())).await;
            }
        }
    }
    loop {
        let msg = tokio::select! {
            m = source.next() => m,
            // Every port's pod side has ended: nothing more will come.
            ended = readers.join_next() => match ended {
                Some(_) => continue,
                None => break,
            },
            _ = shutdown.cancelled() => break,
        };
        let bytes = match msg {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        let Some((&channel, data)) = bytes.split_first() else {
            continue;
        };
        let port = usize::from(channel / 2);
        if channel % 2 == 0
            && let Some(Some(to_pod)) = to_pods.get_mut(port)
            && to_pod.write_all(data).await.is_err()
        {
            to_pods[port] = None;
        }
    }
    readers.abort_all();
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_channel_opens_with_its_port_little_endian() {
        assert_eq!(message(0, &8080u16.to_le_bytes()), vec![0, 0x90, 0x1f]);
    }
}
