//! The real `kubectl` (an independent client, upstream's own code) driving rollouts on the
//! lab: `rollout status`, `set env`, `rollout history`, `undo`, `pause`, `resume`,
//! `restart`, `describe`, `logs`, `expose` and `get endpoints` must behave and print as
//! they do against a real cluster. Seed manifests 01 (good v1) and 02 (bad v3) are applied
//! with `kubectl apply`. Every test skips (and says so) where kubectl is absent. Pointed
//! at a real cluster (`ROLLOUT_E2E_KUBECONFIG`), the same assertions check the lab's model
//! against upstream itself.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Endpoints, Event, Pod};
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;

use crate::support::{Env, manifest_text, pod_env, pod_ready};

const REVISION: &str = "deployment.kubernetes.io/revision";
const SUCCESS: &str = "deployment \"inference\" successfully rolled out";
const SELECTOR: &str = "app=inference";

macro_rules! kubectl {
    ($env:expr, $($arg:expr),+ $(,)?) => {
        match $env.kubectl_ok(&[$($arg),+]).await {
            Some(out) => out,
            None => {
                eprintln!("skipped: kubectl not found");
                return;
            }
        }
    };
}

/// The manifest's path, for `kubectl apply -f`.
fn manifest_path(file: &str) -> String {
    format!("{}/manifests/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn revision(rs: &ReplicaSet) -> Option<i64> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(REVISION)?
        .parse()
        .ok()
}

fn rs_version(rs: &ReplicaSet) -> Option<String> {
    let c = rs
        .spec
        .as_ref()?
        .template
        .as_ref()?
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

/// RS name by revision.
async fn rs_by_revision(env: &Env) -> BTreeMap<i64, String> {
    let rss = env
        .replica_sets()
        .list(&kube::api::ListParams::default().labels(SELECTOR))
        .await
        .expect("replica sets listed");
    rss.items
        .iter()
        .filter_map(|rs| Some((revision(rs)?, rs.metadata.name.clone()?)))
        .collect()
}

/// The REVISION column of `kubectl rollout history`.
fn history_revisions(out: &str) -> Vec<i64> {
    out.lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Applies 01 with kubectl, optionally scales it (a scale is not a revision), and waits
/// with `kubectl rollout status` for its success line. `None` without kubectl.
async fn start_inference(env: &Env, replicas: Option<&str>) -> Option<()> {
    let out = env
        .kubectl_ok(&["apply", "-f", &manifest_path("01-inference.yaml")])
        .await?;
    assert!(out.contains("deployment.apps/inference created"), "{out}");
    if let Some(n) = replicas {
        let flag = format!("--replicas={n}");
        env.kubectl_ok(&["scale", "deployment/inference", &flag])
            .await?;
    }
    let status = env
        .kubectl_ok(&["rollout", "status", "deployment/inference"])
        .await?;
    assert!(status.trim_end().ends_with(SUCCESS), "{status}");
    Some(())
}

/// Follows the ReplicaSets of `app=inference` and records (Σ spec.replicas,
/// Σ status.availableReplicas) after every event, until cancelled.
fn record_rs_sizes(env: &Env, stop: CancellationToken) -> tokio::task::JoinHandle<Vec<(i32, i32)>> {
    let api = env.replica_sets();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, watcher::Config::default().labels(SELECTOR)));
        let mut live: BTreeMap<String, (i32, i32)> = BTreeMap::new();
        let mut init: BTreeMap<String, (i32, i32)> = BTreeMap::new();
        let mut samples = Vec::new();
        let sizes = |rs: &ReplicaSet| {
            (
                rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                rs.status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0),
            )
        };
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => break,
                e = stream.next() => match e {
                    Some(Ok(e)) => e,
                    Some(Err(_)) => continue,
                    None => break,
                },
            };
            match event {
                watcher::Event::Init => {
                    init.clear();
                    continue;
                }
                watcher::Event::InitApply(rs) => {
                    init.insert(rs.metadata.name.clone().unwrap_or_default(), sizes(&rs));
                    continue;
                }
                watcher::Event::InitDone => live = std::mem::take(&mut init),
                watcher::Event::Apply(rs) => {
                    live.insert(rs.metadata.name.clone().unwrap_or_default(), sizes(&rs));
                }
                watcher::Event::Delete(rs) => {
                    live.remove(&rs.metadata.name.clone().unwrap_or_default());
                }
            }
            let spec: i32 = live.values().map(|s| s.0).sum();
            let available: i32 = live.values().map(|s| s.1).sum();
            samples.push((spec, available));
        }
        samples
    })
}

