//! `rollout update`: change a Deployment and follow the rolling update to its end.
//!
//! Flags are parsed and checked against the Deployment before anything is sent; the change
//! is one JSON patch guarded by a resourceVersion `test` (so a concurrent edit is a clear
//! conflict, never a silent overwrite), carrying the change-cause; `--dry-run` sends it as a
//! server dry run and prints the pod-template diff.

use std::collections::BTreeMap;
use std::time::Instant;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec, Secret};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::follow::{Started, follow_change};
use super::targets;
use crate::cli::{ClusterArgs, UpdateArgs};
use crate::cluster::{self, Cluster, Guarded};
use rollout_semantics::access::annotation;
use rollout_semantics::kubectl::rollout_status;

use crate::engine::change::{self, Built, ChangeRequest};
use crate::engine::patch;
use crate::engine::rollback;
use crate::engine::snapshot::deployment_revision;
use crate::engine::steps::{self, Stepping};
use crate::error::CliError;
use crate::exit::Exit;
use crate::input;
use crate::outcome::{Ended, Outcome};
use crate::output::Printer;

/// The template annotation `--config` stamps with the content hash of referenced config.
pub const CONFIG_HASH: &str = "rollout.dev/config-hash";

const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

fn parse(args: &UpdateArgs) -> Result<ChangeRequest, CliError> {
    let mut req = ChangeRequest::default();
    for i in &args.images {
        req.images.push(change::parse_image(i).map_err(|m| {
            CliError::usage(
                m,
                Some("use --image [CONTAINER=]IMAGE, e.g. --image server=model:v2".to_string()),
            )
        })?);
    }
    for e in &args.env {
        req.env.push(change::parse_env(e).map_err(|m| {
            CliError::usage(
                m,
                Some("use --env KEY=VALUE, --env CONTAINER:KEY=VALUE or --env KEY-".to_string()),
            )
        })?);
    }
    if let Some(p) = &args.patch {
        let text = match p.strip_prefix('@') {
            Some(file) => input::read_flag_text(
                "--patch",
                file,
                input::PATCH_LIMIT,
                &format!(
                    "--patch @FILE names a readable JSON or YAML file of at most {}",
                    input::size(input::PATCH_LIMIT)
                ),
            )?,
            None => p.clone(),
        };
        req.patch = Some(patch::parse(&text)?);
    }
    let percent_hint = || Some("e.g. 1, 0 or 25%".to_string());
    if let Some(s) = &args.max_surge {
        req.max_surge = Some(
            change::parse_int_or_percent("--max-surge", s, false)
                .map_err(|m| CliError::usage(m, percent_hint()))?,
        );
    }
    if let Some(u) = &args.max_unavailable {
        req.max_unavailable = Some(
            change::parse_int_or_percent("--max-unavailable", u, true)
                .map_err(|m| CliError::usage(m, percent_hint()))?,
        );
    }
    let nothing = req.images.is_empty()
        && req.env.is_empty()
        && req.patch.is_none()
        && req.max_surge.is_none()
        && req.max_unavailable.is_none()
        && !args.config;
    if nothing {
        return Err(CliError::usage(
            "nothing to update",
            Some(
                "give --image, --env, --patch, --config, --max-surge or --max-unavailable"
                    .to_string(),
            ),
        ));
    }
    Ok(req)
}

pub async fn run(
    cluster_args: &ClusterArgs,
    printer: &Printer,
    args: UpdateArgs,
) -> Result<Exit, CliError> {
    let req = parse(&args)?;
    gates(&args)?;
    if args.gates.any() && args.steps.is_none() {
        return Err(CliError::usage(
            "the gates (--verify, --verify-http, --verify-prometheus) run between the steps of a stepped rollout",
            Some("add --steps, e.g. --steps 1,50%".to_string()),
        ));
    }
    if let Some(text) = &args.steps {
        steps::parse(text).map_err(|e| {
            CliError::usage(e.to_string(), Some("e.g. --steps 1,50%,100%".to_string()))
        })?;
    }
    let cluster = cluster::connect(cluster_args).await?;
    let names = targets::resolve(&cluster, &args.target).await?;
    let outcomes = futures::future::join_all(
        names
            .iter()
            .map(|n| update_one(&cluster, printer, &args, &req, n)),
    )
    .await;
    targets::report(printer, outcomes)
}

