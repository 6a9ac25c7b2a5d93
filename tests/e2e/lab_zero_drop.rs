//! Zero dropped requests, measured: steady load through a Service's ClusterIP while a
//! model-serving Deployment rolls from v1 to v2, on a lab whose Service proxy lags 500 ms
//! behind Endpoints changes (the propagation delay a preStop hook must cover). With an
//! HTTP readiness probe and a preStop sleep nothing is dropped; without them requests fail.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use model_server::load::{LoadMethod, LoadReport, LoadSpec, Target};
use serde_json::json;

use crate::support::{Env, lab_config_with_proxy_delay, pod_env, pod_ready};

const PROXY_DELAY: Duration = Duration::from_millis(500);
const RPS: f64 = 50.0;
/// How long the load runs; the rollout starts with it and must end inside it.
const LOAD_WINDOW: Duration = Duration::from_secs(15);

/// The model-serving Deployment and its Service; `safe` adds the readiness probe and the
/// preStop hook.
fn manifest(safe: bool) -> String {
    let (load_seconds, extras) = if safe {
        (
            "1",
            r#"
        readinessProbe:
          httpGet:
            path: /readyz
            port: 8080
          periodSeconds: 1
        lifecycle:
          preStop:
            exec:
              command: ["sleep", "2"]"#,
        )
    } else {
        ("2", "")
    };
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: serving
spec:
  replicas: 3
  strategy:
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      app: serving
  template:
    metadata:
      labels:
        app: serving
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: server
        image: rollout-lab/model-server:1
        env:
        - name: MODEL_NAME
          value: classifier
        - name: PORT
          value: "8080"
        - name: VERSION
          value: v1
        - name: LOAD_SECONDS
          value: "{load_seconds}"{extras}
---
apiVersion: v1
kind: Service
metadata:
  name: serving
spec:
  selector:
    app: serving
  ports:
  - port: 80
    targetPort: 8080
"#
    )
}

/// Runs the v1 -> v2 rollout under ~50 rps of fresh-connection predict requests through
/// the ClusterIP for a fixed window (the rollout, old pods' termination included, must end
/// inside it) and returns what the load generator saw.
async fn rollout_under_load(safe: bool) -> Option<LoadReport> {
    let env = Env::with_config(
        lab_config_with_proxy_delay(PROXY_DELAY),
        "the lab's proxy delay, its model-server image and a ClusterIP reachable from this host",
    )
    .await?;
    env.apply_yaml(&manifest(safe)).await;
    env.wait_rolled_out("serving").await;
    let ip = env.cluster_ip("serving").await;
    // The proxy lags: wait until it serves every ready v1 pod before measuring.
    env.wait_list::<Pod>("app=serving", |ps| {
        ps.iter().filter(|p| pod_ready(p)).count() == 3
    })
    .await;
    let url = format!("http://{ip}:80/v1/models/classifier:predict");
    let warm = LoadSpec {
        rps: 20.0,
        duration: Duration::from_secs(1),
        method: LoadMethod::Post,
        body: Some(br#"{"instances": [[1.0, 2.0]]}"#.to_vec()),
        ..LoadSpec::new(Target::parse(&url).expect("a loopback target"))
    };
    // Wait (bounded) for the proxy's table to reach the ClusterIP: short probes until one
    // whole second of requests succeeds.
    let mut ready = false;
    for _ in 0..20 {
        let report = model_server::load::run(warm.clone(), std::future::pending::<()>())
            .await
            .expect("a valid load spec");
        if report.failed == 0 {
            ready = true;
            break;
        }
    }
    assert!(ready, "the ClusterIP serves v1 before the rollout");

    let spec = LoadSpec {
        rps: RPS,
        duration: LOAD_WINDOW,
        timeout: Duration::from_secs(5),
        ..warm
    };
    let started = tokio::time::Instant::now();
    let rollout = async {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "server", "env": [{"name": "VERSION", "value": "v2"}]}
        ]}}}});
        env.deployments()
            .patch("serving", &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .expect("VERSION patched to v2");
        env.wait_rolled_out("serving").await;
        env.wait_list::<Pod>("app=serving", |ps| {
            ps.len() == 3
                && ps
                    .iter()
                    .all(|p| pod_env(p, "VERSION").as_deref() == Some("v2"))
        })
        .await;
        started.elapsed()
    };
    let (report, rollout_took) = tokio::join!(
        model_server::load::run(spec, std::future::pending::<()>()),
        rollout
    );
    let report = report.expect("a valid load spec");
    assert!(
        rollout_took < LOAD_WINDOW,
        "the rollout ({rollout_took:?}) ended inside the load window"
    );
    eprintln!(
        "zero-drop ({}): sent {} succeeded {} failed {} (refused {}, reset {}, timeout {}, http {:?}, other {}) versions {:?} over {:.1}s",
        if safe {
            "readiness + preStop"
        } else {
            "no readiness, no preStop"
        },
        report.sent,
        report.succeeded,
        report.failed,
        report.failures.connect_refused,
        report.failures.connection_reset,
        report.failures.timeout,
        report.failures.http_status,
        report.failures.other,
        report.versions,
        report.duration_s,
    );
    eprintln!("  rollout incl. old pods gone: {rollout_took:.1?}");
    Some(report)
}

/// With a readiness probe on /readyz and a preStop sleep covering the proxy's lag, a
/// rolling update under steady load drops no request and both versions answer.
#[tokio::test]
async fn readiness_and_prestop_make_the_rollout_drop_nothing() {
    let Some(report) = rollout_under_load(true).await else {
        return;
    };
    assert!(report.sent >= 100, "enough load was sent: {report:?}");
    assert_eq!(report.failed, 0, "no request dropped: {report:?}");
    assert!(
        report.versions.get("v1").is_some_and(|n| *n > 0)
            && report.versions.get("v2").is_some_and(|n| *n > 0),
        "both versions answered: {:?}",
        report.versions
    );
}

/// Without a readiness probe (a loading pod counts as ready) and without a preStop hook
/// (a terminating pod stops listening while the proxy still sends it connections) the
/// same rolling update loses requests.
#[tokio::test]
async fn without_readiness_and_prestop_the_rollout_drops_requests() {
    let Some(report) = rollout_under_load(false).await else {
        return;
    };
    assert!(report.sent >= 100, "enough load was sent: {report:?}");
    assert!(report.failed > 0, "requests were dropped: {report:?}");
}