/// `kubectl set env` rolls 01 from v1 to v2 pod by pod: `kubectl rollout status` prints
/// upstream's waiting lines and then success, while the ReplicaSets never exceed
/// replicas + maxSurge nor fall below replicas - maxUnavailable available pods.
#[tokio::test]
async fn kubectl_set_env_rolls_out_within_the_surge_and_unavailability_bounds() {
    let env = Env::start().await;
    if start_inference(&env, None).await.is_none() {
        eprintln!("skipped: kubectl not found");
        return;
    }
    let d = env
        .deployments()
        .get("inference")
        .await
        .expect("deployment");
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let surge = rollout_semantics::intstr::max_surge(&d);
    let unavailable = rollout_semantics::intstr::max_unavailable(&d);
    assert_eq!(
        (replicas, surge, unavailable),
        (3, 1, 0),
        "25%/25% of 3 resolves to surge 1, unavailable 0"
    );

    let stop = CancellationToken::new();
    let recorder = record_rs_sizes(&env, stop.clone());
    // The recorder's initial list must be in before the change.
    env.wait_list::<ReplicaSet>(SELECTOR, |rss| rss.len() == 1)
        .await;
    let out = kubectl!(env, "set", "env", "deployment/inference", "VERSION=v2");
    assert!(
        out.contains("deployment.apps/inference env updated"),
        "{out}"
    );
    let status = kubectl!(env, "rollout", "status", "deployment/inference");
    stop.cancel();
    let samples = recorder.await.expect("the recorder ends");

    assert!(
        status.contains("Waiting for deployment \"inference\" rollout to finish:"),
        "{status}"
    );
    assert!(status.trim_end().ends_with(SUCCESS), "{status}");
    assert!(samples.len() > 3, "the watch saw the rollout: {samples:?}");
    let max_spec = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let min_available = samples.iter().map(|s| s.1).min().unwrap_or(0);
    eprintln!(
        "rolling update v1->v2: {} RS states, max Σspec.replicas {max_spec}, min Σavailable {min_available}",
        samples.len()
    );
    assert!(
        max_spec <= replicas + surge,
        "Σ spec.replicas exceeded {}: {samples:?}",
        replicas + surge
    );
    assert_eq!(
        max_spec,
        replicas + surge,
        "the rollout surged: {samples:?}"
    );
    assert!(
        min_available >= replicas - unavailable,
        "available pods fell below {}: {samples:?}",
        replicas - unavailable
    );
    let rss = env
        .wait_list::<ReplicaSet>(SELECTOR, |rss| rss.len() == 2)
        .await;
    let new = rss
        .iter()
        .find(|rs| revision(rs) == Some(2))
        .expect("revision 2");
    assert_eq!(rs_version(new).as_deref(), Some("v2"));
}

