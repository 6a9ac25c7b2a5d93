//! `kubectl logs` with the options that shape the answer: `--timestamps` (each line's own
//! time), `--since-time` and `--since` (lines before left out), `--limit-bytes` (the answer
//! cut there, which also ends a followed stream).

use rollout_lab::LabConfig;

use super::manifests::{apply, wait_for};
use super::support::TestLab;

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: talk
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo one; sleep 3; echo two; exec sleep 3600']
";

#[tokio::test]
async fn kubectl_logs_honours_timestamps_since_time_since_and_limit_bytes() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let Some(k) = lab.kubectl() else { return };
    apply(&k, "talk", POD).await;
    wait_for(&k, "pod/talk", "{.status.phase}", "Running").await;
    // Both lines are exactly 8 bytes: the followed stream ends once they are out.
    let both = k.run(&["logs", "talk", "-f", "--limit-bytes=8"]).await.ok();
    assert_eq!(both, "one\ntwo\n");
    let stamped = k.run(&["logs", "talk", "--timestamps"]).await.ok();
    let times: Vec<jiff::Timestamp> = stamped
        .lines()
        .zip(["one", "two"])
        .map(|(line, text)| {
            let (ts, rest) = line
                .split_once(' ')
                .expect("a timestamp, a space, the text");
            assert_eq!(rest, text, "{stamped}");
            ts.parse().expect("an RFC 3339 timestamp")
        })
        .collect();
    assert_eq!(times.len(), 2, "{stamped}");
    assert!(
        times[1].duration_since(times[0]) >= jiff::SignedDuration::from_millis(2500),
        "{stamped}"
    );
    // A second after the first line, truncated to whole seconds: after it, before the second.
    let between = (times[0] + jiff::SignedDuration::from_secs(1))
        .round(jiff::Unit::Second)
        .expect("rounded")
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let since_time = k
        .run(&["logs", "talk", &format!("--since-time={between}")])
        .await
        .ok();
    assert_eq!(since_time, "two\n", "since {between}");
    let since = k.run(&["logs", "talk", "--since=1h"]).await.ok();
    assert_eq!(since, "one\ntwo\n");
    let cut = k
        .run(&["logs", "talk", "--timestamps", "--limit-bytes=5"])
        .await
        .ok();
    assert_eq!(cut, stamped[..5]);
}

#[tokio::test]
async fn kubectl_run_with_args_runs_them_after_the_images_empty_entrypoint() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let Some(k) = lab.kubectl() else { return };
    k.run(&[
        "run",
        "p",
        "--image=busybox:1.36",
        "--restart=Never",
        "--",
        "echo",
        "hello",
        "world",
    ])
    .await
    .ok();
    k.run(&[
        "run",
        "q",
        "--image=busybox:1.36",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        "echo from $0",
        "command",
    ])
    .await
    .ok();
    wait_for(&k, "pod/p", "{.status.phase}", "Succeeded").await;
    wait_for(&k, "pod/q", "{.status.phase}", "Succeeded").await;
    assert_eq!(k.run(&["logs", "p"]).await.ok(), "hello world\n");
    assert_eq!(k.run(&["logs", "q"]).await.ok(), "from command\n");
}
