//! Figures 13 and 14: stepped rollouts. 13: new pods beyond a step's bound when the pause
//! is scripted (`kubectl set env` then `kubectl rollout pause`, as a runbook script does)
//! against `rollout update --steps` (goal: 0, always). 14: from the moment a gate's failure
//! is decided to the rollback patch, against a script's best: `kubectl rollout undo` started
//! the moment it knows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Api;
use kube::runtime::watcher;
use serde_json::Value;

use crate::support::{self, Env, FirstSeen, Row, fmt_ms, median, signed_ms};

/// Runs of each side of figure 13.
const RUNS: usize = 5;
const REPLICAS: i32 = 10;
/// The step: 2 new pods of 10.
const STEP: i32 = 2;

/// The `V` env value of a pod template's first container: the version a figure sets.
fn version(t: Option<&PodTemplateSpec>) -> Option<String> {
    t.and_then(|t| t.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.env.as_ref())
        .and_then(|e| e.iter().find(|v| v.name == "V"))
        .and_then(|v| v.value.clone())
}

/// The largest `spec.replicas` seen of each ReplicaSet whose template sets `V=value`.
type Largest = Arc<Mutex<HashMap<String, i32>>>;

async fn watch_sizes(env: &Env) -> Result<(tokio::task::JoinHandle<()>, Largest)> {
    let largest: Largest = Arc::default();
    let log = largest.clone();
    let api: Api<ReplicaSet> = Api::namespaced(env.client.clone(), "default");
    let task = support::observe(
        api,
        watcher::Config::default(),
        move |rs: &ReplicaSet, _, _| {
            let version = version(rs.spec.as_ref().and_then(|s| s.template.as_ref()));
            let size = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            if let (Some(v), Ok(mut l)) = (version, log.lock()) {
                let entry = l.entry(v).or_insert(0);
                *entry = (*entry).max(size);
            }
        },
    )
    .await?;
    Ok((task, largest))
}

fn largest_of(largest: &Largest, version: &str) -> i32 {
    largest
        .lock()
        .ok()
        .and_then(|l| l.get(version).copied())
        .unwrap_or(0)
}

