//! `rollout bluegreen SERVICE --image [C=]IMAGE | --env ... | --patch ...`: the full flow.
//! The idle side is created from the active one (color switched, `engine::bluegreen::idle`)
//! or updated, with the change `update` makes (the same parsing and apply code); it is
//! followed to ready by the rollout engine with the same diagnosis (a side that fails gets
//! no traffic, and is scaled to 0 or left as `--on-failure` says), optionally at
//! `--preview-replicas` behind a `--preview-service`, checked by `--verify`, scaled to full
//! size, and swapped to by the guarded swap; the old side is then kept for `--keep-old`
//! (`keep_old`). Each step is recorded on the Service first (`engine::bluegreen::flow`), and
//! each is idempotent, so the same command run again completes a stopped one.

use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Patch, PatchParams, PostParams};
use rollout_semantics::selector::format_label_selector;
use serde_json::json;

use super::report::{Ending, FlowReport, SwapResult};
use super::{Opts, blank, io, keep_old, refused, swap, verify, watch};
use crate::cli::FollowArgs;
use crate::cluster::{Cluster, Guarded, retry};
use crate::commands::follow::{Started, follow_change};
use crate::commands::update::{CHANGE_CAUSE, template_diff};
use crate::engine::bluegreen::checks::{self, Refusal, RefusalKind};
use crate::engine::bluegreen::flow::{self, FlowRecord, KeepOld};
use crate::engine::bluegreen::guard::{Record, SWITCHING};
use crate::engine::bluegreen::idle::{self, Overrides, Sides};
use crate::engine::change::{self, ChangeRequest};
use crate::engine::policy::{OnFailure, OnInterrupt};
use crate::error::CliError;
use crate::outcome::{Ended, Outcome};
use crate::output::Printer;

/// What the full flow is asked to do.
pub(super) struct Flow {
    pub req: ChangeRequest,
    pub overrides: Overrides,
    pub preview_replicas: Option<i32>,
    pub preview_service: Option<String>,
    pub verify: Option<String>,
    pub keep_old: KeepOld,
    pub wait_scale_down: bool,
    /// What a failed new side gets (`rollback`: scaled to 0; `pause`; `none`).
    pub on_failure: OnFailure,
    pub force: bool,
    /// When a new side counts as failed (as `update`'s flags say).
    pub thresholds: crate::engine::diagnose::Thresholds,
}

fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn template(d: &Deployment) -> Option<&k8s_openapi::api::core::v1::PodTemplateSpec> {
    d.spec.as_ref().map(|s| &s.template)
}

