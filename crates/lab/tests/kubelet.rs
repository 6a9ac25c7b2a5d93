//! The kubelet against an in-process lab: pods on `lab-node-1` run as local processes and
//! their status, events and logs are observed through the registry's watch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rollout_lab::kinds::{self, ResourceType};
use rollout_lab::logs::{LogRequest, LogSource};
use rollout_lab::registry::{DeleteOptions, WriteOptions};
use rollout_lab::{Lab, LabConfig};
use serde_json::{Value, json};

fn rt(plural: &str) -> &'static ResourceType {
    kinds::find("", "v1", plural).expect("served")
}

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: "test".into(),
        ..WriteOptions::default()
    }
}

async fn lab() -> Lab {
    Lab::start(LabConfig::default()).await.expect("lab starts")
}

fn pod(name: &str, container: Value) -> Value {
    json!({"metadata": {"name": name}, "spec": {"nodeName": "lab-node-1", "containers": [container]}})
}

fn create(lab: &Lab, obj: Value, plural: &str) {
    lab.registry()
        .create(rt(plural), "default", obj, &opts())
        .expect("created");
}

/// Waits on the store's watch until `done` holds for the objects of a type in `default`;
/// panics with the last state after `secs`.
async fn wait_for(
    lab: &Lab,
    plural: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&[Arc<Value>]) -> bool,
) -> Vec<Arc<Value>> {
    let rt = rt(plural);
    let (_, _, mut rx) = lab
        .registry()
        .store()
        .snapshot_and_subscribe(rt, Some("default"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (items, _) = lab.registry().store().list(rt, Some("default"));
        if done(&items) {
            return items;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("watch ended waiting for {what}: {e}"),
            Err(_) => panic!("timed out waiting for {what}; last state: {items:#?}"),
        }
    }
}

fn find<'a>(items: &'a [Arc<Value>], name: &str) -> Option<&'a Value> {
    items
        .iter()
        .map(|v| v.as_ref())
        .find(|p| p["metadata"]["name"] == name)
}

fn condition(pod: &Value, kind: &str) -> String {
    pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

async fn wait_pod(
    lab: &Lab,
    name: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let items = wait_for(lab, "pods", secs, what, |items| {
        find(items, name).is_some_and(&done)
    })
    .await;
    find(&items, name).cloned().expect("pod")
}

fn has_event(items: &[Arc<Value>], pod: &str, reason: &str, message: &str) -> bool {
    items.iter().any(|e| {
        e["involvedObject"]["name"] == pod
            && e["reason"] == reason
            && e["message"].as_str().is_some_and(|m| m.contains(message))
    })
}

async fn read_logs(lab: &Lab, req: LogRequest) -> String {
    let source = logs(lab);
    let mut stream = source.logs(&req).expect("log stream");
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    String::from_utf8(out).expect("utf-8")
}

fn logs(lab: &Lab) -> Arc<dyn LogSource> {
    lab.log_source()
}

fn req(pod: &str) -> LogRequest {
    LogRequest {
        namespace: "default".into(),
        pod: pod.into(),
        ..LogRequest::default()
    }
}

fn seed_container(command: &str) -> Value {
    json!({"name": "app", "image": "busybox", "command": ["sh", "-c", command],
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}})
}

fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

