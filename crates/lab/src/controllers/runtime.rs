//! The controller runtime: an informer cache fed by the store's events, a work queue of
//! keys, and timed requeues, driving any `Reconciler`.
//!
//! Like client-go's informer and work queue, but in-process: every event is applied to the
//! cache before any reconcile runs, and all events already published are drained first,
//! so a controller always sees its own previous writes (the job upstream's "expectations"
//! do for the ReplicaSet controller). Writes go through the registry, so each is a watch
//! event for everyone else.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::kinds::ResourceType;
use crate::registry::Registry;
use crate::store::{EventType, StoredEvent};

/// A namespaced name (namespace empty for cluster-scoped objects).
pub type Key = (String, String);

/// The local cache of every object, by type.
#[derive(Default)]
pub struct Informer {
    by_type: HashMap<String, BTreeMap<Key, Arc<Value>>>,
}

/// The key of an object.
pub fn key_of(obj: &Value) -> Key {
    (
        obj.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    )
}

impl Informer {
    /// A cache holding `objects` of type `rt` (for unit tests of reconcilers' reads).
    #[cfg(test)]
    pub fn with(mut self, rt: &ResourceType, objects: Vec<Value>) -> Self {
        for o in objects {
            self.insert(&rt.store_key(), Arc::new(o));
        }
        self
    }

    fn insert(&mut self, store_key: &str, obj: Arc<Value>) {
        self.by_type
            .entry(store_key.to_string())
            .or_default()
            .insert(key_of(&obj), obj);
    }

    fn apply(&mut self, ev: &StoredEvent) {
        let store_key = ev.resource.store_key();
        match ev.kind {
            EventType::Deleted => {
                if let Some(b) = self.by_type.get_mut(&store_key) {
                    b.remove(&key_of(&ev.object));
                }
            }
            _ => self.insert(&store_key, ev.object.clone()),
        }
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.by_type
            .get(&rt.store_key())
            .and_then(|b| b.get(&(ns.to_string(), name.to_string())))
            .cloned()
    }

    /// The key of every cached object of a type: most reconcilers' `all_keys`.
    pub fn keys(&self, rt: &ResourceType) -> Vec<Key> {
        self.by_type
            .get(&rt.store_key())
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Objects of a type in one namespace, or in all with `None`.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Arc<Value>> {
        match self.by_type.get(&rt.store_key()) {
            None => Vec::new(),
            Some(b) => b
                .iter()
                .filter(|((n, _), _)| ns.is_none_or(|ns| ns == n))
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }
}

/// When to look at a key again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// Only when something it watches changes.
    OnChange,
    /// After this long, or earlier on a change (deadlines, back-off, minReadySeconds).
    After(Duration),
}

/// A controller: which keys an event concerns, and how to reconcile one key.
pub trait Reconciler: Send + 'static {
    /// For logs.
    fn name(&self) -> &'static str;
    /// Keys to reconcile because of this event (the cache already holds its result).
    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key>;
    /// Every key, for the first pass and for resyncs.
    fn all_keys(&self, cache: &Informer) -> Vec<Key>;
    /// Brings one key towards its desired state through the registry.
    fn reconcile(&mut self, key: &Key, cache: &Informer, registry: &Registry) -> Requeue;
}

/// How long a reconcile's failed write waits before another try (upstream's rate-limited
/// queue starts at 5 ms and backs off; a fixed short delay keeps the lab simple and prompt).
pub const RETRY: Duration = Duration::from_millis(50);

