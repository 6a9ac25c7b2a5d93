//! Bad input end to end: each mistake exits 2 with exactly one `error:` line naming the
//! problem (and a `hint:` where there is something to say) and changes nothing in the
//! cluster; a cluster that does not answer exits 1 with a hint.

use serde_json::json;

use crate::support::{Env, inference};

/// One bad command line: its arguments, the text its `error:` line must contain, and the
/// text its `hint:` line must contain (`None`: no hint is required). `{ns}` in either text
/// stands for the test's namespace.
struct Case {
    args: &'static [&'static str],
    error: &'static str,
    hint: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        args: &["update", "nope", "--image", "busybox:1.37"],
        error: "deployment \"nope\" not found in namespace \"{ns}\"",
        hint: Some("kubectl get deployments -n {ns}"),
    },
    Case {
        args: &["update", "web", "--image", "sidecar=busybox:1.37"],
        error: "container \"sidecar\" not found in deployment \"web\" (containers: server)",
        hint: None,
    },
    Case {
        args: &["update", "web", "--image", "Model:V2"],
        error: "invalid image reference \"Model:V2\": repository names are lower-case",
        hint: Some("--image [CONTAINER=]IMAGE"),
    },
    Case {
        args: &["update", "web", "--image", "model:"],
        error: "invalid image reference \"model:\": the tag may only contain",
        hint: Some("--image [CONTAINER=]IMAGE"),
    },
    Case {
        args: &[
            "update",
            "web",
            "--image",
            "busybox:1.37",
            "--timeout",
            "30",
        ],
        error: "invalid duration \"30\": add a unit, e.g. 30s",
        hint: None,
    },
    Case {
        args: &["update", "web", "--max-unavailable", "150%"],
        error: "invalid --max-unavailable \"150%\": must not exceed 100%",
        hint: None,
    },
    Case {
        args: &[
            "update",
            "web",
            "--max-surge",
            "0",
            "--max-unavailable",
            "0",
        ],
        error: "maxSurge and maxUnavailable may not both be 0",
        hint: None,
    },
    Case {
        args: &["update", "web"],
        error: "nothing to update",
        hint: Some("give --image, --env, --patch, --config, --max-surge or --max-unavailable"),
    },
    Case {
        args: &["update", "svc/x", "--image", "busybox:1.37"],
        error: "\"svc\" is not a Deployment",
        hint: Some("deploy/NAME"),
    },
    Case {
        args: &["update", "web", "-l", "app=web", "--image", "busybox:1.37"],
        error: "cannot be used with",
        hint: None,
    },
    Case {
        args: &["update", "web", "--env", "1BAD=x"],
        error: "\"1BAD\" is not a valid variable name",
        hint: None,
    },
    Case {
        args: &["update", "web", "--patch", "[1, 2]"],
        error: "--patch must be an object",
        hint: None,
    },
    Case {
        args: &["undo", "web", "--to-revision", "9"],
        error: "revision 9 not found in history of deployment \"web\"",
        hint: Some("kept revisions: 1"),
    },
    Case {
        args: &["update", "-l", "app=nothing", "--image", "busybox:1.37"],
        error: "no deployment in namespace \"{ns}\" matches \"app=nothing\"",
        hint: Some("kubectl get deployments"),
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_input_exits_2_with_one_error_line_and_changes_nothing() {
    let env = Env::start().await;
    env.create(inference("web", 1, json!(null))).await;
    let before = env.resource_version("web").await;

    for case in CASES {
        let run = env.rollout(case.args).await;
        let args = case.args.join(" ");
        assert_eq!(run.code, Some(2), "{args}\n{}", run.both());
        assert_eq!(run.stdout, "", "{args}: nothing on stdout");
        let errors = run.errors();
        assert_eq!(errors.len(), 1, "{args}: one error line\n{}", run.both());
        let error = case.error.replace("{ns}", &env.namespace);
        assert!(
            errors[0].contains(&error),
            "{args}: {error:?} in {:?}",
            errors[0]
        );
        if let Some(hint) = case.hint {
            let hint = hint.replace("{ns}", &env.namespace);
            let hints = run.hints();
            assert_eq!(hints.len(), 1, "{args}: one hint\n{}", run.both());
            assert!(
                hints[0].contains(&hint),
                "{args}: {hint:?} in {:?}",
                hints[0]
            );
        }
        assert_eq!(
            env.resource_version("web").await,
            before,
            "{args}: the cluster is unchanged"
        );
    }
    assert_eq!(env.replica_sets_of("web").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_exits_1_and_a_missing_kubeconfig_exits_2() {
    let env = Env::start().await;
    // A port that was free a moment ago and has nothing listening now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // A kubeconfig of its own (whatever cluster the suite runs against): its server is
    // that closed port.
    let closed = env.dir.path().join("closed.yaml");
    let text = rollout_lab::kubeconfig::render(&rollout_lab::kubeconfig::Access {
        server: format!("http://127.0.0.1:{port}"),
        ca_pem: None,
        token: "unused".into(),
    });
    std::fs::write(&closed, text).expect("kubeconfig written");

    let run = env
        .rollout_with(Some(&closed), &["update", "web", "--image", "busybox:1.37"])
        .await;
    assert_eq!(run.code, Some(1), "{}", run.both());
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{}", run.both());
    assert!(
        errors[0].starts_with(&format!(
            "error: cannot reach the cluster at http://127.0.0.1:{port}"
        )),
        "{}",
        errors[0]
    );
    assert_eq!(
        run.hints(),
        ["hint: check the kubeconfig's server address, or start the lab with `rollout lab up`"]
    );

    let missing = env.dir.path().join("missing.yaml");
    let run = env.rollout_with(Some(&missing), &["status", "web"]).await;
    assert_eq!(run.code, Some(2), "{}", run.both());
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{}", run.both());
    assert!(
        errors[0].contains(&format!("cannot read kubeconfig {}", missing.display())),
        "{}",
        errors[0]
    );
    assert_eq!(
        run.hints(),
        ["hint: pass an existing file with --kubeconfig"]
    );

    // No --kubeconfig and KUBECONFIG naming a file that does not exist.
    let run = env.rollout_with(None, &["status", "web"]).await;
    assert_ne!(run.code, Some(0), "{}", run.both());
    assert_eq!(run.errors().len(), 1, "{}", run.both());
    assert_eq!(run.hints().len(), 1, "{}", run.both());
}