/// `kubectl rollout history` lists revisions; `kubectl rollout undo` and
/// `undo --to-revision=2` bring back the old ReplicaSets themselves (same names) under
/// new revision numbers, as upstream does.
#[tokio::test]
async fn kubectl_undo_reuses_old_replica_sets_and_renumbers_history() {
    let env = Env::start().await;
    // One replica keeps each rollout short; a scale is not a revision.
    if start_inference(&env, Some("1")).await.is_none() {
        eprintln!("skipped: kubectl not found");
        return;
    }
    kubectl!(env, "set", "env", "deployment/inference", "VERSION=v2");
    let status = kubectl!(env, "rollout", "status", "deployment/inference");
    assert!(status.trim_end().ends_with(SUCCESS), "{status}");
    let history = kubectl!(env, "rollout", "history", "deployment/inference");
    assert!(history.contains("REVISION"), "{history}");
    assert_eq!(history_revisions(&history), vec![1, 2], "{history}");
    let before = rs_by_revision(&env).await;
    assert_eq!(before.len(), 2, "{before:?}");

    let out = kubectl!(env, "rollout", "undo", "deployment/inference");
    assert!(
        out.contains("deployment.apps/inference rolled back"),
        "{out}"
    );
    let status = kubectl!(env, "rollout", "status", "deployment/inference");
    assert!(status.trim_end().ends_with(SUCCESS), "{status}");
    let after = rs_by_revision(&env).await;
    assert_eq!(after.get(&3), before.get(&1), "undo reuses revision 1's RS");
    assert_eq!(after.len(), 2, "no new ReplicaSet: {after:?}");
    let history = kubectl!(env, "rollout", "history", "deployment/inference");
    assert_eq!(history_revisions(&history), vec![2, 3], "{history}");
    let pods = env
        .wait_list::<Pod>(SELECTOR, |p| {
            p.len() == 1
                && p.iter()
                    .all(|p| pod_env(p, "VERSION").as_deref() == Some("v1"))
        })
        .await;
    assert!(pod_ready(&pods[0]));

    let out = kubectl!(
        env,
        "rollout",
        "undo",
        "deployment/inference",
        "--to-revision=2"
    );
    assert!(out.contains("rolled back"), "{out}");
    let status = kubectl!(env, "rollout", "status", "deployment/inference");
    assert!(status.trim_end().ends_with(SUCCESS), "{status}");
    let last = rs_by_revision(&env).await;
    assert_eq!(
        last.get(&4),
        before.get(&2),
        "--to-revision=2 reuses its RS"
    );
    assert_eq!(last.len(), 2, "{last:?}");
    let history = kubectl!(env, "rollout", "history", "deployment/inference");
    assert_eq!(history_revisions(&history), vec![3, 4], "{history}");
    let one = kubectl!(
        env,
        "rollout",
        "history",
        "deployment/inference",
        "--revision=4"
    );
    assert!(
        one.contains("VERSION:\tv2") || one.contains("VERSION: v2"),
        "{one}"
    );
}

