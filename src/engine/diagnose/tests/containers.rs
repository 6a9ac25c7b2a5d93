//! Rules 1-4: image pulls, container config, OOM kills and crash loops.

use super::*;
use crate::engine::diagnose::FailureClass;

const NOT_FOUND: &str = "rpc error: code = NotFound desc = failed to pull and unpack image \
     \"docker.io/library/inference:v3-typo\": failed to resolve reference \
     \"docker.io/library/inference:v3-typo\": docker.io/library/inference:v3-typo: not found";

fn typo() -> Snapshot {
    rollout("inference:v3-typo")
}

fn typo_pod() -> PodB {
    let mut p = new_pod();
    p = p.container(|c| c.image = Some("inference:v3-typo".into()));
    p
}

#[test]
fn an_image_that_cannot_be_pulled_fails_at_once_quoting_the_registry() {
    let p = typo_pod().waiting("ErrImagePull", NOT_FOUND);
    let uid = p.uid();
    let pulled = format!("Failed to pull image \"inference:v3-typo\": {NOT_FOUND}");
    let snap = with(
        typo(),
        vec![p.build()],
        vec![
            event(
                &uid,
                "Normal",
                "Pulling",
                "Pulling image \"inference:v3-typo\"",
                1,
                12,
                12,
            ),
            event(&uid, "Warning", "Failed", &pulled, 1, 13, 13),
            event(&uid, "Warning", "Failed", "Error: ErrImagePull", 1, 13, 13),
        ],
    );
    let d = run(&snap).unwrap();
    assert_eq!(d.class, FailureClass::ImagePull);
    assert_eq!(d.reason, "ErrImagePull");
    assert_eq!(
        d.summary,
        format!(
            "image \"inference:v3-typo\" for container \"server\" in pod \"{POD}\" cannot be \
             pulled: {NOT_FOUND}"
        )
    );
    assert_eq!(d.pod.as_deref(), Some(POD));
    assert_eq!(d.container.as_deref(), Some("server"));
    assert_eq!(d.first_seen, Some(t(13)));
    assert!(d.evidence.contains(&"image: inference:v3-typo".to_string()));
    assert!(d.evidence.contains(&format!("event: Failed: {pulled}")));
    assert!(
        d.hint
            .unwrap()
            .contains(&format!("kubectl describe pod {POD} -n ml"))
    );
    assert!(!d.wants_logs);
}

#[test]
fn image_pull_backoff_quotes_the_pull_error_rather_than_the_backoff_notice() {
    let p = typo_pod().waiting(
        "ImagePullBackOff",
        "Back-off pulling image \"inference:v3-typo\"",
    );
    let uid = p.uid();
    let pulled = format!("Failed to pull image \"inference:v3-typo\": {NOT_FOUND}");
    let snap = with(
        typo(),
        vec![p.build()],
        vec![
            event(&uid, "Warning", "Failed", &pulled, 2, 13, 30),
            event(
                &uid,
                "Normal",
                "BackOff",
                "Back-off pulling image \"inference:v3-typo\"",
                3,
                14,
                40,
            ),
            event(
                &uid,
                "Warning",
                "Failed",
                "Error: ImagePullBackOff",
                3,
                14,
                40,
            ),
        ],
    );
    let d = run(&snap).unwrap();
    assert_eq!(d.class, FailureClass::ImagePull);
    assert_eq!(d.reason, "ImagePullBackOff");
    assert!(
        d.summary
            .ends_with(&format!("cannot be pulled: {NOT_FOUND}")),
        "{}",
        d.summary
    );
    // Warning events first, newest first, with their counts.
    let events: Vec<&String> = d
        .evidence
        .iter()
        .filter(|e| e.starts_with("event: "))
        .collect();
    assert_eq!(events[0], "event: Failed: Error: ImagePullBackOff (x3)");
    assert_eq!(
        events[2],
        "event: BackOff: Back-off pulling image \"inference:v3-typo\" (x3)"
    );
}

