//! What a gate checks and how long it keeps checking: its kind (an HTTP probe, a shell
//! command, a Prometheus query held to a threshold) and its policy (interval, passes needed,
//! failures tolerated, timeout, what an inconclusive result leads to). Pure data and the
//! parsers of its textual forms; every parser error is one line that says what to write.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::text::shown;

/// A comparison operator of a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    /// The operators, longest spelling first so that `<=` is not read as `<` then `=`.
    const ALL: [(&'static str, Op); 6] = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// What a measured value must satisfy to pass, e.g. `< 0.01`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    pub op: Op,
    pub value: f64,
}

impl Threshold {
    /// Parses `OP NUMBER` (`< 0.01`, `>=0.99`, `== 0`); the number is finite.
    pub fn parse(s: &str) -> Result<Threshold, String> {
        let bad = || {
            format!(
                "invalid threshold {}: write an operator (<, <=, >, >=, ==, !=) and a number, e.g. '< 0.01'",
                shown(s)
            )
        };
        let t = s.trim();
        let (op, rest) = Op::ALL
            .iter()
            .find_map(|(sym, op)| t.strip_prefix(sym).map(|rest| (*op, rest)))
            .ok_or_else(bad)?;
        let value: f64 = rest.trim().parse().map_err(|_| bad())?;
        if !value.is_finite() {
            return Err(bad());
        }
        Ok(Threshold { op, value })
    }

    /// Whether `v` passes. NaN never does (callers treat NaN as inconclusive first).
    pub fn holds(&self, v: f64) -> bool {
        match self.op {
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
            Op::Eq => v == self.value,
            Op::Ne => v != self.value && !v.is_nan(),
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.value)
    }
}

/// `--expect-body`: a regular expression the response body must match (anywhere).
#[derive(Debug, Clone)]
pub struct BodyPattern(pub regex::Regex);

impl BodyPattern {
    pub fn parse(s: &str) -> Result<BodyPattern, String> {
        regex::RegexBuilder::new(s)
            .size_limit(1 << 20)
            .build()
            .map(BodyPattern)
            .map_err(|e| {
                let why = e.to_string();
                let last = why.lines().last().unwrap_or("invalid").trim().to_string();
                format!("invalid --expect-body regex {}: {last}", shown(s))
            })
    }
}

impl PartialEq for BodyPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// The placeholders an HTTP gate's URL may hold.
pub const POD_IP: &str = "{pod_ip}";
pub const POD: &str = "{pod}";

/// An HTTP gate's URL, as given: with `{pod_ip}` or `{pod}` it is probed once per new pod,
/// else once as it is (a Service, an ingress).
#[derive(Debug, Clone, PartialEq)]
pub struct UrlTemplate(pub String);

impl UrlTemplate {
    /// Checks that the URL is absolute `http://` or `https://` with a host once its
    /// placeholders are filled, and holds no other `{...}`.
    pub fn parse(s: &str) -> Result<UrlTemplate, String> {
        let hint = "write http[s]://HOST[:PORT]/PATH, where HOST may be {pod_ip}";
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let tail = &rest[open..];
            let end = tail.find('}').map_or(tail.len(), |i| i + 1);
            let word = &tail[..end];
            if word != POD_IP && word != POD {
                return Err(format!(
                    "invalid --verify-http URL {}: unknown placeholder {}; use {POD_IP} or {POD}",
                    shown(s),
                    shown(word)
                ));
            }
            rest = &tail[end..];
        }
        let filled = s.replace(POD_IP, "10.0.0.1").replace(POD, "pod-0");
        check_http_url(&filled)
            .map_err(|why| format!("invalid --verify-http URL {}: {why}; {hint}", shown(s)))?;
        Ok(UrlTemplate(s.to_string()))
    }

    /// Whether the URL names each new pod (one probe per pod).
    pub fn per_pod(&self) -> bool {
        self.0.contains(POD_IP) || self.0.contains(POD)
    }

    /// The URL for one pod.
    pub fn fill(&self, pod: &str, ip: &str) -> String {
        self.0.replace(POD_IP, ip).replace(POD, pod)
    }
}