/// The content hash of every ConfigMap and Secret a pod spec references.
async fn config_hash(cluster: &Cluster, pod: &PodSpec) -> Result<(String, Vec<String>), CliError> {
    let mut cms: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();
    for c in pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
    {
        for e in c.env.iter().flatten() {
            if let Some(r) = e
                .value_from
                .as_ref()
                .and_then(|v| v.config_map_key_ref.as_ref())
            {
                cms.push(r.name.clone());
            }
            if let Some(r) = e
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
            {
                secrets.push(r.name.clone());
            }
        }
        for e in c.env_from.iter().flatten() {
            if let Some(r) = &e.config_map_ref {
                cms.push(r.name.clone());
            }
            if let Some(r) = &e.secret_ref {
                secrets.push(r.name.clone());
            }
        }
    }
    for v in pod.volumes.iter().flatten() {
        if let Some(c) = &v.config_map {
            cms.push(c.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.push(s);
        }
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(c) = &src.config_map {
                cms.push(c.name.clone());
            }
            if let Some(s) = &src.secret {
                secrets.push(s.name.clone());
            }
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    if cms.is_empty() && secrets.is_empty() {
        return Err(CliError::usage(
            "--config: the pod template references no ConfigMap or Secret",
            Some("--config follows the ConfigMaps and Secrets of env, envFrom and volumes; without any, leave it out".to_string()),
        ));
    }
    let mut hasher = Sha256::new();
    let mut named = Vec::new();
    for n in &cms {
        let cm = cluster.get_opt::<ConfigMap>(n).await?;
        let cm = cm.ok_or_else(|| {
            CliError::usage(
                format!("configmap \"{n}\" referenced by the pod template does not exist"),
                Some("create it before rolling out its content".to_string()),
            )
        })?;
        let data: BTreeMap<String, String> = cm.data.unwrap_or_default();
        hasher.update(format!(
            "configmap/{n}\n{}\n",
            serde_json::to_string(&data).unwrap_or_default()
        ));
        named.push(format!("configmap/{n}"));
    }
    for n in &secrets {
        let s = cluster.get_opt::<Secret>(n).await?;
        let s = s.ok_or_else(|| {
            CliError::usage(
                format!("secret \"{n}\" referenced by the pod template does not exist"),
                Some("create it before rolling out its content".to_string()),
            )
        })?;
        let data: BTreeMap<String, Vec<u8>> = s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        hasher.update(format!(
            "secret/{n}\n{}\n",
            serde_json::to_string(&data).unwrap_or_default()
        ));
        named.push(format!("secret/{n}"));
    }
    let digest = hasher.finalize();
    Ok((
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect(),
        named,
    ))
}

/// The pod-template diff between two Deployments, as unified YAML.
pub fn template_diff(before: &Deployment, after: &Deployment) -> String {
    let template = |d: &Deployment| d.spec.clone().unwrap_or_default().template;
    super::history::diff::unified_headed(
        &template(before),
        &template(after),
        Some(("current template", "new template")),
    )
}

async fn update_one(
    cluster: &Cluster,
    printer: &Printer,
    args: &UpdateArgs,
    req: &ChangeRequest,
    name: &str,
) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let target = format!("{}/{name}", cluster.namespace);
    let d = cluster.deployment(name).await?;
    let mut req = req.clone();
    if args.config {
        let pod = d
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.clone())
            .unwrap_or_default();
        let (hash, named) = config_hash(cluster, &pod).await?;
        req.template_annotations
            .push((CONFIG_HASH.into(), hash.clone()));
        printer.info(&format!(
            "{target}: config {} hashes to {hash}",
            named.join(", ")
        ));
    }
    if let (Some(text), Some(progress)) = (&args.steps, steps::in_flight(&d)) {
        return resume_steps(cluster, printer, args, &req, d, progress, text, started).await;
    }
    let stepping = match &args.steps {
        Some(text) => match stepping_for(
            &d,
            text,
            args.bake.unwrap_or_default(),
            args.approve,
            gates(args)?,
        )? {
            Ok(stepping) => Some(stepping),
            Err((reason, next)) => {
                let mut o = Outcome::new(target, "update", Ended::Refused, reason);
                o.next = Some(next);
                o.revision.from = deployment_revision(&d);
                return Ok(o);
            }
        },
        None => None,
    };
    // Built from the Deployment as read, and again from a fresh read after a conflict: the
    // change is applied on top of whatever another client wrote meanwhile, never over it.
    let mut built: Option<Built> = None;
    let action = format!("updating deployment \"{name}\"");
    let written = cluster
        .guarded_patch(d.clone(), args.dry_run, &action, |d| {
            let mut b = change::build(d, &req)?;
            let unchanged = Some(&b.spec) == d.spec.as_ref();
            let description = describe(&b, &req, args.config);
            let cause = args.cause.clone().unwrap_or(description);
            let mut annotations = d.metadata.annotations.clone().unwrap_or_default();
            annotations.insert(CHANGE_CAUSE.into(), cause);
            if let Some(stepping) = &stepping
                && let Some(progress) = stepping.start(&mut b.spec)
            {
                annotations.insert(steps::ANNOTATION.into(), progress);
            }
            patch::annotations_fit("the Deployment's annotations", Some(&annotations))?;
            let ops = vec![
                json!({"op": "replace", "path": "/spec", "value": b.spec}),
                json!({"op": if d.metadata.annotations.is_some() { "replace" } else { "add" }, "path": "/metadata/annotations", "value": annotations}),
            ];
            built = Some(b);
            Ok((!unchanged).then_some(ops))
        })
        .await?;
    let Some(built) = built else {
        return Err(CliError::Internal("the update was never built".into()));
    };
    let description = describe(&built, &req, args.config);
    let sent = match written {
        Guarded::Unchanged(current) if !args.dry_run && !live(&current) => {
            return pick_up(cluster, printer, args, current, started, &description).await;
        }
        Guarded::Unchanged(current) => {
            let mut o = Outcome::new(
                target,
                "update",
                Ended::Unchanged,
                format!("no change: deployment \"{name}\" already has {description}"),
            );
            o.revision.from = deployment_revision(&current);
            o.revision.to = o.revision.from;
            return Ok(o);
        }
        Guarded::Written(sent) => sent,
    };
    if let Some(change) = &built.strategy_change {
        printer.info(&format!("{target}: {change}"));
    }
    if let Some(stepping) = &stepping {
        for step in &stepping.steps {
            printer.info(&format!(
                "{target}: step {} of {}: {} new pod{}{}",
                step.number,
                stepping.steps.len(),
                step.new_pods,
                if step.new_pods == 1 { "" } else { "s" },
                if step.last {
                    " (the deployment's own strategy back)".to_string()
                } else {
                    format!(" (maxSurge {}, maxUnavailable 0)", step.max_surge)
                }
            ));
        }
    }
    if args.dry_run {
        printer.data(&template_diff(&d, &sent));
        let mut o = Outcome::new(
            target,
            "update",
            Ended::Accepted,
            "dry run: nothing was changed",
        );
        o.revision.from = deployment_revision(&d);
        return Ok(o);
    }
    let s = Started {
        started,
        stepping,
        ..Started::new("update", d, sent)
    };
    follow_change(cluster, printer, &args.follow, s).await
}

