//! Builders for test objects (test-only).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(&[("app", "web")])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

pub fn deployment(
    name: &str,
    replicas: i32,
    surge: IntOrString,
    unavail: IntOrString,
) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                match_expressions: None,
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(surge),
                    max_unavailable: Some(unavail),
                }),
            }),
            template: template("app:v2"),
            progress_deadline_seconds: Some(600),
            revision_history_limit: Some(10),
            ..Default::default()
        }),
        status: None,
    }
}

/// A ReplicaSet with a revision, creation offset, spec and available (= ready = status) count.
pub fn rs(name: &str, revision: i64, created: i64, spec: i32, available: i32) -> ReplicaSet {
    let mut ann = BTreeMap::new();
    ann.insert(
        "deployment.kubernetes.io/revision".to_string(),
        revision.to_string(),
    );
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(ann),
            creation_timestamp: Some(Time(ts(created))),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(spec),
            template: Some(template(&format!("app:{name}"))),
            ..Default::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas: available,
            available_replicas: Some(available),
            ready_replicas: Some(available),
            ..Default::default()
        }),
    }
}

pub fn set_annotation(meta: &mut ObjectMeta, k: &str, v: &str) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(k.into(), v.into());
}
