//! Server-side apply and field ownership. Expected `fieldsV1` encodings and conflict messages
//! are upstream's (what `kubectl get -o yaml --show-managed-fields` and a 409 from a real
//! apiserver show), not this crate's output.

use serde_json::{Value, json};
use strategic_patch::{
    ApplyError, Conflict, Schema, apply, conflict_message, manager_name, record_update,
};

const T1: &str = "2026-01-01T00:00:00Z";
const T2: &str = "2026-01-01T00:05:00Z";

fn schema() -> Schema {
    Schema::for_resource("deployments")
}

fn config(replicas: u32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}}
    })
}

fn applied(live: Option<&Value>, body: &Value, manager: &str, force: bool, now: &str) -> Value {
    apply(live, body, manager, force, &schema(), now).unwrap_or_else(|e| panic!("apply: {e}"))
}

fn conflicts_of(result: Result<Value, ApplyError>) -> Vec<Conflict> {
    match result {
        Err(ApplyError::Conflict { conflicts }) => conflicts,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn managed(object: &Value) -> &Value {
    &object["metadata"]["managedFields"]
}

#[test]
fn first_apply_creates_the_object_and_records_the_managers_fields() {
    let result = applied(None, &config(2, "img:1"), "kubectl", false, T1);
    assert_eq!(result["spec"]["replicas"], 2);
    assert_eq!(
        managed(&result),
        &json!([{
            "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:selector": {},
                    "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}
            }
        }])
    );
}

#[test]
fn applying_identical_config_changes_nothing_not_even_the_time() {
    let first = applied(None, &config(2, "img:1"), "kubectl", false, T1);
    let second = applied(Some(&first), &config(2, "img:1"), "kubectl", false, T2);
    assert_eq!(second, first);
}

#[test]
fn applying_a_changed_field_set_updates_the_time() {
    let first = applied(None, &config(2, "img:1"), "kubectl", false, T1);
    let mut body = config(2, "img:1");
    body["metadata"]["labels"]["tier"] = json!("front");
    let second = applied(Some(&first), &body, "kubectl", false, T2);
    assert_eq!(managed(&second)[0]["time"], T2);
    assert_eq!(second["metadata"]["labels"]["tier"], "front");
}

#[test]
fn reapplying_without_a_field_removes_it_from_the_object() {
    let mut body = config(2, "img:1");
    body["metadata"]["labels"]["tier"] = json!("front");
    body["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "c", "image": "img:1"}, {"name": "sidecar", "image": "proxy:1"}]);
    let first = applied(None, &body, "kubectl", false, T1);

    let mut smaller = config(2, "img:1");
    smaller["spec"]
        .as_object_mut()
        .map(|s| s.remove("replicas"));
    let second = applied(Some(&first), &smaller, "kubectl", false, T2);
    assert_eq!(second["metadata"]["labels"], json!({"app": "web"}));
    assert!(second["spec"].get("replicas").is_none());
    assert_eq!(
        second["spec"]["template"]["spec"]["containers"],
        json!([{"name": "c", "image": "img:1"}])
    );
    let fields = &managed(&second)[0]["fieldsV1"]["f:spec"];
    assert!(fields.get("f:replicas").is_none());
}

#[test]
fn a_dropped_field_that_another_manager_also_applies_is_kept() {
    let first = applied(None, &config(2, "img:1"), "kubectl", false, T1);
    let shared = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"replicas": 2}});
    let both = applied(Some(&first), &shared, "ci", false, T1);
    let mut without = config(2, "img:1");
    without["spec"]
        .as_object_mut()
        .map(|s| s.remove("replicas"));
    let result = applied(Some(&both), &without, "kubectl", false, T2);
    assert_eq!(result["spec"]["replicas"], 2);
}

