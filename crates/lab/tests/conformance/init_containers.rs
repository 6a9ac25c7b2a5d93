//! Init containers and native sidecars, checked through kubectl: run in order, each to
//! completion, before the app containers; restarts under the pod's restartPolicy; the STATUS
//! column kubectl prints (`Init:N/M`, `Init:Error`, `Init:CrashLoopBackOff`); sidecars
//! (`restartPolicy: Always`) started before the next init container and kept running.

use rollout_lab::LabConfig;

use super::manifests::{apply, get, wait_for};
use super::support::{Kubectl, TestLab};

async fn lab() -> TestLab {
    TestLab::with_config(LabConfig::default()).await
}

/// A pod with `inits` (YAML list items under `initContainers:`) and one app container.
fn pod_yaml(name: &str, policy: &str, inits: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 1
  initContainers:
{inits}
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo app; sleep 3600']
"
    )
}

/// `kubectl get pod NAME` columns: READY and STATUS.
async fn ready_and_status(k: &Kubectl, pod: &str) -> (String, String) {
    let out = k.run(&["get", "pod", pod, "--no-headers"]).await.ok();
    let cols: Vec<&str> = out.split_whitespace().collect();
    (cols[1].to_string(), cols[2].to_string())
}

#[tokio::test]
async fn init_containers_run_in_order_to_completion_before_the_app_starts() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    let inits = "  - {name: fetch, image: busybox, command: [sh, -c, 'sleep 1; echo fetched']}
  - {name: warm, image: busybox, command: [sh, -c, 'echo warmed']}";
    apply(&k, "model", &pod_yaml("model", "Always", inits)).await;
    wait_for(&k, "pod/model", "{.status.phase}", "Running").await;
    wait_for(
        &k,
        "pod/model",
        "{.status.conditions[?(@.type==\"Initialized\")].status}",
        "True",
    )
    .await;
    let finished =
        |i: usize| format!("{{.status.initContainerStatuses[{i}].state.terminated.finishedAt}}");
    let started =
        |i: usize| format!("{{.status.initContainerStatuses[{i}].state.terminated.startedAt}}");
    let fetch_done = get(&k, "pod/model", &finished(0)).await;
    let warm_start = get(&k, "pod/model", &started(1)).await;
    let warm_done = get(&k, "pod/model", &finished(1)).await;
    let app_start = get(
        &k,
        "pod/model",
        "{.status.containerStatuses[0].state.running.startedAt}",
    )
    .await;
    assert!(
        !fetch_done.is_empty() && warm_start >= fetch_done,
        "{fetch_done} then {warm_start}"
    );
    assert!(app_start >= warm_done, "{warm_done} then {app_start}");
    let reasons = get(
        &k,
        "pod/model",
        "{.status.initContainerStatuses[*].state.terminated.reason}",
    )
    .await;
    assert_eq!(reasons, "Completed Completed");
    assert_eq!(
        k.run(&["logs", "model", "-c", "fetch"]).await.ok(),
        "fetched\n"
    );
    assert_eq!(
        ready_and_status(&k, "model").await,
        ("1/1".into(), "Running".into())
    );
}

#[tokio::test]
async fn a_running_init_container_shows_init_progress_and_holds_the_app_back() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    let inits = "  - {name: done, image: busybox, command: ['true']}
  - {name: fetch, image: busybox, command: [sleep, '3600']}";
    apply(&k, "slow", &pod_yaml("slow", "Always", inits)).await;
    wait_for(
        &k,
        "pod/slow",
        "{.status.initContainerStatuses[1].started}",
        "true",
    )
    .await;
    assert_eq!(
        ready_and_status(&k, "slow").await,
        ("0/1".into(), "Init:1/2".into())
    );
    assert_eq!(
        get(
            &k,
            "pod/slow",
            "{.status.containerStatuses[0].state.waiting.reason}"
        )
        .await,
        "PodInitializing"
    );
    assert_eq!(get(&k, "pod/slow", "{.status.phase}").await, "Pending");
    assert_eq!(
        get(
            &k,
            "pod/slow",
            "{.status.conditions[?(@.type==\"Initialized\")].message}"
        )
        .await,
        "containers with incomplete status: [fetch]"
    );
}

