//! Table tests of the diagnosis rules. Every snapshot is built from k8s-openapi structs the way
//! the API server would return them, and every expected message is an upstream message shape
//! (kubelet, scheduler, ReplicaSet controller), not something read back from our own output.

mod containers;
mod readiness;
mod spread;
mod workload;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, DeploymentStrategy,
    ReplicaSet, ReplicaSetSpec, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Event, ExecAction, ObjectReference, Pod, PodCondition,
    PodSpec, PodStatus, PodTemplateSpec, Probe, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::super::snapshot::Snapshot;
use super::{Diagnosis, Thresholds, diagnose};

/// `secs` after a fixed epoch.
pub fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

/// The clock every test reads.
pub fn now() -> Timestamp {
    t(100)
}

pub const NEW_RS: &str = "rs-new";
pub const OLD_RS: &str = "rs-old";
pub const POD: &str = "inference-7d9f8-abcde";

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), "inference".to_string())])
}

/// The seed's readiness probe: `exec cat /tmp/ready`, every second.
pub fn seed_probe() -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec!["cat".into(), "/tmp/ready".into()]),
        }),
        initial_delay_seconds: Some(0),
        timeout_seconds: Some(1),
        period_seconds: Some(1),
        success_threshold: Some(1),
        failure_threshold: Some(3),
        ..Default::default()
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// One container "server" with a GPU, 512Mi of memory and the seed's probe.
pub fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "server".into(),
                image: Some(image.into()),
                readiness_probe: Some(seed_probe()),
                resources: Some(ResourceRequirements {
                    limits: Some(quantities(&[("memory", "512Mi"), ("nvidia.com/gpu", "1")])),
                    requests: Some(quantities(&[("memory", "256Mi"), ("nvidia.com/gpu", "1")])),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

fn replica_set(name: &str, uid: &str, image: &str) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ml".into()),
            uid: Some(uid.into()),
            creation_timestamp: Some(Time(t(if uid == NEW_RS { 10 } else { 0 }))),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..Default::default()
            },
            template: Some(template(image)),
            ..Default::default()
        }),
        status: None,
    }
}

/// Deployment "inference" in namespace "ml" rolling from `inference:v2` to `image`, one
/// replica, maxSurge 1 / maxUnavailable 0, with its two ReplicaSets and no pods yet.
pub fn rollout(image: &str) -> Snapshot {
    let deployment = Deployment {
        metadata: ObjectMeta {
            name: Some("inference".into()),
            namespace: Some("ml".into()),
            uid: Some("deploy".into()),
            generation: Some(2),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: template(image),
            progress_deadline_seconds: Some(600),
            ..Default::default()
        }),
        status: None,
    };
    Snapshot {
        changed: None,
        memo: Default::default(),
        deployment: deployment.into(),
        replica_sets: vec![
            replica_set("inference-6c5b4", OLD_RS, "inference:v2").into(),
            replica_set("inference-7d9f8", NEW_RS, image).into(),
        ],
        pods: Vec::new(),
        events: Vec::new(),
    }
}

/// The seed's v3 rollout.
pub fn v3() -> Snapshot {
    rollout("inference:v3")
}

/// Sets the Deployment's `maxSurge`.
pub fn with_surge(mut snap: Snapshot, surge: i32) -> Snapshot {
    if let Some(ru) = Arc::make_mut(&mut snap.deployment)
        .spec
        .as_mut()
        .and_then(|s| s.strategy.as_mut())
        .and_then(|s| s.rolling_update.as_mut())
    {
        ru.max_surge = Some(IntOrString::Int(surge));
        ru.max_unavailable = Some(IntOrString::Int(1));
    }
    snap
}

/// Adds a Deployment condition.
pub fn with_condition(
    mut snap: Snapshot,
    type_: &str,
    status: &str,
    reason: &str,
    msg: &str,
) -> Snapshot {
    let st = Arc::make_mut(&mut snap.deployment)
        .status
        .get_or_insert_with(DeploymentStatus::default);
    st.conditions
        .get_or_insert_with(Vec::new)
        .push(DeploymentCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(msg.into()),
            last_transition_time: Some(Time(t(90))),
            last_update_time: Some(Time(t(90))),
        });
    snap
}

/// A pod of the ReplicaSet with uid `rs`, its container "server" in no state yet.
pub struct PodB(pub Pod);

