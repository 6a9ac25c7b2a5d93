//! Lifecycle events of the model server and their one-line log form.
//!
//! Each [`Event`] displays as the line the pod writes to stdout, which the lab
//! surfaces as `kubectl logs`. [`Trigger`] says what started a shutdown, so
//! the drain line can name the signal.

use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// What asked the server to shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A plain shutdown future (tests, embedding callers).
    Requested,
    /// A Unix signal, by name (`SIGTERM`, `SIGINT`).
    Signal(&'static str),
}

impl From<()> for Trigger {
    fn from((): ()) -> Trigger {
        Trigger::Requested
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Requested => f.write_str("shutdown requested"),
            Trigger::Signal(name) => write!(f, "{name} received"),
        }
    }
}

/// One step in the server's life.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `FAIL_AT_START` is set: exiting at once.
    FailingAtStart { code: i32 },
    /// `ALLOC_MB` worth of memory was allocated and touched.
    Allocated { mib: u64 },
    /// Loading began; `load_time` is `None` when it never completes.
    Loading {
        model: String,
        version: String,
        load_time: Option<Duration>,
    },
    /// The model is loaded and requests are served.
    Loaded { addr: SocketAddr },
    /// Accepting a connection failed (e.g. out of file descriptors).
    AcceptFailed { message: String },
    /// `CRASH_AFTER_SECONDS` elapsed.
    Crashing { after: Duration },
    /// Shutdown began with this many requests in flight.
    Draining { trigger: Trigger, inflight: usize },
    /// All connections are closed.
    ShutdownComplete,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::FailingAtStart { code } => {
                write!(f, "FAIL_AT_START is set; exiting with code {code}")
            }
            Event::Allocated { mib } => write!(f, "allocated {mib} MiB of model memory"),
            Event::Loading {
                model,
                version,
                load_time: Some(t),
            } => write!(
                f,
                "loading model {model:?} version {version} ({:.1}s)",
                t.as_secs_f64()
            ),
            Event::Loading {
                model,
                version,
                load_time: None,
            } => write!(
                f,
                "loading model {model:?} version {version} (NEVER_READY: it will never finish)"
            ),
            Event::Loaded { addr } => write!(f, "model loaded; serving on {addr}"),
            Event::AcceptFailed { message } => {
                write!(f, "accepting a connection failed: {message}")
            }
            Event::Crashing { after } => write!(
                f,
                "CRASH_AFTER_SECONDS elapsed ({:.1}s); exiting with code 1",
                after.as_secs_f64()
            ),
            Event::Draining { trigger, inflight } => {
                let s = if *inflight == 1 { "" } else { "s" };
                write!(f, "{trigger}; draining {inflight} in-flight request{s}")
            }
            Event::ShutdownComplete => f.write_str("shutdown complete"),
        }
    }
}

/// Writes `event` as one line to stdout, ignoring a closed stdout.
pub(crate) fn stdout(event: &Event) {
    let _ = writeln!(std::io::stdout().lock(), "{event}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_events_read_as_log_lines() {
        let lines = [
            Event::Loading {
                model: "x".into(),
                version: "v1".into(),
                load_time: Some(Duration::from_secs(2)),
            },
            Event::Loaded {
                addr: "127.1.0.7:8080".parse().unwrap(),
            },
            Event::Draining {
                trigger: Trigger::Signal("SIGTERM"),
                inflight: 1,
            },
            Event::Draining {
                trigger: Trigger::Requested,
                inflight: 0,
            },
            Event::ShutdownComplete,
        ]
        .map(|e| e.to_string());
        assert_eq!(
            lines,
            [
                "loading model \"x\" version v1 (2.0s)",
                "model loaded; serving on 127.1.0.7:8080",
                "SIGTERM received; draining 1 in-flight request",
                "shutdown requested; draining 0 in-flight requests",
                "shutdown complete",
            ]
        );
    }
}