pub(super) async fn run(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    o: &Opts,
    f: &Flow,
    started: Instant,
) -> Result<SwapResult, CliError> {
    let svc = io::get_service(cluster, service).await?;
    let record = FlowRecord::of(svc.metadata.annotations.as_ref());
    let deployments = io::list::<Deployment>(cluster, "").await?;
    let mut r = blank(cluster, service, "", "bluegreen-flow");
    let sides = match idle::sides(
        service,
        &checks::service_selector(&svc),
        &deployments,
        &f.overrides,
    ) {
        Ok(s) => s,
        Err(why) => {
            return Ok(refused(
                r,
                vec![Refusal::new(
                    RefusalKind::NoSides,
                    why,
                    "name the sides with --blue NAME and --green NAME, or swap to an existing Deployment with --to".into(),
                )],
            ));
        }
    };
    r.to = sides.idle.clone();
    r.from = Some(sides.active.clone());
    r.selector_before = checks::service_selector(&svc);
    r.selector_after = r.selector_before.clone();
    r.selector_after
        .insert(sides.key.clone(), sides.idle_value.clone());
    let mut report = FlowReport {
        active: sides.active.clone(),
        side: sides.idle.clone(),
        keep_old: f.keep_old.shown(),
        preview_replicas: f.preview_replicas,
        preview_service: f.preview_service.clone(),
        ..FlowReport::default()
    };
    if record.unfinished() {
        printer.info(&format!(
            "an earlier run stopped in phase {} (deployment {}, started {}): completing it",
            record.phase.as_deref().unwrap_or("?"),
            record.target.as_deref().unwrap_or("?"),
            record.started_at.as_deref().unwrap_or("?")
        ));
        report.resumed_from = record.phase.clone();
    }
    let Some(active) = deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(sides.active.as_str()))
    else {
        return Err(CliError::Internal("the active side vanished".into()));
    };
    let on_active = change::build(active, &f.req)?;
    report.change = on_active.description.clone();
    report.replicas = replicas(active);
    let cause = o
        .cause
        .clone()
        .unwrap_or_else(|| on_active.description.clone());
    if template(active) == Some(&on_active.spec.template) {
        return served(
            cluster, printer, service, o, f, r, report, &svc, &record, started,
        )
        .await;
    }
    if record.scale_down_side.as_deref() == Some(sides.idle.as_str()) {
        // The side an earlier flow kept for a swap back is the one to start the new
        // version on: its window ends here.
        printer.warn(&format!(
            "deployment \"{}\" was kept for a swap back until {} (--keep-old); this flow starts the new version on it",
            sides.idle,
            record.scale_down_at.as_deref().unwrap_or("?")
        ));
    } else if !o.dry_run {
        // An earlier flow's old side whose window has passed.
        r.actions
            .extend(keep_old::settle(cluster, printer, service, false).await?);
    }
    let existing = deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(sides.idle.as_str()));
    let base = match idle::base(active, &sides, existing) {
        Ok(b) => b,
        Err(why) => {
            let hint = "give the active side's selector the color label, or create the idle side yourself and swap with --to".into();
            return Ok(refused(
                r,
                vec![Refusal::new(RefusalKind::NoSides, why, hint)],
            ));
        }
    };
    let built = change::build(&base, &f.req)?;
    let full = replicas(active);
    let same = existing.is_some_and(|e| template(e) == Some(&built.spec.template));
    let current = existing.map(replicas).unwrap_or(0);
    let mut start = f.preview_replicas.map_or(full, |n| n.clamp(1, full.max(1)));
    if same {
        start = start.max(current.min(full));
    }
    let mut desired = base.clone();
    let mut spec = built.spec.clone();
    spec.replicas = Some(start);
    desired.spec = Some(spec);
    // Both sides run at once before the swap: the new side's full size must fit.
    let more = if same { full - current } else { full };
    if more > 0 {
        let replaced = existing.filter(|_| !same);
        match io::capacity(cluster, &desired, more, replaced).await? {
            io::Capacity::Fits(line) => r.checks.push(line),
            io::Capacity::Skipped(why) => {
                printer.warn(&format!("capacity check skipped: {why}"));
            }
            io::Capacity::Short(short) if !f.force => {
                let preview = if short.fits > 0 {
                    format!(
                        "--preview-replicas {} starts a preview that fits, but the swap needs all {full}; ",
                        short.fits
                    )
                } else {
                    String::new()
                };
                return Ok(refused(
                    r,
                    vec![Refusal::new(
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
                    )],
                ));
            }
            io::Capacity::Short(short) => {
                printer.warn(&format!(
                    "capacity: {} (--force: starting anyway)",
                    short.describe()
                ));
            }
        }
    }
    for line in &r.checks {
        printer.info(&format!("checked: {line}"));
    }
    let verb = match (existing, same) {
        (None, _) => "create",
        (Some(_), false) => "update",
        (Some(_), true) => "pick up",
    };
    if o.dry_run {
        r.actions.push(format!(
            "would {verb} deployment \"{}\" ({}={}) at {start} of {full} replicas with {}, follow it to ready{}, swap service \"{service}\" to it and keep \"{}\" for {}",
            sides.idle,
            sides.key,
            sides.idle_value,
            report.change,
            if f.verify.is_some() { ", run --verify" } else { "" },
            sides.active,
            f.keep_old.shown()
        ));
        if printer.format.is_none() {
            printer.data(&template_diff(active, &desired));
        }
        r.flow = Some(report);
        r.set(Ending::DryRun, "nothing was changed (--dry-run)");
        return Ok(r);
    }
    keep_old::annotate(
        cluster,
        service,
        flow::start_patch(&sides.idle, &io::stamp(), &cause, &f.keep_old),
    )
    .await?;
    let t = Instant::now();
    let (before, written) = write_side(cluster, existing, desired, same, start, &cause).await?;
    report.created = existing.is_none();
    printer.info(&format!(
        "deployment.apps/{} {} from {} ({}={}, {start} of {full} replicas): {}",
        sides.idle,
        match verb {
            "create" => "created",
            "update" => "updated",
            _ => "already has the change; following it",
        },
        sides.active,
        sides.key,
        sides.idle_value,
        report.change
    ));
    if let Some(p) = &f.preview_service {
        preview(cluster, &svc, p, &sides).await?;
        printer.info(&format!(
            "service/{p} selects only deployment \"{}\"",
            sides.idle
        ));
        r.actions.push(format!(
            "service \"{p}\" selects only deployment \"{}\"",
            sides.idle
        ));
    }
    keep_old::annotate(cluster, service, flow::phase_patch("following")).await?;
    let outcome = follow(cluster, printer, o, f, before, written.clone(), same).await?;
    if outcome.result != Ended::RolledOut {
        return failed(
            cluster,
            printer,
            service,
            f,
            r,
            report,
            &sides,
            Some(outcome),
            None,
        )
        .await;
    }
    if let Some(cmd) = &f.verify {
        keep_old::annotate(cluster, service, flow::phase_patch("verifying")).await?;
        let selector = format_label_selector(written.spec.as_ref().map(|s| &s.selector));
        let pods = io::list::<Pod>(cluster, &selector).await?;
        let pods = watch::ready_pods(pods.iter());
        printer.info(&format!("verifying: {cmd}"));
        let ctx = verify::Context {
            namespace: &cluster.namespace,
            service,
            target: &sides.idle,
            preview_service: f.preview_service.as_deref(),
            pods: &pods,
        };
        let verdict = verify::run(cmd, &ctx, o.timeout).await?;
        report.verify = Some(verdict.clone());
        if let Some(why) = verdict.reason {
            return failed(
                cluster,
                printer,
                service,
                f,
                r,
                report,
                &sides,
                None,
                Some(why),
            )
            .await;
        }
        printer.info(&format!("verified in {:.1}s", verdict.seconds));
    }
    if start < full {
        keep_old::annotate(cluster, service, flow::phase_patch("following")).await?;
        let now = cluster.deployment(&sides.idle).await?;
        if let Err(why) =
            super::rollback::scale(cluster, printer, &now, start, full, o.timeout).await?
        {
            return failed(
                cluster,
                printer,
                service,
                f,
                r,
                report,
                &sides,
                None,
                Some(why),
            )
            .await;
        }
    }
    report.ready_seconds = Some(t.elapsed().as_secs_f64());
    // The pods just became Ready: the stability window runs from now at the latest.
    tokio::time::sleep(o.stable_for).await;
    keep_old::annotate(cluster, service, flow::phase_patch("swapping")).await?;
    let opts = Opts {
        cause: Some(cause),
        resource_version: None,
        ..*o
    };
    let mut result = swap(cluster, printer, service, &sides.idle, &opts, started).await?;
    result.action = "bluegreen-flow".into();
    let mut actions = std::mem::take(&mut r.actions);
    actions.push(format!(
        "{} deployment \"{}\" with {} and followed it to ready",
        match verb {
            "create" => "created",
            "update" => "updated",
            _ => "picked up",
        },
        sides.idle,
        report.change
    ));
    actions.append(&mut result.actions);
    result.actions = actions;
    if result.result == Ending::Swapped {
        let done = keep_old::schedule(
            cluster,
            printer,
            service,
            &sides.active,
            f.keep_old,
            jiff::Timestamp::now(),
            f.wait_scale_down,
        )
        .await?;
        report.old_side = done.last().cloned();
        result.actions.extend(done);
    }
    result.flow = Some(report);
    Ok(result)
}

