//! Where a full flow (`rollout bluegreen SERVICE --image ...`) is, as annotations on the
//! Service, and what `--keep-old` leaves to do. Pure: the record as data, the merge patches
//! that write it, and the decision about an old side whose keep-old window has passed.
//!
//! The flow writes its phase before each step, so a run stopped at any point (Ctrl-C, a
//! lost connection, `kill -9`) leaves the Service selecting one fully ready side (it is only
//! ever written by the guarded swap) and a record of what was under way. Running the same
//! command again redoes nothing that is done: an idle side that already has the change is
//! followed, not written; a Service that already serves the change only gets what is left
//! (settling a swap, scheduling or performing the old side's scale-down).
//!
//! | phase         | written                                   | a re-run                                          |
//! |---------------|-------------------------------------------|---------------------------------------------------|
//! | `starting`    | before the idle side is created/updated   | creates/updates it (or finds it done) and goes on |
//! | `following`   | once it is written, while it becomes ready| follows it again                                  |
//! | `verifying`   | before `--verify` runs                    | follows (ready at once), verifies again           |
//! | `swapping`    | before the guarded swap                   | swaps, or settles a swap that landed              |
//! | `keeping-old` | after the swap: the old side keeps its pods until `scale-down-at` | scales it down once that passed |
//! | `done`        | the old side scaled to 0, or kept forever | nothing is left                                   |
//! | `failed`      | the idle side failed (never got traffic)  | tries again                                       |

use std::time::Duration;

use serde_json::{Value, json};

use super::selector::Labels;

pub const PHASE: &str = "rollout.dev/flow-phase";
/// The side the flow is starting (the idle side, the active one after the swap).
pub const TARGET: &str = "rollout.dev/flow-target";
pub const STARTED_AT: &str = "rollout.dev/flow-started-at";
/// The change (`image server=model:v2, ...`) or `--cause`.
pub const CAUSE: &str = "rollout.dev/flow-cause";
/// Why the last flow failed.
pub const FAILURE: &str = "rollout.dev/flow-failure";
/// `--keep-old` as given: a duration or `forever`.
pub const KEEP_OLD: &str = "rollout.dev/keep-old";
/// The old side to scale to 0 once `scale-down-at` has passed.
pub const SCALE_DOWN_SIDE: &str = "rollout.dev/scale-down-side";
/// When (RFC 3339, UTC).
pub const SCALE_DOWN_AT: &str = "rollout.dev/scale-down-at";

/// `--keep-old`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepOld {
    For(Duration),
    Forever,
}

impl KeepOld {
    pub fn parse(s: &str) -> Result<KeepOld, String> {
        if s == "forever" {
            return Ok(KeepOld::Forever);
        }
        crate::duration::parse(s)
            .map(KeepOld::For)
            .map_err(|e| format!("invalid --keep-old \"{s}\": {e} (or `forever`)"))
    }

    pub fn shown(&self) -> String {
        match self {
            KeepOld::Forever => "forever".into(),
            KeepOld::For(d) => humantime::format_duration(*d).to_string(),
        }
    }
}

/// The flow's record on the Service.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowRecord {
    pub phase: Option<String>,
    pub target: Option<String>,
    pub started_at: Option<String>,
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub keep_old: Option<String>,
    pub scale_down_side: Option<String>,
    pub scale_down_at: Option<String>,
}

impl FlowRecord {
    pub fn of(annotations: Option<&Labels>) -> FlowRecord {
        let get = |k: &str| annotations.and_then(|a| a.get(k)).cloned();
        FlowRecord {
            phase: get(PHASE),
            target: get(TARGET),
            started_at: get(STARTED_AT),
            cause: get(CAUSE),
            failure: get(FAILURE),
            keep_old: get(KEEP_OLD),
            scale_down_side: get(SCALE_DOWN_SIDE),
            scale_down_at: get(SCALE_DOWN_AT),
        }
    }

    /// An earlier run stopped before the end of its run (not `done`, `failed`, or
    /// `keeping-old`, which waits for its window, not for a run).
    pub fn unfinished(&self) -> bool {
        self.phase
            .as_deref()
            .is_some_and(|p| !matches!(p, "done" | "failed" | "keeping-old"))
    }
}

/// The merge patch that starts a flow: its phase, target, start, cause and keep-old; an
/// older failure is dropped, and so is a pending scale-down of an earlier flow: the side it
/// kept is the idle side this flow starts the new version on.
pub fn start_patch(target: &str, now: &str, cause: &str, keep_old: &KeepOld) -> Value {
    json!({"metadata": {"annotations": {
        PHASE: "starting",
        TARGET: target,
        STARTED_AT: now,
        CAUSE: cause,
        FAILURE: null,
        KEEP_OLD: keep_old.shown(),
        SCALE_DOWN_SIDE: null,
        SCALE_DOWN_AT: null,
    }}})
}

/// The merge patch of a phase.
pub fn phase_patch(phase: &str) -> Value {
    json!({"metadata": {"annotations": {PHASE: phase}}})
}

