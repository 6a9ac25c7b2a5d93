//! `rollout bluegreen SERVICE --to DEPLOY | --rollback [--scale-up] | --status`: the
//! flags checked and turned into a run. The swap machine (`engine::bluegreen::machine`)
//! runs on the driver loop with its effects in `swap` (the checks' reads, the guarded
//! write, the endpoint watch, the record). The full flow (`--image`, `--env`, `--patch`:
//! start the idle side, follow, verify, swap, keep the old side) is `flow`, a machine of
//! its own on the same loop with the same swap inside; the old side's window is `keep_old`.

mod flow;
mod gate;
mod io;
mod keep_old;
mod report;
mod rollback;
mod status;
mod swap;
mod watch;

use std::time::{Duration, Instant};

use self::report::{Ending, SwapResult, Timings};
use self::swap::swap;
use crate::cli::{BlueGreenArgs, ClusterArgs};
use crate::cluster::{self, Cluster};
use crate::engine::bluegreen::checks::Refusal;
use crate::engine::bluegreen::flow::KeepOld;
use crate::engine::bluegreen::idle::Overrides;
use crate::engine::bluegreen::selector::Labels;
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
#[derive(Debug, Clone)]
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
                for line in keep_old::settle(&cluster, printer, &name).await? {
                    printer.info(&line);
                }
            }
            swap(&cluster, printer, &name, &to, &opts, started, false).await?
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
        capacity: None,
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
