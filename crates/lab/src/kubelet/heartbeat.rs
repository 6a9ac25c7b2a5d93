//! Node heartbeats: every 10 s (upstream `nodeStatusUpdateFrequency` and the node lease
//! renew interval) each node's conditions get a fresh `lastHeartbeatTime` and its Lease in
//! `kube-node-lease` a fresh `renewTime` (`leaseDurationSeconds` 40, as upstream).

use std::time::Duration;

use serde_json::{Value, json};

use crate::controllers::runtime::{Informer, Key, Reconciler, Requeue};
use crate::kinds;
use crate::registry::{Registry, Subresource, WriteOptions};
use crate::store::StoredEvent;

/// Upstream `nodeStatusUpdateFrequency` / lease renew interval.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// The heartbeat controller, keyed by node.
pub struct Heartbeat;

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: "kubelet".into(),
        ..WriteOptions::default()
    }
}

/// `renewTime` is a MicroTime.
fn micro_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

fn renew_lease(registry: &Registry, node: &Value, name: &str) {
    let Some(leases) = kinds::find("coordination.k8s.io", "v1", "leases") else {
        return;
    };
    let spec =
        json!({"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_now()});
    match registry.store().get(leases, "kube-node-lease", name) {
        Some(current) => {
            let mut lease = (*current).clone();
            lease["spec"] = spec;
            let _ = registry.update(
                leases,
                "kube-node-lease",
                name,
                lease,
                Subresource::Main,
                &opts(),
            );
        }
        None => {
            let owner = json!([{"apiVersion": "v1", "kind": "Node", "name": name,
                "uid": node.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)}]);
            let lease = json!({"metadata": {"name": name, "namespace": "kube-node-lease",
                "ownerReferences": owner}, "spec": spec});
            let _ = registry.create(leases, "kube-node-lease", lease, &opts());
        }
    }
}

fn beat(registry: &Registry, node: &Value, name: &str) {
    let Some(nodes) = kinds::find("", "v1", "nodes") else {
        return;
    };
    let now = crate::registry::meta_now();
    let mut updated = node.clone();
    if let Some(conds) = updated
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conds {
            c["lastHeartbeatTime"] = json!(now);
        }
    }
    let _ = registry.update(nodes, "", name, updated, Subresource::Status, &opts());
}

impl Reconciler for Heartbeat {
    fn name(&self) -> &'static str {
        "node-heartbeat"
    }

    fn keys_for(&self, _ev: &StoredEvent, _cache: &Informer) -> Vec<Key> {
        // Driven by its own timer only.
        Vec::new()
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        kinds::find("", "v1", "nodes")
            .map(|rt| cache.list(rt, None))
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.pointer("/metadata/name").and_then(Value::as_str))
            .map(|n| (String::new(), n.to_string()))
            .collect()
    }

    fn reconcile(&mut self, key: &Key, _cache: &Informer, registry: &Registry) -> Requeue {
        let Some(node) =
            kinds::find("", "v1", "nodes").and_then(|rt| registry.get(rt, "", &key.1).ok())
        else {
            return Requeue::OnChange;
        };
        beat(registry, &node, &key.1);
        renew_lease(registry, &node, &key.1);
        Requeue::After(INTERVAL)
    }
}
