//! The OpenAPI v3 documents (`/openapi/v3` and one per served group-version), with the
//! schemas generated from the k8s-openapi types (their `schemars` implementations, which
//! k8s-openapi generates from upstream's published spec, descriptions included).
//!
//! What clients read from them: `kubectl explain` finds a resource's kind through the
//! `x-kubernetes-group-version-kind` of its path operations and then the schema carrying the
//! same kind; `kubectl apply`/`create` check that PATCH declares `fieldValidation` and then
//! leave strict validation to the server. PATCH operations declare no request body on
//! purpose: with one naming `application/strategic-merge-patch+json`, kubectl 1.33 computes
//! apply's strategic merge patch from these schemas, which lack upstream's
//! `x-kubernetes-patch-merge-key` extensions (k8s-openapi does not carry them); without it
//! kubectl uses its built-in types, which have the same patch metadata as upstream's spec.
//!
//! Documents are built once and served as upstream's `handler3` serves them (see `serve`).

mod serve;

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling_v2,
    batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac,
};
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use k8s_openapi::schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use crate::kinds::{RESOURCES, ResourceType};

pub use serve::{serve_document, serve_root};

/// Adds `T`'s schema (and everything it references) to the generator's definitions and
/// returns the definition's name.
type AddSchema = fn(&mut SchemaGenerator) -> String;

fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    let _: Schema = generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// The k8s-openapi type of a served kind.
fn schema_of(rt: &ResourceType) -> Option<AddSchema> {
    Some(match (rt.group, rt.kind) {
        ("", "Namespace") => add::<core::Namespace>,
        ("", "Node") => add::<core::Node>,
        ("", "Pod") => add::<core::Pod>,
        ("", "Service") => add::<core::Service>,
        ("", "Endpoints") => add::<core::Endpoints>,
        ("", "Event") => add::<core::Event>,
        ("", "ConfigMap") => add::<core::ConfigMap>,
        ("", "Secret") => add::<core::Secret>,
        ("", "ServiceAccount") => add::<core::ServiceAccount>,
        ("", "PersistentVolumeClaim") => add::<core::PersistentVolumeClaim>,
        ("", "PersistentVolume") => add::<core::PersistentVolume>,
        ("", "ReplicationController") => add::<core::ReplicationController>,
        ("apps", "Deployment") => add::<apps::Deployment>,
        ("apps", "ReplicaSet") => add::<apps::ReplicaSet>,
        ("apps", "StatefulSet") => add::<apps::StatefulSet>,
        ("apps", "DaemonSet") => add::<apps::DaemonSet>,
        ("batch", "Job") => add::<batch::Job>,
        ("batch", "CronJob") => add::<batch::CronJob>,
        ("policy", "PodDisruptionBudget") => add::<policy::PodDisruptionBudget>,
        ("coordination.k8s.io", "Lease") => add::<coordination::Lease>,
        ("discovery.k8s.io", "EndpointSlice") => add::<discovery::EndpointSlice>,
        ("events.k8s.io", "Event") => add::<events::Event>,
        ("autoscaling", "HorizontalPodAutoscaler") if rt.version == "v2" => {
            add::<autoscaling_v2::HorizontalPodAutoscaler>
        }
        ("networking.k8s.io", "Ingress") => add::<networking::Ingress>,
        ("rbac.authorization.k8s.io", "Role") => add::<rbac::Role>,
        ("rbac.authorization.k8s.io", "RoleBinding") => add::<rbac::RoleBinding>,
        ("rbac.authorization.k8s.io", "ClusterRole") => add::<rbac::ClusterRole>,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => add::<rbac::ClusterRoleBinding>,
        _ => return None,
    })
}

