//! Stepped rollouts (`rollout update --steps`), through the real binary: the step bound is
//! never exceeded (checked on every Deployment event, where the controller's status and the
//! step in force are one object), each step is reached, and the Deployment's own strategy
//! comes back at the end whatever the outcome.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::support::{Env, inference, lab_config};

const STEPS: &str = "rollout.dev/steps";

/// What the user's Deployment runs with, that a stepped rollout replaces for a while.
fn own_settings(d: &Deployment) -> Value {
    let spec = d.spec.clone().expect("a spec");
    json!({
        "strategy": spec.strategy,
        "minReadySeconds": spec.min_ready_seconds,
        "paused": spec.paused,
        "steps": d.metadata.annotations.as_ref().and_then(|a| a.get(STEPS)),
    })
}

/// For every event of the Deployment carrying the step annotation, with a status observed
/// for that spec: (the step, its new pods, the controller's updatedReplicas).
type Seen = Arc<Mutex<Vec<(u64, i64, i32)>>>;

/// The Deployment is back as it was before a run that rolled back: its template, and its
/// own strategy, minReadySeconds and paused state, with no step annotation left.
async fn back_as_before(env: &Env, name: &str, before: &Deployment, output: &str) {
    let after = env.get(name).await;
    assert_eq!(own_settings(&after), own_settings(before), "{output}");
    assert_eq!(
        after.spec.map(|s| s.template),
        before.spec.clone().map(|s| s.template),
        "{output}"
    );
}

/// Watches `name` until the returned handle is aborted, recording into the returned log.
fn watch_steps(env: &Env, name: &str) -> (tokio::task::JoinHandle<()>, Seen) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let stream = watcher::watcher(env.deployments(), config);
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) = event else {
                continue;
            };
            let Some(progress) = d.metadata.annotations.as_ref().and_then(|a| a.get(STEPS)) else {
                continue;
            };
            let progress: Value = serde_json::from_str(progress).expect("the annotation is JSON");
            // Only a status the controller wrote for this very spec speaks of this step.
            let status = d.status.clone().unwrap_or_default();
            if status.observed_generation != d.metadata.generation {
                continue;
            }
            let updated = status.updated_replicas.unwrap_or(0);
            log.lock().expect("the log").push((
                progress["step"].as_u64().expect("a step"),
                progress["newPods"].as_i64().expect("new pods"),
                updated,
            ));
        }
    });
    (task, seen)
}

/// Each step bakes for 3 s: the controller has all that time to run past a step that is not
/// held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_holds_its_new_pods_and_the_deployments_own_strategy_comes_back() {
    let env = Env::start().await;
    env.create(inference("web", 4, json!({}))).await;
    let before = own_settings(&env.get("web").await);
    let (watching, seen) = watch_steps(&env, "web");
    let run = env
        .rollout(&[
            "update",
            "web",
            "--env",
            "VERSION=v2",
            "--steps",
            "1,50%",
            "--pause",
            "3s",
        ])
        .await;
    watching.abort();
    let seen = seen.lock().expect("the log").clone();
    run.expect_code(0)
        .expect_output("step 1 of 3: 1 new pod ready and available")
        .expect_output("step 2 of 3: 2 new pods ready and available")
        .expect_output("step 1 of 3: baking for 3s")
        .expect_output("deployment \"web\" successfully rolled out");
    // Nothing in the step log means the watch aborted before it saw a thing: check it did.
    for step in [1, 2] {
        assert!(
            seen.iter().any(|(s, _, _)| *s == step),
            "step {step} was never on the Deployment: {seen:?}"
        );
    }
    for (step, bound, updated) in &seen {
        assert!(
            updated <= &(*bound as i32),
            "step {step} allows {bound} new pods, the controller had {updated}: {seen:?}"
        );
    }
    let after = env.get("web").await;
    assert_eq!(own_settings(&after), before, "{}", run.both());
    let status = after.status.expect("a status");
    assert_eq!(status.updated_replicas, Some(4));
    assert_eq!(status.available_replicas, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_fails_rolls_back_with_the_deployments_own_strategy() {
    let env = Env::start().await;
    env.create(inference("web", 4, json!({}))).await;
    let before = env.get("web").await;
    let run = env
        .rollout(&[
            "update",
            "web",
            "--image",
            "busyboxx:1.36",
            "--steps",
            "1,2",
        ])
        .await;
    run.expect_code(3)
        .expect_output("rolled back to revision 1");
    back_as_before(&env, "web", &before, &run.both()).await;
}

#[tokio::test]
async fn steps_are_checked_before_anything_is_sent() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!({}))).await;
    let rv = env.get("web").await.metadata.resource_version;
    let dry = env
        .rollout(&[
            "update",
            "web",
            "--env",
            "VERSION=v2",
            "--steps",
            "1",
            "--dry-run",
        ])
        .await;
    dry.expect_code(0)
        .expect_output("step 1 of 2: 1 new pod (maxSurge 1, maxUnavailable 0)")
        .expect_output("step 2 of 2: 2 new pods (the deployment's own strategy back)");
    let too_many = env
        .rollout(&["update", "web", "--env", "VERSION=v2", "--steps", "3"])
        .await;
    too_many
        .expect_code(2)
        .expect_output("step 3 is 3 pods, more than the Deployment's 2 replicas");
    let bad = env
        .rollout(&["update", "web", "--env", "VERSION=v2", "--steps", "1,x"])
        .await;
    bad.expect_code(2);
    env.rollout(&["pause", "web"]).await.expect_code(0);
    let paused = env
        .rollout(&["update", "web", "--env", "VERSION=v2", "--steps", "1"])
        .await;
    paused
        .expect_code(7)
        .expect_output("a stepped rollout starts from a finished one");
    let d = env.get("web").await;
    assert_eq!(
        d.spec
            .and_then(|s| s.template.spec)
            .map(|p| p.containers[0].env.clone()),
        Some(Some(vec![k8s_openapi::api::core::v1::EnvVar {
            name: "VERSION".into(),
            value: Some("v1".into()),
            value_from: None,
        }])),
        "nothing of v2 was written"
    );
    assert_ne!(d.metadata.resource_version, None);
    let _ = rv;
}

