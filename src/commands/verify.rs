//! `rollout verify DEPLOYMENT --verify…`: runs the gates once against the Deployment as
//! it is, side by side until they decide together (a failure ends the run at once); the new
//! pods are the ready pods of its current ReplicaSet. The smoke test of the runbook ("roll out, smoke test, if the metrics look
//! bad undo") as a step of its own, and the gates' check from the command line.
//!
//! Exit: 0 every gate passed; 4 one failed (or was inconclusive with
//! `--on-inconclusive fail`); 6 one was inconclusive with `--on-inconclusive pause` (a human
//! decides); 2 bad flags. Each measurement is a line on stderr; `-o json` prints the
//! gates' reports, measurements included, on stdout.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
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
        deployment: d.into(),
        replica_sets: replica_sets.into_iter().map(Arc::new).collect(),
        pods: pods.into_iter().map(Arc::new).collect(),
        ..Snapshot::default()
    };
    let ctx = Context {
        namespace: cluster.namespace.clone(),
        deployment: name.clone(),
        step: String::new(),
        pods: gates::new_pods(&snap),
        extra: Vec::new(),
    };
    printer.info(&format!(
        "verifying deployment {name}: {} gate(s), {} new pod(s) ready",
        gates.len(),
        ctx.pods.len()
    ));
    let prober = Prober::new();
    let (decision, reports) =
        gates::run_gates(&prober, &gates, &ctx, |m| printer.info(&m.line())).await;
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
    if printer.format.is_some() {
        printer.structured(&Report {
            namespace: ctx.namespace.clone(),
            deployment: name.clone(),
            pods: ctx.pods.clone(),
            verdict,
            gates: reports,
        })?;
    }
    Ok(match decision {
        Decision::Proceed => Exit::Success,
        Decision::Pause => Exit::Paused,
        Decision::Fail | Decision::Wait => Exit::Failed,
    })
}
