//! The basic checks of the kinds the lab stores without a controller (StatefulSets,
//! DaemonSets, ReplicationControllers, Jobs, CronJobs, volume claims and volumes, role
//! bindings), following `pkg/apis/{apps,batch,core,rbac}/validation`: the mistakes a person
//! makes first (a Job left with `restartPolicy: Always`, a claim without a size, a binding to
//! an unknown kind of role), with upstream's field paths and messages. Not every upstream
//! rule is here.

use serde_json::Value;

use super::super::json::{arr_at, at, obj_at, str_at};
use super::workloads::{nonnegative, pod_spec, replicated_spec, selector_immutable};
use super::{Cause, gofmt};

/// The checks for `resource`; none for kinds without any.
pub fn validate(resource: &str, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    match resource {
        "statefulsets" => {
            let mut causes = replicated_spec(obj, "statefulset");
            causes.extend(selector_immutable(obj, old));
            causes
        }
        "daemonsets" => {
            let mut causes = replicated_spec(obj, "daemonset");
            causes.extend(selector_immutable(obj, old));
            causes
        }
        "replicationcontrollers" => {
            let mut causes = nonnegative(obj, "replicas");
            let spec = at(obj, &["spec", "template", "spec"]).unwrap_or(&Value::Null);
            causes.extend(pod_spec(spec, "spec.template.spec", &["Always"]));
            causes
        }
        "jobs" => job_spec(at(obj, &["spec"]).unwrap_or(&Value::Null), "spec"),
        "cronjobs" => cron_job(obj),
        "persistentvolumeclaims" => claim(obj),
        "persistentvolumes" => volume(obj),
        "rolebindings" => role_ref(obj, &["Role", "ClusterRole"]),
        "clusterrolebindings" => role_ref(obj, &["ClusterRole"]),
        _ => Vec::new(),
    }
}

/// upstream ValidateJobSpec: counts not negative, and pods that finish (`OnFailure` or
/// `Never`, never the `Always` that pod defaulting leaves when unset).
fn job_spec(spec: &Value, path: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    for key in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
    ] {
        if let Some(n) = spec.get(key).and_then(Value::as_i64).filter(|n| *n < 0) {
            causes.push(Cause::invalid(
                format!("{path}.{key}"),
                &n.to_string(),
                super::NEGATIVE,
            ));
        }
    }
    let pod = at(spec, &["template", "spec"]).unwrap_or(&Value::Null);
    causes.extend(pod_spec(
        pod,
        &format!("{path}.template.spec"),
        &["OnFailure", "Never"],
    ));
    causes
}

fn cron_job(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if str_at(obj, &["spec", "schedule"]).is_empty() {
        causes.push(Cause::required("spec.schedule", ""));
    }
    let policy = str_at(obj, &["spec", "concurrencyPolicy"]);
    let policies = ["Allow", "Forbid", "Replace"];
    if !policies.contains(&policy) {
        causes.push(Cause::not_supported(
            "spec.concurrencyPolicy",
            &gofmt::quote(policy),
            &policies,
        ));
    }
    let job = at(obj, &["spec", "jobTemplate", "spec"]).unwrap_or(&Value::Null);
    causes.extend(job_spec(job, "spec.jobTemplate.spec"));
    causes
}

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

fn access_modes(modes: &[Value], path: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    if modes.is_empty() {
        causes.push(Cause::required(path, "at least 1 access mode is required"));
    }
    for mode in modes {
        let mode = mode.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&mode) {
            causes.push(Cause::not_supported(
                path,
                &gofmt::quote(mode),
                &ACCESS_MODES,
            ));
        }
    }
    causes
}

/// upstream ValidatePersistentVolumeClaimSpec: access modes and a storage request.
fn claim(obj: &Value) -> Vec<Cause> {
    let mut causes = access_modes(arr_at(obj, &["spec", "accessModes"]), "spec.accessModes");
    let requested =
        obj_at(obj, &["spec", "resources", "requests"]).is_some_and(|r| r.contains_key("storage"));
    if !requested {
        causes.push(Cause::required("spec.resources[storage]", ""));
    }
    causes
}

