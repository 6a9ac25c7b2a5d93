//! Versions served from another type's storage, as the apiserver serves one stored object
//! through several group-versions: `events.k8s.io/v1` Events are the core/v1 Events, seen
//! through upstream's conversion (`pkg/apis/events/v1/conversion.go`):
//!
//! | core/v1 | events.k8s.io/v1 |
//! |---|---|
//! | `message` | `note` |
//! | `involvedObject` | `regarding` |
//! | `reportingComponent` | `reportingController` |
//! | `source` | `deprecatedSource` |
//! | `firstTimestamp`, `lastTimestamp` | `deprecatedFirstTimestamp`, `deprecatedLastTimestamp` |
//! | `count` | `deprecatedCount` |
//!
//! Every other field (`metadata`, `reason`, `type`, `action`, `related`, `eventTime`,
//! `series`, `reportingInstance`) is the same in both. The store keeps the core form only;
//! the registry converts bodies in and objects out, so one write shows in both versions
//! with one resourceVersion and one watch event. Field selectors of a view select on its
//! own field names (`regarding.name`), matched against the converted objects.

use serde_json::Value;

use crate::kinds::{self, ResourceType};

/// (core/v1 field, events.k8s.io/v1 field).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("message", "note"),
    ("involvedObject", "regarding"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

fn is_events_v1(rt: &ResourceType) -> bool {
    rt.group == "events.k8s.io" && rt.plural == "events"
}

/// The type whose storage `rt` is a view of, when it is one.
pub fn storage_of(rt: &ResourceType) -> Option<&'static ResourceType> {
    if is_events_v1(rt) {
        kinds::find("", "v1", "events")
    } else {
        None
    }
}

fn rename(obj: &Value, pairs: impl Iterator<Item = (&'static str, &'static str)>) -> Value {
    let mut out = obj.clone();
    if let Some(map) = out.as_object_mut() {
        for (from, to) in pairs {
            if let Some(v) = map.remove(from) {
                map.insert(to.to_string(), v);
            }
        }
    }
    out
}

/// A stored object as `rt` shows it (unchanged for types that are not views).
pub fn to_view(rt: &ResourceType, stored: &Value) -> Value {
    if !is_events_v1(rt) {
        return stored.clone();
    }
    let mut v = rename(stored, EVENT_FIELDS.iter().copied());
    v["apiVersion"] = Value::String(rt.api_version());
    v["kind"] = Value::String(rt.kind.to_string());
    v
}

/// A body written through `rt` in the form its storage keeps.
pub fn to_storage(rt: &ResourceType, shown: &Value) -> Value {
    let Some(storage) = storage_of(rt) else {
        return shown.clone();
    };
    let mut v = rename(
        shown,
        EVENT_FIELDS.iter().map(|(core, view)| (*view, *core)),
    );
    v["apiVersion"] = Value::String(storage.api_version());
    v["kind"] = Value::String(storage.kind.to_string());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events_v1() -> &'static ResourceType {
        kinds::find("events.k8s.io", "v1", "events").expect("served")
    }

    #[test]
    fn a_core_event_reads_as_events_v1_with_upstream_field_names() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "Pulled", "reason": "Pulled",
            "source": {"component": "kubelet"}, "count": 2, "reportingComponent": "kubelet",
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:01Z",
            "type": "Normal"});
        let shown = to_view(events_v1(), &core);
        assert_eq!(
            shown,
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
                "regarding": {"kind": "Pod", "name": "p"}, "note": "Pulled", "reason": "Pulled",
                "deprecatedSource": {"component": "kubelet"}, "deprecatedCount": 2,
                "reportingController": "kubelet",
                "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
                "deprecatedLastTimestamp": "2026-01-01T00:00:01Z", "type": "Normal"})
        );
        assert_eq!(
            to_storage(events_v1(), &shown),
            core,
            "the round trip is exact"
        );
    }

    #[test]
    fn other_types_are_their_own_storage() {
        let pods = kinds::find("", "v1", "pods").expect("served");
        assert!(storage_of(pods).is_none());
        let p = json!({"kind": "Pod", "message": "kept"});
        assert_eq!(to_view(pods, &p), p);
    }
}
