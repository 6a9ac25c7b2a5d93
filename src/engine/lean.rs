//! Decoding the objects following watches without their managedFields.
//!
//! Every watch event carries the whole object, and managedFields are often the larger half
//! of it (a pod of 4.5 KiB carries 3 KiB of them). Decoded by k8s-openapi they become maps
//! of maps of `serde_json::Value`, allocated, moved and freed for every event of a large
//! rollout, only to be dropped unread: that was a tenth of what following cost. [`Lean`]
//! decodes the same object with its metadata's managedFields skipped by the parser.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::runtime::watcher::Event;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// An object decoded without its managedFields; what the watches of [`super::watch`] ask
/// kube for in place of `K`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lean<K>(pub K);

/// A kind made of metadata, spec and status, the three parts following reads.
pub trait Parts: Sized {
    type Spec: DeserializeOwned;
    type Status: DeserializeOwned;
    fn assemble(
        metadata: ObjectMeta,
        spec: Option<Self::Spec>,
        status: Option<Self::Status>,
    ) -> Self;
}

macro_rules! parts {
    ($kind:ty, $spec:ty, $status:ty) => {
        impl Parts for $kind {
            type Spec = $spec;
            type Status = $status;
            fn assemble(
                metadata: ObjectMeta,
                spec: Option<$spec>,
                status: Option<$status>,
            ) -> Self {
                Self {
                    metadata,
                    spec,
                    status,
                }
            }
        }
    };
}

parts!(Pod, PodSpec, PodStatus);
parts!(ReplicaSet, ReplicaSetSpec, ReplicaSetStatus);
parts!(Deployment, DeploymentSpec, DeploymentStatus);

/// `ObjectMeta` as sent, but for managedFields: an unknown field to serde, skipped
/// without being built.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl From<Meta> for ObjectMeta {
    fn from(m: Meta) -> Self {
        ObjectMeta {
            annotations: m.annotations,
            creation_timestamp: m.creation_timestamp,
            deletion_grace_period_seconds: m.deletion_grace_period_seconds,
            deletion_timestamp: m.deletion_timestamp,
            finalizers: m.finalizers,
            generate_name: m.generate_name,
            generation: m.generation,
            labels: m.labels,
            managed_fields: None,
            name: m.name,
            namespace: m.namespace,
            owner_references: m.owner_references,
            resource_version: m.resource_version,
            self_link: m.self_link,
            uid: m.uid,
        }
    }
}

/// The object as sent: apiVersion and kind are skipped (the watch's type says them).
#[derive(Deserialize)]
#[serde(bound = "")]
struct Wire<K: Parts> {
    #[serde(default)]
    metadata: Option<Meta>,
    #[serde(default)]
    spec: Option<K::Spec>,
    #[serde(default)]
    status: Option<K::Status>,
}

impl<'de, K: Parts> Deserialize<'de> for Lean<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::<K>::deserialize(d)?;
        let metadata = w.metadata.map(ObjectMeta::from).unwrap_or_default();
        Ok(Lean(K::assemble(metadata, w.spec, w.status)))
    }
}

impl<K: k8s_openapi::Resource> k8s_openapi::Resource for Lean<K> {
    const API_VERSION: &'static str = K::API_VERSION;
    const GROUP: &'static str = K::GROUP;
    const KIND: &'static str = K::KIND;
    const VERSION: &'static str = K::VERSION;
    const URL_PATH_SEGMENT: &'static str = K::URL_PATH_SEGMENT;
    type Scope = K::Scope;
}

impl<K: k8s_openapi::Metadata<Ty = ObjectMeta>> k8s_openapi::Metadata for Lean<K> {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        self.0.metadata()
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        self.0.metadata_mut()
    }
}

/// A watch event of lean objects as one of the objects themselves.
pub fn unwrap<K>(event: Event<Lean<K>>) -> Event<K> {
    match event {
        Event::Apply(o) => Event::Apply(o.0),
        Event::Delete(o) => Event::Delete(o.0),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(o.0),
        Event::InitDone => Event::InitDone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_decodes_as_k8s_openapi_decodes_it_but_for_its_managed_fields() {
        let json = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-1", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                "generateName": "web-", "generation": 1, "selfLink": "/x",
                "labels": {"app": "web"}, "annotations": {"a": "b"},
                "creationTimestamp": "2026-12-07T06:59:09Z",
                "deletionTimestamp": "2026-12-07T07:00:09Z", "deletionGracePeriodSeconds": 30,
                "finalizers": ["f"],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-abc", "uid": "rs1", "controller": true}],
                "managedFields": [{"manager": "kubelet", "operation": "Update",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:phase": {}}}}]
            },
            "spec": {"containers": [{"name": "main", "image": "busybox"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.1"}
        });
        let full: Pod = serde_json::from_value(json.clone()).expect("k8s-openapi decodes it");
        assert!(full.metadata.managed_fields.is_some());
        let lean: Lean<Pod> = serde_json::from_str(&json.to_string()).expect("lean decodes it");
        let mut expected = full;
        expected.metadata.managed_fields = None;
        assert_eq!(lean.0, expected);
    }

    #[test]
    fn a_replica_set_and_a_deployment_keep_their_spec_and_status() {
        let rs = serde_json::json!({
            "metadata": {"name": "web-abc", "managedFields": []},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 3, "readyReplicas": 2}
        });
        let lean: Lean<ReplicaSet> = serde_json::from_value(rs.clone()).expect("decodes");
        let mut full: ReplicaSet = serde_json::from_value(rs).expect("decodes");
        full.metadata.managed_fields = None;
        assert_eq!(lean.0, full);
        let d = serde_json::json!({
            "metadata": {"name": "web", "generation": 4},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}}},
            "status": {"observedGeneration": 4, "updatedReplicas": 3}
        });
        let lean: Lean<Deployment> = serde_json::from_value(d.clone()).expect("decodes");
        assert_eq!(
            lean.0,
            serde_json::from_value::<Deployment>(d).expect("decodes")
        );
    }

    #[test]
    fn the_watch_path_is_the_kinds_own() {
        use kube::Resource;
        assert_eq!(
            Lean::<Pod>::url_path(&(), Some("ns")),
            Pod::url_path(&(), Some("ns"))
        );
        assert_eq!(
            Lean::<Deployment>::url_path(&(), Some("ns")),
            "/apis/apps/v1/namespaces/ns/deployments"
        );
    }
}
