//! The one guarded write of a swap, built as data: a JSON patch that `test`s the Service's
//! resourceVersion and selector as they were read, replaces the selector, and records the
//! swap in annotations in the same write (so no Service is ever swapped without the record
//! a swap back needs). A concurrent change fails the `test` and nothing is overwritten.
//! Also the annotations read back: [`Record`].

use serde_json::{Value, json};

use super::checks::Plan;
use super::selector::Labels;

/// The Deployment the Service selects (after the last swap).
pub const ACTIVE: &str = "rollout.dev/active-side";
/// The selector before the last swap, as a JSON object.
pub const PREVIOUS_SELECTOR: &str = "rollout.dev/previous-selector";
/// The Deployment the Service selected before the last swap.
pub const PREVIOUS_SIDE: &str = "rollout.dev/previous-side";
/// That Deployment's replicas at the swap: what `--rollback --scale-up` restores.
pub const PREVIOUS_REPLICAS: &str = "rollout.dev/previous-replicas";
/// When the selector was swapped (RFC 3339, UTC).
pub const SWAPPED_AT: &str = "rollout.dev/swapped-at";
/// Why (`--cause`, or a description of the swap).
pub const SWAP_CAUSE: &str = "rollout.dev/swap-cause";
/// `switching` from the write until the endpoints are exactly the new side, then `settled`.
pub const SWAP_STATE: &str = "rollout.dev/swap-state";

/// The swap state from the write until the endpoints are exactly the new side.
pub const SWITCHING: &str = "switching";

/// A key as a JSON-pointer token (RFC 6901: `~` is `~0`, `/` is `~1`).
fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The patch of the swap. `annotations` are the Service's as read (`None`: it has none),
/// `resource_version` the version the write is guarded on.
pub fn swap_patch(
    plan: &Plan,
    annotations: Option<&Labels>,
    resource_version: &str,
    cause: &str,
    now: &str,
) -> Value {
    let mut ops = vec![
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}),
        json!({"op": "test", "path": "/spec/selector", "value": plan.selector_before}),
        json!({"op": "replace", "path": "/spec/selector", "value": plan.selector_after}),
    ];
    let mut record: Vec<(&str, Option<String>)> = vec![
        (ACTIVE, Some(plan.target.clone())),
        (
            PREVIOUS_SELECTOR,
            Some(serde_json::to_string(&plan.selector_before).unwrap_or_default()),
        ),
        (PREVIOUS_SIDE, plan.previous_side.clone()),
        (
            PREVIOUS_REPLICAS,
            plan.previous_replicas.map(|r| r.to_string()),
        ),
        (SWAPPED_AT, Some(now.to_string())),
        (SWAP_CAUSE, Some(cause.to_string())),
        (SWAP_STATE, Some(SWITCHING.to_string())),
    ];
    match annotations {
        None => {
            let map: serde_json::Map<String, Value> = record
                .drain(..)
                .filter_map(|(k, v)| Some((k.to_string(), Value::String(v?))))
                .collect();
            ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": map}));
        }
        Some(existing) => {
            for (k, v) in record {
                let path = format!("/metadata/annotations/{}", token(k));
                match v {
                    Some(v) => ops.push(json!({"op": "add", "path": path, "value": v})),
                    // An unknown previous side must not leave an older one standing.
                    None if existing.contains_key(k) => {
                        ops.push(json!({"op": "remove", "path": path}));
                    }
                    None => {}
                }
            }
        }
    }
    Value::Array(ops)
}

/// The merge patch that marks a swap settled.
pub fn settled_patch() -> Value {
    json!({"metadata": {"annotations": {SWAP_STATE: "settled"}}})
}

/// What the annotations say about the last swap.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub active_side: Option<String>,
    pub previous_selector: Option<Labels>,
    pub previous_side: Option<String>,
    pub previous_replicas: Option<i32>,
    pub swapped_at: Option<String>,
    pub cause: Option<String>,
    pub state: Option<String>,
}