#[tokio::test]
async fn a_failed_init_container_fails_a_never_pod_and_crash_loops_an_always_pod() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    let inits = "  - {name: fetch, image: busybox, command: [sh, -c, 'exit 1']}";
    apply(&k, "once", &pod_yaml("once", "Never", inits)).await;
    apply(&k, "again", &pod_yaml("again", "Always", inits)).await;
    wait_for(&k, "pod/once", "{.status.phase}", "Failed").await;
    assert_eq!(
        ready_and_status(&k, "once").await,
        ("0/1".into(), "Init:Error".into())
    );
    wait_for(
        &k,
        "pod/again",
        "{.status.initContainerStatuses[0].state.waiting.reason}",
        "CrashLoopBackOff",
    )
    .await;
    assert_eq!(
        ready_and_status(&k, "again").await,
        ("0/1".into(), "Init:CrashLoopBackOff".into())
    );
    assert_eq!(get(&k, "pod/again", "{.status.phase}").await, "Pending");
    assert_eq!(
        get(
            &k,
            "pod/again",
            "{.status.containerStatuses[0].state.waiting.reason}"
        )
        .await,
        "PodInitializing"
    );
}

#[tokio::test]
async fn a_native_sidecar_starts_before_the_next_init_container_and_keeps_running() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    let inits = "  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'touch /tmp/up; sleep 3600']
    startupProbe:
      exec: {command: [cat, /tmp/up]}
      periodSeconds: 1
  - {name: fetch, image: busybox, command: [sh, -c, 'echo fetched']}";
    apply(&k, "sided", &pod_yaml("sided", "Always", inits)).await;
    wait_for(&k, "pod/sided", "{.status.phase}", "Running").await;
    wait_for(
        &k,
        "pod/sided",
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "True",
    )
    .await;
    let proxy_started = get(
        &k,
        "pod/sided",
        "{.status.initContainerStatuses[0].state.running.startedAt}",
    )
    .await;
    let fetch_started = get(
        &k,
        "pod/sided",
        "{.status.initContainerStatuses[1].state.terminated.startedAt}",
    )
    .await;
    assert!(
        !proxy_started.is_empty() && fetch_started >= proxy_started,
        "{proxy_started} then {fetch_started}"
    );
    assert_eq!(
        get(
            &k,
            "pod/sided",
            "{.status.initContainerStatuses[0].started}"
        )
        .await,
        "true"
    );
    assert_eq!(
        ready_and_status(&k, "sided").await,
        ("2/2".into(), "Running".into())
    );
}

#[tokio::test]
async fn sidecars_are_stopped_once_the_app_containers_finish_so_the_pod_completes() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    let yaml = "apiVersion: v1
kind: Pod
metadata:
  name: job
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  initContainers:
  - {name: proxy, image: busybox, restartPolicy: Always, command: [sleep, '3600']}
  containers:
  - {name: work, image: busybox, command: [sh, -c, 'echo done']}
";
    apply(&k, "job", yaml).await;
    wait_for(&k, "pod/job", "{.status.phase}", "Succeeded").await;
    assert_eq!(
        get(
            &k,
            "pod/job",
            "{.status.initContainerStatuses[0].state.terminated.exitCode}"
        )
        .await,
        "137",
        "the sidecar was stopped: `sleep` as its main process ignores SIGTERM (as a PID 1 \
         without a handler does), so it is SIGKILLed when the 2 s grace is over"
    );
    assert_eq!(
        ready_and_status(&k, "job").await,
        ("0/2".into(), "Completed".into())
    );
}
