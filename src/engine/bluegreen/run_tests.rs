use super::*;
use crate::engine::bluegreen::endpoints::EndpointCheck;
use crate::engine::bluegreen::guard::SWITCHING;
use crate::gates::Check;

/// One command gate with `policy`, or none.
fn gates(with: bool) -> Vec<Gate> {
    let gate = Gate::new(
        Check::Command {
            command: "smoke-test".into(),
        },
        Policy::default(),
    );
    if with { vec![gate] } else { Vec::new() }
}

pub(super) fn t(s: &str) -> jiff::Timestamp {
    s.parse().expect("a timestamp")
}

pub(super) const NOW: &str = "2026-01-01T00:05:00Z";

/// The flags of a run: `--keep-old forever`, no waiting, no `--stable-for`.
pub(super) fn opts(gates: &[Gate], preview: bool) -> Options<'_> {
    Options {
        gates,
        preview,
        keep_old: KeepOld::Forever,
        wait: false,
        stable_for: Duration::ZERO,
        timeout: Duration::from_secs(60),
    }
}

/// A run as the command starts it, and its first actions.
pub(super) fn started(
    o: Options<'_>,
    served: bool,
    active: &str,
    record: &FlowRecord,
    swap: &Record,
) -> (Run, Vec<Action>) {
    let mut run = Run::new(o, served, active, record, swap, t(NOW));
    let actions = run.start(Instant::now());
    (run, actions)
}

/// A fresh run (the Service does not serve the change yet).
fn fresh(gates: bool, preview: bool) -> (Run, Vec<Action>) {
    let gates = self::gates(gates);
    let o = opts(&gates, preview);
    started(
        o,
        false,
        "web-blue",
        &FlowRecord::default(),
        &Record::default(),
    )
}

