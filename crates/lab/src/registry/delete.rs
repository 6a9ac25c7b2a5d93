//! DELETE as upstream: preconditions, graceful pod deletion, finalizers and the
//! garbage-collector finalizers that propagation policies add.
//!
//! An object with finalizers (or a pod on a node, which its kubelet must stop first) is not
//! removed but marked: `deletionTimestamp` is set and a MODIFIED event tells watchers. It is
//! removed when the last finalizer goes (or the kubelet deletes it with grace 0).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Registry, meta};
use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::store::resource_version;

/// `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Propagation {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "Orphan" => Ok(Self::Orphan),
            "Background" => Ok(Self::Background),
            "Foreground" => Ok(Self::Foreground),
            other => Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

/// The garbage collector's finalizers (upstream `metav1.FinalizerOrphanDependents` and
/// `FinalizerDeleteDependents`).
pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// DeleteOptions from the body or the query.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// Removed from the store (the last state).
    Gone(Arc<Value>),
    /// Marked for deletion, waiting on finalizers or a kubelet.
    Pending(Arc<Value>),
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// True when an object marked for deletion has nothing left holding it.
pub fn finalized(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
        && finalizers(obj).is_empty()
        && obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
}

/// A pod bound to a node and still running is deleted gracefully: its kubelet stops it.
fn graceful_pod(rt: &ResourceType, obj: &Value) -> bool {
    rt.plural == "pods"
        && obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
        && !matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded") | Some("Failed")
        )
}

