//! Figures 8 and 9, the CLI's reaction times: exit after the completing watch event, and
//! rollback after the decisive failure signal, each against kubectl on the same lab.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::support::{self, Env, FirstSeen, Row, fmt_ms, median, signed_ms};

const RUNS: usize = 5;

fn kubectl_present() -> bool {
    std::path::Path::new(support::KUBECTL).exists()
}

fn generation(d: &Deployment) -> i64 {
    d.metadata.generation.unwrap_or(0)
}

/// Watches `name` and marks the first time a generation after `after` is complete.
async fn completion(env: &Env, name: &str) -> Result<(FirstSeen, tokio::task::JoinHandle<()>)> {
    let gen0 = generation(&env.deployments().get(name).await?);
    let seen = FirstSeen::default();
    let mark = seen.clone();
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let task = support::observe(env.deployments(), cfg, move |d: &Deployment, at, _| {
        if generation(d) > gen0 && support::complete(d) {
            mark.mark(at);
        }
    })
    .await?;
    Ok((seen, task))
}

/// One follower's `exit - complete` in ms; `follow` starts the change and waits for the
/// follower to exit, returning when it did.
async fn reaction<F, Fut>(env: &Env, name: &str, follow: F) -> Result<f64>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Instant>>,
{
    let (seen, task) = completion(env, name).await?;
    let exit = follow().await;
    task.abort();
    let exit = exit?;
    let done = seen
        .get()
        .ok_or_else(|| anyhow!("the watcher never saw the rollout complete"))?;
    Ok(signed_ms(done, exit))
}

/// Figure 8: `rollout update` exit after the completing event, against `kubectl rollout
/// status` (or a kube-rs await_condition when kubectl is absent).
pub async fn exit_after_complete() -> Result<Vec<Row>> {
    let env = Env::start(support::lab_config(1)).await?;
    let c = |v: &str| support::container(&["sleep", "3600"], &["true"], &[("V", v)]);
    support::create_deployment(&env, support::deployment("web", 3, c("0"))).await?;
    support::wait_complete(&env, "web", Duration::from_secs(60)).await?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        let v = format!("V={i}a");
        ours.push(
            reaction(&env, "web", || async {
                let child = env.rollout(&["update", "web", "--env", &v])?;
                let (at, out) = support::finish(child, Duration::from_secs(120), "rollout").await?;
                support::check_success("rollout update", &out)?;
                Ok(at)
            })
            .await?,
        );
        theirs.push(
            reaction(&env, "web", || async {
                support::set_container(&env, "web", c(&format!("{i}b"))).await?;
                match env.kubectl(&["rollout", "status", "deploy/web"])? {
                    Some(child) => {
                        let (at, out) =
                            support::finish(child, Duration::from_secs(120), "kubectl").await?;
                        support::check_success("kubectl rollout status", &out)?;
                        Ok(at)
                    }
                    None => {
                        support::wait_complete(&env, "web", Duration::from_secs(120)).await?;
                        Ok(Instant::now())
                    }
                }
            })
            .await?,
        );
    }
    env.lab.shutdown().await;
    let base = if kubectl_present() {
        "kubectl rollout status"
    } else {
        "kube-rs await_condition (no kubectl)"
    };
    let (o, t) = (median(&ours), median(&theirs));
    println!("    (runs: rollout {ours:.0?} ms, {base} {theirs:.0?} ms)");
    Ok(vec![Row::new(
        "8 complete event to CLI exit (median of 5)",
        fmt_ms(o),
        format!("{} {base}", fmt_ms(t)),
        support::ratio(o, t),
    )])
}

/// Watches Events and marks when one pod not in `known` has 3 `Unhealthy` events.
async fn third_unhealthy(env: &Env) -> Result<(FirstSeen, tokio::task::JoinHandle<()>)> {
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), "default");
    let mut known: HashSet<String> = pods
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    let seen = FirstSeen::default();
    let mark = seen.clone();
    let mut counts: HashMap<String, (String, i32)> = HashMap::new();
    let events: Api<Event> = Api::namespaced(env.client.clone(), "default");
    let task = support::observe(
        events,
        watcher::Config::default(),
        move |e: &Event, at, init| {
            let pod = e.involved_object.name.clone().unwrap_or_default();
            if init {
                known.insert(pod);
                return;
            }
            if e.reason.as_deref() != Some("Unhealthy") || known.contains(&pod) {
                return;
            }
            let key = e.metadata.name.clone().unwrap_or_default();
            counts.insert(key, (pod.clone(), e.count.unwrap_or(1)));
            let total: i32 = counts
                .values()
                .filter(|(p, _)| *p == pod)
                .map(|c| c.1)
                .sum();
            if total >= 3 {
                mark.mark(at);
            }
        },
    )
    .await?;
    Ok((seen, task))
}

