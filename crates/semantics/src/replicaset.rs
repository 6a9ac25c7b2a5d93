//! Building the Deployment's new ReplicaSet, as `sync.go` `getNewReplicaSet` does on creation.
//!
//! Name `<deployment>-<hash>`, labels and pod-template labels plus `pod-template-hash`, the
//! Deployment's selector plus the same label, a controller ownerReference, `minReadySeconds`
//! copied, the annotations of `SetNewReplicaSetAnnotations` with `exists = false`, and
//! `spec.replicas = NewRSNewReplicas` (fact sheet §2.2-2.3).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::access::{deployment_template, name};
use crate::revision::new_rs_annotations;
use crate::rolling::{RollingError, new_rs_new_replicas};
use crate::template::{POD_TEMPLATE_HASH_LABEL, compute_hash, with_hash_label};

/// The controller ownerReference a Deployment puts on its ReplicaSets.
pub fn controller_ref(d: &Deployment) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: name(&d.metadata).to_string(),
        uid: d.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// `SetNewReplicaSetAnnotations` applied to `rs` in place; returns whether anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let (ann, changed) = new_rs_annotations(d, rs, new_revision, exists);
    rs.metadata.annotations = Some(ann);
    changed
}

/// The new ReplicaSet for `d`, sized by `NewRSNewReplicas` against `old_rss`, before creation.
///
/// The hash mixes in `d.status.collisionCount`, so after an AlreadyExists conflict the caller
/// bumps the count and calls this again for a different name.
pub fn new_replica_set(
    d: &Deployment,
    old_rss: &[&ReplicaSet],
    new_revision: i64,
) -> Result<ReplicaSet, RollingError> {
    let template = deployment_template(d).cloned().unwrap_or_default();
    let collisions = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = compute_hash(&template, collisions);
    let labelled = with_hash_label(&template, &hash);
    let mut selector = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
    let mut rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", name(&d.metadata))),
            namespace: d.metadata.namespace.clone(),
            labels: labelled.metadata.as_ref().and_then(|m| m.labels.clone()),
            owner_references: Some(vec![controller_ref(d)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: d.spec.as_ref().and_then(|s| s.min_ready_seconds),
            selector,
            template: Some(labelled),
        }),
        status: None,
    };
    let mut all = old_rss.to_vec();
    all.push(&rs);
    let replicas = new_rs_new_replicas(d, &all, &rs)?;
    if let Some(spec) = rs.spec.as_mut() {
        spec.replicas = Some(replicas);
    }
    set_new_rs_annotations(d, &mut rs, new_revision, false);
    Ok(rs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::rs_replicas;
    use crate::revision::{CHANGE_CAUSE, DESIRED_REPLICAS, MAX_REPLICAS, REVISION};
    use crate::template::equal_ignore_hash;
    use crate::testutil::{deployment, rs, set_annotation};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    #[test]
    fn the_new_rs_carries_hash_labels_selector_owner_and_creation_size() {
        let mut d = deployment(
            "web",
            4,
            IntOrString::String("25%".into()),
            IntOrString::String("25%".into()),
        );
        d.metadata.uid = Some("uid-1".into());
        set_annotation(&mut d.metadata, CHANGE_CAUSE, "v2");
        if let Some(s) = d.spec.as_mut() {
            s.min_ready_seconds = Some(5);
        }
        let old = rs("web-old", 1, 0, 4, 4);
        let Ok(new) = new_replica_set(&d, &[&old], 2) else {
            panic!("new RS");
        };
        let hash = compute_hash(&d.spec.clone().unwrap_or_default().template, None);
        assert_eq!(
            new.metadata.name.as_deref(),
            Some(format!("web-{hash}").as_str())
        );
        let spec = new.spec.clone().unwrap_or_default();
        assert_eq!(
            spec.selector
                .match_labels
                .unwrap_or_default()
                .get(POD_TEMPLATE_HASH_LABEL),
            Some(&hash)
        );
        assert_eq!(
            new.metadata
                .labels
                .clone()
                .unwrap_or_default()
                .get("app")
                .map(String::as_str),
            Some("web")
        );
        assert_eq!(spec.min_ready_seconds, Some(5));
        assert_eq!(rs_replicas(&new), 1, "4 at 25% surge: room for one");
        let ann = new.metadata.annotations.unwrap_or_default();
        assert_eq!(ann.get(REVISION).map(String::as_str), Some("2"));
        assert_eq!(ann.get(CHANGE_CAUSE).map(String::as_str), Some("v2"));
        assert_eq!(ann.get(DESIRED_REPLICAS).map(String::as_str), Some("4"));
        assert_eq!(ann.get(MAX_REPLICAS).map(String::as_str), Some("5"));
        let owner = new.metadata.owner_references.unwrap_or_default();
        assert_eq!(owner[0].uid, "uid-1");
        assert_eq!(owner[0].controller, Some(true));
        let tmpl = spec.template.unwrap_or_default();
        assert!(equal_ignore_hash(
            &tmpl,
            &d.spec.unwrap_or_default().template
        ));
    }

    #[test]
    fn a_collision_count_gives_a_different_name() {
        let d = deployment("web", 1, IntOrString::Int(1), IntOrString::Int(0));
        let mut bumped = d.clone();
        bumped.status = Some(k8s_openapi::api::apps::v1::DeploymentStatus {
            collision_count: Some(1),
            ..Default::default()
        });
        let a = new_replica_set(&d, &[], 1).map(|r| r.metadata.name);
        let b = new_replica_set(&bumped, &[], 1).map(|r| r.metadata.name);
        assert!(a.is_ok() && b.is_ok());
        assert_ne!(a, b);
    }
}
