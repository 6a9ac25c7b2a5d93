//! The loop with a toy machine: what it carries out, what it delivers as observations
//! (the effects' own, the timers', in their order), the event stream, and its end.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::*;

#[derive(Debug, Clone, PartialEq)]
enum Act {
    Timer(Timer),
    /// Carried out by the effects, answered at once with `Carried(n)`.
    Write(u32),
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
enum Obs {
    Carried(u32),
    Source(&'static str),
    Signal(Signal),
}

/// Asks for a wake-up, a deadline and a write; ends at the deadline (its last action is
/// still carried out).
#[derive(Default)]
struct Toy {
    seen: Vec<Obs>,
    done: bool,
}

impl Machine for Toy {
    type Action = Act;
    type Observation<'a> = Obs;

    fn start(&mut self, _: Now) -> Vec<Act> {
        vec![
            Act::Timer(Timer::WakeIn(Duration::from_millis(200))),
            Act::Timer(Timer::Deadline(Some(Duration::from_millis(400)))),
            Act::Write(1),
        ]
    }

    fn step(&mut self, o: Obs, _: Now) -> Vec<Act> {
        self.seen.push(o.clone());
        match o {
            Obs::Signal(Signal::Deadline) => {
                self.done = true;
                vec![Act::Stop]
            }
            Obs::Carried(1) => vec![Act::Write(2)],
            _ => Vec::new(),
        }
    }

    fn timer(action: &Act) -> Option<Timer> {
        match action {
            Act::Timer(t) => Some(*t),
            _ => None,
        }
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

/// Answers writes at once; its own source yields two observations, then nothing.
struct ToyEffects {
    source: VecDeque<&'static str>,
    carried: Vec<Act>,
}

impl Effects<Toy> for ToyEffects {
    fn event(&mut self, _: &Toy, action: &Act) -> Option<(&'static str, Value)> {
        match action {
            Act::Write(n) => Some(("action", serde_json::json!({"write": n}))),
            _ => None,
        }
    }

    async fn carry(&mut self, _: &Toy, action: Act) -> Result<Option<Obs>, CliError> {
        self.carried.push(action.clone());
        Ok(match action {
            Act::Write(n) => Some(Obs::Carried(n)),
            _ => None,
        })
    }

    async fn next(&mut self) -> Result<Obs, CliError> {
        match self.source.pop_front() {
            Some(s) => Ok(Obs::Source(s)),
            None => std::future::pending().await,
        }
    }

    fn signal(&mut self, signal: Signal) -> Option<Obs> {
        Some(Obs::Signal(signal))
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_loop_carries_the_actions_and_delivers_the_sources_and_timers_in_order() {
    let out = Buffer::default();
    let stream = Stream {
        events: Some(Events::new(Box::new(out.clone()))),
        target: "ns/toy".into(),
    };
    let mut machine = Toy::default();
    let mut effects = ToyEffects {
        source: ["a", "b"].into(),
        carried: Vec::new(),
    };
    let ran = tokio::time::timeout(
        Duration::from_secs(10),
        run(&mut machine, &mut effects, &stream),
    )
    .await;
    assert!(
        matches!(ran, Ok(Ok(()))),
        "the loop ends when the machine is done"
    );
    assert_eq!(
        machine.seen,
        vec![
            Obs::Carried(1),
            Obs::Carried(2),
            Obs::Source("a"),
            Obs::Source("b"),
            Obs::Signal(Signal::Woke),
            Obs::Signal(Signal::Deadline),
        ],
        "what is carried is answered first, the timers when they are due"
    );
    assert_eq!(
        effects.carried,
        vec![Act::Write(1), Act::Write(2), Act::Stop],
        "timers are the loop's, never the effects'"
    );
    let text =
        String::from_utf8(out.0.lock().map(|b| b.clone()).unwrap_or_default()).expect("utf-8");
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(events.len(), 2, "{text}");
    assert_eq!(events[0]["event"], "action");
    assert_eq!(events[0]["rollout"], "ns/toy");
    assert_eq!(events[1]["write"], 2);
}
