//! Endpoints -> backends: the pure half of the Service proxy.
//!
//! Like kube-proxy's service and endpoints change trackers, this turns the Services and
//! Endpoints objects into one table: for each TCP port of each Service with a ClusterIP
//! (types ClusterIP, NodePort and LoadBalancer alike; ExternalName and headless Services
//! have none), the `clusterIP:port` to listen on and the ready `podIP:targetPort`
//! backends, matched by port name as kube-proxy does. Only `addresses` count:
//! `notReadyAddresses` never receive traffic. The `default/kubernetes` Service is left out.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use serde_json::Value;

/// One Service port: (namespace, service, port name, port).
pub type PortKey = (String, String, String, u16);

/// What to listen on and where to send connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    pub listen: SocketAddr,
    /// Ready backends, sorted; empty means connections are refused.
    pub backends: Vec<SocketAddr>,
}

/// The whole proxy table.
pub type Table = BTreeMap<PortKey, Frontend>;

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn is_tcp(port: &Value) -> bool {
    matches!(
        port.get("protocol").and_then(Value::as_str),
        None | Some("TCP")
    )
}

fn port_name(port: &Value) -> &str {
    port.get("name").and_then(Value::as_str).unwrap_or("")
}

fn port_number(port: &Value) -> Option<u16> {
    port.get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
}

/// Ready backends of the Endpoints for the Service port named `name`.
fn backends_for(endpoints: Option<&Value>, name: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let subsets = endpoints
        .and_then(|e| e.get("subsets"))
        .and_then(Value::as_array);
    for subset in subsets.into_iter().flatten() {
        let ports = subset.get("ports").and_then(Value::as_array);
        let Some(port) = ports
            .into_iter()
            .flatten()
            .find(|p| port_name(p) == name && is_tcp(p))
            .and_then(port_number)
        else {
            continue;
        };
        let addresses = subset.get("addresses").and_then(Value::as_array);
        for a in addresses.into_iter().flatten() {
            if let Ok(ip) = str_at(a, "/ip").parse::<Ipv4Addr>() {
                out.push(SocketAddr::from((ip, port)));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The proxy table for these Services and Endpoints (any order, any namespaces).
pub fn table(services: &[Arc<Value>], endpoints: &[Arc<Value>]) -> Table {
    let eps: BTreeMap<(&str, &str), &Value> = endpoints
        .iter()
        .map(|e| {
            (
                (
                    str_at(e, "/metadata/namespace"),
                    str_at(e, "/metadata/name"),
                ),
                &**e,
            )
        })
        .collect();
    let mut out = Table::new();
    for svc in services {
        if str_at(svc, "/spec/type") == "ExternalName" {
            continue;
        }
        let Ok(ip) = str_at(svc, "/spec/clusterIP").parse::<Ipv4Addr>() else {
            continue;
        };
        let (ns, name) = (
            str_at(svc, "/metadata/namespace"),
            str_at(svc, "/metadata/name"),
        );
        // The API's own Service: its port 443 is privileged, and clients reach the API at
        // its address anyway (see `bootstrap`).
        if crate::bootstrap::is_kubernetes_service(ns, name) {
            continue;
        }
        let ports = svc.pointer("/spec/ports").and_then(Value::as_array);
        for port in ports.into_iter().flatten().filter(|p| is_tcp(p)) {
            let Some(number) = port_number(port) else {
                continue;
            };
            let pname = port_name(port);
            out.insert(
                (ns.into(), name.into(), pname.into(), number),
                Frontend {
                    listen: SocketAddr::from((ip, number)),
                    backends: backends_for(eps.get(&(ns, name)).copied(), pname),
                },
            );
        }
    }
    out
}

/// Round-robin: the backend for the `n`th connection.
pub fn pick(backends: &[SocketAddr], n: usize) -> Option<SocketAddr> {
    if backends.is_empty() {
        None
    } else {
        Some(backends[n % backends.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, spec: Value) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec}))
    }

    fn eps(name: &str, subsets: Value) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": name, "namespace": "default"}, "subsets": subsets}))
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn the_apis_own_kubernetes_service_is_not_proxied() {
        let api: SocketAddr = addr("127.0.0.1:6443");
        let (service, endpoints, _) = crate::bootstrap::kubernetes_objects(api);
        let t = table(&[Arc::new(service)], &[Arc::new(endpoints)]);
        assert!(t.is_empty(), "{t:?}");
    }

    #[test]
    fn each_tcp_service_port_gets_its_ready_addresses_matched_by_port_name() {
        let services = [svc(
            "web",
            json!({"clusterIP": "127.43.0.1", "type": "NodePort", "ports": [
                {"name": "http", "port": 80}, {"name": "metrics", "port": 9090, "protocol": "TCP"},
                {"name": "dns", "port": 53, "protocol": "UDP"}]}),
        )];
        let endpoints = [eps(
            "web",
            json!([{"addresses": [{"ip": "127.42.9.2"}, {"ip": "127.42.9.1"}],
                    "notReadyAddresses": [{"ip": "127.42.9.3"}],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                              {"name": "metrics", "port": 9100, "protocol": "TCP"}]}]),
        )];
        let t = table(&services, &endpoints);
        let key = |p: &str, n| ("default".to_string(), "web".to_string(), p.to_string(), n);
        assert_eq!(t.len(), 2, "UDP ports are not proxied");
        assert_eq!(
            t[&key("http", 80)],
            Frontend {
                listen: addr("127.43.0.1:80"),
                backends: vec![addr("127.42.9.1:8080"), addr("127.42.9.2:8080")],
            }
        );
        assert_eq!(
            t[&key("metrics", 9090)].backends,
            vec![addr("127.42.9.1:9100"), addr("127.42.9.2:9100")]
        );
    }

    #[test]
    fn services_without_endpoints_have_no_backends_and_headless_ones_no_frontend() {
        let services = [
            svc(
                "a",
                json!({"clusterIP": "127.43.0.1", "ports": [{"port": 80}]}),
            ),
            svc("b", json!({"clusterIP": "None", "ports": [{"port": 80}]})),
            svc(
                "c",
                json!({"type": "ExternalName", "externalName": "example.com"}),
            ),
        ];
        let endpoints = [eps(
            "a",
            json!([{"notReadyAddresses": [{"ip": "127.42.0.1"}], "ports": [{"port": 80}]}]),
        )];
        let t = table(&services, &endpoints);
        assert_eq!(t.len(), 1);
        assert!(t.values().all(|f| f.backends.is_empty()));
    }

    #[test]
    fn connections_go_round_robin_over_the_backends() {
        let b = [addr("127.42.0.1:80"), addr("127.42.0.2:80")];
        let picked: Vec<_> = (0..4).filter_map(|n| pick(&b, n)).collect();
        assert_eq!(picked, vec![b[0], b[1], b[0], b[1]]);
        assert_eq!(pick(&[], 7), None);
    }
}