/// The `{Group}{Version}` part of upstream's operation ids (`AppsV1`, `CoreV1`,
/// `RbacAuthorizationV1`).
fn operation_group(group: &str, version: &str) -> String {
    let group = if group.is_empty() {
        "core"
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    };
    let mut out = String::new();
    for word in group.split('.').chain([version]) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn param(name: &str, location: &str) -> Value {
    let mut p =
        json!({"name": name, "in": location, "schema": {"type": "string", "uniqueItems": true}});
    if location == "path" {
        p["required"] = json!(true);
    }
    p
}

/// One operation. Writes declare the query parameters kubectl checks for (`fieldValidation`
/// on PATCH above all), and answers reference the kind's schema.
fn operation(action: &str, id: String, kind: &Value, schema: Option<&str>) -> Value {
    let mut params = Vec::new();
    if matches!(
        action,
        "post" | "put" | "patch" | "delete" | "deletecollection"
    ) {
        params.push(param("dryRun", "query"));
    }
    if matches!(action, "post" | "put" | "patch") {
        params.push(param("fieldManager", "query"));
        params.push(param("fieldValidation", "query"));
    }
    if action == "patch" {
        params.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    if matches!(action, "list" | "watchlist") {
        for name in [
            "labelSelector",
            "fieldSelector",
            "resourceVersion",
            "limit",
            "continue",
        ] {
            params.push(param(name, "query"));
        }
    }
    let content = |schema: &str| {
        let reference = json!({"$ref": format!("#/components/schemas/{schema}")});
        json!({"application/json": {"schema": reference}, "application/yaml": {"schema": reference}})
    };
    let mut op = json!({
        "operationId": id,
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": kind,
    });
    if let Some(schema) = schema.filter(|_| action != "list" && action != "deletecollection") {
        op["responses"]["200"]["content"] = content(schema);
        if matches!(action, "post" | "put") {
            op["requestBody"] = json!({"content": content(schema), "required": true});
        }
    }
    op
}

/// The paths of one served type: the collection (namespaced and across namespaces), the
/// object, and its `status` and `scale` subresources.
fn paths_of(rt: &ResourceType, schema: &str, scale_schema: &str, paths: &mut Map<String, Value>) {
    let base = rt.gv_path();
    let kind = gvk(rt.group, rt.version, rt.kind);
    let og = operation_group(rt.group, rt.version);
    let scope = if rt.namespaced { "Namespaced" } else { "" };
    let collection = if rt.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{base}/{}", rt.plural)
    };
    let k = rt.kind;
    let mut path_params = Vec::new();
    if rt.namespaced {
        path_params.push(param("namespace", "path"));
    }
    paths.insert(
        collection.clone(),
        json!({
            "get": operation("list", format!("list{og}{scope}{k}"), &kind, Some(schema)),
            "post": operation("post", format!("create{og}{scope}{k}"), &kind, Some(schema)),
            "delete": operation("deletecollection", format!("delete{og}Collection{scope}{k}"), &kind, Some(schema)),
            "parameters": path_params.clone(),
        }),
    );
    if rt.namespaced {
        paths.insert(
            format!("{base}/{}", rt.plural),
            json!({"get": operation("list", format!("list{og}{k}ForAllNamespaces"), &kind, Some(schema))}),
        );
    }
    path_params.push(param("name", "path"));
    let object = format!("{collection}/{{name}}");
    paths.insert(
        object.clone(),
        json!({
            "get": operation("get", format!("read{og}{scope}{k}"), &kind, Some(schema)),
            "put": operation("put", format!("replace{og}{scope}{k}"), &kind, Some(schema)),
            "patch": operation("patch", format!("patch{og}{scope}{k}"), &kind, Some(schema)),
            "delete": operation("delete", format!("delete{og}{scope}{k}"), &kind, None),
            "parameters": path_params.clone(),
        }),
    );
    let mut sub = |name: &str, suffix: &str, kind: &Value, schema: &str| {
        paths.insert(
            format!("{object}/{name}"),
            json!({
                "get": operation("get", format!("read{og}{scope}{k}{suffix}"), kind, Some(schema)),
                "put": operation("put", format!("replace{og}{scope}{k}{suffix}"), kind, Some(schema)),
                "patch": operation("patch", format!("patch{og}{scope}{k}{suffix}"), kind, Some(schema)),
                "parameters": path_params.clone(),
            }),
        );
    };
    if rt.status {
        sub("status", "Status", &kind, schema);
    }
    if rt.scale {
        sub(
            "scale",
            "Scale",
            &gvk("autoscaling", "v1", "Scale"),
            scale_schema,
        );
    }
}

/// k8s-openapi lists `metadata` as required on every kind (its structs hold it unwrapped);
/// upstream's schemas do not, and `kubectl explain` would print `-required-` beside it.
fn not_requiring_metadata(schema: &mut Map<String, Value>) {
    let empty = match schema.get_mut("required").and_then(Value::as_array_mut) {
        Some(required) => {
            required.retain(|f| f != "metadata");
            required.is_empty()
        }
        None => false,
    };
    if empty {
        schema.remove("required");
    }
}

/// Builds the document of one group-version, if the lab serves it.
pub fn build_document(group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
    let scale_schema = add::<autoscaling_v1::Scale>;
    let mut paths = Map::new();
    let mut kinds_of: Vec<(String, Value)> = Vec::new();
    let mut scale = None;
    for rt in types {
        let Some(add_schema) = schema_of(rt) else {
            continue;
        };
        let name = add_schema(&mut generator);
        let scale_name = if rt.scale {
            scale_schema(&mut generator)
        } else {
            String::new()
        };
        if rt.scale {
            scale = Some(scale_name.clone());
        }
        paths_of(rt, &name, &scale_name, &mut paths);
        kinds_of.push((name, gvk(rt.group, rt.version, rt.kind)));
    }
    if let Some(name) = scale {
        kinds_of.push((name, gvk("autoscaling", "v1", "Scale")));
    }
    let mut schemas = generator.take_definitions(true);
    for (name, kind) in kinds_of {
        if let Some(schema) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
            schema.insert("x-kubernetes-group-version-kind".into(), json!([kind]));
            not_requiring_metadata(schema);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests;
