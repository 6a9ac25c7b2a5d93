//! Open-loop HTTP load generator behind `rollout lab load`.
//!
//! [`run`] starts requests on a fixed schedule (one every `1/rps` seconds,
//! whether or not earlier ones have answered, so a stalled backend shows up as
//! latency and failures rather than as a slower client), stops by itself after
//! `duration` or when `cancel` resolves, waits for the requests in flight
//! (each bounded by its timeout) and returns a [`LoadReport`]. By default
//! every request opens a fresh connection so it passes through the Service
//! proxy's round-robin. Targets are loopback only; see [`Target`].

mod report;
mod target;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, interval_at, sleep_until};

pub use report::{
    FailureCause, Failures, Latency, LoadReport, Outcome, Tally, percentile, summarize,
};
pub use target::{Target, TargetError};

use crate::server::{POD_HEADER, VERSION_HEADER};

/// Highest request rate accepted.
pub const MAX_RPS: f64 = 10_000.0;
/// The lowest request rate: one request every 1000 s (a lower rate's interval would not fit
/// a `Duration`, and no run of at most a week would send a second request).
pub const MIN_RPS: f64 = 0.001;
/// Longest run accepted.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most requests one run may schedule.
pub const MAX_REQUESTS: f64 = 10_000_000.0;

/// HTTP method of the generated requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMethod {
    Get,
    Post,
}

impl FromStr for LoadMethod {
    type Err = LoadError;

    fn from_str(s: &str) -> Result<LoadMethod, LoadError> {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Ok(LoadMethod::Get),
            "POST" => Ok(LoadMethod::Post),
            _ => Err(LoadError::Method(s.to_string())),
        }
    }
}

/// What load to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    pub url: Target,
    /// Requests started per second ([`MIN_RPS`] <= rps <= [`MAX_RPS`]).
    pub rps: f64,
    /// How long to keep starting requests.
    pub duration: Duration,
    pub method: LoadMethod,
    /// Request body; sent as `application/json`.
    pub body: Option<Vec<u8>>,
    /// Limit for one request, connect to last body byte.
    pub timeout: Duration,
    /// Most requests in flight; scheduled requests beyond it are skipped.
    pub concurrency: usize,
    /// Open a new connection for every request (default true).
    pub fresh_connections: bool,
}

impl LoadSpec {
    /// 10 GETs per second for 10 s, 5 s timeout, at most 256 in flight.
    pub fn new(url: Target) -> LoadSpec {
        LoadSpec {
            url,
            rps: 10.0,
            duration: Duration::from_secs(10),
            method: LoadMethod::Get,
            body: None,
            timeout: Duration::from_secs(5),
            concurrency: 256,
            fresh_connections: true,
        }
    }

    fn planned_requests(&self) -> Result<u64, LoadError> {
        if !(MIN_RPS..=MAX_RPS).contains(&self.rps) {
            return Err(LoadError::Rate(self.rps));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(LoadError::Duration);
        }
        if self.timeout.is_zero() {
            return Err(LoadError::Timeout);
        }
        if self.concurrency == 0 {
            return Err(LoadError::Concurrency);
        }
        let planned = (self.rps * self.duration.as_secs_f64() - 1e-9).ceil();
        if planned > MAX_REQUESTS {
            return Err(LoadError::TooManyRequests(planned));
        }
        Ok(planned.max(1.0) as u64)
    }
}

/// A rate as a message shows it: plainly, or in exponent form when far from 1.
fn rate(r: f64) -> String {
    if r == 0.0 || (1e-3..1e6).contains(&r.abs()) {
        format!("{r}")
    } else {
        format!("{r:e}")
    }
}

/// A load spec that cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("load rate {} rps is out of range; use at least {MIN_RPS} and at most {MAX_RPS}", rate(*.0))]
    Rate(f64),
    #[error("load duration must be longer than zero and at most a week")]
    Duration,
    #[error("load request timeout must be longer than zero")]
    Timeout,
    #[error("load concurrency cap must be at least 1")]
    Concurrency,
    #[error("load run would send {0} requests; at most {MAX_REQUESTS} per run")]
    TooManyRequests(f64),
    #[error("load method {0:?} is not supported; use GET or POST")]
    Method(String),
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Generates the load described by `spec` until its duration ends or
/// `cancel` resolves, then waits for in-flight requests and reports.
pub async fn run(spec: LoadSpec, cancel: impl Future) -> Result<LoadReport, LoadError> {
    let planned = spec.planned_requests()?;
    let client = client(spec.fresh_connections);
    let template = Arc::new(RequestTemplate::new(&spec));
    let permits = Arc::new(Semaphore::new(spec.concurrency));
    let mut tally = Tally::default();
    let mut inflight = JoinSet::new();

    let start = tokio::time::Instant::now();
    let deadline = start + spec.duration;
    let mut ticker = interval_at(start, Duration::from_secs_f64(1.0 / spec.rps));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut cancel = std::pin::pin!(cancel);
    let mut end = std::pin::pin!(sleep_until(deadline));
    let mut scheduled = 0u64;

    // Ticks outrank the deadline so requests due before it are still sent
    // when a busy machine wakes the loop late.
    let stopped_at = loop {
        tokio::select! {
            biased;
            _ = &mut cancel => break tokio::time::Instant::now().min(deadline),
            _ = ticker.tick(), if scheduled < planned => {
                scheduled += 1;
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tally.sent();
                        let (client, template) = (client.clone(), template.clone());
                        let timeout = spec.timeout;
                        inflight.spawn(async move {
                            let outcome = one_request(&client, &template, timeout).await;
                            drop(permit);
                            outcome
                        });
                    }
                    Err(_) => tally.skipped(),
                }
            }
            () = &mut end => break deadline,
            Some(done) = inflight.join_next() => {
                tally.record(done.unwrap_or(Outcome::Failed(FailureCause::Other)));
            }
        }
    };
    while let Some(done) = inflight.join_next().await {
        tally.record(done.unwrap_or(Outcome::Failed(FailureCause::Other)));
    }
    Ok(tally.finish(spec.url.as_str(), spec.rps, stopped_at - start))
}

