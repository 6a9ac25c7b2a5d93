//! The result of `rollout bluegreen`: one object (sides, selectors before and after,
//! endpoints, timings, the exact command to swap back) printed with `-o json|yaml`, and
//! its human form otherwise (lines on stderr, one last line on stdout).

use serde::Serialize;

use crate::engine::bluegreen::checks::Refusal;
use crate::engine::bluegreen::endpoints::EndpointCheck;
use crate::engine::bluegreen::selector::{Labels, format_selector, selector_diff};
use crate::exit::Exit;
use crate::output::{self, Format, Printer};
use crate::text::one_line;

/// How a blue-green command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// The selector was swapped and the endpoints are exactly the new side.
    Swapped,
    /// The Service already selected the target.
    Unchanged,
    /// `--dry-run`: every precondition held; nothing was changed.
    DryRun,
    /// A precondition failed; nothing was changed.
    Refused,
    /// The Service changed between the read and the write; nothing was overwritten.
    Conflict,
    /// The write failed; nothing was changed.
    Failed,
    /// Swapped, but the endpoints did not settle before `--timeout`.
    TimedOut,
    /// `--rollback --scale-up`: the previous side did not become ready; no swap was made.
    ScaleUpFailed,
    /// Ctrl-C or SIGTERM after the write (or before the swap: in the full flow, or in a
    /// `--scale-up`'s `--stable-for` wait, the Service untouched): running the same command
    /// again completes it.
    Interrupted,
    /// The full flow: the new side did not become ready; no swap was made.
    NewSideFailed,
    /// The full flow: a gate failed (or was inconclusive with `--on-inconclusive fail`);
    /// no swap was made.
    VerifyFailed,
    /// The full flow: a gate was inconclusive with `--on-inconclusive pause`; no swap was
    /// made and the new side is left for a human (running the command again verifies again).
    VerifyPaused,
    /// `--status`: a report, nothing changed.
    Status,
}

impl Ending {
    /// The documented exit code.
    pub fn exit(self) -> Exit {
        match self {
            Ending::Swapped | Ending::Unchanged | Ending::DryRun | Ending::Status => Exit::Success,
            Ending::Refused => Exit::Refused,
            Ending::Conflict | Ending::Failed => Exit::Error,
            Ending::TimedOut | Ending::Interrupted => Exit::TimedOut,
            Ending::ScaleUpFailed | Ending::NewSideFailed | Ending::VerifyFailed => Exit::Failed,
            Ending::VerifyPaused => Exit::Paused,
        }
    }
}

/// Seconds spent in each phase of a swap.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// From the start to the checks' verdict.
    pub check_seconds: f64,
    /// From the write to the endpoints being exactly the new side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_seconds: Option<f64>,
    /// `--scale-up`: scaling the previous side back and following it to ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_up_seconds: Option<f64>,
    pub total_seconds: f64,
}

/// The result object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapResult {
    /// `namespace/service`.
    pub target: String,
    /// `bluegreen` or `bluegreen-rollback`.
    pub action: String,
    pub result: Ending,
    /// One line: why it ended this way.
    pub reason: String,
    /// The Deployment selected before (when exactly one was).
    pub from: Option<String>,
    /// The Deployment the swap was to.
    pub to: String,
    pub selector_before: Labels,
    pub selector_after: Labels,
    /// The preconditions that held.
    pub checks: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<EndpointCheck>,
    pub timings: Timings,
    /// What was done besides the swap (a scale-up), and what could not be recorded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The exact next command (to swap back, or to see why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The full flow: the new side, how it was started and checked, the old side's fate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowReport>,
    /// The full flow: how following the new side ended, with its diagnosis on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_side: Option<crate::outcome::Outcome>,
    /// The capacity preflight of the pods about to be started (the full flow's new side,
    /// `--rollback --scale-up`), when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityReport>,
    pub exit_code: i32,
}

/// The capacity preflight's verdict in the result: a check skipped (the user may not list
/// nodes or pods) is said here too, not only in a warning on stderr, so that a script sees
/// that the pods were started unchecked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityReport {
    /// Whether the pods' requests were compared with the nodes' free allocatable.
    pub checked: bool,
    /// When checked: whether they fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fits: Option<bool>,
    /// `--force`: started although they did not fit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// The numbers, or why the check was skipped.
    pub reason: String,
}