#[test]
fn apply_conflicting_with_a_client_side_apply_update_lists_the_field() {
    let created = record_update(
        None,
        &config(2, "img:1"),
        "kubectl-client-side-apply",
        &schema(),
        T1,
    );
    let result = apply(
        Some(&created),
        &config(3, "img:1"),
        "kubectl",
        false,
        &schema(),
        T2,
    );
    let conflicts = conflicts_of(result);
    assert_eq!(
        conflicts,
        vec![Conflict {
            manager: "kubectl-client-side-apply".into(),
            operation: "Update".into(),
            api_version: "apps/v1".into(),
            field: ".spec.replicas".into(),
        }]
    );
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn conflicting_container_fields_render_with_their_merge_key() {
    let created = record_update(None, &config(2, "img:1"), "kubectl-create", &schema(), T1);
    let conflicts = conflicts_of(apply(
        Some(&created),
        &config(2, "img:2"),
        "kubectl",
        false,
        &schema(),
        T2,
    ));
    let fields: Vec<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![".spec.template.spec.containers[name=\"c\"].image"]
    );
}

#[test]
fn several_conflicts_are_grouped_by_manager_in_the_message() {
    let created = record_update(None, &config(2, "img:1"), "kubectl-create", &schema(), T1);
    let conflicts = conflicts_of(apply(
        Some(&created),
        &config(5, "img:2"),
        "kubectl",
        false,
        &schema(),
        T2,
    ));
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-create\" using apps/v1:\n\
         - .spec.replicas\n\
         - .spec.template.spec.containers[name=\"c\"].image"
    );
}

#[test]
fn an_update_by_another_manager_makes_a_later_apply_conflict() {
    let first = applied(None, &config(2, "img:1"), "kubectl", false, T1);
    let mut scaled = first.clone();
    scaled["spec"]["replicas"] = json!(5);
    let scaled = record_update(Some(&first), &scaled, "hpa-controller", &schema(), T2);
    let kubectl_fields = &managed(&scaled)[1]["fieldsV1"]["f:spec"];
    assert!(kubectl_fields.get("f:replicas").is_none(), "{scaled}");

    let conflicts = conflicts_of(apply(
        Some(&scaled),
        &config(2, "img:1"),
        "kubectl",
        false,
        &schema(),
        T2,
    ));
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].manager, "hpa-controller");
    assert_eq!(conflicts[0].field, ".spec.replicas");
}

#[test]
fn applying_the_live_value_of_a_field_owned_by_another_manager_shares_it() {
    let created = record_update(None, &config(2, "img:1"), "kubectl-create", &schema(), T1);
    let result = applied(Some(&created), &config(2, "img:1"), "kubectl", false, T2);
    let entries = managed(&result).as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2);
    for entry in entries {
        assert!(
            entry["fieldsV1"]["f:spec"].get("f:replicas").is_some(),
            "{entry}"
        );
    }
}

#[test]
fn force_moves_the_conflicting_field_to_the_applier() {
    let created = record_update(
        None,
        &config(2, "img:1"),
        "kubectl-client-side-apply",
        &schema(),
        T1,
    );
    let result = applied(Some(&created), &config(3, "img:1"), "kubectl", true, T2);
    assert_eq!(result["spec"]["replicas"], 3);
    let entries = managed(&result);
    assert_eq!(entries[0]["manager"], "kubectl");
    assert_eq!(entries[0]["operation"], "Apply");
    assert!(entries[0]["fieldsV1"]["f:spec"].get("f:replicas").is_some());
    assert_eq!(entries[1]["manager"], "kubectl-client-side-apply");
    assert!(entries[1]["fieldsV1"]["f:spec"].get("f:replicas").is_none());
    assert!(entries[1]["fieldsV1"]["f:spec"].get("f:template").is_some());
}

#[test]
fn record_update_on_create_owns_every_field_the_writer_set() {
    let created = record_update(None, &config(1, "img:1"), "kubectl-create", &schema(), T1);
    let entry = &managed(&created)[0];
    assert_eq!(entry["manager"], "kubectl-create");
    assert_eq!(entry["operation"], "Update");
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["time"], T1);
    assert_eq!(entry["fieldsV1"]["f:spec"]["f:selector"], json!({}));
}

