//! The gate flags, as one clap struct a command flattens into its own, and their
//! conversion to [`Gate`]s. Repeatable flags pair by order: the i-th `--threshold` goes
//! with the i-th `--verify-prometheus`; `--expect-body` and `--verify-http-body` are given
//! once per `--verify-http` (an empty value for none) or not at all. The policy flags apply
//! to every gate of the command line (a runbook file can give each gate its own).

use std::path::Path;
use std::time::Duration;

use clap::Args;

use super::spec::{
    BodyPattern, Check, Gate, OnInconclusive, Policy, PrometheusUrl, Threshold, UrlTemplate,
};
use crate::text::shown;

/// The most a `--verify-http-body @FILE` may hold: one request body.
pub const HTTP_BODY_LIMIT: u64 = 1024 * 1024;

#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Verify over HTTP: expects a 2xx answer. `{pod_ip}` or `{pod}` in the URL probe each new pod, e.g. http://{pod_ip}:8080/healthz; without them the URL is probed as is (a Service). Repeatable.
    #[arg(long, value_name = "URL", value_parser = UrlTemplate::parse, help_heading = "Gates")]
    pub verify_http: Vec<UrlTemplate>,
    /// A regular expression the --verify-http answer's body must match (one per --verify-http, in order; '' for none).
    #[arg(long, value_name = "REGEX", value_parser = parse_pattern, help_heading = "Gates")]
    pub expect_body: Vec<Option<BodyPattern>>,
    /// A JSON body to POST with --verify-http (a test inference), or @FILE (one per --verify-http, in order; '' for a GET).
    #[arg(long, value_name = "JSON|@FILE", value_parser = parse_body, help_heading = "Gates")]
    pub verify_http_body: Vec<Option<Vec<u8>>>,
    /// Verify with a shell command (sh -c), passing on exit 0. Its environment has ROLLOUT_NAMESPACE, ROLLOUT_DEPLOYMENT, ROLLOUT_STEP, ROLLOUT_NEW_PODS and ROLLOUT_NEW_POD_IPS (space-separated). Repeatable.
    #[arg(long = "verify", value_name = "CMD", help_heading = "Gates")]
    pub verify_command: Vec<String>,
    /// Verify with a Prometheus instant query; every sample must satisfy its --threshold. Repeatable.
    #[arg(long, value_name = "QUERY", help_heading = "Gates")]
    pub verify_prometheus: Vec<String>,
    /// The threshold of a --verify-prometheus query, e.g. '< 0.01' (operators <, <=, >, >=, ==, !=; one per query, in order).
    #[arg(long, value_name = "OP NUMBER", value_parser = Threshold::parse, allow_hyphen_values = true, help_heading = "Gates")]
    pub threshold: Vec<Threshold>,
    /// The Prometheus server --verify-prometheus queries, e.g. http://127.0.0.1:9090 (also ROLLOUT_PROMETHEUS_URL or the config file's prometheus-url).
    #[arg(long, value_name = "URL", value_parser = PrometheusUrl::parse, help_heading = "Gates")]
    pub prometheus_url: Option<PrometheusUrl>,
    /// Time from the start of one gate measurement to the start of the next.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse, help_heading = "Gates")]
    pub verify_interval: Duration,
    /// Passing measurements a gate needs.
    #[arg(long, default_value_t = 1, value_name = "N", help_heading = "Gates")]
    pub verify_count: u32,
    /// Failed measurements a gate tolerates; one more fails it.
    #[arg(long, default_value_t = 0, value_name = "N", help_heading = "Gates")]
    pub verify_max_failures: u32,
    /// Failed measurements in a row a gate tolerates; one more fails it [default: only --verify-max-failures counts].
    #[arg(long, value_name = "N", help_heading = "Gates")]
    pub verify_max_consecutive_failures: Option<u32>,
    /// Inconclusive measurements (no sample, NaN, no pod to probe) a gate tolerates; one more makes it inconclusive.
    #[arg(long, default_value_t = 0, value_name = "N", help_heading = "Gates")]
    pub verify_max_inconclusive: u32,
    /// The longest a gate may take to reach its verdict; then it fails if any measurement failed, else it is inconclusive.
    #[arg(long, default_value = "5m", value_parser = crate::duration::parse, help_heading = "Gates")]
    pub verify_timeout: Duration,
    /// What an inconclusive gate leads to: pause for a human, or fail.
    #[arg(long, value_enum, default_value_t = OnInconclusive::Pause, help_heading = "Gates")]
    pub on_inconclusive: OnInconclusive,
}

