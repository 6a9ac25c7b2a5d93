//! `rollout bluegreen SERVICE --to DEPLOY | --rollback [--scale-up] | --status`: the
//! thin async driver of the swap machine (`engine::bluegreen`). It reads what the
//! preconditions are checked on, then performs each action the machine asks for (the
//! guarded write, the endpoint watch, the record) and feeds back what it saw. The full
//! flow (`--image`, `--env`, `--patch`: start the idle side, follow, verify, swap, keep the
//! old side) is `flow`, ending in the same swap; the old side's window is `keep_old`.

mod flow;
mod gate;
mod io;
mod keep_old;
mod report;
mod rollback;
mod status;
mod watch;

use std::time::{Duration, Instant};

use self::report::{Ending, SwapResult, Timings};
use crate::cli::{BlueGreenArgs, ClusterArgs};
use crate::cluster::{self, Cluster};
use crate::engine::bluegreen::checks::{self, Plan, Refusal};
use crate::engine::bluegreen::flow::KeepOld;
use crate::engine::bluegreen::idle::Overrides;
use crate::engine::bluegreen::machine::{self, Action, Done, Failure, Observation, State};
use crate::engine::bluegreen::selector::{Labels, format_selector};
use crate::error::CliError;
use crate::exit::Exit;
use crate::output::Printer;
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
    let cluster = cluster::connect(cluster_args).await?;
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
    // The full flow's input is checked before anything is sent, as `update` checks it.
    let req =
        crate::commands::update::parse_change(&args.images, &args.env, args.patch.as_deref())?;
    let keep_old = KeepOld::parse(&args.keep_old)
        .map_err(|m| CliError::usage(m, Some("e.g. --keep-old 10m, 0 or forever".to_string())))?;
    for n in [&args.blue, &args.green, &args.preview_service]
        .into_iter()
        .flatten()
    {
        deployment_name(n)?;
    }
    let full_flow = !(args.images.is_empty() && args.env.is_empty() && args.patch.is_none());
    // The gates of `update --steps`, checked before anything is sent.
    let gates = args.gates.gates().map_err(|e| {
        CliError::usage(
            e,
            Some("see `rollout bluegreen --help` for the gate flags".into()),
        )
    })?;
    if !gates.is_empty() && !full_flow {
        return Err(CliError::usage(
            "the gates (--verify, --verify-http, --verify-prometheus) run in the full flow, before its swap",
            Some(
                "give the change (--image, --env or --patch), or run `rollout verify DEPLOYMENT` before `--to`"
                    .into(),
            ),
        ));
    }
    if args.preview_replicas.is_some_and(|n| n < 1) {
        return Err(CliError::usage(
            "--preview-replicas must be at least 1",
            Some("leave it out to start the new side at full size".to_string()),
        ));
    }
    let cluster = cluster::connect(cluster_args).await?;
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
        None if full_flow => {
            let f = flow::Flow {
                req,
                overrides: Overrides {
                    blue: args.blue.clone(),
                    green: args.green.clone(),
                },
                preview_replicas: args.preview_replicas,
                preview_service: args.preview_service.clone(),
                gates,
                keep_old,
                wait_scale_down: args.wait_scale_down,
                on_failure: args.on_failure,
                force: args.force,
                thresholds: crate::engine::diagnose::Thresholds {
                    probe_failures: args.probe_failures,
                    restarts: args.restarts,
                    unschedulable_grace: args.unschedulable_grace,
                },
            };
            flow::run(&cluster, printer, &name, &opts, &f, started).await?
        }
        Some(to) => {
            if !opts.dry_run {
                // An earlier flow's old side whose --keep-old window has passed.
                for line in keep_old::settle(&cluster, printer, &name, false).await? {
                    printer.info(&line);
                }
            }
            swap(&cluster, printer, &name, &to, &opts, started).await?
        }
        None => {
            rollback::rollback(
                &cluster,
                printer,
                &name,
                &opts,
                args.scale_up,
                args.force,
                started,
            )
            .await?
        }
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
        flow: None,
        new_side: None,
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
        .unwrap_or_else(|| format!("swap to deployment {to}"));
    let mut state = State::Checking { dry_run: o.dry_run };
    let mut observed = Observation::Checked(checks::check(&read.inputs(o.stable_for)));
    r.timings.check_seconds = started.elapsed().as_secs_f64();
    if let Observation::Checked(Ok(plan)) = &observed
        && plan.resumed
    {
        printer.info(&format!(
            "resuming an unsettled swap: service/{service} already selects {} (from {})",
            format_selector(&plan.selector_after),
            format_selector(&plan.selector_before)
        ));
    }
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
                    watch = Some(watch::EndpointWatch::start(cluster, service, &read.target));
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
                check = w.next() => {
                    for note in w.notes() {
                        printer.warn(&note);
                    }
                    Observation::Endpoints(check?)
                }
                _ = until(deadline) => Observation::Deadline,
                _ = crate::engine::driver::interrupted() => Observation::Interrupted,
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
        State::Failed(Failure::Interrupted { plan, last }) => {
            fill(r, &plan);
            r.set(
                Ending::Interrupted,
                format!(
                    "interrupted after the selector of service \"{service}\" was swapped to {}, before its endpoints were exactly deployment \"{}\"'s ready pods; the swap is recorded as switching",
                    format_selector(&plan.selector_after),
                    plan.target
                ),
            );
            r.endpoints = last;
            r.next = Some(format!(
                "rollout bluegreen {service} --to {} -n {}",
                plan.target, cluster.namespace
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_named_as_kubectl_names_it() {
        for arg in [
            "inference",
            "svc/inference",
            "service/inference",
            "services/inference",
        ] {
            assert_eq!(
                service_name(arg).ok().as_deref(),
                Some("inference"),
                "{arg}"
            );
        }
        assert!(service_name("deploy/inference").is_err());
        assert!(service_name("svc/Inference").is_err());
    }

    #[test]
    fn only_service_spellings_route_status_to_blue_green() {
        assert!(is_service(Some("svc/inference")));
        assert!(is_service(Some("service/inference")));
        assert!(!is_service(Some("inference")));
        assert!(!is_service(Some("deploy/inference")));
        assert!(!is_service(None));
    }
}
