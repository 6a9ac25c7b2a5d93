use super::*;
use crate::engine::bluegreen::checks::RefusalKind;
use crate::engine::bluegreen::selector::Labels;

fn plan(before: &str, after: &str) -> Plan {
    let sel = |c: &str| -> Labels {
        [("app", "inference"), ("color", c)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Plan {
        service: "inference".into(),
        target: format!("inference-{after}"),
        selector_before: sel(before),
        selector_after: sel(after),
        previous_side: Some(format!("inference-{before}")),
        previous_replicas: Some(2),
        target_pods: Vec::new(),
        passed: Vec::new(),
        resumed: false,
    }
}

fn endpoints(extra: &[&str]) -> EndpointCheck {
    EndpointCheck {
        serving: vec!["g-1 (10.0.0.3)".into()],
        extra: extra.iter().map(|s| s.to_string()).collect(),
        missing: Vec::new(),
    }
}

fn refusal() -> Refusal {
    Refusal {
        kind: RefusalKind::NotReady,
        reason: "pod g-1 is not Ready".into(),
        hint: "wait".into(),
    }
}

#[test]
fn a_plan_that_passes_its_checks_is_written_next() {
    let p = plan("blue", "green");
    let (s, a) = step(
        State::Checking { dry_run: false },
        Observation::Checked(Ok(p.clone())),
    );
    assert_eq!(s, State::Swapping { plan: p.clone() });
    assert_eq!(a, vec![Action::Write(p)]);
}

#[test]
fn a_failed_precondition_refuses_and_does_nothing() {
    let (s, a) = step(
        State::Checking { dry_run: false },
        Observation::Checked(Err(vec![refusal()])),
    );
    assert_eq!(s, State::Refused(vec![refusal()]));
    assert!(a.is_empty());
}

#[test]
fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let p = plan("blue", "green");
    let (s, a) = step(
        State::Checking { dry_run: true },
        Observation::Checked(Ok(p.clone())),
    );
    assert_eq!(s, State::Done(Done::DryRun { plan: p.clone() }));
    assert_eq!(a, vec![Action::PrintPlan(p)]);
}

#[test]
fn a_service_already_on_the_target_is_left_unchanged() {
    let p = plan("green", "green");
    for dry_run in [false, true] {
        let (s, a) = step(
            State::Checking { dry_run },
            Observation::Checked(Ok(p.clone())),
        );
        assert_eq!(s, State::Done(Done::Unchanged { plan: p.clone() }));
        assert!(a.is_empty());
    }
}

#[test]
fn an_accepted_write_starts_the_endpoint_watch() {
    let p = plan("blue", "green");
    let (s, a) = step(
        State::Swapping { plan: p.clone() },
        Observation::Written(Ok(())),
    );
    assert_eq!(
        s,
        State::WaitingForEndpoints {
            plan: p,
            last: None
        }
    );
    assert_eq!(a, vec![Action::WatchEndpoints]);
}

#[test]
fn a_write_that_lost_a_race_fails_as_a_conflict() {
    let p = plan("blue", "green");
    let conflict = WriteError::Conflict("selector changed".into());
    let (s, a) = step(
        State::Swapping { plan: p.clone() },
        Observation::Written(Err(conflict)),
    );
    assert_eq!(
        s,
        State::Failed(Failure::Conflict("selector changed".into()))
    );
    assert!(a.is_empty());
    let other = WriteError::Other("forbidden".into());
    let (s, _) = step(
        State::Swapping { plan: p },
        Observation::Written(Err(other)),
    );
    assert_eq!(s, State::Failed(Failure::Write("forbidden".into())));
}

#[test]
fn endpoints_still_holding_the_old_side_keep_the_wait_going() {
    let p = plan("blue", "green");
    let e = endpoints(&["10.0.0.1"]);
    let waiting = State::WaitingForEndpoints {
        plan: p.clone(),
        last: None,
    };
    let (s, a) = step(waiting, Observation::Endpoints(e.clone()));
    assert_eq!(
        s,
        State::WaitingForEndpoints {
            plan: p,
            last: Some(e)
        }
    );
    assert!(a.is_empty());
}

#[test]
fn endpoints_exactly_the_target_lead_to_recording_then_done() {
    let p = plan("blue", "green");
    let e = endpoints(&[]);
    let waiting = State::WaitingForEndpoints {
        plan: p.clone(),
        last: None,
    };
    let (s, a) = step(waiting, Observation::Endpoints(e.clone()));
    assert_eq!(a, vec![Action::Record(p.clone(), e.clone())]);
    let (s, a) = step(
        s,
        Observation::Recorded {
            warnings: Vec::new(),
        },
    );
    assert_eq!(
        s,
        State::Done(Done::Swapped {
            plan: p,
            endpoints: e,
            warnings: Vec::new()
        })
    );
    assert!(a.is_empty());
}

#[test]
fn the_deadline_while_waiting_reports_the_last_endpoints_seen() {
    let p = plan("blue", "green");
    let e = endpoints(&["10.0.0.1"]);
    let waiting = State::WaitingForEndpoints {
        plan: p.clone(),
        last: Some(e.clone()),
    };
    let (s, _) = step(waiting, Observation::Deadline);
    assert_eq!(
        s,
        State::Failed(Failure::EndpointsTimedOut {
            plan: Box::new(p),
            last: Some(e)
        })
    );
}

#[test]
fn a_terminal_state_ignores_further_observations() {
    let done = State::Refused(vec![refusal()]);
    let (s, a) = step(done.clone(), Observation::Written(Ok(())));
    assert_eq!(s, done);
    assert!(a.is_empty());
}

#[test]
fn an_observation_of_another_state_changes_nothing() {
    let p = plan("blue", "green");
    let swapping = State::Swapping { plan: p };
    let (s, a) = step(swapping.clone(), Observation::Endpoints(endpoints(&[])));
    assert_eq!(s, swapping);
    assert!(a.is_empty());
}

#[test]
fn an_interrupted_swap_resumes_at_the_endpoint_wait_without_writing_again() {
    let p = Plan {
        resumed: true,
        ..plan("blue", "green")
    };
    let (s, a) = step(
        State::Checking { dry_run: false },
        Observation::Checked(Ok(p.clone())),
    );
    assert_eq!(
        s,
        State::WaitingForEndpoints {
            plan: p.clone(),
            last: None
        }
    );
    assert_eq!(a, vec![Action::WatchEndpoints]);
    let (s, a) = step(
        State::Checking { dry_run: true },
        Observation::Checked(Ok(p.clone())),
    );
    assert_eq!(s, State::Done(Done::DryRun { plan: p.clone() }));
    assert_eq!(a, vec![Action::PrintPlan(p)]);
}

#[test]
fn an_interrupt_while_waiting_leaves_the_swap_to_be_completed_by_a_rerun() {
    let p = plan("blue", "green");
    let e = endpoints(&["10.0.0.1"]);
    let waiting = State::WaitingForEndpoints {
        plan: p.clone(),
        last: Some(e.clone()),
    };
    let (s, a) = step(waiting, Observation::Interrupted);
    assert_eq!(
        s,
        State::Failed(Failure::Interrupted {
            plan: Box::new(p),
            last: Some(e)
        })
    );
    assert!(a.is_empty());
}

#[test]
fn a_swap_on_the_loop_starts_with_its_deadline_and_finishes_once() {
    use std::time::Duration;
    let mut swap = Swap::new(false, Duration::from_secs(30));
    assert_eq!(
        swap.begin(),
        vec![
            Action::Deadline(Some(Duration::from_secs(30))),
            Action::Check
        ]
    );
    let p = plan("blue", "green");
    assert_eq!(
        swap.observe(Observation::Checked(Ok(p.clone()))),
        vec![Action::Write(p.clone())]
    );
    swap.observe(Observation::Written(Ok(())));
    assert_eq!(
        swap.observe(Observation::Endpoints(endpoints(&[]))),
        vec![Action::Record(p, endpoints(&[]))]
    );
    assert_eq!(
        swap.observe(Observation::Recorded {
            warnings: Vec::new()
        }),
        vec![Action::Finish],
        "the last transition asks for the result"
    );
    assert!(swap.swapped());
    assert_eq!(
        swap.observe(Observation::Deadline),
        vec![],
        "ended: nothing more"
    );
    let mut refused = Swap::new(true, Duration::ZERO);
    assert_eq!(
        refused.observe(Observation::Checked(Err(vec![refusal()]))),
        vec![Action::Finish]
    );
    assert!(!refused.swapped());
}

#[test]
fn a_side_just_made_ready_is_waited_on_before_the_checks_and_the_deadline_starts_after() {
    use std::time::Duration;
    let wait = Duration::from_secs(5);
    let mut swap = Swap::new(false, Duration::from_secs(30)).stable_first(wait);
    assert_eq!(
        swap.state,
        State::Stabilizing {
            dry_run: false,
            wait
        }
    );
    assert_eq!(
        swap.begin(),
        vec![Action::Stabilize(wait), Action::WakeIn(wait)],
        "no deadline and no read before the wait is over"
    );
    assert_eq!(
        <Swap as driver::Machine>::timer(&Action::WakeIn(wait)),
        Some(Timer::WakeIn(wait)),
        "the wait is the loop's timer"
    );
    assert_eq!(
        swap.observe(Observation::Woke),
        vec![
            Action::Deadline(Some(Duration::from_secs(30))),
            Action::Check
        ]
    );
    assert_eq!(swap.state, State::Checking { dry_run: false });
    let p = plan("green", "blue");
    assert_eq!(
        swap.observe(Observation::Checked(Ok(p.clone()))),
        vec![Action::Write(p)],
        "then the swap goes on as any other"
    );
}

#[test]
fn an_interrupt_while_the_side_is_waited_on_stops_with_nothing_changed() {
    use std::time::Duration;
    let mut swap = Swap::new(false, Duration::from_secs(30)).stable_first(Duration::from_secs(5));
    swap.begin();
    assert_eq!(
        swap.observe(Observation::Interrupted),
        vec![Action::Finish],
        "no check, no write: only the result"
    );
    assert_eq!(swap.state, State::Failed(Failure::Stopped));
    assert!(!swap.swapped());
    assert_eq!(
        swap.observe(Observation::Woke),
        vec![],
        "a wake-up after the end changes nothing"
    );
}

#[test]
fn a_wake_up_outside_the_wait_changes_nothing() {
    let p = plan("blue", "green");
    for state in [
        State::Checking { dry_run: false },
        State::Swapping { plan: p.clone() },
        State::WaitingForEndpoints {
            plan: p.clone(),
            last: None,
        },
    ] {
        let (s, a) = step(state.clone(), Observation::Woke);
        assert_eq!(s, state);
        assert!(a.is_empty());
    }
}

#[test]
fn a_dry_run_waited_on_first_stays_a_dry_run() {
    use std::time::Duration;
    let wait = Duration::from_secs(1);
    let mut swap = Swap::new(true, Duration::ZERO).stable_first(wait);
    swap.observe(Observation::Woke);
    let p = plan("green", "blue");
    assert_eq!(
        swap.observe(Observation::Checked(Ok(p.clone()))),
        vec![Action::PrintPlan(p), Action::Finish]
    );
}