/// Runs a reconciler until cancelled.
pub async fn run<R: Reconciler>(registry: Registry, cancel: CancellationToken, mut r: R) {
    'restart: loop {
        let (all, _, mut rx) = registry.store().snapshot_all_and_subscribe();
        let mut cache = Informer::default();
        for (store_key, obj) in all {
            cache.insert(&store_key, obj);
        }
        let mut dirty: BTreeSet<Key> = r.all_keys(&cache).into_iter().collect();
        let mut timers: BTreeMap<Key, Instant> = BTreeMap::new();
        loop {
            // Drain everything already published before reconciling anything.
            loop {
                match rx.try_recv() {
                    Ok(ev) => {
                        cache.apply(&ev);
                        dirty.extend(r.keys_for(&ev, &cache));
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Lagged(_)) => continue 'restart,
                    Err(TryRecvError::Closed) => return,
                }
            }
            let now = Instant::now();
            let due: Vec<Key> = timers
                .iter()
                .filter(|(_, t)| **t <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in due {
                timers.remove(&k);
                dirty.insert(k);
            }
            if let Some(key) = dirty.pop_first() {
                match r.reconcile(&key, &cache, &registry) {
                    Requeue::OnChange => {}
                    Requeue::After(d) => {
                        let at = Instant::now() + d;
                        let entry = timers.entry(key).or_insert(at);
                        if at < *entry {
                            *entry = at;
                        }
                    }
                }
                if cancel.is_cancelled() {
                    return;
                }
                // Let other tasks run between reconciles.
                tokio::task::yield_now().await;
                continue;
            }
            let next_timer = timers.values().min().copied();
            tokio::select! {
                _ = cancel.cancelled() => return,
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        cache.apply(&ev);
                        dirty.extend(r.keys_for(&ev, &cache));
                    }
                    Err(RecvError::Lagged(_)) => continue 'restart,
                    Err(RecvError::Closed) => return,
                },
                _ = async { match next_timer { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {}
            }
        }
    }
}

/// Keys of the objects named in an object's controller ownerReference of `kind`.
pub fn controller_owner(obj: &Value, kind: &str) -> Option<Key> {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| {
            r.get("controller").and_then(Value::as_bool) == Some(true)
                && r.get("kind").and_then(Value::as_str) == Some(kind)
        })
        .and_then(|r| r.get("name").and_then(Value::as_str))
        .map(|name| (ns.to_string(), name.to_string()))
}

/// The key of the object an event is about.
pub fn event_key(ev: &StoredEvent) -> Key {
    key_of(&ev.object)
}

/// An object's labels.
pub fn labels_of(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The typed view of a stored object, or `None` if it does not decode. Decoded from the
/// borrowed value: `from_value` would first deep-copy it, which was most of the lab's CPU in
/// a rollout of a hundred pods.
pub fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
    T::deserialize(v).ok()
}

/// Typed views kept per object and resourceVersion, so a reconcile that reads every pod of
/// a namespace decodes each version of a pod once instead of at every pass.
pub struct Decoded<T> {
    by_key: HashMap<Key, (String, Arc<T>)>,
}

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
        }
    }
}

impl<T: serde::de::DeserializeOwned> Decoded<T> {
    /// The typed view of `raw`, decoded only when its resourceVersion is new to this cache.
    pub fn get(&mut self, raw: &Value) -> Option<Arc<T>> {
        let rv = raw
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let key = key_of(raw);
        if let Some((seen, t)) = self.by_key.get(&key)
            && !rv.is_empty()
            && seen == rv
        {
            return Some(t.clone());
        }
        let t = Arc::new(typed::<T>(raw)?);
        self.by_key.insert(key, (rv.to_string(), t.clone()));
        Some(t)
    }

    /// Forgets objects of type `rt` gone from `cache`, once the entries outnumber the live
    /// objects well enough that a sweep pays for itself.
    pub fn forget_gone(&mut self, rt: &ResourceType, cache: &Informer) {
        let live = cache.by_type.get(&rt.store_key()).map_or(0, BTreeMap::len);
        if self.by_key.len() > 2 * live + 64 {
            self.by_key
                .retain(|(ns, name), _| cache.get(rt, ns, name).is_some());
        }
    }
}

/// A served type by group and plural; the lab serves every type its controllers use.
pub fn resource(group: &str, plural: &str) -> &'static ResourceType {
    crate::kinds::RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
        .unwrap_or(&crate::kinds::RESOURCES[0])
}

/// The write options of a controller, named as its field manager.
pub fn writer(component: &str) -> crate::registry::WriteOptions {
    crate::registry::WriteOptions {
        field_manager: component.to_string(),
        ..Default::default()
    }
}
