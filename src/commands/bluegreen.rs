//! `rollout bluegreen SERVICE --to DEPLOY | --rollback [--scale-up] | --status`: the
//! thin async driver of the swap machine (`engine::bluegreen`). It reads what the
//! preconditions are checked on, then performs each action the machine asks for (the
//! guarded write, the endpoint watch, the record) and feeds back what it saw.

mod io;
mod report;
mod status;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::Patch;
use serde_json::json;

use self::report::{Ending, SwapResult, Timings};
use crate::cli::{BlueGreenArgs, ClusterArgs};
use crate::engine::assess::{Expect, Verdict};
use crate::engine::bluegreen::checks::{self, Plan, Refusal, RefusalKind};
use crate::engine::bluegreen::guard::Record;
use crate::engine::bluegreen::machine::{self, Action, Done, Failure, Observation, State};
use crate::engine::bluegreen::selector::{Labels, format_selector};
use crate::engine::diagnose::Thresholds;
use crate::engine::follow::{Ending as Followed, FollowSpec, follow};
use crate::engine::rollback::params;
use crate::error::CliError;
use crate::exit::Exit;
use crate::output::Printer;
use crate::settings::{self, Cluster};
use crate::target::deployment_name;

/// True for `svc/NAME` and `service/NAME` (how `rollout status` tells a Service).
pub fn is_service(arg: Option<&str>) -> bool {
    arg.and_then(|a| a.split_once('/'))
        .is_some_and(|(kind, _)| matches!(kind, "svc" | "service" | "services"))
}

/// The Service name in `NAME`, `svc/NAME` or `service/NAME`.
pub fn service_name(arg: &str) -> Result<String, CliError> {
    let name = match arg.split_once('/') {
        Some(("svc" | "service" | "services", n)) => n,
        Some((k, _)) => {
            return Err(CliError::usage(
                format!("\"{k}\" is not a Service: blue-green swaps a Service's selector"),
                Some("name it as NAME, svc/NAME or service/NAME".to_string()),
            ));
        }
        None => arg,
    };
    // Same rule as a Deployment name (a DNS-1035 label is stricter; the API says so).
    deployment_name(name)
        .map_err(|_| CliError::usage(format!("\"{name}\" is not a valid Service name"), None))
}

/// `rollout status svc/NAME`.
pub async fn status_of(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    arg: Option<&str>,
) -> Result<Exit, CliError> {
    let name = service_name(arg.unwrap_or_default())?;
    let cluster = settings::connect(cluster_args).await?;
    status::run(&cluster, printer, &name).await
}

/// What a swap is asked to do.
struct Opts {
    action: &'static str,
    stable_for: Duration,
    cause: Option<String>,
    dry_run: bool,
    timeout: Duration,
    resource_version: Option<String>,
}

pub async fn run(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    args: BlueGreenArgs,
) -> Result<Exit, CliError> {
    let started = Instant::now();
    let name = service_name(&args.service)?;
    let to = args.to.as_deref().map(deployment_name).transpose()?;
    let cluster = settings::connect(cluster_args).await?;
    if args.status {
        return status::run(&cluster, printer, &name).await;
    }
    let opts = Opts {
        action: if args.rollback {
            "bluegreen-rollback"
        } else {
            "bluegreen"
        },
        stable_for: args.stable_for,
        cause: args.cause.clone(),
        dry_run: args.dry_run,
        timeout: args.timeout,
        resource_version: args.resource_version.clone(),
    };
    let result = match to {
        Some(to) => swap(&cluster, printer, &name, &to, &opts, started).await?,
        None => rollback(&cluster, printer, &name, &opts, args.scale_up, started).await?,
    };
    report::print(printer, &result);
    Ok(result.result.exit())
}

fn blank(cluster: &Cluster, service: &str, to: &str, action: &str) -> SwapResult {
    SwapResult {
        target: format!("{}/{service}", cluster.namespace),
        action: action.to_string(),
        result: Ending::Refused,
        reason: String::new(),
        from: None,
        to: to.to_string(),
        selector_before: Labels::new(),
        selector_after: Labels::new(),
        checks: Vec::new(),
        refusals: Vec::new(),
        endpoints: None,
        timings: Timings::default(),
        actions: Vec::new(),
        next: None,
        exit_code: Exit::Refused.code(),
    }
}

fn refused(mut r: SwapResult, refusals: Vec<Refusal>) -> SwapResult {
    let reason = refusals
        .first()
        .map(|f| f.reason.clone())
        .unwrap_or_default();
    r.refusals = refusals;
    r.set(Ending::Refused, reason);
    r
}