#[test]
fn an_invalid_image_name_is_an_image_pull_failure() {
    let msg = "Failed to apply default image tag \"Inference:V3\": couldn't parse image name \
               \"Inference:V3\": invalid reference format: repository name must be lowercase";
    let snap = with(
        rollout("Inference:V3"),
        vec![
            new_pod()
                .container(|c| c.image = Some("Inference:V3".into()))
                .waiting("InvalidImageName", msg)
                .build(),
        ],
        vec![],
    );
    let d = run(&snap).unwrap();
    assert_eq!(
        (d.class, d.reason.as_str()),
        (FailureClass::ImagePull, "InvalidImageName")
    );
    assert!(
        d.summary
            .starts_with("image \"Inference:V3\" for container \"server\"")
    );
    assert!(d.summary.ends_with(msg));
}

#[test]
fn a_missing_configmap_is_quoted_from_the_waiting_message() {
    let p = new_pod().waiting(
        "CreateContainerConfigError",
        "configmap \"model-config\" not found",
    );
    let uid = p.uid();
    let snap = with(
        v3(),
        vec![p.build()],
        vec![event(
            &uid,
            "Warning",
            "Failed",
            "Error: configmap \"model-config\" not found",
            4,
            15,
            60,
        )],
    );
    let d = run(&snap).unwrap();
    assert_eq!(d.class, FailureClass::CreateContainerConfigError);
    assert_eq!(
        d.summary,
        format!(
            "container \"server\" in pod \"{POD}\" cannot be created: configmap \"model-config\" not found"
        )
    );
    assert_eq!(d.first_seen, Some(t(15)));
}

#[test]
fn an_oom_kill_names_the_memory_limit_and_asks_for_logs() {
    let snap = with(
        v3(),
        vec![
            new_pod()
                .running(50, false)
                .last_terminated("OOMKilled", 137, 49)
                .restarts(1)
                .build(),
        ],
        vec![],
    );
    let d = run(&snap).unwrap();
    assert_eq!(
        (d.class, d.reason.as_str()),
        (FailureClass::OomKilled, "OOMKilled")
    );
    assert_eq!(
        d.summary,
        format!(
            "container \"server\" in pod \"{POD}\" was OOMKilled at its memory limit of 512Mi \
             (exit code 137, restarted 1 time)"
        )
    );
    assert!(d.wants_logs);
    assert_eq!(d.first_seen, Some(t(49)));
    assert!(
        d.evidence
            .contains(&"memory: limit 512Mi, request 256Mi".to_string())
    );
    assert!(
        d.hint
            .unwrap()
            .contains(&format!("kubectl logs {POD} -c server --previous -n ml"))
    );
}

#[test]
fn an_oom_kill_without_a_memory_limit_says_so() {
    let snap = with(
        v3(),
        vec![
            new_pod()
                .container(|c| c.resources = None)
                .last_terminated("OOMKilled", 137, 49)
                .waiting("CrashLoopBackOff", "")
                .restarts(1)
                .build(),
        ],
        vec![],
    );
    let d = run(&snap).unwrap();
    assert_eq!(d.class, FailureClass::OomKilled);
    assert!(
        d.summary.contains("was OOMKilled with no memory limit set"),
        "{}",
        d.summary
    );
}

fn crashing(restarts: i32, waiting: bool) -> Snapshot {
    let mut p = new_pod().last_terminated("Error", 3, 70).restarts(restarts);
    p = if waiting {
        p.waiting(
            "CrashLoopBackOff",
            &format!("back-off 20s restarting failed container=server pod={POD}_ml(uid-{POD})"),
        )
    } else {
        p.running(80, false)
    };
    with(v3(), vec![p.build()], vec![])
}

