//! The commands whose bodies kubectl sends as `application/vnd.kubernetes.protobuf` (its
//! typed clients: `create deployment|namespace|configmap|secret|service`, `autoscale`,
//! `drain --disable-eviction`'s DeleteOptions, `debug --copy-to`), run end to end: each
//! stores the object a JSON body would have, and what follows (pods, HPA status, a drained
//! node) happens as on a real cluster.

use rollout_lab::LabConfig;

use super::manifests::{get, wait_for};
use super::support::{Kubectl, TestLab};

const PROTOBUF: &str = "Content-Type: application/vnd.kubernetes.protobuf";

async fn lab() -> TestLab {
    TestLab::with_config(LabConfig::default()).await
}

/// Runs kubectl at `-v=8` (which logs request headers), asserts it succeeded and that it
/// did send a protobuf body, so these tests keep testing protobuf.
async fn run_sending_protobuf(k: &Kubectl, args: &[&str]) -> String {
    // Before the arguments: after a `--` it would be the container's.
    let all = [&["-v=8"], args].concat();
    let run = k.run(&all).await;
    assert!(run.success(), "kubectl {args:?} failed: {run:#?}");
    assert!(
        run.stderr.contains(PROTOBUF),
        "kubectl {args:?} sent no protobuf body: {}",
        run.stderr
    );
    run.stdout
}

#[tokio::test]
async fn kubectl_create_deployment_stores_the_deployment_and_its_pods_run() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    let out = run_sending_protobuf(
        &k,
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox:1.36",
            "--replicas=2",
            "--port=8080",
            "--",
            "sleep",
            "3600",
        ],
    )
    .await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let spec = "{.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].name} {.spec.template.spec.containers[0].command} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.strategy.type}";
    assert_eq!(
        get(&k, "deploy/web", spec).await,
        r#"2 web busybox ["sleep","3600"] 8080 RollingUpdate"#
    );
    wait_for(&k, "deploy/web", "{.status.availableReplicas}", "2").await;
}

#[tokio::test]
async fn a_deployment_created_with_zero_replicas_keeps_zero() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    run_sending_protobuf(
        &k,
        &[
            "create",
            "deployment",
            "idle",
            "--image=busybox",
            "--replicas=0",
        ],
    )
    .await;
    assert_eq!(get(&k, "deploy/idle", "{.spec.replicas}").await, "0");
}

#[tokio::test]
async fn kubectl_create_secret_generic_round_trips_its_literal_data() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    run_sending_protobuf(
        &k,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cr3t",
            "--from-literal=user=admin",
        ],
    )
    .await;
    let stored = get(&k, "secret/creds", "{.type} {.data.password} {.data.user}").await;
    // base64 of s3cr3t and admin.
    assert_eq!(stored, "Opaque czNjcjN0 YWRtaW4=");
    let listed = k.run(&["get", "secret", "creds"]).await.ok();
    assert!(
        listed.lines().nth(1).is_some_and(|l| l.contains(" 2 ")),
        "DATA 2: {listed}"
    );
}

#[tokio::test]
async fn kubectl_create_namespace_configmap_and_service_store_their_fields() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    run_sending_protobuf(&k, &["create", "namespace", "team-a"]).await;
    assert_eq!(get(&k, "ns/team-a", "{.status.phase}").await, "Active");
    run_sending_protobuf(
        &k,
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "--from-literal=mode=fast",
            "--from-literal=empty=",
        ],
    )
    .await;
    assert_eq!(
        k.run(&[
            "get",
            "cm/settings",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data}"
        ])
        .await
        .ok(),
        r#"{"empty":"","mode":"fast"}"#
    );
    run_sending_protobuf(
        &k,
        &["create", "service", "clusterip", "web", "--tcp=80:8080"],
    )
    .await;
    let ports = "{.spec.type} {.spec.selector.app} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.ports[0].protocol}";
    assert_eq!(get(&k, "svc/web", ports).await, "ClusterIP web 80 8080 TCP");
}

#[tokio::test]
async fn kubectl_autoscale_creates_the_hpa_and_its_status_follows_the_target() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    run_sending_protobuf(
        &k,
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=2",
        ],
    )
    .await;
    let out = run_sending_protobuf(
        &k,
        &[
            "autoscale",
            "deployment",
            "web",
            "--min=2",
            "--max=5",
            "--cpu-percent=80",
        ],
    )
    .await;
    assert!(
        out.contains("horizontalpodautoscaler.autoscaling/web autoscaled"),
        "{out}"
    );
    let spec = "{.spec.scaleTargetRef.kind}/{.spec.scaleTargetRef.name} {.spec.minReplicas}-{.spec.maxReplicas} {.spec.metrics[0].resource.name} {.spec.metrics[0].resource.target.averageUtilization}";
    assert_eq!(get(&k, "hpa/web", spec).await, "Deployment/web 2-5 cpu 80");
    wait_for(&k, "hpa/web", "{.status.currentReplicas}", "2").await;
}

