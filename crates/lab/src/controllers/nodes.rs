//! The lab's nodes: what each reports as capacity and condition.

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