/// Figure 13.
pub async fn step_bound() -> Result<Vec<Row>> {
    let env = Env::start(support::lab_config(2)).await?;
    let c = |v: &str| support::container(&["sleep", "3600"], &["true"], &[("V", v)]);
    support::create_deployment(&env, support::deployment("web", REPLICAS, c("0"))).await?;
    support::wait_complete(&env, "web", Duration::from_secs(90)).await?;
    let (watching, largest) = watch_sizes(&env).await?;
    let (mut scripted, mut ours) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        // A script: change, then pause at once, then look.
        let v = format!("s{i}");
        if let Some(child) = env.kubectl(&["set", "env", "deploy/web", &format!("V={v}")])? {
            let (_, out) =
                support::finish(child, Duration::from_secs(30), "kubectl set env").await?;
            support::check_success("kubectl set env", &out)?;
            let pause = env
                .kubectl(&["rollout", "pause", "deploy/web"])?
                .ok_or_else(|| anyhow!("kubectl vanished"))?;
            let (_, out) = support::finish(pause, Duration::from_secs(30), "kubectl pause").await?;
            support::check_success("kubectl rollout pause", &out)?;
            // What the controller did before the pause landed is all there is to see.
            let settled = env
                .kubectl(&["rollout", "resume", "deploy/web"])?
                .ok_or_else(|| anyhow!("kubectl vanished"))?;
            support::finish(settled, Duration::from_secs(30), "kubectl resume").await?;
            support::wait_complete(&env, "web", Duration::from_secs(120)).await?;
            scripted.push(largest_of(&largest, &v) - STEP);
        }
        // rollout: the same step, held for approval, then aborted (rolled back).
        let v = format!("r{i}");
        let child = env.rollout(&[
            "update",
            "web",
            "--env",
            &format!("main:V={v}"),
            "--steps",
            &STEP.to_string(),
            "--approve",
        ])?;
        let waiting = |d: Option<&Deployment>| {
            d.and_then(|d| {
                d.metadata
                    .annotations
                    .as_ref()?
                    .get("rollout.dev/steps")
                    .cloned()
            })
            .and_then(|p| serde_json::from_str::<Value>(&p).ok())
            .is_some_and(|p| p["awaitingApproval"] == true)
        };
        tokio::time::timeout(
            Duration::from_secs(120),
            kube::runtime::wait::await_condition(env.deployments(), "web", waiting),
        )
        .await
        .map_err(|_| anyhow!("rollout's first step did not finish in 120 s"))??;
        let abort = env.rollout(&["abort", "web"])?;
        support::finish(abort, Duration::from_secs(30), "rollout abort").await?;
        let (_, out) = support::finish(child, Duration::from_secs(120), "rollout update").await?;
        if out.status.code() != Some(3) {
            bail!(
                "the aborted stepped rollout exited {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        support::wait_complete(&env, "web", Duration::from_secs(120)).await?;
        ours.push(largest_of(&largest, &v) - STEP);
    }
    watching.abort();
    env.lab.shutdown().await;
    let show = |v: &[i32]| {
        format!(
            "{} (max {}, {} runs)",
            v.iter().map(i32::to_string).collect::<Vec<_>>().join(" "),
            v.iter().max().copied().unwrap_or(0),
            v.len()
        )
    };
    let baseline = if scripted.is_empty() {
        "kubectl absent".to_string()
    } else {
        show(&scripted)
    };
    Ok(vec![Row::new(
        &format!(
            "13 new pods beyond a step of {STEP}/{REPLICAS}: rollout --steps vs set env + rollout pause"
        ),
        show(&ours),
        baseline,
        if ours.iter().all(|o| *o <= 0) {
            "0 always".into()
        } else {
            "EXCEEDED".into()
        },
    )])
}

/// Figure 14: a gate's decided failure (its failing measurement's end) to the rollback
/// patch, against `kubectl rollout undo` started at a known instant.
pub async fn gate_to_rollback() -> Result<Vec<Row>> {
    let env = Env::start(support::lab_config(1)).await?;
    let c = |v: &str| support::container(&["sleep", "3600"], &["true"], &[("V", v)]);
    support::create_deployment(&env, support::deployment("web", 4, c("0"))).await?;
    support::wait_complete(&env, "web", Duration::from_secs(90)).await?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..3 {
        let reverted = FirstSeen::default();
        let mark = reverted.clone();
        let bad = format!("g{i}");
        let watched = bad.clone();
        let seen_bad = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cfg = watcher::Config::default().fields("metadata.name=web");
        let deploys = support::observe(env.deployments(), cfg, move |d: &Deployment, at, _| {
            let v = version(d.spec.as_ref().map(|s| &s.template));
            use std::sync::atomic::Ordering;
            match v.as_deref() {
                Some(x) if x == watched => seen_bad.store(true, Ordering::SeqCst),
                Some(_) if seen_bad.load(Ordering::SeqCst) => mark.mark(at),
                _ => {}
            }
        })
        .await?;
        let child = env.rollout(&[
            "update",
            "web",
            "--env",
            &format!("main:V={bad}"),
            "--steps",
            "1",
            "--verify",
            "false",
            "-o",
            "json",
        ])?;
        let (_, out) = support::finish(child, Duration::from_secs(120), "rollout update").await?;
        deploys.abort();
        let result: Value = serde_json::from_slice(&out.stdout)?;
        let failed_at = result["gates"][0]["time"]
            .as_str()
            .ok_or_else(|| anyhow!("no gate measurement in {result}"))?;
        let failed_at: jiff::Timestamp = failed_at.parse()?;
        let reverted_at = reverted
            .get()
            .ok_or_else(|| anyhow!("no rollback seen: {result}"))?;
        // The measurement's wall time against the watch's monotonic instant: both taken on
        // this machine, the wall clock read once to join them.
        let wall_now = jiff::Timestamp::now();
        let mono_now = Instant::now();
        let since_fail = wall_now.duration_since(failed_at);
        let fail_instant = mono_now - Duration::try_from(since_fail).unwrap_or_default();
        ours.push(signed_ms(fail_instant, reverted_at));
        support::wait_complete(&env, "web", Duration::from_secs(90)).await?;

        // A script's best: it knows at `t0` and runs kubectl rollout undo.
        let v = format!("k{i}");
        support::set_container(&env, "web", c(&v)).await?;
        support::wait_complete(&env, "web", Duration::from_secs(90)).await?;
        let reverted = FirstSeen::default();
        let mark = reverted.clone();
        let cfg = watcher::Config::default().fields("metadata.name=web");
        let want = v.clone();
        let deploys = support::observe(env.deployments(), cfg, move |d: &Deployment, at, init| {
            let v = version(d.spec.as_ref().map(|s| &s.template));
            if !init && v.as_deref() != Some(want.as_str()) {
                mark.mark(at);
            }
        })
        .await?;
        let t0 = Instant::now();
        let Some(undo) = env.kubectl(&["rollout", "undo", "deploy/web"])? else {
            deploys.abort();
            break;
        };
        support::finish(undo, Duration::from_secs(30), "kubectl rollout undo").await?;
        let r = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(r) = reverted.get() {
                    return r;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .map_err(|_| anyhow!("kubectl's undo was not seen"))?;
        deploys.abort();
        theirs.push(signed_ms(t0, r));
        support::wait_complete(&env, "web", Duration::from_secs(90)).await?;
    }
    env.lab.shutdown().await;
    let (o, t) = (median(&ours), median(&theirs));
    Ok(vec![Row::new(
        "14 gate failure decided -> rollback patch (median of 3)",
        fmt_ms(o),
        if theirs.is_empty() {
            "kubectl absent".into()
        } else {
            format!("{} (kubectl rollout undo started at once)", fmt_ms(t))
        },
        if theirs.is_empty() {
            "n/a".into()
        } else {
            support::ratio(o, t)
        },
    )])
}