/// The seed's bad v3 as a patch, with a 20 s progress deadline.
fn bad_v3() -> Result<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/manifests/02-inference-bad-v3.yaml"
    );
    let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(path)?)?;
    Ok(json!({"spec": {"progressDeadlineSeconds": 20, "template": doc["spec"]["template"]}}))
}

fn version(d: &Deployment) -> Option<String> {
    let c = d
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?;
    c.env
        .as_ref()?
        .iter()
        .find(|e| e.name == "VERSION")?
        .value
        .clone()
}

/// Figure 9: third `Unhealthy` event to the rollback patch, against kubectl's failure at the
/// progress deadline, both on the seed's inference Deployment and its bad v3.
pub async fn rollback_after_signal() -> Result<Vec<Row>> {
    let env = Env::start(support::lab_config(1)).await?;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/01-inference.yaml");
    let v1: Value = serde_saphyr::from_str(&std::fs::read_to_string(path)?)?;
    support::create_deployment(&env, v1).await?;
    support::wait_complete(&env, "inference", Duration::from_secs(90)).await?;
    let patch = bad_v3()?;

    let (signal, events) = third_unhealthy(&env).await?;
    let reverted = FirstSeen::default();
    let (mark, was_v3) = (reverted.clone(), Arc::new(AtomicBool::new(false)));
    let cfg = watcher::Config::default().fields("metadata.name=inference");
    let deploys =
        support::observe(
            env.deployments(),
            cfg,
            move |d: &Deployment, at, _| match version(d).as_deref() {
                Some("v3") => was_v3.store(true, Ordering::SeqCst),
                Some("v1") if was_v3.load(Ordering::SeqCst) => mark.mark(at),
                _ => {}
            },
        )
        .await?;
    let text = patch.to_string();
    let child = env.rollout(&["update", "inference", "--patch", &text, "--timeout", "2m"])?;
    let (exit, out) = support::finish(child, Duration::from_secs(150), "rollout").await?;
    events.abort();
    deploys.abort();
    let (Some(s), Some(r)) = (signal.get(), reverted.get()) else {
        bail!(
            "no signal or no rollback seen; rollout said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (to_patch, to_exit) = (signed_ms(s, r), signed_ms(s, exit));
    support::wait_complete(&env, "inference", Duration::from_secs(60)).await?;

    let (signal, events) = third_unhealthy(&env).await?;
    let timed_out = FirstSeen::default();
    let mark = timed_out.clone();
    let cfg = watcher::Config::default().fields("metadata.name=inference");
    let deadline = support::observe(env.deployments(), cfg, move |d: &Deployment, at, _| {
        let conditions = d.status.as_ref().and_then(|s| s.conditions.as_ref());
        if conditions.is_some_and(|c| {
            c.iter()
                .any(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
        }) {
            mark.mark(at);
        }
    })
    .await?;
    let pp = PatchParams::default();
    env.deployments()
        .patch("inference", &pp, &Patch::Strategic(&patch))
        .await?;
    let Some(child) = env.kubectl(&["rollout", "status", "deploy/inference"])? else {
        events.abort();
        deadline.abort();
        env.lab.shutdown().await;
        return Ok(vec![Row::new(
            "9 3rd Unhealthy to rollback patch seen",
            fmt_ms(to_patch),
            "kubectl absent".into(),
            "n/a".into(),
        )]);
    };
    let finished = support::finish(child, Duration::from_secs(120), "kubectl").await;
    events.abort();
    deadline.abort();
    env.lab.shutdown().await;
    let s = signal
        .get()
        .ok_or_else(|| anyhow!("no third Unhealthy event in the kubectl run"))?;
    let lab_deadline = timed_out
        .get()
        .map_or("never".to_string(), |t| fmt_ms(signed_ms(s, t)));
    println!(
        "    (from the signal: rollout exited after {}, with {}; in the kubectl run the lab \
         set ProgressDeadlineExceeded after {lab_deadline})",
        fmt_ms(to_exit),
        out.status
    );
    let name = "9 3rd Unhealthy to rollback patch seen";
    let (k_exit, k_out) = match finished {
        Ok(done) => done,
        Err(e) => {
            println!("    (baseline: {e:#})");
            let base = "kubectl not failed in 120 s".to_string();
            return Ok(vec![Row::new(name, fmt_ms(to_patch), base, "n/a".into())]);
        }
    };
    let k_said = String::from_utf8_lossy(&k_out.stderr).trim().to_string();
    if k_out.status.success() || !k_said.contains("progress deadline") {
        bail!("kubectl rollout status did not fail at the deadline: {k_said}");
    }
    let k = signed_ms(s, k_exit);
    Ok(vec![Row::new(
        name,
        fmt_ms(to_patch),
        format!("{} kubectl fails (deadline 20 s)", fmt_ms(k)),
        support::ratio(to_patch, k),
    )])
}
