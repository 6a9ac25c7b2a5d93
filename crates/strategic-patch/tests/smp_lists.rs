//! Each merge-keyed list of the built-in kinds merges by its upstream `patchMergeKey`, and bad
//! patches fail with this layer's errors instead of panicking.

use serde_json::{Value, json};
use strategic_patch::{PatchError, Schema, strategic_merge};

/// Builds `{a: {b: ... list}}` from a dotted path (list items skipped, so `containers` is
/// wrapped in a one-container list).
fn nest(path: &str, list: Value) -> Value {
    let mut value = list;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate().rev() {
        let inside_container = i > 0 && parts[i - 1] == "containers";
        value = json!({ *part: value });
        if inside_container {
            value = json!([merge_name(value)]);
        }
    }
    value
}

fn merge_name(mut item: Value) -> Value {
    if let Some(map) = item.as_object_mut() {
        map.insert("name".into(), json!("c"));
    }
    item
}

fn get<'v>(value: &'v Value, path: &str) -> &'v Value {
    let mut value = value;
    for part in path.split('.') {
        value = &value[part];
        if part == "containers" {
            value = &value[0];
        }
    }
    value
}

/// (resource, list path, existing item, patch item merging into it, expected merged item)
fn cases() -> Vec<(&'static str, &'static str, Value, Value, Value)> {
    vec![
        (
            "pods",
            "spec.containers.env",
            json!({"name": "A", "value": "1"}),
            json!({"name": "A", "value": "2"}),
            json!({"name": "A", "value": "2"}),
        ),
        (
            "deployments",
            "spec.template.spec.containers.ports",
            json!({"containerPort": 80, "name": "http"}),
            json!({"containerPort": 80, "protocol": "TCP"}),
            json!({"containerPort": 80, "name": "http", "protocol": "TCP"}),
        ),
        (
            "replicasets",
            "spec.template.spec.containers.volumeMounts",
            json!({"mountPath": "/d", "name": "v"}),
            json!({"mountPath": "/d", "readOnly": true}),
            json!({"mountPath": "/d", "name": "v", "readOnly": true}),
        ),
        (
            "pods",
            "spec.containers.volumeDevices",
            json!({"devicePath": "/dev/x", "name": "v"}),
            json!({"devicePath": "/dev/x", "name": "w"}),
            json!({"devicePath": "/dev/x", "name": "w"}),
        ),
        (
            "pods",
            "spec.containers.resizePolicy",
            json!({"resourceName": "cpu", "restartPolicy": "NotRequired"}),
            json!({"resourceName": "cpu", "restartPolicy": "RestartContainer"}),
            json!({"resourceName": "cpu", "restartPolicy": "RestartContainer"}),
        ),
        (
            "pods",
            "spec.volumes",
            json!({"name": "v", "emptyDir": {}}),
            json!({"name": "v", "emptyDir": {"medium": "Memory"}}),
            json!({"name": "v", "emptyDir": {"medium": "Memory"}}),
        ),
        (
            "pods",
            "spec.imagePullSecrets",
            json!({"name": "s"}),
            json!({"name": "s"}),
            json!({"name": "s"}),
        ),
        (
            "pods",
            "spec.hostAliases",
            json!({"ip": "1.2.3.4", "hostnames": ["a"]}),
            json!({"ip": "1.2.3.4", "hostnames": ["b"]}),
            json!({"ip": "1.2.3.4", "hostnames": ["b"]}),
        ),
        (
            "pods",
            "spec.topologySpreadConstraints",
            json!({"topologyKey": "zone", "maxSkew": 1}),
            json!({"topologyKey": "zone", "maxSkew": 2}),
            json!({"topologyKey": "zone", "maxSkew": 2}),
        ),
        (
            "pods",
            "metadata.ownerReferences",
            json!({"uid": "u1", "name": "rs", "controller": true}),
            json!({"uid": "u1", "blockOwnerDeletion": true}),
            json!({"uid": "u1", "name": "rs", "controller": true, "blockOwnerDeletion": true}),
        ),
        (
            "services",
            "spec.ports",
            json!({"port": 80, "targetPort": 8080}),
            json!({"port": 80, "targetPort": 9090}),
            json!({"port": 80, "targetPort": 9090}),
        ),
        (
            "deployments",
            "status.conditions",
            json!({"type": "Available", "status": "False"}),
            json!({"type": "Available", "status": "True"}),
            json!({"type": "Available", "status": "True"}),
        ),
        (
            "replicasets",
            "status.conditions",
            json!({"type": "ReplicaFailure", "status": "True"}),
            json!({"type": "ReplicaFailure", "reason": "x"}),
            json!({"type": "ReplicaFailure", "status": "True", "reason": "x"}),
        ),
        (
            "pods",
            "status.conditions",
            json!({"type": "Ready", "status": "False"}),
            json!({"type": "Ready", "status": "True"}),
            json!({"type": "Ready", "status": "True"}),
        ),
        (
            "nodes",
            "status.conditions",
            json!({"type": "Ready", "status": "False"}),
            json!({"type": "Ready", "status": "True"}),
            json!({"type": "Ready", "status": "True"}),
        ),
        (
            "nodes",
            "status.addresses",
            json!({"type": "InternalIP", "address": "10.0.0.1"}),
            json!({"type": "InternalIP", "address": "10.0.0.2"}),
            json!({"type": "InternalIP", "address": "10.0.0.2"}),
        ),
    ]
}