/// What a full flow did besides the swap.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowReport {
    /// The side that served before.
    pub active: String,
    /// The new side (the idle one, started with the change).
    pub side: String,
    /// Whether this run created it (else it existed and was updated or picked up).
    pub created: bool,
    /// The change, as `update` describes it.
    pub change: String,
    pub replicas: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The pre-swap gates, with every measurement.
    pub verify: Option<super::gate::GatesReport>,
    pub keep_old: String,
    /// What became of the old side: `scaled to 0`, `kept until T`, `kept`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_side: Option<String>,
    /// From writing the new side to it being ready (at its full size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_seconds: Option<f64>,
    /// The phase an earlier, unfinished run of the flow had reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
}

impl SwapResult {
    pub fn set(&mut self, result: Ending, reason: impl Into<String>) {
        self.result = result;
        self.reason = reason.into();
        self.exit_code = result.exit().code();
    }
}

/// Prints any serializable result in the `-o` format; `false` when no format was asked.
pub fn structured<T: Serialize>(printer: &Printer, value: &T) -> bool {
    match printer.format {
        Some(Format::Json) => match serde_json::to_string_pretty(value) {
            Ok(s) => output::out(&format!("{s}\n")),
            Err(e) => output::err_line(&format!("error: cannot render the result: {e}")),
        },
        Some(Format::Yaml) => match serde_saphyr::to_string(value) {
            Ok(s) => output::out(&s),
            Err(e) => output::err_line(&format!("error: cannot render the result: {e}")),
        },
        None => return false,
    }
    true
}

/// The `--dry-run` plan for stdout: the checks that held and the selector diff.
pub fn plan_text(r: &SwapResult) -> String {
    let mut out = format!(
        "plan: swap service {} to deployment \"{}\"\n",
        r.target, r.to
    );
    for c in &r.checks {
        out.push_str(&format!("  ok: {c}\n"));
    }
    out.push_str("selector:\n");
    for line in selector_diff(&r.selector_before, &r.selector_after) {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// Prints the result: the object with `-o`, else lines on stderr and the last on stdout.
pub fn print(printer: &Printer, r: &SwapResult) {
    if structured(printer, r) {
        return;
    }
    // A swap prints its checks as it passes them; a refusal shows those that held too.
    if r.result == Ending::Refused {
        for c in &r.checks {
            printer.info(&format!("checked: {c}"));
        }
    }
    for refusal in &r.refusals {
        output::err_line(&format!("error: {}", one_line(&refusal.reason)));
        output::err_line(&format!("hint: {}", one_line(&refusal.hint)));
    }
    if matches!(
        r.result,
        Ending::Conflict
            | Ending::Failed
            | Ending::ScaleUpFailed
            | Ending::NewSideFailed
            | Ending::VerifyFailed
    ) {
        output::err_line(&format!("error: {}", one_line(&r.reason)));
    }
    if r.result == Ending::Conflict {
        output::err_line(&format!(
            "hint: see who changed it with `kubectl get service {} -o yaml`, then run this again",
            r.target.rsplit('/').next().unwrap_or_default()
        ));
    }
    if let Some(e) = &r.endpoints {
        let took = r
            .timings
            .switch_seconds
            .map(|s| format!(" (switched {s:.2}s after the write)"))
            .unwrap_or_default();
        printer.info(&format!("endpoints: {}{took}", e.serving.join(", ")));
    }
    for a in &r.actions {
        printer.info(&format!("done: {a}"));
    }
    if let Some(next) = &r.next {
        printer.info(&format!("next: {next}"));
    }
    output::out(&format!("{}\n", last_line(r)));
}

fn last_line(r: &SwapResult) -> String {
    let after = format_selector(&r.selector_after);
    match r.result {
        Ending::Swapped => format!(
            "service {} swapped to deployment \"{}\" ({after}) in {:.1}s",
            r.target, r.to, r.timings.total_seconds
        ),
        Ending::Unchanged => format!(
            "service {} already selects deployment \"{}\" ({after}): nothing to do",
            r.target, r.to
        ),
        Ending::DryRun => format!(
            "dry run: service {} would be swapped to deployment \"{}\" ({after}); nothing was changed",
            r.target, r.to
        ),
        Ending::Refused => format!(
            "service {} was not swapped to deployment \"{}\": {} precondition(s) failed; nothing was changed",
            r.target,
            r.to,
            r.refusals.len().max(1)
        ),
        Ending::NewSideFailed | Ending::VerifyFailed => format!(
            "service {} was not swapped to deployment \"{}\": it got no traffic; the service still selects \"{}\"",
            r.target,
            r.to,
            r.from.as_deref().unwrap_or("?")
        ),
        Ending::Conflict | Ending::Failed | Ending::ScaleUpFailed => format!(
            "service {} was not swapped to deployment \"{}\": nothing was changed",
            r.target, r.to
        ),
        Ending::TimedOut | Ending::Interrupted | Ending::VerifyPaused | Ending::Status => {
            r.reason.clone()
        }
    }
}
