//! Per-kind list rules: which lists merge, and by which key.
//!
//! Upstream reads these from Go struct tags (`patchStrategy:"merge" patchMergeKey:"..."`) for
//! strategic merge patch and from the OpenAPI `x-kubernetes-list-type`/`x-kubernetes-list-map-keys`
//! extensions for server-side apply. Both are mirrored here as a table of field paths, because the
//! key depends on where a list sits (container `ports` merge by `containerPort`, Service
//! `spec.ports` by `port`), not on the field name alone. Paths skip list items: the container
//! `env` list of a Deployment is `spec.template.spec.containers.env`. Any list not in the table is
//! atomic (replaced wholesale), as upstream treats lists without a strategy.

/// How a list merges. Lists not described by a [`Schema`] are [`ListKind::Atomic`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// No strategy: a patch or apply replaces the whole list.
    Atomic,
    /// `patchStrategy:"merge"` on a list of scalars (`metadata.finalizers`): a set, unioned.
    Set,
    /// A list of objects merged by key. SMP uses one `patchMergeKey`; server-side apply may key on
    /// several fields (`containerPort` and `protocol` for container ports).
    Map {
        smp_key: &'static str,
        ssa_keys: &'static [&'static str],
    },
}

impl ListKind {
    const fn keyed(key: &'static [&'static str; 1]) -> Self {
        ListKind::Map {
            smp_key: key[0],
            ssa_keys: key,
        }
    }
}

/// Default values of SSA key fields, used when an item omits them (the OpenAPI default of
/// `protocol` is `TCP`; upstream applies it before building `k:{...}` keys).
pub(crate) fn ssa_key_default(field: &str) -> Option<&'static str> {
    (field == "protocol").then_some("TCP")
}

type Rule = (&'static [&'static str], ListKind);

const NAME: ListKind = ListKind::keyed(&["name"]);
const TYPE: ListKind = ListKind::keyed(&["type"]);
const IP: ListKind = ListKind::keyed(&["ip"]);

/// ObjectMeta lists; they apply at `metadata` and at every pod template's `metadata`.
const OBJECT_META: &[Rule] = &[
    (&["ownerReferences"], ListKind::keyed(&["uid"])),
    (&["finalizers"], ListKind::Set),
];

/// PodSpec lists (k8s.io/api/core/v1 types.go). `tolerations` has no strategy.
const POD_SPEC: &[Rule] = &[
    (&["containers"], NAME),
    (&["initContainers"], NAME),
    (&["ephemeralContainers"], NAME),
    (&["volumes"], NAME),
    (&["imagePullSecrets"], NAME),
    (&["hostAliases"], IP),
    (&["schedulingGates"], NAME),
    (&["resourceClaims"], NAME),
    (
        &["topologySpreadConstraints"],
        ListKind::Map {
            smp_key: "topologyKey",
            ssa_keys: &["topologyKey", "whenUnsatisfiable"],
        },
    ),
];

/// Container lists; the same struct tags hold for init and ephemeral containers.
const CONTAINER: &[Rule] = &[
    (&["env"], NAME),
    (
        &["ports"],
        ListKind::Map {
            smp_key: "containerPort",
            ssa_keys: &["containerPort", "protocol"],
        },
    ),
    (&["volumeMounts"], ListKind::keyed(&["mountPath"])),
    (&["volumeDevices"], ListKind::keyed(&["devicePath"])),
    (&["resizePolicy"], ListKind::keyed(&["resourceName"])),
];

const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// The list rules of one kind, keyed by field path (list items skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    rules: Vec<(Vec<&'static str>, ListKind)>,
    /// Maps that server-side apply treats as one value (`+structType=atomic` on LabelSelector,
    /// `+mapType=atomic` on a Service selector): owned and replaced whole.
    atomic_maps: Vec<Vec<&'static str>>,
}