/// The stepped rollout of `d`, or why it is refused (exit 7, with the command to run
/// next) unless `d` is a settled RollingUpdate Deployment with no stepped rollout in flight.
/// `--steps` that do not fit its replicas are a usage error.
fn stepping_for(
    d: &Deployment,
    text: &str,
    bake: std::time::Duration,
    approve: bool,
    gates: Vec<crate::gates::Gate>,
) -> Result<Result<Stepping, (String, String)>, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    if let Some(p) = steps::in_flight(d) {
        return Ok(Err((
            format!(
                "deployment \"{name}\" has a stepped rollout in flight (step {} of {}, recorded in the {} annotation)",
                p.step,
                p.of,
                steps::ANNOTATION
            ),
            format!("rollout status {name}"),
        )));
    }
    let spec = d.spec.clone().unwrap_or_default();
    if spec
        .strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .is_some_and(|t| t != "RollingUpdate")
    {
        return Ok(Err((
            format!(
                "deployment \"{name}\" does not use the RollingUpdate strategy, which --steps needs"
            ),
            format!(
                "rollout update {name} --patch '{{\"spec\":{{\"strategy\":{{\"type\":\"RollingUpdate\"}}}}}}'"
            ),
        )));
    }
    if !live(d) {
        return Ok(Err((
            format!(
                "deployment \"{name}\" is paused or still rolling out: a stepped rollout starts from a finished one"
            ),
            format!("rollout status {name}"),
        )));
    }
    let replicas = spec.replicas.unwrap_or(1);
    let plan = steps::parse(text)
        .and_then(|specs| steps::plan(&specs, replicas))
        .map_err(|e| {
            CliError::usage(
                e.to_string(),
                Some(format!("deployment \"{name}\" has {replicas} replicas")),
            )
        })?;
    Ok(Ok(Stepping {
        steps: plan,
        restore: steps::Restore::of(&spec),
        bake,
        resume: None,
        approve,
        gates,
        started_by: steps::who(),
        started_at: jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    }))
}
/// Whether the Deployment's template is live: rolled out on fresh status, not paused.
fn live(d: &Deployment) -> bool {
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    !paused && matches!(rollout_status(d, None), Ok((_, true)))
}