fn client(fresh_connections: bool) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let mut builder = Client::builder(TokioExecutor::new());
    if fresh_connections {
        builder.pool_max_idle_per_host(0);
    }
    builder.build(connector)
}

/// The parts every generated request shares.
#[derive(Debug)]
struct RequestTemplate {
    method: hyper::Method,
    uri: hyper::Uri,
    host: Option<HeaderValue>,
    body: Bytes,
    json_body: bool,
    close: bool,
}

impl RequestTemplate {
    fn new(spec: &LoadSpec) -> RequestTemplate {
        RequestTemplate {
            method: match spec.method {
                LoadMethod::Get => hyper::Method::GET,
                LoadMethod::Post => hyper::Method::POST,
            },
            uri: spec.url.connect_uri().clone(),
            host: HeaderValue::from_str(spec.url.host_header()).ok(),
            body: spec.body.clone().map(Bytes::from).unwrap_or_default(),
            json_body: spec.body.is_some(),
            close: spec.fresh_connections,
        }
    }

    fn build(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        if let Some(host) = &self.host {
            headers.insert(HOST, host.clone());
        }
        headers.insert(USER_AGENT, HeaderValue::from_static("rollout-lab-load"));
        if self.json_body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if self.close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        request
    }
}

async fn one_request(
    client: &HttpClient,
    template: &RequestTemplate,
    timeout: Duration,
) -> Outcome {
    let started = Instant::now();
    let exchange = async {
        let response = client
            .request(template.build())
            .await
            .map_err(|e| classify(&e))?;
        let (parts, body) = response.into_parts();
        body.collect().await.map_err(|e| classify(&e))?;
        Ok::<_, FailureCause>(Response::from_parts(parts, ()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Outcome::Failed(FailureCause::Timeout),
        Ok(Err(cause)) => Outcome::Failed(cause),
        Ok(Ok(response)) => {
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            Outcome::Response {
                status: response.status().as_u16(),
                version: header(VERSION_HEADER),
                pod: header(POD_HEADER),
                latency: started.elapsed(),
            }
        }
    }
}

/// Names the cause of a client error by walking its source chain.
fn classify(error: &(dyn std::error::Error + 'static)) -> FailureCause {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return FailureCause::ConnectRefused,
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return FailureCause::ConnectionReset;
                }
                TimedOut => return FailureCause::Timeout,
                _ => {}
            }
            // `io::Error::source` skips a wrapped error itself; look inside.
            if let Some(inner) = io.get_ref() {
                let cause = classify(inner);
                if cause != FailureCause::Other {
                    return cause;
                }
            }
        }
        if let Some(hyper_error) = e.downcast_ref::<hyper::Error>() {
            if hyper_error.is_incomplete_message() {
                return FailureCause::ConnectionReset;
            }
            if hyper_error.is_timeout() {
                return FailureCause::Timeout;
            }
        }
        current = e.source();
    }
    FailureCause::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LoadSpec {
        LoadSpec::new(Target::parse("http://127.0.0.1:1/").unwrap())
    }

    #[test]
    fn the_plan_is_rate_times_duration_rounded_up() {
        let mut s = spec();
        assert_eq!(s.planned_requests(), Ok(100));
        s.rps = 0.5;
        s.duration = Duration::from_secs(1);
        assert_eq!(s.planned_requests(), Ok(1));
        s.rps = 3.0;
        s.duration = Duration::from_millis(1500);
        assert_eq!(s.planned_requests(), Ok(5));
    }

    #[test]
    fn unrunnable_specs_are_rejected() {
        let bad = [
            LoadSpec { rps: 0.0, ..spec() },
            LoadSpec {
                rps: f64::NAN,
                ..spec()
            },
            LoadSpec { rps: 1e9, ..spec() },
            LoadSpec {
                duration: Duration::ZERO,
                ..spec()
            },
            LoadSpec {
                timeout: Duration::ZERO,
                ..spec()
            },
            LoadSpec {
                concurrency: 0,
                ..spec()
            },
            LoadSpec {
                rps: 1e-300,
                duration: Duration::MAX,
                ..spec()
            },
            // Its interval (1e300 s) would not fit a Duration.
            LoadSpec {
                rps: 1e-300,
                ..spec()
            },
            LoadSpec {
                rps: MAX_RPS,
                duration: Duration::from_secs(86_400),
                ..spec()
            },
        ];
        for s in bad {
            assert!(s.planned_requests().is_err(), "{s:?}");
        }
    }

    #[test]
    fn methods_parse_case_insensitively() {
        assert_eq!("get".parse(), Ok(LoadMethod::Get));
        assert_eq!("POST".parse(), Ok(LoadMethod::Post));
        assert!("DELETE".parse::<LoadMethod>().is_err());
    }

    #[test]
    fn io_errors_in_the_source_chain_name_the_cause() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&refused), FailureCause::ConnectRefused);
        let reset =
            std::io::Error::other(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(classify(&reset), FailureCause::ConnectionReset);
        let other = std::io::Error::other("strange");
        assert_eq!(classify(&other), FailureCause::Other);
    }
}
