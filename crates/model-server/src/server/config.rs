//! Reads the model server's settings from environment variables.
//!
//! Parsing is pure: [`Config::from_env`] takes a lookup function, so
//! production passes `std::env::var` and tests pass a map. Empty values count
//! as unset (a pod spec may carry `value: ""`); anything else that does not
//! parse is a [`ConfigError`] naming the variable and the offending value.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Settings of one model server process.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `MODEL_NAME`: served under `/v1/models/{name}` (default `model`).
    pub model_name: String,
    /// `VERSION`: reported in status JSON, predictions and `X-Model-Version`.
    pub version: String,
    /// `BIND_ADDRESS`, else `POD_IP`, else `0.0.0.0`; with `PORT` (default 8080).
    pub listen: SocketAddr,
    /// `POD_NAME`, else `HOSTNAME`, else `unknown`; sent as `X-Pod-Name`.
    pub pod_name: String,
    /// `LOAD_SECONDS`: simulated model load time before serving.
    pub load_time: Duration,
    /// `READY_FILE`: touched once the model is loaded.
    pub ready_file: Option<PathBuf>,
    /// `FAIL_AT_START`: exit with this code right after starting.
    pub fail_at_start: Option<i32>,
    /// `NEVER_READY`: the model never finishes loading.
    pub never_ready: bool,
    /// `ERROR_RATE`: fraction (0.0-1.0) of predict requests answered 500.
    pub error_rate: f64,
    /// `EXTRA_LATENCY_MS`: added to every predict request.
    pub extra_latency: Duration,
    /// `CRASH_AFTER_SECONDS`: exit 1 this long after starting.
    pub crash_after: Option<Duration>,
    /// `ALLOC_MB`: MiB allocated and touched at start.
    pub alloc_mib: u64,
}

/// A setting that could not be read from the environment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("environment variable {variable}={value:?} is invalid: {expected}")]
pub struct ConfigError {
    /// The variable's name, e.g. `PORT`.
    pub variable: &'static str,
    /// The value found.
    pub value: String,
    /// What a valid value looks like.
    pub expected: &'static str,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            model_name: "model".to_string(),
            version: "v1".to_string(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080),
            pod_name: "unknown".to_string(),
            load_time: Duration::ZERO,
            ready_file: None,
            fail_at_start: None,
            never_ready: false,
            error_rate: 0.0,
            extra_latency: Duration::ZERO,
            crash_after: None,
            alloc_mib: 0,
        }
    }
}

impl Config {
    /// Builds a config from `vars`, a lookup such as `|k| std::env::var(k).ok()`.
    pub fn from_env(vars: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(vars);
        let defaults = Config::default();
        let port = env.parse("PORT", "a port number 0-65535", |v| v.parse::<u16>().ok())?;
        let ip = match env.parse("BIND_ADDRESS", "an IP address", parse_ip)? {
            Some(ip) => Some(ip),
            None => env.parse("POD_IP", "an IP address", parse_ip)?,
        };
        Ok(Config {
            model_name: env
                .parse("MODEL_NAME", NAME_RULE, model_name)?
                .unwrap_or(defaults.model_name),
            version: env
                .parse("VERSION", HEADER_RULE, header_safe)?
                .unwrap_or(defaults.version),
            listen: SocketAddr::new(
                ip.unwrap_or(defaults.listen.ip()),
                port.unwrap_or(defaults.listen.port()),
            ),
            pod_name: match env.parse("POD_NAME", HEADER_RULE, header_safe)? {
                Some(name) => name,
                None => env
                    .parse("HOSTNAME", HEADER_RULE, header_safe)?
                    .unwrap_or(defaults.pod_name),
            },
            load_time: env
                .parse("LOAD_SECONDS", SECONDS_RULE, seconds)?
                .unwrap_or_default(),
            ready_file: env.get("READY_FILE").map(PathBuf::from),
            fail_at_start: env.parse("FAIL_AT_START", "an exit code 0-255", exit_code)?,
            never_ready: env
                .parse("NEVER_READY", "true or false", boolean)?
                .unwrap_or(false),
            error_rate: env
                .parse("ERROR_RATE", "a fraction from 0.0 to 1.0", fraction)?
                .unwrap_or(0.0),
            extra_latency: env
                .parse("EXTRA_LATENCY_MS", "whole milliseconds", |v| {
                    v.parse::<u64>().ok().map(Duration::from_millis)
                })?
                .unwrap_or_default(),
            crash_after: env.parse("CRASH_AFTER_SECONDS", SECONDS_RULE, seconds)?,
            alloc_mib: env
                .parse("ALLOC_MB", "whole MiB up to 1048576", |v| {
                    v.parse::<u64>().ok().filter(|mib| *mib <= 1 << 20)
                })?
                .unwrap_or(0),
        })
    }
}

const NAME_RULE: &str = "a non-empty name without '/', ':', '?', '#' or whitespace";
const HEADER_RULE: &str = "printable ASCII without control characters";
const SECONDS_RULE: &str = "a non-negative number of seconds";