/// upstream ValidatePersistentVolume: access modes, a capacity, and one volume source.
fn volume(obj: &Value) -> Vec<Cause> {
    let mut causes = access_modes(arr_at(obj, &["spec", "accessModes"]), "spec.accessModes");
    let capacity = obj_at(obj, &["spec", "capacity"]);
    if capacity.is_none_or(|c| c.is_empty()) {
        causes.push(Cause::required("spec.capacity", ""));
    }
    const NOT_SOURCES: [&str; 9] = [
        "accessModes",
        "capacity",
        "claimRef",
        "mountOptions",
        "nodeAffinity",
        "persistentVolumeReclaimPolicy",
        "storageClassName",
        "volumeMode",
        "volumeAttributesClassName",
    ];
    let sources = obj_at(obj, &["spec"]).map_or(0, |s| {
        s.iter()
            .filter(|(k, v)| !NOT_SOURCES.contains(&k.as_str()) && !v.is_null())
            .count()
    });
    if sources == 0 {
        causes.push(Cause::required("spec", "must specify a volume type"));
    }
    causes
}

/// upstream ValidateRoleBinding / ValidateClusterRoleBinding: the role it names.
fn role_ref(obj: &Value, kinds: &[&str]) -> Vec<Cause> {
    let mut causes = Vec::new();
    let group = str_at(obj, &["roleRef", "apiGroup"]);
    if group != "rbac.authorization.k8s.io" {
        causes.push(Cause::not_supported(
            "roleRef.apiGroup",
            &gofmt::quote(group),
            &["rbac.authorization.k8s.io"],
        ));
    }
    let kind = str_at(obj, &["roleRef", "kind"]);
    if !kinds.contains(&kind) {
        causes.push(Cause::not_supported(
            "roleRef.kind",
            &gofmt::quote(kind),
            kinds,
        ));
    }
    if str_at(obj, &["roleRef", "name"]).is_empty() {
        causes.push(Cause::required("roleRef.name", ""));
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(causes: &[Cause]) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn a_job_must_not_restart_its_pods_always() {
        let job = json!({"spec": {"template": {"spec": {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "containers": [{"name": "c", "image": "busybox:1.36"}]}}}});
        assert_eq!(
            messages(&validate("jobs", &job, None)),
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
            ]
        );
    }

    #[test]
    fn a_cron_job_needs_a_schedule() {
        let cj = json!({"spec": {"concurrencyPolicy": "Allow", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "dnsPolicy": "ClusterFirst", "containers": [{"name": "c", "image": "x:1"}]}}}}}});
        assert_eq!(
            messages(&validate("cronjobs", &cj, None)),
            ["spec.schedule: Required value"]
        );
    }

    #[test]
    fn a_claim_needs_an_access_mode_and_a_size() {
        let pvc = json!({"spec": {}});
        assert_eq!(
            messages(&validate("persistentvolumeclaims", &pvc, None)),
            [
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value"
            ]
        );
    }

    #[test]
    fn a_volume_needs_a_source() {
        let pv =
            json!({"spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}});
        assert_eq!(
            messages(&validate("persistentvolumes", &pv, None)),
            ["spec: Required value: must specify a volume type"]
        );
        let mut with_source = pv.clone();
        with_source["spec"]["hostPath"] = json!({"path": "/tmp"});
        assert!(validate("persistentvolumes", &with_source, None).is_empty());
    }

    #[test]
    fn a_cluster_role_binding_may_only_name_a_cluster_role() {
        let b = json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}});
        assert_eq!(
            messages(&validate("clusterrolebindings", &b, None)),
            ["roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""]
        );
        assert!(validate("rolebindings", &b, None).is_empty());
    }

    #[test]
    fn a_stateful_set_selector_must_match_its_template() {
        let sts = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {
            "metadata": {"labels": {"app": "b"}},
            "spec": {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "containers": [{"name": "c", "image": "x:1"}]}}}});
        let causes = messages(&validate("statefulsets", &sts, None));
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert!(causes[0].contains("`selector` does not match template `labels`"));
    }
}
