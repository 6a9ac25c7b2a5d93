//! The event stream (`--events ndjson`): one JSON object per line for every state change,
//! gate measurement and action of a followed rollout, each with its time, for CI systems
//! that parse rather than read. It goes to stderr, or to `--events-file PATH`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// Where events are written. Cheap to clone: every clone writes to the same stream.
#[derive(Clone)]
pub struct Events {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    pub fn new(out: Box<dyn Write + Send>) -> Events {
        Events {
            out: Arc::new(Mutex::new(out)),
        }
    }

    /// Writes `event` (an object) with its kind, `rollout` (namespace/name) and `time` added
    /// where it has none (a gate measurement keeps its own time and target). A stream that
    /// cannot be written (a closed pipe) is ignored: the rollout and its exit code do not
    /// depend on it.
    pub fn emit(&self, rollout: &str, kind: &str, mut event: Value) {
        if let Value::Object(map) = &mut event {
            map.entry("event").or_insert_with(|| Value::from(kind));
            if !rollout.is_empty() {
                map.insert("rollout".into(), Value::from(rollout));
            }
            map.entry("time").or_insert_with(|| Value::from(now()));
        }
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{event}");
            let _ = out.flush();
        }
    }

    /// A line of text as an event of `kind`.
    pub fn line(&self, rollout: &str, kind: &str, message: &str) {
        self.emit(rollout, kind, json!({"message": message}));
    }
}

/// Now, RFC 3339 with milliseconds (UTC).
fn now() -> String {
    let t = jiff::Timestamp::now();
    t.round(jiff::Unit::Millisecond).unwrap_or(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer tests can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_event_is_one_line_with_its_kind_rollout_and_time() {
        let buf = Shared::default();
        let events = Events::new(Box::new(buf.clone()));
        events.line("default/web", "note", "step 1 of 3: holding");
        events.emit(
            "default/web",
            "gate_measurement",
            json!({"event": "gate_measurement", "target": "web-1", "time": "t", "verdict": "pass"}),
        );
        let text = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "note");
        assert_eq!(lines[0]["message"], "step 1 of 3: holding");
        assert_eq!(lines[1]["event"], "gate_measurement");
        assert!(lines[0]["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(
            lines[1]["target"], "web-1",
            "a measurement keeps its own target"
        );
        assert_eq!(lines[1]["time"], "t");
        for l in &lines {
            assert_eq!(l["rollout"], "default/web");
        }
    }
}
