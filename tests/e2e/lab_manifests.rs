//! The manifests in `manifests/` apply cleanly (server-side apply, as a real API server
//! would take them) and their Deployments roll out on the lab; the blue-green Service cuts
//! over by a selector edit; the model-server variants show their failure shapes. The seed's
//! busybox manifests also run on a real cluster; the model-server ones need the lab.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Event, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Patch, PatchParams};
use model_server::load::{LoadSpec, Target};
use serde_json::json;

use crate::support::{Env, manifest_text, pod_ready};

/// Why the model-server scenarios run only on the lab: a real cluster has no such image, and
/// its ClusterIPs are not reachable from the machine running the tests.
const MODEL_SERVER_AND_CLUSTER_IP: &str =
    "the lab's model-server image and a ClusterIP reachable from this host";

fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// Seed step 2's Deployment rolls out; applying step 3's bad v3 over it is accepted and
/// starts revision 2 without taking a v1 pod away.
#[tokio::test]
async fn inference_manifests_apply_and_v1_rolls_out() {
    let env = Env::start().await;
    env.apply_manifest("01-inference.yaml").await;
    env.wait_rolled_out("inference").await;
    let pods = env
        .wait_list::<Pod>("app=inference", |ps| {
            ps.len() == 3 && ps.iter().all(pod_ready)
        })
        .await;
    assert_eq!(pods.len(), 3);
    env.apply_manifest("02-inference-bad-v3.yaml").await;
    let pods = env
        .wait_list::<Pod>("app=inference", |ps| ps.len() == 4)
        .await;
    assert_eq!(pods.iter().filter(|p| pod_ready(p)).count(), 3);
}

/// 03's two colors roll out, the Service answers blue (v1-blue) through its ClusterIP,
/// and editing its selector to green moves the traffic to v2-green.
#[tokio::test]
async fn bluegreen_rolls_out_and_the_selector_swap_cuts_over() {
    let Some(env) = Env::lab_only(MODEL_SERVER_AND_CLUSTER_IP).await else {
        return;
    };
    env.apply_manifest("03-bluegreen.yaml").await;
    env.wait_rolled_out("inference-blue").await;
    env.wait_rolled_out("inference-green").await;
    let ip = env.cluster_ip("inference").await;
    let url = format!("http://{ip}:80/v1/models/inference");
    let answered = |color: &'static str| {
        let spec = LoadSpec {
            rps: 20.0,
            duration: Duration::from_millis(500),
            ..LoadSpec::new(Target::parse(&url).expect("a loopback target"))
        };
        async move {
            // Bounded: the proxy applies the Endpoints change asynchronously.
            for _ in 0..40 {
                let r = model_server::load::run(spec.clone(), std::future::pending::<()>())
                    .await
                    .expect("a valid load spec");
                if r.failed == 0 && r.versions.keys().eq([color]) {
                    return r.succeeded;
                }
            }
            panic!("the Service never answered only {color}");
        }
    };
    assert!(answered("v1-blue").await > 0);

    let pods = env
        .wait_list::<Pod>("app=inference", |ps| {
            ps.len() == 4 && ps.iter().all(pod_ready)
        })
        .await;
    let green: BTreeSet<String> = pods
        .iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("color"))
                .map(String::as_str)
                == Some("green")
        })
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    assert_eq!(green.len(), 2);
    let services = env.api::<k8s_openapi::api::core::v1::Service>();
    services
        .patch(
            "inference",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"app": "inference", "color": "green"}}})),
        )
        .await
        .expect("selector swapped");
    let want = green.clone();
    tokio::time::timeout(
        crate::support::DEADLINE,
        kube::runtime::wait::await_condition(
            env.api::<Endpoints>(),
            "inference",
            move |e: Option<&Endpoints>| {
                e.is_some_and(|e| {
                    let ips: BTreeSet<String> = e
                        .subsets
                        .iter()
                        .flatten()
                        .flat_map(|s| s.addresses.clone().unwrap_or_default())
                        .map(|a| a.ip)
                        .collect();
                    ips == want
                })
            },
        ),
    )
    .await
    .expect("the Endpoints follow the selector")
    .expect("watch");
    assert!(answered("v2-green").await > 0);
}