fn fill(r: &mut SwapResult, plan: &Plan) {
    r.from = plan.previous_side.clone();
    r.selector_before = plan.selector_before.clone();
    r.selector_after = plan.selector_after.clone();
    r.checks = plan.passed.clone();
}

/// The exact command that swaps back.
fn swap_back(cluster: &Cluster, service: &str) -> String {
    format!(
        "rollout bluegreen {service} --rollback -n {}",
        cluster.namespace
    )
}

/// Checks, swaps and waits for the endpoints: the machine and its driver.
async fn swap(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    to: &str,
    o: &Opts,
    started: Instant,
) -> Result<SwapResult, CliError> {
    let deadline = (!o.timeout.is_zero()).then(|| tokio::time::Instant::now() + o.timeout);
    let read = io::Read::of(cluster, service, to).await?;
    let mut r = blank(cluster, service, to, o.action);
    r.selector_before = checks::service_selector(&read.service);
    let rv = o
        .resource_version
        .clone()
        .or_else(|| read.service.metadata.resource_version.clone())
        .unwrap_or_default();
    let cause = o
        .cause
        .clone()
        .unwrap_or_else(|| format!("{} to deployment {to}", o.action));
    let mut state = State::Checking { dry_run: o.dry_run };
    let mut observed = Observation::Checked(checks::check(&read.inputs(o.stable_for)));
    r.timings.check_seconds = started.elapsed().as_secs_f64();
    let mut watch = None;
    let mut written_at = None;
    let mut last_seen = String::new();
    loop {
        let (next, actions) = machine::step(state, observed);
        state = next;
        let mut produced = None;
        for action in actions {
            match action {
                Action::PrintPlan(plan) => {
                    fill(&mut r, &plan);
                    if printer.format.is_none() {
                        printer.data(&report::plan_text(&r));
                    }
                }
                Action::Write(plan) => {
                    for line in &plan.passed {
                        printer.info(&format!("checked: {line}"));
                    }
                    written_at = Some(Instant::now());
                    let written = io::write(cluster, &read.service, &plan, &rv, &cause).await;
                    if written.is_ok() {
                        printer.info(&format!(
                            "service/{service} selector {} -> {}",
                            format_selector(&plan.selector_before),
                            format_selector(&plan.selector_after)
                        ));
                    }
                    produced = Some(Observation::Written(written));
                }
                Action::WatchEndpoints => {
                    watch = Some(io::EndpointWatch::start(cluster, service, &read.target));
                }
                Action::Record(plan, _) => {
                    r.timings.switch_seconds = written_at.map(|t| t.elapsed().as_secs_f64());
                    let warnings = io::record(cluster, &plan, &cause).await;
                    produced = Some(Observation::Recorded { warnings });
                }
            }
        }
        if state.is_terminal() {
            break;
        }
        observed = match (produced, watch.as_mut()) {
            (Some(o), _) => o,
            (None, Some(w)) => tokio::select! {
                check = w.next() => Observation::Endpoints(check?),
                _ = until(deadline) => Observation::Deadline,
            },
            (None, None) => {
                return Err(CliError::Internal(format!(
                    "the swap has nothing to wait for in state {state:?}"
                )));
            }
        };
        if let Observation::Endpoints(check) = &observed
            && !check.is_exact()
        {
            let line = check.describe();
            if line != last_seen {
                printer.info(&format!("waiting for endpoints: {line}"));
                last_seen = line;
            }
        }
    }
    finish(cluster, &mut r, state, service, o.timeout);
    r.timings.total_seconds = started.elapsed().as_secs_f64();
    Ok(r)
}

