//! Core-group validation beyond object metadata, after `pkg/apis/core/validation`: Services,
//! ConfigMap and Secret keys, and the container pieces (ports, probes) shared by every pod spec.

use serde_json::Value;

use super::super::json::{arr_at, at, i64_at, obj_at, str_at};
use super::{Cause, MAX_DATA_BYTES, NEGATIVE, gofmt, labels, syntax};

const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

pub fn service(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let svc_type = str_at(obj, &["spec", "type"]);
    let types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !types.contains(&svc_type) {
        causes.push(Cause::not_supported(
            "spec.type",
            &gofmt::quote(svc_type),
            &types,
        ));
    }
    let ports = arr_at(obj, &["spec", "ports"]);
    let headless = str_at(obj, &["spec", "clusterIP"]) == "None";
    if ports.is_empty() && !headless && svc_type != "ExternalName" {
        causes.push(Cause::required("spec.ports", ""));
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        let name = str_at(port, &["name"]);
        if ports.len() > 1 && name.is_empty() {
            causes.push(Cause::required(format!("{path}.name"), ""));
        } else if !name.is_empty() {
            for msg in syntax::dns1123_label(name) {
                causes.push(Cause::invalid(
                    format!("{path}.name"),
                    &gofmt::quote(name),
                    &msg,
                ));
            }
            if names.contains(&name) {
                causes.push(Cause::duplicate(
                    format!("{path}.name"),
                    &gofmt::quote(name),
                ));
            }
            names.push(name);
        }
        let number = i64_at(port, &["port"]).unwrap_or(0);
        for msg in syntax::port_num(number) {
            causes.push(Cause::invalid(
                format!("{path}.port"),
                &number.to_string(),
                &msg,
            ));
        }
        causes.extend(protocol(port, &path));
        if let Some(target) = port.get("targetPort") {
            causes.extend(port_num_or_name(target, &format!("{path}.targetPort")));
        }
        if svc_type == "ClusterIP" && i64_at(port, &["nodePort"]).is_some_and(|n| n != 0) {
            causes.push(Cause::forbidden(
                format!("{path}.nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
    }
    causes.extend(labels(at(obj, &["spec", "selector"]), "spec.selector"));
    let affinity = str_at(obj, &["spec", "sessionAffinity"]);
    if !["ClientIP", "None"].contains(&affinity) {
        causes.push(Cause::not_supported(
            "spec.sessionAffinity",
            &gofmt::quote(affinity),
            &["ClientIP", "None"],
        ));
    }
    causes
}

pub fn config_map(obj: &Value) -> Vec<Cause> {
    let mut causes = data_keys(obj, "data");
    causes.extend(data_keys(obj, "binaryData"));
    let data = obj_at(obj, &["data"]);
    let binary = obj_at(obj, &["binaryData"]);
    for key in data.into_iter().flat_map(|d| d.keys()) {
        if binary.is_some_and(|b| b.contains_key(key)) {
            causes.push(Cause::invalid(
                format!("data[{key}]"),
                &gofmt::quote(key),
                "duplicate of key present in binaryData",
            ));
        }
    }
    // binaryData values are base64 on the wire; the limit counts the bytes they stand for.
    let total = values_len(data, str::len) + values_len(binary, decoded_len);
    if total > MAX_DATA_BYTES {
        // Upstream reports it on the empty path (the whole object), printed `[]`.
        causes.push(Cause::too_long("[]", MAX_DATA_BYTES));
    }
    causes
}

pub fn secret(obj: &Value) -> Vec<Cause> {
    let mut causes: Vec<Cause> = data_keys(obj, "data")
        .into_iter()
        .chain(data_keys(obj, "stringData"))
        .collect();
    let total = values_len(obj_at(obj, &["data"]), decoded_len)
        + values_len(obj_at(obj, &["stringData"]), str::len);
    if total > MAX_DATA_BYTES {
        causes.push(Cause::too_long("data", MAX_DATA_BYTES));
    }
    causes
}

/// The summed lengths of a map's string values, each measured by `len`.
fn values_len(map: Option<&serde_json::Map<String, Value>>, len: fn(&str) -> usize) -> usize {
    map.into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_str)
        .map(len)
        .sum()
}

/// How many bytes a base64 text decodes to.
fn decoded_len(b64: &str) -> usize {
    let padding = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(padding.min(2))
}

fn data_keys(obj: &Value, bag: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    for key in obj_at(obj, &[bag]).into_iter().flat_map(|m| m.keys()) {
        for msg in syntax::config_map_key(key) {
            causes.push(Cause::invalid(
                format!("{bag}[{key}]"),
                &gofmt::quote(key),
                &msg,
            ));
        }
    }
    causes
}

fn protocol(port: &Value, path: &str) -> Vec<Cause> {
    let proto = str_at(port, &["protocol"]);
    if proto.is_empty() {
        vec![Cause::required(format!("{path}.protocol"), "")]
    } else if !PROTOCOLS.contains(&proto) {
        vec![Cause::not_supported(
            format!("{path}.protocol"),
            &gofmt::quote(proto),
            &PROTOCOLS,
        )]
    } else {
        Vec::new()
    }
}

/// upstream validateContainerPorts.
pub fn container_ports(container: &Value, path: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, port) in arr_at(container, &["ports"]).iter().enumerate() {
        let path = format!("{path}.ports[{i}]");
        let name = str_at(port, &["name"]);
        if !name.is_empty() {
            let msgs = syntax::port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    causes.push(Cause::invalid(
                        format!("{path}.name"),
                        &gofmt::quote(name),
                        &msg,
                    ));
                }
            } else if names.contains(&name) {
                causes.push(Cause::duplicate(
                    format!("{path}.name"),
                    &gofmt::quote(name),
                ));
            } else {
                names.push(name);
            }
        }
        match i64_at(port, &["containerPort"]).unwrap_or(0) {
            0 => causes.push(Cause::required(format!("{path}.containerPort"), "")),
            n => {
                for msg in syntax::port_num(n) {
                    causes.push(Cause::invalid(
                        format!("{path}.containerPort"),
                        &n.to_string(),
                        &msg,
                    ));
                }
            }
        }
        if let Some(host) = i64_at(port, &["hostPort"]).filter(|h| *h != 0) {
            for msg in syntax::port_num(host) {
                causes.push(Cause::invalid(
                    format!("{path}.hostPort"),
                    &host.to_string(),
                    &msg,
                ));
            }
        }
        causes.extend(protocol(port, &path));
    }
    causes
}

