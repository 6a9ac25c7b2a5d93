//! Figures 5–7, the lab running workloads: a rolling update's cost per pod, pod start-to-Ready
//! latency, and the processes left after shutdown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use kube::runtime::watcher;
use serde_json::json;

use crate::support::{self, Env, Row, fmt_d, fmt_mib, percentile, ratio};

const SMALL: i32 = 10;
const LARGE: i32 = 100;
const READY_PODS: usize = 20;

/// What one v1 → v2 rolling update cost the process hosting the lab.
struct Cost {
    wall: Duration,
    cpu: Duration,
    /// VmHWM during the rollout, and VmRSS just before it.
    peak_kib: u64,
    before_kib: u64,
}

/// A container whose command line and environment carry `marker`.
fn sleeper(marker: &str, version: &str) -> serde_json::Value {
    support::container(
        &["sh", "-c", "sleep 3600", marker],
        &["true", marker],
        &[("VERSION", version), ("BENCH_MARKER", marker)],
    )
}

/// Starts a lab, rolls out `replicas` pods at v1, then measures the update to v2. The lab is
/// returned still running.
async fn rollout(replicas: i32, marker: &str) -> Result<(Env, Cost)> {
    let nodes = (replicas as usize * 2).div_ceil(100).max(1);
    let env = Env::start(support::lab_config(nodes)).await?;
    let d = support::deployment("fleet", replicas, sleeper(marker, "v1"));
    support::create_deployment(&env, d).await?;
    support::wait_complete(&env, "fleet", Duration::from_secs(180)).await?;
    let before_kib = support::rss_kib()?;
    support::reset_hwm()?;
    let cpu0 = support::cpu_time()?;
    let t0 = Instant::now();
    support::set_container(&env, "fleet", sleeper(marker, "v2")).await?;
    support::wait_complete(&env, "fleet", Duration::from_secs(180)).await?;
    let cost = Cost {
        wall: t0.elapsed(),
        cpu: support::cpu_time()?.saturating_sub(cpu0),
        peak_kib: support::hwm_kib()?,
        before_kib,
    };
    Ok((env, cost))
}

/// Figures 5 and 7: a 100-pod rollout against a 10-pod one (per pod), then shutdown.
pub async fn rollouts(marker: &str) -> Result<Vec<Row>> {
    let (small_env, small) = rollout(SMALL, marker).await?;
    small_env.lab.shutdown().await;
    let (env, large) = rollout(LARGE, marker).await?;
    let per = |v: f64, n: i32| v / f64::from(n);
    let growth = |c: &Cost| c.peak_kib.saturating_sub(c.before_kib) as f64;
    let mut rows = vec![
        Row::new(
            "5 rollout of 100 pods: wall time",
            fmt_d(large.wall),
            format!("{} 10 pods", fmt_d(small.wall)),
            format!(
                "{} per pod",
                ratio(
                    per(large.wall.as_secs_f64(), LARGE),
                    per(small.wall.as_secs_f64(), SMALL)
                )
            ),
        ),
        Row::new(
            "5 rollout of 100 pods: lab CPU (+children)",
            fmt_d(large.cpu),
            format!("{} 10 pods", fmt_d(small.cpu)),
            format!(
                "{} per pod",
                ratio(
                    per(large.cpu.as_secs_f64(), LARGE),
                    per(small.cpu.as_secs_f64(), SMALL)
                )
            ),
        ),
        Row::new(
            "5 rollout of 100 pods: peak RSS (VmHWM)",
            format!(
                "{} (+{})",
                fmt_mib(large.peak_kib),
                fmt_mib(large.peak_kib.saturating_sub(large.before_kib))
            ),
            format!(
                "{} (+{}) 10 pods",
                fmt_mib(small.peak_kib),
                fmt_mib(small.peak_kib.saturating_sub(small.before_kib))
            ),
            format!(
                "{} growth per pod",
                ratio(per(growth(&large), LARGE), per(growth(&small), SMALL))
            ),
        ),
    ];
    let running = support::processes_of(marker)
        .iter()
        .filter(|(_, s)| *s != 'Z')
        .count();
    env.lab.shutdown().await;
    let left_now = support::processes_of(marker);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let left_later = support::processes_of(marker);
    let alive = |v: &[(i32, char)]| v.iter().filter(|(_, s)| *s != 'Z').count();
    rows.push(Row::new(
        "7 processes left after lab.shutdown()",
        format!(
            "{} (+{} zombies); {} after 1 s",
            alive(&left_now),
            left_now.len() - alive(&left_now),
            left_later.len()
        ),
        format!("{running} running before"),
        ratio(left_later.len() as f64, running as f64),
    ));
    Ok(rows)
}

/// Figure 6: create → Ready of 20 bare pods with a 1 s readiness period.
pub async fn ready_latency() -> Result<Vec<Row>> {
    let env = Env::start(support::lab_config(1)).await?;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), "default");
    let cfg = watcher::Config::default().labels("bench=ready");
    let mut stream = Box::pin(watcher(pods.clone(), cfg));
    // The watch is live once its (empty) initial list has been answered.
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        match next.map_err(|_| anyhow!("the pod watch did not start"))? {
            Some(Ok(watcher::Event::InitDone)) => break,
            Some(_) => {}
            None => return Err(anyhow!("the pod watch ended")),
        }
    }
    let created = std::sync::Arc::new(std::sync::Mutex::new(HashMap::new()));
    let creator = {
        let created = created.clone();
        let pods = pods.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let all = (0..READY_PODS).map(|i| {
                let pods = pods.clone();
                let created = created.clone();
                async move {
                    let name = format!("ready-{i}");
                    let p = json!({
                        "metadata": {"name": name, "labels": {"bench": "ready"}},
                        "spec": {"containers": [support::container(&["sleep", "3600"], &["true"], &[])]},
                    });
                    let p: Pod = serde_json::from_value(p)?;
                    if let Ok(mut c) = created.lock() {
                        c.insert(name, Instant::now());
                    }
                    pods.create(&PostParams::default(), &p).await?;
                    anyhow::Ok(())
                }
            });
            futures::future::join_all(all).await
        })
    };
    let mut ready_at: HashMap<String, Instant> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ready_at.len() < READY_PODS {
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        let event = next
            .map_err(|_| anyhow!("pods not Ready within 60 s"))?
            .ok_or_else(|| anyhow!("the pod watch ended"))??;
        let (watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event else {
            continue;
        };
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if let (true, Some(name)) = (ready, pod.metadata.name) {
            ready_at.entry(name).or_insert_with(Instant::now);
        }
    }
    for r in creator.await? {
        r?;
    }
    let created = created.lock().map_err(|_| anyhow!("poisoned"))?.clone();
    let lat: Vec<Duration> = ready_at
        .iter()
        .filter_map(|(n, at)| Some(at.saturating_duration_since(*created.get(n)?)))
        .collect();
    env.lab.shutdown().await;
    let period = Duration::from_secs(1);
    Ok([50.0, 99.0]
        .iter()
        .map(|&p| {
            let v = percentile(&lat, p);
            Row::new(
                &format!("6 pod create to Ready, 20 pods (p{p:.0})"),
                fmt_d(v),
                format!("{} probe period", fmt_d(period)),
                ratio(v.as_secs_f64(), period.as_secs_f64()),
            )
        })
        .collect())
}
