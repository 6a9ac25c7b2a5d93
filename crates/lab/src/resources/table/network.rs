//! Service, Endpoints, EndpointSlice and Ingress rows (upstream printService, printEndpoints,
//! printEndpointSlice, printIngress), including the `+ N more...` truncation after three endpoints.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::super::json::{arr_at, at, i64_at, str_at};
use super::{age, age_col, col, format_labels, name_col};

const MAX_LISTED: usize = 3;

pub fn columns(resource: &str) -> Vec<Value> {
    match resource {
        "services" => vec![
            name_col(),
            col(
                "Type",
                "string",
                0,
                "type determines how the Service is exposed.",
            ),
            col(
                "Cluster-IP",
                "string",
                0,
                "clusterIP is the IP address of the service and is usually assigned randomly.",
            ),
            col(
                "External-IP",
                "string",
                0,
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            col(
                "Port(s)",
                "string",
                0,
                "The list of ports that are exposed by this service.",
            ),
            age_col(),
            col(
                "Selector",
                "string",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        "endpoints" => vec![
            name_col(),
            col(
                "Endpoints",
                "string",
                0,
                "The set of all endpoints is the union of all subsets.",
            ),
            age_col(),
        ],
        "ingresses" => vec![
            name_col(),
            col(
                "Class",
                "string",
                0,
                "The name of the IngressClass cluster resource.",
            ),
            col(
                "Hosts",
                "string",
                0,
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            col(
                "Address",
                "string",
                0,
                "Address is a list containing ingress points for the load-balancer",
            ),
            col(
                "Ports",
                "string",
                0,
                "Ports of TLS configurations that open",
            ),
            age_col(),
        ],
        _ => vec![
            name_col(),
            col(
                "AddressType",
                "string",
                0,
                "addressType specifies the type of address carried by this EndpointSlice.",
            ),
            col(
                "Ports",
                "string",
                0,
                "ports specifies the list of network ports exposed by each endpoint in this slice.",
            ),
            col(
                "Endpoints",
                "string",
                0,
                "endpoints is a list of unique endpoints in this slice.",
            ),
            age_col(),
        ],
    }
}

pub fn cells(resource: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(str_at(obj, &["metadata", "name"]));
    match resource {
        "ingresses" => ingress(obj, now),
        "services" => {
            let cluster_ip = arr_at(obj, &["spec", "clusterIPs"])
                .first()
                .and_then(Value::as_str)
                .or(Some(str_at(obj, &["spec", "clusterIP"])).filter(|s| !s.is_empty()))
                .unwrap_or("<none>");
            let ports: Vec<String> = arr_at(obj, &["spec", "ports"])
                .iter()
                .map(|p| {
                    let port = i64_at(p, &["port"]).unwrap_or(0);
                    let proto = str_at(p, &["protocol"]);
                    match i64_at(p, &["nodePort"]).filter(|n| *n > 0) {
                        Some(node) => format!("{port}:{node}/{proto}"),
                        None => format!("{port}/{proto}"),
                    }
                })
                .collect();
            let ports = if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            };
            vec![
                name,
                json!(str_at(obj, &["spec", "type"])),
                json!(cluster_ip),
                json!(external_ip(obj)),
                json!(ports),
                json!(age(obj, now)),
                json!(format_labels(at(obj, &["spec", "selector"]))),
            ]
        }
        "endpoints" => vec![name, json!(format_endpoints(obj)), json!(age(obj, now))],
        _ => {
            let ports: Vec<String> = arr_at(obj, &["ports"])
                .iter()
                .map(|p| match i64_at(p, &["port"]) {
                    Some(n) => n.to_string(),
                    None => Some(str_at(p, &["name"]))
                        .filter(|n| !n.is_empty())
                        .unwrap_or("*")
                        .to_string(),
                })
                .collect();
            let addresses: Vec<String> = arr_at(obj, &["endpoints"])
                .iter()
                .flat_map(|e| arr_at(e, &["addresses"]).iter().filter_map(Value::as_str))
                .map(str::to_string)
                .collect();
            vec![
                name,
                json!(str_at(obj, &["addressType"])),
                json!(list_with_more(&ports, "<unset>")),
                json!(list_with_more(&addresses, "<unset>")),
                json!(age(obj, now)),
            ]
        }
    }
}

/// upstream printIngress: class, up to three hosts (`*` for none), load-balancer addresses,
/// and `80, 443` when TLS is configured.
fn ingress(obj: &Value, now: Timestamp) -> Vec<Value> {
    let class = match str_at(obj, &["spec", "ingressClassName"]) {
        "" => "<none>",
        c => c,
    };
    let rules = arr_at(obj, &["spec", "rules"]);
    let hosts: Vec<&str> = rules
        .iter()
        .map(|r| str_at(r, &["host"]))
        .filter(|h| !h.is_empty())
        .take(MAX_LISTED)
        .collect();
    let hosts = match (hosts.is_empty(), rules.len() > MAX_LISTED) {
        (true, _) => "*".to_string(),
        (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - MAX_LISTED),
        (false, false) => hosts.join(","),
    };
    let addresses: Vec<&str> = arr_at(obj, &["status", "loadBalancer", "ingress"])
        .iter()
        .map(|i| match str_at(i, &["ip"]) {
            "" => str_at(i, &["hostname"]),
            ip => ip,
        })
        .filter(|a| !a.is_empty())
        .collect();
    let ports = if arr_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        json!(str_at(obj, &["metadata", "name"])),
        json!(class),
        json!(hosts),
        json!(addresses.join(",")),
        json!(ports),
        json!(age(obj, now)),
    ]
}

/// upstream getServiceExternalIP; the load-balancer list is not clipped (the server prints wide).
fn external_ip(svc: &Value) -> String {
    let external: Vec<&str> = arr_at(svc, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match str_at(svc, &["spec", "type"]) {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let mut ingress: Vec<&str> = arr_at(svc, &["status", "loadBalancer", "ingress"])
                .iter()
                .map(|i| {
                    Some(str_at(i, &["ip"]))
                        .filter(|s| !s.is_empty())
                        .unwrap_or(str_at(i, &["hostname"]))
                })
                .filter(|s| !s.is_empty())
                .collect();
            ingress.sort_unstable();
            ingress.dedup();
            ingress.extend(external);
            if ingress.is_empty() {
                "<pending>".to_string()
            } else {
                ingress.join(",")
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// upstream formatEndpoints: `ip:port` for every address and port, three at most.
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr_at(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = Vec::new();
    let mut count = 0;
    for ss in subsets {
        let addresses: Vec<&str> = arr_at(ss, &["addresses"])
            .iter()
            .map(|a| str_at(a, &["ip"]))
            .collect();
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            list.extend(
                addresses
                    .iter()
                    .take(MAX_LISTED.saturating_sub(list.len()))
                    .map(|a| a.to_string()),
            );
            continue;
        }
        for port in ports {
            let port = i64_at(port, &["port"]).unwrap_or(0);
            count += addresses.len();
            for ip in addresses.iter().take(MAX_LISTED.saturating_sub(list.len())) {
                // net.JoinHostPort brackets IPv6 addresses.
                list.push(if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                });
            }
        }
    }
    let joined = list.join(",");
    if count > MAX_LISTED {
        format!("{joined} + {} more...", count - MAX_LISTED)
    } else {
        joined
    }
}

/// upstream listWithMoreString, with its `empty` placeholder.
fn list_with_more(items: &[String], empty: &str) -> String {
    let shown = items
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if items.len() > MAX_LISTED {
        format!("{shown} + {} more...", items.len() - MAX_LISTED)
    } else if shown.is_empty() {
        empty.to_string()
    } else {
        shown
    }
}
