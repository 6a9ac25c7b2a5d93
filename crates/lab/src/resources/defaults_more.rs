//! Defaults of the kinds the lab stores without running a controller for them
//! (StatefulSets, DaemonSets, ReplicationControllers, Jobs, CronJobs, volume claims and
//! volumes), as upstream's `SetDefaults_*` of `apps/v1`, `batch/v1` and `core/v1` set
//! them, so what `kubectl get -o yaml` shows matches a real cluster.

use serde_json::{Map, Value, json};

use super::defaults::{obj_mut_in, template_pod_spec};
use super::json::{default_key, default_str, obj_mut};

/// Applies the defaults of `resource`, if it is one of these kinds.
pub fn apply(resource: &str, obj: &mut Value) {
    match resource {
        "statefulsets" => stateful_set(obj),
        "daemonsets" => daemon_set(obj),
        "replicationcontrollers" => replication_controller(obj),
        "jobs" => {
            job_selector(obj);
            if let Some(spec) = obj_mut(obj, &["spec"]) {
                job_spec(spec);
            }
        }
        "cronjobs" => cron_job(obj),
        "persistentvolumeclaims" => claim(obj),
        "persistentvolumes" => volume(obj),
        _ => {}
    }
}

fn stateful_set(obj: &mut Value) {
    let Some(spec) = obj_mut(obj, &["spec"]) else {
        return;
    };
    default_key(spec, "replicas", json!(1));
    default_str(spec, "podManagementPolicy", "OrderedReady");
    default_key(spec, "revisionHistoryLimit", json!(10));
    if let Some(strategy) = obj_mut_in(spec, "updateStrategy") {
        default_str(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
            && let Some(rolling) = obj_mut_in(strategy, "rollingUpdate")
        {
            default_key(rolling, "partition", json!(0));
        }
    }
    if let Some(policy) = obj_mut_in(spec, "persistentVolumeClaimRetentionPolicy") {
        default_str(policy, "whenDeleted", "Retain");
        default_str(policy, "whenScaled", "Retain");
    }
    template_pod_spec(spec);
}

fn daemon_set(obj: &mut Value) {
    let Some(spec) = obj_mut(obj, &["spec"]) else {
        return;
    };
    default_key(spec, "revisionHistoryLimit", json!(10));
    if let Some(strategy) = obj_mut_in(spec, "updateStrategy") {
        default_str(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
            && let Some(rolling) = obj_mut_in(strategy, "rollingUpdate")
        {
            default_key(rolling, "maxUnavailable", json!(1));
            default_key(rolling, "maxSurge", json!(0));
        }
    }
    template_pod_spec(spec);
}

/// SetDefaults_ReplicationController: one replica, and selector and labels taken from the
/// template's labels when unset.
fn replication_controller(obj: &mut Value) {
    let template_labels = obj
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    if let Some(labels) = template_labels.clone()
        && let Some(meta) = obj_mut(obj, &["metadata"])
        && meta
            .get("labels")
            .is_none_or(|l| l.as_object().is_none_or(Map::is_empty))
    {
        meta.insert("labels".to_string(), labels);
    }
    let Some(spec) = obj_mut(obj, &["spec"]) else {
        return;
    };
    default_key(spec, "replicas", json!(1));
    if let Some(labels) = template_labels
        && spec
            .get("selector")
            .is_none_or(|s| s.as_object().is_none_or(Map::is_empty))
    {
        spec.insert("selector".to_string(), labels);
    }
    template_pod_spec(spec);
}

/// upstream's Job `generateSelector` (on create, unless `manualSelector`): the pods carry the
/// Job's uid and name as labels, and the selector picks them by uid.
fn job_selector(obj: &mut Value) {
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
    let has_selector = obj.pointer("/spec/selector").is_some_and(|s| !s.is_null());
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if manual || has_selector || uid.is_empty() {
        return;
    }
    if let Some(labels) = obj_mut(obj, &["spec", "template", "metadata", "labels"]) {
        for (key, value) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels.insert(key.to_string(), json!(value));
        }
    }
    if let Some(spec) = obj_mut(obj, &["spec"]) {
        spec.insert(
            "selector".to_string(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
}

/// SetDefaults_Job: one completion and one pod at a time when neither is set, six retries,
/// non-indexed completions, not suspended, and failed pods replaced once terminated.
fn job_spec(spec: &mut Map<String, Value>) {
    let unset = |v: Option<&Value>| v.is_none_or(Value::is_null);
    if unset(spec.get("completions")) && unset(spec.get("parallelism")) {
        spec.insert("completions".to_string(), json!(1));
        spec.insert("parallelism".to_string(), json!(1));
    }
    default_key(spec, "parallelism", json!(1));
    default_key(spec, "backoffLimit", json!(6));
    default_str(spec, "completionMode", "NonIndexed");
    default_key(spec, "suspend", json!(false));
    default_str(spec, "podReplacementPolicy", "TerminatingOrFailed");
    template_pod_spec(spec);
}

fn cron_job(obj: &mut Value) {
    let Some(spec) = obj_mut(obj, &["spec"]) else {
        return;
    };
    default_str(spec, "concurrencyPolicy", "Allow");
    default_key(spec, "suspend", json!(false));
    default_key(spec, "successfulJobsHistoryLimit", json!(3));
    default_key(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(job) = spec
        .get_mut("jobTemplate")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        job_spec(job);
    }
}

/// A claim is `Filesystem` and, with nothing to bind it, stays `Pending`.
fn claim(obj: &mut Value) {
    if let Some(spec) = obj_mut(obj, &["spec"]) {
        default_str(spec, "volumeMode", "Filesystem");
    }
    if let Some(status) = obj_mut_in_root(obj, "status") {
        default_str(status, "phase", "Pending");
    }
}

/// A volume is retained when released, `Filesystem`, and `Pending` until a binder sees it.
fn volume(obj: &mut Value) {
    if let Some(spec) = obj_mut(obj, &["spec"]) {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default_str(spec, "volumeMode", "Filesystem");
    }
    if let Some(status) = obj_mut_in_root(obj, "status") {
        default_str(status, "phase", "Pending");
    }
}

fn obj_mut_in_root<'a>(obj: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    obj.as_object_mut().and_then(|o| obj_mut_in(o, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_without_completions_or_parallelism_runs_one_pod_once() {
        let mut job = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}});
        apply("jobs", &mut job);
        assert_eq!(job["spec"]["completions"], 1);
        assert_eq!(job["spec"]["parallelism"], 1);
        assert_eq!(job["spec"]["backoffLimit"], 6);
        assert_eq!(job["spec"]["completionMode"], "NonIndexed");
        assert!(
            job["spec"].get("selector").is_none(),
            "no uid yet, no selector"
        );
        assert_eq!(
            job["spec"]["template"]["spec"]["restartPolicy"], "Always",
            "the pod template gets the pod spec defaults"
        );
    }

    #[test]
    fn a_created_job_selects_its_pods_by_its_uid() {
        let mut job =
            json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"spec": {}}}});
        apply("jobs", &mut job);
        assert_eq!(
            job["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["job-name"],
            "pi"
        );
    }

    #[test]
    fn a_job_with_parallelism_only_keeps_completions_unset() {
        let mut job = json!({"spec": {"parallelism": 3, "template": {}}});
        apply("jobs", &mut job);
        assert!(job["spec"].get("completions").is_none());
        assert_eq!(job["spec"]["parallelism"], 3);
    }

    #[test]
    fn a_replication_controller_takes_its_selector_and_labels_from_the_template() {
        let mut rc = json!({"metadata": {"name": "r"}, "spec": {"template": {"metadata": {"labels": {"app": "r"}}}}});
        apply("replicationcontrollers", &mut rc);
        assert_eq!(rc["spec"]["selector"], json!({"app": "r"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "r"}));
        assert_eq!(rc["spec"]["replicas"], 1);
    }

    #[test]
    fn stateful_and_daemon_sets_roll_updates_by_default() {
        let mut sts = json!({"spec": {}});
        apply("statefulsets", &mut sts);
        assert_eq!(
            sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
            0
        );
        assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
        let mut ds = json!({"spec": {"updateStrategy": {"type": "OnDelete"}}});
        apply("daemonsets", &mut ds);
        assert!(ds["spec"]["updateStrategy"].get("rollingUpdate").is_none());
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
    }

    #[test]
    fn claims_and_volumes_wait_pending() {
        let mut pvc = json!({"spec": {"accessModes": ["ReadWriteOnce"]}});
        apply("persistentvolumeclaims", &mut pvc);
        assert_eq!(pvc["status"]["phase"], "Pending");
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        let mut pv = json!({"spec": {}});
        apply("persistentvolumes", &mut pv);
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    }
}