/// The Deployment already has the requested template but it is not live yet: an earlier run
/// was killed, lost its connection or was interrupted. Follow that rollout to its verdict
/// with this run's policy (rolling back to the revision before it), resuming first a pause
/// an interrupted run left; never a silent "unchanged" over a half-done rollout.
async fn pick_up(
    cluster: &Cluster,
    printer: &Printer,
    args: &UpdateArgs,
    d: Deployment,
    started: Instant,
    description: &str,
) -> Result<Outcome, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let target = format!("{}/{name}", cluster.namespace);
    let current = deployment_revision(&d);
    let before = revision_before(cluster, &d).await?;
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let after = if paused && annotation(&d.metadata, rollback::PAUSED_BY_INTERRUPT).is_some() {
        printer.info(&format!(
            "{target}: resuming the rollout an interrupted run paused"
        ));
        rollback::resume(cluster, &name, "resuming").await?
    } else {
        d.clone()
    };
    let revision = current.map_or("?".to_string(), |r| r.to_string());
    printer.info(&format!(
        "{target}: already has {description}; picking up its rollout in progress (revision {revision})"
    ));
    let s = Started {
        from_revision: before,
        picked_up: true,
        started,
        ..Started::new("update", d, after)
    };
    let mut o = follow_change(cluster, printer, &args.follow, s).await?;
    o.actions.insert(
        0,
        format!("picked up the rollout of revision {revision} an earlier run started"),
    );
    Ok(o)
}

/// The gates of `--verify*`, as usage errors when they do not parse.
fn gates(args: &UpdateArgs) -> Result<Vec<crate::gates::Gate>, CliError> {
    args.gates.gates().map_err(|e| CliError::usage(e, None))
}

