//! The full flow's new side: created or updated with the change (guarded), followed to
//! ready by the rollout engine, and exposed by the preview Service.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use super::super::report::CapacityReport;
use super::super::{Opts, io};
use super::Flow;
use crate::cli::FollowArgs;
use crate::cluster::{Cluster, Guarded, retry};
use crate::commands::follow::{Started, follow_change};
use crate::commands::update::CHANGE_CAUSE;
use crate::engine::bluegreen::checks::{self, Refusal, RefusalKind};
use crate::engine::bluegreen::idle::Sides;
use crate::engine::policy::{OnFailure, OnInterrupt};
use crate::error::CliError;
use crate::outcome::Outcome;
use crate::output::Printer;

/// Creates the idle side, or writes the change into it (guarded on its resourceVersion),
/// or scales it to `start` when it already has the change. Returns (before, after).
pub(super) async fn write_side(
    cluster: &Cluster,
    existing: Option<&Deployment>,
    mut desired: Deployment,
    same: bool,
    start: i32,
    cause: &str,
) -> Result<(Deployment, Deployment), CliError> {
    let name = desired.metadata.name.clone().unwrap_or_default();
    let Some(existing) = existing else {
        desired
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(CHANGE_CAUSE.into(), cause.to_string());
        let api = cluster.api::<Deployment>();
        let pp = PostParams::default();
        return match retry::transient_errors(|| api.create(&pp, &desired)).await {
            Ok(d) => Ok((d.clone(), d)),
            // An earlier attempt whose answer was lost, or a concurrent run: what is there
            // now is followed (a re-run compares its template first).
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let d = cluster.deployment(&name).await?;
                Ok((d.clone(), d))
            }
            Err(e) => Err(cluster.error(format!("creating deployment \"{name}\""), e)),
        };
    };
    let action = format!("updating deployment \"{name}\"");
    let spec = desired.spec.clone().unwrap_or_default();
    let written = cluster
        .guarded_patch(existing.clone(), false, &action, |now| {
            let mut want = spec.clone();
            if same {
                // The change is there: only the size, and a pause a failed run left
                // (`--on-failure pause`), are to be undone.
                want = now.spec.clone().unwrap_or_default();
                let paused = want.paused.unwrap_or(false);
                if want.replicas.unwrap_or(1) >= start && !paused {
                    return Ok(None);
                }
                want.replicas = Some(want.replicas.unwrap_or(1).max(start));
                want.paused = None;
            }
            let mut annotations = now.metadata.annotations.clone().unwrap_or_default();
            annotations.insert(CHANGE_CAUSE.into(), cause.to_string());
            Ok(Some(vec![
                json!({"op": "replace", "path": "/spec", "value": want}),
                json!({"op": if now.metadata.annotations.is_some() { "replace" } else { "add" }, "path": "/metadata/annotations", "value": annotations}),
            ]))
        })
        .await?;
    Ok(match written {
        Guarded::Written(d) => (existing.clone(), d),
        Guarded::Unchanged(d) => (d.clone(), d),
    })
}

/// Follows the new side to ready with the rollout engine (no rollback: a failed side is
/// handled by the flow's `--on-failure`).
pub(super) async fn follow(
    cluster: &Cluster,
    printer: &Printer,
    o: &Opts,
    f: &Flow,
    before: Deployment,
    after: Deployment,
    picked_up: bool,
) -> Result<Outcome, CliError> {
    let args = FollowArgs {
        no_wait: false,
        timeout: o.timeout,
        on_failure: OnFailure::None,
        on_interrupt: OnInterrupt::None,
        probe_failures: f.thresholds.probe_failures,
        restarts: f.thresholds.restarts,
        unschedulable_grace: f.thresholds.unschedulable_grace,
    };
    let mut s = Started::new("bluegreen", before, after);
    s.picked_up = picked_up;
    follow_change(cluster, printer, &args, s).await
}

/// Creates or updates the preview Service: the main one's ports, selecting the idle side.
pub(super) async fn preview(
    cluster: &Cluster,
    main: &Service,
    name: &str,
    s: &Sides,
) -> Result<Option<String>, CliError> {
    let mut selector = checks::service_selector(main);
    selector.insert(s.key.clone(), s.idle_value.clone());
    let ports: Vec<serde_json::Value> = main
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|p| json!({"name": p.name, "port": p.port, "targetPort": p.target_port, "protocol": p.protocol}))
        .collect();
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"rollout.dev/preview-of": main.metadata.name}},
        "spec": {"selector": selector, "ports": ports},
    });
    let api = cluster.api::<Service>();
    let pp = PatchParams::apply("rollout").force();
    let patch = Patch::Apply(&obj);
    retry::transient_errors(|| api.patch(name, &pp, &patch))
        .await
        .map(|svc| address(&svc))
        .map_err(|e| cluster.error(format!("applying preview service \"{name}\""), e))
}

/// `http://CLUSTER-IP:PORT` of a Service's first port, for a `--verify-http` of the
/// preview (`None` without a ClusterIP, e.g. headless).
fn address(svc: &Service) -> Option<String> {
    let spec = svc.spec.as_ref()?;
    let ip = spec
        .cluster_ip
        .as_deref()
        .filter(|ip| !ip.is_empty() && *ip != "None")?;
    let port = spec.ports.as_ref()?.first()?.port;
    Some(if ip.contains(':') {
        format!("http://[{ip}]:{port}")
    } else {
        format!("http://{ip}:{port}")
    })
}

/// The capacity preflight of `more` new pods of the new side (`replaced`: an idle side
/// whose pods they replace): its verdict for the result object (`None`: no pods to add),
/// and `Ok(Some(line))` when they fit, `Ok(None)` when the check was skipped or overridden
/// (said on stderr), `Err` the refusal with the numbers.
#[allow(clippy::too_many_arguments)]
pub(super) async fn preflight(
    cluster: &Cluster,
    printer: &Printer,
    desired: &Deployment,
    more: i32,
    replaced: Option<&Deployment>,
    sides: &Sides,
    full: i32,
    force: bool,
) -> Result<(Option<CapacityReport>, Result<Option<String>, Refusal>), CliError> {
    if more <= 0 {
        return Ok((None, Ok(None)));
    }
    let verdict = io::capacity(cluster, desired, more, replaced).await?;
    let report = Some(verdict.report(force));
    Ok((
        report,
        match verdict {
            io::Capacity::Fits(line) => Ok(Some(line)),
            io::Capacity::Skipped(why) => {
                printer.warn(&format!("capacity check skipped: {why}"));
                Ok(None)
            }
            io::Capacity::Short(short) if force => {
                printer.warn(&format!(
                    "capacity: {} (--force: starting anyway)",
                    short.describe()
                ));
                Ok(None)
            }
            io::Capacity::Short(short) => {
                let preview = if short.fits > 0 {
                    format!(
                        "--preview-replicas {} starts a preview that fits, but the swap needs all {full}; ",
                        short.fits
                    )
                } else {
                    String::new()
                };
                Err(Refusal::new(
                    RefusalKind::NoCapacity,
                    format!(
                        "deployment \"{}\" cannot run beside \"{}\": {}",
                        sides.idle,
                        sides.active,
                        short.describe()
                    ),
                    format!(
                        "{preview}free capacity first, or change the active side in place with a rolling update that needs no room (`rollout update {} ... --max-surge 0 --max-unavailable 1`), or add --force to start it anyway (pods that do not fit stay Pending and the flow fails before the swap)",
                        sides.active
                    ),
                ))
            }
        },
    ))
}