/// The lookup plus helpers that turn a bad value into a [`ConfigError`].
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, variable: &str) -> Option<String> {
        (self.0)(variable)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn parse<T>(
        &self,
        variable: &'static str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(variable) {
            None => Ok(None),
            Some(value) => match parse(&value) {
                Some(parsed) => Ok(Some(parsed)),
                None => Err(ConfigError {
                    variable,
                    value,
                    expected,
                }),
            },
        }
    }
}

fn parse_ip(value: &str) -> Option<IpAddr> {
    value.parse().ok()
}

fn model_name(value: &str) -> Option<String> {
    let bad = |c: char| matches!(c, '/' | ':' | '?' | '#') || c.is_whitespace();
    (!value.contains(bad) && header_safe(value).is_some()).then(|| value.to_string())
}

fn header_safe(value: &str) -> Option<String> {
    value
        .chars()
        .all(|c| c.is_ascii_graphic() || c == ' ')
        .then(|| value.to_string())
}

fn seconds(value: &str) -> Option<Duration> {
    let secs: f64 = value.parse().ok()?;
    if secs < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

fn exit_code(value: &str) -> Option<i32> {
    value.parse::<i32>().ok().filter(|c| (0..=255).contains(c))
}

fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn fraction(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(|k| map.get(k).cloned())
    }

    fn rejects(variable: &str, value: &str) {
        let err = parse(&[(variable, value)]).expect_err("value should be rejected");
        assert_eq!(err.variable, variable);
        assert_eq!(err.value, value.trim());
        let message = err.to_string();
        assert!(message.contains(variable), "{message}");
    }

    #[test]
    fn an_empty_environment_gives_the_defaults() {
        assert_eq!(parse(&[]).unwrap(), Config::default());
        assert_eq!(
            Config::default().listen,
            "0.0.0.0:8080".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn every_knob_is_read_from_its_variable() {
        let config = parse(&[
            ("MODEL_NAME", "classifier"),
            ("VERSION", "v2-green"),
            ("PORT", "9000"),
            ("POD_IP", "127.1.0.7"),
            ("POD_NAME", "inference-7d9f-abcde"),
            ("LOAD_SECONDS", "2.5"),
            ("READY_FILE", "/tmp/ready"),
            ("FAIL_AT_START", "3"),
            ("NEVER_READY", "true"),
            ("ERROR_RATE", "0.25"),
            ("EXTRA_LATENCY_MS", "150"),
            ("CRASH_AFTER_SECONDS", "10"),
            ("ALLOC_MB", "64"),
        ])
        .unwrap();
        assert_eq!(
            config,
            Config {
                model_name: "classifier".into(),
                version: "v2-green".into(),
                listen: "127.1.0.7:9000".parse().unwrap(),
                pod_name: "inference-7d9f-abcde".into(),
                load_time: Duration::from_millis(2500),
                ready_file: Some(PathBuf::from("/tmp/ready")),
                fail_at_start: Some(3),
                never_ready: true,
                error_rate: 0.25,
                extra_latency: Duration::from_millis(150),
                crash_after: Some(Duration::from_secs(10)),
                alloc_mib: 64,
            }
        );
    }

    #[test]
    fn bind_address_wins_over_pod_ip() {
        let config = parse(&[("POD_IP", "127.1.0.7"), ("BIND_ADDRESS", "127.0.0.1")]).unwrap();
        assert_eq!(config.listen.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn hostname_is_the_pod_name_when_pod_name_is_unset() {
        let config = parse(&[("HOSTNAME", "box")]).unwrap();
        assert_eq!(config.pod_name, "box");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let config = parse(&[("PORT", ""), ("READY_FILE", "  "), ("VERSION", "")]).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn never_ready_accepts_common_spellings_of_booleans() {
        for (value, expected) in [("TRUE", true), ("1", true), ("no", false), ("off", false)] {
            assert_eq!(
                parse(&[("NEVER_READY", value)]).unwrap().never_ready,
                expected
            );
        }
    }

    #[test]
    fn bad_values_are_rejected_naming_the_variable_and_value() {
        rejects("PORT", "http");
        rejects("PORT", "70000");
        rejects("POD_IP", "pod-7");
        rejects("BIND_ADDRESS", "127.1");
        rejects("MODEL_NAME", "a/b");
        rejects("MODEL_NAME", "a:predict");
        rejects("VERSION", "v1\u{7}");
        rejects("POD_NAME", "p\u{e9}");
        rejects("LOAD_SECONDS", "-1");
        rejects("LOAD_SECONDS", "soon");
        rejects("LOAD_SECONDS", "NaN");
        rejects("LOAD_SECONDS", "1e300");
        rejects("FAIL_AT_START", "256");
        rejects("FAIL_AT_START", "-1");
        rejects("NEVER_READY", "maybe");
        rejects("ERROR_RATE", "1.5");
        rejects("ERROR_RATE", "-0.1");
        rejects("ERROR_RATE", "NaN");
        rejects("EXTRA_LATENCY_MS", "1.5");
        rejects("CRASH_AFTER_SECONDS", "inf");
        rejects("ALLOC_MB", "lots");
        rejects("ALLOC_MB", "2000000");
    }

    #[test]
    fn the_error_message_speaks_about_the_environment() {
        let err = parse(&[("PORT", "http")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable PORT=\"http\" is invalid: a port number 0-65535"
        );
    }
}
