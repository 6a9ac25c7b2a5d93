//! Rule 6, a readiness probe that keeps failing, and the probe rendered as `kubectl describe`
//! prints it.
//!
//! Readiness never kills a container, so nothing in the pod's status turns terminal: the only
//! record of "the probe ran and failed" is the kubelet's `Unhealthy` Warning event,
//! `Readiness probe failed: <output>` (`pkg/kubelet/prober/prober.go`), deduplicated by the
//! event recorder into one event with a growing `count`. The rule fires when, for one running,
//! not-ready container with a readiness probe:
//!
//! - those events add up to at least `failureThreshold + th.probe_failures` (the probe's own
//!   threshold plus the extra failures `--probe-failures` asks for; 0 read as 1), and
//! - the container has been running for at least `initialDelaySeconds + periodSeconds ×
//!   (failureThreshold + th.probe_failures)` (API defaults 0, 10, 3): past the budget its
//!   author gave the probe, by `--probe-failures` more periods, so a container that becomes
//!   ready right at the edge of its budget (the seed's v1 loads in 3 s against 1 s + 3 × 1 s)
//!   is never mistaken for a failure.
//!
//! The seed's bad v3 (`exec [cat /tmp/ready]`, the file never written, period 1 s) fails every
//! period from the first, so it is caught about seven seconds after it starts. A model that loads for
//! longer than the probe's budget without a startupProbe looks the same; the hint says so.

