//! Rule 6: readiness probes that keep failing, and the probe as kubectl describe renders it.

use k8s_openapi::api::core::v1::{GRPCAction, HTTPGetAction, TCPSocketAction};

use super::*;
use crate::engine::diagnose::FailureClass;
use crate::engine::diagnose::probe::describe_probe;

const NO_FILE: &str = "Readiness probe failed: cat: /tmp/ready: No such file or directory\n";

/// The seed's bad v3: running since `started`, never ready, `count` probe failures so far.
fn bad_v3(started: i64, count: i32) -> Snapshot {
    let p = new_pod().running(started, false);
    let uid = p.uid();
    let last = started + i64::from(count) - 1;
    with(
        v3(),
        vec![p.build()],
        vec![event(
            &uid,
            "Warning",
            "Unhealthy",
            NO_FILE,
            count,
            started,
            last,
        )],
    )
}

#[test]
fn the_seeds_bad_v3_is_caught_within_a_few_probe_periods() {
    // Started at 95, failures at 95..100; the probe's own threshold (3) plus the default
    // --probe-failures (3) is 6 failures, and that budget (0 + 1 x 6) ends at 101.
    let d = diagnose(&bad_v3(95, 6), &Thresholds::default(), t(101)).unwrap();
    assert_eq!(d.class, FailureClass::ReadinessProbeFailing);
    assert_eq!(d.reason, "Unhealthy");
    assert_eq!(
        d.summary,
        format!(
            "readiness probe of container \"server\" in pod \"{POD}\" failed 6 times: \
             cat: /tmp/ready: No such file or directory"
        )
    );
    assert_eq!(d.pod.as_deref(), Some(POD));
    assert_eq!(d.container.as_deref(), Some("server"));
    assert_eq!(
        d.evidence[0],
        "readiness probe: exec [cat /tmp/ready] delay=0s timeout=1s period=1s #success=1 #failure=3"
    );
    assert_eq!(
        d.evidence[1],
        "last failure: cat: /tmp/ready: No such file or directory"
    );
    assert!(d.evidence.contains(
        &"event: Unhealthy: Readiness probe failed: cat: /tmp/ready: No such file or directory (x6)"
            .to_string()
    ));
    // Decisive at the later of the sixth failure (100) and the end of the budget (101).
    assert_eq!(d.first_seen, Some(t(101)));
    assert!(!d.wants_logs);
}

#[test]
fn readiness_failures_below_the_threshold_or_inside_the_probe_budget_are_not_decisive() {
    // (started, failures, --probe-failures, now, fires); the probe's failureThreshold is 3,
    // so a rollout fails after 3 + --probe-failures failures and as many periods.
    let cases = [
        (90, 5, 3, 100, false),
        (90, 6, 3, 100, true),
        (90, 6, 5, 100, false),
        (90, 4, 1, 100, true),
        (90, 4, 0, 100, true),
        (95, 6, 3, 100, false), // running 5s, the budget is 6s
        (94, 6, 3, 100, true),  // exactly at the budget
    ];
    for (started, count, threshold, at, fires) in cases {
        // One failure reads "failed 1 time".
        let plural = if count == 1 { "time" } else { "times" };
        let th = Thresholds {
            probe_failures: threshold,
            ..Thresholds::default()
        };
        let got = diagnose(&bad_v3(started, count), &th, t(at));
        assert_eq!(
            got.is_some(),
            fires,
            "started {started}, {count} failures, threshold {threshold}: {got:?}"
        );
        if let Some(d) = got {
            assert!(
                d.summary
                    .contains(&format!("failed {count} {plural}: cat: ")),
                "{}",
                d.summary
            );
        }
    }
}

fn tf_serving_probe() -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/v1/models/classifier".into()),
            port: IntOrString::Int(8501),
            ..Default::default()
        }),
        initial_delay_seconds: Some(5),
        period_seconds: Some(5),
        failure_threshold: Some(3),
        ..Default::default()
    }
}

