//! Which pods back a Service, and how: the pure half of the Endpoints and EndpointSlice
//! controllers.
//!
//! Follows upstream `pkg/controller/endpoint/endpoints_controller.go` (`syncService`,
//! `addEndpointSubset`), `staging/src/k8s.io/endpointslice/util/controller_utils.go`
//! (`ShouldPodBeInEndpoints`, `ShouldSetHostname`), `utils.go` (`podToEndpoint`,
//! `getEndpointPorts`) and `pkg/api/v1/pod` (`FindPort`, `IsPodReady`). Given a Service and
//! the pods of its namespace it says what the Endpoints subsets and the EndpointSlices'
//! ports and endpoints should hold; the controllers only compare and write.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, ObjectReference, Pod, Service, ServicePort,
};
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Label on EndpointSlices naming their Service (`discovery.LabelServiceName`).
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Label on EndpointSlices naming their manager (`discovery.LabelManagedBy`).
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// The upstream EndpointSlice controller's name, as it labels its slices.
pub const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";
/// Label on Endpoints and EndpointSlices of Services without a ClusterIP.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Annotation with the time of the earliest change not yet reflected in the object.
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Upstream `maxEndpointsPerSlice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// True when the Service gets endpoints from the controllers: not ExternalName, and with a
/// selector (Services without one have manually managed endpoints).
pub fn is_managed(svc: &Service) -> bool {
    let spec = svc.spec.as_ref();
    spec.and_then(|s| s.selector.as_ref()).is_some()
        && spec.and_then(|s| s.type_.as_deref()) != Some("ExternalName")
}

/// True when the Service's selector selects the pod (same namespace, every pair equal).
pub fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(selector) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    if svc.metadata.namespace != pod.metadata.namespace {
        return false;
    }
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// `IsPodReady`: the Ready condition is True.
pub fn is_pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod_ip(pod: &Pod) -> Option<&str> {
    let status = pod.status.as_ref()?;
    status
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .or_else(|| status.pod_ips.as_ref()?.first().map(|p| p.ip.as_str()))
}

fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// `ShouldPodBeInEndpoints`: the pod has an IP, is not terminating (unless those are
/// included) and is not finished for good under its restart policy.
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if pod_ip(pod).is_none() {
        return false;
    }
    if !include_terminating && terminating(pod) {
        return false;
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
        Some("Never") => !matches!(phase, Some("Succeeded") | Some("Failed")),
        Some("OnFailure") => phase != Some("Succeeded"),
        _ => true,
    }
}

fn protocol(p: Option<&String>) -> &str {
    p.map(String::as_str).unwrap_or("TCP")
}

/// `FindPort`: the pod port a Service port targets. A number is taken as is (absent means
/// the Service port, as defaulting sets it); a name must match a container port of the
/// same protocol, else the pod does not serve this Service port.
pub fn find_port(pod: &Pod, sp: &ServicePort) -> Option<i32> {
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(0)) => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && protocol(p.protocol.as_ref()) == protocol(sp.protocol.as_ref())
                })
                .map(|p| p.container_port)
        }
    }
}

fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// `ShouldSetHostname`: the pod names itself and sits in the Service's subdomain.
fn hostname(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.as_ref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_ref() == svc.metadata.name.as_ref()
        && pod.metadata.namespace == svc.metadata.namespace)
        .then(|| host.clone())
}

fn ports_of(svc: &Service) -> &[ServicePort] {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or(&[])
}

fn publish_not_ready(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// The pod's resolved ports for the Service, in Service port order, for the Endpoints
/// object (`endpointPortFromServicePort`).
fn endpoint_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    ports_of(svc)
        .iter()
        .filter_map(|sp| {
            find_port(pod, sp).map(|port| EndpointPort {
                name: sp.name.clone(),
                port,
                protocol: Some(protocol(sp.protocol.as_ref()).to_string()),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

fn port_key(p: &EndpointPort) -> (String, i32, String) {
    (
        p.name.clone().unwrap_or_default(),
        p.port,
        p.protocol.clone().unwrap_or_default(),
    )
}

/// The Endpoints subsets for a Service, already repacked: addresses grouped by their set
/// of ports, ready ones in `addresses`, others in `notReadyAddresses`, sorted by IP (as
/// `RepackSubsets`/`LessEndpointAddress`). Terminating pods appear only with
/// publishNotReadyAddresses, and then as ready.
pub fn endpoints_subsets(svc: &Service, pods: &[Pod]) -> Vec<EndpointSubset> {
    let tolerate = publish_not_ready(svc);
    // Keyed by the sorted port list; upstream orders subsets by a hash of their content,
    // which is as arbitrary as this and equally stable.
    let mut groups: BTreeMap<Vec<(String, i32, String)>, EndpointSubset> = BTreeMap::new();
    for pod in pods.iter().filter(|p| selects(svc, p)) {
        if !should_pod_be_in_endpoints(pod, tolerate) {
            continue;
        }
        let Some(ip) = pod_ip(pod) else { continue };
        let mut ports = endpoint_ports(svc, pod);
        if ports.is_empty() && !(ports_of(svc).is_empty() && is_headless(svc)) {
            continue;
        }
        ports.sort_by_key(port_key);
        let address = EndpointAddress {
            ip: ip.to_string(),
            hostname: hostname(pod, svc),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(target_ref(pod)),
        };
        let subset = groups
            .entry(ports.iter().map(port_key).collect())
            .or_insert_with(|| EndpointSubset {
                ports: (!ports.is_empty()).then_some(ports),
                ..EndpointSubset::default()
            });
        let list = if tolerate || is_pod_ready(pod) {
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        list.get_or_insert_with(Vec::new).push(address);
    }
    let mut subsets: Vec<EndpointSubset> = groups.into_values().collect();
    for s in &mut subsets {
        for list in [&mut s.addresses, &mut s.not_ready_addresses]
            .into_iter()
            .flatten()
        {
            list.sort_by(|a, b| {
                (
                    a.ip.as_bytes(),
                    a.target_ref.as_ref().and_then(|r| r.uid.as_ref()),
                )
                    .cmp(&(
                        b.ip.as_bytes(),
                        b.target_ref.as_ref().and_then(|r| r.uid.as_ref()),
                    ))
            });
        }
    }
    subsets
}

/// The ports and endpoints of one EndpointSlice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SliceContent {
    pub ports: Vec<discovery::EndpointPort>,
    pub endpoints: Vec<discovery::Endpoint>,
}

/// The EndpointSlices' content for a Service: endpoints grouped by their resolved ports
/// (upstream's `endpointMeta`), at most 100 per slice, sorted by address. Terminating pods
/// stay with `serving` = Ready, `terminating` = true and `ready` = publishNotReadyAddresses
/// || (serving && !terminating) (`podToEndpoint`). A Service without endpoints gets one
/// empty placeholder slice, as upstream.
pub fn slice_contents(svc: &Service, pods: &[Pod]) -> Vec<SliceContent> {
    let tolerate = publish_not_ready(svc);
    let mut groups: BTreeMap<String, SliceContent> = BTreeMap::new();
    for pod in pods.iter().filter(|p| selects(svc, p)) {
        if !should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let Some(ip) = pod_ip(pod) else { continue };
        let ports: Vec<discovery::EndpointPort> = endpoint_ports(svc, pod)
            .into_iter()
            .map(|p| discovery::EndpointPort {
                name: Some(p.name.unwrap_or_default()),
                port: Some(p.port),
                protocol: p.protocol,
                app_protocol: p.app_protocol,
            })
            .collect();
        if ports.is_empty() && !(ports_of(svc).is_empty() && is_headless(svc)) {
            continue;
        }
        let serving = is_pod_ready(pod);
        let term = terminating(pod);
        let endpoint = discovery::Endpoint {
            addresses: vec![ip.to_string()],
            conditions: Some(discovery::EndpointConditions {
                ready: Some(tolerate || (serving && !term)),
                serving: Some(serving),
                terminating: Some(term),
            }),
            hostname: hostname(pod, svc),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(target_ref(pod)),
            ..discovery::Endpoint::default()
        };
        let key = serde_json::to_string(&ports).unwrap_or_default();
        groups
            .entry(key)
            .or_insert_with(|| SliceContent {
                ports,
                endpoints: Vec::new(),
            })
            .endpoints
            .push(endpoint);
    }
    let mut out = Vec::new();
    for mut group in groups.into_values() {
        group
            .endpoints
            .sort_by(|a, b| a.addresses.cmp(&b.addresses));
        for chunk in group.endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            out.push(SliceContent {
                ports: group.ports.clone(),
                endpoints: chunk.to_vec(),
            });
        }
    }
    if out.is_empty() {
        out.push(SliceContent::default());
    }
    out
}

/// Labels of the Endpoints object: the Service's, plus the headless marker.
pub fn endpoints_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    labels.remove(HEADLESS_LABEL);
    if is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

/// Labels of an EndpointSlice (`setEndpointSliceLabels`): the Service's, except the
/// reserved ones, plus the service name, the manager and the headless marker.
pub fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = endpoints_labels(svc);
    labels.insert(
        SERVICE_NAME_LABEL.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(MANAGED_BY_LABEL.into(), SLICE_CONTROLLER.into());
    labels
}

#[cfg(test)]
#[path = "endpoint_selection_tests.rs"]
mod tests;