impl Schema {
    /// The rules for a resource by its plural name (`deployments`). Unknown resources get only
    /// the ObjectMeta rules, so their other lists are replaced wholesale.
    pub fn for_resource(resource: &str) -> Schema {
        let mut schema = Schema::default();
        schema.add_object_meta(&["metadata"]);
        match resource {
            "pods" => {
                schema.add_pod_spec(&["spec"]);
                schema.add(&["status", "conditions"], TYPE);
                schema.add(&["status", "podIPs"], IP);
                schema.add(&["status", "hostIPs"], IP);
            }
            "deployments" | "replicasets" => {
                schema.atomic_maps.push(vec!["spec", "selector"]);
                schema.add_object_meta(&["spec", "template", "metadata"]);
                schema.add_pod_spec(&["spec", "template", "spec"]);
                schema.add(&["status", "conditions"], TYPE);
            }
            // Kinds the lab stores without a controller: their pod templates merge as a
            // Deployment's do.
            "statefulsets" | "daemonsets" | "jobs" | "replicationcontrollers" => {
                schema.atomic_maps.push(vec!["spec", "selector"]);
                schema.add_object_meta(&["spec", "template", "metadata"]);
                schema.add_pod_spec(&["spec", "template", "spec"]);
                schema.add(&["status", "conditions"], TYPE);
            }
            "cronjobs" => {
                let template = ["spec", "jobTemplate", "spec", "template"];
                schema.add_object_meta(&["spec", "jobTemplate", "metadata"]);
                schema.add_object_meta(&[template.as_slice(), &["metadata"]].concat());
                schema.add_pod_spec(&[template.as_slice(), &["spec"]].concat());
            }
            "services" => {
                let port = ListKind::Map {
                    smp_key: "port",
                    ssa_keys: &["port", "protocol"],
                };
                schema.add(&["spec", "ports"], port);
                schema.atomic_maps.push(vec!["spec", "selector"]);
                schema.add(&["status", "conditions"], TYPE);
            }
            "nodes" => {
                schema.add(&["spec", "podCIDRs"], ListKind::Set);
                schema.add(&["status", "conditions"], TYPE);
                schema.add(&["status", "addresses"], TYPE);
            }
            "poddisruptionbudgets" => {
                schema.atomic_maps.push(vec!["spec", "selector"]);
                schema.add(&["status", "conditions"], TYPE);
            }
            "namespaces" | "horizontalpodautoscalers" => {
                schema.add(&["status", "conditions"], TYPE);
            }
            // endpoints, configmaps, secrets, events, leases and endpointslices have no merged
            // lists outside ObjectMeta.
            _ => {}
        }
        schema
    }

    /// The rules for a kind, given as `Kind`, `group/version/Kind` or `version/Kind`.
    pub fn for_kind(api_version_kind: &str) -> Schema {
        let kind = api_version_kind
            .rsplit('/')
            .next()
            .unwrap_or(api_version_kind);
        let resource = match kind {
            "Pod" => "pods",
            "Deployment" => "deployments",
            "ReplicaSet" => "replicasets",
            "Service" => "services",
            "Endpoints" => "endpoints",
            "ConfigMap" => "configmaps",
            "Secret" => "secrets",
            "Namespace" => "namespaces",
            "Node" => "nodes",
            "Event" => "events",
            "PodDisruptionBudget" => "poddisruptionbudgets",
            "Lease" => "leases",
            "HorizontalPodAutoscaler" => "horizontalpodautoscalers",
            "EndpointSlice" => "endpointslices",
            "StatefulSet" => "statefulsets",
            "DaemonSet" => "daemonsets",
            "Job" => "jobs",
            "CronJob" => "cronjobs",
            "ReplicationController" => "replicationcontrollers",
            _ => "",
        };
        Schema::for_resource(resource)
    }

    /// How the list at `path` merges (path of field names, list items skipped).
    pub fn list_kind<S: AsRef<str>>(&self, path: &[S]) -> ListKind {
        self.rules
            .iter()
            .find(|(rule, _)| {
                rule.len() == path.len() && rule.iter().zip(path).all(|(r, p)| *r == p.as_ref())
            })
            .map_or(ListKind::Atomic, |(_, kind)| *kind)
    }

    /// Whether server-side apply treats the map at `path` as a single value.
    pub fn is_atomic_map<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.atomic_maps.iter().any(|rule| {
            rule.len() == path.len() && rule.iter().zip(path).all(|(r, p)| *r == p.as_ref())
        })
    }

    fn add(&mut self, path: &[&'static str], kind: ListKind) {
        self.rules.push((path.to_vec(), kind));
    }

    fn add_all(&mut self, prefix: &[&'static str], rules: &[Rule]) {
        for (path, kind) in rules {
            let full: Vec<&'static str> = prefix.iter().chain(path.iter()).copied().collect();
            self.add(&full, *kind);
        }
    }

    fn add_object_meta(&mut self, prefix: &[&'static str]) {
        self.add_all(prefix, OBJECT_META);
    }

    fn add_pod_spec(&mut self, prefix: &[&'static str]) {
        self.add_all(prefix, POD_SPEC);
        for list in CONTAINER_LISTS {
            let container: Vec<&'static str> = prefix.iter().copied().chain([*list]).collect();
            self.add_all(&container, CONTAINER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ports_and_service_ports_use_different_merge_keys() {
        let deploy = Schema::for_resource("deployments");
        let ports = ["spec", "template", "spec", "containers", "ports"];
        assert!(matches!(
            deploy.list_kind(&ports),
            ListKind::Map {
                smp_key: "containerPort",
                ..
            }
        ));
        let svc = Schema::for_kind("v1/Service");
        assert!(matches!(
            svc.list_kind(&["spec", "ports"]),
            ListKind::Map {
                smp_key: "port",
                ..
            }
        ));
    }

    #[test]
    fn unknown_kinds_keep_only_the_metadata_rules() {
        let schema = Schema::for_kind("example.com/v1/Widget");
        assert_eq!(schema.list_kind(&["metadata", "finalizers"]), ListKind::Set);
        assert_eq!(schema.list_kind(&["spec", "items"]), ListKind::Atomic);
    }

    #[test]
    fn tolerations_have_no_strategy_and_are_replaced() {
        let schema = Schema::for_resource("pods");
        assert_eq!(schema.list_kind(&["spec", "tolerations"]), ListKind::Atomic);
    }
}
