//! `rollout bluegreen SERVICE --rollback [--scale-up]`: back to the side the Service's
//! record names, under the same preconditions as any swap. A side scaled below its
//! recorded size is refused, or with `--scale-up` scaled back (guarded on its replicas as
//! read), followed to ready with the rollout engine, and then swapped to by the swap
//! machine, which first waits `--stable-for` as one of its states (Ctrl-C there ends it
//! with the Service untouched).

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;

use super::report::{Ending, SwapResult};
use super::{Opts, blank, io, refused, swap};
use crate::cluster::{Cluster, Guarded};
use crate::engine::assess::Expect;
use crate::engine::bluegreen::checks::{self, Refusal, RefusalKind};
use crate::engine::bluegreen::guard::Record;
use crate::engine::bluegreen::matching::side_of;
use crate::engine::bluegreen::selector::format_selector;
use crate::engine::diagnose::Thresholds;
use crate::engine::driver::drive;
use crate::engine::machine::{Machine, Mode, Plan};
use crate::engine::policy::{OnFailure, OnInterrupt, Policy};
use crate::engine::snapshot::deployment_revision;
use crate::error::CliError;
use crate::outcome::Ended;
use crate::output::Printer;

/// `--rollback`: back to the recorded previous side, scaling it up first if asked.
pub(super) async fn rollback(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    o: &Opts,
    scale_up: bool,
    force: bool,
    started: Instant,
) -> Result<SwapResult, CliError> {
    let svc = io::get_service(cluster, service).await?;
    let record = Record::of(svc.metadata.annotations.as_ref());
    let deployments = io::list::<Deployment>(cluster, "").await?;
    let r = blank(cluster, service, "", o.action);
    let no_record = |why: String| {
        refused(
            r.clone(),
            vec![Refusal::new(
                RefusalKind::NoRecord,
                why,
                format!("swap with `rollout bluegreen {service} --to DEPLOYMENT` instead"),
            )],
        )
    };
    let Some(previous) = record.previous_selector.clone() else {
        return Ok(no_record(format!(
            "service \"{service}\" has no recorded previous selector: it was not swapped by rollout"
        )));
    };
    let name_of = |d: &Deployment| d.metadata.name.clone().unwrap_or_default();
    let side = record
        .previous_side
        .clone()
        .filter(|s| deployments.iter().any(|d| &name_of(d) == s))
        .or_else(|| side_of(&deployments, &previous, ""));
    let Some(side) = side else {
        return Ok(no_record(format!(
            "no single deployment's pods match the previous selector {} of service \"{service}\"",
            format_selector(&previous)
        )));
    };
    let Some(d) = deployments.iter().find(|d| name_of(d) == side) else {
        return Ok(no_record(format!("deployment \"{side}\" is gone")));
    };
    let mut r = blank(cluster, service, &side, o.action);
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let wanted = record.previous_replicas.filter(|w| *w > replicas);
    let scaled_down = replicas == 0 || wanted.is_some();
    if scaled_down {
        let Some(size) = wanted else {
            return Ok(refused(
                r,
                vec![Refusal::new(
                    RefusalKind::ScaledDown,
                    format!(
                        "deployment \"{side}\" is scaled to 0 and no earlier size was recorded"
                    ),
                    format!(
                        "scale it with `kubectl scale deployment {side} --replicas=N`, wait until it is ready, then run this again"
                    ),
                )],
            ));
        };
        if !scale_up {
            return Ok(refused(
                r,
                vec![Refusal::new(
                    RefusalKind::ScaledDown,
                    format!(
                        "deployment \"{side}\" was scaled down to {replicas} (it had {size} at the swap): swapping back would send all traffic to fewer pods"
                    ),
                    format!(
                        "add --scale-up to scale it back to {size}, wait until it is ready and swap: `rollout bluegreen {service} --rollback --scale-up`"
                    ),
                )],
            ));
        }
        let verdict = io::capacity(cluster, d, size - replicas, None).await?;
        r.capacity = Some(verdict.report(force));
        match verdict {
            io::Capacity::Fits(line) => r.checks.push(line),
            io::Capacity::Skipped(why) => {
                printer.warn(&format!("capacity check skipped: {why}"));
            }
            io::Capacity::Short(short) if !force => {
                return Ok(refused(
                    r,
                    vec![Refusal::new(
                        RefusalKind::NoCapacity,
                        format!(
                            "deployment \"{side}\" cannot be scaled back to {size}: {}",
                            short.describe()
                        ),
                        format!(
                            "free capacity first, or change the active side in place with a rolling update that needs no room (`rollout update {} ... --max-surge 0 --max-unavailable 1`), or add --force to scale anyway (pods that do not fit stay Pending)",
                            record.active_side.as_deref().unwrap_or("ACTIVE")
                        ),
                    )],
                ));
            }
            io::Capacity::Short(short) => {
                printer.warn(&format!(
                    "capacity: {} (--force: scaling anyway)",
                    short.describe()
                ));
            }
        }
        for line in &r.checks {
            printer.info(&format!("checked: {line}"));
        }
        if o.dry_run {
            r.actions.push(format!(
                "would scale deployment \"{side}\" from {replicas} to {size} replicas, follow it to ready and wait --stable-for, then swap"
            ));
            r.selector_before = checks::service_selector(&svc);
            r.selector_after = previous;
            r.set(Ending::DryRun, "nothing was changed (--dry-run)");
            return Ok(r);
        }
        let t = Instant::now();
        if let Err(why) = scale(cluster, printer, d, replicas, size, o.timeout).await? {
            r.set(Ending::ScaleUpFailed, why);
            r.next = Some(format!(
                "kubectl describe deployment {side} -n {}",
                cluster.namespace
            ));
            return Ok(r);
        }
        r.timings.scale_up_seconds = Some(t.elapsed().as_secs_f64());
    }
    let cause = o
        .cause
        .clone()
        .unwrap_or_else(|| format!("swap back to deployment {side}"));
    let opts = Opts {
        cause: Some(cause),
        resource_version: o.resource_version.clone(),
        ..*o
    };
    // Pods scaled back just became Ready: the swap waits `--stable-for` from now (at the
    // latest) before its checks, which would refuse them sooner.
    let mut result = swap(
        cluster,
        printer,
        service,
        &side,
        &opts,
        started,
        scaled_down,
    )
    .await?;
    if scaled_down {
        if result.result == Ending::Interrupted && result.selector_before.is_empty() {
            // Stopped before the checks read the Service: as it was, and where it would go.
            result.selector_before = checks::service_selector(&svc);
            result.selector_after = previous;
        }
        result.timings.scale_up_seconds = r.timings.scale_up_seconds;
        result.capacity = r.capacity;
        result.actions.insert(
            0,
            format!("scaled deployment \"{side}\" from {replicas} to {} replicas and followed it to ready", wanted.unwrap_or(replicas)),
        );
    }
    Ok(result)
}

