//! `rollout verify` with HTTP and command gates against a model-serving Deployment's new
//! pods: a health probe and a test inference on each pod, a command that sees the pods,
//! and a probe of a path the server does not have, which fails its gate (exit 4).

use crate::support::{Env, lab_config};

pub const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: model
spec:
  replicas: 2
  selector:
    matchLabels:
      app: model
  template:
    metadata:
      labels:
        app: model
    spec:
      containers:
      - name: server
        image: rollout-lab/model-server:1
        env:
        - name: MODEL_NAME
          value: classifier
        - name: PORT
          value: "8080"
        - name: VERSION
          value: v1
        readinessProbe:
          httpGet:
            path: /readyz
            port: 8080
          periodSeconds: 1
"#;

#[tokio::test]
async fn http_and_command_gates_probe_each_new_pod_and_a_failing_probe_fails_the_gate() {
    let Some(env) = Env::with_config(lab_config(), "the lab's model-server image").await else {
        return;
    };
    env.apply_yaml(MANIFEST).await;
    env.wait_rolled_out("model").await;
    let pass = env
        .rollout(&[
            "verify",
            "model",
            "--verify-http",
            "http://{pod_ip}:8080/readyz",
            "--verify-http",
            "http://{pod_ip}:8080/v1/models/classifier:predict",
            "--expect-body",
            "",
            "--expect-body",
            "\"predictions\"",
            "--verify-http-body",
            "",
            "--verify-http-body",
            r#"{"instances": [[1.0, 2.0]]}"#,
            "--verify",
            r#"set -- $ROLLOUT_NEW_POD_IPS; test $# -eq 2 && test "$ROLLOUT_DEPLOYMENT" = model"#,
            "-o",
            "json",
        ])
        .await;
    pass.expect_code(0);
    let report = pass.json();
    assert_eq!(report["verdict"], "pass", "{report:#}");
    assert_eq!(report["pods"].as_array().map(Vec::len), Some(2));
    // Two HTTP gates, one measurement per pod each; the command once.
    let per_gate: Vec<usize> = report["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g["measurements"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(per_gate, [2, 2, 1], "{report:#}");

    let fail = env
        .rollout(&[
            "verify",
            "model",
            "--verify-http",
            "http://{pod_ip}:8080/nope",
        ])
        .await;
    fail.expect_code(4);
    assert!(
        fail.stderr.contains("(want 2xx): fail (HTTP 404)"),
        "{}",
        fail.stderr
    );
    assert!(
        fail.stderr.contains("1 failed measurement(s), 0 tolerated"),
        "{}",
        fail.stderr
    );
}