/// Why `s` is not an absolute `http://` or `https://` URL with a host, if it is not.
pub fn check_http_url(s: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = s.parse().map_err(|_| "not a URL".to_string())?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("unsupported scheme {}", shown(other))),
        None => return Err("no scheme".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    Ok(uri)
}

/// `--prometheus-url`: the server's base URL (a path prefix such as `/prometheus` is
/// kept); the query API is under it.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusUrl(pub String);

impl PrometheusUrl {
    pub fn parse(s: &str) -> Result<PrometheusUrl, String> {
        let uri = check_http_url(s).map_err(|why| {
            format!(
                "invalid --prometheus-url {}: {why}; e.g. http://127.0.0.1:9090",
                shown(s)
            )
        })?;
        if uri.query().is_some() {
            return Err(format!(
                "invalid --prometheus-url {}: give the server's base URL, without a query",
                shown(s)
            ));
        }
        Ok(PrometheusUrl(s.trim_end_matches('/').to_string()))
    }

    /// The instant-query URL for `query`.
    pub fn query_url(&self, query: &str) -> String {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", query)
            .finish();
        format!("{}/api/v1/query?{q}", self.0)
    }
}

/// What one gate checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// `--verify-http`: 2xx, and the body matching `expect_body` when given; POST with
    /// `body` when given, else GET.
    Http {
        url: UrlTemplate,
        expect_body: Option<BodyPattern>,
        body: Option<Vec<u8>>,
    },
    /// `--verify`: `sh -c COMMAND` exits 0.
    Command { command: String },
    /// `--verify-prometheus`: every sample of the instant query satisfies the threshold.
    Prometheus {
        server: PrometheusUrl,
        query: String,
        threshold: Threshold,
    },
}

/// What an inconclusive gate leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OnInconclusive {
    /// Stop and wait for a human (the rollout pauses).
    Pause,
    /// Count it as a failure (the failure policy applies).
    Fail,
}

/// How a gate measures and decides. Counts are of rounds: one round measures every target
/// once (each new pod for a per-pod URL) and fails when any target fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// From the start of one round to the start of the next.
    pub interval: Duration,
    /// Passing rounds needed to pass.
    pub count: u32,
    /// Failed rounds tolerated; one more fails the gate.
    pub max_failures: u32,
    /// Failed rounds in a row tolerated; one more fails the gate. `None`: only the total
    /// counts.
    pub max_consecutive_failures: Option<u32>,
    /// Inconclusive rounds tolerated; one more makes the gate inconclusive.
    pub max_inconclusive: u32,
    /// From the gate's start to its verdict at the latest.
    pub timeout: Duration,
    pub on_inconclusive: OnInconclusive,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            interval: Duration::from_secs(10),
            count: 1,
            max_failures: 0,
            max_consecutive_failures: None,
            max_inconclusive: 0,
            timeout: Duration::from_secs(300),
            on_inconclusive: OnInconclusive::Pause,
        }
    }
}

impl Policy {
    /// Refuses a policy that could never pass: no pass asked for, or a timeout shorter
    /// than the intervals between the passes asked for.
    pub fn check(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err(
                "invalid --verify-count 0: a gate needs at least one passing measurement".into(),
            );
        }
        if self.timeout.is_zero() {
            return Err("invalid --verify-timeout 0: a gate needs time to measure".into());
        }
        let least = self.interval.saturating_mul(self.count - 1);
        if self.timeout < least {
            return Err(format!(
                "--verify-timeout {} is shorter than the {} that --verify-count {} at --verify-interval {} takes",
                humantime::format_duration(self.timeout),
                humantime::format_duration(least),
                self.count,
                humantime::format_duration(self.interval),
            ));
        }
        Ok(())
    }
}

/// One gate: what it checks, named for output, with its policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// How the gate is shown and recorded: its flag and argument.
    pub name: String,
    pub check: Check,
    pub policy: Policy,
}

impl Gate {
    pub fn new(check: Check, policy: Policy) -> Gate {
        let name = match &check {
            Check::Http { url, .. } => format!("http {}", url.0),
            Check::Command { command } => format!("command {command}"),
            Check::Prometheus {
                query, threshold, ..
            } => format!("prometheus {query} {threshold}"),
        };
        Gate {
            name,
            check,
            policy,
        }
    }