async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Turns the machine's last state into the result.
fn finish(cluster: &Cluster, r: &mut SwapResult, state: State, service: &str, timeout: Duration) {
    match state {
        State::Done(Done::Swapped {
            plan,
            endpoints,
            warnings,
        }) => {
            fill(r, &plan);
            r.actions
                .extend(warnings.into_iter().map(|w| format!("warning: {w}")));
            r.set(
                Ending::Swapped,
                format!(
                    "service \"{service}\" selects deployment \"{}\"; its endpoints are exactly its {} ready pods",
                    plan.target,
                    endpoints.serving.len()
                ),
            );
            r.endpoints = Some(endpoints);
            r.next = Some(swap_back(cluster, service));
        }
        State::Done(Done::Unchanged { plan }) => {
            fill(r, &plan);
            r.set(
                Ending::Unchanged,
                format!(
                    "service \"{service}\" already selects deployment \"{}\"",
                    plan.target
                ),
            );
        }
        State::Done(Done::DryRun { plan }) => {
            fill(r, &plan);
            r.set(
                Ending::DryRun,
                "every precondition holds; nothing was changed (--dry-run)",
            );
        }
        State::Refused(refusals) => *r = refused(r.clone(), refusals),
        State::Failed(Failure::Conflict(m)) => r.set(Ending::Conflict, m),
        State::Failed(Failure::Write(m)) => r.set(Ending::Failed, m),
        State::Failed(Failure::EndpointsTimedOut { plan, last }) => {
            fill(r, &plan);
            let seen = last
                .as_ref()
                .map_or("none seen yet".to_string(), |l| l.describe());
            r.set(
                Ending::TimedOut,
                format!(
                    "the selector of service \"{service}\" was swapped to {}, but after {} its endpoints are not exactly the ready pods of deployment \"{}\" ({seen})",
                    format_selector(&plan.selector_after),
                    humantime::format_duration(timeout),
                    plan.target
                ),
            );
            r.endpoints = last;
            r.next = Some(format!(
                "kubectl get endpointslices -l kubernetes.io/service-name={service} -n {}",
                cluster.namespace
            ));
        }
        State::Failed(Failure::TimedOut) => r.set(
            Ending::TimedOut,
            format!(
                "timed out after {} before the swap",
                humantime::format_duration(timeout)
            ),
        ),
        other => r.set(
            Ending::Failed,
            format!("the swap stopped in state {other:?}"),
        ),
    }
}

/// `--rollback`: back to the recorded previous side, scaling it up first if asked.
async fn rollback(
    cluster: &Cluster,
    printer: &Printer,
    service: &str,
    o: &Opts,
    scale_up: bool,
    started: Instant,
) -> Result<SwapResult, CliError> {
    let svc = io::get_service(cluster, service).await?;
    let record = Record::of(svc.metadata.annotations.as_ref());
    let deployments = io::list::<Deployment>(cluster, "", "deployments").await?;
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
        .or_else(|| checks::side_of(&deployments, &previous, ""));
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
        // The pods just became Ready: the stability window runs from now at the latest.
        tokio::time::sleep(o.stable_for).await;
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
    let mut result = swap(cluster, printer, service, &side, &opts, started).await?;
    if scaled_down {
        result.timings.scale_up_seconds = r.timings.scale_up_seconds;
        result.actions.insert(
            0,
            format!("scaled deployment \"{side}\" from {replicas} to {} replicas and followed it to ready", wanted.unwrap_or(replicas)),
        );
    }
    Ok(result)
}

/// Scales the side back to `size` (guarded on its replicas as read) and follows it to
/// ready; `Ok(Err(why))` when it did not get there.
async fn scale(
    cluster: &Cluster,
    printer: &Printer,
    d: &Deployment,
    from: i32,
    size: i32,
    timeout: Duration,
) -> Result<Result<(), String>, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let ops = json!([
        {"op": "test", "path": "/spec/replicas", "value": from},
        {"op": "replace", "path": "/spec/replicas", "value": size},
    ]);
    let patch: json_patch::Patch = serde_json::from_value(ops)
        .map_err(|e| CliError::Internal(format!("the scale patch does not encode: {e}")))?;
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let patch = Patch::<()>::Json(patch);
    let pp = params(false);
    let scaled = crate::retry::transient_errors(|| api.patch(&name, &pp, &patch))
        .await
        .map_err(|e| cluster.explain(CliError::api(format!("scaling deployment \"{name}\""), e)))?;
    printer.info(&format!(
        "deployment.apps/{name} scaled from {from} to {size} replicas"
    ));
    let spec = FollowSpec {
        name: name.clone(),
        expect: Expect {
            generation: scaled.metadata.generation.unwrap_or(0),
            revision: None,
            left_over: None,
        },
        thresholds: Thresholds {
            probe_failures: 3,
            restarts: 2,
            unschedulable_grace: Duration::from_secs(10),
        },
        timeout: Some(timeout).filter(|t| !t.is_zero()),
        stop_when_paused: false,
    };
    let mut progress = printer.progress(&format!("{}/{name}", cluster.namespace));
    let ending = follow(cluster, &spec, progress.as_mut(), std::future::pending()).await?;
    progress.finish();
    Ok(match ending {
        Followed::Verdict {
            verdict: Verdict::Complete(_),
            ..
        } => Ok(()),
        Followed::Verdict { verdict, .. } => Err(format!(
            "deployment \"{name}\" scaled back to {size} did not become ready: {}; no swap was made",
            verdict.message()
        )),
        Followed::TimedOut { last, .. } | Followed::Interrupted { last, .. } => Err(format!(
            "deployment \"{name}\" scaled back to {size} was not ready in time: {}; no swap was made",
            last.message()
        )),
    })
}