use k8s_openapi::api::core::v1::{Event, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::rules::{times, who};
use super::text::{
    EVIDENCE_EVENTS, event_count, event_evidence, event_first, event_last, one_line, pod_name,
};
use super::{Ctx, Diagnosis, FailureClass};

const PREFIX: &str = "Readiness probe failed";

/// API-server defaults of a probe (`SetDefaults_Probe`): delay, timeout, period, success,
/// failure.
fn timing(p: &Probe) -> [i32; 5] {
    [
        p.initial_delay_seconds.unwrap_or(0),
        p.timeout_seconds.unwrap_or(1),
        p.period_seconds.unwrap_or(10),
        p.success_threshold.unwrap_or(1),
        p.failure_threshold.unwrap_or(3),
    ]
}

fn port(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// `net.JoinHostPort`: brackets around an IPv6 host.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The probe as kubectl describe prints it (`DescribeProbe` in kubectl's describe.go), e.g.
/// `exec [cat /tmp/ready] delay=0s timeout=1s period=1s #success=1 #failure=3` or
/// `http-get http://:8501/v1/models/classifier delay=5s timeout=1s period=5s #success=1
/// #failure=3`, with the API server's defaults filled in for unset fields.
pub(super) fn describe_probe(p: &Probe) -> String {
    let [delay, timeout, period, success, failure] = timing(p);
    let attrs = format!(
        "delay={delay}s timeout={timeout}s period={period}s #success={success} #failure={failure}"
    );
    if let Some(exec) = &p.exec {
        let cmd = exec.command.as_deref().unwrap_or_default().join(" ");
        return format!("exec [{cmd}] {attrs}");
    }
    if let Some(h) = &p.http_get {
        let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_lowercase();
        let host = h.host.as_deref().unwrap_or("");
        let port = port(&h.port);
        let authority = if port.is_empty() {
            host.to_string()
        } else {
            join_host_port(host, &port)
        };
        let path = h.path.as_deref().unwrap_or("");
        let sep = if path.is_empty() || path.starts_with('/') {
            ""
        } else {
            "/"
        };
        return format!("http-get {scheme}://{authority}{sep}{path} {attrs}");
    }
    if let Some(t) = &p.tcp_socket {
        let host = t.host.as_deref().unwrap_or("");
        return format!("tcp-socket {host}:{} {attrs}", port(&t.port));
    }
    if let Some(g) = &p.grpc {
        let service = g.service.as_deref().unwrap_or("");
        return format!("grpc <pod>:{} {service} {attrs}", g.port);
    }
    format!("unknown {attrs}")
}

/// The time the `threshold`-th failure happened, estimated from deduplicated events (oldest
/// first): exact when it is the last occurrence of an event, otherwise interpolated one probe
/// period per occurrence from that event's first occurrence.
fn crossing(events: &[&Event], threshold: u64, period: i64) -> Option<Timestamp> {
    let mut seen = 0u64;
    for e in events {
        let n = event_count(e);
        if seen + n >= threshold {
            let nth = threshold.saturating_sub(seen).max(1);
            let last = event_last(e);
            if nth == n {
                return last;
            }
            let steps = i64::try_from(nth - 1).unwrap_or(i64::MAX);
            let guess = event_first(e)?
                .checked_add(SignedDuration::from_secs(steps.saturating_mul(period)))
                .ok()?;
            return Some(last.map_or(guess, |l| guess.min(l)));
        }
        seen += n;
    }
    None
}

/// Rule 6: a running container's readiness probe keeps failing past the probe's own budget.
pub(super) fn readiness_failing(ctx: &Ctx<'_>) -> Option<Diagnosis> {
    let extra = ctx.th.probe_failures.max(1);
    // The pods and the ReplicaSets come from separate watches, so the pod cache can lag: when
    // the new ReplicaSet already counts every one of its pods ready, a pod the snapshot still
    // shows not ready has passed its probe since, and is no failure (rolling back a healthy
    // release on a stale read is the worst mistake this rule could make).
    if let Some(st) = ctx.new_rs.and_then(|rs| rs.status.as_ref()) {
        let ready = st.ready_replicas.unwrap_or(0);
        if ready > 0 && ready >= st.replicas {
            return None;
        }
    }
    ctx.scan.iter().find_map(|pod| {
        let spec = pod.spec.as_ref()?;
        let status = pod.status.as_ref()?;
        spec.containers.iter().find_map(|c| {
            let probe = c.readiness_probe.as_ref()?;
            let cs = status
                .container_statuses
                .iter()
                .flatten()
                .find(|cs| cs.name == c.name && !cs.ready)?;
            let running = cs.state.as_ref()?.running.as_ref()?;
            let started = running
                .started_at
                .as_ref()
                .or(status.start_time.as_ref())
                .map(|t| t.0);
            let [delay, _, period, _, failure] = timing(probe);
            let threshold = u64::try_from(failure.max(1)).unwrap_or(3) + u64::from(extra);
            let budget =
                i64::from(delay) + i64::from(period) * i64::try_from(threshold).unwrap_or(i64::MAX);
            let budget_end =
                started.and_then(|s| s.checked_add(SignedDuration::from_secs(budget)).ok());
            if budget_end.is_some_and(|end| ctx.now < end) {
                return None;
            }
            let field = format!("spec.containers{{{}}}", c.name);
            let failures: Vec<&Event> = ctx
                .pod_events(pod)
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("Unhealthy"))
                .filter(|e| e.message.as_deref().is_some_and(|m| m.starts_with(PREFIX)))
                .filter(|e| {
                    e.involved_object
                        .field_path
                        .as_deref()
                        .is_none_or(|f| f == field)
                })
                .collect();
            let total: u64 = failures.iter().map(|e| event_count(e)).sum();
            if total < threshold {
                return None;
            }
            let last = failures.iter().max_by_key(|e| event_last(e))?;
            let message = one_line(last.message.as_deref().unwrap_or(""));
            let output = message
                .strip_prefix(PREFIX)
                .map(|m| m.trim_start_matches(':').trim())
                .unwrap_or(&message)
                .to_string();
            let mut by_first = failures.clone();
            by_first.sort_by_key(|e| event_first(e));
            let crossed = crossing(&by_first, threshold, i64::from(period));
            let mut d = Diagnosis::new(
                FailureClass::ReadinessProbeFailing,
                "Unhealthy",
                format!(
                    "readiness probe of {} failed {}: {output}",
                    who(pod, &c.name),
                    times(i64::try_from(total).unwrap_or(i64::MAX))
                ),
            );
            d.pod = Some(pod_name(pod).to_string());
            d.container = Some(c.name.clone());
            d.first_seen = match (crossed, budget_end) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            d.hint = Some(format!(
                "if the model is still loading, give the container a startupProbe (readiness is \
                 not probed until it passes) or raise --probe-failures; otherwise see \
                 kubectl describe pod {}{}",
                pod_name(pod),
                ctx.ns_flag()
            ));
            d.evidence = vec![
                format!("readiness probe: {}", describe_probe(probe)),
                format!("last failure: {output}"),
            ];
            if let Some(s) = started {
                let secs = ctx.now.duration_since(s).as_secs().max(0);
                d.evidence.push(format!(
                    "running for {secs}s, not ready (probe budget {budget}s)"
                ));
            }
            d.evidence
                .extend(event_evidence(ctx.snap, pod, EVIDENCE_EVENTS));
            Some(d)
        })
    })
}