    /// What a measurement is held to, as shown next to its value.
    pub fn threshold(&self) -> String {
        match &self.check {
            Check::Http { expect_body, .. } => match expect_body {
                Some(p) => format!("2xx, body ~ /{}/", p.0.as_str()),
                None => "2xx".into(),
            },
            Check::Command { .. } => "exit 0".into(),
            Check::Prometheus { threshold, .. } => threshold.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_with_or_without_spaces_and_hold_as_written() {
        let cases = [
            ("< 0.01", 0.005, true),
            ("< 0.01", 0.01, false),
            ("<=0.01", 0.01, true),
            (">  5", 5.0, false),
            (">= 5", 5.0, true),
            ("== 0", 0.0, true),
            ("!= 0", 0.0, false),
            ("!= 0", 1.0, true),
            ("< 1e-3", 0.0001, true),
        ];
        for (text, v, holds) in cases {
            let t = Threshold::parse(text).expect(text);
            assert_eq!(t.holds(v), holds, "{text} against {v}");
        }
    }

    #[test]
    fn nan_satisfies_no_threshold() {
        for text in ["< 1", "> 1", "!= 1", "== 1", "<= 1", ">= 1"] {
            let t = Threshold::parse(text).expect(text);
            assert!(!t.holds(f64::NAN), "{text}");
        }
    }

    #[test]
    fn bad_thresholds_are_refused_in_one_line_with_an_example() {
        for text in ["0.01", "< abc", "=< 1", "", "< inf", "< NaN", "~ 1"] {
            let e = Threshold::parse(text).expect_err(text);
            assert!(e.contains("e.g. '< 0.01'") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_threshold_reads_back_the_same_when_shown() {
        let t = Threshold::parse("<=   0.25").expect("parses");
        assert_eq!(t.to_string(), "<= 0.25");
        assert_eq!(Threshold::parse(&t.to_string()), Ok(t));
    }

    #[test]
    fn urls_with_placeholders_probe_each_pod_and_others_probe_once() {
        let per_pod = UrlTemplate::parse("http://{pod_ip}:8080/healthz").expect("parses");
        assert!(per_pod.per_pod());
        assert_eq!(
            per_pod.fill("web-1", "127.42.0.3"),
            "http://127.42.0.3:8080/healthz"
        );
        let service = UrlTemplate::parse("http://web.default.svc:80/").expect("parses");
        assert!(!service.per_pod());
    }

    #[test]
    fn urls_without_host_or_with_unknown_placeholders_are_refused() {
        let cases = [
            ("ftp://x/", "unsupported scheme"),
            ("/healthz", "no scheme"),
            ("http://{podip}:80/", "unknown placeholder"),
            ("not a url", "not a URL"),
        ];
        for (url, why) in cases {
            let e = UrlTemplate::parse(url).expect_err(url);
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn the_prometheus_query_url_keeps_a_path_prefix_and_encodes_the_query() {
        let p = PrometheusUrl::parse("http://127.0.0.1:9090/prom/").expect("parses");
        assert_eq!(
            p.query_url("sum(rate(x{a=\"b\"}[1m])) > 0"),
            "http://127.0.0.1:9090/prom/api/v1/query?query=sum%28rate%28x%7Ba%3D%22b%22%7D%5B1m%5D%29%29+%3E+0"
        );
    }

    #[test]
    fn a_policy_that_could_never_pass_is_refused() {
        let p = Policy {
            interval: Duration::from_secs(10),
            count: 5,
            timeout: Duration::from_secs(30),
            ..Policy::default()
        };
        assert!(p.check().is_err_and(|e| e.contains("40s")));
        let zero = Policy {
            count: 0,
            ..Policy::default()
        };
        assert!(zero.check().is_err());
        assert_eq!(Policy::default().check(), Ok(()));
    }

    #[test]
    fn bad_regexes_are_refused_in_one_line() {
        let e = BodyPattern::parse("(unclosed").expect_err("refused");
        assert!(
            e.starts_with("invalid --expect-body regex") && !e.contains('\n'),
            "{e}"
        );
    }
}
