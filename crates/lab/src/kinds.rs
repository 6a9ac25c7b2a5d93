//! The resource types the lab serves, as data.
//!
//! One table drives discovery (legacy and aggregated), the OpenAPI documents, routing and the
//! per-type rules (which types carry `generation`, which have `status` and `scale`
//! subresources), so adding a type is one entry here.

/// One served resource type (a group-version-resource with its kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    pub categories: &'static [&'static str],
    /// Has a `status` subresource: writes to the main resource keep the old status and
    /// writes to `/status` keep the old spec (upstream registry strategies).
    pub status: bool,
    /// Has a `scale` subresource answering `autoscaling/v1 Scale`.
    pub scale: bool,
    /// `metadata.generation` is maintained (bumped on spec changes).
    pub generation: bool,
    /// An update (or a patch removing `metadata.resourceVersion`) without a resourceVersion
    /// is applied over whatever is stored; when false it is refused with 422 (upstream's
    /// `AllowUnconditionalUpdate`, false for PodDisruptionBudgets).
    pub unconditional_update: bool,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The `plural.group` form used in Status messages (`deployments.apps`, `pods`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The key this type's objects are stored under; unique across groups, except that a
    /// version served from another's storage (`events.k8s.io` Events, see
    /// `resources::conversion`) shares that type's key.
    pub fn store_key(&self) -> String {
        match crate::resources::conversion::storage_of(self) {
            Some(storage) => storage.store_key(),
            None => format!("{}/{}", self.group, self.plural),
        }
    }

    /// The kind as upstream writes it in 422 messages (`Deployment.apps`).
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// The path prefix of this group-version (`/api/v1`, `/apis/apps/v1`).
    pub fn gv_path(&self) -> String {
        gv_path(self.group, self.version)
    }
}

/// `/api/v1` for the core group, `/apis/{group}/{version}` otherwise.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

const fn rt(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
) -> ResourceType {
    ResourceType {
        group,
        version,
        kind,
        plural,
        singular,
        short_names,
        namespaced,
        categories: &[],
        status: false,
        scale: false,
        generation: false,
        unconditional_update: true,
    }
}

const fn with_status(mut r: ResourceType) -> ResourceType {
    r.status = true;
    r
}

const fn all(mut r: ResourceType) -> ResourceType {
    r.categories = &["all"];
    r
}

const fn workload(mut r: ResourceType) -> ResourceType {
    r.status = true;
    r.scale = true;
    r.generation = true;
    r.categories = &["all"];
    r
}

/// Every type the lab serves. Order is discovery order.
pub static RESOURCES: &[ResourceType] = &[
    with_status(rt(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        &["ns"],
        false,
    )),
    with_status(rt("", "v1", "Node", "nodes", "node", &["no"], false)),
    all(with_status(rt(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        &["po"],
        true,
    ))),
    all(with_status(rt(
        "",
        "v1",
        "Service",
        "services",
        "service",
        &["svc"],
        true,
    ))),
    rt(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        &["ep"],
        true,
    ),
    rt("", "v1", "Event", "events", "event", &["ev"], true),
    rt(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        &["cm"],
        true,
    ),
    rt("", "v1", "Secret", "secrets", "secret", &[], true),
    rt(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        &["sa"],
        true,
    ),
    with_status(rt(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        &["pvc"],
        true,
    )),
    with_status(rt(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        &["pv"],
        false,
    )),
    workload(rt(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        &["rc"],
        true,
    )),
    workload(rt(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        &["deploy"],
        true,
    )),
    workload(rt(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        &["rs"],
        true,
    )),
    workload(rt(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        &["sts"],
        true,
    )),
    ResourceType {
        scale: false,
        ..workload(rt(
            "apps",
            "v1",
            "DaemonSet",
            "daemonsets",
            "daemonset",
            &["ds"],
            true,
        ))
    },
    ResourceType {
        scale: false,
        ..workload(rt("batch", "v1", "Job", "jobs", "job", &[], true))
    },
    ResourceType {
        scale: false,
        ..workload(rt(
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            "cronjob",
            &["cj"],
            true,
        ))
    },
    ResourceType {
        generation: true,
        unconditional_update: false,
        ..with_status(rt(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            &["pdb"],
            true,
        ))
    },
    rt(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        &[],
        true,
    ),
    rt(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        &[],
        true,
    ),
    rt(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        "event",
        &["ev"],
        true,
    ),
    all(with_status(rt(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        &["hpa"],
        true,
    ))),
    ResourceType {
        generation: true,
        ..with_status(rt(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            "ingress",
            &["ing"],
            true,
        ))
    },
    rt(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        &[],
        false,
    ),
    rt(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        &[],
        false,
    ),
    rt(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        &[],
        true,
    ),
    rt(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        &[],
        true,
    ),
];

/// Looks up a type by group, version and plural name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks up a type by its `apiVersion` and `kind` (for ownerReferences and bodies).
pub fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// The group-versions served, in discovery order, without duplicates.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_found_by_its_group_version_and_plural() {
        for r in RESOURCES {
            assert_eq!(find(r.group, r.version, r.plural), Some(r));
            assert_eq!(find_kind(&r.api_version(), r.kind), Some(r));
        }
    }

    #[test]
    fn qualified_names_follow_upstream_status_messages() {
        let d = find("apps", "v1", "deployments").expect("deployments served");
        assert_eq!(d.qualified(), "deployments.apps");
        assert_eq!(d.qualified_kind(), "Deployment.apps");
        let p = find("", "v1", "pods").expect("pods served");
        assert_eq!(p.qualified(), "pods");
        assert_eq!(p.gv_path(), "/api/v1");
    }

    #[test]
    fn store_keys_are_unique_across_groups_but_views_share_their_storage() {
        let mut keys: Vec<String> = RESOURCES
            .iter()
            .filter(|r| crate::resources::conversion::storage_of(r).is_none())
            .map(|r| r.store_key())
            .collect();
        let stored = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), stored);
        let events_v1 = find("events.k8s.io", "v1", "events").expect("served");
        assert_eq!(events_v1.store_key(), "/events");
    }
}
