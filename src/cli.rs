//! The command line, as clap definitions. Parsing only: each command turns its arguments
//! into settings and runs in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::engine::ArgValueCompleter;

use crate::engine::policy::{OnFailure, OnInterrupt};
use crate::exit::EXIT_CODES_HELP;

/// clap's text for a command line it refused, in the CLI's `error:` / `hint:` form: clap's
/// `tip:` (or, without one, its pointer to `--help`) becomes the one `hint:` line, and the
/// error's lines are kept with control characters escaped.
pub fn usage_error_text(rendered: &str) -> String {
    let mut body: Vec<String> = Vec::new();
    let mut tip: Option<String> = None;
    let mut more = "run the command with --help for its usage".to_string();
    for line in rendered.lines() {
        let trimmed = line.trim();
        if let Some(t) = trimmed.strip_prefix("tip: ") {
            tip.get_or_insert_with(|| t.to_string());
        } else if let Some(m) = trimmed.strip_prefix("For more information, ") {
            more = format!("for more information, {}", m.trim_end_matches('.'));
        } else if !(trimmed.is_empty() && body.last().is_some_and(|l| l.trim().is_empty())) {
            body.push(crate::text::one_line(line));
        }
    }
    while body.last().is_some_and(|l| l.trim().is_empty()) {
        body.pop();
    }
    let mut text = body.join("\n");
    text.push_str(&format!("\nhint: {}\n", tip.unwrap_or(more)));
    text
}

/// The command line's definition; run as the kubectl plugin it is named `kubectl ship`.
pub fn command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let invoked = std::path::Path::new(&argv0).file_name().unwrap_or_default();
    if invoked == crate::commands::plugin::NAME {
        cmd.bin_name("kubectl ship")
    } else {
        cmd
    }
}

/// Roll out new versions of Kubernetes Deployments without dropping requests.
#[derive(Debug, Parser)]
#[command(name = "rollout", version = crate::commands::version::LONG, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// More diagnostics on stderr: -v rollout's steps, -vv every API request (method, path,
    /// status, latency), -vvv the client library too. RUST_LOG or ROLLOUT_LOG take a filter.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// kubectl's spelling of the level (--v=6), for use as a kubectl plugin: 1-3 as -v, 4-7 as -vv, 8+ as -vvv.
    #[arg(long = "v", global = true, value_name = "LEVEL", hide = true)]
    pub kubectl_verbosity: Option<u8>,
    /// Disable colour (also NO_COLOR).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Also write an event stream of every state change, gate measurement and action: ndjson on stderr (which then carries nothing else but errors), or into --events-file.
    #[arg(long, global = true, value_parser = ["ndjson"], value_name = "FORMAT")]
    pub events: Option<String>,
    /// Write the --events stream into this file instead of stderr.
    #[arg(long, global = true, value_name = "PATH", requires = "events")]
    pub events_file: Option<PathBuf>,
    /// Output format of the final result on stdout: json or yaml (progress goes to stderr).
    #[arg(short = 'o', long = "output", global = true, value_parser = ["json", "yaml"])]
    pub output: Option<String>,
}

/// How to reach the cluster, as kubectl does.
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig cluster to use instead of the context's.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use instead of the context's.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Namespace (default: the context's namespace, then "default").
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
}

/// Which Deployments a command acts on.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// NAME, deploy/NAME, deployment/NAME or deployment.apps/NAME.
    #[arg(
        value_name = "DEPLOYMENT",
        required_unless_present = "selector",
        conflicts_with = "selector",
        add = ArgValueCompleter::new(crate::complete::deployments)
    )]
    pub target: Option<String>,
    /// Act on every Deployment matching this label selector (one line each; worst exit code wins).
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
}

