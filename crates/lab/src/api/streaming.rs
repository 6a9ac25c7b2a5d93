//! `pods/{name}/exec` and `pods/{name}/attach` over websockets, the protocol kubectl 1.30+
//! speaks first (upstream `wsstream` with the remotecommand subprotocols
//! `v5.channel.k8s.io` and `v4.channel.k8s.io`). Every binary message starts with its
//! channel: 0 stdin, 1 stdout, 2 stderr, 3 error (one `metav1.Status` at the end: Success,
//! or Failure with reason `NonZeroExitCode` and an `ExitCode` cause, from which kubectl
//! takes its own exit code), 4 terminal resize (ignored: there is no terminal, `-t` runs
//! with pipes and stderr on stdout). v5 adds 255: `[255, 0]` is the client's end of stdin.
//!
//! The request is checked before the upgrade (pod, options, a running container), and a
//! problem answers a Status; kubectl then falls back to SPDY with the same request, which
//! gets the same Status. A valid SPDY request is told that the lab serves websockets only.
//! Attach streams the container's output from now on; the lab's containers run with stdin
//! closed, so attaching to stdin (`-i`) answers a Status saying the lab does not support it.

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, RawQuery, State};
use axum::http::Response;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::ApiState;
use super::respond::error_response;
use crate::error::ApiError;
use crate::kinds;
use crate::kubelet::exec::{Exec, Started, Unrewrite};

pub const V5: &str = "v5.channel.k8s.io";
pub const V4: &str = "v4.channel.k8s.io";
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const CLOSE: u8 = 255;

/// The query of an exec or attach request (upstream `PodExecOptions`/`PodAttachOptions`).
#[derive(Debug, Default, PartialEq)]
pub struct Options {
    pub command: Vec<String>,
    pub container: Option<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Parses the query (pure): `command` repeats, flags are `true`/`1`.
pub fn options(query: &str) -> Options {
    let mut o = Options::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let on = v == "true" || v == "1";
        match k.as_ref() {
            "command" => o.command.push(v.into_owned()),
            "container" => o.container = Some(v.into_owned()),
            "stdin" => o.stdin = on,
            "stdout" => o.stdout = on,
            "stderr" => o.stderr = on,
            "tty" => o.tty = on,
            _ => {}
        }
    }
    o
}

/// The Status sent on the error channel for an exit code (pure).
pub fn exit_status(code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: exit status {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    })
}

/// The running container a request names, after upstream's checks.
fn target(state: &ApiState, ns: &str, name: &str, o: &Options) -> Result<Started, ApiError> {
    let rt = kinds::find("", "v1", "pods").ok_or_else(ApiError::no_route)?;
    let pod = state.registry.get(rt, ns, name)?;
    if !(o.stdin || o.stdout || o.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if let Some(phase @ ("Succeeded" | "Failed")) = phase {
        return Err(ApiError::bad_request(format!(
            "cannot exec into or attach to a container in a completed pod; current phase is {phase}"
        )));
    }
    state.containers.running(ns, name, o.container.as_deref())
}

fn websockets_only(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the lab serves {what} over websockets only (kubectl 1.30 and later); it does not support SPDY upgrades"
    ))
}

type Upgrade = Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/exec`.
pub async fn exec(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ws: Upgrade,
) -> Response<Body> {
    let o = options(query.as_deref().unwrap_or(""));
    let started = match target(&state, &ns, &name, &o) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    if o.command.is_empty() {
        return error_response(&ApiError::bad_request(
            "you must specify at least 1 command",
        ));
    }
    let argv = crate::kubelet::exec::command_argv(&o.command, &started.spec);
    let program = argv.first().map_or("", String::as_str);
    if !crate::kubelet::exec::program_exists(program, &started.spec) {
        return error_response(&ApiError::internal(format!(
            "error executing command in container: exec: \"{}\": executable file not found in $PATH",
            o.command[0]
        )));
    }
    let Ok(ws) = ws else {
        return error_response(&websockets_only("exec"));
    };
    let process = match state.containers.exec(&started, &o.command, o.stdin) {
        Ok(p) => p,
        Err(e) => {
            return error_response(&ApiError::internal(format!(
                "error executing command in container: {e}"
            )));
        }
    };
    let shutdown = state.shutdown.clone();
    ws.protocols([V5, V4])
        .on_upgrade(move |socket| run_exec(socket, process, o, shutdown))
}

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/attach`.
pub async fn attach(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ws: Upgrade,
) -> Response<Body> {
    let o = options(query.as_deref().unwrap_or(""));
    let started = match target(&state, &ns, &name, &o) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    if o.stdin {
        return error_response(&ApiError::bad_request(
            "the lab does not support attaching to a container's stdin (kubectl attach -i, run -i): its containers run with stdin closed; attach without -i streams their output",
        ));
    }
    let Ok(ws) = ws else {
        return error_response(&websockets_only("attach"));
    };
    let shutdown = state.shutdown.clone();
    ws.protocols([V5, V4])
        .on_upgrade(move |socket| run_attach(socket, started, o, shutdown))
}

/// Counts exec, attach and portforward requests in `/metrics` as the apiserver labels
/// them: verb `CONNECT` on the pods subresource (code 101 once upgraded).
pub async fn count_connect(
    State(state): State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response<Body> {
    let subresource = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    let resp = next.run(req).await;
    let labels = super::metrics::Labels {
        verb: "CONNECT",
        group: String::new(),
        version: "v1".into(),
        resource: "pods".into(),
        subresource,
        scope: "resource",
    };
    state.metrics.count(labels, resp.status().as_u16());
    resp
}

fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(data.len() + 1);
    m.push(channel);
    m.extend_from_slice(data);
    m
}

