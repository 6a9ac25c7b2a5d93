//! The human form of a result: on failure, the report (the cause as uv's `error:` line, its
//! evidence indented under it, what was done, `hint:` and the exact `next:` command) for
//! stderr; always one last line for stdout that says how it ended, so `rollout ... | tail -1`
//! and CI summaries read the same. Also the borderless table other commands print.
//!
//! Evidence items are lines; an item with several lines (a log tail) prints its first line
//! as the label and the others indented under it.

use super::style::{Tone, label};
use crate::outcome::{Ended, Outcome};

/// (text for stderr, last line for stdout).
pub fn human(outcome: &Outcome, color: bool) -> (String, String) {
    let mut report = String::new();
    if let Some((lead, tone, text)) = headline(outcome) {
        report.push_str(&format!("{} {text}\n", label(lead, tone, color)));
    }
    if let Some(d) = &outcome.diagnosis {
        for item in &d.evidence {
            let mut lines = item.lines();
            if let Some(first) = lines.next() {
                report.push_str(&format!("  {}\n", first.trim_end()));
            }
            for more in lines {
                report.push_str(&format!("    {}\n", more.trim_end()).replace("    \n", "\n"));
            }
        }
    }
    for action in &outcome.actions {
        report.push_str(&format!("{} {action}\n", label("done:", Tone::Good, color)));
    }
    if let Some(hint) = outcome.diagnosis.as_ref().and_then(|d| d.hint.as_ref()) {
        report.push_str(&format!("{} {hint}\n", label("hint:", Tone::Hint, color)));
    }
    if let Some(next) = &outcome.next {
        report.push_str(&format!("{} {next}\n", label("next:", Tone::Strong, color)));
    }
    (report, last_line(outcome))
}

