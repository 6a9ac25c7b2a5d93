//! Running probes and hooks (the I/O half of `probe.rs`): exec in the container's
//! environment under the /tmp rule, HTTP GET against the pod IP (200-399 succeed), TCP
//! connect; and the per-container probe worker that ticks every `periodSeconds`, feeds the
//! threshold state machine, records `Unhealthy` events and reports committed results.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::probe::{Action, Port, Probe, ProbeKind, ProbeResult, Thresholds};
use super::process::{Groups, run_to_end};
use super::spec::{ProcessSpec, exec_argv, tmp_dir, unrewrite_tmp};
use crate::controllers::events::{self, EventType};
use crate::registry::Registry;

/// Where a handler runs: the container's process spec, ports and the pod IP.
#[derive(Clone)]
pub struct Target {
    pub spec: ProcessSpec,
    pub container: Value,
    pub pod_ip: String,
    pub groups: Groups,
}

fn resolve_port(port: &Port, container: &Value) -> Option<u16> {
    match port {
        Port::Number(n) => Some(*n),
        Port::Name(name) => container
            .get("ports")
            .and_then(Value::as_array)?
            .iter()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|n| u16::try_from(n).ok()),
    }
}

/// Runs a handler once within `timeout`: the result and its output (for events).
pub async fn run(action: &Action, target: &Target, timeout: Duration) -> (ProbeResult, String) {
    match action {
        Action::Exec { command } => {
            let argv = exec_argv(command, &target.spec);
            let tmp = tmp_dir(&target.spec.root).display().to_string();
            match run_to_end(&argv, &target.spec, timeout, &target.groups).await {
                Ok((Some(0), out)) => (ProbeResult::Success, unrewrite_tmp(&out, &tmp)),
                Ok((Some(_), out)) => (ProbeResult::Failure, unrewrite_tmp(&out, &tmp)),
                Ok((None, _)) => (
                    ProbeResult::Failure,
                    format!("command \"{}\" timed out", command.join(" ")),
                ),
                Err(e) => (
                    ProbeResult::Failure,
                    format!(
                        "exec: \"{}\": {e}",
                        command.first().map(String::as_str).unwrap_or("")
                    ),
                ),
            }
        }
        Action::HttpGet {
            host,
            port,
            path,
            scheme,
            headers,
        } => {
            let host = if host.is_empty() {
                &target.pod_ip
            } else {
                host
            };
            let Some(port) = resolve_port(port, &target.container) else {
                return (ProbeResult::Unknown, format!("unknown port {port:?}"));
            };
            if !scheme.eq_ignore_ascii_case("HTTP") {
                return (
                    ProbeResult::Failure,
                    format!("the lab does not probe with scheme {scheme}"),
                );
            }
            http_get(host, port, path, headers, timeout).await
        }
        Action::TcpSocket { host, port } => {
            let host = if host.is_empty() {
                &target.pod_ip
            } else {
                host
            };
            let Some(port) = resolve_port(port, &target.container) else {
                return (ProbeResult::Unknown, format!("unknown port {port:?}"));
            };
            let addr = format!("{host}:{port}");
            match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
                Ok(Ok(_)) => (ProbeResult::Success, String::new()),
                Ok(Err(e)) => (ProbeResult::Failure, dial_error(&addr, &e)),
                Err(_) => (
                    ProbeResult::Failure,
                    format!("dial tcp {addr}: i/o timeout"),
                ),
            }
        }
    }
}

fn dial_error(addr: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("dial tcp {addr}: connect: connection refused")
        }
        _ => format!("dial tcp {addr}: {e}"),
    }
}

/// An HTTP/1.1 GET as the kubelet's prober sends it (`User-Agent: kube-probe/1.33`).
async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> (ProbeResult, String) {
    let addr = format!("{host}:{port}");
    let url = format!("http://{addr}{path}");
    let attempt = async {
        let mut stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("Get \"{url}\": {}", dial_error(&addr, &e)))?;
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        {
            req.push_str("User-Agent: kube-probe/1.33\r\n");
        }
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            req.push_str("Accept: */*\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("Connection: close\r\n\r\n");
        stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| format!("Get \"{url}\": {e}"))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(2).any(|w| w == b"\r\n") {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("Get \"{url}\": {e}"))?;
            if n == 0 {
                return Err(format!("Get \"{url}\": EOF"));
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("Get \"{url}\": malformed HTTP response"))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => (
            ProbeResult::Failure,
            format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            ),
        ),
        Ok(Err(message)) => (ProbeResult::Failure, message),
        Ok(Ok(code)) if (200..400).contains(&code) => (ProbeResult::Success, String::new()),
        Ok(Ok(code)) => (
            ProbeResult::Failure,
            format!("HTTP probe failed with statuscode: {code}"),
        ),
    }
}