/// How a command follows the rollout it started (update, undo, resume, restart).
#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// Return once the change is accepted, without following the rollout.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up following after this long (0 = no limit), e.g. 5m.
    #[arg(long, default_value = "10m", value_parser = crate::duration::parse)]
    pub timeout: std::time::Duration,
    /// What to do when the rollout fails.
    #[arg(long, value_enum, default_value_t = OnFailure::Rollback)]
    pub on_failure: OnFailure,
    /// What to do on Ctrl-C or SIGTERM besides stopping to follow.
    #[arg(long, value_enum, default_value_t = OnInterrupt::None)]
    pub on_interrupt: OnInterrupt,
    /// Readiness-probe failures of one new pod, beyond the probe's own failureThreshold, that count as a failed rollout.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub probe_failures: u32,
    /// Container restarts of one new pod that count as a failed rollout.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub restarts: u32,
    /// How long a new pod may stay unschedulable before the rollout counts as failed.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse)]
    pub unschedulable_grace: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Change a Deployment (image, env, any template field) and follow the rolling update.
    Update(Box<UpdateArgs>),
    /// Wait for a Deployment's rollout to finish, with kubectl's messages.
    Status(StatusArgs),
    /// Show revisions, or one revision's template, or the diff between two.
    History(HistoryArgs),
    /// Return to the previous revision, or to --to-revision N, and follow it.
    Undo(UndoArgs),
    /// Pause a Deployment's rollout (idempotent).
    Pause(TargetArgs),
    /// Run verification gates (HTTP, command, Prometheus) against a Deployment's new pods, each to its verdict.
    #[command(
        after_help = "Exit codes: 0 every gate passed, 4 a gate failed, 6 a gate was inconclusive with --on-inconclusive pause, 2 bad flags."
    )]
    Verify(VerifyArgs),
    /// Resume a paused Deployment and follow the rollout; approve a step waiting for approval.
    Resume(ResumeArgs),
    /// Roll back a stepped rollout in flight (the run that owns it does the rollback).
    Abort(TargetArgs),
    /// Restart every pod of a Deployment by a rolling update, and follow it.
    Restart(ResumeArgs),
    /// Cut a Service over to another Deployment (blue-green), swap it back, or show its sides.
    Bluegreen(Box<BlueGreenArgs>),
    /// The local lab cluster: a Kubernetes API with controllers and a kubelet on this machine.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Run the `rollout update` a runbook file describes (its keys are update's flags).
    Run(RunArgs),
    /// Print the client version, the commit it was built from, and the server version.
    Version(VersionArgs),
    /// Print the shell completion script: `source <(rollout completion bash)`.
    Completion(CompletionArgs),
    /// Write the manual pages, one per command, into a directory.
    Man(ManArgs),
    /// Install rollout as the kubectl plugin `kubectl ship`.
    Plugin(PluginArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The runbook: a YAML map of update's flags (and `deployment`), e.g. examples/runbooks/model-serving.yaml.
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    /// Print the command line the runbook stands for, and run nothing.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Only the client version; do not contact the cluster.
    #[arg(long)]
    pub client: bool,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// bash, zsh, fish or powershell.
    #[arg(value_parser = ["bash", "zsh", "fish", "powershell"])]
    pub shell: String,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write into (created if missing).
    #[arg(long, default_value = "man", value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct PluginArgs {
    /// Where to put the `kubectl-ship` link [default: beside this binary]; it must be on PATH.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// New image, as [CONTAINER=]IMAGE (repeatable; CONTAINER may be left out with one container).
    #[arg(long = "image", value_name = "[CONTAINER=]IMAGE")]
    pub images: Vec<String>,
    /// Set an env var, [CONTAINER:]KEY=VALUE, or remove one with KEY- (repeatable; without CONTAINER: every container).
    #[arg(long = "env", value_name = "[CONTAINER:]KEY=VALUE")]
    pub env: Vec<String>,
    /// A strategic merge patch of the Deployment (JSON or YAML), inline or @FILE.
    #[arg(long, value_name = "PATCH")]
    pub patch: Option<String>,
    /// Roll out the current content of the ConfigMaps and Secrets the pod template references.
    #[arg(long)]
    pub config: bool,
    /// Roll out in exact steps of new pods, e.g. 1,50%,100%: each step stops once its new pods are ready and available (never more new pods than it allows), then the next begins.
    #[arg(long, value_name = "N|P%,..", conflicts_with_all = ["max_surge", "max_unavailable", "no_wait"])]
    pub steps: Option<String>,
    /// With --steps: how long each step's new pods run (ready and available) before the next step, e.g. 2m.
    #[arg(long = "pause", value_name = "DURATION", requires = "steps", value_parser = crate::duration::parse)]
    pub bake: Option<std::time::Duration>,
    /// With --steps: after each step (and its --pause), wait until `rollout resume DEPLOY` approves it or `rollout abort DEPLOY` rolls back, from any terminal.
    #[arg(long, requires = "steps")]
    pub approve: bool,
    /// With --steps: the gates every step but the last must pass once its new pods are ready and available.
    #[command(flatten)]
    pub gates: crate::gates::GateArgs,
    /// Override maxSurge (int or percent), written into the Deployment.
    #[arg(long, value_name = "N|P%")]
    pub max_surge: Option<String>,
    /// Override maxUnavailable (int or percent), written into the Deployment.
    #[arg(long, value_name = "N|P%")]
    pub max_unavailable: Option<String>,
    /// The change cause recorded in history (default: a description of the change).
    #[arg(long, value_name = "TEXT")]
    pub cause: Option<String>,
    /// Print the diff of the pod template and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Keep watching until the rollout ends (false: print the current status once).
    #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub watch: bool,
    /// Give up after this long (0 = no limit).
    #[arg(long, default_value = "0", value_parser = crate::duration::parse)]
    pub timeout: std::time::Duration,
    /// Pin to a specific revision; fail if the Deployment moves to another.
    #[arg(long, value_name = "N")]
    pub revision: Option<i64>,
    /// Stop at completion (default) or as soon as the Deployment is paused.
    #[arg(long, value_enum, default_value_t = Until::Complete)]
    pub until: Until,
}