#[test]
fn each_merge_keyed_list_merges_a_matching_item_and_keeps_the_others() {
    for (resource, path, existing, patch_item, expected) in cases() {
        let bystander = {
            let mut other = existing.clone();
            if let Some(map) = other.as_object_mut()
                && let Some((key, _)) = patch_item.as_object().and_then(|m| m.iter().next())
            {
                map.insert(key.clone(), json!("other-key"));
            }
            other
        };
        let original = nest(path, json!([existing, bystander.clone()]));
        let patch = nest(path, json!([patch_item]));
        let schema = Schema::for_resource(resource);
        let result = strategic_merge(&original, &patch, &schema)
            .unwrap_or_else(|e| panic!("{resource} {path}: {e}"));
        let list = get(&result, path);
        let items = list.as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 2, "{resource} {path}: {list}");
        assert!(items.contains(&expected), "{resource} {path}: {list}");
        assert!(items.contains(&bystander), "{resource} {path}: {list}");
    }
}

#[test]
fn lists_without_strategy_are_replaced_wholesale() {
    let replaced = [
        (
            "pods",
            "status.containerStatuses",
            json!({"name": "c", "ready": false}),
            json!({"name": "c", "ready": true}),
        ),
        (
            "pods",
            "spec.tolerations",
            json!({"key": "a"}),
            json!({"key": "b"}),
        ),
        (
            "endpoints",
            "subsets",
            json!({"addresses": [{"ip": "1.1.1.1"}]}),
            json!({"addresses": [{"ip": "2.2.2.2"}]}),
        ),
        (
            "endpointslices",
            "endpoints",
            json!({"addresses": ["1.1.1.1"]}),
            json!({"addresses": ["2.2.2.2"]}),
        ),
        (
            "nodes",
            "spec.taints",
            json!({"key": "a", "effect": "NoSchedule"}),
            json!({"key": "b", "effect": "NoSchedule"}),
        ),
    ];
    for (resource, path, old, new) in replaced {
        let original = nest(path, json!([old]));
        let result = strategic_merge(
            &original,
            &nest(path, json!([new.clone()])),
            &Schema::for_resource(resource),
        )
        .unwrap_or_else(|e| panic!("{resource} {path}: {e}"));
        assert_eq!(get(&result, path), &json!([new]), "{resource} {path}");
    }
}

#[test]
fn a_patch_that_is_not_an_object_is_rejected() {
    let schema = Schema::for_resource("pods");
    for body in [json!([]), json!("x"), json!(null), json!(3)] {
        assert_eq!(
            strategic_merge(&json!({}), &body, &schema),
            Err(PatchError::NotAnObject)
        );
    }
}

