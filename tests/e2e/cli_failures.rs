//! Failed rollouts end to end: each failure class `rollout update` recognises is diagnosed
//! from the new pods within seconds (far below progressDeadlineSeconds) and, by default,
//! rolled back: exit 3, the template of the previous revision restored, the reason recorded
//! in an annotation and a Warning event, and history renumbered. `--on-failure pause` and
//! `--on-failure none` leave the failed rollout paused or in place (exit 4). A rollout with
//! no sharper signal ends on ProgressDeadlineExceeded, and is rolled back then.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{
    Env, GPU, ROLLBACK_REASON, Run, annotation, inference, revision, server, server_container,
};

/// Far below any progressDeadlineSeconds in these tests (60 s for the seed, 600 s default).
const BOUND: Duration = Duration::from_secs(35);

/// A strategic merge patch replacing container `server`'s command.
fn command_patch(script: &str) -> String {
    json!({"spec": {"template": {"spec": {"containers": [{
        "name": "server", "command": ["sh", "-c", script]}]}}}})
    .to_string()
}

/// Runs `rollout update` with `args`, timing it.
async fn update(env: &Env, args: &[&str]) -> (Run, Duration) {
    let started = Instant::now();
    let mut all = vec!["update"];
    all.extend_from_slice(args);
    let run = env.rollout(&all).await;
    (run, started.elapsed())
}

/// Asserts everything an automatic rollback of `name` from revision 2 to revision 1 leaves
/// behind: exit 3 within the bound, the report's first line naming `cause`, revision 1's
/// template back in place (as revision 3), the reason annotation, the Warning event, and
/// history listing 2 and 3 (current, was 1).
async fn expect_rolled_back(
    env: &Env,
    name: &str,
    (run, took): &(Run, Duration),
    before: &serde_json::Value,
    cause: &str,
) {
    run.expect_code(3);
    assert!(*took < BOUND, "diagnosed and rolled back in {took:?}");
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{}", run.both());
    assert!(
        errors[0].starts_with(&format!(
            "error: rollout of deployment {}/{name} failed: ",
            env.namespace
        )),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains(cause), "{cause:?} in {}", errors[0]);
    run.expect_output("done: rolled back to revision 1 (reason recorded in rollout.dev/rollback-reason and a RolloutRolledBack event)");
    let last = run.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "deployment \"{name}\" rolled back after a failed rollout (revision 3, "
        )),
        "{}",
        run.both()
    );
    expect_restored(env, name, before).await;
}

/// [`expect_rolled_back`] for `-o json`: exit 3, the result object saying rolled back from
/// revision 1 to 3, and the cluster restored as there; returns the diagnosis.
async fn expect_rolled_back_json(
    env: &Env,
    name: &str,
    run: &Run,
    before: &serde_json::Value,
) -> serde_json::Value {
    run.expect_code(3);
    let v = run.json();
    assert_eq!(v["result"], "rolled-back", "{v:#}");
    assert_eq!(v["revision"], json!({"from": 1, "to": 3}), "{v:#}");
    expect_restored(env, name, before).await;
    v["diagnosis"].clone()
}