/// What `rollout status` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Until {
    /// The rollout completes.
    Complete,
    /// The Deployment is paused (or completes).
    Paused,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub diff: Option<HistoryCommand>,
    /// NAME, deploy/NAME, deployment/NAME or deployment.apps/NAME.
    #[arg(value_name = "DEPLOYMENT", add = ArgValueCompleter::new(crate::complete::deployments))]
    pub target: Option<String>,
    /// Print this revision's pod template.
    #[arg(long, value_name = "N")]
    pub revision: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// The pod-template diff between two revisions (exit 0 same, 1 different).
    Diff {
        /// NAME, deploy/NAME, deployment/NAME or deployment.apps/NAME.
        #[arg(value_name = "DEPLOYMENT", add = ArgValueCompleter::new(crate::complete::deployments))]
        target: String,
        /// The older revision.
        a: i64,
        /// The newer revision.
        b: i64,
    },
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The revision to return to (default: the previous one).
    #[arg(long, value_name = "N")]
    pub to_revision: Option<i64>,
    /// Print the diff of the pod template and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Debug, Args)]
pub struct BlueGreenArgs {
    /// NAME, svc/NAME or service/NAME.
    #[arg(value_name = "SERVICE", add = ArgValueCompleter::new(crate::complete::services))]
    pub service: String,
    /// The Deployment to cut the Service over to.
    #[arg(long, value_name = "DEPLOYMENT", add = ArgValueCompleter::new(crate::complete::deployments), required_unless_present_any = ["rollback", "status", "images", "env", "patch"], conflicts_with_all = ["rollback", "status"])]
    pub to: Option<String>,
    /// The full flow: start the idle side with this image, as [CONTAINER=]IMAGE (repeatable), follow it to ready, swap.
    #[arg(long = "image", value_name = "[CONTAINER=]IMAGE", conflicts_with_all = ["to", "rollback", "status"])]
    pub images: Vec<String>,
    /// The full flow: set an env var on the idle side, [CONTAINER:]KEY=VALUE, or remove one with KEY- (repeatable).
    #[arg(long = "env", value_name = "[CONTAINER:]KEY=VALUE", conflicts_with_all = ["to", "rollback", "status"])]
    pub env: Vec<String>,
    /// The full flow: a strategic merge patch of the idle side (JSON or YAML), inline or @FILE.
    #[arg(long, value_name = "PATCH", conflicts_with_all = ["to", "rollback", "status"])]
    pub patch: Option<String>,
    /// The full flow: the name of the side labelled blue (default: the active side's name with its color switched).
    #[arg(long, value_name = "DEPLOYMENT")]
    pub blue: Option<String>,
    /// The full flow: the name of the side labelled green (default: as for --blue).
    #[arg(long, value_name = "DEPLOYMENT")]
    pub green: Option<String>,
    /// The full flow: start the idle side at N replicas, and scale it to the active side's size just before the swap.
    #[arg(long, value_name = "N")]
    pub preview_replicas: Option<i32>,
    /// The full flow: create or update a Service NAME selecting only the idle side, for tests before the swap.
    #[arg(long, value_name = "NAME")]
    pub preview_service: Option<String>,
    /// The full flow: the gates the idle side must pass before the swap (`{pod_ip}` is each of its ready pods; a command also gets ROLLOUT_SERVICE and ROLLOUT_PREVIEW_SERVICE).
    #[command(flatten)]
    pub gates: crate::gates::GateArgs,
    /// The full flow: how long the old side keeps its pods after the swap before it is scaled to 0, or `forever`.
    #[arg(long, value_name = "DUR|forever", default_value = "5m")]
    pub keep_old: String,
    /// The full flow: stay until --keep-old has passed and scale the old side to 0 (else a later run does).
    #[arg(long)]
    pub wait_scale_down: bool,
    /// The full flow: what a new side that fails (or fails --verify) gets: rollback scales it back to 0, pause pauses it where it stands, none leaves it (it never gets traffic). [possible values: rollback, pause, none]
    #[arg(long, value_enum, default_value_t = OnFailure::Rollback, hide_possible_values = true)]
    pub on_failure: OnFailure,
    /// The full flow: readiness-probe failures of one new pod, beyond the probe's own failureThreshold, that fail the new side.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub probe_failures: u32,
    /// The full flow: container restarts of one new pod that fail the new side.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub restarts: u32,
    /// The full flow: how long a new pod may stay unschedulable before the new side counts as failed.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse)]
    pub unschedulable_grace: std::time::Duration,
    /// Swap back to the side recorded at the last swap.
    #[arg(long, conflicts_with = "status")]
    pub rollback: bool,
    /// With --rollback: scale a scaled-down previous side back to its recorded size first.
    #[arg(long, requires = "rollback")]
    pub scale_up: bool,
    /// With --scale-up or the full flow: go on even when the capacity preflight says the pods will not fit.
    #[arg(long)]
    pub force: bool,
    /// Show the active side, each side's image, version and readiness, and the last swap.
    #[arg(long)]
    pub status: bool,
    /// How long every pod of the target must have been Ready.
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse)]
    pub stable_for: std::time::Duration,
    /// Why, recorded on the Service (default: a description of the swap).
    #[arg(long, value_name = "TEXT")]
    pub cause: Option<String>,
    /// Check the preconditions and print the plan and the selector diff; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Give up waiting for the endpoints (or a --scale-up, or a new side of the full flow) after this long (0 = no limit).
    #[arg(long, default_value = "2m", value_parser = crate::duration::parse)]
    pub timeout: std::time::Duration,
    /// Swap only if the Service's resourceVersion is still RV (as read by a script before).
    #[arg(long, value_name = "RV")]
    pub resource_version: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start the lab in the foreground and write a kubeconfig for it (Ctrl-C stops it).
    Up(LabUpArgs),
    /// Run the main job on a throw-away lab: deploy, roll v1 -> v2, ship a bad v3 and watch it roll back.
    Demo,
    /// Send steady HTTP load to a URL on this machine and report what answered.
    Load(LabLoadArgs),
    /// Run the stand-in model server (what the lab's kubelet runs for the model-server image).
    #[command(hide = true)]
    ModelServer,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// NAME, deploy/NAME, deployment/NAME or deployment.apps/NAME.
    #[arg(value_name = "DEPLOYMENT", add = ArgValueCompleter::new(crate::complete::deployments))]
    pub deployment: String,
    #[command(flatten)]
    pub gates: crate::gates::GateArgs,
}

