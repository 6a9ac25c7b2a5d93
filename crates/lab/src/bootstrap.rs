//! What the API server itself writes at start (upstream's bootstrap controller in
//! `pkg/controlplane`): the `default/kubernetes` Service pointing at the API, with its
//! Endpoints and EndpointSlice (selector-less, so no controller touches them), and the
//! `default` ServiceAccount of each namespace that exists from the start.
//!
//! Its ClusterIP is the first of the lab's Service range and its port is 443, as upstream,
//! but the lab's proxy does not listen for it (443 is a privileged port): clients reach the
//! API at its own address, which the Endpoints name.

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::controllers::serviceaccounts;
use crate::error::ApiError;
use crate::kinds;
use crate::registry::{Registry, WriteOptions};

/// The Service's ClusterIP: the first address of the lab's range (upstream: the first of
/// `--service-cluster-ip-range`, 10.96.0.1 by default).
pub const KUBERNETES_CLUSTER_IP: &str = "127.43.0.1";

/// True for the `default/kubernetes` Service, which the proxy leaves alone.
pub fn is_kubernetes_service(namespace: &str, name: &str) -> bool {
    namespace == "default" && name == "kubernetes"
}

/// The Service, Endpoints and EndpointSlice for an API listening on `api`.
pub fn kubernetes_objects(api: SocketAddr) -> (Value, Value, Value) {
    let ip = if api.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        api.ip().to_string()
    };
    let port = api.port();
    let service = json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": KUBERNETES_CLUSTER_IP, "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    });
    let endpoints = json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    let slice = json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    (service, endpoints, slice)
}

/// Writes the `kubernetes` Service and its endpoints, and the `default` ServiceAccount of
/// each of `namespaces`.
pub fn seed(registry: &Registry, api: SocketAddr, namespaces: &[&str]) -> Result<(), ApiError> {
    let opts = WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..WriteOptions::default()
    };
    let find = |group: &str, plural: &str| {
        kinds::RESOURCES
            .iter()
            .find(|r| r.group == group && r.plural == plural)
            .ok_or_else(ApiError::no_route)
    };
    let (service, endpoints, slice) = kubernetes_objects(api);
    registry.create(find("", "services")?, "default", service, &opts)?;
    registry.create(find("", "endpoints")?, "default", endpoints, &opts)?;
    registry.create(
        find("discovery.k8s.io", "endpointslices")?,
        "default",
        slice,
        &opts,
    )?;
    let accounts = find("", "serviceaccounts")?;
    for ns in namespaces {
        registry.create(accounts, ns, serviceaccounts::default_account(ns), &opts)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_service_points_its_https_port_at_the_api() {
        let api: SocketAddr = "0.0.0.0:6443".parse().expect("addr");
        let (svc, eps, slice) = kubernetes_objects(api);
        assert_eq!(svc["spec"]["ports"][0]["port"], 443);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 6443);
        assert!(
            svc["spec"].get("selector").is_none(),
            "no controller manages it"
        );
        assert_eq!(eps["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
        assert_eq!(slice["ports"][0]["port"], 6443);
        assert!(is_kubernetes_service("default", "kubernetes"));
        assert!(!is_kubernetes_service("other", "kubernetes"));
    }
}