/// `kill -9` while a step is held: the Deployment keeps the step's strategy and the
/// annotation that records it; the same command run again picks the rollout up there and
/// finishes it, with the Deployment's own strategy back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_command_after_kill_9_finishes_the_stepped_rollout() {
    let env = Env::start().await;
    env.create(inference("web", 4, json!({}))).await;
    let before = own_settings(&env.get("web").await);
    let args = [
        "update",
        "web",
        "--env",
        "VERSION=v2",
        "--steps",
        "1,2",
        "--pause",
        "2s",
    ];
    let mut first = start(&env, &args);
    wait_progress(&env, "the first step is held", |d, _| {
        d.spec.as_ref().and_then(|s| s.paused) == Some(true)
    })
    .await;
    first.start_kill().expect("SIGKILL is sent");
    let _ = first.wait().await;
    let left = env.get("web").await;
    assert_ne!(
        own_settings(&left),
        before,
        "the killed run left its step in place"
    );
    // Never silently: status says what is in flight, and that the step is held.
    let status = env.rollout(&["status", "web", "--watch=false"]).await;
    status
        .expect_code(6)
        .expect_output("a stepped rollout is in flight at step 1 of 3 (1 new pods), started by ")
        .expect_output("held (paused) at the step");

    let again = env.rollout(&args).await;
    again
        .expect_code(0)
        .expect_output("picking up the stepped rollout an earlier run left at step 1 of 3")
        .expect_output("step 2 of 3: 2 new pods ready and available");
    let after = env.get("web").await;
    assert_eq!(own_settings(&after), before, "{}", again.both());
    assert_eq!(after.status.and_then(|s| s.updated_replicas), Some(4));
}

