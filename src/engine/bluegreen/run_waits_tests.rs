//! The run's waits, each ended by what the driver loop delivers: the swap's endpoint wait
//! by its deadline or Ctrl-C, `--stable-for` by a wake-up, the old side's window by a
//! wake-up (it is read again) or Ctrl-C.

use std::collections::VecDeque;

use super::tests::{answer, endpoints, opts, plan, started};
use super::*;
use crate::engine::bluegreen::machine::{Done, Failure};
use crate::engine::driver::{Machine as _, Timer};

use Action as A;
use Observation as O;

const TEN_MINUTES: Duration = Duration::from_secs(600);

/// A fresh run with `keep_old` and `--wait-scale-down` as `wait`, driven with good answers
/// until it is in `p`; the actions it asked for on entering it.
fn entered(p: Phase, keep_old: KeepOld, wait: bool) -> (Run, Vec<Action>) {
    let o = Options {
        keep_old,
        wait,
        stable_for: Duration::from_secs(5),
        ..opts(&[], false)
    };
    let (mut run, first) = started(
        o,
        false,
        "web-blue",
        &Default::default(),
        &Default::default(),
    );
    let mut queue: VecDeque<Action> = first.into();
    let mut last = Vec::new();
    while run.state != State::In(p) {
        let a = queue.pop_front().expect("the run reaches the phase");
        last = answer(&a)
            .map(|o| run.step(o, Instant::now()))
            .unwrap_or_default();
        queue.extend(last.clone());
    }
    (run, last)
}

fn swap_state(run: &Run) -> Option<swap::State> {
    run.swap.as_ref().map(|s| s.state.clone())
}

#[test]
fn the_swap_starts_with_its_deadline_as_a_timer_of_the_loop() {
    let (_, actions) = entered(P::Swapping, KeepOld::Forever, false);
    assert_eq!(
        actions,
        vec![
            A::Swap(swap::Action::Deadline(Some(Duration::from_secs(60)))),
            A::Swap(swap::Action::Check),
        ]
    );
    assert_eq!(
        Run::timer(&actions[0]),
        Some(Timer::Deadline(Some(Duration::from_secs(60))))
    );
    assert_eq!(Run::timer(&actions[1]), None, "the checks are the effects'");
}

use Phase as P;

#[test]
fn the_deadline_or_an_interrupt_in_the_endpoint_wait_ends_the_swap_and_the_run() {
    let other = endpoints(&["web-blue-1 (10.0.0.2)"]);
    // (what the loop delivers, the swap's failure)
    let cases = [
        (
            O::Deadline,
            Failure::EndpointsTimedOut {
                plan: Box::new(plan()),
                last: Some(other.clone()),
            },
        ),
        (
            // The selector stays swapped and recorded `switching`: a re-run settles it.
            O::Interrupted,
            Failure::Interrupted {
                plan: Box::new(plan()),
                last: Some(other.clone()),
            },
        ),
    ];
    for (signal, failure) in cases {
        let (mut run, _) = entered(P::Swapping, KeepOld::Forever, false);
        let now = Instant::now();
        let written = run.step(O::Swap(swap::Observation::Checked(Ok(plan()))), now);
        assert_eq!(written, vec![A::Swap(swap::Action::Write(plan()))]);
        let watch = run.step(O::Swap(swap::Observation::Written(Ok(()))), now);
        assert_eq!(watch, vec![A::Swap(swap::Action::WatchEndpoints)]);
        // The old side still serves too: the swap waits.
        let seen = O::Swap(swap::Observation::Endpoints(other.clone()));
        assert_eq!(run.step(seen, now), vec![]);
        assert_eq!(
            run.step(signal.clone(), now),
            vec![
                A::Swap(swap::Action::Finish),
                A::Swap(swap::Action::Deadline(None))
            ],
            "{signal:?}"
        );
        assert_eq!(run.state, State::Done(End::SwapEnded), "{signal:?}");
        assert_eq!(swap_state(&run), Some(swap::State::Failed(failure)));
        assert!(!run.swapped);
    }
}

#[test]
fn the_side_stays_ready_for_stable_for_until_the_loop_wakes_the_run() {
    let (mut run, actions) = entered(P::Stabilizing, KeepOld::Forever, false);
    let [A::Stabilize, A::WakeAt(at)] = actions.as_slice() else {
        panic!("stabilizing asks for a wake-up: {actions:?}");
    };
    assert_eq!(Run::timer(&actions[1]), Some(Timer::WakeAt(*at)));
    assert_eq!(run.step(O::Done, *at), vec![], "only the wake-up ends it");
    assert_eq!(run.step(O::Woke, *at), vec![A::Record(P::Swapping)]);
}

#[test]
fn keep_old_forever_records_the_window_and_ends_swapped_without_waiting() {
    let (mut run, actions) = entered(P::KeepingOld, KeepOld::Forever, true);
    assert_eq!(
        actions,
        vec![
            A::Swap(swap::Action::Finish),
            A::Swap(swap::Action::Deadline(None)),
            A::KeepOld(Keep::AfterSwap),
        ]
    );
    assert!(matches!(
        swap_state(&run),
        Some(swap::State::Done(Done::Swapped { .. }))
    ));
    assert_eq!(run.step(O::Done, Instant::now()), vec![]);
    assert_eq!(run.state, State::Done(End::Swapped));
}

