//! Reliability end to end: with the lab injecting API failures (10% of requests answered
//! 500) and cutting every watch stream within two seconds, an update still follows its
//! rollout to the end and reports success: reads and writes are retried, watches resume.
//! With resources forbidden (403, as RBAC answers), following goes on without what it may not
//! read, and a rollback that is refused leaves the failed rollout in place and says so.

use k8s_openapi::api::core::v1::Pod;
use rollout_lab::Faults;
use serde_json::json;

use crate::cli_interrupt::start_following;
use crate::support::{DEADLINE, Env, Run, inference, pod_env, revision, server, server_container};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_completes_while_the_api_fails_and_watches_are_cut() {
    let Some(env) = Env::lab_only("the lab's fault injection").await else {
        return;
    };
    let Some(lab) = env.lab.as_ref() else { return };
    env.create(inference("web", 3, json!(null))).await;
    lab.set_faults(Faults {
        error_rate: 0.1,
        watch_cut_max_seconds: Some(2.0),
        ..Faults::default()
    });

    let run = env
        .rollout(&["update", "web", "--image", "busybox:1.37"])
        .await;
    lab.set_faults(Faults::default());
    run.expect_code(0);
    run.expect_rolled_out("web", 2);
    let d = env.get("web").await;
    assert_eq!(revision(&d), Some(2));
    assert_eq!(server(&d).0, "busybox:1.37");
    let status = d.status.expect("a status");
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.replicas, Some(3), "no old pod is left");
}

/// Runs `rollout update web IMAGE` with every request for `forbidden` resources answered
/// 403, as RBAC answers a user who may not read them; `None` against a real cluster.
async fn update_forbidden(
    deployment: serde_json::Value,
    forbidden: &[&str],
    image: &str,
) -> Option<(Env, Run, serde_json::Value)> {
    let env = Env::lab_only("the lab's fault injection").await?;
    let lab = env.lab.as_ref()?;
    env.create(deployment).await;
    let before = env.template("web").await;
    lab.set_faults(Faults {
        forbid: forbidden.iter().map(|r| r.to_string()).collect(),
        ..Faults::default()
    });
    let run = env.rollout(&["update", "web", "--image", image]).await;
    lab.set_faults(Faults::default());
    Some((env, run, before))
}

/// A user whom RBAC does not let read events (common for CI deployers) still gets a
/// diagnosis from the pods themselves and an automatic rollback, told what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_may_not_read_events_still_gets_the_failure_and_the_rollback() {
    let deployment = inference("web", 2, json!(null));
    let Some((env, run, before)) = update_forbidden(deployment, &["events"], "busyboxx:1.36").await
    else {
        return;
    };
    run.expect_code(3);
    let both = run.both();
    assert!(both.contains("cannot read events"), "{both}");
    assert!(both.contains("cannot be pulled"), "{both}");
    assert!(
        both.contains("could not record the rollback reason"),
        "{both}"
    );
    assert_eq!(env.template("web").await, before, "{both}");
}

/// A user who may read Deployments but neither their ReplicaSets nor pods gets what
/// `kubectl rollout status` would tell them: the Deployment's own status decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_may_read_only_deployments_still_follows_the_rollout_to_its_end() {
    let deployment = inference("web", 2, json!(null));
    let forbidden = ["replicasets", "pods", "events"];
    let Some((env, run, _)) = update_forbidden(deployment, &forbidden, "busybox:1.37").await else {
        return;
    };
    run.expect_code(0);
    let both = run.both();
    for what in ["replica sets", "pods", "events"] {
        assert!(both.contains(&format!("cannot read {what}")), "{both}");
    }
    run.expect_rolled_out("web", 2);
    assert_eq!(server(&env.get("web").await).0, "busybox:1.37");
}

