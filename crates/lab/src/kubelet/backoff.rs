//! The kubelet's back-off, as client-go's `flowcontrol.Backoff` that both the crash-loop
//! (`kuberuntime_manager.go` `doBackOff`) and image pulls use: 10 s initial, doubling to a
//! 300 s cap, forgotten when the last event is more than twice the cap (10 min) old.
//!
//! Pure: time is passed in, so the schedule is unit-tested without waiting.

use std::time::Duration;

use tokio::time::Instant;

/// Upstream `backOffPeriod` (pkg/kubelet/kubelet.go).
pub const INITIAL: Duration = Duration::from_secs(10);
/// Upstream `MaxContainerBackOff` (pkg/kubelet/kubelet.go).
pub const MAX: Duration = Duration::from_secs(300);

/// One back-off entry (per container, or per image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The current back-off duration.
    pub duration: Duration,
    /// When `next` was last called.
    pub last_update: Instant,
}

/// True when an entry last updated at `last_update` is stale at `event` (upstream
/// `hasExpired`: more than twice the maximum in between).
fn expired(event: Instant, last_update: Instant) -> bool {
    event.saturating_duration_since(last_update) > 2 * MAX
}

/// Upstream `IsInBackOffSince`: with no entry, never; otherwise while less than the current
/// duration has passed since `event` (e.g. the container's finish time).
pub fn in_backoff_since(entry: Option<&Backoff>, event: Instant, now: Instant) -> bool {
    match entry {
        None => false,
        Some(e) if expired(event, e.last_update) => false,
        Some(e) => now.saturating_duration_since(event) < e.duration,
    }
}

/// Upstream `Next`: the first call (or one after expiry) starts at `INITIAL`, every later
/// call doubles up to `MAX`.
pub fn next(entry: Option<&Backoff>, event: Instant) -> Backoff {
    let duration = match entry {
        Some(e) if !expired(event, e.last_update) => (e.duration * 2).min(MAX),
        _ => INITIAL,
    };
    Backoff {
        duration,
        last_update: event,
    }
}

/// The duration as the waiting messages print it (`back-off 10s`, `back-off 5m0s`), like
/// Go's `time.Duration.String` for whole seconds.
pub fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crash_loop_schedule_doubles_from_ten_seconds_to_five_minutes() {
        let t0 = Instant::now();
        let mut entry: Option<Backoff> = None;
        let mut seen = Vec::new();
        for i in 0..8 {
            let e = next(entry.as_ref(), t0 + Duration::from_secs(i));
            seen.push(e.duration.as_secs());
            entry = Some(e);
        }
        assert_eq!(seen, vec![10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn the_first_exit_restarts_at_once_and_the_second_waits() {
        let t0 = Instant::now();
        assert!(!in_backoff_since(None, t0, t0));
        let e = next(None, t0);
        let second_exit = t0 + Duration::from_secs(1);
        assert!(in_backoff_since(Some(&e), second_exit, second_exit));
        assert!(in_backoff_since(
            Some(&e),
            second_exit,
            second_exit + Duration::from_secs(9)
        ));
        assert!(!in_backoff_since(
            Some(&e),
            second_exit,
            second_exit + Duration::from_secs(10)
        ));
    }

    #[test]
    fn the_back_off_resets_after_ten_minutes_without_an_event() {
        let t0 = Instant::now();
        let e = Backoff {
            duration: MAX,
            last_update: t0,
        };
        let later = t0 + Duration::from_secs(601);
        assert!(!in_backoff_since(Some(&e), later, later));
        assert_eq!(next(Some(&e), later).duration, INITIAL);
        let sooner = t0 + Duration::from_secs(599);
        assert_eq!(next(Some(&e), sooner).duration, MAX);
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(160)), "2m40s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }
}