#[test]
fn the_window_is_acted_on_as_the_service_records_it() {
    let blue = || "web-blue".to_string();
    let wait = |left| ScaleDown::Wait { side: blue(), left };
    // (--wait-scale-down, what is recorded, the actions, the window after them)
    let now = Instant::now();
    let cases = [
        (false, ScaleDown::None, vec![], None),
        (
            false,
            ScaleDown::Drop,
            vec![A::DropWindow],
            Some(Window::Acting),
        ),
        (
            false,
            ScaleDown::Now { side: blue() },
            vec![A::ScaleDownOld(blue())],
            Some(Window::Acting),
        ),
        (false, wait(TEN_MINUTES), vec![A::Later(blue())], None),
        (
            true,
            wait(TEN_MINUTES),
            vec![
                A::Waiting {
                    side: blue(),
                    left: TEN_MINUTES,
                },
                A::WakeAt(now + TEN_MINUTES),
            ],
            Some(Window::Waiting { side: blue() }),
        ),
    ];
    for (waits, decided, want, window) in cases {
        let (mut run, entering) = entered(P::KeepingOld, KeepOld::For(TEN_MINUTES), waits);
        assert_eq!(entering.last(), Some(&A::KeepOld(Keep::AfterSwap)));
        assert_eq!(
            run.step(O::Done, now),
            vec![A::ReadWindow],
            "recorded, then read"
        );
        let case = format!("wait {waits}, {decided:?}");
        assert_eq!(run.step(O::Window(decided), now), want, "{case}");
        match window {
            Some(w) => {
                assert_eq!(run.window, Some(w), "{case}");
                assert_eq!(run.state, State::In(P::KeepingOld), "{case}");
            }
            None => assert_eq!(run.state, State::Done(End::Swapped), "{case}"),
        }
    }
}

#[test]
fn a_window_waited_out_is_read_again_on_waking_and_its_side_scaled_down() {
    let (mut run, _) = entered(P::KeepingOld, KeepOld::For(TEN_MINUTES), true);
    let now = Instant::now();
    run.step(O::Done, now);
    let left = Duration::from_secs(30);
    let decided = ScaleDown::Wait {
        side: "web-blue".into(),
        left,
    };
    assert_eq!(
        run.step(O::Window(decided), now).last(),
        Some(&A::WakeAt(now + left))
    );
    assert_eq!(run.step(O::Woke, now + left), vec![A::ReadWindow]);
    let passed = ScaleDown::Now {
        side: "web-blue".into(),
    };
    assert_eq!(
        run.step(O::Window(passed), now + left),
        vec![A::ScaleDownOld("web-blue".into())]
    );
    assert_eq!(run.step(O::Done, now + left), vec![]);
    assert_eq!(run.state, State::Done(End::Swapped));
}

#[test]
fn an_interrupt_in_the_window_leaves_the_service_on_the_new_side_and_the_window_to_a_rerun() {
    let (mut run, entering) = entered(P::KeepingOld, KeepOld::For(TEN_MINUTES), true);
    let now = Instant::now();
    // The window is on the Service before the wait: a re-run (or any later run) acts on it.
    assert_eq!(entering.last(), Some(&A::KeepOld(Keep::AfterSwap)));
    run.step(O::Done, now);
    let decided = ScaleDown::Wait {
        side: "web-blue".into(),
        left: TEN_MINUTES,
    };
    run.step(O::Window(decided), now);
    assert_eq!(
        run.step(O::Interrupted, now),
        vec![A::Later("web-blue".into())],
        "no scale-down, no swap back: only where a later run takes it up"
    );
    assert_eq!(run.state, State::Done(End::Swapped));
    assert!(run.swapped, "the Service stays on the new, ready side");
    // A re-run finds the Service serving the change and only the recorded window left.
    let swap = Record {
        active_side: Some("web-green".into()),
        previous_side: Some("web-blue".into()),
        state: Some("settled".into()),
        ..Default::default()
    };
    let record = FlowRecord {
        phase: Some("keeping-old".into()),
        target: Some("web-green".into()),
        ..FlowRecord::default()
    };
    let (rerun, first) = started(opts(&[], false), true, "web-green", &record, &swap);
    assert_eq!(first, vec![A::ReadWindow]);
    assert_eq!(rerun.state, State::In(P::KeepingOld));
}

#[test]
fn interrupts_and_wake_ups_outside_the_waits_of_the_window_change_nothing() {
    let (mut run, _) = entered(P::KeepingOld, KeepOld::For(TEN_MINUTES), true);
    let now = Instant::now();
    // Recording the window, then reading it: nothing to interrupt yet.
    for o in [O::Interrupted, O::Woke, O::Deadline] {
        assert_eq!(run.step(o.clone(), now), vec![], "{o:?}");
        assert_eq!(run.window, Some(Window::Recording { forever: false }));
    }
}