/// A committed probe result of one container run.
#[derive(Debug, Clone)]
pub struct Committed {
    pub container: String,
    pub run_id: String,
    pub kind: ProbeKind,
    pub result: ProbeResult,
}

/// What a probe worker needs besides its probe.
pub struct WorkerContext {
    pub target: Target,
    pub container: String,
    pub run_id: String,
    pub started_at: Instant,
    /// Set once the startup probe succeeded (or at once without one).
    pub started: Arc<AtomicBool>,
    pub registry: Registry,
    pub pod: Arc<Value>,
    pub node: String,
    pub report: mpsc::UnboundedSender<super::worker::Msg>,
}

/// The probe worker of one container run (upstream `worker.run`): probes at once, then
/// every period; stops when the run ends (the task is aborted) or, for liveness and
/// startup, once it committed a failure or startup succeeded.
pub async fn worker(probe: Probe, cx: WorkerContext) {
    let mut thresholds = Thresholds::new(probe.kind);
    let mut ticks = tokio::time::interval(probe.period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let started = cx.started.load(Ordering::SeqCst);
        match probe.kind {
            ProbeKind::Startup if started => return,
            ProbeKind::Readiness | ProbeKind::Liveness if !started => continue,
            _ => {}
        }
        if cx.started_at.elapsed() < probe.initial_delay {
            continue;
        }
        let (result, output) = run(&probe.action, &cx.target, probe.timeout).await;
        if result == ProbeResult::Failure {
            let message = format!("{} probe failed: {}", probe.kind.title(), output.trim_end());
            events::record(
                &cx.registry,
                &cx.pod,
                EventType::Warning,
                "Unhealthy",
                &message,
                "kubelet",
                Some(&cx.node),
            );
        }
        if let Some(result) = thresholds.observe(&probe, result) {
            let _ = cx.report.send(super::worker::Msg::Probe(Committed {
                container: cx.container.clone(),
                run_id: cx.run_id.clone(),
                kind: probe.kind,
                result,
            }));
            let done = match probe.kind {
                ProbeKind::Readiness => false,
                ProbeKind::Liveness => result == ProbeResult::Failure,
                ProbeKind::Startup => true,
            };
            if done {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::probe;
    use super::*;
    use serde_json::json;
    use tokio::net::TcpListener;

    /// A one-shot HTTP server answering `status`, returning its port and the request seen.
    async fn serve(status: u16) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
            let _ = s.write_all(reply.as_bytes()).await;
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (port, task)
    }

    fn target(container: Value) -> Target {
        Target {
            spec: ProcessSpec {
                argv: vec![],
                env: vec![],
                working_dir: std::env::temp_dir(),
                root: std::env::temp_dir(),
                memory_limit: None,
                run_as: None,
            },
            container,
            pod_ip: "127.0.0.1".into(),
            groups: Groups::default(),
        }
    }

    #[tokio::test]
    async fn http_probes_succeed_below_400_and_name_ports_and_headers() {
        let (port, seen) = serve(204).await;
        let action = probe::action_of(&json!({"httpGet": {"path": "/ready", "port": "http",
            "httpHeaders": [{"name": "X-Probe", "value": "yes"}]}}))
        .expect("action");
        let t = target(json!({"ports": [{"name": "http", "containerPort": port}]}));
        let (result, _) = run(&action, &t, Duration::from_secs(1)).await;
        assert_eq!(result, ProbeResult::Success);
        let request = seen.await.expect("request");
        assert!(request.starts_with("GET /ready HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("X-Probe: yes\r\n"));
        assert!(request.contains("User-Agent: kube-probe/1.33\r\n"));
    }

    #[tokio::test]
    async fn http_and_tcp_failures_read_like_upstream() {
        let (port, _seen) = serve(503).await;
        let t = target(json!({}));
        let action =
            probe::action_of(&json!({"httpGet": {"path": "/", "port": port}})).expect("action");
        let (result, message) = run(&action, &t, Duration::from_secs(1)).await;
        assert_eq!(result, ProbeResult::Failure);
        assert_eq!(message, "HTTP probe failed with statuscode: 503");
        // A port nobody listens on (bound then released).
        let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let action = probe::action_of(&json!({"tcpSocket": {"port": port}})).expect("action");
        let (result, message) = run(&action, &t, Duration::from_secs(1)).await;
        assert_eq!(result, ProbeResult::Failure);
        assert_eq!(
            message,
            format!("dial tcp 127.0.0.1:{port}: connect: connection refused")
        );
    }
}
