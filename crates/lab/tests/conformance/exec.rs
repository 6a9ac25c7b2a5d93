//! `kubectl exec` (with and without `-i`), `kubectl cp` both ways, `kubectl attach` and
//! `kubectl port-forward` through the real kubectl, which speaks websockets
//! (`v5.channel.k8s.io`, and SPDY tunnelled over a websocket for port-forward).

use std::process::Stdio;

use rollout_lab::LabConfig;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::manifests::{apply, wait_for};
use super::support::{DEADLINE, Kubectl, TestLab, within};

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: box
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    env:
    - name: GREETING
      value: hello from the pod
    command: [sh, -c, 'touch /tmp/ready; echo started; exec sleep 3600']
";

async fn running_box(k: &Kubectl) {
    apply(k, "box", POD).await;
    wait_for(k, "pod/box", "{.status.phase}", "Running").await;
}

#[tokio::test]
async fn kubectl_exec_runs_in_the_containers_environment_and_passes_its_exit_code_on() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let Some(k) = lab.kubectl() else { return };
    running_box(&k).await;
    let run = k
        .run(&[
            "exec",
            "box",
            "--",
            "sh",
            "-c",
            "echo $GREETING; ls /tmp/ready; echo $POD_IP",
        ])
        .await;
    let out = run.ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["hello from the pod", "/tmp/ready"], "{out}");
    let pod_ip = super::manifests::get(&k, "pod/box", "{.status.podIP}").await;
    assert_eq!(lines.get(2).copied(), Some(pod_ip.as_str()), "{out}");

    let failed = k
        .run(&[
            "exec",
            "box",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ])
        .await;
    assert_eq!(failed.code, Some(3), "{failed:#?}");
    assert_eq!(failed.stdout, "out\n");
    assert!(failed.stderr.starts_with("err\n"), "{failed:#?}");
    assert!(
        failed
            .stderr
            .contains("command terminated with exit code 3"),
        "{failed:#?}"
    );

    let missing = k.run(&["exec", "box", "--", "no-such-program"]).await;
    assert_eq!(missing.code, Some(1), "{missing:#?}");
    assert!(
        missing
            .stderr
            .contains("exec: \"no-such-program\": executable file not found in $PATH"),
        "{missing:#?}"
    );

    // Counted as the apiserver counts them: CONNECT on pods/exec, 101 once upgraded.
    let metrics = k.run(&["get", "--raw", "/metrics"]).await.ok();
    let upgraded = metrics.lines().find(|l| {
        l.contains("subresource=\"exec\",verb=\"CONNECT\"") && l.contains("code=\"101\"")
    });
    let count = upgraded.and_then(|l| l.rsplit(' ').next()?.parse::<u32>().ok());
    assert_eq!(count, Some(2), "{metrics}");
}

/// Runs kubectl with `input` on its stdin; returns (exit code, stdout).
async fn with_stdin(k: &Kubectl, args: &[&str], input: &[u8]) -> (Option<i32>, String) {
    let mut child = k
        .command(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    let mut stdin = child.stdin.take().expect("a stdin pipe");
    stdin.write_all(input).await.expect("input written");
    drop(stdin);
    let out = within(DEADLINE, "kubectl to finish", child.wait_with_output())
        .await
        .expect("kubectl runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn kubectl_exec_i_feeds_stdin_and_kubectl_cp_copies_files_in_and_out() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let Some(k) = lab.kubectl() else { return };
    running_box(&k).await;
    let (code, out) = with_stdin(
        &k,
        &[
            "exec",
            "-i",
            "box",
            "--",
            "sh",
            "-c",
            "cat > /tmp/in; wc -l < /tmp/in",
        ],
        b"one\ntwo\nthree\n",
    )
    .await;
    assert_eq!((code, out.trim()), (Some(0), "3"));
    let back = k.run(&["exec", "box", "--", "cat", "/tmp/in"]).await.ok();
    assert_eq!(back, "one\ntwo\nthree\n");

    let local = k.file("data.txt", "copied into the pod\n");
    k.run(&["cp", &local, "box:/tmp/data.txt"]).await.ok();
    let inside = k
        .run(&["exec", "box", "--", "cat", "/tmp/data.txt"])
        .await
        .ok();
    assert_eq!(inside, "copied into the pod\n");
    let copy = k.file("copy.txt", "");
    k.run(&["cp", "box:/tmp/data.txt", &copy]).await.ok();
    assert_eq!(
        std::fs::read_to_string(&copy).expect("copied out"),
        "copied into the pod\n"
    );
}

#[tokio::test]
async fn kubectl_attach_streams_new_output_and_refuses_stdin_in_one_line() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let Some(k) = lab.kubectl() else { return };
    apply(
        &k,
        "ticker",
        "apiVersion: v1
kind: Pod
metadata:
  name: ticker
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done']
",
    )
    .await;
    wait_for(&k, "pod/ticker", "{.status.phase}", "Running").await;
    let mut child = k
        .command(&["attach", "ticker"])
        .spawn()
        .expect("kubectl starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = within(DEADLINE, "an attached line", lines.next_line())
        .await
        .expect("reads")
        .expect("a line");
    assert!(first.starts_with("tick "), "{first}");
    let second = within(DEADLINE, "another attached line", lines.next_line())
        .await
        .expect("reads")
        .expect("a line");
    let n = |l: &str| l.trim_start_matches("tick ").parse::<u32>().ok();
    assert_eq!(n(&second), n(&first).map(|i| i + 1), "new lines, in order");
    let _ = child.kill().await;

    let refused = k.run(&["attach", "-i", "ticker"]).await;
    assert!(!refused.success());
    assert!(
        refused
            .stderr
            .contains("the lab does not support attaching to a container's stdin"),
        "{refused:#?}"
    );
}

#[tokio::test]
async fn kubectl_port_forward_reaches_the_pods_server() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let Some(k) = lab.kubectl() else { return };
    apply(
        &k,
        "web",
        "apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: python
    command: [sh, -c, 'mkdir -p /tmp/www; echo served by the pod > /tmp/www/index.html; exec python3 -u -m http.server 8080 --bind $POD_IP --directory /tmp/www']
",
    )
    .await;
    wait_for(&k, "pod/web", "{.status.phase}", "Running").await;
    // Running is not listening yet: the pod's own log says when it is.
    let listening = k.run(&["logs", "web", "-f", "--limit-bytes=7"]);
    assert_eq!(
        within(DEADLINE, "the server to listen", listening)
            .await
            .ok(),
        "Serving"
    );
    let mut child = k
        .command(&["port-forward", "pod/web", ":8080"])
        .spawn()
        .expect("kubectl starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = within(DEADLINE, "the Forwarding from line", lines.next_line())
        .await
        .expect("reads")
        .expect("a line");
    // `Forwarding from 127.0.0.1:PORT -> 8080`
    let port = line
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    for _ in 0..2 {
        let body = within(
            DEADLINE,
            "an HTTP answer through the tunnel",
            http_get(port),
        )
        .await;
        assert!(body.starts_with("HTTP/1."), "{body}");
        assert!(body.ends_with("served by the pod\n"), "{body}");
    }
    let _ = child.kill().await;
}

async fn http_get(port: u16) -> String {
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the forwarded port accepts");
    conn.write_all(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
        .await
        .expect("request sent");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("answer read");
    answer
}
