//! Probes as data: the settings with upstream defaults (`SetDefaults_Probe`), the action,
//! and the per-worker threshold state machine of `pkg/kubelet/prober/worker.go`.
//!
//! | probe | initial result | skipped while | on a committed failure |
//! |---|---|---|---|
//! | readiness | Failure | not started, in initialDelaySeconds | container unready |
//! | liveness | Success | not started, in initialDelaySeconds | container restarted |
//! | startup | Unknown | already started, in initialDelaySeconds | container restarted |
//!
//! A result is committed only after `successThreshold` consecutive successes or
//! `failureThreshold` consecutive failures; a committed liveness/startup failure puts the
//! worker on hold (it is replaced with the new container).

use std::time::Duration;

use serde_json::Value;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Readiness,
    Liveness,
    Startup,
}

impl ProbeKind {
    /// As events name it (`Readiness probe failed: ...`).
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Startup => "Startup",
        }
    }

    fn field(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "readinessProbe",
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Startup => "startupProbe",
        }
    }

    /// The result a worker starts with.
    pub fn initial(self) -> ProbeResult {
        match self {
            ProbeKind::Readiness => ProbeResult::Failure,
            ProbeKind::Liveness => ProbeResult::Success,
            ProbeKind::Startup => ProbeResult::Unknown,
        }
    }
}

/// A probe's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    Failure,
    Unknown,
}

/// What a probe does (also the shape of lifecycle handlers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Exec {
        command: Vec<String>,
    },
    HttpGet {
        /// Empty means the pod IP.
        host: String,
        port: Port,
        path: String,
        scheme: String,
        headers: Vec<(String, String)>,
    },
    TcpSocket {
        host: String,
        port: Port,
    },
}

/// A port by number or by container port name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Port {
    Number(u16),
    Name(String),
}

/// A probe with upstream defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub kind: ProbeKind,
    pub action: Action,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

fn secs(v: &Value, key: &str, default: u64) -> u64 {
    v.get(key)
        .and_then(Value::as_i64)
        .filter(|n| *n > 0)
        .map(|n| n as u64)
        .unwrap_or(default)
}

fn port_of(v: &Value) -> Option<Port> {
    match v.get("port")? {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Port::Number),
        Value::String(s) => Some(match s.parse::<u16>() {
            Ok(n) => Port::Number(n),
            Err(_) => Port::Name(s.clone()),
        }),
        _ => None,
    }
}

/// A handler (`exec`, `httpGet`, `tcpSocket`) of a probe or lifecycle hook.
pub fn action_of(v: &Value) -> Option<Action> {
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(exec) = v.get("exec") {
        let command = exec
            .get("command")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        return Some(Action::Exec { command });
    }
    if let Some(h) = v.get("httpGet") {
        let headers = h
            .get("httpHeaders")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| (str_of(x, "name"), str_of(x, "value")))
                    .collect()
            })
            .unwrap_or_default();
        let path = str_of(h, "path");
        let scheme = str_of(h, "scheme");
        return Some(Action::HttpGet {
            host: str_of(h, "host"),
            port: port_of(h)?,
            path: if path.is_empty() { "/".into() } else { path },
            scheme: if scheme.is_empty() {
                "HTTP".into()
            } else {
                scheme
            },
            headers,
        });
    }
    if let Some(t) = v.get("tcpSocket") {
        return Some(Action::TcpSocket {
            host: str_of(t, "host"),
            port: port_of(t)?,
        });
    }
    None
}

/// The container's probe of a kind, with `SetDefaults_Probe` defaults: timeout 1 s,
/// period 10 s, successThreshold 1, failureThreshold 3, no initial delay.
pub fn probe_of(container: &Value, kind: ProbeKind) -> Option<Probe> {
    let v = container.get(kind.field())?;
    let success = match kind {
        // Validation requires 1 for liveness and startup.
        ProbeKind::Readiness => secs(v, "successThreshold", 1) as u32,
        _ => 1,
    };
    Some(Probe {
        kind,
        action: action_of(v)?,
        initial_delay: Duration::from_secs(
            v.get("initialDelaySeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0) as u64,
        ),
        period: Duration::from_secs(secs(v, "periodSeconds", 10)),
        timeout: Duration::from_secs(secs(v, "timeoutSeconds", 1)),
        success_threshold: success,
        failure_threshold: secs(v, "failureThreshold", 3) as u32,
    })
}

/// One probe worker's memory: the committed result and the current run of equal results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub committed: ProbeResult,
    last: ProbeResult,
    run: u32,
}