#[test]
fn crash_loops_fire_at_the_restart_threshold_and_not_before() {
    let th = |restarts| Thresholds {
        restarts,
        ..Thresholds::default()
    };
    // (restartCount, waiting in CrashLoopBackOff, --restarts, expected reason)
    let cases = [
        (1, true, 2, None),
        (2, true, 2, Some("CrashLoopBackOff")),
        (1, false, 2, None),
        (3, false, 2, Some("Restarted")),
        (0, true, 1, Some("CrashLoopBackOff")),
        (0, true, 0, Some("CrashLoopBackOff")),
        (0, false, 0, None),
    ];
    for (restarts, waiting, threshold, want) in cases {
        let got = diagnose(&crashing(restarts, waiting), &th(threshold), now());
        assert_eq!(
            got.as_ref().map(|d| d.reason.as_str()),
            want,
            "restartCount {restarts}, waiting {waiting}, threshold {threshold}: {got:?}"
        );
        if let Some(d) = got {
            assert_eq!(d.class, FailureClass::CrashLoopBackOff);
        }
    }
}

#[test]
fn a_crash_loop_quotes_the_exit_code_and_restart_count() {
    let d = run(&crashing(2, true)).unwrap();
    assert_eq!(
        d.summary,
        format!(
            "container \"server\" in pod \"{POD}\" keeps crashing (exit code 3, restarted 2 times)"
        )
    );
    assert!(d.wants_logs);
    assert_eq!(d.first_seen, Some(t(70)));
    assert_eq!(
        d.evidence[0],
        "last state: terminated (Error), exit code 3, finished 2023-11-14T22:14:30Z"
    );
}

#[test]
fn restarts_forced_by_a_liveness_probe_are_named_as_such() {
    let p = new_pod()
        .last_terminated("Error", 137, 70)
        .restarts(2)
        .waiting(
            "CrashLoopBackOff",
            "back-off 20s restarting failed container",
        );
    let uid = p.uid();
    let snap = with(
        v3(),
        vec![p.build()],
        vec![
            event(
                &uid,
                "Warning",
                "Unhealthy",
                "Liveness probe failed: HTTP probe failed with statuscode: 500",
                6,
                20,
                69,
            ),
            event(
                &uid,
                "Normal",
                "Killing",
                "Container server failed liveness probe, will be restarted",
                2,
                40,
                69,
            ),
        ],
    );
    let d = run(&snap).unwrap();
    assert_eq!(
        d.summary,
        format!(
            "container \"server\" in pod \"{POD}\" keeps being restarted by its liveness probe \
             (exit code 137, restarted 2 times)"
        )
    );
    assert!(d.evidence.contains(
        &"last liveness probe failure: Liveness probe failed: HTTP probe failed with statuscode: 500".to_string()
    ));
}

#[test]
fn an_init_container_that_cannot_pull_is_found_too() {
    let mut p = new_pod();
    p.0.spec.as_mut().unwrap().init_containers = Some(vec![Container {
        name: "fetch-model".into(),
        image: Some("fetcher:nope".into()),
        ..Default::default()
    }]);
    p.0.status.as_mut().unwrap().init_container_statuses = Some(vec![ContainerStatus {
        name: "fetch-model".into(),
        image: "fetcher:nope".into(),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ErrImagePull".into()),
                message: Some("pull access denied".into()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    let d = run(&with(v3(), vec![p.build()], vec![])).unwrap();
    assert_eq!(d.container.as_deref(), Some("fetch-model"));
    assert!(
        d.summary
            .starts_with("image \"fetcher:nope\" for container \"fetch-model\"")
    );
}

#[test]
fn the_pod_rules_judge_the_pods_that_changed_and_every_pod_on_the_clock() {
    let p = typo_pod().waiting("ErrImagePull", NOT_FOUND);
    let mut snap = with(typo(), vec![p.build()], vec![]);
    // A burst that touched another pod: this one was judged when it changed.
    snap.changed = Some(Vec::new());
    assert_eq!(run(&snap), None);
    snap.changed = Some(snap.pods.clone());
    assert_eq!(run(&snap).map(|d| d.class), Some(FailureClass::ImagePull));
    // The clock's snapshot: every pod.
    snap.changed = None;
    assert_eq!(run(&snap).map(|d| d.class), Some(FailureClass::ImagePull));
}
