//! `rollout verify DEPLOYMENT --verify…`: runs the gates once against the Deployment as
//! it is, each to its verdict, all at once; the new pods are the ready pods of its current
//! ReplicaSet. The smoke test of the runbook ("roll out, smoke test, if the metrics look
//! bad undo") as a step of its own, and the gates' check from the command line.
//!
//! Exit: 0 every gate passed; 4 one failed (or was inconclusive with
//! `--on-inconclusive fail`); 6 one was inconclusive with `--on-inconclusive pause` (a human
//! decides); 2 bad flags. Each measurement is a line on stderr; `-o json` prints the
//! gates' reports, measurements included, on stdout.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use rollout_semantics::pod::is_pod_ready;
use serde::Serialize;

use crate::cli::{ClusterArgs, VerifyArgs};
use crate::cluster;
use crate::engine::snapshot::Snapshot;
use crate::error::CliError;
use crate::exit::Exit;
use crate::gates::{self, Context, Decision, GateReport, GateVerdict, Prober};
use crate::output::Printer;

/// The result printed with `-o json`.
#[derive(Debug, Serialize)]
struct Report {
    namespace: String,
    deployment: String,
    pods: Vec<gates::Pod>,
    verdict: GateVerdict,
    gates: Vec<GateReport>,
}

/// The new pods a gate probes: the ready, not terminating pods of the new ReplicaSet.
pub fn new_pods(snap: &Snapshot) -> Vec<gates::Pod> {
    snap.new_pods()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && is_pod_ready(p))
        .map(|p| gates::Pod {
            name: p.metadata.name.clone().unwrap_or_default(),
            ip: p
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .filter(|ip| !ip.is_empty()),
        })
        .collect()
}

/// The verdict of several gates: any failure fails, else any inconclusive, else pass.
fn overall(reports: &[GateReport]) -> GateVerdict {
    let any = |v| reports.iter().any(|r| r.verdict == v);
    if any(GateVerdict::Fail) {
        GateVerdict::Fail
    } else if any(GateVerdict::Inconclusive) {
        GateVerdict::Inconclusive
    } else {
        GateVerdict::Pass
    }
}

pub async fn run(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    args: VerifyArgs,
) -> Result<Exit, CliError> {
    if !args.gates.any() {
        return Err(CliError::usage(
            "no gate to run",
            Some(
                "add --verify-http URL, --verify CMD or --verify-prometheus QUERY --threshold EXPR"
                    .into(),
            ),
        ));
    }
    let gates = args.gates.gates().map_err(|e| {
        CliError::usage(
            e,
            Some("see `rollout verify --help` for the gate flags".into()),
        )
    })?;
    let name = crate::target::deployment_name(&args.deployment)?;
    let cluster = cluster::connect(cluster_args).await?;
    let d = cluster.deployment(&name).await?;
    let selector =
        rollout_semantics::selector::format_label_selector(d.spec.as_ref().map(|s| &s.selector));
    let replica_sets = cluster.replica_sets_of(&d).await?;
    let pods: Vec<Pod> = cluster
        .list(&ListParams::default().labels(&selector))
        .await?;
    let snap = Snapshot {
        deployment: d,
        replica_sets,
        pods: pods.into_iter().map(Arc::new).collect(),
        ..Snapshot::default()
    };
    let ctx = Context {
        namespace: cluster.namespace.clone(),
        deployment: name.clone(),
        step: String::new(),
        pods: new_pods(&snap),
    };
    printer.info(&format!(
        "verifying deployment {name}: {} gate(s), {} new pod(s) ready",
        gates.len(),
        ctx.pods.len()
    ));
    let prober = Prober::new();
    let reports = futures::future::join_all(
        gates
            .iter()
            .map(|g| gates::run_gate(&prober, g, &ctx, |m| printer.info(&m.line()))),
    )
    .await;
    for r in &reports {
        printer.info(&format!(
            "gate {}: {} ({})",
            r.gate,
            serde_json::to_value(r.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            r.reason
        ));
    }
    let verdict = overall(&reports);
    let decided = |d| reports.iter().any(|r| r.decision == d);
    let (fail, pause) = (decided(Decision::Fail), decided(Decision::Pause));
    if printer.format.is_some() {
        printer.structured(&Report {
            namespace: ctx.namespace.clone(),
            deployment: name.clone(),
            pods: ctx.pods.clone(),
            verdict,
            gates: reports,
        })?;
    }
    Ok(if fail {
        Exit::Failed
    } else if pause {
        Exit::Paused
    } else {
        Exit::Success
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdict: GateVerdict) -> GateReport {
        GateReport {
            gate: "g".into(),
            verdict,
            decision: Decision::Wait,
            reason: String::new(),
            tally: Default::default(),
            measurements: Vec::new(),
        }
    }

    #[test]
    fn a_failure_outweighs_an_inconclusive_gate_which_outweighs_passes() {
        use GateVerdict::*;
        assert_eq!(
            overall(&[report(Pass), report(Inconclusive), report(Fail)]),
            Fail
        );
        assert_eq!(overall(&[report(Pass), report(Inconclusive)]), Inconclusive);
        assert_eq!(overall(&[report(Pass), report(Pass)]), Pass);
    }
}