/// The merge patch of a failed flow.
pub fn failed_patch(why: &str) -> Value {
    json!({"metadata": {"annotations": {PHASE: "failed", FAILURE: why}}})
}

/// After the swap: the old side is kept until `at` (`None`: forever).
pub fn keeping_patch(side: &str, at: Option<&str>) -> Value {
    match at {
        Some(at) => json!({"metadata": {"annotations": {
            PHASE: "keeping-old", SCALE_DOWN_SIDE: side, SCALE_DOWN_AT: at,
        }}}),
        None => json!({"metadata": {"annotations": {
            PHASE: "done", SCALE_DOWN_SIDE: null, SCALE_DOWN_AT: null,
        }}}),
    }
}

/// The old side is scaled down (or needs no scale-down any more): nothing is left.
pub fn done_patch() -> Value {
    json!({"metadata": {"annotations": {PHASE: "done", SCALE_DOWN_SIDE: null, SCALE_DOWN_AT: null}}})
}

/// What a recorded scale-down asks for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleDown {
    /// Nothing is recorded.
    None,
    /// The side serves again (a swap back inside the window): the record is dropped.
    Drop,
    /// Not yet: the side keeps its pods for this much longer.
    Wait { side: String, left: Duration },
    /// The window has passed: scale the side to 0.
    Now { side: String },
}

/// Decides a recorded scale-down at `now`; `serving(side)` says whether the Service
/// selects that side's pods now.
pub fn scale_down(
    r: &FlowRecord,
    now: jiff::Timestamp,
    serving: impl Fn(&str) -> bool,
) -> ScaleDown {
    let (Some(side), Some(at)) = (&r.scale_down_side, &r.scale_down_at) else {
        return ScaleDown::None;
    };
    if serving(side) {
        return ScaleDown::Drop;
    }
    let Ok(at) = at.parse::<jiff::Timestamp>() else {
        // An unreadable time is no reason to keep pods forever: the window is over.
        return ScaleDown::Now { side: side.clone() };
    };
    match Duration::try_from(at.duration_since(now)) {
        Ok(left) if !left.is_zero() => ScaleDown::Wait {
            side: side.clone(),
            left,
        },
        _ => ScaleDown::Now { side: side.clone() },
    }
}

/// What is left when the Service already serves the change (an earlier run got that far).
#[derive(Debug, Clone, PartialEq)]
pub struct Left {
    /// The swap was written but its endpoints never seen switched: settle it first.
    pub settle_swap: bool,
    /// The old side's window was never recorded (stopped between the swap and that
    /// record): keep `side` for `keep` from `from`. `None`: act on what is recorded.
    pub schedule: Option<(String, KeepOld, jiff::Timestamp)>,
}

/// Decides what is left: `active` is the side the Service selects, `swap` the swap's record,
/// `keep_old` this run's `--keep-old` (the recorded one wins), `now` the fallback start of
/// the window when the swap time is unreadable.
pub fn left(
    active: &str,
    flow: &FlowRecord,
    swap: &super::guard::Record,
    keep_old: KeepOld,
    now: jiff::Timestamp,
) -> Left {
    let settle_swap = swap.state.as_deref() == Some(super::guard::SWITCHING)
        && swap.active_side.as_deref() == Some(active);
    let swapped_here =
        flow.target.as_deref() == Some(active) && flow.phase.as_deref() == Some("swapping");
    let schedule = match (&swap.previous_side, swapped_here) {
        (Some(old), true) => Some((
            old.clone(),
            flow.keep_old
                .as_deref()
                .and_then(|k| KeepOld::parse(k).ok())
                .unwrap_or(keep_old),
            swap.swapped_at
                .as_deref()
                .and_then(|t| t.parse().ok())
                .unwrap_or(now),
        )),
        _ => None,
    };
    Left {
        settle_swap,
        schedule,
    }
}

