//! `/version`, and legacy and aggregated discovery.
//!
//! kubectl asks `/api` and `/apis` for aggregated discovery and recognises the answer only
//! by its Content-Type; Python clients and old kubectl read the legacy forms. The OpenAPI
//! documents are in `openapi`.

use serde_json::{Value, json};

use crate::kinds::{self, RESOURCES, ResourceType};

/// The version the lab reports. kubectl's dispatcher picks its bundled v1.33 client from
/// the minor; k8s-openapi is pinned to the same feature.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-lab",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// The Content-Type kubectl needs to read an aggregated discovery answer.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// Which aggregated form the Accept header asks for, if any.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    let compact = accept.replace(' ', "");
    if compact.contains("g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList") {
        Some(AGGREGATED_CONTENT_TYPE)
    } else if compact.contains("g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList") {
        Some(AGGREGATED_V2BETA1)
    } else {
        None
    }
}

fn verbs(_rt: &ResourceType) -> Value {
    json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ])
}

fn subresources(rt: &ResourceType) -> Vec<(&'static str, Value, Value)> {
    let own = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let mut subs = Vec::new();
    if rt.status {
        subs.push(("status", own.clone(), json!(["get", "patch", "update"])));
    }
    if rt.scale {
        subs.push((
            "scale",
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
            json!(["get", "patch", "update"]),
        ));
    }
    if rt.plural == "pods" {
        subs.push((
            "log",
            json!({"group": "", "version": "v1", "kind": "Pod"}),
            json!(["get"]),
        ));
        subs.push((
            "binding",
            json!({"group": "", "version": "v1", "kind": "Binding"}),
            json!(["create"]),
        ));
        // kubectl drain looks for this entry before it evicts.
        subs.push((
            "eviction",
            json!({"group": "policy", "version": "v1", "kind": "Eviction"}),
            json!(["create"]),
        ));
    }
    subs
}

fn aggregated_resource(rt: &ResourceType) -> Value {
    let mut r = json!({
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": rt.singular,
        "verbs": verbs(rt),
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    let subs: Vec<Value> = subresources(rt)
        .into_iter()
        .map(|(name, kind, verbs)| json!({"subresource": name, "responseKind": kind, "verbs": verbs}))
        .collect();
    if !subs.is_empty() {
        r["subresources"] = json!(subs);
    }
    r
}

/// The aggregated `APIGroupDiscoveryList` for `/api` (core) or `/apis` (named groups).
pub fn aggregated(core: bool, content_type: &str) -> Value {
    let version = if content_type.contains("v=v2beta1") {
        "apidiscovery.k8s.io/v2beta1"
    } else {
        "apidiscovery.k8s.io/v2"
    };
    let items: Vec<Value> = kinds::group_versions()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(group, ver)| {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.version == ver)
                .map(aggregated_resource)
                .collect();
            let metadata = if core { json!({"creationTimestamp": null}) } else { json!({"name": group, "creationTimestamp": null}) };
            json!({"metadata": metadata, "versions": [{"version": ver, "resources": resources, "freshness": "Current"}]})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": version, "metadata": {}, "items": items})
}

/// Legacy `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(group: &str) -> Value {
    let versions: Vec<Value> = kinds::group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// Legacy `/apis`.
pub fn api_group_list() -> Value {
    let mut groups: Vec<&str> = kinds::group_versions()
        .into_iter()
        .map(|(g, _)| g)
        .filter(|g| !g.is_empty())
        .collect();
    groups.dedup();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups.into_iter().map(api_group).collect::<Vec<_>>()})
}

/// Legacy `/apis/{group}`, if served.
pub fn group(group: &str) -> Option<Value> {
    kinds::group_versions()
        .iter()
        .any(|(g, _)| *g == group)
        .then(|| {
            let mut g = api_group(group);
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        })
}

/// Legacy `APIResourceList` for one group-version, if served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in types {
        let mut r = json!({
            "name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
            "kind": rt.kind, "verbs": verbs(rt),
        });
        if !rt.short_names.is_empty() {
            r["shortNames"] = json!(rt.short_names);
        }
        if !rt.categories.is_empty() {
            r["categories"] = json!(rt.categories);
        }
        resources.push(r);
        for (name, kind, verbs) in subresources(rt) {
            let mut s = json!({"name": format!("{}/{name}", rt.plural), "singularName": "", "namespaced": rt.namespaced, "kind": kind["kind"], "verbs": verbs});
            if kind["group"] != json!(rt.group) {
                s["group"] = kind["group"].clone();
                s["version"] = kind["version"].clone();
            }
            resources.push(s);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aggregated_answer_is_recognised_only_when_asked_for() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(wants_aggregated(kubectl), Some(AGGREGATED_CONTENT_TYPE));
        assert_eq!(wants_aggregated("application/json, */*"), None);
    }

    #[test]
    fn deployments_are_discoverable_with_short_name_scope_and_subresources() {
        let apis = aggregated(false, AGGREGATED_CONTENT_TYPE);
        let apps = apis["items"]
            .as_array()
            .and_then(|i| i.iter().find(|g| g["metadata"]["name"] == "apps"))
            .cloned()
            .expect("apps group");
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["resource"] == "deployments"))
            .cloned()
            .expect("deployments");
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(deploy["scope"], "Namespaced");
        assert_eq!(deploy["subresources"][1]["responseKind"]["kind"], "Scale");
    }

    #[test]
    fn the_core_group_item_has_no_name() {
        let api = aggregated(true, AGGREGATED_CONTENT_TYPE);
        assert!(api["items"][0]["metadata"].get("name").is_none());
    }

    #[test]
    fn legacy_resource_lists_name_scale_in_its_own_group() {
        let list = resource_list("apps", "v1").expect("apps/v1");
        let scale = list["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == "deployments/scale"))
            .cloned()
            .expect("scale");
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
    }
}