/// The active side already runs the change: what an earlier run left is completed (a
/// swap still `switching` settled, the old side's window recorded and acted on).
#[allow(clippy::too_many_arguments)]
async fn served(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    o: &Opts,
    f: &Flow,
    mut r: SwapResult,
    mut report: FlowReport,
    svc: &Service,
    record: &FlowRecord,
    started: Instant,
) -> Result<SwapResult, CliError> {
    let earlier = std::mem::take(&mut r.actions);
    let active = report.active.clone();
    let swap_record = Record::of(svc.metadata.annotations.as_ref());
    r.to = active.clone();
    r.from = swap_record.previous_side.clone();
    report.side = active.clone();
    report.active = swap_record.previous_side.clone().unwrap_or_default();
    if o.dry_run {
        r.flow = Some(report);
        r.set(
            Ending::DryRun,
            "nothing to do: the active side already has the change",
        );
        return Ok(r);
    }
    let switching = swap_record.state.as_deref() == Some(SWITCHING)
        && swap_record.active_side.as_deref() == Some(active.as_str());
    let mut result = if switching {
        let mut s = swap(cluster, printer, service, &active, o, started).await?;
        s.action = "bluegreen-flow".into();
        if s.result != Ending::Swapped {
            s.flow = Some(report);
            return Ok(s);
        }
        s
    } else {
        r.selector_before = checks::service_selector(svc);
        r.selector_after = r.selector_before.clone();
        r.set(
            Ending::Unchanged,
            format!(
                "service \"{service}\" already serves deployment \"{active}\" with {}",
                report.change
            ),
        );
        r
    };
    // The swap of this flow landed but its window was never recorded (stopped between).
    let swapped_here = record.target.as_deref() == Some(active.as_str())
        && record.phase.as_deref() == Some("swapping");
    if swapped_here && let Some(old) = swap_record.previous_side.clone() {
        let keep = record
            .keep_old
            .as_deref()
            .and_then(|k| KeepOld::parse(k).ok())
            .unwrap_or(f.keep_old);
        let from = swap_record
            .swapped_at
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(jiff::Timestamp::now);
        let done = keep_old::schedule(
            cluster,
            printer,
            service,
            &old,
            keep,
            from,
            f.wait_scale_down,
        )
        .await?;
        report.old_side = done.last().cloned();
        result.actions.extend(done);
    } else {
        let done = keep_old::settle(cluster, printer, service, f.wait_scale_down).await?;
        report.old_side = done.last().cloned().or(report.old_side);
        result.actions.extend(done);
    }
    result.actions.splice(0..0, earlier);
    result.timings.total_seconds = started.elapsed().as_secs_f64();
    result.flow = Some(report);
    Ok(result)
}

