//! The I/O of a gate: [`Prober::measure`] takes one round of measurements of one gate
//! (every target once, concurrently), and [`run_gates`] drives a [`GateSet`] to its
//! decision on the gates' own schedule, for callers without a machine of their own
//! (`rollout verify`). A stepped rollout's driver calls `measure` itself and feeds the
//! machine.

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use serde_json::Value;

use super::command;
use super::http::Http;
use super::prometheus;
use super::record::{Context, Measurement, Verdict, round_verdict};
use super::run::{Decision, GateVerdict, Tally};
use super::set::GateSet;
use super::spec::{Check, Gate};

/// The longest one HTTP request of a gate may take, whatever time the gate has left: a
/// probe that hangs fails its round and the next round still gets its chance. A command
/// gets all the time the gate has left (a smoke-test suite may run for minutes).
pub const REQUEST_TIMEOUT_CAP: Duration = Duration::from_secs(30);

/// Takes measurements; holds the HTTP client every gate shares.
#[derive(Clone, Default)]
pub struct Prober {
    http: Http,
}

/// The time a measurement ended, as records keep it.
fn stamp() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Millisecond)
        .unwrap_or(now)
        .to_string()
}

impl Prober {
    pub fn new() -> Prober {
        Prober::default()
    }

    /// Round `round` of `gate` in `ctx`, within `timeout`: one measurement per target.
    pub async fn measure(
        &self,
        gate: &Gate,
        round: u32,
        ctx: &Context,
        timeout: Duration,
    ) -> Vec<Measurement> {
        let threshold = gate.threshold();
        let request_timeout = timeout.min(REQUEST_TIMEOUT_CAP);
        let record =
            |target: String, value: Value, verdict: Verdict, detail: String, took: Duration| {
                Measurement {
                    gate: gate.name.clone(),
                    round,
                    target,
                    value,
                    threshold: threshold.clone(),
                    verdict,
                    detail,
                    time: stamp(),
                    took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                }
            };
        match &gate.check {
            Check::Http {
                url,
                expect_body,
                body,
            } => {
                let targets: Vec<(String, Option<String>)> = if url.per_pod() {
                    ctx.pods
                        .iter()
                        .map(|p| {
                            let filled = p.ip.as_deref().map(|ip| url.fill(&p.name, ip));
                            (p.name.clone(), filled)
                        })
                        .collect()
                } else {
                    vec![(url.0.clone(), Some(url.0.clone()))]
                };
                if targets.is_empty() {
                    return vec![record(
                        "new pods".into(),
                        Value::Null,
                        Verdict::Inconclusive,
                        "no new pod to probe".into(),
                        Duration::ZERO,
                    )];
                }
                let probes = targets.into_iter().map(|(target, filled)| async move {
                    let started = Instant::now();
                    let Some(filled) = filled else {
                        return record(
                            target,
                            Value::Null,
                            Verdict::Inconclusive,
                            "the pod has no IP yet".into(),
                            Duration::ZERO,
                        );
                    };
                    let answer = self
                        .http
                        .request(&filled, body.as_deref(), request_timeout)
                        .await;
                    let (value, verdict, detail) = match answer {
                        Err(e) => (Value::Null, Verdict::Fail, e),
                        Ok(r) if !(200..300).contains(&r.status) => (
                            Value::from(r.status),
                            Verdict::Fail,
                            format!("HTTP {}", r.status),
                        ),
                        Ok(r) => match expect_body {
                            Some(p) if !p.0.is_match(&String::from_utf8_lossy(&r.body)) => (
                                Value::from(r.status),
                                Verdict::Fail,
                                format!("body does not match /{}/", p.0.as_str()),
                            ),
                            _ => (Value::from(r.status), Verdict::Pass, String::new()),
                        },
                    };
                    record(target, value, verdict, detail, started.elapsed())
                });
                futures::future::join_all(probes).await
            }
            Check::Command { command } => {
                let started = Instant::now();
                let vars = command::env(ctx, round);
                let (value, verdict, detail) = match command::run(command, &vars, timeout).await {
                    Err(e) => (Value::Null, Verdict::Fail, e),
                    Ok(exited) => match exited.code {
                        Some(0) => (Value::from(0), Verdict::Pass, exited.last_line),
                        Some(code) => (Value::from(code), Verdict::Fail, exited.last_line),
                        None => (Value::Null, Verdict::Fail, "ended by a signal".to_string()),
                    },
                };
                vec![record(
                    "command".into(),
                    value,
                    verdict,
                    detail,
                    started.elapsed(),
                )]
            }
            Check::Prometheus {
                server,
                query,
                threshold,
            } => {
                let started = Instant::now();
                let answer = prometheus::query(&self.http, server, query, request_timeout).await;
                let took = started.elapsed();
                prometheus::judge(answer, threshold)
                    .into_iter()
                    .map(|(target, value, verdict, detail)| {
                        record(target, value, verdict, detail, took)
                    })
                    .collect()
            }
        }
    }
}