#[tokio::test]
async fn kubectl_drain_without_eviction_deletes_the_pods_with_protobuf_delete_options() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    run_sending_protobuf(
        &k,
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=2",
            "--",
            "sleep",
            "3600",
        ],
    )
    .await;
    wait_for(&k, "deploy/web", "{.status.availableReplicas}", "2").await;
    let out = run_sending_protobuf(
        &k,
        &[
            "drain",
            "lab-node-1",
            "--ignore-daemonsets",
            "--disable-eviction",
            "--grace-period=1",
            "--timeout=15s",
        ],
    )
    .await;
    assert!(out.contains("node/lab-node-1 drained"), "{out}");
    // The one node is cordoned, so the replacements wait unscheduled.
    let on_node = k
        .run(&[
            "get",
            "pods",
            "--field-selector=spec.nodeName=lab-node-1",
            "-o",
            "name",
        ])
        .await
        .ok();
    assert_eq!(on_node.trim(), "", "nothing is left on the drained node");
}

#[tokio::test]
async fn kubectl_debug_copy_to_creates_the_copy_with_the_debug_container() {
    let lab = lab().await;
    let Some(k) = lab.kubectl() else { return };
    // `kubectl run` itself sends JSON.
    k.run(&[
        "run",
        "app",
        "--image=busybox",
        "--command",
        "--",
        "sleep",
        "3600",
    ])
    .await
    .ok();
    run_sending_protobuf(
        &k,
        &[
            "debug",
            "app",
            "--copy-to=app-copy",
            "--image=busybox:1.36",
            "--container=dbg",
            "--",
            "sleep",
            "600",
        ],
    )
    .await;
    assert_eq!(
        get(&k, "pod/app-copy", "{.spec.containers[*].name}").await,
        "app dbg"
    );
    wait_for(&k, "pod/app-copy", "{.status.phase}", "Running").await;
}

/// An object as stored, without what differs between two creations of the same thing
/// (identity, times, allocated addresses, status).
fn comparable(mut obj: serde_json::Value) -> serde_json::Value {
    if let Some(meta) = obj["metadata"].as_object_mut() {
        for key in ["namespace", "uid", "resourceVersion", "creationTimestamp"] {
            meta.remove(key);
        }
        for entry in meta
            .get_mut("managedFields")
            .and_then(|m| m.as_array_mut())
            .into_iter()
            .flatten()
        {
            entry.as_object_mut().map(|e| e.remove("time"));
        }
    }
    if let Some(spec) = obj["spec"].as_object_mut() {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    obj.as_object_mut().map(|o| o.remove("status"));
    obj
}

#[tokio::test]
async fn each_generator_stores_through_protobuf_what_its_json_body_stores() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    for ns in ["pb", "js"] {
        k.run(&["create", "namespace", ns]).await.ok();
    }
    // (the command up to the object's name, what follows it, the object to read back)
    let generators: &[(&[&str], &[&str], &str)] = &[
        (
            &["create", "deployment", "web"],
            &[
                "--image=busybox",
                "--replicas=3",
                "--port=80",
                "--",
                "sleep",
                "10",
            ],
            "deploy/web",
        ),
        (
            &["create", "configmap", "cfg"],
            &["--from-literal=a=b", "--from-literal=empty="],
            "cm/cfg",
        ),
        (
            &["create", "secret", "generic", "creds"],
            &["--from-literal=password=s3cr3t"],
            "secret/creds",
        ),
        (
            &["create", "secret", "docker-registry", "pull"],
            &[
                "--docker-server=r.example",
                "--docker-username=u",
                "--docker-password=p",
            ],
            "secret/pull",
        ),
        (
            &["create", "service", "nodeport", "svc"],
            &["--tcp=80:8080"],
            "svc/svc",
        ),
        (
            &["create", "poddisruptionbudget", "budget"],
            &["--selector=app=web", "--max-unavailable=1"],
            "pdb/budget",
        ),
        (
            &["autoscale", "deployment", "web"],
            &["--min=2", "--max=4", "--cpu-percent=70"],
            "hpa/web",
        ),
    ];
    for (head, tail, object) in generators {
        let in_pb = [&["-n", "pb"], *head, *tail].concat();
        run_sending_protobuf(&k, &in_pb).await;
        let dry = [
            &["-n", "js"],
            *head,
            &["--dry-run=client", "-o", "json"],
            *tail,
        ]
        .concat();
        let json = k.run(&dry).await.ok();
        let file = k.file("object.json", &json);
        k.run(&["-n", "js", "create", "-f", &file]).await.ok();
        let read = |ns: &'static str| {
            let k = &k;
            async move {
                let text = k.run(&["-n", ns, "get", object, "-o", "json"]).await.ok();
                comparable(serde_json::from_str(&text).expect("kubectl prints JSON"))
            }
        };
        assert_eq!(read("pb").await, read("js").await, "{object}");
    }
}