#[test]
fn failures_spread_over_several_deduplicated_events_add_up() {
    let p = new_pod()
        .container(|c| c.readiness_probe = Some(tf_serving_probe()))
        .running(50, false);
    let uid = p.uid();
    let refused = "Readiness probe failed: Get \"http://10.244.0.12:8501/v1/models/classifier\": \
                   dial tcp 10.244.0.12:8501: connect: connection refused";
    let snap = with(
        v3(),
        vec![p.build()],
        vec![
            event(&uid, "Warning", "Unhealthy", refused, 3, 55, 65),
            event(
                &uid,
                "Warning",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
                3,
                70,
                80,
            ),
        ],
    );
    let d = run(&snap).unwrap();
    assert_eq!(
        d.summary,
        format!(
            "readiness probe of container \"server\" in pod \"{POD}\" failed 6 times: \
             HTTP probe failed with statuscode: 503"
        )
    );
    assert_eq!(
        d.evidence[0],
        "readiness probe: http-get http://:8501/v1/models/classifier delay=5s timeout=1s \
         period=5s #success=1 #failure=3"
    );
    // The sixth failure is the last of the second event (80); the budget (5 + 5 x 6) ended
    // at 85.
    assert_eq!(d.first_seen, Some(t(85)));
}

#[test]
fn other_probes_other_containers_and_ready_containers_do_not_count() {
    let liveness = "Liveness probe failed: HTTP probe failed with statuscode: 500";
    let other = {
        let mut e = event("uid-x", "Warning", "Unhealthy", NO_FILE, 5, 20, 60);
        e.involved_object.field_path = Some("spec.containers{sidecar}".into());
        e
    };
    let cases: Vec<(&str, PodB, Vec<Event>)> = vec![
        (
            "liveness failures",
            new_pod().running(20, false),
            vec![event(
                &format!("uid-{POD}"),
                "Warning",
                "Unhealthy",
                liveness,
                5,
                20,
                60,
            )],
        ),
        (
            "another container's failures",
            new_pod().running(20, false),
            vec![{
                let mut e = other.clone();
                e.involved_object.uid = Some(format!("uid-{POD}"));
                e
            }],
        ),
        (
            "a container that became ready",
            new_pod().running(20, true),
            vec![event(
                &format!("uid-{POD}"),
                "Warning",
                "Unhealthy",
                NO_FILE,
                5,
                20,
                60,
            )],
        ),
        (
            "a container without a readiness probe",
            new_pod()
                .container(|c| c.readiness_probe = None)
                .running(20, false),
            vec![event(
                &format!("uid-{POD}"),
                "Warning",
                "Unhealthy",
                NO_FILE,
                5,
                20,
                60,
            )],
        ),
        (
            "a pod that is not running",
            new_pod().waiting("ContainerCreating", ""),
            vec![event(
                &format!("uid-{POD}"),
                "Warning",
                "Unhealthy",
                NO_FILE,
                5,
                20,
                60,
            )],
        ),
    ];
    for (what, p, events) in cases {
        let got = run(&with(v3(), vec![p.build()], events));
        assert!(got.is_none(), "{what}: {got:?}");
    }
}

#[test]
fn probes_render_as_kubectl_describe_prints_them() {
    let base = Probe::default();
    let cases = [
        (
            Probe {
                http_get: Some(HTTPGetAction {
                    path: Some("/healthz".into()),
                    port: IntOrString::String("http".into()),
                    scheme: Some("HTTPS".into()),
                    host: Some("fe80::1".into()),
                    ..Default::default()
                }),
                ..base.clone()
            },
            "http-get https://[fe80::1]:http/healthz delay=0s timeout=1s period=10s #success=1 #failure=3",
        ),
        (
            Probe {
                tcp_socket: Some(TCPSocketAction {
                    port: IntOrString::Int(8500),
                    host: None,
                }),
                ..base.clone()
            },
            "tcp-socket :8500 delay=0s timeout=1s period=10s #success=1 #failure=3",
        ),
        (
            Probe {
                grpc: Some(GRPCAction {
                    port: 9000,
                    service: Some("health".into()),
                }),
                ..base.clone()
            },
            "grpc <pod>:9000 health delay=0s timeout=1s period=10s #success=1 #failure=3",
        ),
        (
            base.clone(),
            "unknown delay=0s timeout=1s period=10s #success=1 #failure=3",
        ),
    ];
    for (probe, want) in cases {
        assert_eq!(describe_probe(&probe), want);
    }
}