/// `kubectl rollout pause` holds a template change back (no new ReplicaSet), `resume`
/// lets it roll out, and `restart` stamps `kubectl.kubernetes.io/restartedAt` on the
/// template, which makes a new ReplicaSet.
#[tokio::test]
async fn kubectl_pause_holds_changes_resume_releases_them_and_restart_makes_a_new_rs() {
    let env = Env::start().await;
    if start_inference(&env, Some("1")).await.is_none() {
        eprintln!("skipped: kubectl not found");
        return;
    }
    let out = kubectl!(env, "rollout", "pause", "deployment/inference");
    assert!(out.contains("deployment.apps/inference paused"), "{out}");
    kubectl!(env, "set", "env", "deployment/inference", "VERSION=v2");
    let api = env.deployments();
    let observed = |d: Option<&k8s_openapi::api::apps::v1::Deployment>| {
        d.is_some_and(|d| {
            d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
        })
    };
    tokio::time::timeout(
        crate::support::DEADLINE,
        kube::runtime::wait::await_condition(api.clone(), "inference", observed),
    )
    .await
    .expect("the paused change is observed")
    .expect("watch");
    let d = api.get("inference").await.expect("deployment");
    assert_eq!(d.spec.as_ref().and_then(|s| s.paused), Some(true));
    let progressing = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Progressing").cloned())
        .expect("a Progressing condition");
    assert_eq!(progressing.reason.as_deref(), Some("DeploymentPaused"));
    assert_eq!(
        rs_by_revision(&env).await.len(),
        1,
        "paused: no new ReplicaSet"
    );

    let out = kubectl!(env, "rollout", "resume", "deployment/inference");
    assert!(out.contains("deployment.apps/inference resumed"), "{out}");
    let status = kubectl!(env, "rollout", "status", "deployment/inference");
    assert!(status.trim_end().ends_with(SUCCESS), "{status}");
    let revs = rs_by_revision(&env).await;
    assert_eq!(revs.keys().copied().collect::<Vec<_>>(), vec![1, 2]);

    let out = kubectl!(env, "rollout", "restart", "deployment/inference");
    assert!(out.contains("deployment.apps/inference restarted"), "{out}");
    let status = kubectl!(env, "rollout", "status", "deployment/inference");
    assert!(status.trim_end().ends_with(SUCCESS), "{status}");
    let d = api.get("inference").await.expect("deployment");
    let restarted_at = |annotations: Option<&BTreeMap<String, String>>| {
        annotations
            .and_then(|a| a.get("kubectl.kubernetes.io/restartedAt"))
            .cloned()
    };
    let stamp = restarted_at(
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref()),
    )
    .expect("restart stamps the template");
    let rss = env
        .wait_list::<ReplicaSet>(SELECTOR, |rss| rss.len() == 3)
        .await;
    let newest = rss
        .iter()
        .find(|rs| revision(rs) == Some(3))
        .expect("restart makes revision 3");
    let rs_stamp = restarted_at(
        newest
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref()),
    );
    assert_eq!(rs_stamp.as_deref(), Some(stamp.as_str()));
    assert_eq!(rs_version(newest).as_deref(), Some("v2"));
}