pub fn pod(name: &str, rs: &str) -> PodB {
    let image = if rs == NEW_RS {
        "inference:v3"
    } else {
        "inference:v2"
    };
    PodB(Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ml".into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(Time(t(10))),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: rs.into(),
                uid: rs.into(),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: template(image).spec,
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "server".into(),
                image: image.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    })
}

/// The new ReplicaSet's pod `POD`.
pub fn new_pod() -> PodB {
    pod(POD, NEW_RS)
}

impl PodB {
    fn status(&mut self) -> &mut PodStatus {
        self.0.status.get_or_insert_with(PodStatus::default)
    }

    fn server(&mut self) -> &mut ContainerStatus {
        let list = self
            .status()
            .container_statuses
            .get_or_insert_with(Vec::new);
        if list.is_empty() {
            list.push(ContainerStatus {
                name: "server".into(),
                ..Default::default()
            });
        }
        &mut list[0]
    }

    pub fn uid(&self) -> String {
        self.0.metadata.uid.clone().unwrap_or_default()
    }

    pub fn waiting(mut self, reason: &str, message: &str) -> Self {
        self.server().state = Some(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: (!message.is_empty()).then(|| message.into()),
            }),
            ..Default::default()
        });
        self
    }

    /// Running since `started`, with `ready` as its readiness.
    pub fn running(mut self, started: i64, ready: bool) -> Self {
        self.status().phase = Some("Running".into());
        self.status().start_time = Some(Time(t(started)));
        let cs = self.server();
        cs.ready = ready;
        cs.started = Some(true);
        cs.state = Some(ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(t(started))),
            }),
            ..Default::default()
        });
        let ready = if ready { "True" } else { "False" };
        self.condition("Ready", ready, None, None, started)
    }

    pub fn last_terminated(mut self, reason: &str, exit_code: i32, finished: i64) -> Self {
        self.server().last_state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: Some(reason.into()),
                exit_code,
                finished_at: Some(Time(t(finished))),
                ..Default::default()
            }),
            ..Default::default()
        });
        self
    }

    pub fn restarts(mut self, n: i32) -> Self {
        self.server().restart_count = n;
        self
    }

    pub fn condition(
        mut self,
        type_: &str,
        status: &str,
        reason: Option<&str>,
        message: Option<&str>,
        since: i64,
    ) -> Self {
        let conds = self.status().conditions.get_or_insert_with(Vec::new);
        conds.retain(|c| c.type_ != type_);
        conds.push(PodCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.map(Into::into),
            message: message.map(Into::into),
            last_transition_time: Some(Time(t(since))),
            ..Default::default()
        });
        self
    }

    /// Pending with PodScheduled=False/Unschedulable since `since`, and no container statuses.
    pub fn unschedulable(mut self, since: i64, message: &str) -> Self {
        self.status().container_statuses = None;
        self.condition(
            "PodScheduled",
            "False",
            Some("Unschedulable"),
            Some(message),
            since,
        )
    }

    pub fn container(mut self, f: impl FnOnce(&mut Container)) -> Self {
        if let Some(c) = self.0.spec.as_mut().and_then(|s| s.containers.first_mut()) {
            f(c);
        }
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}

/// An event about the object with `uid`, `count` times between `first` and `last`.
pub fn event(
    uid: &str,
    type_: &str,
    reason: &str,
    message: &str,
    count: i32,
    first: i64,
    last: i64,
) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{uid}.{reason}.{first}")),
            ..Default::default()
        },
        involved_object: ObjectReference {
            uid: Some(uid.into()),
            kind: Some("Pod".into()),
            field_path: Some("spec.containers{server}".into()),
            ..Default::default()
        },
        type_: Some(type_.into()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        count: Some(count),
        first_timestamp: Some(Time(t(first))),
        last_timestamp: Some(Time(t(last))),
        ..Default::default()
    }
}

/// `snap` with `pods` and `events` added.
pub fn with(mut snap: Snapshot, pods: Vec<Pod>, events: Vec<Event>) -> Snapshot {
    snap.pods.extend(pods.into_iter().map(Into::into));
    snap.events.extend(events.into_iter().map(Into::into));
    snap
}

/// The diagnosis at `now()` with the default thresholds.
pub fn run(snap: &Snapshot) -> Option<Diagnosis> {
    diagnose(snap, &Thresholds::default(), now())
}
