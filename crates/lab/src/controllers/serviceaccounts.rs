//! The ServiceAccount controller's one job (upstream `serviceaccounts-controller`): every
//! active namespace has a `default` ServiceAccount, created with the namespace and again
//! if it is deleted. The lab issues no tokens and does not mount them into pods.

use serde_json::json;

use super::runtime::{Informer, Key, RETRY, Reconciler, Requeue, key_of, resource, writer};
use crate::registry::Registry;
use crate::store::StoredEvent;

/// The ServiceAccount every namespace gets.
pub const DEFAULT: &str = "default";

/// The `default` ServiceAccount of `namespace`, as the controller creates it.
pub fn default_account(namespace: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": DEFAULT, "namespace": namespace}})
}

/// Keeps a `default` ServiceAccount in every active namespace.
pub struct ServiceAccountsController;

impl Reconciler for ServiceAccountsController {
    fn name(&self) -> &'static str {
        "serviceaccounts"
    }

    fn keys_for(&self, ev: &StoredEvent, _cache: &Informer) -> Vec<Key> {
        let (ns, name) = key_of(&ev.object);
        match (ev.resource.group, ev.resource.plural) {
            ("", "namespaces") => vec![(String::new(), name)],
            ("", "serviceaccounts") if name == DEFAULT => vec![(String::new(), ns)],
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        cache
            .list(resource("", "namespaces"), None)
            .iter()
            .map(|n| (String::new(), key_of(n).1))
            .collect()
    }

    fn reconcile(&mut self, key: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let namespace = &key.1;
        let active = cache
            .get(resource("", "namespaces"), "", namespace)
            .is_some_and(|n| {
                n.pointer("/metadata/deletionTimestamp").is_none()
                    && n.pointer("/status/phase").and_then(|p| p.as_str()) != Some("Terminating")
            });
        let accounts = resource("", "serviceaccounts");
        if !active || cache.get(accounts, namespace, DEFAULT).is_some() {
            return Requeue::OnChange;
        }
        let opts = writer("service-account-controller");
        match registry.create(accounts, namespace, default_account(namespace), &opts) {
            // 409: created meanwhile; 403/404: the namespace is going or gone.
            Ok(_) => Requeue::OnChange,
            Err(e) if matches!(e.code, 403 | 404 | 409) => Requeue::OnChange,
            Err(_) => Requeue::After(RETRY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaces_need_a_default_account_and_other_accounts_are_ignored() {
        let ns = resource("", "namespaces");
        let cache = Informer::default().with(
            ns,
            vec![
                json!({"metadata": {"name": "a"}, "status": {"phase": "Active"}}),
                json!({"metadata": {"name": "b", "deletionTimestamp": "2026-01-01T00:00:00Z"}}),
            ],
        );
        let keys = ServiceAccountsController.all_keys(&cache);
        assert_eq!(
            keys,
            [
                (String::new(), "a".to_string()),
                (String::new(), "b".to_string())
            ]
        );
        assert_eq!(default_account("a")["metadata"]["namespace"], "a");
    }
}