/// Waits (bounded) for a process to be gone; the OS gives no event to wait on.
async fn gone(pid: i32) -> bool {
    for _ in 0..40 {
        if !process_alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The pid a pod printed first (`echo $$$$`: upstream expansion turns `$$` into `$`).
async fn pid_of(lab: &Lab, pod: &str) -> i32 {
    wait_pod(lab, pod, 10, "running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = read_logs(lab, req(pod)).await;
        if let Ok(pid) = text.trim().parse::<i32>() {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in logs: {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_busybox_pod_with_the_seed_probe_becomes_ready_with_its_own_ip() {
    let lab = lab().await;
    create(
        &lab,
        pod(
            "seed",
            seed_container("sleep 2; touch /tmp/ready; sleep 3600"),
        ),
        "pods",
    );
    let running = wait_pod(&lab, "seed", 10, "Running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    assert_eq!(condition(&running, "Ready"), "False");
    let ready = wait_pod(&lab, "seed", 15, "Ready=True", |p| {
        condition(p, "Ready") == "True"
    })
    .await;
    let ip = ready["status"]["podIP"].as_str().expect("podIP");
    assert!(ip.starts_with("127.42."), "{ip}");
    assert_eq!(ready["status"]["podIPs"][0]["ip"], ip);
    assert_eq!(ready["status"]["hostIP"], "127.0.0.1");
    let cs = &ready["status"]["containerStatuses"][0];
    assert_eq!(cs["ready"], true);
    assert_eq!(cs["started"], true);
    assert!(
        cs["containerID"]
            .as_str()
            .is_some_and(|id| id.starts_with("lab://"))
    );
    assert_eq!(condition(&ready, "ContainersReady"), "True");
    assert_eq!(condition(&ready, "PodScheduled"), "True");
    lab.shutdown().await;
}

#[tokio::test]
async fn a_pod_that_never_touches_the_file_stays_unready_with_unhealthy_events() {
    let lab = lab().await;
    create(&lab, pod("never", seed_container("sleep 3600")), "pods");
    wait_for(&lab, "events", 10, "Unhealthy event", |e| {
        has_event(
            e,
            "never",
            "Unhealthy",
            "Readiness probe failed: cat: /tmp/ready: No such file or directory",
        )
    })
    .await;
    let (items, _) = lab.registry().store().list(rt("pods"), Some("default"));
    let p = find(&items, "never").expect("pod");
    assert_eq!(p["status"]["phase"], "Running");
    assert_eq!(condition(p, "Ready"), "False");
    assert_eq!(p["status"]["containerStatuses"][0]["ready"], false);
    lab.shutdown().await;
}

#[tokio::test]
async fn a_crashing_pod_goes_to_crash_loop_back_off_with_its_exit_code() {
    let lab = lab().await;
    let c = json!({"name": "app", "image": "busybox", "command": ["sh", "-c", "echo run; exit 3"]});
    create(&lab, pod("crash", c), "pods");
    let p = wait_pod(&lab, "crash", 10, "CrashLoopBackOff", |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    })
    .await;
    let cs = &p["status"]["containerStatuses"][0];
    assert_eq!(cs["lastState"]["terminated"]["exitCode"], 3);
    assert_eq!(cs["lastState"]["terminated"]["reason"], "Error");
    assert!(cs["restartCount"].as_u64().unwrap_or(0) >= 1);
    assert!(cs["state"]["waiting"]["message"].as_str().is_some_and(|m| {
        m.starts_with("back-off 10s restarting failed container=app pod=crash_default(")
    }));
    assert_eq!(p["status"]["phase"], "Running");
    let previous = LogRequest {
        previous: true,
        ..req("crash")
    };
    assert_eq!(read_logs(&lab, previous).await, "run\n");
    let events = lab.registry().store().list(rt("events"), Some("default")).0;
    assert!(has_event(
        &events,
        "crash",
        "BackOff",
        "Back-off restarting failed container app"
    ));
    lab.shutdown().await;
}

#[tokio::test]
async fn an_unknown_image_fails_to_pull_then_backs_off() {
    let lab = lab().await;
    let c = json!({"name": "app", "image": "myrepo/tf-serving:1.0.3"});
    create(&lab, pod("nopull", c), "pods");
    let p = wait_pod(&lab, "nopull", 5, "ErrImagePull", |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull"
    })
    .await;
    let message = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(
        message.starts_with("Failed to pull image \"myrepo/tf-serving:1.0.3\": "),
        "{message}"
    );
    assert_eq!(p["status"]["phase"], "Pending");
    wait_pod(&lab, "nopull", 5, "ImagePullBackOff", |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    })
    .await;
    let events = lab.registry().store().list(rt("events"), Some("default")).0;
    assert!(has_event(
        &events,
        "nopull",
        "Pulling",
        "Pulling image \"myrepo/tf-serving:1.0.3\""
    ));
    assert!(has_event(
        &events,
        "nopull",
        "Failed",
        "Error: ErrImagePull"
    ));
    assert!(has_event(
        &events,
        "nopull",
        "BackOff",
        "Back-off pulling image"
    ));
    lab.shutdown().await;
}

#[tokio::test]
async fn a_missing_configmap_blocks_the_container_until_it_appears() {
    let lab = lab().await;
    let c = json!({"name": "app", "image": "busybox", "command": ["sleep", "3600"],
        "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}]});
    create(&lab, pod("cfg", c), "pods");
    let p = wait_pod(&lab, "cfg", 5, "CreateContainerConfigError", |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            == "CreateContainerConfigError"
    })
    .await;
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "configmap \"settings\" not found"
    );
    create(
        &lab,
        json!({"metadata": {"name": "settings"}, "data": {"mode": "fast"}}),
        "configmaps",
    );
    wait_pod(&lab, "cfg", 5, "Running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    lab.shutdown().await;
}

#[tokio::test]
async fn deleting_a_pod_runs_pre_stop_within_the_grace_period_then_removes_it() {
    let lab = lab().await;
    // The shell handles SIGTERM (set before it prints its pid), so it ends right after the
    // preStop hook; one without a handler would be left for the SIGKILL at the grace's end.
    let c = json!({"name": "app", "image": "busybox",
        "command": ["sh", "-c", "trap 'exit 0' TERM; echo $$$$; while :; do sleep 0.2; done"],
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "1"]}}}});
    create(&lab, pod("bye", c), "pods");
    let pid = pid_of(&lab, "bye").await;
    assert!(process_alive(pid));
    let started = Instant::now();
    let grace = DeleteOptions {
        grace_period_seconds: Some(5),
        ..DeleteOptions::default()
    };
    lab.registry()
        .delete(rt("pods"), "default", "bye", &grace)
        .expect("delete");
    wait_for(&lab, "pods", 10, "pod gone", |items| {
        find(items, "bye").is_none()
    })
    .await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "gone after {took:?}");
    assert!(took < Duration::from_secs(5), "gone after {took:?}");
    assert!(gone(pid).await, "process {pid} survived its pod");
    let events = lab.registry().store().list(rt("events"), Some("default")).0;
    assert!(has_event(
        &events,
        "bye",
        "Killing",
        "Stopping container app"
    ));
    lab.shutdown().await;
}

