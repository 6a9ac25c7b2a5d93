//! Resource quantities and a pod's effective requests, as the scheduler counts them.
//!
//! Follows `k8s.io/component-helpers/resource` `PodRequests`: app containers are summed,
//! each init container runs alone (plus the sidecars started before it), restartable init
//! containers (native sidecars) run for the pod's whole life, and `spec.overhead` is added.
//! Quantities are kept in milli-units so `500m` CPU and `1Gi` memory share one integer type.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Requests per resource name, in milli-units.
pub type Resources = BTreeMap<String, i128>;

/// The scheduler's stand-in for a container without a CPU request when scoring
/// (`DefaultMilliCPURequest`, 100m), so request-less pods still spread.
pub const SCORING_DEFAULT_CPU_MILLI: i128 = 100;
/// The same for memory (`DefaultMemoryRequest`, 200Mi), in milli-bytes.
pub const SCORING_DEFAULT_MEMORY_MILLI: i128 = 200 * 1024 * 1024 * 1000;

/// Parses a resource quantity into milli-units (`500m` -> 500, `2` -> 2000,
/// `1Gi` -> 1073741824000). Unparsable quantities count as zero.
pub fn parse_quantity_milli(q: &str) -> i128 {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let Ok(n) = num.parse::<f64>() else { return 0 };
    let mult: f64 = match suffix {
        "" => 1.0,
        "m" => 0.001,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        s if s.starts_with('e') || s.starts_with('E') => {
            s[1..].parse::<i32>().map(|e| 10f64.powi(e)).unwrap_or(0.0)
        }
        _ => return 0,
    };
    (n * mult * 1000.0).round() as i128
}

/// Formats milli-units for a message: whole units when exact (`2`), else milli (`1500m`).
pub fn format_milli(v: i128) -> String {
    if v % 1000 == 0 {
        (v / 1000).to_string()
    } else {
        format!("{v}m")
    }
}

/// A quantity map (`status.allocatable`, `resources.requests`) in milli-units.
pub fn quantities(map: Option<&BTreeMap<String, Quantity>>) -> Resources {
    map.map(|m| {
        m.iter()
            .map(|(k, q)| (k.clone(), parse_quantity_milli(&q.0)))
            .collect()
    })
    .unwrap_or_default()
}

/// One container's requests; a limit stands in for a missing request, as API defaulting
/// copies limits into requests.
fn container_requests(c: &Container) -> Resources {
    let r = c.resources.as_ref();
    let mut out = quantities(r.and_then(|r| r.limits.as_ref()));
    out.extend(quantities(r.and_then(|r| r.requests.as_ref())));
    out
}

fn add(into: &mut Resources, from: &Resources) {
    for (k, v) in from {
        *into.entry(k.clone()).or_insert(0) += v;
    }
}

fn max_into(into: &mut Resources, from: &Resources) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_insert(0);
        *e = (*e).max(*v);
    }
}

/// The pod's effective requests (`PodRequests`), without the `pods` slot it also takes.
pub fn pod_requests(pod: &Pod) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::new();
    };
    let mut reqs = Resources::new();
    for c in &spec.containers {
        add(&mut reqs, &container_requests(c));
    }
    let mut sidecars = Resources::new();
    let mut init_max = Resources::new();
    for c in spec.init_containers.iter().flatten() {
        let own = container_requests(c);
        let peak = if c.restart_policy.as_deref() == Some("Always") {
            // A sidecar keeps running beside everything started after it.
            add(&mut reqs, &own);
            add(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut tmp = own;
            add(&mut tmp, &sidecars);
            tmp
        };
        max_into(&mut init_max, &peak);
    }
    max_into(&mut reqs, &init_max);
    add(&mut reqs, &quantities(spec.overhead.as_ref()));
    reqs.retain(|_, v| *v != 0);
    reqs
}

/// Requests as scoring sees them: a missing CPU or memory request counts as the defaults.
pub fn scoring_requests(pod: &Pod) -> Resources {
    let mut r = pod_requests(pod);
    r.entry("cpu".into()).or_insert(SCORING_DEFAULT_CPU_MILLI);
    r.entry("memory".into())
        .or_insert(SCORING_DEFAULT_MEMORY_MILLI);
    r
}