/// Revision 1's template back in place (as revision 3), the reason annotation, the Warning
/// event, and history listing 2 and 3 (current, was 1).
async fn expect_restored(env: &Env, name: &str, before: &serde_json::Value) {
    let d = env.get(name).await;
    assert_eq!(revision(&d), Some(3), "revision 1 came back as revision 3");
    assert_eq!(
        &env.template(name).await,
        before,
        "the previous template is back"
    );
    let reason = annotation(&d.metadata, ROLLBACK_REASON).expect("the reason is recorded");
    assert!(
        reason.contains("revision 2 failed") && reason.contains("rolled back to revision 1"),
        "{reason}"
    );
    let events = env.events(name, "RolloutRolledBack").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].type_.as_deref(), Some("Warning"));
    env.wait_rolled_out(name).await;

    let history = env.rollout(&["history", name]).await;
    history.expect_code(0);
    let revisions: Vec<&str> = history
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split("  ").next())
        .collect();
    assert_eq!(revisions, ["2", "3 (current, was 1)"], "{}", history.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_bad_v3_whose_readiness_never_passes_is_rolled_back() {
    let env = Env::start().await;
    env.apply_manifest("01-inference.yaml").await;
    env.wait_rolled_out("inference").await;
    let before = env.template("inference").await;
    let bad = format!(
        "@{}/manifests/02-inference-bad-v3.yaml",
        env!("CARGO_MANIFEST_DIR")
    );

    let ran = update(&env, &["inference", "--patch", &bad]).await;
    expect_rolled_back(
        &env,
        "inference",
        &ran,
        &before,
        "readiness probe of container \"server\" in pod \"inference-",
    )
    .await;
    ran.0
        .expect_output("cat: /tmp/ready: No such file or directory");
    assert_eq!(server(&env.get("inference").await).1, ["VERSION=v1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_be_pulled_is_rolled_back_at_once() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;
    let before = env.template("web").await;

    // The lab resolves images by repository: a misspelt one is never found.
    let ran = update(&env, &["web", "--image", "busyboxx:1.36"]).await;
    expect_rolled_back(
        &env,
        "web",
        &ran,
        &before,
        "image \"busyboxx:1.36\" for container \"server\" in pod \"web-",
    )
    .await;
    assert!(ran.0.errors()[0].contains("cannot be pulled"));
    ran.0.expect_output("hint: check the image name and tag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_container_is_rolled_back_after_its_restarts() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    let before = env.template("web").await;

    let ran = update(
        &env,
        &[
            "web",
            "--patch",
            &command_patch("echo cannot load model; exit 3"),
        ],
    )
    .await;
    expect_rolled_back(
        &env,
        "web",
        &ran,
        &before,
        "container \"server\" in pod \"web-",
    )
    .await;
    ran.0.expect_output("exit code 3");
    ran.0.expect_output("cannot load model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_surge_pod_that_cannot_schedule_is_rolled_back_with_the_no_surge_hint() {
    let Some((env, fill)) = Env::with_gpus().await else {
        return;
    };
    // Every GPU left on the nodes with the most free is taken: a surge pod fits nowhere.
    let mut container = server_container(json!(null));
    container["resources"] = json!({"limits": {GPU: fill.gpus_per_pod}});
    env.create(inference(
        "gpu",
        fill.pods,
        json!({"spec": {
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"spec": {
                "containers": [container],
                "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
            }},
        }}),
    ))
    .await;
    let before = env.template("gpu").await;

    let ran = update(
        &env,
        &[
            "gpu",
            "--image",
            "busybox:1.37",
            "--unschedulable-grace",
            "2s",
        ],
    )
    .await;
    expect_rolled_back(&env, "gpu", &ran, &before, "cannot be scheduled").await;
    ran.0.expect_output("Insufficient nvidia.com/gpu");
    let hints = ran.0.hints();
    assert_eq!(hints.len(), 1, "{}", ran.0.both());
    assert!(
        hints[0].contains(&format!(
            "rollout update gpu -n {} --max-surge 0 --max-unavailable 1",
            env.namespace
        )),
        "{}",
        hints[0]
    );

    let run = env
        .rollout(&[
            "update",
            "gpu",
            "--image",
            "busybox:1.37",
            "--max-surge",
            "0",
            "--max-unavailable",
            "1",
        ])
        .await;
    run.expect_code(0);
    run.expect_output(&format!(
        "{}/gpu: maxSurge 1 -> 0, maxUnavailable 0 -> 1",
        env.namespace
    ));
    let d = env.get("gpu").await;
    assert_eq!(server(&d).0, "busybox:1.37");
    assert_eq!(revision(&d), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_config_map_is_rolled_back_as_a_container_config_error() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    let before = env.template("web").await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "server", "envFrom": [{"configMapRef": {"name": "model-config"}}]}]}}}})
    .to_string();

    let ran = update(&env, &["web", "--patch", &patch]).await;
    expect_rolled_back(&env, "web", &ran, &before, "cannot be created").await;
    assert!(
        ran.0.errors()[0].contains("configmap \"model-config\" not found"),
        "{}",
        ran.0.both()
    );
    let json = env.rollout(&["history", "web", "-o", "json"]).await.json();
    assert_eq!(json["revisions"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_pause_leaves_the_failed_rollout_paused() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;

    let (run, took) = update(
        &env,
        &[
            "web",
            "--patch",
            &command_patch("echo loading forever; exec sleep 3600"),
            "--on-failure",
            "pause",
        ],
    )
    .await;
    run.expect_code(4);
    assert!(took < BOUND, "{took:?}");
    assert!(
        run.errors()[0].contains("readiness probe"),
        "{}",
        run.both()
    );
    run.expect_output("done: paused the deployment where it stood (--on-failure pause)");
    assert!(
        run.stdout
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("deployment \"web\" rollout failed and was paused (revision 2, "),
        "{}",
        run.both()
    );
    let d = env.get("web").await;
    assert_eq!(d.spec.as_ref().and_then(|s| s.paused), Some(true));
    assert_eq!(revision(&d), Some(2));
    assert!(annotation(&d.metadata, ROLLBACK_REASON).is_none());
    assert!(env.events("web", "RolloutRolledBack").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_none_leaves_the_failed_rollout_in_place() {
    let env = Env::start().await;
    env.create(inference("web", 2, json!(null))).await;

    let (run, took) = update(
        &env,
        &["web", "--image", "busyboxx:1.36", "--on-failure", "none"],
    )
    .await;
    run.expect_code(4);
    assert!(took < BOUND, "{took:?}");
    assert!(
        run.errors()[0].contains("cannot be pulled"),
        "{}",
        run.both()
    );
    assert!(
        run.stdout
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("deployment \"web\" rollout failed and was left in place (revision 2, "),
        "{}",
        run.both()
    );
    let d = env.get("web").await;
    assert_eq!(server(&d).0, "busyboxx:1.36");
    assert_ne!(d.spec.as_ref().and_then(|s| s.paused), Some(true));
    assert!(annotation(&d.metadata, ROLLBACK_REASON).is_none());
    // The old pods keep serving: maxUnavailable 25% of 2 rounds down to 0.
    let ready = d.status.and_then(|s| s.ready_replicas).unwrap_or(0);
    assert_eq!(ready, 2);
}

/// The Deployment's whole spec, to compare before and after.
async fn spec_of(env: &Env, name: &str) -> serde_json::Value {
    serde_json::to_value(env.get(name).await.spec).expect("the spec encodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_model_outgrows_its_memory_limit_is_rolled_back_as_oom_killed() {
    let env = Env::start().await;
    let limited = server_container(json!({"resources": {"limits": {"memory": "48Mi"}}}));
    env.create(inference(
        "web",
        1,
        json!({"spec": {"template": {"spec": {"containers": [limited]}}}}),
    ))
    .await;
    let before = env.template("web").await;
    let spec_before = spec_of(&env, "web").await;

    // The new version "loads" 128 MiB of weights and holds them (a shell keeps a command
    // substitution's output in memory): the lab's kubelet, or a real node's kernel, kills
    // it past 48Mi.
    let load = "echo loading weights; w=$(head -c 134217728 /dev/zero | tr '\\0' w); \
                touch /tmp/ready; echo serving; sleep 3600";
    let run = env
        .rollout(&[
            "update",
            "web",
            "--patch",
            &command_patch(load),
            "-o",
            "json",
        ])
        .await;
    let diagnosis = expect_rolled_back_json(&env, "web", &run, &before).await;
    // The OOM rule, not the 600 s progress deadline: it reads the kill at once.
    assert_eq!(diagnosis["class"], "OomKilled", "{diagnosis:#}");
    assert_eq!(diagnosis["reason"], "OOMKilled");
    let summary = diagnosis["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("container \"server\" in pod \"web-")
            && summary.contains("was OOMKilled at its memory limit of 48Mi (exit code 137, "),
        "{summary}"
    );
    let evidence: Vec<&str> = diagnosis["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(
        evidence.iter().any(|e| e.starts_with("memory: limit 48Mi")),
        "{evidence:?}"
    );
    assert!(
        evidence
            .iter()
            .any(|e| e.starts_with("last state: ") && e.contains("OOMKilled")),
        "{evidence:?}"
    );
    assert_eq!(spec_of(&env, "web").await, spec_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_stalled_with_no_sharper_signal_is_rolled_back_at_its_progress_deadline() {
    let env = Env::start().await;
    env.create(inference(
        "web",
        1,
        json!({"spec": {"progressDeadlineSeconds": 5}}),
    ))
    .await;
    let before = env.template("web").await;
    let spec_before = spec_of(&env, "web").await;

    // The new pod runs but never becomes ready, and the probe threshold is far past what
    // 5 s of 1 s probes can reach: only the Deployment controller's deadline decides.
    let run = env
        .rollout(&[
            "update",
            "web",
            "--patch",
            &command_patch("echo loading forever; exec sleep 3600"),
            "--probe-failures",
            "1000",
            "-o",
            "json",
        ])
        .await;
    let diagnosis = expect_rolled_back_json(&env, "web", &run, &before).await;
    assert_eq!(
        diagnosis["class"], "ProgressDeadlineExceeded",
        "{diagnosis:#}"
    );
    let summary = diagnosis["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with(
            "deployment \"web\" exceeded its progress deadline (5s): 0 of 1 new pods ready; "
        ) && summary.contains("is running but not ready"),
        "{summary}"
    );
    assert!(
        diagnosis["evidence"][0]
            .as_str()
            .is_some_and(|e| e.starts_with(
                "condition: Progressing=False (ProgressDeadlineExceeded): ReplicaSet \"web-"
            ) && e.ends_with("\" has timed out progressing.")),
        "{diagnosis:#}"
    );
    assert_eq!(spec_of(&env, "web").await, spec_before);
}