fn parse_pattern(s: &str) -> Result<Option<BodyPattern>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    BodyPattern::parse(s).map(Some)
}

/// `JSON` or `@FILE` (read now, so a missing file is a usage error before anything is
/// changed); empty for a GET.
fn parse_body(s: &str) -> Result<Option<Vec<u8>>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let bytes = match s.strip_prefix('@') {
        Some(file) => crate::input::read_file(Path::new(file), HTTP_BODY_LIMIT)
            .map_err(|e| format!("cannot read --verify-http-body file {}: {e}", shown(file)))?,
        None => s.as_bytes().to_vec(),
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .map_err(|e| format!("invalid --verify-http-body {}: not JSON ({e})", shown(s)))?;
    Ok(Some(bytes))
}

impl GateArgs {
    /// Whether any gate is asked for.
    pub fn any(&self) -> bool {
        !(self.verify_http.is_empty()
            && self.verify_command.is_empty()
            && self.verify_prometheus.is_empty())
    }

    /// The policy the flags give every gate.
    pub fn policy(&self) -> Policy {
        Policy {
            interval: self.verify_interval,
            count: self.verify_count,
            max_failures: self.verify_max_failures,
            max_consecutive_failures: self.verify_max_consecutive_failures,
            max_inconclusive: self.verify_max_inconclusive,
            timeout: self.verify_timeout,
            on_inconclusive: self.on_inconclusive,
        }
    }

    /// The gates, in the order: HTTP, command, Prometheus; or a one-line usage error.
    pub fn gates(&self) -> Result<Vec<Gate>, String> {
        let policy = self.policy();
        policy.check()?;
        let n = self.verify_http.len();
        for (flag, given) in [
            ("--expect-body", self.expect_body.len()),
            ("--verify-http-body", self.verify_http_body.len()),
        ] {
            if given != 0 && given != n {
                return Err(format!(
                    "{given} {flag} for {n} --verify-http: give one per --verify-http, in the same order ('' for none)"
                ));
            }
        }
        if self.threshold.len() != self.verify_prometheus.len() {
            return Err(format!(
                "{} --threshold for {} --verify-prometheus: give one threshold per query, in the same order",
                self.threshold.len(),
                self.verify_prometheus.len()
            ));
        }
        if !self.verify_prometheus.is_empty() && self.prometheus_url.is_none() {
            return Err(
                "--verify-prometheus needs --prometheus-url (or ROLLOUT_PROMETHEUS_URL)".into(),
            );
        }
        let mut gates = Vec::new();
        for (i, url) in self.verify_http.iter().enumerate() {
            let check = Check::Http {
                url: url.clone(),
                expect_body: self.expect_body.get(i).cloned().flatten(),
                body: self.verify_http_body.get(i).cloned().flatten(),
            };
            gates.push(Gate::new(check, policy.clone()));
        }
        for command in &self.verify_command {
            if command.trim().is_empty() {
                return Err("--verify needs a command".into());
            }
            let check = Check::Command {
                command: command.clone(),
            };
            gates.push(Gate::new(check, policy.clone()));
        }
        if let Some(server) = &self.prometheus_url {
            for (query, threshold) in self.verify_prometheus.iter().zip(&self.threshold) {
                if query.trim().is_empty() {
                    return Err("--verify-prometheus needs a query".into());
                }
                let check = Check::Prometheus {
                    server: server.clone(),
                    query: query.clone(),
                    threshold: *threshold,
                };
                gates.push(Gate::new(check, policy.clone()));
            }
        }
        Ok(gates)
    }
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
