//! The old side after a full flow's swap (`--keep-old`). It keeps its pods for the window,
//! so a `--rollback` inside it needs no scale-up, and is then scaled to 0 (its recorded
//! size stays on the Service for `--rollback --scale-up`), or kept with `forever`.
//!
//! The command does not stay behind unless asked: the window's end is written on the
//! Service (`rollout.dev/scale-down-side`, `rollout.dev/scale-down-at`), and the scale-down
//! is done by whichever comes first of this run waiting (`--wait-scale-down`) and the next
//! `rollout bluegreen SERVICE` run that changes something (a full flow, `--to`) after the
//! window has passed. `--status` only reports it, overdue or not. A side that serves again
//! (a swap back) is never scaled down: its record is dropped. These are the window's I/O:
//! the flow's machine (`engine::bluegreen::run`) decides when each is done, and the driver
//! loop wakes it when a waited-out window ends.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Patch;
use serde_json::json;

use super::io;
use crate::cluster::Cluster;
use crate::engine::bluegreen::checks::{self, template_labels};
use crate::engine::bluegreen::flow::{self, FlowRecord, KeepOld, ScaleDown};
use crate::engine::bluegreen::selector::matches;
use crate::error::CliError;
use crate::output::Printer;

/// Writes a merge patch of the Service's annotations.
pub(super) async fn annotate(
    cluster: &Cluster,
    service: &str,
    patch: serde_json::Value,
) -> Result<(), CliError> {
    let action = format!("recording the blue-green flow on service \"{service}\"");
    cluster
        .patch::<k8s_openapi::api::core::v1::Service, _>(
            service,
            &Patch::Merge(patch),
            false,
            &action,
        )
        .await
        .map(|_| ())
}

/// Records the window of `old` from `from` on the Service; for `forever`, the line that
/// says how to scale it down by hand.
pub(super) async fn record(
    cluster: &Cluster,
    service: &str,
    old: &str,
    keep: KeepOld,
    from: jiff::Timestamp,
) -> Result<Option<String>, CliError> {
    match keep {
        KeepOld::Forever => {
            annotate(cluster, service, flow::keeping_patch(old, None)).await?;
            Ok(Some(format!(
                "deployment \"{old}\" keeps its pods (--keep-old forever): scale it down with `kubectl scale deployment {old} --replicas=0` when it is no longer needed"
            )))
        }
        KeepOld::For(d) => {
            let at = flow::after(from, d);
            annotate(cluster, service, flow::keeping_patch(old, Some(&at))).await?;
            Ok(None)
        }
    }
}

/// The window a Service records, and what it calls for now.
pub(super) struct Window {
    pub record: FlowRecord,
    /// The side it keeps, as read.
    side: Option<Deployment>,
    pub decided: ScaleDown,
}

/// Reads the window the Service records and decides it now (a side that serves again is
/// never scaled down: its record is dropped).
pub(super) async fn read(cluster: &Cluster, service: &str) -> Result<Window, CliError> {
    let svc = io::get_service(cluster, service).await?;
    let record = FlowRecord::of(svc.metadata.annotations.as_ref());
    let selector = checks::service_selector(&svc);
    let side = match &record.scale_down_side {
        Some(s) => cluster.get_opt::<Deployment>(s).await?,
        None => None,
    };
    let serving = |_: &str| {
        side.as_ref()
            .is_some_and(|d| matches(&selector, &template_labels(d)))
    };
    let decided = flow::scale_down(&record, jiff::Timestamp::now(), serving);
    Ok(Window {
        record,
        side,
        decided,
    })
}

/// Drops the window of a side that serves again.
pub(super) async fn drop_window(
    cluster: &Cluster,
    service: &str,
    w: &Window,
) -> Result<String, CliError> {
    annotate(cluster, service, flow::done_patch()).await?;
    let name = w.record.scale_down_side.clone().unwrap_or_default();
    Ok(format!(
        "deployment \"{name}\" serves again: its scheduled scale-down is dropped"
    ))
}

/// Scales the side of a passed window to 0 and clears the record.
pub(super) async fn scale_down(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    w: &Window,
) -> Result<String, CliError> {
    let name = w.record.scale_down_side.clone().unwrap_or_default();
    if let Some(d) = &w.side {
        scale_to_zero(cluster, d).await?;
    }
    annotate(cluster, service, flow::done_patch()).await?;
    printer.info(&format!(
        "deployment.apps/{name} scaled to 0 (its --keep-old window has passed)"
    ));
    Ok(format!(
        "scaled deployment \"{name}\" to 0 after its --keep-old window (swap back with `rollout bluegreen {service} --rollback --scale-up`)"
    ))
}

/// The line of a window waited out (`--wait-scale-down`).
pub(super) fn waiting(side: &str, left: std::time::Duration) -> String {
    format!(
        "keeping deployment \"{side}\" for {} more (--keep-old); Ctrl-C leaves its scale-down to a later run",
        humantime::format_duration(std::time::Duration::from_secs(left.as_secs().max(1)))
    )
}

/// Acts on a recorded window without waiting for it: drops it when its side serves again,
/// scales the side to 0 once its time has passed, and otherwise says when that will be.
/// Returns what was done.
pub(super) async fn settle(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
) -> Result<Vec<String>, CliError> {
    let w = read(cluster, service).await?;
    Ok(match &w.decided {
        ScaleDown::None => Vec::new(),
        ScaleDown::Drop => vec![drop_window(cluster, service, &w).await?],
        ScaleDown::Wait { side, .. } => vec![later(side, &w.record, service, &cluster.namespace)],
        ScaleDown::Now { .. } => vec![scale_down(cluster, printer, service, &w).await?],
    })
}

/// The line for a scale-down left to a later run.
pub(super) fn later(side: &str, r: &FlowRecord, service: &str, ns: &str) -> String {
    format!(
        "deployment \"{side}\" keeps its pods until {} (--keep-old); the next `rollout bluegreen {service} -n {ns} ...` run after that scales it to 0 (or rerun this command with --wait-scale-down)",
        r.scale_down_at.as_deref().unwrap_or("?")
    )
}

/// Scales `d` to 0, guarded on its resourceVersion (re-read on a conflict).
async fn scale_to_zero(cluster: &Cluster, d: &Deployment) -> Result<(), CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let action = format!("scaling deployment \"{name}\" to 0");
    cluster
        .guarded_patch(d.clone(), false, &action, |now| {
            let replicas = now.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            Ok((replicas != 0)
                .then(|| vec![json!({"op": "replace", "path": "/spec/replicas", "value": 0})]))
        })
        .await
        .map(|_| ())
}

/// Scales a side to 0 (a failed new side, `--on-failure scale-down`).
pub(super) async fn scale_down_now(cluster: &Cluster, name: &str) -> Result<(), CliError> {
    let d = cluster.deployment(name).await?;
    scale_to_zero(cluster, &d).await
}
