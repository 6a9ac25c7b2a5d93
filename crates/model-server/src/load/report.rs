//! What a load run observed, and how it is summarised.
//!
//! Each request ends as an [`Outcome`]; a [`Tally`] folds outcomes into a
//! [`LoadReport`], which serialises to JSON and renders as a short table.
//! Latency percentiles use the nearest-rank method over requests that got a
//! complete HTTP response (any status), so instant connection refusals do not
//! flatter the numbers. Versions and pods are counted over the same responses.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// How one request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A complete HTTP response arrived.
    Response {
        status: u16,
        version: Option<String>,
        pod: Option<String>,
        latency: Duration,
    },
    /// No complete response.
    Failed(FailureCause),
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCause {
    /// Nothing listened on the target port.
    ConnectRefused,
    /// The connection was reset or closed before the response was complete.
    ConnectionReset,
    /// The per-request timeout elapsed.
    Timeout,
    /// Anything else.
    Other,
}

/// Failed requests by cause.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Failures {
    pub connect_refused: u64,
    pub connection_reset: u64,
    pub timeout: u64,
    /// Responses with a non-2xx status, by status code.
    pub http_status: BTreeMap<u16, u64>,
    pub other: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The result of a load run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    pub url: String,
    pub target_rps: f64,
    /// Requests actually started.
    pub sent: u64,
    /// Requests answered with a 2xx status.
    pub succeeded: u64,
    pub failed: u64,
    /// Scheduled requests not sent because the concurrency cap was reached.
    pub skipped: u64,
    pub failures: Failures,
    /// `None` when no response arrived at all.
    pub latency: Option<Latency>,
    /// Responses per `X-Model-Version` value.
    pub versions: BTreeMap<String, u64>,
    /// Responses per `X-Pod-Name` value.
    pub pods: BTreeMap<String, u64>,
    /// How long requests were being scheduled (less than asked if cancelled).
    pub duration_s: f64,
    pub achieved_rps: f64,
}

/// The nearest-rank `p`-th percentile (0-100) of ascending `sorted` values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Percentiles of `latencies_ms` (any order); `None` if empty.
pub fn summarize(latencies_ms: &[f64]) -> Option<Latency> {
    let mut sorted = latencies_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Latency {
        p50_ms: percentile(&sorted, 50.0)?,
        p90_ms: percentile(&sorted, 90.0)?,
        p99_ms: percentile(&sorted, 99.0)?,
        max_ms: *sorted.last()?,
    })
}

/// Accumulates outcomes during a run.
#[derive(Debug, Default)]
pub struct Tally {
    sent: u64,
    succeeded: u64,
    skipped: u64,
    failures: Failures,
    latencies_ms: Vec<f64>,
    versions: BTreeMap<String, u64>,
    pods: BTreeMap<String, u64>,
}

impl Tally {
    /// Notes that a request was started.
    pub fn sent(&mut self) {
        self.sent += 1;
    }

    /// Notes that a scheduled request was not sent.
    pub fn skipped(&mut self) {
        self.skipped += 1;
    }

    /// Folds in how a started request ended.
    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Response {
                status,
                version,
                pod,
                latency,
            } => {
                if (200..300).contains(&status) {
                    self.succeeded += 1;
                } else {
                    *self.failures.http_status.entry(status).or_insert(0) += 1;
                }
                self.latencies_ms.push(latency.as_secs_f64() * 1000.0);
                if let Some(version) = version {
                    *self.versions.entry(version).or_insert(0) += 1;
                }
                if let Some(pod) = pod {
                    *self.pods.entry(pod).or_insert(0) += 1;
                }
            }
            Outcome::Failed(cause) => {
                let f = &mut self.failures;
                match cause {
                    FailureCause::ConnectRefused => f.connect_refused += 1,
                    FailureCause::ConnectionReset => f.connection_reset += 1,
                    FailureCause::Timeout => f.timeout += 1,
                    FailureCause::Other => f.other += 1,
                }
            }
        }
    }

    /// The report for a run that scheduled requests for `ran`.
    pub fn finish(self, url: &str, target_rps: f64, ran: Duration) -> LoadReport {
        let secs = ran.as_secs_f64();
        LoadReport {
            url: url.to_string(),
            target_rps,
            sent: self.sent,
            succeeded: self.succeeded,
            failed: self.sent.saturating_sub(self.succeeded),
            skipped: self.skipped,
            failures: self.failures,
            latency: summarize(&self.latencies_ms),
            versions: self.versions,
            pods: self.pods,
            duration_s: secs,
            achieved_rps: if secs > 0.0 {
                self.sent as f64 / secs
            } else {
                0.0
            },
        }
    }
}

