//! What a gate measured: one [`Measurement`] per target per round (gate, target, value,
//! threshold, verdict, why, time), kept for `-o json` and written as one event line each
//! to an ndjson stream; and the [`Context`] a round measures in (the new pods, the step),
//! with [`new_pods`], the pods a snapshot of the rollout offers to probe.

use rollout_semantics::pod::is_pod_ready;
use serde::Serialize;
use serde_json::Value;

use crate::engine::snapshot::Snapshot;

/// The verdict of one measurement (and of one round: any failure fails it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Nothing to judge: an empty Prometheus result, NaN, no new pod to probe.
    Inconclusive,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One measurement of one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// The gate's name ([`super::Gate::name`]).
    pub gate: String,
    /// The round, from 1.
    pub round: u32,
    /// What was measured: a pod, a URL, a Prometheus series (its labels), the command.
    pub target: String,
    /// The HTTP status, the exit code, the sample value (a string for NaN and infinities,
    /// which JSON has no number for); null when nothing was read.
    pub value: Value,
    /// What the value is held to: `2xx`, `exit 0`, `< 0.01`.
    pub threshold: String,
    pub verdict: Verdict,
    /// Why, in a few words: `HTTP 503`, `connection refused`, `empty result`.
    pub detail: String,
    /// When the measurement ended, RFC 3339 (UTC).
    pub time: String,
    pub took_ms: u64,
}

impl Measurement {
    /// The line shown for it on the terminal.
    pub fn line(&self) -> String {
        let value = match &self.value {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let detail = if self.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.detail)
        };
        crate::text::one_line(&format!(
            "gate {} #{} {}: {value} (want {}): {}{detail}",
            self.gate,
            self.round,
            self.target,
            self.threshold,
            self.verdict.word()
        ))
    }

    /// The measurement as one event of an ndjson stream.
    pub fn event(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert("event".into(), Value::from("gate_measurement"));
        }
        v
    }
}

/// A number as a measurement's value: JSON numbers where JSON has them.
pub fn number(v: f64) -> Value {
    if v.is_finite() {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    } else {
        Value::from(v.to_string())
    }
}

/// A round's verdict: any failure fails it; else any inconclusive (or no target at all)
/// makes it inconclusive.
pub fn round_verdict(measurements: &[Measurement]) -> Verdict {
    if measurements.iter().any(|m| m.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if measurements.is_empty()
        || measurements
            .iter()
            .any(|m| m.verdict == Verdict::Inconclusive)
    {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

/// A new pod a gate may probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pod {
    pub name: String,
    /// `None` until the pod has one.
    pub ip: Option<String>,
}

/// The new pods a gate probes: the ready, not terminating pods of the new ReplicaSet.
pub fn new_pods(snap: &Snapshot) -> Vec<Pod> {
    snap.new_pods()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && is_pod_ready(p))
        .map(|p| Pod {
            name: p.metadata.name.clone().unwrap_or_default(),
            ip: p
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .filter(|ip| !ip.is_empty()),
        })
        .collect()
}

/// Where a round measures: the Deployment, the step, and the new pods at that moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub namespace: String,
    pub deployment: String,
    /// `2/3` in a stepped rollout; empty otherwise.
    pub step: String,
    pub pods: Vec<Pod>,
    /// More variables a command gate sees, for what only one caller has (blue-green: the
    /// Service being cut over and the preview Service).
    pub extra: Vec<(&'static str, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(verdict: Verdict) -> Measurement {
        Measurement {
            gate: "http http://{pod_ip}/".into(),
            round: 2,
            target: "web-1".into(),
            value: Value::from(503),
            threshold: "2xx".into(),
            verdict,
            detail: "HTTP 503".into(),
            time: "2026-01-01T00:00:00Z".into(),
            took_ms: 3,
        }
    }

    #[test]
    fn a_round_fails_on_any_failure_and_is_inconclusive_when_nothing_was_judged() {
        use Verdict::*;
        let cases: [(&[Verdict], Verdict); 5] = [
            (&[Pass, Pass], Pass),
            (&[Pass, Fail], Fail),
            (&[Inconclusive, Fail], Fail),
            (&[Pass, Inconclusive], Inconclusive),
            (&[], Inconclusive),
        ];
        for (verdicts, want) in cases {
            let ms: Vec<_> = verdicts.iter().map(|v| m(*v)).collect();
            assert_eq!(round_verdict(&ms), want, "{verdicts:?}");
        }
    }

    #[test]
    fn a_measurement_line_shows_value_threshold_verdict_and_why() {
        assert_eq!(
            m(Verdict::Fail).line(),
            "gate http http://{pod_ip}/ #2 web-1: 503 (want 2xx): fail (HTTP 503)"
        );
    }

    #[test]
    fn an_event_carries_every_field_and_its_kind() {
        let e = m(Verdict::Pass).event();
        assert_eq!(e["event"], "gate_measurement");
        assert_eq!(e["verdict"], "pass");
        assert_eq!(e["value"], 503);
        assert_eq!(e["threshold"], "2xx");
        assert_eq!(e["time"], "2026-01-01T00:00:00Z");
    }

    #[test]
    fn only_ready_pods_of_the_new_replica_set_that_are_not_terminating_are_probed() {
        use std::sync::Arc;
        let d: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "uid": "d", "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v2"}]}}},
        }))
        .expect("a Deployment");
        let rs = |uid: &str, image: &str, hash: &str| -> k8s_openapi::api::apps::v1::ReplicaSet {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("web-{hash}"), "uid": uid,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d", "controller": true}]},
                "spec": {"selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": hash}}, "spec": {"containers": [{"name": "c", "image": image}]}}},
            }))
            .expect("a ReplicaSet")
        };
        let pod = |name: &str, owner: &str, ready: &str, deleting: bool| {
            let mut p = serde_json::json!({
                "metadata": {"name": name,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": owner, "controller": true}]},
                "status": {"podIP": "127.42.0.9", "conditions": [{"type": "Ready", "status": ready}]},
            });
            if deleting {
                p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
            }
            Arc::new(serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(p).expect("a Pod"))
        };
        let snap = Snapshot {
            deployment: d.into(),
            replica_sets: vec![rs("old", "v1", "a").into(), rs("new", "v2", "b").into()],
            pods: vec![
                pod("old-ready", "old", "True", false),
                pod("new-ready", "new", "True", false),
                pod("new-not-ready", "new", "False", false),
                pod("new-leaving", "new", "True", true),
            ],
            ..Snapshot::default()
        };
        assert_eq!(
            new_pods(&snap),
            [Pod {
                name: "new-ready".into(),
                ip: Some("127.42.0.9".into())
            }]
        );
    }

    #[test]
    fn values_json_cannot_hold_are_kept_as_text() {
        assert_eq!(number(0.25), Value::from(0.25));
        assert_eq!(number(f64::NAN), Value::from("NaN"));
        assert_eq!(number(f64::INFINITY), Value::from("inf"));
    }
}
