//! Strategic merge patch behaviour, with expectations from kubectl's wire bodies
//! (kubectl-api-surface.md §3), upstream's `patch_test.go` cases (transcribed onto real kinds)
//! and the Kubernetes docs' "Update API Objects in Place Using kubectl patch" examples.

use serde_json::{Value, json};
use strategic_patch::{PatchError, Schema, strategic_merge};

fn patch(resource: &str, original: Value, patch: Value) -> Value {
    strategic_merge(&original, &patch, &Schema::for_resource(resource))
        .unwrap_or_else(|e| panic!("patch failed: {e}"))
}

fn patch_err(resource: &str, original: Value, patch: Value) -> PatchError {
    match strategic_merge(&original, &patch, &Schema::for_resource(resource)) {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x", "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 1, "template": {
            "metadata": {"labels": {"app": "x"}},
            "spec": {"containers": containers}}}
    })
}

fn containers_of(deploy: &Value) -> &Value {
    &deploy["spec"]["template"]["spec"]["containers"]
}

#[test]
fn set_image_patch_replaces_only_the_named_container_image() {
    let original = deployment(json!([
        {"name": "c", "image": "img:1", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "proxy:1"}
    ]));
    let body = json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"c"},{"name":"sidecar"}],
        "containers":[{"image":"img:9","name":"c"}]}}}});
    let result = patch("deployments", original, body);
    assert_eq!(
        containers_of(&result),
        &json!([
            {"name": "c", "image": "img:9", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "proxy:1"}
        ])
    );
    assert_eq!(result["spec"]["replicas"], 1);
}

#[test]
fn set_image_body_with_a_single_name_order_keeps_other_containers_after_it() {
    let original =
        deployment(json!([{"name": "c", "image": "img:1"}, {"name": "d", "image": "d:1"}]));
    let body = json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"c"}],
        "containers":[{"image":"img:9","name":"c"}]}}}});
    let result = patch("deployments", original, body);
    assert_eq!(
        containers_of(&result),
        &json!([{"name": "c", "image": "img:9"}, {"name": "d", "image": "d:1"}])
    );
}

#[test]
fn rollout_pause_sets_paused_and_resume_null_deletes_it() {
    let paused = patch(
        "deployments",
        deployment(json!([])),
        json!({"spec":{"paused":true}}),
    );
    assert_eq!(paused["spec"]["paused"], true);
    let resumed = patch("deployments", paused, json!({"spec":{"paused":null}}));
    assert!(resumed["spec"].get("paused").is_none());
    assert_eq!(resumed["spec"]["replicas"], 1);
}

#[test]
fn rollout_restart_adds_the_annotation_and_keeps_labels() {
    let body = json!({"spec":{"template":{"metadata":{"annotations":{
        "kubectl.kubernetes.io/restartedAt":"2026-11-22T08:38:51Z"}}}}});
    let result = patch("deployments", deployment(json!([])), body);
    assert_eq!(
        result["spec"]["template"]["metadata"],
        json!({"labels": {"app": "x"},
               "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-22T08:38:51Z"}})
    );
}

#[test]
fn client_side_apply_three_way_patch_drops_ports_adds_env_and_sets_replicas() {
    let original = deployment(json!([
        {"name": "c", "image": "nginx:1", "ports": [{"containerPort": 80, "protocol": "TCP"}],
         "resources": {}, "terminationMessagePath": "/dev/termination-log"}
    ]));
    let body = json!({"metadata":{"annotations":{
            "kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}\n"}},
        "spec":{"replicas":3,"template":{"spec":{"$setElementOrder/containers":[{"name":"c"}],
            "containers":[{"env":[{"name":"A","value":"1"}],"image":"nginx:2","name":"c","ports":null}]}}}});
    let result = patch("deployments", original, body);
    assert_eq!(result["spec"]["replicas"], 3);
    assert_eq!(
        containers_of(&result),
        &json!([{"name": "c", "image": "nginx:2", "env": [{"name": "A", "value": "1"}],
                 "resources": {}, "terminationMessagePath": "/dev/termination-log"}])
    );
    assert_eq!(
        result["metadata"]["annotations"],
        json!({"deployment.kubernetes.io/revision": "1",
               "kubectl.kubernetes.io/last-applied-configuration": "{\"new\":1}\n"})
    );
}

#[test]
fn blue_green_selector_swap_changes_one_selector_key() {
    let svc = json!({"spec": {"selector": {"app": "web", "color": "blue"},
                               "ports": [{"port": 80, "targetPort": 8080}]}});
    let result = patch(
        "services",
        svc,
        json!({"spec":{"selector":{"color":"green"}}}),
    );
    assert_eq!(
        result["spec"]["selector"],
        json!({"app": "web", "color": "green"})
    );
}

