//! `rollout bluegreen SERVICE --image [C=]IMAGE | --env ... | --patch ...`: the full flow.
//! The idle side is created from the active one (color switched, `engine::bluegreen::idle`)
//! or updated, with the change `update` makes (the same parsing and apply code); it is
//! followed to ready by the rollout engine with the same diagnosis (a side that fails gets
//! no traffic, and is scaled to 0 or left as `--on-failure` says), optionally at
//! `--preview-replicas` behind a `--preview-service`, checked by `--verify`, scaled to full
//! size, and swapped to by the guarded swap; the old side is then kept for `--keep-old`
//! (`keep_old`). Each step is recorded on the Service first (`engine::bluegreen::flow`), and
//! each is idempotent, so the same command run again completes a stopped one.
//!
//! This module reads and plans (the sides, the change, the preflight, `--dry-run`); the
//! phases from there on are the flow's machine (`engine::bluegreen::run`) on the driver
//! loop, its actions carried out by `effects`; a Service that already serves the change
//! goes the machine's short way in `ending::served`.

use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;

use super::report::{Ending, FlowReport, SwapResult};
use super::{Opts, blank, io, keep_old, refused};
use crate::cluster::Cluster;
use crate::commands::update::template_diff;
use crate::engine::bluegreen::checks::{self, Refusal, RefusalKind};
use crate::engine::bluegreen::flow::{FlowRecord, KeepOld};
use crate::engine::bluegreen::idle::{self, Overrides};
use crate::engine::change::{self, ChangeRequest};
use crate::engine::policy::OnFailure;
use crate::error::CliError;
use crate::output::Printer;

mod effects;
mod ending;
mod gating;
mod side;

use self::effects::{FlowEffects, Side, options};
use self::ending::{finish, served};
use super::swap::SwapEffects;
use crate::engine::bluegreen::run::{Run, State};

/// What the full flow is asked to do.
pub(super) struct Flow {
    pub req: ChangeRequest,
    pub overrides: Overrides,
    pub preview_replicas: Option<i32>,
    pub preview_service: Option<String>,
    /// The pre-swap gates (`--verify`, `--verify-http`, `--verify-prometheus`).
    pub gates: Vec<crate::gates::Gate>,
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
            .extend(keep_old::settle(cluster, printer, service).await?);
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
    let replaced = existing.filter(|_| !same);
    let (capacity, verdict) = side::preflight(
        cluster, printer, &desired, more, replaced, &sides, full, f.force,
    )
    .await?;
    r.capacity = capacity;
    match verdict {
        Ok(Some(line)) => r.checks.push(line),
        Ok(None) => {}
        Err(refusal) => return Ok(refused(r, vec![refusal])),
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
            if f.gates.is_empty() {
                String::new()
            } else {
                format!(", run {} gate(s) on it", f.gates.len())
            },
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
    let side = Side {
        sides,
        existing: existing.cloned(),
        desired,
        same,
        start,
        full,
        verb,
        cause,
    };
    let mut run = Run::new(
        options(o, f, start < full),
        false,
        &side.sides.active,
        &Default::default(),
        &Default::default(),
        jiff::Timestamp::now(),
    );
    // The swap is this flow's: its cause, the Service as the swap reads it.
    let opts = Opts {
        cause: Some(side.cause.clone()),
        resource_version: None,
        ..o.clone()
    };
    let active = side.sides.active.clone();
    let swap = SwapEffects::new(cluster, printer, service, &side.sides.idle, opts, started);
    let mut effects = FlowEffects::new(
        cluster,
        printer,
        service,
        o,
        f,
        &svc,
        Some(side),
        swap,
        r,
        report,
    );
    if let Err(e) = effects.drive(&mut run).await {
        // An API error (the cluster lost) before the swap's write: say what stands.
        if run.before_swap() {
            printer.info(&format!(
                "service \"{service}\" still selects \"{active}\" (the flow stopped before the swap); run the same command again to go on"
            ));
        }
        return Err(e);
    }
    let State::Done(end) = run.state else {
        return Err(CliError::Internal("the flow ended without an end".into()));
    };
    finish(effects, end).await
}
