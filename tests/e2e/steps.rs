//! Stepped rollouts (`rollout update --steps`), through the real binary: the step bound is
//! never exceeded (checked on every Deployment event, where the controller's status and the
//! step in force are one object), each step is reached, and the Deployment's own strategy
//! comes back at the end whatever the outcome.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::support::{Env, inference};

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
    let after = env.get("web").await;
    assert_eq!(
        own_settings(&after),
        own_settings(&before),
        "{}",
        run.both()
    );
    assert_eq!(
        env.template("web").await,
        serde_json::to_value(before.spec.expect("spec").template).expect("json")
    );
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