/// `now + d`, as the annotations write times.
pub fn after(now: jiff::Timestamp, d: Duration) -> String {
    let d = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    now.checked_add(d)
        .unwrap_or(jiff::Timestamp::MAX)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(side: &str, at: &str) -> FlowRecord {
        FlowRecord {
            scale_down_side: Some(side.into()),
            scale_down_at: Some(at.into()),
            ..FlowRecord::default()
        }
    }

    fn t(s: &str) -> jiff::Timestamp {
        s.parse().expect("a timestamp")
    }

    #[test]
    fn keep_old_is_a_duration_or_forever() {
        assert_eq!(KeepOld::parse("forever"), Ok(KeepOld::Forever));
        assert_eq!(
            KeepOld::parse("90s"),
            Ok(KeepOld::For(Duration::from_secs(90)))
        );
        assert!(KeepOld::parse("soon").is_err());
        assert_eq!(KeepOld::For(Duration::from_secs(300)).shown(), "5m");
    }

    #[test]
    fn a_scale_down_waits_for_its_time_then_is_due() {
        let r = record("inference-blue", "2026-01-01T00:10:00Z");
        assert_eq!(
            scale_down(&r, t("2026-01-01T00:09:00Z"), |_| false),
            ScaleDown::Wait {
                side: "inference-blue".into(),
                left: Duration::from_secs(60)
            }
        );
        assert_eq!(
            scale_down(&r, t("2026-01-01T00:10:00Z"), |_| false),
            ScaleDown::Now {
                side: "inference-blue".into()
            }
        );
    }

    #[test]
    fn a_side_that_serves_again_is_never_scaled_down() {
        let r = record("inference-blue", "2026-01-01T00:10:00Z");
        assert_eq!(
            scale_down(&r, t("2026-01-02T00:00:00Z"), |s| s == "inference-blue"),
            ScaleDown::Drop
        );
        assert_eq!(
            scale_down(&FlowRecord::default(), t("2026-01-02T00:00:00Z"), |_| false),
            ScaleDown::None
        );
    }

    #[test]
    fn the_record_reads_back_what_the_patches_wrote() {
        let mut doc = json!({"metadata": {"annotations": {"team": "ml"}}});
        for p in [
            start_patch(
                "inference-green",
                "2026-01-01T00:00:00Z",
                "image server=model:v2",
                &KeepOld::For(Duration::from_secs(60)),
            ),
            phase_patch("swapping"),
            keeping_patch("inference-blue", Some("2026-01-01T00:01:00Z")),
        ] {
            json_patch::merge(&mut doc, &p);
        }
        let a: Labels =
            serde_json::from_value(doc["metadata"]["annotations"].clone()).expect("labels");
        let r = FlowRecord::of(Some(&a));
        assert_eq!(r.phase.as_deref(), Some("keeping-old"));
        assert_eq!(r.target.as_deref(), Some("inference-green"));
        assert_eq!(r.keep_old.as_deref(), Some("1m"));
        assert_eq!(r.scale_down_side.as_deref(), Some("inference-blue"));
        assert!(!r.unfinished(), "a window is not a stopped run");
        json_patch::merge(&mut doc, &phase_patch("following"));
        let a: Labels =
            serde_json::from_value(doc["metadata"]["annotations"].clone()).expect("labels");
        assert!(FlowRecord::of(Some(&a)).unfinished());
        json_patch::merge(&mut doc, &done_patch());
        let a: Labels =
            serde_json::from_value(doc["metadata"]["annotations"].clone()).expect("labels");
        let r = FlowRecord::of(Some(&a));
        assert_eq!(r.scale_down_side, None);
        assert!(!r.unfinished());
        // The next flow reuses the kept side: its scale-down goes with the start.
        json_patch::merge(&mut doc, &keeping_patch("inference-blue", Some("x")));
        json_patch::merge(
            &mut doc,
            &start_patch("inference-blue", "t", "c", &KeepOld::Forever),
        );
        let a: Labels =
            serde_json::from_value(doc["metadata"]["annotations"].clone()).expect("labels");
        assert_eq!(FlowRecord::of(Some(&a)).scale_down_at, None);
        assert_eq!(a.get("team").map(String::as_str), Some("ml"));
    }

    fn swap(state: &str) -> super::super::guard::Record {
        super::super::guard::Record {
            active_side: Some("web-green".into()),
            previous_side: Some("web-blue".into()),
            swapped_at: Some("2026-01-01T00:00:00Z".into()),
            state: Some(state.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_run_stopped_after_the_swap_settles_it_and_records_the_window_from_the_swap() {
        let flow = FlowRecord {
            phase: Some("swapping".into()),
            target: Some("web-green".into()),
            keep_old: Some("10m".into()),
            ..FlowRecord::default()
        };
        let now = t("2026-01-01T00:05:00Z");
        let l = left(
            "web-green",
            &flow,
            &swap("switching"),
            KeepOld::Forever,
            now,
        );
        assert!(l.settle_swap);
        assert_eq!(
            l.schedule,
            Some((
                "web-blue".into(),
                KeepOld::For(Duration::from_secs(600)),
                t("2026-01-01T00:00:00Z")
            ))
        );
    }

    #[test]
    fn a_finished_flow_leaves_only_what_its_record_says() {
        let flow = FlowRecord {
            phase: Some("keeping-old".into()),
            target: Some("web-green".into()),
            ..FlowRecord::default()
        };
        let now = t("2026-01-01T00:05:00Z");
        let l = left("web-green", &flow, &swap("settled"), KeepOld::Forever, now);
        assert_eq!(
            l,
            Left {
                settle_swap: false,
                schedule: None
            }
        );
        // A swap to another side than the one serving is not this flow's to settle.
        let l = left("web-blue", &flow, &swap("switching"), KeepOld::Forever, now);
        assert!(!l.settle_swap);
    }

    #[test]
    fn after_adds_the_window_to_now() {
        assert_eq!(
            after(t("2026-01-01T00:00:00Z"), Duration::from_secs(90)),
            "2026-01-01T00:01:30Z"
        );
    }
}