/// Scales the side back to `size` (guarded on its replicas as read) and follows it to
/// ready; `Ok(Err(why))` when it did not get there.
pub(super) async fn scale(
    cluster: &Cluster,
    printer: &Printer,
    d: &Deployment,
    from: i32,
    size: i32,
    timeout: Duration,
) -> Result<Result<(), String>, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let action = format!("scaling deployment \"{name}\"");
    // Guarded on its replicas as read, not its resourceVersion: a status write in between
    // is no reason to refuse, a resize by someone else is.
    let scaled = cluster
        .guarded_patch(d.clone(), false, &action, |now| {
            let replicas = now.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            if replicas != from {
                return Err(CliError::Conflict {
                    action: action.clone(),
                    message: format!(
                        "deployment \"{name}\" was resized to {replicas} replicas meanwhile; nothing was changed"
                    ),
                });
            }
            Ok(Some(vec![json!({"op": "replace", "path": "/spec/replicas", "value": size})]))
        })
        .await?;
    let scaled = match scaled {
        Guarded::Written(d) | Guarded::Unchanged(d) => d,
    };
    printer.info(&format!(
        "deployment.apps/{name} scaled from {from} to {size} replicas"
    ));
    let plan = Plan {
        action: "scale".into(),
        name: name.clone(),
        namespace: cluster.namespace.clone(),
        from_revision: deployment_revision(&scaled),
        expect: Expect {
            generation: scaled.metadata.generation.unwrap_or(0),
            revision: None,
            left_over: None,
        },
        template: None,
        thresholds: Thresholds::default(),
        timeout: Some(timeout).filter(|t| !t.is_zero()),
        // Following only: a side that does not become ready gets no traffic, and is left
        // as it is for inspection.
        policy: Policy {
            on_failure: OnFailure::None,
            on_interrupt: OnInterrupt::None,
        },
        mode: Mode::Status {
            until_paused: false,
        },
        started: Instant::now(),
        stepping: None,
    };
    let mut progress = printer.progress(&format!("{}/{name}", cluster.namespace));
    let outcome = drive(
        cluster,
        printer,
        progress.as_mut(),
        scaled,
        Machine::new(plan),
    )
    .await?;
    Ok(match outcome.result {
        Ended::RolledOut => Ok(()),
        Ended::TimedOut | Ended::Interrupted => Err(format!(
            "deployment \"{name}\" scaled back to {size} was not ready in time: {}; no swap was made",
            outcome.reason
        )),
        _ => Err(format!(
            "deployment \"{name}\" scaled back to {size} did not become ready: {}; no swap was made",
            outcome.reason
        )),
    })
}