/// A swap plan from blue to green.
pub(super) fn plan() -> crate::engine::bluegreen::checks::Plan {
    let sel = |c: &str| -> crate::engine::bluegreen::selector::Labels {
        [("app", "web"), ("color", c)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    crate::engine::bluegreen::checks::Plan {
        service: "web".into(),
        target: "web-green".into(),
        selector_before: sel("blue"),
        selector_after: sel("green"),
        previous_side: Some("web-blue".into()),
        previous_replicas: Some(2),
        target_pods: Vec::new(),
        passed: Vec::new(),
        resumed: false,
    }
}

/// Endpoints with `extra` serving besides the target's one ready pod.
pub(super) fn endpoints(extra: &[&str]) -> EndpointCheck {
    EndpointCheck {
        serving: vec!["web-green-1 (10.0.0.3)".into()],
        extra: extra.iter().map(|s| s.to_string()).collect(),
        missing: Vec::new(),
    }
}

/// What the effects answer each of the swap's actions with when it goes well.
fn swap_answer(a: &swap::Action) -> Option<swap::Observation> {
    use swap::{Action as S, Observation as O};
    Some(match a {
        S::Check => O::Checked(Ok(plan())),
        S::Write(_) => O::Written(Ok(())),
        S::WatchEndpoints => O::Endpoints(endpoints(&[])),
        S::Record(..) => O::Recorded {
            warnings: Vec::new(),
        },
        S::WakeIn(_) => O::Woke,
        S::PrintPlan(_) | S::Stabilize(_) | S::Deadline(_) | S::Finish => return None,
    })
}

/// What the effects (and the loop) answer each action with when everything goes well
/// (`None`: nothing at once).
pub(super) fn answer(a: &Action) -> Option<Observation> {
    Some(match a {
        Action::Follow | Action::ScaleUp => Observation::Ready,
        Action::Measure { gate, round, .. } => Observation::Measured {
            gate: *gate,
            round: *round,
            verdict: Verdict::Pass,
        },
        Action::WakeAt(_) | Action::Waiting { .. } | Action::Later(_) => return None,
        // The loop's wake-up that ends `--stable-for`.
        Action::Stabilize => Observation::Woke,
        Action::Swap(s) => return swap_answer(s).map(Observation::Swap),
        Action::ReadWindow => Observation::Window(ScaleDown::None),
        Action::Record(_)
        | Action::WriteSide
        | Action::KeepOld(_)
        | Action::DropWindow
        | Action::ScaleDownOld(_) => Observation::Done,
    })
}

/// Drives `run` with good answers until it ends; the actions in order.
pub(super) fn drive(mut run: Run, actions: Vec<Action>) -> (Run, Vec<Action>) {
    let mut queue: std::collections::VecDeque<Action> = actions.into();
    let mut all = Vec::new();
    while let Some(a) = queue.pop_front() {
        all.push(a.clone());
        if let Some(o) = answer(&a) {
            queue.extend(run.step(o, Instant::now()));
        }
        assert!(all.len() < 80, "the run goes round in circles: {all:?}");
    }
    (run, all)
}

/// The actions as the phases read: the swap's own steps as its checks, no timers.
pub(super) fn shape(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| match a {
            Action::Swap(s) => *s == swap::Action::Check,
            Action::WakeAt(_) => false,
            _ => true,
        })
        .cloned()
        .collect()
}

/// The swap as [`shape`] shows it.
fn swapping() -> Action {
    Action::Swap(swap::Action::Check)
}

fn measure(round: u32) -> Action {
    Action::Measure {
        gate: 0,
        round,
        timeout: Policy::default().timeout,
    }
}

use Action as A;
use Phase as P;

#[test]
fn each_path_writes_its_phase_before_it_and_ends_swapped() {
    let cases: [(bool, bool, Vec<Action>); 4] = [
        (
            false,
            false,
            vec![
                A::Record(P::Starting),
                A::WriteSide,
                A::Record(P::Following),
                A::Follow,
                A::Stabilize,
                A::Record(P::Swapping),
                swapping(),
                A::KeepOld(Keep::AfterSwap),
            ],
        ),
        (
            true,
            false,
            vec![
                A::Record(P::Starting),
                A::WriteSide,
                A::Record(P::Following),
                A::Follow,
                A::Record(P::Verifying),
                measure(1),
                A::Stabilize,
                A::Record(P::Swapping),
                swapping(),
                A::KeepOld(Keep::AfterSwap),
            ],
        ),
        (
            false,
            true,
            vec![
                A::Record(P::Starting),
                A::WriteSide,
                A::Record(P::Following),
                A::Follow,
                A::Record(P::Scaling),
                A::ScaleUp,
                A::Stabilize,
                A::Record(P::Swapping),
                swapping(),
                A::KeepOld(Keep::AfterSwap),
            ],
        ),
        (
            true,
            true,
            vec![
                A::Record(P::Starting),
                A::WriteSide,
                A::Record(P::Following),
                A::Follow,
                A::Record(P::Verifying),
                measure(1),
                A::Record(P::Scaling),
                A::ScaleUp,
                A::Stabilize,
                A::Record(P::Swapping),
                swapping(),
                A::KeepOld(Keep::AfterSwap),
            ],
        ),
    ];
    for (gates, preview, want) in cases {
        let (run, first) = fresh(gates, preview);
        let (run, all) = drive(run, first);
        assert_eq!(shape(&all), want, "gates {gates}, preview {preview}");
        assert_eq!(run.state, State::Done(End::Swapped));
    }
}

#[test]
fn a_scaled_up_preview_is_recorded_as_following_again() {
    assert_eq!(P::Scaling.record(), Some("following"));
    assert_eq!(P::Following.record(), Some("following"));
    assert_eq!(P::Stabilizing.record(), None);
}

/// Drives a fresh run with gates and a preview to phase `p` (its action under way).
fn at(p: Phase) -> Run {
    let (mut run, actions) = fresh(true, true);
    let mut queue: std::collections::VecDeque<Action> = actions.into();
    while run.state != State::In(p) {
        let a = queue.pop_front().expect("the run reaches the phase");
        queue.extend(
            answer(&a)
                .map(|o| run.step(o, Instant::now()))
                .unwrap_or_default(),
        );
    }
    run
}

#[test]
fn an_interrupt_before_the_swap_stops_the_run_in_its_phase_with_the_service_untouched() {
    for p in [
        P::Starting,
        P::Following,
        P::Verifying,
        P::Scaling,
        P::Stabilizing,
    ] {
        let mut run = at(p);
        assert_eq!(
            run.step(Observation::Interrupted, Instant::now()),
            vec![],
            "{p:?}"
        );
        assert_eq!(
            run.state,
            State::Done(End::Stopped {
                phase: p,
                why: "interrupted".into()
            }),
            "{p:?}"
        );
        // While its record is written, too.
        let mut recording = at(p);
        if p.record().is_some() {
            recording.state = State::Recording(p);
            recording.step(Observation::Interrupted, Instant::now());
            assert!(
                matches!(recording.state, State::Done(End::Stopped { phase, .. }) if phase == p)
            );
        }
    }
}

#[test]
fn the_swap_and_the_window_answer_an_interrupt_themselves() {
    for p in [P::Swapping, P::KeepingOld] {
        let mut run = at(p);
        assert_eq!(run.step(Observation::Interrupted, Instant::now()), vec![]);
        assert_eq!(run.state, State::In(p), "{p:?} goes on to its own end");
    }
    let mut run = at(P::Swapping);
    let refused = swap::Observation::Checked(Err(Vec::new()));
    assert_eq!(
        run.step(Observation::Swap(refused), Instant::now()),
        vec![
            A::Swap(swap::Action::Finish),
            A::Swap(swap::Action::Deadline(None))
        ],
        "the swap's end is its result, and its deadline goes"
    );
    assert_eq!(run.state, State::Done(End::SwapEnded));
}

#[test]
fn a_side_that_is_not_ready_fails_or_stops_and_never_reaches_the_swap() {
    type Case = (Phase, Observation, End);
    let not_ready = |stopped| Observation::NotReady {
        why: "probe failed".into(),
        stopped,
    };
    let cases: Vec<Case> = vec![
        (
            P::Following,
            not_ready(false),
            End::SideFailed {
                why: "probe failed".into(),
                gate: false,
            },
        ),
        (
            P::Scaling,
            not_ready(false),
            End::SideFailed {
                why: "probe failed".into(),
                gate: false,
            },
        ),
        (
            P::Following,
            not_ready(true),
            End::Stopped {
                phase: P::Following,
                why: "probe failed".into(),
            },
        ),
        (
            P::Verifying,
            Observation::Measured {
                gate: 0,
                round: 1,
                verdict: Verdict::Fail,
            },
            End::SideFailed {
                why: "gate command smoke-test: fail (1 failed measurement(s), 0 tolerated)".into(),
                gate: true,
            },
        ),
        (
            P::Verifying,
            Observation::Measured {
                gate: 0,
                round: 1,
                verdict: Verdict::Inconclusive,
            },
            End::Paused(
                "gate command smoke-test: inconclusive (1 inconclusive measurement(s), 0 tolerated)"
                    .into(),
            ),
        ),
    ];
    for (p, o, want) in cases {
        let mut run = at(p);
        let actions = run.step(o.clone(), Instant::now());
        assert_eq!(actions, vec![], "{p:?} {o:?}");
        assert_eq!(run.state, State::Done(want), "{p:?} {o:?}");
    }
}

#[test]
fn observations_that_do_not_belong_to_the_state_change_nothing() {
    let mut run = at(P::Following);
    for o in [
        Observation::Swap(swap::Observation::Written(Ok(()))),
        Observation::Window(ScaleDown::None),
        Observation::Woke,
        Observation::Deadline,
        Observation::Done,
    ] {
        assert_eq!(run.step(o, Instant::now()), vec![]);
        assert_eq!(run.state, State::In(P::Following));
    }
    let mut done = at(P::Following);
    done.state = State::Done(End::Swapped);
    assert_eq!(done.step(Observation::Ready, Instant::now()), vec![]);
}

fn swap_record(state: &str) -> Record {
    Record {
        active_side: Some("web-green".into()),
        previous_side: Some("web-blue".into()),
        swapped_at: Some("2026-01-01T00:00:00Z".into()),
        state: Some(state.into()),
        ..Default::default()
    }
}

fn flow_record(phase: &str) -> FlowRecord {
    FlowRecord {
        phase: Some(phase.into()),
        target: Some("web-green".into()),
        keep_old: Some("10m".into()),
        ..FlowRecord::default()
    }
}

#[test]
fn a_rerun_resumes_from_what_the_service_records() {
    let window = Keep::Recorded {
        side: "web-blue".into(),
        keep: KeepOld::For(std::time::Duration::from_secs(600)),
        from: t("2026-01-01T00:00:00Z"),
    };
    // (flow phase, swap state, the Service serves the change) -> first action, end.
    let cases = [
        // Stopped before the swap: start over; every write is idempotent.
        (
            "starting",
            "settled",
            false,
            A::Record(P::Starting),
            End::Swapped,
        ),
        (
            "following",
            "settled",
            false,
            A::Record(P::Starting),
            End::Swapped,
        ),
        (
            "verifying",
            "settled",
            false,
            A::Record(P::Starting),
            End::Swapped,
        ),
        (
            "failed",
            "settled",
            false,
            A::Record(P::Starting),
            End::Swapped,
        ),
        // Stopped after the write, before the endpoints switched: settle, then the window
        // from the recorded swap.
        ("swapping", SWITCHING, true, swapping(), End::Swapped),
        // Stopped after the swap settled, before the window was recorded.
        (
            "swapping",
            "settled",
            true,
            A::KeepOld(window.clone()),
            End::Unchanged,
        ),
        // A finished flow: only the recorded window is left.
        (
            "keeping-old",
            "settled",
            true,
            A::ReadWindow,
            End::Unchanged,
        ),
        ("done", "settled", true, A::ReadWindow, End::Unchanged),
    ];
    for (phase, swap, served, first, end) in cases {
        let (run, actions) = started(
            opts(&[], false),
            served,
            "web-green",
            &flow_record(phase),
            &swap_record(swap),
        );
        assert_eq!(
            shape(&actions),
            vec![first.clone()],
            "{phase} {swap} {served}"
        );
        let (run, all) = drive(run, actions);
        assert_eq!(
            run.state,
            State::Done(end),
            "{phase} {swap} {served}: {all:?}"
        );
    }
}

#[test]
fn a_settled_swap_left_switching_acts_on_the_window_decided_at_the_start() {
    let (mut run, actions) = started(
        opts(&[], false),
        true,
        "web-green",
        &flow_record("swapping"),
        &swap_record(SWITCHING),
    );
    assert_eq!(shape(&actions), vec![swapping()]);
    let mut next = Vec::new();
    for o in [
        swap::Observation::Checked(Ok(plan())),
        swap::Observation::Written(Ok(())),
        swap::Observation::Endpoints(endpoints(&[])),
        swap::Observation::Recorded {
            warnings: Vec::new(),
        },
    ] {
        next = run.step(Observation::Swap(o), Instant::now());
    }
    assert_eq!(
        shape(&next),
        vec![A::KeepOld(Keep::Recorded {
            side: "web-blue".into(),
            keep: KeepOld::For(std::time::Duration::from_secs(600)),
            from: t("2026-01-01T00:00:00Z"),
        })],
        "the recorded --keep-old wins over this run's"
    );
}

#[test]
fn the_gates_are_measured_round_by_round_until_their_policy_decides() {
    let two = Gate::new(
        Check::Command {
            command: "smoke-test".into(),
        },
        Policy {
            count: 2,
            max_failures: 1,
            interval: Duration::from_secs(10),
            ..Policy::default()
        },
    );
    let t0 = Instant::now();
    let gates = [two];
    let mut run = Run::new(
        opts(&gates, false),
        false,
        "web-blue",
        &FlowRecord::default(),
        &Record::default(),
        t(NOW),
    );
    let mut actions = run.start(t0);
    while run.state != State::Recording(P::Verifying) {
        let a = actions.pop().expect("the run reaches the gates");
        actions = answer(&a).map(|o| run.step(o, t0)).unwrap_or_default();
    }
    assert_eq!(run.step(Observation::Done, t0), vec![measure(1)]);
    let measured = |round, verdict| Observation::Measured {
        gate: 0,
        round,
        verdict,
    };
    // A failure is tolerated (max 1); the next round is due an interval after the first.
    assert_eq!(
        run.step(measured(1, Verdict::Fail), t0),
        vec![A::WakeAt(t0 + Duration::from_secs(10))]
    );
    assert_eq!(
        run.step(Observation::Woke, t0 + Duration::from_secs(10)),
        vec![A::Measure {
            gate: 0,
            round: 2,
            timeout: Duration::from_secs(290),
        }]
    );
    let t1 = t0 + Duration::from_secs(10);
    run.step(measured(2, Verdict::Pass), t1);
    assert_eq!(
        run.step(Observation::Woke, t0 + Duration::from_secs(20))
            .len(),
        1
    );
    // The second pass decides: on to the swap.
    let next = run.step(measured(3, Verdict::Pass), t0 + Duration::from_secs(20));
    // The side stays ready for `--stable-for` (none here) before the swap.
    assert_eq!(
        next,
        vec![A::Stabilize, A::WakeAt(t0 + Duration::from_secs(20))]
    );
    assert_eq!(run.gates_why(), "the gates: pass");
    let tally = run.gate_set().map(|s| s.runs()[0].tally());
    assert_eq!(tally.map(|t| (t.passes, t.failures)), Some((2, 1)));
}

#[test]
fn a_run_is_before_the_swap_until_the_swap_machine_runs() {
    let (mut run, _) = fresh(true, false);
    for (state, before) in [
        (State::Recording(Phase::Starting), true),
        (State::In(Phase::Verifying), true),
        (State::In(Phase::Stabilizing), true),
        (State::Recording(Phase::Swapping), true),
        (State::In(Phase::Swapping), false),
        (State::In(Phase::KeepingOld), false),
    ] {
        run.state = state.clone();
        assert_eq!(run.before_swap(), before, "{state:?}");
    }
    run.state = State::In(Phase::Verifying);
    run.served = Some(Keep::AfterSwap);
    assert!(!run.before_swap(), "a served change was swapped before");
}