#[test]
fn record_update_without_changes_adds_no_entry_and_keeps_times() {
    let created = record_update(None, &config(1, "img:1"), "kubectl-create", &schema(), T1);
    let same = record_update(Some(&created), &created, "kubectl-rollout", &schema(), T2);
    assert_eq!(same, created);
}

#[test]
fn container_ports_are_keyed_by_port_and_defaulted_protocol() {
    let mut body = config(1, "img:1");
    body["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80}]);
    let result = applied(None, &body, "kubectl", false, T1);
    let container = &managed(&result)[0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
        ["k:{\"name\":\"c\"}"];
    assert_eq!(
        container["f:ports"],
        json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}})
    );
}

#[test]
fn status_and_system_metadata_are_not_owned_or_applied() {
    let mut body = config(1, "img:1");
    body["status"] = json!({"replicas": 9});
    body["metadata"]["uid"] = json!("u-1");
    let result = applied(None, &body, "kubectl", false, T1);
    assert!(result.get("status").is_none());
    assert!(result["metadata"].get("uid").is_none());
    let fields = &managed(&result)[0]["fieldsV1"];
    assert!(fields.get("f:status").is_none());
    assert!(fields["f:metadata"].get("f:uid").is_none());
    assert!(fields["f:metadata"].get("f:name").is_none());
}

#[test]
fn a_service_selector_is_applied_as_one_value() {
    let svc = |selector: Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"selector": selector, "ports": [{"port": 80}]}})
    };
    let schema = Schema::for_resource("services");
    let first = apply(
        None,
        &svc(json!({"app": "web", "color": "blue"})),
        "ci",
        false,
        &schema,
        T1,
    );
    let first = first.unwrap_or_else(|e| panic!("{e}"));
    let second = apply(
        Some(&first),
        &svc(json!({"color": "green"})),
        "ci",
        false,
        &schema,
        T2,
    );
    let second = second.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second["spec"]["selector"], json!({"color": "green"}));
    assert_eq!(
        managed(&second)[0]["fieldsV1"]["f:spec"]["f:ports"],
        json!({"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}})
    );
}

#[test]
fn apply_of_a_non_object_is_rejected_and_odd_live_objects_do_not_panic() {
    assert_eq!(
        apply(None, &json!([1]), "m", false, &schema(), T1),
        Err(ApplyError::NotAnObject)
    );
    let odd_lives = [
        json!(null),
        json!({"metadata": {"managedFields": "x"}}),
        json!({"metadata": {"managedFields": [{"manager": 1}, {"manager": "a", "operation": "Update",
            "fieldsV1": {"f:spec": {"k:notjson": {}, "v:": {}, "i:x": {}, "f:replicas": {}}}}]}}),
        json!({"spec": {"template": {"spec": {"containers": [1, {"name": "c"}, {"name": "c"}]}}}}),
    ];
    for live in &odd_lives {
        let _ = apply(Some(live), &config(1, "img:1"), "m", false, &schema(), T1);
        let _ = apply(Some(live), &config(1, "img:1"), "m", true, &schema(), T1);
        let _ = record_update(Some(live), &config(1, "img:1"), "m", &schema(), T1);
    }
}

#[test]
fn manager_names_come_from_field_manager_or_the_user_agent_prefix() {
    assert_eq!(
        manager_name(Some("kubectl-set"), Some("kubectl/v1.33.0")),
        "kubectl-set"
    );
    assert_eq!(
        manager_name(None, Some("kubectl/v1.33.0 (linux/amd64) kubernetes/abc")),
        "kubectl"
    );
    assert_eq!(manager_name(Some(""), Some("kube-rs/5.0.0")), "kube-rs");
    assert_eq!(manager_name(None, None), "");
}