/// upstream validateProbe (plus the liveness/startup rule that `successThreshold` must be 1).
/// Zero thresholds never reach here on a defaulted object: defaulting turns 0 into 1/10/1/3.
pub fn probe(p: &Value, path: &str, success_must_be_one: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let handlers: Vec<&str> = ["exec", "httpGet", "tcpSocket", "grpc"]
        .into_iter()
        .filter(|h| p.get(*h).is_some_and(|v| !v.is_null()))
        .collect();
    match handlers.as_slice() {
        [] => causes.push(Cause::required(path, "must specify a handler type")),
        [_, extra @ ..] => {
            for h in extra {
                causes.push(Cause::forbidden(
                    format!("{path}.{h}"),
                    "may not specify more than 1 handler type",
                ));
            }
        }
    }
    if let Some(http) = p.get("httpGet").filter(|h| h.is_object()) {
        if str_at(http, &["path"]).is_empty() {
            causes.push(Cause::required(format!("{path}.httpGet.path"), ""));
        }
        causes.extend(port_num_or_name(
            http.get("port").unwrap_or(&Value::Null),
            &format!("{path}.httpGet.port"),
        ));
        let scheme = str_at(http, &["scheme"]);
        if !["HTTP", "HTTPS"].contains(&scheme) {
            causes.push(Cause::not_supported(
                format!("{path}.httpGet.scheme"),
                &gofmt::quote(scheme),
                &["HTTP", "HTTPS"],
            ));
        }
    }
    if let Some(tcp) = p.get("tcpSocket").filter(|t| t.is_object()) {
        causes.extend(port_num_or_name(
            tcp.get("port").unwrap_or(&Value::Null),
            &format!("{path}.tcpSocket.port"),
        ));
    }
    for key in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if let Some(n) = i64_at(p, &[key]).filter(|n| *n < 0) {
            causes.push(Cause::invalid(
                format!("{path}.{key}"),
                &n.to_string(),
                NEGATIVE,
            ));
        }
    }
    if success_must_be_one && let Some(n) = i64_at(p, &["successThreshold"]).filter(|n| *n != 1) {
        causes.push(Cause::invalid(
            format!("{path}.successThreshold"),
            &n.to_string(),
            "must be 1",
        ));
    }
    causes
}

/// upstream ValidatePortNumOrName.
fn port_num_or_name(v: &Value, path: &str) -> Vec<Cause> {
    match v {
        Value::Number(n) => {
            let n = n.as_i64().unwrap_or(0);
            syntax::port_num(n)
                .into_iter()
                .map(|m| Cause::invalid(path, &n.to_string(), &m))
                .collect()
        }
        Value::String(s) => syntax::port_name(s)
            .into_iter()
            .map(|m| Cause::invalid(path, &gofmt::quote(s), &m))
            .collect(),
        _ => vec![Cause::invalid(
            path,
            &gofmt::scalar(v),
            "must be an integer or string",
        )],
    }
}
