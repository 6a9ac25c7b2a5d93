//! The model server's Prometheus metrics and their text exposition.
//!
//! Request counters and the latency histogram cover predict requests
//! addressed to the served model (probes and scrapes would drown the signal a
//! rollout watches). `model_inflight_requests` counts every HTTP request being
//! handled except the scrape reading it; graceful shutdown reports it too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Upper bounds (seconds) of the request duration histogram buckets.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Shared metric state of one server.
#[derive(Debug)]
pub struct Metrics {
    model: String,
    version: String,
    loaded: AtomicBool,
    inflight: watch::Sender<usize>,
    predict: Mutex<PredictStats>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct PredictStats {
    by_code: BTreeMap<u16, u64>,
    errors: u64,
    bucket_counts: [u64; BUCKETS.len()],
    sum_seconds: f64,
    count: u64,
}

impl Metrics {
    /// Metrics labelled with the served model and version.
    pub fn new(model: &str, version: &str) -> Metrics {
        Metrics {
            model: model.to_string(),
            version: version.to_string(),
            loaded: AtomicBool::new(false),
            inflight: watch::Sender::new(0),
            predict: Mutex::new(PredictStats::default()),
        }
    }

    /// Sets the `model_loaded` gauge.
    pub fn set_loaded(&self, loaded: bool) {
        self.loaded.store(loaded, Ordering::SeqCst);
    }

    /// Whether the model has finished loading.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }

    /// Records a finished predict request.
    pub fn observe_predict(&self, code: u16, took: Duration) {
        let mut stats = self.predict.lock().unwrap_or_else(|p| p.into_inner());
        *stats.by_code.entry(code).or_insert(0) += 1;
        if code >= 500 {
            stats.errors += 1;
        }
        let secs = took.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(stats.bucket_counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        stats.sum_seconds += secs;
        stats.count += 1;
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub fn start_request(&self) -> InflightGuard<'_> {
        self.inflight.send_modify(|n| *n += 1);
        InflightGuard(&self.inflight)
    }

    /// Number of requests currently being handled.
    pub fn inflight(&self) -> usize {
        *self.inflight.borrow()
    }

    /// A receiver that sees every change of the in-flight count.
    pub fn watch_inflight(&self) -> watch::Receiver<usize> {
        self.inflight.subscribe()
    }

    /// Renders all metrics in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let stats = self
            .predict
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let labels = format!(
            "model=\"{}\",version=\"{}\"",
            escape(&self.model),
            escape(&self.version)
        );
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP model_requests_total Predict requests answered, by HTTP status code."
        );
        let _ = writeln!(out, "# TYPE model_requests_total counter");
        for (code, n) in &stats.by_code {
            let _ = writeln!(out, "model_requests_total{{{labels},code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP model_errors_total Predict requests answered with a 5xx status."
        );
        let _ = writeln!(out, "# TYPE model_errors_total counter");
        let _ = writeln!(out, "model_errors_total{{{labels}}} {}", stats.errors);
        let _ = writeln!(
            out,
            "# HELP model_request_duration_seconds Time to answer a predict request."
        );
        let _ = writeln!(out, "# TYPE model_request_duration_seconds histogram");
        for (bound, n) in BUCKETS.iter().zip(stats.bucket_counts.iter()) {
            let _ = writeln!(
                out,
                "model_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "model_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            stats.count
        );
        let _ = writeln!(
            out,
            "model_request_duration_seconds_sum{{{labels}}} {}",
            stats.sum_seconds
        );
        let _ = writeln!(
            out,
            "model_request_duration_seconds_count{{{labels}}} {}",
            stats.count
        );
        let _ = writeln!(
            out,
            "# HELP model_loaded Whether the model has finished loading (1) or not (0)."
        );
        let _ = writeln!(out, "# TYPE model_loaded gauge");
        let loaded = u8::from(self.loaded.load(Ordering::SeqCst));
        let _ = writeln!(out, "model_loaded{{{labels}}} {loaded}");
        let _ = writeln!(
            out,
            "# HELP model_inflight_requests HTTP requests being handled, excluding this scrape."
        );
        let _ = writeln!(out, "# TYPE model_inflight_requests gauge");
        let _ = writeln!(
            out,
            "model_inflight_requests{{{labels}}} {}",
            self.inflight()
        );
        out
    }
}

/// Decrements the in-flight count when dropped, even if the request is
/// abandoned half-way because its client went away.
#[derive(Debug)]
pub struct InflightGuard<'a>(&'a watch::Sender<usize>);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_server_renders_zeroed_metrics() {
        let text = Metrics::new("classifier", "v1").render();
        assert!(text.contains("model_errors_total{model=\"classifier\",version=\"v1\"} 0\n"));
        assert!(text.contains("model_loaded{model=\"classifier\",version=\"v1\"} 0\n"));
        assert!(text.contains("model_inflight_requests{model=\"classifier\",version=\"v1\"} 0\n"));
        assert!(text.contains(
            "model_request_duration_seconds_bucket{model=\"classifier\",version=\"v1\",le=\"+Inf\"} 0\n"
        ));
        assert!(!text.contains("model_requests_total{"));
    }

    #[test]
    fn predict_observations_fill_counters_and_cumulative_buckets() {
        let metrics = Metrics::new("m", "v2");
        metrics.set_loaded(true);
        metrics.observe_predict(200, Duration::from_millis(3));
        metrics.observe_predict(200, Duration::from_millis(70));
        metrics.observe_predict(500, Duration::from_secs(60));
        let text = metrics.render();
        let expected = [
            "model_requests_total{model=\"m\",version=\"v2\",code=\"200\"} 2",
            "model_requests_total{model=\"m\",version=\"v2\",code=\"500\"} 1",
            "model_errors_total{model=\"m\",version=\"v2\"} 1",
            "model_request_duration_seconds_bucket{model=\"m\",version=\"v2\",le=\"0.005\"} 1",
            "model_request_duration_seconds_bucket{model=\"m\",version=\"v2\",le=\"0.05\"} 1",
            "model_request_duration_seconds_bucket{model=\"m\",version=\"v2\",le=\"0.1\"} 2",
            "model_request_duration_seconds_bucket{model=\"m\",version=\"v2\",le=\"30\"} 2",
            "model_request_duration_seconds_bucket{model=\"m\",version=\"v2\",le=\"+Inf\"} 3",
            "model_request_duration_seconds_sum{model=\"m\",version=\"v2\"} 60.073",
            "model_request_duration_seconds_count{model=\"m\",version=\"v2\"} 3",
            "model_loaded{model=\"m\",version=\"v2\"} 1",
        ];
        for line in expected {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn every_sample_line_has_a_type_line_before_it() {
        let metrics = Metrics::new("m", "v1");
        metrics.observe_predict(200, Duration::from_millis(1));
        let text = metrics.render();
        let mut typed = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.push(rest.split(' ').next().unwrap_or_default().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                assert!(
                    typed.iter().any(|t| name.starts_with(t.as_str())),
                    "{name} has no TYPE"
                );
            }
        }
    }

    #[test]
    fn the_inflight_guard_counts_down_when_dropped() {
        let metrics = Metrics::new("m", "v1");
        let a = metrics.start_request();
        let b = metrics.start_request();
        assert_eq!(metrics.inflight(), 2);
        drop(a);
        drop(b);
        assert_eq!(metrics.inflight(), 0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