/// 04 (tutorial Example 1) applies with its PodDisruptionBudget and Service, and its four
/// replicas roll out (minReadySeconds lowered from 20 to 2 to keep the test short).
#[tokio::test]
async fn model_serving_rolls_out_with_its_pdb_and_service() {
    let Some(env) = Env::lab_only(MODEL_SERVER_AND_CLUSTER_IP).await else {
        return;
    };
    let text = manifest_text("04-model-serving.yaml");
    assert!(text.contains("minReadySeconds: 20"));
    env.apply_yaml(&text.replace("minReadySeconds: 20", "minReadySeconds: 2"))
        .await;
    env.wait_rolled_out("model-serving").await;
    let d = env
        .deployments()
        .get("model-serving")
        .await
        .expect("deployment");
    assert_eq!(replicas(&d), 4);
    assert_eq!(d.spec.as_ref().and_then(|s| s.min_ready_seconds), Some(2));
    let status = d.status.expect("status");
    assert_eq!(status.available_replicas, Some(4));
    let pdb = env
        .api::<PodDisruptionBudget>()
        .get("model-serving")
        .await
        .expect("the PodDisruptionBudget exists");
    assert_eq!(
        pdb.spec.and_then(|s| s.min_available),
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(3))
    );
    let ip = env.cluster_ip("model-serving").await;
    let spec = LoadSpec {
        rps: 20.0,
        duration: Duration::from_millis(500),
        ..LoadSpec::new(
            Target::parse(&format!("http://{ip}:80/v1/models/classifier")).expect("target"),
        )
    };
    let report = model_server::load::run(spec, std::future::pending::<()>())
        .await
        .expect("a valid load spec");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.versions.keys().collect::<Vec<_>>(), vec!["1.0.3"]);
}

/// 05's ConfigMaps apply; wired in with envFrom, never-ready gives a Running pod that is
/// never Ready, crash-at-start a restarting container, flaky a Ready pod, too-big under a
/// 256Mi memory limit a container OOMKilled with exit code 137.
#[tokio::test]
async fn model_server_variants_apply_and_show_their_failure_shapes() {
    let Some(env) = Env::lab_only("the lab's model-server image").await else {
        return;
    };
    env.apply_manifest("05-model-server-variants.yaml").await;
    let maps = env
        .wait_list::<ConfigMap>("app.kubernetes.io/part-of=model-server-variants", |cms| {
            cms.len() == 5
        })
        .await;
    let names: BTreeSet<String> = maps
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "model-server-crash-at-start",
            "model-server-flaky",
            "model-server-never-ready",
            "model-server-slow-load",
            "model-server-too-big",
        ]
        .map(String::from)
        .into()
    );
    for (variant, limit) in [
        ("never-ready", ""),
        ("crash-at-start", ""),
        ("flaky", ""),
        ("too-big", "256Mi"),
    ] {
        let resources = if limit.is_empty() {
            String::new()
        } else {
            format!("\n        resources:\n          limits:\n            memory: {limit}")
        };
        env.apply_yaml(&format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {variant}
spec:
  replicas: 1
  selector:
    matchLabels:
      variant: {variant}
  template:
    metadata:
      labels:
        variant: {variant}
    spec:
      containers:
      - name: server
        image: rollout-lab/model-server:1
        envFrom:
        - configMapRef:
            name: model-server-{variant}{resources}
        readinessProbe:
          httpGet:
            path: /readyz
            port: 8080
          periodSeconds: 1
"#
        ))
        .await;
    }
    env.wait_rolled_out("flaky").await;
    env.wait_list::<Pod>("variant=crash-at-start", |ps| {
        ps.iter().any(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.restart_count >= 1))
        })
    })
    .await;
    let too_big = env
        .wait_list::<Pod>("variant=too-big", |ps| {
            ps.iter().any(|p| last_terminated(p).is_some())
        })
        .await;
    let oom = too_big
        .iter()
        .find_map(last_terminated)
        .expect("terminated");
    assert_eq!(
        (oom.reason.as_deref(), oom.exit_code),
        (Some("OOMKilled"), 137),
        "{oom:?}"
    );
    let never = env
        .wait_list::<Pod>("variant=never-ready", |ps| {
            ps.iter()
                .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        })
        .await;
    let never_name = never[0].metadata.name.clone().expect("name");
    // The probe has failed (an Unhealthy event) and the pod is still not Ready.
    env.wait_list::<Event>("", |es| {
        es.iter().any(|e| {
            e.involved_object.name.as_deref() == Some(never_name.as_str())
                && e.reason.as_deref() == Some("Unhealthy")
        })
    })
    .await;
    let pod = env.pods().get(&never_name).await.expect("the pod");
    assert!(!pod_ready(&pod), "never-ready never becomes Ready");
}

/// The last termination of a pod's first container, once it has restarted.
fn last_terminated(p: &Pod) -> Option<k8s_openapi::api::core::v1::ContainerStateTerminated> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .last_state
        .as_ref()?
        .terminated
        .clone()
}