#[derive(Debug, Args)]
pub struct LabUpArgs {
    /// Where to write the kubeconfig [default: ~/.kube/rollout-lab.yaml]
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Port of the API server on 127.0.0.1 [default: a free port]
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Number of nodes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes: u16,
    /// GPUs (`nvidia.com/gpu`) each node offers.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub gpus_per_node: u32,
    /// CPU each node offers (a quantity such as 8 or 4000m).
    #[arg(long, default_value = "8", value_name = "QTY")]
    pub cpu_per_node: String,
    /// Memory each node offers (a quantity such as 32Gi).
    #[arg(long, default_value = "32Gi", value_name = "QTY")]
    pub memory_per_node: String,
    /// Labels for one node, e.g. `lab-node-1=pool=gpu,accel=a100` (repeatable; on top of kubernetes.io/hostname, os, arch and node.kubernetes.io/instance-type).
    #[arg(long, value_name = "NODE=K=V,..")]
    pub node_labels: Vec<String>,
    /// Taints for one node as `kubectl taint` writes them, e.g. `lab-node-1=nvidia.com/gpu=present:NoSchedule` (repeatable; several comma-separated).
    #[arg(long, value_name = "NODE=K[=V]:EFFECT,..")]
    pub node_taints: Vec<String>,
    /// GPUs (`nvidia.com/gpu`) of one node, overriding --gpus-per-node, e.g. `lab-node-3=0` (repeatable).
    #[arg(long, value_name = "NODE=K")]
    pub node_gpus: Vec<String>,
    /// How long the Service proxy lags behind endpoint changes (kube-proxy's propagation delay).
    #[arg(long, default_value = "100ms", value_parser = crate::duration::parse)]
    pub proxy_delay: std::time::Duration,
    /// Fault injection, e.g. `500=0.1,429=0.05,409=0.05,watch-cut=10,expire=0.2,forbid=events` (rates are fractions of requests; watch-cut is seconds; forbid, repeatable, answers 403 to every request for that resource; fail-watch=PLURAL, repeatable, fails that resource's watches).
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
    /// Serve plain HTTP instead of HTTPS, for tests that read the wire (the kubeconfig's bearer token is still required).
    #[arg(long)]
    pub insecure_http: bool,
    /// Run pod processes as root when the lab runs as root (by default they run as their securityContext's runAsUser, else nobody).
    #[arg(long)]
    pub pods_as_root: bool,
    /// Keep a Prometheus file_sd targets file of the running pods (each TCP container port, with namespace, pod, container and pod-label labels) for a file_sd_configs scrape job.
    #[arg(long, value_name = "FILE")]
    pub prometheus_targets: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LabLoadArgs {
    /// The URL to load (loopback only: 127.0.0.0/8 or localhost).
    pub url: String,
    /// Requests started per second.
    #[arg(long, default_value_t = 10.0)]
    pub rps: f64,
    /// How long to send, e.g. 30s or 2m.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse)]
    pub duration: std::time::Duration,
    /// HTTP method (GET or POST).
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request body for POST (JSON), or @FILE.
    #[arg(long)]
    pub body: Option<String>,
    /// Per-request timeout.
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse)]
    pub timeout: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clap_error_ends_with_one_hint_line() {
        let text = usage_error_text(
            "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: rollout update <DEPLOYMENT>\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(
            text,
            "error: unexpected argument '--bogus' found\n\nUsage: rollout update <DEPLOYMENT>\nhint: to pass '--bogus' as a value, use '-- --bogus'\n"
        );
        let text = usage_error_text(
            "error: invalid value 'x' for '--timeout <TIMEOUT>': bad\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(
            text,
            "error: invalid value 'x' for '--timeout <TIMEOUT>': bad\nhint: for more information, try '--help'\n"
        );
    }

    #[test]
    fn every_duration_flag_refuses_a_value_beyond_the_maximum() {
        for args in [
            &[
                "rollout",
                "update",
                "web",
                "--image",
                "m:v2",
                "--timeout",
                "9000h",
            ][..],
            &["rollout", "status", "web", "--timeout", "5124095576030431h"],
            &["rollout", "resume", "web", "--unschedulable-grace", "9000h"],
            &[
                "rollout",
                "lab",
                "load",
                "http://127.0.0.1:1",
                "--duration",
                "9000h",
            ],
        ] {
            let e = Cli::try_parse_from(args).expect_err("refused");
            assert!(e.use_stderr(), "{args:?}");
            assert!(e.to_string().contains("at most 8760h"), "{args:?}: {e}");
        }
    }
}