fn timestamp_in(seconds: i64) -> String {
    let ts = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(seconds.max(0)))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Registry {
    /// Deletes one object.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, ApiError> {
        if let Some(storage) = crate::resources::conversion::storage_of(rt) {
            let view = |o: Arc<Value>| Arc::new(crate::resources::conversion::to_view(rt, &o));
            return Ok(match self.delete(storage, ns, name, opts)? {
                DeleteOutcome::Gone(o) => DeleteOutcome::Gone(view(o)),
                DeleteOutcome::Pending(o) => DeleteOutcome::Pending(view(o)),
            });
        }
        let current = self.get(rt, ns, name)?;
        if let Some(uid) = &opts.precondition_uid {
            let actual = current
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("");
            if uid != actual {
                return Err(ApiError::conflict_message(format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}",
                    rt.qualified()
                )));
            }
        }
        if let Some(rv) = &opts.precondition_rv {
            let actual = current
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            if rv != actual {
                return Err(ApiError::conflict_message(format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}",
                    rt.qualified()
                )));
            }
        }
        if let Some(g) = opts.grace_period_seconds
            && g < 0
        {
            return Err(ApiError::bad_request(
                "gracePeriodSeconds: Invalid value: must be greater than or equal to 0",
            ));
        }
        if rt.plural == "namespaces" {
            if opts.dry_run {
                return Ok(DeleteOutcome::Pending(current));
            }
            return self.delete_namespace(rt, name, &current);
        }
        let expected = resource_version(&current);
        let mut marked = (*current).clone();
        let mut fins = finalizers(&current);
        match opts.propagation {
            Some(Propagation::Foreground) if !fins.iter().any(|f| f == FOREGROUND_FINALIZER) => {
                fins.push(FOREGROUND_FINALIZER.into())
            }
            Some(Propagation::Orphan) if !fins.iter().any(|f| f == ORPHAN_FINALIZER) => {
                fins.push(ORPHAN_FINALIZER.into())
            }
            _ => {}
        }
        let already = current.pointer("/metadata/deletionTimestamp").is_some();
        let mut grace = 0;
        if graceful_pod(rt, &current) {
            let spec_grace = current
                .pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30);
            grace = opts.grace_period_seconds.unwrap_or(spec_grace);
            if already {
                let existing = current
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                // A second delete may only shorten the grace period.
                grace = grace.min(existing);
                if grace == existing && fins == finalizers(&current) {
                    return Ok(DeleteOutcome::Pending(current));
                }
            }
        } else if already
            && fins == finalizers(&current)
            // A pod that finished while its graceful deletion was pending (the kubelet
            // wrote the terminal phase) is removed by a grace-0 delete, as upstream
            // `BeforeDelete` only shortens a pending grace period.
            && current
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                == 0
        {
            return Ok(DeleteOutcome::Pending(current));
        }
        if fins.is_empty() && grace == 0 {
            if opts.dry_run {
                return Ok(DeleteOutcome::Gone(current));
            }
            return self
                .store()
                .remove(rt, ns, name, expected)
                .map(DeleteOutcome::Gone);
        }
        if !already || grace > 0 {
            marked["metadata"]["deletionTimestamp"] = json!(timestamp_in(grace));
        }
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        marked["metadata"]["finalizers"] = json!(fins);
        if opts.dry_run {
            return Ok(DeleteOutcome::Pending(Arc::new(marked)));
        }
        let (stored, _) = self.store().update(rt, ns, marked, expected)?;
        Ok(DeleteOutcome::Pending(stored))
    }

    /// Deleting a namespace marks it Terminating; the namespace finalizer (in the garbage
    /// collector) empties it and then removes it. The built-in namespaces stay.
    fn delete_namespace(
        &self,
        rt: &'static ResourceType,
        name: &str,
        current: &Value,
    ) -> Result<DeleteOutcome, ApiError> {
        if matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            )));
        }
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(DeleteOutcome::Pending(Arc::new(current.clone())));
        }
        let mut marked = current.clone();
        marked["metadata"]["deletionTimestamp"] = json!(timestamp_in(0));
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        marked["status"]["phase"] = json!("Terminating");
        let (stored, _) = self
            .store()
            .update(rt, "", marked, resource_version(current))?;
        Ok(DeleteOutcome::Pending(stored))
    }

    /// Removes a terminating namespace once it is empty.
    pub fn finish_namespace(&self, rt: &'static ResourceType, name: &str) -> Result<(), ApiError> {
        let current = self.get(rt, "", name)?;
        self.store()
            .remove(rt, "", name, resource_version(&current))?;
        Ok(())
    }

    /// Removes one finalizer (the garbage collector's own), completing the delete if it
    /// was the last.
    pub fn remove_finalizer(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        finalizer: &str,
    ) -> Result<(), ApiError> {
        let current = self.get(rt, ns, name)?;
        let fins: Vec<String> = finalizers(&current)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        let mut new = (*current).clone();
        new["metadata"]["finalizers"] = json!(fins);
        if fins.is_empty()
            && let Some(m) = new["metadata"].as_object_mut()
        {
            m.remove("finalizers");
        }
        let expected = resource_version(&current);
        if finalized(&new) {
            self.store().remove(rt, ns, name, expected)?;
        } else {
            self.store().update(rt, ns, new, expected)?;
        }
        Ok(())
    }

    /// Replaces an object's ownerReferences (the garbage collector orphaning or pruning
    /// dangling owners), retried by the caller on conflict.
    pub fn set_owner_references(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        current: &Value,
        refs: Vec<Value>,
    ) -> Result<(), ApiError> {
        let mut new = current.clone();
        if refs.is_empty() {
            if let Some(m) = new["metadata"].as_object_mut() {
                m.remove("ownerReferences");
            }
        } else {
            new["metadata"]["ownerReferences"] = json!(refs);
        }
        self.store()
            .update(rt, ns, new, resource_version(current))?;
        Ok(())
    }

    /// The name of an object, for callers holding only the JSON.
    pub fn name(obj: &Value) -> String {
        meta::name_of(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_finalized_when_marked_and_nothing_holds_it() {
        assert!(finalized(
            &json!({"metadata": {"deletionTimestamp": "t", "deletionGracePeriodSeconds": 0}})
        ));
        assert!(!finalized(
            &json!({"metadata": {"deletionTimestamp": "t", "finalizers": ["x"]}})
        ));
        assert!(!finalized(
            &json!({"metadata": {"deletionTimestamp": "t", "deletionGracePeriodSeconds": 30}})
        ));
        assert!(!finalized(&json!({"metadata": {}})));
    }

    #[test]
    fn unknown_propagation_policies_are_rejected() {
        assert!(Propagation::parse("Sideways").is_err());
        assert_eq!(
            Propagation::parse("Foreground").ok(),
            Some(Propagation::Foreground)
        );
    }
}