/// One gate of a [`run_gates`], as it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    pub gate: String,
    /// Pending when another gate decided first.
    pub verdict: GateVerdict,
    /// What the verdict means for the rollout (`on_inconclusive` applied).
    pub decision: Decision,
    pub reason: String,
    pub tally: Tally,
    pub measurements: Vec<Measurement>,
}

/// Runs `gates` side by side in `ctx` until they decide together ([`GateSet`]), calling
/// `seen` with each measurement as it comes. Rounds run concurrently; between them it waits
/// for the next due time (the gates' schedule, not a condition to poll). A round still
/// under way when the set decides is dropped.
pub async fn run_gates(
    prober: &Prober,
    gates: &[Gate],
    ctx: &Context,
    mut seen: impl FnMut(&Measurement),
) -> (Decision, Vec<GateReport>) {
    let mut set = GateSet::new(gates.iter().map(|g| &g.policy), Instant::now());
    let mut measurements: Vec<Vec<Measurement>> = vec![Vec::new(); gates.len()];
    let mut under_way = FuturesUnordered::new();
    let decision = loop {
        let poll = set.poll(Instant::now());
        if poll.decision != Decision::Wait {
            break poll.decision;
        }
        for due in poll.measure {
            let Some(gate) = gates.get(due.gate) else {
                continue;
            };
            under_way.push(async move {
                let round = prober.measure(gate, due.round, ctx, due.timeout).await;
                (due, round)
            });
        }
        let wake = async {
            match poll.wake {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some((due, round)) = under_way.next(), if !under_way.is_empty() => {
                round.iter().for_each(&mut seen);
                set.record(due.gate, due.round, round_verdict(&round));
                if let Some(kept) = measurements.get_mut(due.gate) {
                    kept.extend(round);
                }
            }
            () = wake => {}
        }
    };
    (decision, reports(gates, &set, measurements))
}

/// Each gate's report: its run in `set` and its measurements (a gate never measured has
/// none).
pub fn reports(
    gates: &[Gate],
    set: &GateSet,
    measurements: impl IntoIterator<Item = Vec<Measurement>>,
) -> Vec<GateReport> {
    gates
        .iter()
        .zip(set.runs())
        .zip(
            measurements
                .into_iter()
                .chain(std::iter::repeat_with(Vec::new)),
        )
        .map(|((gate, run), measurements)| GateReport {
            gate: gate.name.clone(),
            verdict: run.verdict(),
            decision: run.decision(),
            reason: match run.verdict() {
                GateVerdict::Pending => "not decided: another gate decided first".into(),
                _ => run.reason().to_string(),
            },
            tally: run.tally(),
            measurements,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::record::Pod;
    use crate::gates::spec::{BodyPattern, Policy, UrlTemplate};

    /// Serves `status` and `body` on `ip`:`port` (port 0: any) until the test ends.
    async fn serve(ip: &str, port: u16, status: u16, body: &'static str) -> u16 {
        let listener = tokio::net::TcpListener::bind((ip, port))
            .await
            .expect("binds");
        let port = listener.local_addr().expect("has an address").port();
        let code = axum::http::StatusCode::from_u16(status).expect("a status");
        let app = axum::Router::new().fallback(move || async move { (code, body) });
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    fn pod(name: &str, ip: &str) -> Pod {
        Pod {
            name: name.into(),
            ip: Some(ip.into()),
        }
    }

    #[tokio::test]
    async fn a_per_pod_url_probes_each_new_pod_and_one_bad_pod_fails_the_round() {
        let port = serve("127.0.0.1", 0, 200, "model ready").await;
        serve("127.0.0.2", port, 503, "loading").await;
        let check = Check::Http {
            url: UrlTemplate::parse(&format!("http://{{pod_ip}}:{port}/healthz")).expect("a URL"),
            expect_body: Some(BodyPattern::parse("ready").expect("a regex")),
            body: None,
        };
        let gate = Gate::new(check, Policy::default());
        let ctx = Context {
            pods: vec![pod("m-a", "127.0.0.1"), pod("m-b", "127.0.0.2")],
            ..Context::default()
        };
        let ms = Prober::new()
            .measure(&gate, 1, &ctx, Duration::from_secs(5))
            .await;
        let seen: Vec<_> = ms
            .iter()
            .map(|m| {
                (
                    m.target.as_str(),
                    m.value.clone(),
                    m.verdict,
                    m.detail.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("m-a", Value::from(200), Verdict::Pass, ""),
                ("m-b", Value::from(503), Verdict::Fail, "HTTP 503"),
            ]
        );
        assert_eq!(round_verdict(&ms), Verdict::Fail);
        assert_eq!(ms[0].threshold, "2xx, body ~ /ready/");
    }

    #[tokio::test]
    async fn a_body_that_does_not_match_fails_and_no_pod_is_inconclusive() {
        let port = serve("127.0.0.1", 0, 200, "loading").await;
        let url = format!("http://127.0.0.1:{port}/");
        let check = Check::Http {
            url: UrlTemplate::parse(&url).expect("a URL"),
            expect_body: Some(BodyPattern::parse("^ready$").expect("a regex")),
            body: None,
        };
        let gate = Gate::new(check, Policy::default());
        let ms = Prober::new()
            .measure(&gate, 1, &Context::default(), Duration::from_secs(5))
            .await;
        assert_eq!(
            (ms[0].verdict, ms[0].detail.as_str()),
            (Verdict::Fail, "body does not match /^ready$/")
        );

        let per_pod = Check::Http {
            url: UrlTemplate::parse("http://{pod_ip}:1/").expect("a URL"),
            expect_body: None,
            body: None,
        };
        let gate = Gate::new(per_pod, Policy::default());
        let ms = Prober::new()
            .measure(&gate, 1, &Context::default(), Duration::from_secs(5))
            .await;
        assert_eq!(round_verdict(&ms), Verdict::Inconclusive);
    }

    #[tokio::test]
    async fn run_gates_takes_rounds_until_the_policy_decides() {
        let gate = Gate::new(
            Check::Command {
                command: "test \"$ROLLOUT_GATE_ROUND\" -ge 2".into(),
            },
            Policy {
                interval: Duration::from_millis(10),
                count: 2,
                max_failures: 1,
                ..Policy::default()
            },
        );
        let mut lines = Vec::new();
        let (decision, reports) = run_gates(&Prober::new(), &[gate], &Context::default(), |m| {
            lines.push(m.verdict)
        })
        .await;
        assert_eq!(decision, Decision::Proceed);
        assert_eq!(reports[0].verdict, GateVerdict::Pass);
        assert_eq!(lines, [Verdict::Fail, Verdict::Pass, Verdict::Pass]);
        assert_eq!(reports[0].measurements.len(), 3);
    }

    #[tokio::test]
    async fn a_failing_gate_ends_the_run_while_a_slow_one_is_still_pending() {
        let slow = Gate::new(
            Check::Command {
                command: "true".into(),
            },
            Policy {
                interval: Duration::from_secs(60),
                count: 3,
                ..Policy::default()
            },
        );
        let failing = Gate::new(
            Check::Command {
                command: "exit 1".into(),
            },
            Policy::default(),
        );
        let started = Instant::now();
        let (decision, reports) = run_gates(
            &Prober::new(),
            &[slow, failing],
            &Context::default(),
            |_| {},
        )
        .await;
        assert_eq!(decision, Decision::Fail);
        assert_eq!(reports[0].verdict, GateVerdict::Pending);
        assert_eq!(reports[1].verdict, GateVerdict::Fail);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "it did not wait for the slow gate"
        );
    }
}
