use jiff::Timestamp;

use super::serve::{documents, http_date};
use super::*;
use crate::kinds;

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

/// The schema a property points at, through `$ref` or upstream's single-element `allOf`.
fn resolve<'a>(doc: &'a Value, prop: &'a Value) -> &'a Value {
    let reference = prop
        .get("$ref")
        .or_else(|| prop.pointer("/allOf/0/$ref"))
        .and_then(Value::as_str);
    match reference.and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => schema(doc, name),
        None => prop,
    }
}

#[test]
fn every_served_kind_has_a_generated_schema_carrying_its_group_version_kind() {
    for rt in RESOURCES {
        assert!(schema_of(rt).is_some(), "{} has no schema", rt.kind);
        let doc = build_document(rt.group, rt.version).expect("served");
        let kind = gvk(rt.group, rt.version, rt.kind);
        let found = doc["components"]["schemas"]
            .as_object()
            .expect("schemas")
            .values()
            .any(|s| s["x-kubernetes-group-version-kind"] == json!([kind]));
        assert!(found, "{} has no schema with its GVK", rt.kind);
    }
}

#[test]
fn every_reference_resolves_inside_its_own_document() {
    for (g, v) in kinds::group_versions() {
        let doc = build_document(g, v).expect("served");
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r.strip_prefix("#/components/schemas/").expect("local ref");
            assert!(schema(&doc, name).is_object(), "{g}/{v}: {r} dangles");
        }
    }
}

#[test]
fn every_patch_operation_declares_field_validation_and_its_kind() {
    for (g, v) in kinds::group_versions() {
        let doc = build_document(g, v).expect("served");
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let Some(patch) = item.get("patch") else {
                continue;
            };
            assert!(patch["x-kubernetes-group-version-kind"]["kind"].is_string());
            let params = patch["parameters"].as_array().expect("parameters");
            assert!(
                params.iter().any(|p| p["name"] == "fieldValidation"),
                "{path}"
            );
            assert!(patch.get("requestBody").is_none(), "{path}");
        }
    }
}

#[test]
fn the_deployment_strategy_explains_down_to_rolling_update() {
    let doc = build_document("apps", "v1").expect("apps/v1");
    let item = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    assert_eq!(
        item["get"]["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    assert_eq!(
        item["patch"]["operationId"],
        "patchAppsV1NamespacedDeployment"
    );
    let deployment = schema(&doc, "io.k8s.api.apps.v1.Deployment");
    let spec = resolve(&doc, &deployment["properties"]["spec"]);
    let strategy = resolve(&doc, &spec["properties"]["strategy"]);
    let rolling = resolve(&doc, &strategy["properties"]["rollingUpdate"]);
    assert!(rolling["properties"]["maxSurge"].is_object());
    assert!(
        strategy["description"]
            .as_str()
            .is_some_and(|d| d.contains("replace existing pods"))
    );
    let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["get"]["x-kubernetes-group-version-kind"]["kind"],
        "Scale"
    );
}

#[test]
fn kinds_require_what_upstream_requires_but_not_metadata() {
    let rbac = build_document("rbac.authorization.k8s.io", "v1").expect("rbac");
    let binding = schema(&rbac, "io.k8s.api.rbac.v1.RoleBinding");
    assert_eq!(binding["required"], json!(["roleRef"]));
    let core = build_document("", "v1").expect("core");
    assert!(
        schema(&core, "io.k8s.api.core.v1.Pod")
            .get("required")
            .is_none()
    );
}

#[test]
fn cluster_scoped_kinds_have_no_namespace_in_their_paths() {
    let doc = build_document("", "v1").expect("core");
    let item = &doc["paths"]["/api/v1/namespaces/{name}"];
    assert_eq!(item["get"]["operationId"], "readCoreV1Namespace");
    assert!(doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"].is_object());
}

#[test]
fn operation_ids_name_the_group_as_upstream() {
    assert_eq!(operation_group("", "v1"), "CoreV1");
    assert_eq!(operation_group("apps", "v1"), "AppsV1");
    assert_eq!(
        operation_group("rbac.authorization.k8s.io", "v1"),
        "RbacAuthorizationV1"
    );
    assert_eq!(operation_group("discovery.k8s.io", "v1"), "DiscoveryV1");
}

#[test]
fn the_root_points_at_each_document_with_its_sha512_hash() {
    let docs = documents();
    let root: Value = serde_json::from_slice(&docs.root.body).expect("json");
    let apps = docs.by_path.get("apis/apps/v1").expect("apps/v1");
    assert_eq!(apps.etag.len(), 128);
    assert_eq!(
        root["paths"]["apis/apps/v1"]["serverRelativeURL"],
        format!("/openapi/v3/apis/apps/v1?hash={}", apps.etag)
    );
    assert!(docs.by_path.contains_key("api/v1"));
}

#[test]
fn http_dates_are_written_as_go_does() {
    let t: Timestamp = "2026-12-07T04:05:06Z".parse().expect("time");
    assert_eq!(http_date(t), "Mon, 07 Dec 2026 04:05:06 GMT");
}
