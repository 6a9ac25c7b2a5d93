//! The lab's nodes: what each reports as capacity and condition.

use serde_json::{Value, json};

/// The status a lab node registers with: Ready, with a loopback address and the capacity
/// pods are scheduled against.
pub fn initial_status(index: usize) -> Value {
    let now = crate::registry::meta_now();
    json!({
        "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
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