#[test]
fn a_merged_list_element_without_its_merge_key_is_rejected() {
    let err = strategic_merge(
        &json!({"spec": {"containers": [{"name": "c"}]}}),
        &json!({"spec": {"containers": [{"image": "x"}]}}),
        &Schema::for_resource("pods"),
    );
    assert_eq!(
        err,
        Err(PatchError::MissingMergeKey {
            path: "spec.containers".into(),
            key: "name".into()
        })
    );
}

#[test]
fn unknown_patch_directive_values_are_rejected() {
    let schema = Schema::for_resource("pods");
    let on_map = strategic_merge(
        &json!({}),
        &json!({"metadata": {"$patch": "explode"}}),
        &schema,
    );
    assert!(
        matches!(on_map, Err(PatchError::UnknownPatchDirective { .. })),
        "{on_map:?}"
    );
    let in_list = strategic_merge(
        &json!({}),
        &json!({"spec": {"containers": [{"name": "c", "$patch": "explode"}]}}),
        &schema,
    );
    assert!(
        matches!(in_list, Err(PatchError::UnknownPatchDirective { .. })),
        "{in_list:?}"
    );
    let merge = strategic_merge(
        &json!({}),
        &json!({"spec": {"volumes": [{"$patch": "merge"}]}}),
        &schema,
    );
    assert!(
        matches!(merge, Err(PatchError::ListMergeDirective { .. })),
        "{merge:?}"
    );
}

#[test]
fn unknown_dollar_keys_and_malformed_directives_are_rejected() {
    let schema = Schema::for_resource("pods");
    let bad = [
        json!({"$bogus": 1}),
        json!({"spec": {"$setElementOrder/containers": "c"}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
        json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
        json!({"spec": {"$setElementOrder/": []}}),
    ];
    for body in bad {
        assert!(
            strategic_merge(&json!({}), &body, &schema).is_err(),
            "{body}"
        );
    }
}

#[test]
fn mixing_objects_and_scalars_in_a_merged_list_is_an_error() {
    let result = strategic_merge(
        &json!({"spec": {"containers": ["c"]}}),
        &json!({"spec": {"containers": [{"name": "c"}]}}),
        &Schema::for_resource("pods"),
    );
    assert!(
        matches!(result, Err(PatchError::MixedListElements { .. })),
        "{result:?}"
    );
}

#[test]
fn odd_inputs_never_panic() {
    let schema = Schema::for_resource("deployments");
    let originals = [
        json!(null),
        json!([1]),
        json!({"spec": 3}),
        json!({"spec": {"template": []}}),
        json!({"metadata": {"finalizers": {"a": 1}}}),
        json!({"spec": {"template": {"spec": {"containers": [1, {"name": "c"}, null]}}}}),
    ];
    let patches = [
        json!({}),
        json!({"spec": null}),
        json!({"spec": {"template": {"spec": {"containers": []}}}}),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 1}]}]}}}}),
        json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "z"}], "containers": null}}}}),
        json!({"metadata": {"finalizers": [{"a": 1}], "$deleteFromPrimitiveList/finalizers": [1]}}),
        json!({"metadata": {"$setElementOrder/finalizers": [{"name": 1}, 2]}}),
        json!({"$patch": "delete"}),
        json!({"$patch": 7}),
        json!({"spec": [{"$patch": "replace"}]}),
    ];
    for original in &originals {
        for patch in &patches {
            let _ = strategic_merge(original, patch, &schema);
        }
    }
}

#[test]
fn absurdly_deep_patches_fail_instead_of_overflowing_the_stack() {
    let mut deep = json!(1);
    for _ in 0..1000 {
        deep = json!({ "a": deep });
    }
    let result = strategic_merge(&json!({}), &deep, &Schema::for_resource("pods"));
    assert!(
        matches!(result, Err(PatchError::TooDeep { .. })),
        "{:?}",
        result.err()
    );
}