impl Thresholds {
    pub fn new(kind: ProbeKind) -> Self {
        Self {
            committed: kind.initial(),
            last: ProbeResult::Unknown,
            run: 0,
        }
    }

    /// Feeds one probe result (upstream `doProbe`); returns the newly committed result
    /// when it changes.
    pub fn observe(&mut self, probe: &Probe, result: ProbeResult) -> Option<ProbeResult> {
        if self.last == result {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = result;
            self.run = 1;
        }
        let needed = match result {
            ProbeResult::Failure => probe.failure_threshold,
            ProbeResult::Success => probe.success_threshold,
            ProbeResult::Unknown => return None,
        };
        if self.run < needed {
            return None;
        }
        if probe.kind != ProbeKind::Readiness && result == ProbeResult::Failure {
            // On hold until the restarted container: start counting afresh.
            self.run = 0;
        }
        let changed = self.committed != result;
        self.committed = result;
        changed.then_some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProbeResult::{Failure as F, Success as S};
    use serde_json::json;

    fn probe(kind: ProbeKind, spec: Value) -> Probe {
        let mut p = spec;
        p["exec"] = json!({"command": ["true"]});
        probe_of(&json!({kind.field(): p}), kind).expect("probe")
    }

    #[test]
    fn probes_get_upstream_defaults() {
        let p = probe(ProbeKind::Readiness, json!({}));
        assert_eq!(p.period, Duration::from_secs(10));
        assert_eq!(p.timeout, Duration::from_secs(1));
        assert_eq!((p.success_threshold, p.failure_threshold), (1, 3));
        assert_eq!(p.initial_delay, Duration::ZERO);
    }

    #[test]
    fn threshold_table_follows_the_upstream_worker() {
        // (kind, successThreshold, failureThreshold, results, committed after each)
        type Row = (ProbeKind, u32, u32, Vec<ProbeResult>, Vec<ProbeResult>);
        let rows: Vec<Row> = vec![
            // Readiness starts unready and flips on the first success.
            (ProbeKind::Readiness, 1, 3, vec![F, S], vec![F, S]),
            // failureThreshold 3: unready only after the third consecutive failure.
            (
                ProbeKind::Readiness,
                1,
                3,
                vec![S, F, F, F],
                vec![S, S, S, F],
            ),
            // A success in between resets the failure run.
            (
                ProbeKind::Readiness,
                1,
                3,
                vec![S, F, F, S, F, F],
                vec![S; 6],
            ),
            // successThreshold 2 needs two successes in a row.
            (
                ProbeKind::Readiness,
                2,
                1,
                vec![S, F, S, S],
                vec![F, F, F, S],
            ),
            // Liveness starts healthy and fails after failureThreshold.
            (ProbeKind::Liveness, 1, 2, vec![F, F], vec![S, F]),
            // Startup succeeds on the first success.
            (
                ProbeKind::Startup,
                1,
                3,
                vec![F, S],
                vec![ProbeResult::Unknown, S],
            ),
        ];
        for (kind, st, ft, results, expected) in rows {
            let p = probe(
                kind,
                json!({"successThreshold": st, "failureThreshold": ft, "periodSeconds": 1}),
            );
            let mut t = Thresholds::new(kind);
            let got: Vec<ProbeResult> = results
                .iter()
                .map(|r| {
                    t.observe(&p, *r);
                    t.committed
                })
                .collect();
            assert_eq!(got, expected, "{kind:?} st={st} ft={ft} {results:?}");
        }
    }

    #[test]
    fn a_committed_liveness_failure_counts_afresh_for_the_next_container() {
        let p = probe(ProbeKind::Liveness, json!({"failureThreshold": 2}));
        let mut t = Thresholds::new(ProbeKind::Liveness);
        assert_eq!(t.observe(&p, F), None);
        assert_eq!(t.observe(&p, F), Some(F));
        assert_eq!(t.run, 0);
    }

    #[test]
    fn handlers_parse_ports_by_number_and_by_name() {
        let a = action_of(&json!({"httpGet": {"port": "http", "path": "/ready",
            "httpHeaders": [{"name": "X-A", "value": "1"}]}}))
        .expect("action");
        assert_eq!(
            a,
            Action::HttpGet {
                host: String::new(),
                port: Port::Name("http".into()),
                path: "/ready".into(),
                scheme: "HTTP".into(),
                headers: vec![("X-A".into(), "1".into())],
            }
        );
        let t = action_of(&json!({"tcpSocket": {"port": 8080}})).expect("action");
        assert_eq!(
            t,
            Action::TcpSocket {
                host: String::new(),
                port: Port::Number(8080)
            }
        );
    }
}