/// The model-serving Deployment of the gate tests at 4 replicas.
async fn model(env: &Env) {
    let manifest = crate::cli_verify::MANIFEST.replace("replicas: 2", "replicas: 4");
    env.apply_yaml(&manifest).await;
    env.wait_rolled_out("model").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steps_http_gate_that_fails_on_the_first_new_pod_rolls_back_with_the_strategy_restored() {
    let Some(env) = Env::with_config(lab_config(), "the lab's model-server image").await else {
        return;
    };
    model(&env).await;
    let before = env.get("model").await;
    let run = env
        .rollout(&[
            "update",
            "model",
            "--env",
            "VERSION=v2",
            "--steps",
            "1,50%",
            "--verify-http",
            "http://{pod_ip}:8080/no-such-path",
            "-o",
            "json",
        ])
        .await;
    run.expect_code(3);
    let result = run.json();
    assert_eq!(result["diagnosis"]["class"], "GateFailed", "{result:#}");
    let measurements = result["gates"].as_array().cloned().unwrap_or_default();
    assert_eq!(measurements.len(), 1, "one new pod was probed: {result:#}");
    assert_eq!(measurements[0]["verdict"], "fail");
    assert_eq!(measurements[0]["value"], 404);
    back_as_before(&env, "model", &before, &run.both()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stepped_rollout_whose_gates_pass_goes_on_to_every_replica() {
    let Some(env) = Env::with_config(lab_config(), "the lab's model-server image").await else {
        return;
    };
    model(&env).await;
    let before = own_settings(&env.get("model").await);
    let run = env
        .rollout(&[
            "update",
            "model",
            "--env",
            "VERSION=v2",
            "--steps",
            "1,50%",
            "--verify-http",
            "http://{pod_ip}:8080/readyz",
            "--verify",
            r#"set -- $ROLLOUT_NEW_POD_IPS; case "$ROLLOUT_STEP" in 1/3) test $# -eq 1;; 2/3) test $# -eq 2;; *) false;; esac"#,
        ])
        .await;
    run.expect_code(0)
        .expect_output("step 1 of 3: every gate passed")
        .expect_output("step 2 of 3: every gate passed")
        .expect_output("successfully rolled out");
    assert_eq!(own_settings(&env.get("model").await), before);
}

/// Starts the real binary with `args` in the background, its output piped.
fn start(env: &Env, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .env("ROLLOUT_CONFIG", "")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("rollout starts")
}

/// Waits until Deployment `web` carries a step annotation for which `cond` holds (with the
/// Deployment and the annotation's progress).
async fn wait_progress(env: &Env, what: &str, cond: impl Fn(&Deployment, &Value) -> bool) {
    let met = |d: Option<&Deployment>| {
        d.is_some_and(|d| {
            d.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(STEPS))
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .is_some_and(|p| cond(d, &p))
        })
    };
    tokio::time::timeout(
        crate::support::DEADLINE,
        kube::runtime::wait::await_condition(env.deployments(), "web", met),
    )
    .await
    .unwrap_or_else(|_| panic!("{what} in time"))
    .expect("the watch works");
}

/// Waits until step `step` of `web` waits for approval.
async fn wait_approval(env: &Env, step: u64) {
    wait_progress(env, &format!("step {step} waits for approval"), |_, p| {
        p["awaitingApproval"] == true && p["step"] == step
    })
    .await;
}

/// Starts `rollout update web ... --steps 1,2 --approve` in the background and waits until
/// its first step waits for approval (as the Deployment's annotation says).
async fn awaiting_approval(env: &Env) -> tokio::process::Child {
    let child = start(
        env,
        &[
            "update",
            "web",
            "--env",
            "VERSION=v2",
            "--steps",
            "1,2",
            "--approve",
        ],
    );
    wait_approval(env, 1).await;
    child
}

async fn finished(child: tokio::process::Child) -> (Option<i32>, String) {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        child.wait_with_output(),
    )
    .await
    .expect("the run ends")
    .expect("the run's output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_waiting_for_approval_goes_on_when_another_terminal_resumes_it() {
    let env = Env::start().await;
    env.create(inference("web", 4, json!({}))).await;
    let before = own_settings(&env.get("web").await);
    let run = awaiting_approval(&env).await;
    // Waiting for approval is not waiting forever: nothing moves past the step meanwhile.
    let held = env.get("web").await;
    assert_eq!(held.spec.as_ref().and_then(|s| s.paused), Some(true));
    env.rollout(&["resume", "web"])
        .await
        .expect_code(0)
        .expect_output("approved step 1 of 3");
    // The second step waits too; approve it as well.
    wait_approval(&env, 2).await;
    env.rollout(&["resume", "web"]).await.expect_code(0);
    let (code, stderr) = finished(run).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("step 1 of 3: approved (rollout resume)"),
        "{stderr}"
    );
    assert_eq!(own_settings(&env.get("web").await), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_waiting_for_approval_rolls_back_when_another_terminal_aborts_it() {
    let env = Env::start().await;
    env.create(inference("web", 4, json!({}))).await;
    let before = env.get("web").await;
    let run = awaiting_approval(&env).await;
    env.rollout(&["abort", "web"])
        .await
        .expect_code(0)
        .expect_output("to roll back");
    let (code, stderr) = finished(run).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("aborted at step 1 of 3"), "{stderr}");
    let after = env.get("web").await;
    assert_eq!(own_settings(&after), own_settings(&before));
    assert_eq!(
        env.template("web").await,
        serde_json::to_value(before.spec.expect("spec").template).expect("json")
    );
    // Nothing in flight any more: another abort is refused.
    env.rollout(&["abort", "web"]).await.expect_code(7);
}

/// What two runs must share to be the same run: their result, exit code, what they did,
/// and every gate verdict in order.
fn run_shape(result: &Value) -> Value {
    json!({
        "result": result["result"],
        "exitCode": result["exitCode"],
        "actions": result["actions"],
        "revision": result["revision"],
        "verdicts": result["gates"].as_array().map(|g| g.iter().map(|m| m["verdict"].clone()).collect::<Vec<_>>()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runbook_and_its_flags_make_the_same_run() {
    let env = Env::start().await;
    env.create(inference("web", 4, json!({}))).await;
    env.create(inference("twin", 4, json!({}))).await;
    let gate = r#"set -- $ROLLOUT_NEW_PODS; test $# -ge 1"#;
    let runbook = env.write_file(
        "runbook.yaml",
        &format!(
            "deployment: web\nenv: [VERSION=v2]\nsteps: [1, 50%]\nverify: ['{gate}']\nverify-count: 2\nverify-interval: 1s\n"
        ),
    );
    let from_file = env
        .rollout(&["run", &runbook.display().to_string(), "-o", "json"])
        .await;
    let from_flags = env
        .rollout(&[
            "update",
            "twin",
            "--env",
            "VERSION=v2",
            "--steps",
            "1,50%",
            "--verify",
            gate,
            "--verify-count",
            "2",
            "--verify-interval",
            "1s",
            "-o",
            "json",
        ])
        .await;
    from_file.expect_code(0);
    from_flags.expect_code(0);
    let (a, b) = (from_file.json(), from_flags.json());
    assert_eq!(run_shape(&a), run_shape(&b), "{a:#}\n{b:#}");
    assert_eq!(
        a["gates"].as_array().map(Vec::len),
        Some(4),
        "two rounds at each of two steps: {a:#}"
    );
    let printed = env
        .rollout(&["run", &runbook.display().to_string(), "--print"])
        .await;
    assert!(
        printed
            .stdout
            .starts_with("rollout update web --env VERSION=v2 --steps 1,50%"),
        "{}",
        printed.both()
    );
}

/// The seeds' ConfigMap rotation as its example runbook: new content in the ConfigMap, rolled
/// out in steps, each new pod checked to serve the new model name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configmap_rotation_runbook_rolls_out_the_new_content_in_checked_steps() {
    let Some(env) = Env::with_config(lab_config(), "the lab's model-server image").await else {
        return;
    };
    env.apply_manifest("06-model-metadata.yaml").await;
    env.wait_rolled_out("model-metadata").await;
    env.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: model-metadata}\ndata: {MODEL_NAME: ranker}\n")
        .await;
    let runbook = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/runbooks/configmap-rotation.yaml");
    let run = env.rollout(&["run", &runbook.display().to_string()]).await;
    run.expect_code(0)
        .expect_output("step 1 of 3: every gate passed")
        .expect_output("step 2 of 3: every gate passed")
        .expect_output("successfully rolled out");
}

/// `--events ndjson`: stderr carries one JSON object a line and nothing else (the result is
/// on stdout with `-o json`): every state change, action and gate measurement, with times,
/// and last the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_is_ndjson_with_every_action_measurement_and_the_result() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!({}))).await;
    let run = env
        .rollout(&[
            "update",
            "web",
            "--env",
            "VERSION=v2",
            "--steps",
            "1",
            "--verify",
            "true",
            "--events",
            "ndjson",
            "-o",
            "json",
        ])
        .await;
    run.expect_code(0);
    let events: Vec<Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for kind in ["progress", "note", "action", "gate_measurement", "result"] {
        assert!(kinds.contains(&kind), "no {kind} event: {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"result"));
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "action")
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["hold", "measure", "restore_strategy"],
        "{events:#?}"
    );
    assert!(events.iter().all(|e| e["time"].is_string()));
    assert_eq!(run.json()["exitCode"], 0);
    assert_eq!(events.last().map(|e| e["exitCode"].clone()), Some(json!(0)));
}
