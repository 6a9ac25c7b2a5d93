//! The garbage collector and namespace finalizer.
//!
//! Follows ownerReferences as upstream's garbage collector does: a dependent whose owners
//! are all gone is deleted (background propagation); a dangling reference next to a live
//! owner is pruned; an owner with the `foregroundDeletion` finalizer waits until its
//! dependents are gone; one with `orphan` has its dependents released first. A namespace
//! being deleted has its contents deleted, then goes itself. All changes go through the
//! registry, so each one is a watch event.
//!
//! The collector keeps an index (uid -> object, owner uid -> dependents) built from the
//! store's events, so each event costs work proportional to the objects it concerns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::kinds::{self, ResourceType};
use crate::registry::{DeleteOptions, Propagation, Registry};
use crate::store::{EventType, StoredEvent};

const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";

#[derive(Clone)]
struct Entry {
    rt: &'static ResourceType,
    namespace: String,
    name: String,
    object: Arc<Value>,
}

fn uid(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(String::from)
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == f))
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
}

#[derive(Default)]
struct Index {
    objects: HashMap<String, Entry>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Index {
    fn insert(&mut self, e: Entry) {
        let Some(u) = uid(&e.object) else { return };
        self.remove(&u);
        for owner in owner_uids(&e.object) {
            self.dependents.entry(owner).or_default().insert(u.clone());
        }
        self.objects.insert(u, e);
    }

    fn remove(&mut self, u: &str) -> Option<Entry> {
        let old = self.objects.remove(u)?;
        for owner in owner_uids(&old.object) {
            if let Some(set) = self.dependents.get_mut(&owner) {
                set.remove(u);
                if set.is_empty() {
                    self.dependents.remove(&owner);
                }
            }
        }
        Some(old)
    }

    fn dependents_of(&self, owner: &str) -> Vec<Entry> {
        self.dependents
            .get(owner)
            .map(|set| {
                set.iter()
                    .filter_map(|d| self.objects.get(d).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs the collector until cancelled.
pub async fn run(registry: Registry, cancel: CancellationToken) {
    loop {
        let (all, _, mut rx) = registry.store().snapshot_all_and_subscribe();
        let mut index = Index::default();
        for (key, obj) in &all {
            if let Some(e) = entry_for(key, obj) {
                index.insert(e);
            }
        }
        let mut gc = Collector {
            registry: registry.clone(),
            index,
        };
        gc.resync();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                ev = rx.recv() => match ev {
                    Ok(ev) => gc.handle(&ev),
                    // Fell behind: rebuild the index from a fresh snapshot.
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }
}

fn entry_for(store_key: &str, obj: &Arc<Value>) -> Option<Entry> {
    let rt = kinds::RESOURCES
        .iter()
        .find(|r| r.store_key() == store_key)?;
    Some(Entry {
        rt,
        namespace: obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        name: obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        object: obj.clone(),
    })
}

struct Collector {
    registry: Registry,
    index: Index,
}

impl Collector {
    fn resync(&mut self) {
        let entries: Vec<Entry> = self.index.objects.values().cloned().collect();
        for e in entries {
            self.check(&e);
        }
    }

    fn handle(&mut self, ev: &StoredEvent) {
        let entry = Entry {
            rt: ev.resource,
            namespace: ev.namespace.clone(),
            name: ev
                .object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            object: ev.object.clone(),
        };
        match ev.kind {
            EventType::Deleted => {
                let Some(u) = uid(&ev.object) else { return };
                self.index.remove(&u);
                for dep in self.index.dependents_of(&u) {
                    self.check(&dep);
                }
                // An owner waiting in foreground deletion may now be free to go.
                for owner in owner_uids(&ev.object) {
                    if let Some(o) = self.index.objects.get(&owner).cloned() {
                        self.check(&o);
                    }
                }
                if !ev.namespace.is_empty() {
                    self.check_namespace(&ev.namespace);
                }
            }
            EventType::Added | EventType::Modified => {
                self.index.insert(entry.clone());
                self.check(&entry);
            }
        }
    }

    /// Brings one object in line with its owners and its own finalizers.
    fn check(&mut self, e: &Entry) {
        let obj = &e.object;
        let Some(my_uid) = uid(obj) else { return };
        let owners = owner_uids(obj);
        if !owners.is_empty() && !deleting(obj) {
            let alive: Vec<&String> = owners
                .iter()
                .filter(|o| self.index.objects.contains_key(*o))
                .collect();
            if alive.is_empty() {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..DeleteOptions::default()
                };
                let _ = self.registry.delete(e.rt, &e.namespace, &e.name, &opts);
                return;
            }
            // An owner in foreground deletion takes its dependents with it.
            let foreground_owner = alive
                .iter()
                .filter_map(|o| self.index.objects.get(*o))
                .any(|o| deleting(&o.object) && has_finalizer(&o.object, FOREGROUND));
            if foreground_owner {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Foreground),
                    ..DeleteOptions::default()
                };
                let _ = self.registry.delete(e.rt, &e.namespace, &e.name, &opts);
                return;
            }
            if alive.len() != owners.len() {
                let refs: Vec<Value> = obj
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter(|r| {
                                r.get("uid")
                                    .and_then(Value::as_str)
                                    .is_some_and(|u| self.index.objects.contains_key(u))
                            })
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let _ = self
                    .registry
                    .set_owner_references(e.rt, &e.namespace, obj, refs);
            }
        }
        if deleting(obj) && has_finalizer(obj, ORPHAN) {
            for dep in self.index.dependents_of(&my_uid) {
                let refs: Vec<Value> = dep
                    .object
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter(|r| {
                                r.get("uid").and_then(Value::as_str) != Some(my_uid.as_str())
                            })
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let _ =
                    self.registry
                        .set_owner_references(dep.rt, &dep.namespace, &dep.object, refs);
            }
            let _ = self
                .registry
                .remove_finalizer(e.rt, &e.namespace, &e.name, ORPHAN);
        } else if deleting(obj) && has_finalizer(obj, FOREGROUND) {
            let deps = self.index.dependents_of(&my_uid);
            if deps.is_empty() {
                let _ = self
                    .registry
                    .remove_finalizer(e.rt, &e.namespace, &e.name, FOREGROUND);
            } else {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Foreground),
                    ..DeleteOptions::default()
                };
                for dep in deps.iter().filter(|d| !deleting(&d.object)) {
                    let _ = self
                        .registry
                        .delete(dep.rt, &dep.namespace, &dep.name, &opts);
                }
            }
        }
        if e.rt.plural == "namespaces" && deleting(obj) {
            self.drain_namespace(&e.name);
        }
    }

    /// Deletes everything in a terminating namespace, then the namespace itself.
    fn drain_namespace(&mut self, ns: &str) {
        let contents: Vec<Entry> = self
            .index
            .objects
            .values()
            .filter(|o| o.namespace == ns)
            .cloned()
            .collect();
        for c in contents.iter().filter(|c| !deleting(&c.object)) {
            let _ = self
                .registry
                .delete(c.rt, &c.namespace, &c.name, &DeleteOptions::default());
        }
        self.check_namespace(ns);
    }

    fn check_namespace(&mut self, ns: &str) {
        let terminating = self
            .index
            .objects
            .values()
            .find(|o| o.rt.plural == "namespaces" && o.name == ns)
            .filter(|o| deleting(&o.object))
            .cloned();
        let Some(namespace) = terminating else { return };
        if !self.index.objects.values().any(|o| o.namespace == ns) {
            let _ = self
                .registry
                .finish_namespace(namespace.rt, &namespace.name);
        }
    }
}
