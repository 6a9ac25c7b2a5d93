//! The full flow's pre-swap gates: the gates of `update --steps` and `rollout verify`
//! (`crate::gates`, the same flags) run against the idle side before the swap. HTTP gates
//! with `{pod_ip}` or `{pod}` probe each of its ready pods; a URL without them is probed as
//! is (the `--preview-service`'s address, which selects the idle side alone). A command
//! gate gets the usual variables (`ROLLOUT_DEPLOYMENT` is the idle side, `ROLLOUT_NEW_PODS`
//! and `ROLLOUT_NEW_POD_IPS` its ready pods) plus `ROLLOUT_SERVICE` and, with a preview,
//! `ROLLOUT_PREVIEW_SERVICE`.
//!
//! Each measurement is a line on stderr and a `gate_measurement` event, as in `update`; the
//! gates' reports are kept for `-o json`. What the decision means for the swap is the
//! flow's: pass swaps, fail takes `--on-failure`, inconclusive with `--on-inconclusive
//! pause` leaves the idle side for a human.

use k8s_openapi::api::core::v1::Pod;
use rollout_semantics::pod::is_pod_ready;
use serde::Serialize;

use crate::gates::{self, Decision, Gate, GateReport, GateVerdict, Prober};
use crate::output::Printer;

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

    /// One line: which gate decided, and why.
    pub fn why(&self) -> String {
        let deciding = self
            .gates
            .iter()
            .find(|g| matches!(g.decision, Decision::Fail))
            .or_else(|| self.gates.iter().find(|g| g.decision == Decision::Pause));
        match deciding {
            Some(g) => format!("gate {}: {} ({})", g.gate, g.verdict.word(), g.reason),
            None => format!("the gates: {}", self.verdict.word()),
        }
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

/// Runs `gates` in `ctx` to their decision, each measurement shown as it comes.
pub async fn run(
    printer: &Printer,
    rollout: &str,
    gates: &[Gate],
    ctx: &gates::Context,
) -> (Decision, GatesReport) {
    let started = std::time::Instant::now();
    printer.info(&format!(
        "verifying deployment {} before the swap: {} gate(s), {} ready pod(s)",
        ctx.deployment,
        gates.len(),
        ctx.pods.len()
    ));
    let events = printer.events.clone();
    let (decision, reports) = gates::run_gates(&Prober::new(), gates, ctx, |m| {
        printer.info(&m.line());
        if let Some(e) = &events {
            e.emit(rollout, "gate_measurement", m.event());
        }
    })
    .await;
    for r in &reports {
        printer.info(&format!(
            "gate {}: {} ({})",
            r.gate,
            r.verdict.word(),
            r.reason
        ));
    }
    let verdict = match decision {
        Decision::Proceed => GateVerdict::Pass,
        Decision::Fail => GateVerdict::Fail,
        Decision::Pause => GateVerdict::Inconclusive,
        Decision::Wait => GateVerdict::Pending,
    };
    let report = GatesReport {
        verdict,
        pods: ctx.pods.clone(),
        gates: reports,
        seconds: started.elapsed().as_secs_f64(),
    };
    (decision, report)
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

    #[tokio::test]
    async fn a_failing_gate_decides_and_names_itself_in_the_reason() {
        let printer = Printer::new(true, None, None, false);
        let gates = [
            Gate::new(
                Check::Command {
                    command: "true".into(),
                },
                Policy::default(),
            ),
            Gate::new(
                Check::Command {
                    command: "test \"$ROLLOUT_SERVICE\" = other".into(),
                },
                Policy::default(),
            ),
        ];
        let ctx = context("ml", "web", "web-green", None, Vec::new());
        let (decision, report) = run(&printer, "ml/web", &gates, &ctx).await;
        assert_eq!(decision, Decision::Fail);
        assert!(!report.passed());
        assert_eq!(report.verdict, GateVerdict::Fail);
        assert!(
            report
                .why()
                .contains("1 failed measurement(s), 0 tolerated"),
            "{}",
            report.why()
        );
        assert!(report.why().contains("ROLLOUT_SERVICE"), "{}", report.why());
    }
}
