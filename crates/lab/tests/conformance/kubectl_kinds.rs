//! The kinds the lab stores without controllers, the `default` ServiceAccounts and the
//! `default/kubernetes` Service, through the real kubectl: `apply --prune` with kubectl's
//! default allowlist, and `kubectl get` columns as a real cluster prints them.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use kube::runtime::wait::await_condition;
use serde_json::json;

use crate::support::{DEADLINE, TestLab, within};

/// The header line of a `kubectl get` table, with single spaces.
fn header(table: &str) -> String {
    let first = table.lines().next().unwrap_or("");
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The cells of the line whose first column is `name`.
fn row(table: &str, name: &str) -> Vec<String> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn config_map(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{app: x}}\ndata: {{k: v}}\n"
    )
}

/// kubectl's own deprecation note for the default allowlist, printed on a real cluster too.
const PRUNE_NOTE: &str = "Deprecated: kubectl apply will no longer prune non-namespaced resources";

#[tokio::test]
async fn apply_prune_with_the_default_allowlist_removes_what_left_the_directory() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let dir = std::path::Path::new(&k.file("keep", "")).with_file_name("manifests");
    std::fs::create_dir_all(&dir).expect("dir");
    let write = |name: &str| {
        std::fs::write(dir.join(format!("{name}.yaml")), config_map(name)).expect("write")
    };
    write("a");
    write("b");
    let dir = dir.to_string_lossy().into_owned();
    let first = k
        .run(&["apply", "--prune", "-l", "app=x", "-f", &dir])
        .await;
    assert!(first.success(), "{first:#?}");
    std::fs::remove_file(std::path::Path::new(&dir).join("b.yaml")).expect("rm");
    let second = k
        .run(&["apply", "--prune", "-l", "app=x", "-f", &dir])
        .await;
    assert!(second.success(), "{second:#?}");
    assert_eq!(
        second.stdout.lines().collect::<Vec<_>>(),
        ["configmap/a unchanged", "configmap/b pruned"]
    );
    let other: Vec<&str> = second
        .stderr
        .lines()
        .filter(|l| !l.contains(PRUNE_NOTE))
        .collect();
    assert!(other.is_empty(), "no other warning or error: {other:?}");
    let left = k
        .run(&["get", "cm", "-l", "app=x", "-o", "name"])
        .await
        .ok();
    assert_eq!(left.trim(), "configmap/a");
}

#[tokio::test]
async fn every_namespace_has_a_default_service_account_and_more_can_be_added() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let system = k.run(&["get", "sa", "-n", "kube-system"]).await.ok();
    assert_eq!(header(&system), "NAME SECRETS AGE");
    assert_eq!(row(&system, "default")[..2], ["default", "0"]);
    let namespaces: Api<Namespace> = Api::all(lab.client.clone());
    let team: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &team)
        .await
        .expect("namespace created");
    let accounts: Api<ServiceAccount> = Api::namespaced(lab.client.clone(), "team");
    within(
        DEADLINE,
        "the default ServiceAccount of the new namespace",
        await_condition(
            accounts.clone(),
            "default",
            |sa: Option<&ServiceAccount>| sa.is_some(),
        ),
    )
    .await
    .expect("watch");
    // kubectl's generator sends the ServiceAccount as protobuf.
    let out = k
        .run(&["create", "serviceaccount", "builder", "-n", "team"])
        .await
        .ok();
    assert_eq!(out.trim(), "serviceaccount/builder created");
    let listed = k.run(&["get", "serviceaccounts", "-n", "team"]).await.ok();
    let mut names: Vec<String> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, ["builder", "default"]);
    let deleted = k.run(&["delete", "sa", "default", "-n", "team"]).await;
    assert!(deleted.success(), "{deleted:#?}");
    within(
        DEADLINE,
        "the default ServiceAccount to come back",
        await_condition(accounts, "default", |sa: Option<&ServiceAccount>| {
            sa.is_some_and(|sa| sa.metadata.deletion_timestamp.is_none())
        }),
    )
    .await
    .expect("watch");
}

#[tokio::test]
async fn the_kubernetes_service_points_at_the_lab_api() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let svc = k.run(&["get", "svc", "kubernetes"]).await.ok();
    assert_eq!(header(&svc), "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE");
    assert_eq!(
        row(&svc, "kubernetes")[..5],
        ["kubernetes", "ClusterIP", "127.43.0.1", "<none>", "443/TCP"]
    );
    let port = lab
        .lab
        .kubeconfig()
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .and_then(|s| s.rsplit(':').next())
        .expect("the server port")
        .to_string();
    let endpoints = k
        .run(&[
            "get",
            "endpoints",
            "kubernetes",
            "-o",
            "jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}",
        ])
        .await
        .ok();
    assert_eq!(endpoints, format!("127.0.0.1:{port}"));
    let slice = k
        .run(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=kubernetes",
            "-o",
            "name",
        ])
        .await
        .ok();
    assert_eq!(slice.trim(), "endpointslice.discovery.k8s.io/kubernetes");
}

const WORKLOADS: &str = "apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: busybox:1.36, command: [echo, hi]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: busybox:1.36}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {disk: ssd}
      containers: [{name: agent, image: busybox:1.36}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [''], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-pods}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: default, namespace: default}]
";

#[tokio::test]
async fn jobs_stateful_sets_daemon_sets_claims_and_bindings_print_upstreams_columns() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let applied = k
        .run(&["apply", "-f", &k.file("w.yaml", WORKLOADS)])
        .await
        .ok();
    assert_eq!(applied.lines().count(), 6, "{applied}");
    let jobs = k.run(&["get", "jobs"]).await.ok();
    assert_eq!(header(&jobs), "NAME STATUS COMPLETIONS DURATION AGE");
    assert_eq!(row(&jobs, "pi")[..3], ["pi", "Running", "0/1"]);
    let sets = k.run(&["get", "statefulsets"]).await.ok();
    assert_eq!(header(&sets), "NAME READY AGE");
    assert_eq!(row(&sets, "db")[..2], ["db", "0/2"]);
    let daemons = k.run(&["get", "daemonsets"]).await.ok();
    assert_eq!(
        header(&daemons),
        "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE"
    );
    assert_eq!(
        row(&daemons, "agent")[..7],
        ["agent", "0", "0", "0", "0", "0", "disk=ssd"]
    );
    let claims = k.run(&["get", "pvc"]).await.ok();
    assert_eq!(
        header(&claims),
        "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE"
    );
    assert_eq!(row(&claims, "data")[..3], ["data", "Pending", "<unset>"]);
    let bindings = k.run(&["get", "rolebindings", "-o", "wide"]).await.ok();
    assert_eq!(
        header(&bindings),
        "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS"
    );
    let binding = row(&bindings, "read-pods");
    assert_eq!(binding[1], "Role/reader");
    assert_eq!(binding.last().map(String::as_str), Some("default/default"));
    let all = k
        .run(&["get", "jobs,statefulsets,daemonsets,pvc", "-o", "name"])
        .await
        .ok();
    assert_eq!(all.lines().count(), 4, "{all}");
}

#[tokio::test]
async fn a_job_that_would_restart_its_pods_always_is_refused_as_upstream_refuses_it() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: loop}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: busybox:1.36}]\n";
    let refused = k.run(&["apply", "-f", &k.file("job.yaml", job)]).await;
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    assert!(
        refused.stderr.contains(
            "The Job \"loop\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        ),
        "{refused:#?}"
    );
}
