//! Reliability under the lab's fault injection: what a well-behaved client (kube-rs's
//! watcher with its default backoff, writers with bounded retries) still achieves while a
//! share of requests fail and watch streams are cut.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use rollout_lab::Faults;
use serde_json::json;
use tokio::sync::watch;

use crate::support::{DEADLINE, TestLab, config_map, within};

/// The most attempts any single write gets; at a 10-30% failure rate the chance of
/// needing more is below 1e-15.
const ATTEMPTS: usize = 30;

type Snapshot = BTreeMap<String, String>;

/// Retries `op` while the lab answers an injected error (500, 429 or 409).
async fn retried<T, F, Fut>(what: &str, mut op: F) -> Result<T, kube::core::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut last = None;
    for _ in 0..ATTEMPTS {
        match op().await {
            Ok(v) => return Ok(v),
            Err(kube::Error::Api(s))
                if matches!(s.code, 500 | 429) || s.message.contains("injected") =>
            {
                last = Some(s)
            }
            Err(kube::Error::Api(s)) => return Err(*s),
            Err(other) => panic!("{what}: not an API error: {other}"),
        }
    }
    panic!("{what}: still failing after {ATTEMPTS} attempts: {last:?}");
}

/// What the background watcher has seen: its view of the objects (name -> data.k), and
/// how often it had to recover (errors it backed off from, initial lists it started).
#[derive(Debug, Clone, Default)]
struct View {
    objects: Snapshot,
    errors: usize,
    inits: usize,
}

/// Drives a backed-off watcher in the background, publishing its view after every event,
/// the way a reflector's store would hold it.
fn watched_view(api: Api<ConfigMap>) -> watch::Receiver<View> {
    let (tx, rx) = watch::channel(View::default());
    tokio::spawn(async move {
        let mut view = View::default();
        let mut listing = Snapshot::new();
        let value = |c: &ConfigMap| {
            c.data
                .as_ref()
                .and_then(|d| d.get("k").cloned())
                .unwrap_or_default()
        };
        let mut events = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => {
                    view.inits += 1;
                    listing.clear()
                }
                Ok(Event::InitApply(c)) => {
                    listing.insert(c.name_any(), value(&c));
                }
                Ok(Event::InitDone) => view.objects = std::mem::take(&mut listing),
                Ok(Event::Apply(c)) => {
                    view.objects.insert(c.name_any(), value(&c));
                }
                Ok(Event::Delete(c)) => {
                    view.objects.remove(&c.name_any());
                }
                // The backoff delays the retry; the watcher recovers by itself.
                Err(_) => view.errors += 1,
            }
            if tx.send(view.clone()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Writes 20 config maps, changes 5 and deletes 5, retrying injected failures; returns the
/// state the cluster must end in.
async fn churn(api: &Api<ConfigMap>) -> Snapshot {
    let mut expected = Snapshot::new();
    for i in 0..20 {
        let name = format!("cm-{i:02}");
        let (pp, cm) = (PostParams::default(), config_map(&name, "1", &[]));
        let created = retried("create", || api.create(&pp, &cm)).await;
        match created {
            Ok(_) => {}
            Err(s) if s.reason == "AlreadyExists" => {}
            Err(s) => panic!("create {name}: {s:?}"),
        }
        expected.insert(name, "1".to_string());
    }
    for i in 0..5 {
        let name = format!("cm-{i:02}");
        let p = json!({"data": {"k": "2"}});
        let (pp, patch) = (PatchParams::default(), Patch::Merge(&p));
        retried("patch", || api.patch(&name, &pp, &patch))
            .await
            .expect("patch");
        expected.insert(name, "2".to_string());
    }
    for i in 15..20 {
        let name = format!("cm-{i:02}");
        let dp = DeleteParams::default();
        match retried("delete", || api.delete(&name, &dp)).await {
            Ok(_) => {}
            Err(s) if s.code == 404 => {}
            Err(s) => panic!("delete {name}: {s:?}"),
        }
        expected.remove(&name);
    }
    expected
}

/// Long enough for the watcher to meet an injected failure: at a 10% error rate and a cut
/// at most every second, the chance of seeing none in 60 s is about 1e-5.
const RECOVERY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Churns the cluster under `faults` and checks the watcher's view ends equal to the
/// cluster after it has recovered at least once (`recovered`), then still follows a change.
async fn converges(faults: Faults, recovered: fn(&View) -> bool) {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    for name in ["before-a", "before-b"] {
        api.create(&PostParams::default(), &config_map(name, "0", &[]))
            .await
            .expect("create");
    }
    lab.lab.set_faults(faults);
    let mut view = watched_view(api.clone());
    let mut expected = churn(&api).await;
    expected.insert("before-a".into(), "0".into());
    expected.insert("before-b".into(), "0".into());
    let matched = |v: &View| v.objects == expected && recovered(v);
    within(
        RECOVERY_DEADLINE,
        "the watcher to recover from a fault and match the cluster",
        view.wait_for(matched),
    )
    .await
    .expect("the watcher task is running");
    let (pp, cm) = (PostParams::default(), config_map("after", "3", &[]));
    retried("create", || api.create(&pp, &cm))
        .await
        .expect("create after recovery");
    expected.insert("after".into(), "3".into());
    within(
        DEADLINE,
        "the recovered watcher to see a new object",
        view.wait_for(|v| v.objects == expected),
    )
    .await
    .expect("the watcher task is running");
    lab.lab.set_faults(Faults::default());
    let stored: Snapshot = api
        .list(&Default::default())
        .await
        .expect("list without faults")
        .iter()
        .map(|c| {
            (
                c.name_any(),
                c.data
                    .as_ref()
                    .and_then(|d| d.get("k").cloned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        stored, expected,
        "the retried writes all took effect exactly once"
    );
}

#[tokio::test]
async fn the_watcher_converges_while_requests_fail_and_streams_are_cut() {
    let faults = Faults {
        error_rate: 0.1,
        watch_cut_max_seconds: Some(1.0),
        ..Faults::default()
    };
    converges(faults, |v| v.errors >= 1).await;
}

#[tokio::test]
async fn the_watcher_converges_when_resumed_watches_are_also_expired() {
    let faults = Faults {
        error_rate: 0.1,
        watch_cut_max_seconds: Some(0.5),
        expire_rate: 0.3,
        ..Faults::default()
    };
    // A relist (a second Init) shows the watcher took a 410 and started over.
    converges(faults, |v| v.inits >= 2).await;
}

#[tokio::test]
async fn creates_retried_within_a_bound_all_succeed_under_errors_throttling_and_conflicts() {
    let lab = TestLab::start().await;
    lab.lab.set_faults(Faults {
        error_rate: 0.2,
        throttle_rate: 0.05,
        conflict_rate: 0.05,
        ..Faults::default()
    });
    let api: Api<ConfigMap> = lab.api();
    for i in 0..20 {
        let name = format!("r-{i:02}");
        let (pp, cm) = (PostParams::default(), config_map(&name, "1", &[]));
        retried("create", || api.create(&pp, &cm))
            .await
            .expect("each create eventually succeeds");
    }
    lab.lab.set_faults(Faults::default());
    let names: Vec<String> = api
        .list(&Default::default())
        .await
        .expect("list")
        .iter()
        .map(|c| c.name_any())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("r-{i:02}")).collect();
    assert_eq!(names, expected);
}
