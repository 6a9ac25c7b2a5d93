//! The object store: every object of every type, one cluster-wide resourceVersion, and the
//! retained event history that watches replay from.
//!
//! Like etcd behind the real apiserver, the store knows nothing of Kubernetes rules: it
//! stores JSON objects, stamps `metadata.resourceVersion` from one monotonically increasing
//! counter, and publishes exactly one event per change. A write that changes nothing is not
//! a change: no new resourceVersion, no event (kubectl's `patched (no change)` relies on
//! that). The rules (defaulting, validation, generation, finalizers) live in `registry`.
//!
//! History is bounded twice, as the apiserver's is by its watch cache and by etcd's
//! compaction: by count (the lab's default keeps the last 10,000 changes) and by age (none
//! older than 5 minutes, etcd's default `--etcd-compaction-interval`). A watch or a continued
//! list from a resourceVersion before the oldest retained change gets 410 Expired.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::kinds::ResourceType;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as retained in history and sent to live watchers.
#[derive(Debug)]
pub struct StoredEvent {
    pub rv: u64,
    pub kind: EventType,
    pub resource: &'static ResourceType,
    pub namespace: String,
    /// The object after the change (for DELETED, the last state with the deletion's RV).
    pub object: Arc<Value>,
    /// The object before the change, so a watch can tell an object that left its selector.
    pub previous: Option<Arc<Value>>,
}

/// A watch could not start at the asked resourceVersion because history was compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

type Bucket = BTreeMap<(String, String), Arc<Value>>;

/// Live events from the store.
pub type Receiver = broadcast::Receiver<Arc<StoredEvent>>;

/// Every object, keyed by its type's store key, plus the resourceVersion and a receiver for
/// what comes after.
pub type Snapshot = (Vec<(String, Arc<Value>)>, u64, Receiver);

/// The history the lab keeps by default: this many changes...
pub const DEFAULT_HISTORY: usize = 10_000;
/// ...none older than this (etcd's default compaction interval).
pub const DEFAULT_HISTORY_AGE: Duration = Duration::from_secs(5 * 60);

/// A retained change and when it happened.
struct Retained {
    at: Instant,
    event: Arc<StoredEvent>,
}

struct Inner {
    rv: u64,
    objects: HashMap<String, Bucket>,
    history: VecDeque<Retained>,
    /// The resourceVersion before the oldest retained event: a watch may resume from any
    /// resourceVersion at or after it.
    compacted: u64,
}

/// The shared store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<Arc<StoredEvent>>,
    history_limit: usize,
    history_age: Duration,
}

