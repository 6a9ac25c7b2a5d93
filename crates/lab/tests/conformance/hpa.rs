//! HorizontalPodAutoscalers on a lab without a metrics API, as on such a cluster: the
//! target's replicas reported, scaling inactive with upstream's reason.

use rollout_lab::LabConfig;

use super::manifests::{apply, get, wait_for};
use super::support::{TestLab, deployment_yaml};

const HPA: &str = "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 80}
";

#[tokio::test]
async fn an_hpa_reports_its_targets_replicas_and_why_it_cannot_scale() {
    let lab = TestLab::with_config(LabConfig::default()).await;
    let Some(k) = lab.kubectl() else { return };
    apply(&k, "web", &deployment_yaml("web", "busybox", 2)).await;
    apply(&k, "hpa", HPA).await;
    wait_for(&k, "hpa/web", "{.status.currentReplicas}", "2").await;
    let condition = |t: &str| {
        format!(
            "{{.status.conditions[?(@.type==\"{t}\")].status}} {{.status.conditions[?(@.type==\"{t}\")].reason}}"
        )
    };
    assert_eq!(
        get(&k, "hpa/web", &condition("AbleToScale")).await,
        "True SucceededGetScale"
    );
    assert_eq!(
        get(&k, "hpa/web", &condition("ScalingActive")).await,
        "False FailedGetResourceMetric"
    );
    let row = k.run(&["get", "hpa", "web", "--no-headers"]).await.ok();
    assert!(row.contains("cpu: <unknown>/80%"), "{row}");
    let described = k.run(&["describe", "hpa", "web"]).await.ok();
    assert!(
        described.contains("the HPA was unable to compute the replica count"),
        "{described}"
    );
}
