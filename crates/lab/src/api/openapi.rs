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
//! Documents are built once and served as upstream's `handler3` does: an `ETag` that is the
//! SHA-512 of the body, `serverRelativeURL`s carrying it as `?hash=`, `Cache-Control:
//! public, immutable` when the hash matches and a 301 to the current hash when it does not.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use jiff::Timestamp;
use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling_v2,
    batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac,
};
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use k8s_openapi::schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use super::respond;
use crate::error::ApiError;
use crate::kinds::{self, RESOURCES, ResourceType};

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

/// A document as served: its bytes and upstream's ETag (upper-case hex SHA-512).
pub struct Served {
    pub body: Vec<u8>,
    pub etag: String,
}

impl Served {
    fn of(value: &Value) -> Served {
        use sha2::{Digest, Sha512};
        let body = value.to_string().into_bytes();
        let etag = Sha512::digest(&body)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Served { body, etag }
    }
}

/// Every document, keyed as in the root (`api/v1`, `apis/apps/v1`), with the root itself
/// and the time they were built (their `Last-Modified`).
pub struct Documents {
    pub by_path: BTreeMap<String, Served>,
    pub root: Served,
    pub built: Timestamp,
}

/// The documents, built on first use (a few hundred milliseconds) and then kept.
pub fn documents() -> &'static Documents {
    static DOCS: OnceLock<Documents> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut by_path = BTreeMap::new();
        let mut root = Map::new();
        for (g, v) in kinds::group_versions() {
            let Some(doc) = build_document(g, v) else {
                continue;
            };
            let key = kinds::gv_path(g, v).trim_start_matches('/').to_string();
            let served = Served::of(&doc);
            root.insert(
                key.clone(),
                json!({"serverRelativeURL": server_relative_url(&key, &served.etag)}),
            );
            by_path.insert(key, served);
        }
        Documents {
            by_path,
            root: Served::of(&json!({"paths": root})),
            built: Timestamp::now(),
        }
    })
}

/// `/openapi/v3/apis/apps/v1?hash=...`, as upstream's `constructServerRelativeURL`.
pub fn server_relative_url(key: &str, etag: &str) -> String {
    format!("/openapi/v3/{key}?hash={etag}")
}

/// HTTP dates as Go's `http.TimeFormat` writes them.
fn http_date(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_matches('"') == etag || t.trim() == "*")
        })
}

/// The body with upstream's headers (or 304 when the client has it already).
fn content(served: &Served, built: Timestamp, headers: &HeaderMap) -> Response<Body> {
    let mut resp = if if_none_match(headers, &served.etag) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::from(served.body.clone()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let h = resp.headers_mut();
    for (name, value) in [
        (header::ETAG, format!("\"{}\"", served.etag)),
        (header::LAST_MODIFIED, http_date(built)),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// `GET /openapi/v3`: the paths of every group-version's document.
pub async fn serve_root(headers: HeaderMap) -> Response<Body> {
    let docs = documents();
    content(&docs.root, docs.built, &headers)
}

/// `GET /openapi/v3/{gv}`: one document, JSON only (a client asking for nothing but the
/// protobuf form gets 406). With `?hash=` naming an older document, a 301 to the current
/// one; with the current hash, cacheable for a year.
pub async fn serve_document(
    Path(gv): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let docs = documents();
    let Some(served) = docs.by_path.get(gv.trim_end_matches('/')) else {
        return respond::error_response(&ApiError::no_route());
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    let json_ok = accept.split(',').any(|a| {
        let media = a.split(';').next().unwrap_or("").trim();
        media.is_empty() || matches!(media, "application/json" | "application/*" | "*/*")
    });
    if !json_ok {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_ACCEPTABLE;
        return r;
    }
    let hash = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "hash")
        .map(|(_, v)| v.into_owned());
    let key = gv.trim_end_matches('/');
    if hash
        .as_deref()
        .is_some_and(|h| !h.is_empty() && h != served.etag)
    {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(v) = HeaderValue::from_str(&server_relative_url(key, &served.etag)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let mut resp = content(served, docs.built, &headers);
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    if hash.is_some_and(|h| !h.is_empty()) {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, immutable"),
        );
        let year = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24 * 365))
            .unwrap_or_else(|_| Timestamp::now());
        if let Ok(v) = HeaderValue::from_str(&http_date(year)) {
            h.insert(header::EXPIRES, v);
        }
    }
    resp
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
