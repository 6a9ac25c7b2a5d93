//! The lab's nodes: what each reports as capacity and condition, and the per-node labels,
//! taints and GPU counts a lab can start with (a GPU pool and a CPU pool).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use serde_json::{Value, json};

/// What each lab node offers to pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCapacity {
    pub cpu: String,
    pub memory: String,
    /// `nvidia.com/gpu` per node; 0 leaves the resource out, as on a node without GPUs.
    pub gpus: u32,
    pub pods: u32,
}

impl Default for NodeCapacity {
    fn default() -> Self {
        Self {
            cpu: "8".into(),
            memory: "32Gi".into(),
            gpus: 0,
            pods: 110,
        }
    }
}

/// The status a lab node registers with: Ready, with a loopback address and the capacity
/// pods are scheduled against.
pub fn initial_status(index: usize, cap: &NodeCapacity) -> Value {
    let now = crate::registry::meta_now();
    let mut resources = json!({"cpu": cap.cpu, "memory": cap.memory, "pods": cap.pods.to_string(), "ephemeral-storage": "100Gi"});
    if cap.gpus > 0 {
        resources["nvidia.com/gpu"] = json!(cap.gpus.to_string());
    }
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now, "lastTransitionTime": now},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now, "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now},
        ],
        "addresses": [
            {"type": "InternalIP", "address": format!("127.0.0.{}", index.min(254))},
            {"type": "Hostname", "address": format!("lab-node-{index}")},
        ],
        "nodeInfo": {
            "kubeletVersion": "v1.33.0-lab", "kubeProxyVersion": "v1.33.0-lab",
            "containerRuntimeVersion": "lab-process://0.1", "operatingSystem": "linux",
            "architecture": "amd64", "osImage": "rollout lab", "kernelVersion": "",
            "machineID": "", "systemUUID": "", "bootID": "",
        },
    })
}

/// Per-node labels, taints and GPU counts a lab starts with (`rollout lab up --node-labels`,
/// `--node-taints`, `--node-gpus`), on top of the well-known labels every node gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeLayout {
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    pub taints: BTreeMap<String, Vec<Taint>>,
    pub gpus: BTreeMap<String, u32>,
}

/// A node option that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeLayoutError {
    #[error("`{0}` does not name a node: expected NODE=...")]
    NoNode(String),
    #[error("label `{0}` is not KEY=VALUE")]
    Label(String),
    #[error(
        "taint `{0}` is not KEY[=VALUE]:EFFECT with EFFECT NoSchedule, PreferNoSchedule or NoExecute"
    )]
    Taint(String),
    #[error("`{0}` is not a GPU count")]
    Gpus(String),
    #[error("node `{0}` is not one of the lab's nodes (lab-node-1 to lab-node-{1})")]
    Unknown(String, usize),
}

fn split_node(arg: &str) -> Result<(String, &str), NodeLayoutError> {
    match arg.split_once('=') {
        Some((node, rest)) if !node.trim().is_empty() => Ok((node.trim().to_string(), rest)),
        _ => Err(NodeLayoutError::NoNode(arg.to_string())),
    }
}

/// `KEY[=VALUE]:EFFECT`, as `kubectl taint` writes a taint.
pub fn parse_taint(s: &str) -> Result<Taint, NodeLayoutError> {
    let bad = || NodeLayoutError::Taint(s.to_string());
    let (kv, effect) = s.rsplit_once(':').ok_or_else(bad)?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(bad());
    }
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    if key.is_empty() {
        return Err(bad());
    }
    Ok(Taint {
        key: key.to_string(),
        value: (!value.is_empty()).then(|| value.to_string()),
        effect: effect.to_string(),
        time_added: None,
    })
}