#[test]
fn docs_example_adds_a_second_container_to_the_list() {
    // kubernetes.io "Update API Objects in Place Using kubectl patch", patch-file-containers.
    let original = deployment(json!([{"name": "patch-demo-ctr", "image": "nginx"}]));
    let body = json!({"spec":{"template":{"spec":{"containers":[
        {"name":"patch-demo-ctr-2","image":"redis"}]}}}});
    let result = patch("deployments", original, body);
    let names: Vec<&str> = containers_of(&result)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"patch-demo-ctr") && names.contains(&"patch-demo-ctr-2"));
}

#[test]
fn docs_example_tolerations_have_no_strategy_and_are_replaced() {
    let original = json!({"spec": {"tolerations": [{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}]}});
    let body =
        json!({"spec":{"tolerations":[{"effect":"NoSchedule","key":"disktype","value":"ssd"}]}});
    let result = patch("pods", original, body);
    assert_eq!(
        result["spec"]["tolerations"],
        json!([{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}])
    );
}

#[test]
fn docs_example_retain_keys_clears_rolling_update_when_switching_to_recreate() {
    let original = json!({"spec": {"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
    let body = json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}});
    let result = patch("deployments", original, body);
    assert_eq!(result["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_rejects_a_patched_field_it_does_not_list() {
    let err = patch_err(
        "deployments",
        json!({"spec": {}}),
        json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":1}}}}),
    );
    assert!(matches!(err, PatchError::NotInRetainKeys { .. }), "{err}");
}

#[test]
fn null_in_a_nested_map_deletes_only_that_key() {
    // patch_test.go "delete field from nested map".
    let original = json!({"metadata": {"labels": {"key1": "1", "key2": "1", "other": "a"}}});
    let result = patch(
        "configmaps",
        original,
        json!({"metadata":{"labels":{"key2":null}}}),
    );
    assert_eq!(
        result["metadata"]["labels"],
        json!({"key1": "1", "other": "a"})
    );
}

#[test]
fn nulls_inside_a_new_map_are_dropped_not_stored() {
    // patch_test.go "defined null values should propagate removing original fields".
    let result = patch(
        "configmaps",
        json!({"data": {"a": "1"}}),
        json!({"metadata":{"labels":{"x":"1","y":null}}}),
    );
    assert_eq!(result["metadata"], json!({"labels": {"x": "1"}}));
}

#[test]
fn map_patch_replace_directive_replaces_the_whole_map() {
    let original = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
    let body = json!({"metadata":{"labels":{"$patch":"replace","c":"3"}}});
    let result = patch("pods", original, body);
    assert_eq!(result["metadata"]["labels"], json!({"c": "3"}));
}

#[test]
fn map_patch_delete_directive_removes_the_map() {
    let original = json!({"metadata": {"name": "p", "labels": {"a": "1"}}});
    let body = json!({"metadata":{"labels":{"$patch":"delete"}}});
    let result = patch("pods", original, body);
    assert_eq!(result["metadata"], json!({"name": "p"}));
}

#[test]
fn delete_directive_in_a_merged_list_removes_the_matching_item() {
    // patch_test.go "delete all maps from merging list", on container env.
    let original = json!({"spec": {"containers": [{"name": "c", "env": [
        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}});
    let body = json!({"spec":{"containers":[{"name":"c","env":[{"name":"A","$patch":"delete"}]}]}});
    let result = patch("pods", original, body);
    assert_eq!(
        result["spec"]["containers"][0]["env"],
        json!([{"name": "B", "value": "2"}])
    );
}

#[test]
fn replace_directive_as_a_list_element_replaces_the_whole_list() {
    let original = json!({"spec": {"volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]}});
    let body = json!({"spec":{"volumes":[{"name":"c","emptyDir":{}},{"$patch":"replace"}]}});
    let result = patch("pods", original, body);
    assert_eq!(
        result["spec"]["volumes"],
        json!([{"name": "c", "emptyDir": {}}])
    );
}

#[test]
fn nested_patch_with_deletion_of_a_missing_item_keeps_server_only_items_last() {
    // patch_test.go "nested patch merge with empty list".
    let original = json!({"spec": {"containers": [{"name": "hello2"}]}});
    let body = json!({"spec":{"$setElementOrder/containers":[{"name":"hello"},{"name":"doesntexist"}],
        "containers":[{"name":"hello"},{"$patch":"delete","name":"doesntexist"}]}});
    let result = patch("pods", original, body);
    assert_eq!(
        result["spec"]["containers"],
        json!([{"name": "hello"}, {"name": "hello2"}])
    );
}

#[test]
fn set_element_order_places_new_items_where_the_order_says() {
    // patch_test.go "merge lists of maps".
    let original = json!({"spec": {"containers": [
        {"name": "1", "image": "a"}, {"name": "2", "image": "2", "tty": true}]}});
    let body = json!({"spec":{
        "$setElementOrder/containers":[{"name":"4"},{"name":"1"},{"name":"2"},{"name":"3"}],
        "containers":[{"name":"4","image":"4"},{"name":"3","image":"3"}]}});
    let result = patch("pods", original, body);
    assert_eq!(
        result["spec"]["containers"],
        json!([{"name": "4", "image": "4"}, {"name": "1", "image": "a"},
               {"name": "2", "image": "2", "tty": true}, {"name": "3", "image": "3"}])
    );
}

#[test]
fn set_element_order_keeps_server_only_items_in_place() {
    // patch_test.go "add field to map in merging list with conflict".
    let original =
        json!({"spec": {"containers": [{"name": "1", "tty": true}, {"name": "3", "image": "2"}]}});
    let body = json!({"spec":{"$setElementOrder/containers":[{"name":"1"},{"name":"2"}],
        "containers":[{"name":"1","image":"1"},{"name":"2","image":"2"}]}});
    let result = patch("pods", original, body);
    assert_eq!(
        result["spec"]["containers"],
        json!([{"name": "1", "tty": true, "image": "1"}, {"name": "2", "image": "2"},
               {"name": "3", "image": "2"}])
    );
}

#[test]
fn set_element_order_that_contradicts_the_patch_list_is_rejected() {
    let body = json!({"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
        "containers":[{"name":"b"},{"name":"a"}]}});
    let err = patch_err("pods", json!({}), body);
    assert!(
        matches!(err, PatchError::SetElementOrderMismatch { .. }),
        "{err}"
    );
}

#[test]
fn primitive_merge_list_is_unioned() {
    let original = json!({"metadata": {"finalizers": ["a", "b"]}});
    let result = patch(
        "configmaps",
        original,
        json!({"metadata":{"finalizers":["b","c"]}}),
    );
    let list = result["metadata"]["finalizers"].as_array().cloned();
    let mut list = list.unwrap_or_default();
    list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    assert_eq!(list, vec![json!("a"), json!("b"), json!("c")]);
}

#[test]
fn delete_from_primitive_list_removes_values_and_their_duplicates() {
    // patch_test.go "delete all duplicate items in lists of scalars", on finalizers.
    let original = json!({"metadata": {"finalizers": ["1", "2", "3", "3", "4"]}});
    let body = json!({"metadata":{"$setElementOrder/finalizers":["1","2"],
        "$deleteFromPrimitiveList/finalizers":["3"]}});
    let result = patch("pods", original, body);
    assert_eq!(result["metadata"]["finalizers"], json!(["1", "2", "4"]));
}

#[test]
fn add_and_delete_in_a_primitive_list_in_one_patch() {
    // patch_test.go "add and delete items in lists of scalars" (two-way patch).
    let original = json!({"metadata": {"finalizers": ["1", "2", "3"]}});
    let body = json!({"metadata":{"$setElementOrder/finalizers":["1","2","4"],
        "$deleteFromPrimitiveList/finalizers":["3"], "finalizers":["4"]}});
    let result = patch("pods", original, body);
    assert_eq!(result["metadata"]["finalizers"], json!(["1", "2", "4"]));
}

#[test]
fn lists_without_a_strategy_are_replaced() {
    let original = json!({"spec": {"containers": [{"name": "c", "args": ["a", "b"]}]}});
    let body = json!({"spec":{"containers":[{"name":"c","args":["z"]}]}});
    let result = patch("pods", original, body);
    assert_eq!(result["spec"]["containers"][0]["args"], json!(["z"]));
}

#[test]
fn directives_never_appear_in_the_result() {
    let body = json!({"metadata":{"labels":{"$patch":"replace","a":"1"}},
        "spec":{"$setElementOrder/containers":[{"name":"c"}],
                "containers":[{"name":"c","env":[{"name":"A","$patch":"delete"}]}]}});
    let result = patch("pods", json!({}), body);
    let text = result.to_string();
    assert!(!text.contains('$'), "{text}");
    assert_eq!(
        result,
        json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "env": []}]}})
    );
}
