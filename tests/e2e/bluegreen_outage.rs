//! A lost connection during the full blue-green flow (the lab's fault injection): the
//! cluster stops answering while the gates run, and the gate then passes, so the run needs
//! the API to go on. It gives up with exit 1 once its retries are spent, before the swap:
//! the Service still selects blue, the fully ready side, and the same command run again
//! once the cluster answers resumes from the record and swaps. (Exit 1, an API error, is
//! the CLI's answer to any request that still fails after its retries; it prints the error
//! on stderr and no result object, and the flow a line saying what stands.)

use rollout_lab::Faults;
use serde_json::{Value, json};

use crate::bluegreen::{blue, selector, service, side, svc};
use crate::support::{Env, annotation, ended, started_until};

/// Every request answered 500 and every watch cut and refused: the cluster as the CLI sees
/// it when the connection is gone (discovery still answers; the lab never faults it).
fn unreachable() -> Faults {
    Faults {
        error_rate: 1.0,
        fail_watch: [
            "deployments",
            "replicasets",
            "pods",
            "events",
            "services",
            "endpointslices",
        ]
        .map(String::from)
        .to_vec(),
        ..Faults::default()
    }
}

#[tokio::test]
async fn a_lost_connection_while_the_gates_run_leaves_blue_serving_and_a_rerun_completes() {
    let Some(env) = Env::lab_only("the lab's fault injection").await else {
        return;
    };
    let Some(lab) = env.lab.as_ref() else { return };
    env.create(side("blue")).await;
    env.apply_yaml(&service(blue(), json!("http"))).await;
    // The gate passes when the test says so: after the connection is gone.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let go = dir.path().join("go");
    let gate = format!("while [ ! -e '{}' ]; do sleep 0.1; done", go.display());
    let args = [
        "bluegreen",
        "shop",
        "--env",
        "VERSION=v2",
        "--stable-for",
        "0",
        "--verify",
        &gate,
        "-o",
        "json",
    ];
    let mut seen = Vec::new();
    let needle = "verifying deployment shop-green before the swap";
    let (child, lines) = started_until(&env, &args, needle, &mut seen).await;
    lab.set_faults(unreachable());
    std::fs::write(&go, "").expect("the gate's file is written");
    let out = ended(child, lines, &mut seen).await;
    lab.set_faults(Faults::default());
    let stderr = seen.join("\n");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The API error names the write it could not make (the record of the swap about to
    // begin), and a line says what stands.
    assert!(
        seen.iter()
            .any(|l| l.starts_with("error: recording the blue-green flow on service \"shop\"")),
        "{stderr}"
    );
    assert!(
        seen.iter().any(
            |l| l.contains("service \"shop\" still selects \"shop-blue\"")
                && l.contains("run the same command again")
        ),
        "{stderr}"
    );
    let s = svc(&env, "shop").await;
    assert_eq!(selector(&s), blue(), "{stderr}");
    assert_eq!(
        annotation(&s.metadata, "rollout.dev/flow-phase"),
        Some("verifying")
    );

    let run = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--env",
            "VERSION=v2",
            "--stable-for",
            "0",
            "--verify",
            "true",
            "-o",
            "json",
        ])
        .await;
    run.expect_code(0);
    let r: Value = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert_eq!(r["flow"]["resumedFrom"], "verifying", "{r}");
    assert_eq!(r["flow"]["verify"]["verdict"], "pass", "{r}");
    assert_eq!(
        selector(&svc(&env, "shop").await),
        json!({"app": "shop", "color": "green"})
    );
}
