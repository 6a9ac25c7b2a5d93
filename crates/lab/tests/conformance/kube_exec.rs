//! kube-rs against the lab's streaming subresources: `Api::exec` (websocket
//! `v5.channel.k8s.io`) and `Api::portforward` (the kubelet's websocket protocol
//! `v4.channel.k8s.io`, ports in the query, no SPDY).

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, LogParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use rollout_lab::LabConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{DEADLINE, TestLab, within};

async fn running_pod(pods: &Api<Pod>, name: &str, image: &str, script: &str) {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "app",
                "image": image,
                "env": [{"name": "GREETING", "value": "hello from kube-rs"}],
                "command": ["sh", "-c", script]
            }]
        }
    }))
    .expect("a pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("created");
    within(
        DEADLINE,
        "the pod to run",
        await_condition(pods.clone(), name, conditions::is_pod_running()),
    )
    .await
    .expect("watched");
}

#[tokio::test]
async fn kube_rs_exec_reads_the_output_and_the_exit_status() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let pods: Api<Pod> = lab.api();
    running_pod(&pods, "box", "busybox", "exec sleep 3600").await;
    let mut run = pods
        .exec(
            "box",
            ["sh", "-c", "cat; echo $GREETING; exit 2"],
            &AttachParams::default().stdin(true).stderr(false),
        )
        .await
        .expect("exec starts");
    let mut stdin = run.stdin().expect("stdin");
    stdin.write_all(b"piped in\n").await.expect("written");
    // The end of stdin reaches the command as v5's close signal.
    stdin.shutdown().await.expect("closed");
    let mut out = String::new();
    let mut stdout = run.stdout().expect("stdout");
    within(DEADLINE, "the output", stdout.read_to_string(&mut out))
        .await
        .expect("read");
    assert_eq!(out, "piped in\nhello from kube-rs\n");
    let status = within(DEADLINE, "the status", run.take_status().expect("a status"))
        .await
        .expect("sent");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let code = status
        .details
        .and_then(|d| d.causes)
        .and_then(|c| {
            c.into_iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
        })
        .and_then(|c| c.message);
    assert_eq!(code.as_deref(), Some("2"));
}

#[tokio::test]
async fn kube_rs_port_forward_reaches_the_pods_server() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let pods: Api<Pod> = lab.api();
    running_pod(
        &pods,
        "web",
        "python",
        "mkdir -p /tmp/www; echo served by the pod > /tmp/www/index.html; \
         exec python3 -u -m http.server 8080 --bind $POD_IP --directory /tmp/www",
    )
    .await;
    // Running is not listening yet: the server's first words say when it is.
    let listening = LogParams {
        follow: true,
        limit_bytes: Some(7),
        ..LogParams::default()
    };
    let said = within(
        DEADLINE,
        "the server to listen",
        pods.logs("web", &listening),
    )
    .await
    .expect("logs");
    assert_eq!(said, "Serving");
    let mut forwarder = pods.portforward("web", &[8080]).await.expect("upgraded");
    let mut stream = forwarder.take_stream(8080).expect("the port's stream");
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
        .await
        .expect("sent");
    let mut answer = Vec::new();
    within(DEADLINE, "the answer", stream.read_to_end(&mut answer))
        .await
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1."), "{answer}");
    assert!(answer.ends_with("served by the pod\n"), "{answer}");
    // The server closed the websocket once the pod closed the connection, as a kubelet
    // does; kube-rs then fails to send its own close, so its join result says nothing.
    forwarder.abort();
}
