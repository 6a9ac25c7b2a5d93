//! The full flow's pre-swap gates: the gates of `update --steps` and `rollout verify`
//! (`crate::gates`, the same flags) run against the idle side before the swap. HTTP gates
//! with `{pod_ip}` or `{pod}` probe each of its ready pods; a URL without them is probed as
//! is (the `--preview-service`'s address, which selects the idle side alone). A command
//! gate gets the usual variables (`ROLLOUT_DEPLOYMENT` is the idle side, `ROLLOUT_NEW_PODS`
//! and `ROLLOUT_NEW_POD_IPS` its ready pods) plus `ROLLOUT_SERVICE` and, with a preview,
//! `ROLLOUT_PREVIEW_SERVICE`.
//!
//! The rounds are the flow machine's (`engine::bluegreen::run`, a `GateSet` in its
//! `Verifying` phase); its driver measures them with `gates::Prober`, shows each
//! measurement as `update` does (a line on stderr, a `gate_measurement` event) and keeps
//! them for [`report`], the gates' part of `-o json`. What the decision means for the swap
//! is the machine's: pass swaps, fail takes `--on-failure`, inconclusive with
//! `--on-inconclusive pause` leaves the idle side for a human.

use k8s_openapi::api::core::v1::Pod;
use rollout_semantics::pod::is_pod_ready;
use serde::Serialize;

use crate::gates::{self, Decision, Gate, GateReport, GateSet, GateVerdict, Measurement};

/// The gates' run, as the result object shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatesReport {
    /// pass, fail or inconclusive: the gates together.
    pub verdict: GateVerdict,
    /// The idle side's pods the gates measured.
    pub pods: Vec<gates::Pod>,
    pub gates: Vec<GateReport>,
    pub seconds: f64,
}

impl GatesReport {
    pub fn passed(&self) -> bool {
        self.verdict == GateVerdict::Pass
    }
}

/// The ready, not terminating pods among `pods` (the idle side's), as gates probe them.
pub fn ready_pods(pods: &[Pod]) -> Vec<gates::Pod> {
    let mut ready: Vec<gates::Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && is_pod_ready(p))
        .map(|p| gates::Pod {
            name: p.metadata.name.clone().unwrap_or_default(),
            ip: p
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .filter(|ip| !ip.is_empty()),
        })
        .collect();
    ready.sort_by(|a, b| a.name.cmp(&b.name));
    ready
}

/// Where the gates measure: the idle side `target` and its ready `pods`.
pub fn context(
    namespace: &str,
    service: &str,
    target: &str,
    preview_service: Option<&str>,
    pods: Vec<gates::Pod>,
) -> gates::Context {
    let mut extra = vec![("ROLLOUT_SERVICE", service.to_string())];
    if let Some(p) = preview_service {
        extra.push(("ROLLOUT_PREVIEW_SERVICE", p.to_string()));
    }
    gates::Context {
        namespace: namespace.to_string(),
        deployment: target.to_string(),
        step: String::new(),
        pods,
        extra,
    }
}

/// The gates' run as the result shows it: each gate's verdict from the machine's rounds
/// (`set`), with the measurements the driver kept for it.
pub fn report(
    gates: &[Gate],
    set: &GateSet,
    measurements: Vec<Vec<Measurement>>,
    pods: Vec<gates::Pod>,
    seconds: f64,
) -> GatesReport {
    let verdict = match set.decision() {
        Decision::Proceed => GateVerdict::Pass,
        Decision::Fail => GateVerdict::Fail,
        Decision::Pause => GateVerdict::Inconclusive,
        Decision::Wait => GateVerdict::Pending,
    };
    let gates = gates::measure::reports(gates, set, measurements);
    GatesReport {
        verdict,
        pods,
        gates,
        seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::{Check, Policy};

    fn pod(name: &str, ip: &str, ready: &str, deleting: bool) -> Pod {
        let mut p = serde_json::json!({
            "metadata": {"name": name},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]},
        });
        if deleting {
            p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        }
        serde_json::from_value(p).expect("a Pod")
    }

    #[test]
    fn only_ready_pods_that_are_not_leaving_are_measured_in_name_order() {
        let pods = [
            pod("web-green-b", "10.0.0.2", "True", false),
            pod("web-green-a", "10.0.0.1", "True", false),
            pod("web-green-c", "10.0.0.3", "False", false),
            pod("web-green-d", "10.0.0.4", "True", true),
        ];
        let names: Vec<String> = ready_pods(&pods).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["web-green-a", "web-green-b"]);
    }

    #[test]
    fn a_command_gate_is_told_the_service_and_the_preview_service() {
        let ctx = context("ml", "web", "web-green", Some("web-preview"), Vec::new());
        let vars = gates::command::env(&ctx, 1);
        let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ROLLOUT_DEPLOYMENT"), Some("web-green"));
        assert_eq!(get("ROLLOUT_SERVICE"), Some("web"));
        assert_eq!(get("ROLLOUT_PREVIEW_SERVICE"), Some("web-preview"));
        let without = context("ml", "web", "web-green", None, Vec::new());
        let vars = gates::command::env(&without, 1);
        assert!(!vars.iter().any(|(n, _)| *n == "ROLLOUT_PREVIEW_SERVICE"));
    }

    #[test]
    fn the_report_holds_each_gates_verdict_and_its_measurements() {
        let command = |c: &str| Gate::new(Check::Command { command: c.into() }, Policy::default());
        let gates = [command("true"), command("exit 3")];
        let t0 = std::time::Instant::now();
        let mut set = GateSet::new(gates.iter().map(|g| &g.policy), t0);
        let _ = set.poll(t0);
        set.record(1, 1, gates::Verdict::Fail);
        let report = report(&gates, &set, vec![Vec::new()], Vec::new(), 0.5);
        assert!(!report.passed());
        assert_eq!(report.verdict, GateVerdict::Fail);
        assert_eq!(report.gates.len(), 2);
        assert_eq!(report.gates[0].verdict, GateVerdict::Pending);
        assert_eq!(
            report.gates[0].reason,
            "not decided: another gate decided first"
        );
        assert_eq!(report.gates[1].verdict, GateVerdict::Fail);
        assert_eq!(
            report.gates[1].reason,
            "1 failed measurement(s), 0 tolerated"
        );
        assert!(report.gates[1].measurements.is_empty());
    }
}