#[tokio::test]
async fn logs_serve_tail_lines_and_follow_until_the_container_ends() {
    let lab = lab().await;
    let c = json!({"name": "app", "image": "busybox", "command": ["sh", "-c", "echo one; echo two; sleep 1; echo three"]});
    let mut p = pod("talk", c);
    p["spec"]["restartPolicy"] = json!("Never");
    create(&lab, p, "pods");
    wait_pod(&lab, "talk", 10, "Running", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    let follow = LogRequest {
        follow: true,
        ..req("talk")
    };
    assert_eq!(read_logs(&lab, follow).await, "one\ntwo\nthree\n");
    let done = wait_pod(&lab, "talk", 10, "Succeeded", |p| {
        p["status"]["phase"] == "Succeeded"
    })
    .await;
    let term = &done["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(term["reason"], "Completed");
    assert_eq!(term["exitCode"], 0);
    let tail = LogRequest {
        tail_lines: Some(1),
        ..req("talk")
    };
    assert_eq!(read_logs(&lab, tail).await, "three\n");
    lab.shutdown().await;
}

#[tokio::test]
async fn a_failing_liveness_probe_restarts_the_container() {
    let lab = lab().await;
    let c = json!({"name": "app", "image": "busybox", "command": ["sleep", "3600"],
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 1}});
    let mut p = pod("live", c);
    p["spec"]["terminationGracePeriodSeconds"] = json!(1);
    create(&lab, p, "pods");
    let p = wait_pod(&lab, "live", 15, "restarted", |p| {
        p["status"]["containerStatuses"][0]["restartCount"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    })
    .await;
    let last = &p["status"]["containerStatuses"][0]["lastState"]["terminated"];
    // `sleep` as the container's main process has no SIGTERM handler, so it ignores the
    // SIGTERM (as a PID 1 does) and is SIGKILLed when the 1 s grace is over.
    assert_eq!(last["exitCode"], 137);
    assert_eq!(
        last["message"],
        "Container app failed liveness probe, will be restarted"
    );
    let events = lab.registry().store().list(rt("events"), Some("default")).0;
    assert!(has_event(
        &events,
        "live",
        "Killing",
        "failed liveness probe"
    ));
    lab.shutdown().await;
}

/// A container that allocates `mib` MiB and holds it, as a model server holds its weights
/// (dash and busybox sh keep a command substitution's output in memory, about twice over).
fn hog(mib: u64, limit: Option<&str>) -> Value {
    let script = format!(
        "echo loading; w=$(head -c {} /dev/zero | tr '\\0' w); echo loaded; sleep 3600",
        mib << 20
    );
    let mut c = json!({"name": "app", "image": "busybox", "command": ["sh", "-c", script]});
    if let Some(limit) = limit {
        c["resources"] = json!({"limits": {"memory": limit}});
    }
    c
}

fn restarts(p: &Value) -> u64 {
    p["status"]["containerStatuses"][0]["restartCount"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_container_over_its_memory_limit_is_oom_killed_with_137_and_restarted() {
    let lab = lab().await;
    create(&lab, pod("hog", hog(64, Some("32Mi"))), "pods");
    // The same allocation without a limit, and under a limit with room: left alone.
    create(&lab, pod("unlimited", hog(64, None)), "pods");
    create(&lab, pod("roomy", hog(48, Some("512Mi"))), "pods");

    let p = wait_pod(&lab, "hog", 15, "an OOMKilled restart", |p| {
        restarts(p) >= 1
    })
    .await;
    let last = &p["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!(last["reason"], "OOMKilled", "{p:#}");
    assert_eq!(last["exitCode"], 137, "{p:#}");
    assert!(last.get("message").is_none(), "{p:#}");
    let p = wait_pod(&lab, "hog", 15, "CrashLoopBackOff after OOMKilled", |p| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    })
    .await;
    let cs = &p["status"]["containerStatuses"][0];
    assert_eq!(cs["lastState"]["terminated"]["reason"], "OOMKilled");
    assert_eq!(cs["lastState"]["terminated"]["exitCode"], 137);
    assert_eq!(p["status"]["phase"], "Running");
    let before = restarts(&p);
    let p = wait_pod(&lab, "hog", 20, "a restart after the back-off", |p| {
        restarts(p) > before
    })
    .await;
    assert_eq!(
        p["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"],
        "OOMKilled"
    );

    let events = lab.registry().store().list(rt("events"), Some("default")).0;
    assert!(has_event(
        &events,
        "hog",
        "BackOff",
        "Back-off restarting failed container app"
    ));
    // The kernel kills, not the kubelet: no Killing event (upstream records none either).
    assert!(!has_event(&events, "hog", "Killing", ""), "{events:#?}");
    let (items, _) = lab.registry().store().list(rt("pods"), Some("default"));
    for name in ["unlimited", "roomy"] {
        let p = find(&items, name).expect("pod");
        assert_eq!(p["status"]["phase"], "Running", "{p:#}");
        assert_eq!(restarts(p), 0, "{name} was restarted: {p:#}");
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn an_oom_killed_container_that_is_not_restarted_fails_its_pod() {
    let lab = lab().await;
    let mut p = pod("once", hog(64, Some("32Mi")));
    p["spec"]["restartPolicy"] = json!("Never");
    create(&lab, p, "pods");
    let p = wait_pod(&lab, "once", 15, "Failed", |p| {
        p["status"]["phase"] == "Failed"
    })
    .await;
    let cs = &p["status"]["containerStatuses"][0];
    assert_eq!(cs["state"]["terminated"]["reason"], "OOMKilled", "{p:#}");
    assert_eq!(cs["state"]["terminated"]["exitCode"], 137);
    assert_eq!(cs["restartCount"], 0);
    lab.shutdown().await;
}

#[tokio::test]
async fn memory_held_by_an_orphaned_process_of_the_container_counts_too() {
    let lab = lab().await;
    // The subshell exits at once: its background child is orphaned (re-parented out of the
    // container's process tree, still in its group) while the main process sleeps on, as a
    // daemonising loader would be. The periodic sweep of /proc finds it.
    let script = format!(
        r#"(sh -c "w=\$(head -c {} /dev/zero | tr '\\0' w); sleep 3600" &); exec sleep 3600"#,
        64u64 << 20
    );
    let c = json!({"name": "app", "image": "busybox", "command": ["sh", "-c", script],
        "resources": {"limits": {"memory": "32Mi"}}});
    create(&lab, pod("orphan", c), "pods");
    let p = wait_pod(&lab, "orphan", 15, "an OOMKilled restart", |p| {
        restarts(p) >= 1
    })
    .await;
    let last = &p["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!(last["reason"], "OOMKilled", "{p:#}");
    assert_eq!(last["exitCode"], 137, "{p:#}");
    lab.shutdown().await;
}

#[tokio::test]
async fn shutting_the_lab_down_leaves_no_container_process() {
    let lab = lab().await;
    let c = json!({"name": "app", "image": "busybox", "command": ["sh", "-c", "echo $$$$; exec sleep 1000"]});
    create(&lab, pod("sleeper", c), "pods");
    let pid = pid_of(&lab, "sleeper").await;
    assert!(process_alive(pid));
    lab.shutdown().await;
    assert!(gone(pid).await, "process {pid} outlived the lab");
}

/// Runs kubectl against the lab; `None` when kubectl is not installed.
async fn kubectl(lab: &Lab, args: &[&str]) -> Option<(bool, String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kubeconfig");
    lab.write_kubeconfig(&config).expect("kubeconfig");
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(&config).args(args);
    let out = cmd.output().await.ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test]
async fn kubectl_logs_shows_current_previous_and_followed_output() {
    let lab = lab().await;
    let crash =
        json!({"name": "app", "image": "busybox", "command": ["sh", "-c", "echo attempt; exit 3"]});
    create(&lab, pod("crashy", crash), "pods");
    let talk = json!({"name": "talk", "image": "busybox", "command": ["sh", "-c", "echo hi; sleep 1; echo bye"]});
    let mut p = pod("chatty", talk);
    p["spec"]["restartPolicy"] = json!("Never");
    create(&lab, p, "pods");
    wait_pod(&lab, "crashy", 10, "a restart", |p| {
        p["status"]["containerStatuses"][0]["restartCount"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    })
    .await;
    wait_pod(&lab, "chatty", 10, "Running", |p| {
        p["status"]["phase"] != "Pending"
    })
    .await;
    let Some((ok, out, err)) = kubectl(&lab, &["logs", "chatty", "-f"]).await else {
        eprintln!("kubectl not installed; skipping");
        return;
    };
    assert!(ok, "{err}");
    assert_eq!(out, "hi\nbye\n");
    let (ok, out, err) = kubectl(&lab, &["logs", "crashy", "-c", "app", "--previous"])
        .await
        .expect("kubectl");
    assert!(ok, "{err}");
    assert_eq!(out, "attempt\n");
    lab.shutdown().await;
}
