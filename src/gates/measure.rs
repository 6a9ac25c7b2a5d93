//! The I/O of a gate: [`Prober::measure`] takes one round of measurements of one gate
//! (every target once, concurrently), and [`run_gate`] drives a [`GateRun`] to its verdict
//! on its own schedule, for callers without a machine of their own (a one-off check after a
//! rollout). A stepped rollout's driver calls `measure` itself and feeds the machine.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::command;
use super::http::Http;
use super::prometheus;
use super::record::{Context, Measurement, Verdict, round_verdict};
use super::run::{Decision, GateRun, GateVerdict, Next, Tally};
use super::spec::{Check, Gate};

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
                    let answer = self.http.request(&filled, body.as_deref(), timeout).await;
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
                let answer = prometheus::query(&self.http, server, query, timeout).await;
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

/// A gate run to its end by [`run_gate`].
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub gate: String,
    pub verdict: GateVerdict,
    /// What the verdict means for the rollout (`on_inconclusive` applied).
    pub decision: Decision,
    pub reason: String,
    pub tally: Tally,
    pub measurements: Vec<Measurement>,
}

/// Runs `gate` in `ctx` until its verdict, calling `seen` with each measurement as it
/// comes. Between rounds it waits for the next round's due time (the gate's schedule, not
/// a condition to poll).
pub async fn run_gate(
    prober: &Prober,
    gate: &Gate,
    ctx: &Context,
    mut seen: impl FnMut(&Measurement),
) -> GateReport {
    let mut run = GateRun::new(&gate.policy, Instant::now());
    let mut measurements = Vec::new();
    loop {
        match run.next(Instant::now()) {
            Next::Done(_) => break,
            Next::Wait { until } => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
            }
            Next::Measure { round, timeout } => {
                let round_of = prober.measure(gate, round, ctx, timeout).await;
                round_of.iter().for_each(&mut seen);
                run.record(round, round_verdict(&round_of));
                measurements.extend(round_of);
            }
        }
    }
    GateReport {
        gate: gate.name.clone(),
        verdict: run.verdict(),
        decision: run.decision(),
        reason: run.reason().to_string(),
        tally: run.tally(),
        measurements,
    }
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
    async fn run_gate_takes_rounds_until_the_policy_decides() {
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
        let report = run_gate(&Prober::new(), &gate, &Context::default(), |m| {
            lines.push(m.verdict)
        })
        .await;
        assert_eq!(report.verdict, GateVerdict::Pass);
        assert_eq!(lines, [Verdict::Fail, Verdict::Pass, Verdict::Pass]);
        assert_eq!(report.measurements.len(), 3);
    }
}