impl NodeLayout {
    /// `NODE=KEY=VALUE[,KEY=VALUE...]`.
    pub fn add_labels(&mut self, arg: &str) -> Result<(), NodeLayoutError> {
        let (node, rest) = split_node(arg)?;
        let entry = self.labels.entry(node).or_default();
        for kv in rest.split(',').filter(|s| !s.is_empty()) {
            match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    entry.insert(k.to_string(), v.to_string());
                }
                _ => return Err(NodeLayoutError::Label(kv.to_string())),
            }
        }
        Ok(())
    }

    /// `NODE=KEY[=VALUE]:EFFECT[,KEY[=VALUE]:EFFECT...]`.
    pub fn add_taints(&mut self, arg: &str) -> Result<(), NodeLayoutError> {
        let (node, rest) = split_node(arg)?;
        let entry = self.taints.entry(node).or_default();
        for t in rest.split(',').filter(|s| !s.is_empty()) {
            entry.push(parse_taint(t)?);
        }
        Ok(())
    }

    /// `NODE=K`: this node's `nvidia.com/gpu` count, overriding the per-node default.
    pub fn add_gpus(&mut self, arg: &str) -> Result<(), NodeLayoutError> {
        let (node, rest) = split_node(arg)?;
        let k = rest
            .trim()
            .parse()
            .map_err(|_| NodeLayoutError::Gpus(rest.to_string()))?;
        self.gpus.insert(node, k);
        Ok(())
    }

    /// Every node named exists among `lab-node-1..=count`.
    pub fn check(&self, count: usize) -> Result<(), NodeLayoutError> {
        let known = |n: &str| {
            n.strip_prefix("lab-node-")
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| (1..=count).contains(&i))
        };
        let names = self
            .labels
            .keys()
            .chain(self.taints.keys())
            .chain(self.gpus.keys());
        for n in names {
            if !known(n) {
                return Err(NodeLayoutError::Unknown(n.clone(), count));
            }
        }
        Ok(())
    }

    /// The node's labels: the well-known ones a kubelet sets, then the layout's.
    pub fn labels_for(&self, name: &str, gpus: u32) -> BTreeMap<String, String> {
        let mut l: BTreeMap<String, String> = [
            ("kubernetes.io/hostname", name),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("beta.kubernetes.io/arch", "amd64"),
            (
                "node.kubernetes.io/instance-type",
                if gpus > 0 { "lab.gpu" } else { "lab.standard" },
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        l.extend(self.labels.get(name).cloned().unwrap_or_default());
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_options_parse_labels_taints_and_gpus_per_node() {
        let mut l = NodeLayout::default();
        assert!(l.add_labels("lab-node-1=pool=gpu,accel=a100").is_ok());
        assert!(
            l.add_taints("lab-node-1=nvidia.com/gpu=present:NoSchedule,spot:PreferNoSchedule")
                .is_ok()
        );
        assert!(l.add_gpus("lab-node-1=2").is_ok());
        let labels = l.labels_for("lab-node-1", 2);
        assert_eq!(labels.get("pool").map(String::as_str), Some("gpu"));
        assert_eq!(labels.get("accel").map(String::as_str), Some("a100"));
        assert_eq!(
            labels
                .get("node.kubernetes.io/instance-type")
                .map(String::as_str),
            Some("lab.gpu")
        );
        let taints = &l.taints["lab-node-1"];
        assert_eq!(taints[0].key, "nvidia.com/gpu");
        assert_eq!(taints[0].value.as_deref(), Some("present"));
        assert_eq!(taints[1].value, None);
        assert_eq!(taints[1].effect, "PreferNoSchedule");
        assert_eq!(l.gpus.get("lab-node-1"), Some(&2));
        assert!(l.check(1).is_ok());
        assert!(matches!(l.check(0), Err(NodeLayoutError::Unknown(..))));
    }

    #[test]
    fn malformed_node_options_are_refused() {
        let mut l = NodeLayout::default();
        assert!(matches!(
            l.add_labels("pool=gpu"),
            Err(NodeLayoutError::Label(_))
        ));
        assert!(matches!(
            l.add_labels("=x=y"),
            Err(NodeLayoutError::NoNode(_))
        ));
        assert!(matches!(
            l.add_taints("n=key=v:Sometimes"),
            Err(NodeLayoutError::Taint(_))
        ));
        assert!(matches!(
            l.add_taints("n=key"),
            Err(NodeLayoutError::Taint(_))
        ));
        assert!(matches!(l.add_gpus("n=two"), Err(NodeLayoutError::Gpus(_))));
    }
}