/// Sends the queued binary messages in order, then a normal close (kubectl reads any other
/// close as an error); the task ends once the close is sent. Shared by exec, attach and both
/// port-forward protocols.
pub(super) fn writer(
    socket: futures::stream::SplitSink<WebSocket, Message>,
) -> (mpsc::Sender<Vec<u8>>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    let task = tokio::spawn(async move {
        let mut sink = socket;
        while let Some(bytes) = rx.recv().await {
            if sink.send(Message::Binary(bytes.into())).await.is_err() {
                return;
            }
        }
        let close = CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        };
        let _ = sink.send(Message::Close(Some(close))).await;
        let _ = sink.close().await;
    });
    (tx, task)
}

/// An exec'd command's output pipe.
enum Pipe {
    Out(tokio::process::ChildStdout),
    Err(tokio::process::ChildStderr),
}

impl Pipe {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Pipe::Out(p) => p.read(buf).await,
            Pipe::Err(p) => p.read(buf).await,
        }
    }
}

/// Copies one output pipe to a channel (or drains it when the client did not ask for
/// it), with the tmp directory shown as `/tmp`.
async fn pump(mut from: Pipe, channel: Option<u8>, tmp: String, to: mpsc::Sender<Vec<u8>>) {
    let mut unrewrite = Unrewrite::new(&tmp);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let Some(channel) = channel else { continue };
                let out = unrewrite.push(&buf[..n]);
                if !out.is_empty() && to.send(frame(channel, &out)).await.is_err() {
                    return;
                }
            }
        }
    }
    let rest = unrewrite.finish();
    if let Some(channel) = channel.filter(|_| !rest.is_empty()) {
        let _ = to.send(frame(channel, &rest)).await;
    }
}

async fn run_exec(
    socket: WebSocket,
    mut process: Exec,
    o: Options,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (sink, mut source) = socket.split();
    let (tx, _) = writer(sink);
    let mut pumps = Vec::new();
    let stderr_channel = if o.tty { STDOUT } else { STDERR };
    let outputs = [
        (
            process.child.stdout.take().map(Pipe::Out),
            o.stdout.then_some(STDOUT),
        ),
        (
            process.child.stderr.take().map(Pipe::Err),
            (o.stderr || o.tty).then_some(stderr_channel),
        ),
    ];
    for (pipe, channel) in outputs {
        if let Some(pipe) = pipe {
            pumps.push(tokio::spawn(pump(
                pipe,
                channel,
                process.tmp.clone(),
                tx.clone(),
            )));
        }
    }
    // The client's messages: stdin data, its end, resizes; the loop ends when it goes away.
    let mut stdin = process.child.stdin.take();
    let client = async move {
        while let Some(Ok(msg)) = source.next().await {
            match msg {
                Message::Binary(b) => match (b.first(), b.get(1)) {
                    (Some(&STDIN), _) => {
                        if let Some(pipe) = stdin.as_mut()
                            && pipe.write_all(&b[1..]).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    (Some(&CLOSE), Some(&STDIN)) => stdin = None,
                    _ => {}
                },
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    let code = tokio::select! {
        code = process.wait() => Some(code),
        _ = client => None,
        _ = shutdown.cancelled() => None,
    };
    // Dropping the process kills what is left of its group, which ends the pipes.
    drop(process);
    for p in pumps {
        let _ = p.await;
    }
    if let Some(code) = code {
        let _ = tx
            .send(frame(ERROR, exit_status(code).to_string().as_bytes()))
            .await;
    }
}

async fn run_attach(
    socket: WebSocket,
    started: Started,
    o: Options,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (sink, mut source) = socket.split();
    let (tx, _) = writer(sink);
    let mut lines = started.log.follow_new();
    let tmp = crate::kubelet::spec::tmp_dir(&started.spec.root)
        .display()
        .to_string();
    let client = async move {
        while let Some(Ok(m)) = source.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    };
    let output = async {
        while let Some((is_stderr, line)) = lines.next().await {
            let channel = match (is_stderr, o.tty) {
                (true, false) if o.stderr => STDERR,
                (true, false) => continue,
                _ if o.stdout => STDOUT,
                _ => continue,
            };
            let shown = crate::kubelet::spec::unrewrite_tmp(&String::from_utf8_lossy(&line), &tmp);
            if tx.send(frame(channel, shown.as_bytes())).await.is_err() {
                return false;
            }
        }
        true
    };
    let ended = tokio::select! {
        ended = output => ended,
        _ = client => false,
        _ = shutdown.cancelled() => false,
    };
    if ended {
        let _ = tx
            .send(frame(ERROR, exit_status(0).to_string().as_bytes()))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_gives_the_command_in_order_and_the_streams() {
        let o = options(
            "command=sh&command=-c&command=echo+%24VAR&container=app&stdin=true&stdout=true&stderr=true&tty=false",
        );
        assert_eq!(o.command, vec!["sh", "-c", "echo $VAR"]);
        assert_eq!(o.container.as_deref(), Some("app"));
        assert!(o.stdin && o.stdout && o.stderr && !o.tty);
    }

    #[test]
    fn a_non_zero_exit_is_a_failure_with_the_exit_code_cause_kubectl_reads() {
        assert_eq!(exit_status(0)["status"], "Success");
        let s = exit_status(3);
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(
            s["details"]["causes"][0],
            json!({"reason": "ExitCode", "message": "3"})
        );
    }
}