/// Creates the idle side, or writes the change into it (guarded on its resourceVersion),
/// or scales it to `start` when it already has the change. Returns (before, after).
async fn write_side(
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
async fn follow(
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
async fn preview(cluster: &Cluster, main: &Service, name: &str, s: &Sides) -> Result<(), CliError> {
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
        .map(|_| ())
        .map_err(|e| cluster.error(format!("applying preview service \"{name}\""), e))
}

/// The new side did not get to the swap: it gets no traffic; `--on-failure` says whether
/// it keeps its pods. An interrupted or timed-out follow leaves it as it is (running the
/// same command again goes on).
#[allow(clippy::too_many_arguments)]
async fn failed(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    f: &Flow,
    mut r: SwapResult,
    report: FlowReport,
    s: &Sides,
    outcome: Option<Outcome>,
    why: Option<String>,
) -> Result<SwapResult, CliError> {
    let rerun = "run the same command again to go on".to_string();
    if let Some(o) = &outcome
        && matches!(o.result, Ended::Interrupted | Ended::TimedOut)
    {
        let ending = if o.result == Ended::Interrupted {
            Ending::Interrupted
        } else {
            Ending::TimedOut
        };
        r.set(
            ending,
            format!(
                "deployment \"{}\" was not ready yet ({}); service \"{service}\" still selects \"{}\"",
                s.idle, o.reason, s.active
            ),
        );
        r.next = Some(rerun);
        r.new_side = outcome;
        r.flow = Some(report);
        return Ok(r);
    }
    let verify_failed = report.verify.as_ref().is_some_and(|v| !v.passed);
    let cause = match (&outcome, why) {
        (_, Some(w)) => w,
        (Some(o), None) => o
            .diagnosis
            .as_ref()
            .map(|d| d.summary.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| o.reason.clone()),
        (None, None) => "it did not become ready".into(),
    };
    if let Some(o) = &outcome
        && printer.format.is_none()
    {
        let (text, _) = crate::output::report::human(o, printer.color);
        crate::output::err(&text);
    }
    keep_old::annotate(cluster, service, flow::failed_patch(&cause)).await?;
    // Rolling a side back that never served is giving its pods back: scaled to 0, its
    // template kept for `rollout history`.
    let fate = match f.on_failure {
        OnFailure::Rollback => {
            keep_old::scale_down_now(cluster, &s.idle).await?;
            r.actions.push(format!(
                "scaled deployment \"{}\" to 0 (--on-failure rollback)",
                s.idle
            ));
            "scaled to 0"
        }
        OnFailure::Pause => {
            crate::engine::rollback::pause(cluster, &s.idle, false).await?;
            r.actions.push(format!(
                "paused deployment \"{}\" where it stands (--on-failure pause)",
                s.idle
            ));
            "paused for inspection"
        }
        OnFailure::None => "left as it is for inspection",
    };
    r.set(
        if verify_failed {
            Ending::VerifyFailed
        } else {
            Ending::NewSideFailed
        },
        format!(
            "deployment \"{}\" {}: {cause}; it got no traffic (service \"{service}\" still selects \"{}\") and was {fate}",
            s.idle,
            if verify_failed { "failed --verify" } else { "did not become ready" },
            s.active
        ),
    );
    r.next = Some(format!(
        "kubectl describe deployment {} -n {}",
        s.idle, cluster.namespace
    ));
    r.new_side = outcome;
    r.flow = Some(report);
    Ok(r)
}