/// When the rollback itself is refused, nothing is half done: the failed rollout is left in
/// place, exit 4, and the report says why and what to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_the_api_refuses_leaves_the_failed_rollout_in_place_and_says_so() {
    let deployment = inference("web", 1, json!({"spec": {"progressDeadlineSeconds": 3}}));
    let Some((env, run, _)) = update_forbidden(deployment, &["replicasets"], "busyboxx:1.36").await
    else {
        return;
    };
    run.expect_code(4);
    let both = run.both();
    assert!(
        both.contains("could not roll back to revision 1, so the failed rollout was left in place"),
        "{both}"
    );
    assert!(both.contains("replicasets is forbidden"), "{both}");
    assert!(both.contains("rollout undo web --to-revision 1"), "{both}");
    assert_eq!(server(&env.get("web").await).0, "busyboxx:1.36", "{both}");
}

/// Conflicts on the rollback's own writes are answered by re-reading and writing again: the
/// failed rollout is still rolled back (exit 3), not left in place.
#[tokio::test]
async fn conflicts_on_the_rollback_write_are_retried_and_the_rollback_completes() {
    let Some(env) = Env::lab_only("the lab's fault injection").await else {
        return;
    };
    let Some(lab) = env.lab.as_ref() else { return };
    env.create(inference("web", 2, json!(null))).await;
    env.wait_rolled_out("web").await;
    let before = env.template("web").await;
    let bad = ["update", "web", "--image", "busyboxx:1.36"];
    env.rollout(&[&bad[..], &["--no-wait"]].concat())
        .await
        .expect_code(0);
    // The re-run picks the failing rollout up (it writes nothing itself), so the next
    // writes are the rollback's.
    lab.set_faults(Faults {
        conflict_next: 3,
        ..Faults::default()
    });
    let run = env.rollout(&bad).await;
    let left = lab.faults().conflict_next;
    lab.set_faults(Faults::default());
    run.expect_code(3)
        .expect_output("picking up its rollout in progress");
    assert_eq!(
        left,
        0,
        "the rollback met the three conflicts\n{}",
        run.both()
    );
    assert_eq!(env.template("web").await, before, "{}", run.both());
}

/// Every watch fails for a moment while the rollout waits on a pod that is not ready yet
/// (its readiness probe starts after an hour), then they all resume with nothing to say:
/// nothing changed meanwhile. Before the quiet-watch probe this looked like a cluster that
/// never answered again, and the rollout was no longer judged (a completion that arrived
/// with the last error of a burst was never acted on). Now the follower asks the cluster
/// directly, says it answers, and lists the rollout afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_that_resume_quietly_after_an_outage_are_not_taken_for_a_lost_cluster() {
    let Some(env) = Env::lab_only("the lab's fault injection").await else {
        return;
    };
    let Some(lab) = env.lab.as_ref() else { return };
    env.create(inference("web", 1, json!({}))).await;
    let later = json!({"spec": {"template": {"spec": {"containers": [server_container(
        json!({"readinessProbe": {"initialDelaySeconds": 3600}})
    )]}}}});
    let later = serde_json::to_string(&later).expect("json");
    let update = ["update", "web", "--env", "VERSION=v2", "--patch", &later].map(String::from);
    let mut following = start_following(&env, &update, &["--timeout", "10m"]).await;
    env.wait_list::<Pod>("app=web", |pods| {
        pods.iter().any(|p| {
            pod_env(p, "VERSION").as_deref() == Some("v2")
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
    })
    .await;
    lab.set_faults(Faults {
        fail_watch: ["deployments", "replicasets", "pods", "events"]
            .map(String::from)
            .to_vec(),
        ..Faults::default()
    });
    assert!(
        following.wait_for("watch error (retrying)", DEADLINE).await,
        "the outage was seen"
    );
    lab.set_faults(Faults::default());
    assert!(
        following
            .wait_for(
                "the cluster answers again: listing the rollout afresh",
                DEADLINE
            )
            .await,
        "the follower found the cluster again"
    );
    let (code, stderr) = following.interrupt().await;
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("continues server-side"), "{stderr}");
}
