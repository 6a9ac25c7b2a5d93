//! Recording core/v1 Events, as client-go's event recorder does: one Event per
//! (object, type, reason, message, source), counted and re-stamped when it repeats, so
//! `kubectl describe` and `kubectl get events` tell the story.

use serde_json::{Value, json};

use crate::kinds;
use crate::registry::{Registry, Subresource, WriteOptions};

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

fn involved_object(obj: &Value) -> Value {
    let m = &obj["metadata"];
    json!({
        "kind": obj["kind"], "namespace": m["namespace"], "name": m["name"],
        "uid": m["uid"], "apiVersion": obj["apiVersion"], "resourceVersion": m["resourceVersion"],
    })
}

/// Records an event about `obj` from `component` (e.g. `deployment-controller`), with an
/// optional `host` for kubelet events. Failures are ignored: events are best effort, as
/// upstream.
pub fn record(
    registry: &Registry,
    obj: &Value,
    kind: EventType,
    reason: &str,
    message: &str,
    component: &str,
    host: Option<&str>,
) {
    let Some(events) = kinds::find("", "v1", "events") else {
        return;
    };
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let now = crate::registry::meta_now();
    let opts = WriteOptions {
        field_manager: component.to_string(),
        ..WriteOptions::default()
    };
    let object_name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("object");
    // Repeats of the same event bump its count rather than adding a new one. Events are
    // named `<object>.<suffix>`, so only this object's are read, not every event.
    let existing = registry
        .store()
        .list_prefixed(events, ns, &format!("{object_name}."))
        .into_iter()
        .find(|e| {
            e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid)
                && e["reason"] == reason
                && e["message"] == message
                && e["type"] == kind.as_str()
                && e.pointer("/source/component").and_then(Value::as_str) == Some(component)
        });
    if let Some(e) = existing {
        let mut updated = (*e).clone();
        updated["count"] = json!(e["count"].as_i64().unwrap_or(1) + 1);
        updated["lastTimestamp"] = json!(now);
        let name = e
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let _ = registry.update(events, ns, &name, updated, Subresource::Main, &opts);
        return;
    }
    let nanos = jiff::Timestamp::now().as_nanosecond();
    let mut source = json!({"component": component});
    if let Some(h) = host {
        source["host"] = json!(h);
    }
    let event = json!({
        "metadata": {"name": format!("{object_name}.{:x}", nanos as u128 & 0xffff_ffff_ffff_ffff), "namespace": ns},
        "involvedObject": involved_object(obj),
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "eventTime": null,
        "count": 1,
        "type": kind.as_str(),
        "reportingComponent": component,
        "reportingInstance": host.unwrap_or(""),
    });
    let _ = registry.create(events, ns, event, &opts);
}