/// The cause of a failure: the diagnosis when there is one, else the reason.
fn cause(outcome: &Outcome) -> &str {
    outcome
        .diagnosis
        .as_ref()
        .map(|d| d.summary.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(&outcome.reason)
}

fn with_reason(text: String, reason: &str) -> String {
    if reason.is_empty() {
        text
    } else {
        format!("{text}: {reason}")
    }
}

fn headline(o: &Outcome) -> Option<(&'static str, Tone, String)> {
    let target = &o.target;
    let took = duration(o.duration_seconds);
    match o.result {
        Ended::RolledBack | Ended::Failed => Some((
            "error:",
            Tone::Bad,
            with_reason(format!("rollout of deployment {target} failed"), cause(o)),
        )),
        Ended::Paused if o.diagnosis.is_some() => Some((
            "error:",
            Tone::Bad,
            with_reason(format!("rollout of deployment {target} failed"), cause(o)),
        )),
        Ended::TimedOut => Some((
            "error:",
            Tone::Bad,
            with_reason(
                format!(
                    "timed out after {took} waiting for deployment {target}, still progressing"
                ),
                &o.reason,
            ),
        )),
        Ended::Interrupted => Some((
            "warning:",
            Tone::Busy,
            if o.reason.is_empty() {
                format!(
                    "stopped following deployment {target} after {took}; the rollout goes on in the cluster"
                )
            } else {
                format!(
                    "stopped following deployment {target} after {took} ({}); the rollout goes on in the cluster",
                    o.reason
                )
            },
        )),
        Ended::Refused => Some((
            "error:",
            Tone::Bad,
            with_reason(
                format!("refused to {} deployment {target}", o.action),
                cause(o),
            ),
        )),
        Ended::Superseded => Some((
            "error:",
            Tone::Bad,
            format!("{} of deployment {target} was {}", o.action, o.reason),
        )),
        Ended::RolledOut | Ended::Unchanged | Ended::Accepted | Ended::Paused => None,
    }
}

fn last_line(o: &Outcome) -> String {
    let name = o.target.rsplit('/').next().unwrap_or(&o.target);
    let subject = format!("deployment \"{name}\"");
    let took = duration(o.duration_seconds);
    let rev = o.revision.to.or(o.revision.from);
    let facts = match rev {
        Some(r) => format!(" (revision {r}, {took})"),
        None => format!(" ({took})"),
    };
    let rev_only = rev.map(|r| format!(" (revision {r})")).unwrap_or_default();
    if o.action == "pause" {
        // kubectl's own line: `deployment.apps/web paused`.
        return o.reason.clone();
    }
    match o.result {
        Ended::RolledOut => format!("{subject} successfully rolled out{facts}"),
        Ended::Unchanged => with_reason(format!("{subject} unchanged{rev_only}"), &o.reason),
        Ended::Accepted => with_reason(
            format!("{subject} {} accepted{rev_only}", o.action),
            &o.reason,
        ),
        Ended::RolledBack => format!("{subject} rolled back after a failed rollout{facts}"),
        Ended::Failed => format!("{subject} rollout failed and was left in place{facts}"),
        Ended::Paused if o.diagnosis.is_some() => {
            format!("{subject} rollout failed and was paused{facts}")
        }
        Ended::Paused => with_reason(format!("{subject} is paused{rev_only}"), &o.reason),
        Ended::TimedOut => {
            format!("{subject} still progressing, timed out after {took}{rev_only}")
        }
        Ended::Interrupted => {
            format!("{subject} still progressing, stopped following after {took}{rev_only}")
        }
        Ended::Refused => with_reason(format!("{subject} {} refused", o.action), cause(o)),
        Ended::Superseded => format!("{subject} {} superseded by another change{facts}", o.action),
    }
}

/// Seconds in Go's spelling, as the flags take them: `0.4s`, `38s`, `1m12s`, `1h0m5s`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs <= 0.0 {
        return "0s".into();
    }
    if secs < 10.0 {
        let tenths = (secs * 10.0).round() / 10.0;
        return if tenths.fract() == 0.0 {
            format!("{tenths:.0}s")
        } else {
            format!("{tenths:.1}s")
        };
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::diagnose::{Diagnosis, FailureClass};
    use crate::outcome::Revisions;

    fn probe_failure() -> Diagnosis {
        Diagnosis {
            class: FailureClass::ReadinessProbeFailing,
            summary: "readiness probe of container \"server\" in pod \"web-7c7f8d7866-x2x9k\" failed 3 times: cat: /tmp/ready: No such file or directory".into(),
            pod: Some("web-7c7f8d7866-x2x9k".into()),
            container: Some("server".into()),
            evidence: vec![
                "probe: exec [cat /tmp/ready] delay=0s timeout=1s period=1s #success=1 #failure=3".into(),
                "event: Unhealthy: Readiness probe failed: cat: /tmp/ready: No such file or directory (x3)".into(),
                "logs (server, last 3 lines):\nloading model weights\n\nlistening on :8080".into(),
            ],
            hint: Some("fix the readiness probe or the image, then: rollout update web --image server=...".into()),
            wants_logs: true,
            reason: String::new(),
            first_seen: None,
        }
    }

    fn outcome(result: Ended, reason: &str, diagnosis: Option<Diagnosis>) -> Outcome {
        let mut o = Outcome::new("default/web".into(), "update", result, reason);
        o.revision = Revisions {
            from: Some(3),
            to: Some(4),
        };
        o.duration_seconds = 38.2;
        o.diagnosis = diagnosis;
        o
    }

    fn show(o: &Outcome) -> String {
        let (stderr, stdout) = human(o, false);
        format!("--- stderr\n{stderr}--- stdout\n{stdout}\n")
    }

    #[test]
    fn a_successful_rollout_prints_only_the_last_line() {
        let o = outcome(Ended::RolledOut, "rolled out", None);
        let (stderr, stdout) = human(&o, false);
        assert_eq!(stderr, "");
        assert_eq!(
            stdout,
            "deployment \"web\" successfully rolled out (revision 4, 38s)"
        );
    }

    #[test]
    fn a_rolled_back_rollout_reports_cause_evidence_actions_hint_and_next_command() {
        let mut o = outcome(
            Ended::RolledBack,
            "readiness probe failing",
            Some(probe_failure()),
        );
        o.revision.to = Some(5);
        o.actions = vec!["rolled back to revision 2 (rollout.dev/rollback-reason annotated, Warning event RolloutRolledBack recorded)".into()];
        o.next = Some("kubectl describe pod web-7c7f8d7866-x2x9k".into());
        insta::assert_snapshot!(show(&o));
    }

    #[test]
    fn a_failed_rollout_left_in_place_says_so() {
        let mut o = outcome(
            Ended::Failed,
            "image pull failing",
            Some(Diagnosis {
                class: FailureClass::ImagePull,
                summary:
                    "image \"model:v3\" of container \"server\" cannot be pulled: ErrImagePull"
                        .into(),
                pod: Some("web-7c7f8d7866-x2x9k".into()),
                container: Some("server".into()),
                evidence: vec![
                    "event: Failed: Failed to pull image \"model:v3\": not found (x4)".into(),
                ],
                hint: None,
                wants_logs: false,
                reason: String::new(),
                first_seen: None,
            }),
        );
        o.next = Some("rollout undo web".into());
        insta::assert_snapshot!(show(&o));
    }

    #[test]
    fn a_failed_rollout_that_was_paused_names_the_resume_command() {
        let mut o = outcome(
            Ended::Paused,
            "readiness probe failing",
            Some(probe_failure()),
        );
        o.actions = vec!["paused the rollout".into()];
        o.next = Some("rollout resume web".into());
        insta::assert_snapshot!(show(&o));
    }

    #[test]
    fn a_paused_deployment_without_a_failure_is_not_an_error() {
        let mut o = outcome(Ended::Paused, "paused by alice", None);
        o.next = Some("rollout resume web".into());
        insta::assert_snapshot!(show(&o));
    }

    #[test]
    fn a_timeout_while_progressing_is_an_error_with_kubectls_message() {
        let mut o = outcome(
            Ended::TimedOut,
            "Waiting for deployment \"web\" rollout to finish: 1 of 4 updated replicas are available...",
            None,
        );
        o.duration_seconds = 300.0;
        o.next = Some("rollout status web".into());
        insta::assert_snapshot!(show(&o));
    }

    #[test]
    fn an_interrupted_follow_warns_that_the_rollout_goes_on() {
        let mut o = outcome(Ended::Interrupted, "interrupted", None);
        o.duration_seconds = 12.4;
        o.next = Some("rollout status web".into());
        insta::assert_snapshot!(show(&o));
    }

    #[test]
    fn a_refused_change_says_why() {
        let mut o = outcome(
            Ended::Refused,
            "surge needs 2 nvidia.com/gpu, 0 free; use --max-surge 0 --max-unavailable 1",
            None,
        );
        o.duration_seconds = 0.3;
        insta::assert_snapshot!(show(&o));
    }

    #[test]
    fn unchanged_and_accepted_results_are_one_line() {
        let o = outcome(Ended::Unchanged, "template already matches", None);
        assert_eq!(
            human(&o, false),
            (
                String::new(),
                "deployment \"web\" unchanged (revision 4): template already matches".into()
            )
        );
        let o = outcome(Ended::Accepted, "not followed (--no-wait)", None);
        assert_eq!(
            human(&o, false).1,
            "deployment \"web\" update accepted (revision 4): not followed (--no-wait)"
        );
    }

    #[test]
    fn labels_are_coloured_only_when_asked() {
        let mut o = outcome(Ended::Failed, "x", Some(probe_failure()));
        o.next = Some("rollout undo web".into());
        let (plain, _) = human(&o, false);
        assert!(!plain.contains('\x1b'));
        let (painted, last) = human(&o, true);
        assert!(
            painted.starts_with("\x1b[1;31merror:\x1b[0m rollout of deployment"),
            "{painted}"
        );
        assert!(painted.contains("\x1b[1;36mhint:\x1b[0m "), "{painted}");
        assert!(!last.contains('\x1b'));
    }

    #[test]
    fn an_outcome_with_empty_fields_still_reads() {
        let mut o = Outcome::new(String::new(), "", Ended::Failed, "");
        o.duration_seconds = f64::NAN;
        let (stderr, stdout) = human(&o, false);
        assert_eq!(stderr, "error: rollout of deployment  failed\n");
        assert_eq!(
            stdout,
            "deployment \"\" rollout failed and was left in place (0s)"
        );
    }

    #[test]
    fn durations_are_spelled_as_go_does() {
        assert_eq!(duration(0.0), "0s");
        assert_eq!(duration(0.42), "0.4s");
        assert_eq!(duration(3.0), "3s");
        assert_eq!(duration(38.4), "38s");
        assert_eq!(duration(72.0), "1m12s");
        assert_eq!(duration(300.0), "5m0s");
        assert_eq!(duration(3605.0), "1h0m5s");
    }
}