/// Reads `metadata.resourceVersion` as a number; absent or malformed reads as `None`.
pub fn resource_version(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Compares two objects ignoring `metadata.resourceVersion`.
fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

impl Store {
    /// A store retaining the last `history_limit` events, for at most
    /// [`DEFAULT_HISTORY_AGE`], for watch resumption.
    pub fn new(history_limit: usize) -> Self {
        Self::with_history(history_limit, DEFAULT_HISTORY_AGE)
    }

    /// A store retaining at most `history_limit` events, none older than `history_age`.
    pub fn with_history(history_limit: usize, history_age: Duration) -> Self {
        let (events, _) = broadcast::channel(65_536);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                rv: 1,
                objects: HashMap::new(),
                history: VecDeque::new(),
                compacted: 1,
            })),
            events,
            history_limit: history_limit.max(1),
            history_age,
        }
    }

    /// Forgets the retained events past either bound; `compacted` moves to the newest one
    /// forgotten.
    fn prune(&self, inner: &mut Inner, now: Instant) {
        let too_old = |r: &Retained| now.saturating_duration_since(r.at) > self.history_age;
        while inner.history.len() > self.history_limit || inner.history.front().is_some_and(too_old)
        {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted = old.event.rv;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic in a critical section; the data is still
        // consistent because every section writes at its end, so keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current cluster-wide resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(&rt.store_key())
            .and_then(|b| b.get(&(ns.to_string(), name.to_string())))
            .cloned()
    }

    /// All objects of a type, in one namespace or all, sorted by namespace and name, with
    /// the resourceVersion the list is consistent with.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let items = match inner.objects.get(&rt.store_key()) {
            None => Vec::new(),
            Some(b) => match ns {
                Some(ns) => b
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v.clone())
                    .collect(),
                None => b.values().cloned().collect(),
            },
        };
        (items, inner.rv)
    }

    /// The objects of a type in `ns` whose names start with `prefix` (events are named after
    /// the object they are about, so this finds one object's events without a full scan).
    pub fn list_prefixed(&self, rt: &ResourceType, ns: &str, prefix: &str) -> Vec<Arc<Value>> {
        let inner = self.lock();
        inner
            .objects
            .get(&rt.store_key())
            .map(|b| {
                b.range((ns.to_string(), prefix.to_string())..)
                    .take_while(|((n, name), _)| n == ns && name.starts_with(prefix))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// All objects of a type as they were at resourceVersion `at`, rebuilt from the current
    /// objects by undoing the retained events after it (how a continued list stays one
    /// consistent snapshot, as etcd's MVCC read gives upstream). Fails when the history no
    /// longer reaches back to `at`.
    pub fn list_at(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        at: u64,
    ) -> Result<Vec<Arc<Value>>, TooOld> {
        let mut inner = self.lock();
        self.prune(&mut inner, Instant::now());
        if at < inner.compacted {
            return Err(TooOld {
                requested: at,
                oldest: inner.compacted,
            });
        }
        let key = rt.store_key();
        let mut bucket = inner.objects.get(&key).cloned().unwrap_or_default();
        for ev in inner
            .history
            .iter()
            .rev()
            .map(|r| &r.event)
            .take_while(|e| e.rv > at)
        {
            if ev.resource.store_key() != key {
                continue;
            }
            let id = (
                ev.namespace.clone(),
                meta_str(&ev.object, "name").to_string(),
            );
            match (ev.kind, &ev.previous) {
                (EventType::Added, _) => {
                    bucket.remove(&id);
                }
                (EventType::Modified | EventType::Deleted, Some(previous)) => {
                    bucket.insert(id, previous.clone());
                }
                (EventType::Modified | EventType::Deleted, None) => {}
            }
        }
        Ok(bucket
            .into_iter()
            .filter(|((n, _), _)| ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v)
            .collect())
    }

    /// Every stored object of every type (for garbage collection and namespace deletion).
    pub fn all_objects(&self) -> Vec<(String, Arc<Value>)> {
        let inner = self.lock();
        inner
            .objects
            .iter()
            .flat_map(|(k, b)| b.values().map(move |v| (k.clone(), v.clone())))
            .collect()
    }

    fn publish(&self, inner: &mut Inner, event: StoredEvent) {
        let event = Arc::new(event);
        let now = Instant::now();
        inner.history.push_back(Retained {
            at: now,
            event: event.clone(),
        });
        self.prune(inner, now);
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    /// Stores a new object, stamping its resourceVersion. The caller has set name, uid and
    /// timestamps.
    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        obj: Value,
    ) -> Result<Arc<Value>, ApiError> {
        let name = meta_str(&obj, "name").to_string();
        let mut inner = self.lock();
        let key = (ns.to_string(), name.clone());
        if inner
            .objects
            .get(&rt.store_key())
            .is_some_and(|b| b.contains_key(&key))
        {
            return Err(ApiError::already_exists(
                &rt.qualified(),
                rt.group,
                rt.plural,
                &name,
            ));
        }
        Ok(self.commit(&mut inner, rt, ns, key, obj, None))
    }

    /// Stamps the next resourceVersion on `obj`, stores it and publishes ADDED (no
    /// `previous`) or MODIFIED.
    fn commit(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        ns: &str,
        key: (String, String),
        mut obj: Value,
        previous: Option<Arc<Value>>,
    ) -> Arc<Value> {
        inner.rv += 1;
        let rv = inner.rv;
        obj["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let obj = Arc::new(obj);
        inner
            .objects
            .entry(rt.store_key())
            .or_default()
            .insert(key, obj.clone());
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        let event = StoredEvent {
            rv,
            kind,
            resource: rt,
            namespace: ns.to_string(),
            object: obj.clone(),
            previous,
        };
        self.publish(inner, event);
        obj
    }

    /// Replaces an object. With `expected_rv`, fails with 409 Conflict unless the stored
    /// object is at that resourceVersion. Returns the stored object and whether anything
    /// changed; an unchanged object keeps its resourceVersion and publishes nothing.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        obj: Value,
        expected_rv: Option<u64>,
    ) -> Result<(Arc<Value>, bool), ApiError> {
        let name = meta_str(&obj, "name").to_string();
        let mut inner = self.lock();
        let key = (ns.to_string(), name.clone());
        let current = inner
            .objects
            .get(&rt.store_key())
            .and_then(|b| b.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), rt.group, rt.plural, &name))?;
        if let Some(expected) = expected_rv
            && resource_version(&current) != Some(expected)
        {
            return Err(ApiError::conflict(
                &rt.qualified(),
                rt.group,
                rt.plural,
                &name,
            ));
        }
        if same_content(&current, &obj) {
            return Ok((current, false));
        }
        Ok((
            self.commit(&mut inner, rt, ns, key, obj, Some(current)),
            true,
        ))
    }

    /// Removes an object for good. With `expected_rv`, only if it is still at that version
    /// (so a controller never deletes an object that changed under it).
    pub fn remove(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let key = (ns.to_string(), name.to_string());
        let bucket = inner.objects.entry(rt.store_key()).or_default();
        let current = bucket
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.qualified(), rt.group, rt.plural, name))?;
        if let Some(expected) = expected_rv
            && resource_version(&current) != Some(expected)
        {
            return Err(ApiError::conflict(
                &rt.qualified(),
                rt.group,
                rt.plural,
                name,
            ));
        }
        bucket.remove(&key);
        inner.rv += 1;
        let rv = inner.rv;
        let mut last = (*current).clone();
        last["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let last = Arc::new(last);
        self.publish(
            &mut inner,
            StoredEvent {
                rv,
                kind: EventType::Deleted,
                resource: rt,
                namespace: ns.to_string(),
                object: last.clone(),
                previous: Some(current),
            },
        );
        Ok(last)
    }

    /// Subscribes to changes after `from_rv`: the retained events newer than it, then a
    /// receiver for live ones, taken under one lock so nothing falls between them.
    pub fn subscribe_from(
        &self,
        from_rv: u64,
    ) -> Result<(Vec<Arc<StoredEvent>>, Receiver), TooOld> {
        self.subscribe_from_at(from_rv, Instant::now())
    }

    /// [`Self::subscribe_from`] as seen at `now` (tests move time on).
    fn subscribe_from_at(
        &self,
        from_rv: u64,
        now: Instant,
    ) -> Result<(Vec<Arc<StoredEvent>>, Receiver), TooOld> {
        let mut inner = self.lock();
        self.prune(&mut inner, now);
        if from_rv < inner.compacted {
            return Err(TooOld {
                requested: from_rv,
                oldest: inner.compacted,
            });
        }
        let replay = inner
            .history
            .iter()
            .filter(|r| r.event.rv > from_rv)
            .map(|r| r.event.clone())
            .collect();
        Ok((replay, self.events.subscribe()))
    }

    /// A consistent snapshot of one type plus a receiver for everything after it.
    pub fn snapshot_and_subscribe(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
    ) -> (Vec<Arc<Value>>, u64, broadcast::Receiver<Arc<StoredEvent>>) {
        let inner = self.lock();
        let items = match inner.objects.get(&rt.store_key()) {
            None => Vec::new(),
            Some(b) => b
                .iter()
                .filter(|((n, _), _)| ns.is_none_or(|ns| ns == n))
                .map(|(_, v)| v.clone())
                .collect(),
        };
        (items, inner.rv, self.events.subscribe())
    }

    /// Every object of every type plus a receiver for everything after them, under one
    /// lock (how in-lab controllers start).
    pub fn snapshot_all_and_subscribe(&self) -> Snapshot {
        let inner = self.lock();
        let all = inner
            .objects
            .iter()
            .flat_map(|(k, b)| b.values().map(move |v| (k.clone(), v.clone())))
            .collect();
        (all, inner.rv, self.events.subscribe())
    }

    /// Forgets all retained history, so any watch resuming from an older resourceVersion
    /// gets 410 Expired (fault injection and tests of relisting).
    pub fn compact_all(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.compacted = inner.rv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;
    use serde_json::json;

    fn cm() -> &'static ResourceType {
        kinds::find("", "v1", "configmaps").expect("configmaps served")
    }

    fn obj(name: &str, data: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"}, "data": {"k": data}})
    }

    #[test]
    fn every_change_gets_a_new_increasing_resource_version() {
        let s = Store::new(100);
        let a = s.create(cm(), "default", obj("a", "1")).expect("create");
        let b = s.create(cm(), "default", obj("b", "1")).expect("create");
        let (a2, changed) = s
            .update(cm(), "default", obj("a", "2"), None)
            .expect("update");
        assert!(changed);
        let rvs: Vec<u64> = [&a, &b, &a2]
            .iter()
            .filter_map(|o| resource_version(o))
            .collect();
        assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");
    }

    #[test]
    fn an_update_that_changes_nothing_keeps_the_resource_version_and_publishes_nothing() {
        let s = Store::new(100);
        let a = s.create(cm(), "default", obj("a", "1")).expect("create");
        let before = s.current_rv();
        let (same, changed) = s
            .update(cm(), "default", obj("a", "1"), None)
            .expect("update");
        assert!(!changed);
        assert_eq!(resource_version(&same), resource_version(&a));
        assert_eq!(s.current_rv(), before);
    }

    #[test]
    fn a_stale_resource_version_is_a_conflict() {
        let s = Store::new(100);
        let a = s.create(cm(), "default", obj("a", "1")).expect("create");
        let rv = resource_version(&a).expect("rv");
        s.update(cm(), "default", obj("a", "2"), Some(rv))
            .expect("first update");
        let err = s
            .update(cm(), "default", obj("a", "3"), Some(rv))
            .expect_err("stale");
        assert_eq!(err.code, 409);
        assert_eq!(err.reason, "Conflict");
    }

    #[test]
    fn creating_an_existing_name_is_already_exists() {
        let s = Store::new(100);
        s.create(cm(), "default", obj("a", "1")).expect("create");
        let err = s
            .create(cm(), "default", obj("a", "1"))
            .expect_err("duplicate");
        assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
        assert_eq!(err.message, "configmaps \"a\" already exists");
    }

    #[test]
    fn resuming_replays_only_newer_events_and_compaction_expires_old_versions() {
        let s = Store::new(2);
        let first = s.create(cm(), "default", obj("a", "1")).expect("create");
        let rv1 = resource_version(&first).expect("rv");
        s.create(cm(), "default", obj("b", "1")).expect("create");
        s.create(cm(), "default", obj("c", "1")).expect("create");
        s.remove(cm(), "default", "c", None).expect("remove");
        // Only the last two events are kept: resuming from rv1 lost the event for "b".
        assert!(s.subscribe_from(rv1).is_err());
        let (replay, _) = s.subscribe_from(s.current_rv() - 1).expect("recent");
        assert_eq!(replay.len(), 1);
        assert_eq!(replay[0].kind, EventType::Deleted);
    }

    #[test]
    fn changes_older_than_the_history_age_expire_even_below_the_count() {
        let s = Store::with_history(100, Duration::from_secs(300));
        let first = s.create(cm(), "default", obj("a", "1")).expect("create");
        let rv1 = resource_version(&first).expect("rv");
        s.create(cm(), "default", obj("b", "1")).expect("create");
        let now = Instant::now();
        let (replay, _) = s.subscribe_from_at(rv1, now).expect("recent enough");
        assert_eq!(replay.len(), 1);
        let later = now + Duration::from_secs(301);
        assert!(
            s.subscribe_from_at(rv1, later).is_err(),
            "five minutes on, the change after rv1 is compacted away"
        );
        // Resuming from the newest version still works: nothing after it was lost.
        let (replay, _) = s
            .subscribe_from_at(s.current_rv(), later)
            .expect("the current version never expires");
        assert!(replay.is_empty());
    }

    #[test]
    fn a_list_at_an_older_version_undoes_later_changes_until_history_runs_out() {
        let s = Store::new(4);
        s.create(cm(), "default", obj("a", "1")).expect("create");
        s.create(cm(), "default", obj("b", "1")).expect("create");
        let at = s.current_rv();
        s.update(cm(), "default", obj("a", "2"), None)
            .expect("update");
        s.remove(cm(), "default", "b", None).expect("remove");
        s.create(cm(), "default", obj("c", "1")).expect("create");
        let then = s
            .list_at(cm(), Some("default"), at)
            .expect("still in history");
        let view: Vec<(String, Value)> = then
            .iter()
            .map(|o| (meta_str(o, "name").to_string(), o["data"]["k"].clone()))
            .collect();
        assert_eq!(view, [("a".into(), json!("1")), ("b".into(), json!("1"))]);
        s.create(cm(), "default", obj("d", "1")).expect("create");
        s.create(cm(), "default", obj("e", "1")).expect("create");
        assert!(
            s.list_at(cm(), None, at).is_err(),
            "history no longer reaches back"
        );
    }

    #[test]
    fn lists_are_filtered_by_namespace() {
        let s = Store::new(100);
        s.create(cm(), "default", obj("a", "1")).expect("create");
        let mut other = obj("a", "1");
        other["metadata"]["namespace"] = json!("other");
        s.create(cm(), "other", other).expect("create");
        assert_eq!(s.list(cm(), Some("default")).0.len(), 1);
        assert_eq!(s.list(cm(), None).0.len(), 2);
    }
}