/// Seed step 3 with kubectl: the bad v3 (02, progressDeadlineSeconds lowered to 10) leaves
/// one new pod 0/1 Running whose `describe` shows `Readiness probe failed`; `rollout
/// status` fails with `exceeded its progress deadline`; `logs` shows the container's
/// output; the Service's Endpoints list only the ready v1 pods; `rollout undo` recovers.
#[tokio::test]
async fn kubectl_sees_the_bad_v3_stall_past_its_progress_deadline() {
    let env = Env::start().await;
    if start_inference(&env, None).await.is_none() {
        eprintln!("skipped: kubectl not found");
        return;
    }
    let out = kubectl!(
        env,
        "expose",
        "deployment/inference",
        "--name=inference-svc",
        "--port=80",
        "--target-port=8080"
    );
    assert!(out.contains("service/inference-svc exposed"), "{out}");

    let bad = manifest_text("02-inference-bad-v3.yaml");
    assert!(bad.contains("progressDeadlineSeconds: 60"));
    let bad = bad.replace("progressDeadlineSeconds: 60", "progressDeadlineSeconds: 10");
    let path = env.write_file("02-deadline-10.yaml", &bad);
    let out = kubectl!(env, "apply", "-f", path.to_str().expect("utf-8 path"));
    assert!(
        out.contains("deployment.apps/inference configured"),
        "{out}"
    );

    let v3_running = |p: &Pod| {
        pod_env(p, "VERSION").as_deref() == Some("v3")
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    };
    let status = env
        .kubectl(&["rollout", "status", "deployment/inference"])
        .await
        .expect("kubectl is present");
    assert_ne!(status.code, Some(0), "{status:?}");
    assert!(
        status
            .stderr
            .contains("deployment \"inference\" exceeded its progress deadline"),
        "{status:?}"
    );
    assert!(
        status
            .stdout
            .contains("Waiting for deployment \"inference\" rollout to finish: 1 out of 3 new replicas have been updated..."),
        "{status:?}"
    );

    let pods = env
        .wait_list::<Pod>(SELECTOR, |ps| {
            ps.iter().filter(|p| v3_running(p)).count() == 1
        })
        .await;
    let bad_pod = pods.iter().find(|p| v3_running(p)).expect("the v3 pod");
    assert!(!pod_ready(bad_pod), "the v3 pod never becomes ready");
    let bad_name = bad_pod.metadata.name.clone().expect("name");
    let bad_ip = bad_pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("the v3 pod has an IP");
    let ready_ips: BTreeSet<String> = pods
        .iter()
        .filter(|p| pod_ready(p))
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    assert_eq!(ready_ips.len(), 3, "the three v1 pods stay: {pods:?}");
    assert_eq!(pods.len(), 4, "one surge pod, nothing scaled down");

    let listing = kubectl!(env, "get", "pods", "-l", SELECTOR);
    let line = listing
        .lines()
        .find(|l| l.starts_with(&bad_name))
        .unwrap_or_else(|| panic!("{bad_name} listed: {listing}"));
    assert!(
        line.contains("0/1") && line.contains("Running"),
        "{listing}"
    );
    let describe = kubectl!(env, "describe", "pod", &bad_name);
    assert!(describe.contains("Readiness probe failed"), "{describe}");
    let logs = kubectl!(env, "logs", &bad_name);
    assert!(
        logs.contains("loading model v3") && logs.contains("serving v3"),
        "{logs}"
    );

    // The Endpoints controller may lag the pods; wait for it, then ask kubectl.
    let ep_api = env.api::<Endpoints>();
    let want = ready_ips.clone();
    tokio::time::timeout(
        crate::support::DEADLINE,
        kube::runtime::wait::await_condition(
            ep_api,
            "inference-svc",
            move |e: Option<&Endpoints>| e.is_some_and(|e| endpoint_ips(e, false) == want),
        ),
    )
    .await
    .expect("the Endpoints list the ready pods")
    .expect("watch");
    let ready = kubectl!(
        env,
        "get",
        "endpoints",
        "inference-svc",
        "-o",
        "jsonpath={.subsets[*].addresses[*].ip}"
    );
    let listed: BTreeSet<String> = ready.split_whitespace().map(str::to_string).collect();
    assert_eq!(listed, ready_ips, "only ready pods serve");
    let not_ready = kubectl!(
        env,
        "get",
        "endpoints",
        "inference-svc",
        "-o",
        "jsonpath={.subsets[*].notReadyAddresses[*].ip}"
    );
    assert_eq!(not_ready.trim(), bad_ip);
    let table = kubectl!(env, "get", "endpoints", "inference-svc");
    assert!(table.contains("inference-svc"), "{table}");
    assert!(!table.contains(&bad_ip), "{table}");
    for ip in &ready_ips {
        assert!(table.contains(&format!("{ip}:8080")), "{table}");
    }

    let events = env
        .wait_list::<Event>("", |es| {
            es.iter().any(|e| {
                e.involved_object.name.as_deref() == Some(bad_name.as_str())
                    && e.reason.as_deref() == Some("Unhealthy")
            })
        })
        .await;
    assert!(!events.is_empty());

    let out = kubectl!(env, "rollout", "undo", "deployment/inference");
    assert!(out.contains("rolled back"), "{out}");
    let status = kubectl!(env, "rollout", "status", "deployment/inference");
    assert!(status.trim_end().ends_with(SUCCESS), "{status}");
    env.wait_list::<Pod>(SELECTOR, |ps| {
        ps.len() == 3
            && ps
                .iter()
                .all(|p| pod_env(p, "VERSION").as_deref() == Some("v1"))
    })
    .await;
}

/// The IPs of an Endpoints object's ready (or, with `not_ready`, not-ready) addresses.
fn endpoint_ips(e: &Endpoints, not_ready: bool) -> BTreeSet<String> {
    e.subsets
        .iter()
        .flatten()
        .flat_map(|s| {
            if not_ready {
                s.not_ready_addresses.clone().unwrap_or_default()
            } else {
                s.addresses.clone().unwrap_or_default()
            }
        })
        .map(|a| a.ip)
        .collect()
}