/// The newest revision below the one `d` runs: what a rollout picked up returns to.
async fn revision_before(cluster: &Cluster, d: &Deployment) -> Result<Option<i64>, CliError> {
    let current = deployment_revision(d);
    let rss = cluster.replica_sets_of(d).await?;
    Ok(rollback::revisions(&rss)
        .into_iter()
        .filter(|r| current.is_some_and(|c| *r < c))
        .max())
}

/// The same `update --steps` run again over a stepped rollout an earlier run left (killed,
/// or its connection lost): it picks the rollout up at the step recorded on the Deployment,
/// with the strategy recorded there to restore. A stepped rollout of another change, or
/// with other steps, is refused (exit 7): it is not this command's to finish.
#[allow(clippy::too_many_arguments)]
async fn resume_steps(
    cluster: &Cluster,
    printer: &Printer,
    args: &UpdateArgs,
    req: &ChangeRequest,
    d: Deployment,
    progress: steps::Progress,
    text: &str,
    started: Instant,
) -> Result<Outcome, CliError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let target = format!("{}/{name}", cluster.namespace);
    let refuse = |reason: String| {
        let mut o = Outcome::new(target.clone(), "update", Ended::Refused, reason);
        o.next = Some(format!("rollout status {name}"));
        o.revision.from = deployment_revision(&d);
        o
    };
    let wanted = change::build(&d, req).map_err(CliError::from)?;
    let spec = d.spec.clone().unwrap_or_default();
    if !rollout_semantics::template::equal_ignore_hash(&wanted.spec.template, &spec.template) {
        return Ok(refuse(format!(
            "deployment \"{name}\" has a stepped rollout of another change in flight (step {} of {}, recorded in the {} annotation)",
            progress.step,
            progress.of,
            steps::ANNOTATION
        )));
    }
    let replicas = spec.replicas.unwrap_or(1);
    let plan = steps::parse(text)
        .and_then(|specs| steps::plan(&specs, replicas))
        .map_err(|e| CliError::usage(e.to_string(), None))?;
    let index = progress.step.saturating_sub(1);
    if plan.len() != progress.of || plan.get(index).map(|s| s.new_pods) != Some(progress.new_pods) {
        return Ok(refuse(format!(
            "deployment \"{name}\" has a stepped rollout with other steps in flight (step {} of {}: {} new pods)",
            progress.step, progress.of, progress.new_pods
        )));
    }
    let held = spec.paused.unwrap_or(false);
    printer.info(&format!(
        "{target}: picking up the stepped rollout an earlier run left at step {} of {}",
        progress.step, progress.of
    ));
    let stepping = Stepping {
        steps: plan,
        restore: progress.restore,
        bake: args.bake.unwrap_or_default(),
        resume: Some(steps::Resume {
            index,
            held,
            awaiting_approval: progress.awaiting_approval,
        }),
        approve: args.approve,
        gates: gates(args)?,
        started_by: progress.started_by.clone(),
        started_at: progress.started_at.clone(),
    };
    let s = Started {
        from_revision: revision_before(cluster, &d).await?,
        picked_up: true,
        started,
        stepping: Some(stepping),
        ..Started::new("update", d.clone(), d)
    };
    let mut o = follow_change(cluster, printer, &args.follow, s).await?;
    o.actions.insert(
        0,
        format!(
            "picked up the stepped rollout at step {} of {} an earlier run started",
            progress.step, progress.of
        ),
    );
    Ok(o)
}

/// The change as the change-cause and messages word it: `image server=model:v2, env ...`,
/// and the config hash `--config` stamped.
fn describe(built: &Built, req: &ChangeRequest, config: bool) -> String {
    let hash = req
        .template_annotations
        .iter()
        .find(|(k, _)| k == CONFIG_HASH)
        .map(|(_, h)| h.as_str());
    match (config, hash) {
        (true, Some(hash)) if built.description.is_empty() => format!("config {hash}"),
        (true, Some(hash)) => format!("{}, config {hash}", built.description),
        _ => built.description.clone(),
    }
}