impl LoadReport {
    /// A short table for terminals.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "target    {} at {} rps", self.url, self.target_rps);
        let skipped = if self.skipped > 0 {
            format!(", {} skipped at the concurrency cap", self.skipped)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "requests  {} sent, {} succeeded, {} failed{skipped} ({:.1} rps over {:.1}s)",
            self.sent, self.succeeded, self.failed, self.achieved_rps, self.duration_s
        );
        let f = &self.failures;
        let mut causes: Vec<String> = [
            ("connection refused", f.connect_refused),
            ("connection reset", f.connection_reset),
            ("timeout", f.timeout),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
        causes.extend(
            f.http_status
                .iter()
                .map(|(code, n)| format!("http {code} {n}")),
        );
        if f.other > 0 {
            causes.push(format!("other {}", f.other));
        }
        let _ = writeln!(out, "failures  {}", list_or_none(causes));
        let latency = match &self.latency {
            Some(l) => format!(
                "p50 {:.1}ms  p90 {:.1}ms  p99 {:.1}ms  max {:.1}ms",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            ),
            None => "none (no responses)".to_string(),
        };
        let _ = writeln!(out, "latency   {latency}");
        let _ = writeln!(out, "versions  {}", counts(&self.versions));
        let _ = writeln!(out, "pods      {}", counts(&self.pods));
        out
    }
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    list_or_none(map.iter().map(|(k, n)| format!("{k} {n}")).collect())
}

fn list_or_none(items: Vec<String>) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, version: &str, pod: &str, ms: u64) -> Outcome {
        Outcome::Response {
            status,
            version: Some(version.to_string()),
            pod: Some(pod.to_string()),
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn nearest_rank_percentiles_pick_an_observed_value() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile(&sorted, 90.0), Some(90.0));
        assert_eq!(percentile(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile(&sorted, 100.0), Some(100.0));
        assert_eq!(percentile(&sorted, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
    }

    #[test]
    fn percentiles_of_nothing_or_out_of_range_are_none() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0], 101.0), None);
        assert_eq!(percentile(&[1.0], f64::NAN), None);
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn summaries_sort_their_input_first() {
        let latency = summarize(&[30.0, 10.0, 20.0, 40.0]).unwrap();
        assert_eq!(
            latency,
            Latency {
                p50_ms: 20.0,
                p90_ms: 40.0,
                p99_ms: 40.0,
                max_ms: 40.0
            }
        );
    }

    #[test]
    fn a_tally_counts_successes_failures_versions_and_pods() {
        let mut tally = Tally::default();
        for outcome in [
            response(200, "v1", "a", 10),
            response(200, "v2", "b", 20),
            response(503, "v2", "b", 30),
            Outcome::Failed(FailureCause::ConnectRefused),
            Outcome::Failed(FailureCause::Timeout),
        ] {
            tally.sent();
            tally.record(outcome);
        }
        tally.skipped();
        let report = tally.finish("http://127.0.0.1/", 5.0, Duration::from_secs(1));
        assert_eq!((report.sent, report.succeeded, report.failed), (5, 2, 3));
        assert_eq!(report.skipped, 1);
        assert_eq!(report.failures.connect_refused, 1);
        assert_eq!(report.failures.timeout, 1);
        assert_eq!(report.failures.http_status, BTreeMap::from([(503, 1)]));
        assert_eq!(
            report.versions,
            BTreeMap::from([("v1".to_string(), 1), ("v2".to_string(), 2)])
        );
        assert_eq!(report.latency.map(|l| l.max_ms), Some(30.0));
        assert_eq!(report.achieved_rps, 5.0);
    }

    #[test]
    fn the_human_rendering_is_a_short_table() {
        let mut tally = Tally::default();
        for outcome in [
            response(200, "v1", "pod-a", 2),
            response(200, "v2", "pod-b", 4),
            response(500, "v2", "pod-b", 6),
            Outcome::Failed(FailureCause::ConnectionReset),
        ] {
            tally.sent();
            tally.record(outcome);
        }
        let report = tally.finish("http://127.0.0.1:8080/", 4.0, Duration::from_secs(1));
        assert_eq!(
            report.render_human(),
            "target    http://127.0.0.1:8080/ at 4 rps\n\
             requests  4 sent, 2 succeeded, 2 failed (4.0 rps over 1.0s)\n\
             failures  connection reset 1, http 500 1\n\
             latency   p50 4.0ms  p90 6.0ms  p99 6.0ms  max 6.0ms\n\
             versions  v1 1, v2 2\n\
             pods      pod-a 1, pod-b 2\n"
        );
    }

    #[test]
    fn an_empty_report_says_none_instead_of_numbers() {
        let report = Tally::default().finish("http://127.0.0.1/", 1.0, Duration::ZERO);
        let text = report.render_human();
        assert!(text.contains("failures  none\n"), "{text}");
        assert!(text.contains("latency   none (no responses)\n"), "{text}");
        assert_eq!(report.achieved_rps, 0.0);
    }

    #[test]
    fn the_report_serialises_to_json_with_status_codes_as_keys() {
        let mut tally = Tally::default();
        tally.sent();
        tally.record(response(503, "v3", "p", 1));
        let json = serde_json::to_value(tally.finish("u", 1.0, Duration::from_secs(1))).unwrap();
        assert_eq!(json["failures"]["http_status"]["503"], 1);
        assert_eq!(json["versions"]["v3"], 1);
        assert_eq!(json["latency"]["p50_ms"], 1.0);
    }
}