impl Record {
    /// Reads the record from a Service's annotations.
    pub fn of(annotations: Option<&Labels>) -> Record {
        let get = |k: &str| annotations.and_then(|a| a.get(k)).cloned();
        Record {
            active_side: get(ACTIVE),
            previous_selector: get(PREVIOUS_SELECTOR).and_then(|s| serde_json::from_str(&s).ok()),
            previous_side: get(PREVIOUS_SIDE),
            previous_replicas: get(PREVIOUS_REPLICAS).and_then(|s| s.parse().ok()),
            swapped_at: get(SWAPPED_AT),
            cause: get(SWAP_CAUSE),
            state: get(SWAP_STATE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn plan() -> Plan {
        Plan {
            service: "inference".into(),
            target: "inference-green".into(),
            selector_before: labels(&[("app", "inference"), ("color", "blue")]),
            selector_after: labels(&[("app", "inference"), ("color", "green")]),
            previous_side: Some("inference-blue".into()),
            previous_replicas: Some(2),
            target_pods: Vec::new(),
            passed: Vec::new(),
            resumed: false,
        }
    }

    fn service(annotations: Option<Value>) -> Value {
        let mut s = json!({
            "metadata": {"name": "inference", "resourceVersion": "41"},
            "spec": {"selector": {"app": "inference", "color": "blue"}},
        });
        if let Some(a) = annotations {
            s["metadata"]["annotations"] = a;
        }
        s
    }

    fn apply(doc: &Value, patch: Value) -> Result<Value, String> {
        let patch: json_patch::Patch = serde_json::from_value(patch).map_err(|e| e.to_string())?;
        let mut doc = doc.clone();
        json_patch::patch(&mut doc, &patch).map_err(|e| e.to_string())?;
        Ok(doc)
    }

    #[test]
    fn the_swap_replaces_the_selector_and_records_the_previous_one() {
        let svc = service(None);
        let out = apply(
            &svc,
            swap_patch(&plan(), None, "41", "cut over", "2026-01-01T00:00:00Z"),
        )
        .expect("the guard passes on the version read");
        assert_eq!(
            out["spec"]["selector"],
            json!({"app": "inference", "color": "green"})
        );
        let a = &out["metadata"]["annotations"];
        assert_eq!(a[ACTIVE], "inference-green");
        assert_eq!(a[PREVIOUS_SIDE], "inference-blue");
        assert_eq!(a[PREVIOUS_REPLICAS], "2");
        assert_eq!(a[SWAP_CAUSE], "cut over");
        assert_eq!(a[SWAP_STATE], "switching");
        let back: Labels =
            serde_json::from_str(a[PREVIOUS_SELECTOR].as_str().expect("a string")).expect("JSON");
        assert_eq!(back, plan().selector_before);
    }

    #[test]
    fn a_selector_changed_since_the_read_fails_the_guard() {
        let mut svc = service(None);
        svc["spec"]["selector"]["color"] = json!("purple");
        let err = apply(&svc, swap_patch(&plan(), None, "41", "c", "t"));
        assert!(err.is_err(), "the test of the selector fails");
    }

    #[test]
    fn a_newer_resource_version_fails_the_guard() {
        let svc = service(None);
        assert!(apply(&svc, swap_patch(&plan(), None, "40", "c", "t")).is_err());
    }

    #[test]
    fn existing_annotations_are_kept_and_a_stale_previous_side_is_removed() {
        let existing = json!({"team": "ml", PREVIOUS_SIDE: "old-one"});
        let svc = service(Some(existing.clone()));
        let mut p = plan();
        p.previous_side = None;
        p.previous_replicas = None;
        let existing: Labels = serde_json::from_value(existing).expect("labels");
        let out = apply(&svc, swap_patch(&p, Some(&existing), "41", "c", "t")).expect("applies");
        let a = &out["metadata"]["annotations"];
        assert_eq!(a["team"], "ml");
        assert!(a.get(PREVIOUS_SIDE).is_none());
        assert_eq!(a[ACTIVE], "inference-green");
    }

    #[test]
    fn the_record_reads_back_what_the_swap_wrote() {
        let out = apply(
            &service(None),
            swap_patch(&plan(), None, "41", "why", "when"),
        )
        .expect("applies");
        let a: Labels =
            serde_json::from_value(out["metadata"]["annotations"].clone()).expect("labels");
        let r = Record::of(Some(&a));
        assert_eq!(r.previous_selector, Some(plan().selector_before));
        assert_eq!(r.previous_side.as_deref(), Some("inference-blue"));
        assert_eq!(r.previous_replicas, Some(2));
        assert_eq!(r.swapped_at.as_deref(), Some("when"));
        assert_eq!(r.cause.as_deref(), Some("why"));
    }
}
