//! Helpers of the `cli_*` modules: inference workloads, the cluster state a test asserts
//! on, and assertions on a finished [`Run`].

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

use super::{DEADLINE, Env, Run};
// ---------------------------------------------------------------------------------------

/// The annotation `rollout` writes when it rolls a Deployment back.
pub const ROLLBACK_REASON: &str = "rollout.dev/rollback-reason";
/// The change-cause annotation `rollout history` shows.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// The Deployment's revision annotation.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// A container script that "loads the model" for `load` seconds, then passes its exec
/// readiness probe (`cat /tmp/ready`) and serves.
pub fn ready_after(load: u32) -> String {
    format!(
        "echo loading model $VERSION; sleep {load}; touch /tmp/ready; echo serving $VERSION; exec sleep 3600"
    )
}

/// A busybox inference Deployment `name` (container `server`, label `app=name` and
/// `tier=inference`) whose pods become ready about a second after they start; the readiness
/// probe runs every second. `patch` (a JSON merge patch) adjusts it.
pub fn inference(name: &str, replicas: i32, patch: serde_json::Value) -> serde_json::Value {
    let mut d = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, "tier": "inference"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "server",
                        "image": "busybox:1.36",
                        "command": ["sh", "-c", ready_after(1)],
                        "env": [{"name": "VERSION", "value": "v1"}],
                        "readinessProbe": {
                            "exec": {"command": ["cat", "/tmp/ready"]},
                            "periodSeconds": 1,
                        },
                    }],
                },
            },
        },
    });
    if patch.is_object() {
        json_patch::merge(&mut d, &patch);
    }
    d
}

/// The pod-template part of a merge patch for container `server` of [`inference`]
/// (containers are a list: the whole container is given).
pub fn server_container(extra: serde_json::Value) -> serde_json::Value {
    let mut c =
        inference("x", 1, serde_json::Value::Null)["spec"]["template"]["spec"]["containers"][0]
            .clone();
    if extra.is_object() {
        json_patch::merge(&mut c, &extra);
    }
    c
}

impl Env {
    /// Applies `deployment` and waits until it has rolled out.
    pub async fn create(&self, deployment: serde_json::Value) {
        let name = deployment["metadata"]["name"]
            .as_str()
            .expect("a named deployment")
            .to_string();
        self.apply_yaml(&deployment.to_string()).await;
        self.wait_rolled_out(&name).await;
    }

    /// The Deployment as the cluster has it now.
    pub async fn get(&self, name: &str) -> Deployment {
        self.deployments()
            .get(name)
            .await
            .expect("the deployment exists")
    }

    /// The Deployment's resourceVersion once the controller has observed its generation
    /// (after a pause, the controller's own status writes come first).
    pub async fn settled_resource_version(&self, name: &str) -> String {
        let observed = |d: Option<&Deployment>| {
            d.is_some_and(|d| {
                let generation = d.metadata.generation.unwrap_or(0);
                d.status.as_ref().and_then(|s| s.observed_generation) >= Some(generation)
            })
        };
        let d = tokio::time::timeout(
            DEADLINE,
            kube::runtime::wait::await_condition(self.deployments(), name, observed),
        )
        .await
        .expect("the generation is observed in time")
        .expect("the watch works")
        .expect("the deployment exists");
        d.metadata.resource_version.expect("a resourceVersion")
    }

    /// The Deployment's resourceVersion now.
    pub async fn resource_version(&self, name: &str) -> String {
        self.get(name)
            .await
            .metadata
            .resource_version
            .expect("a resourceVersion")
    }

    /// The Deployment's pod template now, as JSON without the fields the server fills in.
    pub async fn template(&self, name: &str) -> serde_json::Value {
        serde_json::to_value(self.get(name).await.spec.expect("a spec").template)
            .expect("the template encodes")
    }

    /// The Deployment's ReplicaSets.
    pub async fn replica_sets_of(&self, name: &str) -> Vec<k8s_openapi::api::apps::v1::ReplicaSet> {
        let api: Api<k8s_openapi::api::apps::v1::ReplicaSet> = self.api();
        api.list(&kube::api::ListParams::default().labels(&format!("app={name}")))
            .await
            .expect("replica sets are listed")
            .items
    }

    /// The pod template of revision `revision` of the Deployment (from its ReplicaSet),
    /// without the pod-template-hash label: what an undo to it would restore.
    pub async fn revision_template(&self, name: &str, revision: i64) -> serde_json::Value {
        let want = revision.to_string();
        let rs = self
            .replica_sets_of(name)
            .await
            .into_iter()
            .find(|rs| annotation(&rs.metadata, REVISION) == Some(want.as_str()))
            .unwrap_or_else(|| panic!("revision {revision} of {name} is kept"));
        let mut t = serde_json::to_value(rs.spec.expect("a spec").template).expect("encodes");
        if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
            labels.remove("pod-template-hash");
        }
        t
    }

    /// The Deployment's pods that are not terminating.
    pub async fn live_pods(&self, name: &str) -> Vec<k8s_openapi::api::core::v1::Pod> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = self.api();
        api.list(&kube::api::ListParams::default().labels(&format!("app={name}")))
            .await
            .expect("pods are listed")
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    /// Events about the Deployment `name` with `reason`.
    pub async fn events(&self, name: &str, reason: &str) -> Vec<k8s_openapi::api::core::v1::Event> {
        let api: Api<k8s_openapi::api::core::v1::Event> = self.api();
        api.list(&kube::api::ListParams::default())
            .await
            .expect("events are listed")
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object.kind.as_deref() == Some("Deployment")
                    && e.involved_object.name.as_deref() == Some(name)
                    && e.reason.as_deref() == Some(reason)
            })
            .collect()
    }

    /// Runs the binary with another kubeconfig (or none at all when `kubeconfig` is `None`:
    /// then `KUBECONFIG` points at a file that does not exist).
    pub async fn rollout_with(&self, kubeconfig: Option<&std::path::Path>, args: &[&str]) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollout"));
        cmd.args(args)
            .env("NO_COLOR", "1")
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.dir.path().join("absent.yaml"))
            .stdin(std::process::Stdio::null());
        if let Some(k) = kubeconfig {
            cmd.arg("--kubeconfig").arg(k);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("rollout finishes")
            .expect("rollout runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// An annotation of an object.
pub fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The Deployment's current revision.
pub fn revision(d: &Deployment) -> Option<i64> {
    annotation(&d.metadata, REVISION)?.parse().ok()
}

/// The image and env (`KEY=VALUE`) of container `server`.
pub fn server(d: &Deployment) -> (String, Vec<String>) {
    let pod = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let c = pod
        .and_then(|p| p.containers.iter().find(|c| c.name == "server"))
        .expect("a server container");
    let env = c
        .env
        .iter()
        .flatten()
        .map(|e| format!("{}={}", e.name, e.value.clone().unwrap_or_default()))
        .collect();
    (c.image.clone().unwrap_or_default(), env)
}

impl Run {
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\n--- stdout\n{}--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The `error:` lines of stderr.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }

    /// The `hint:` lines of stderr.
    pub fn hints(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("hint:"))
            .collect()
    }

    /// stdout + stderr, for messages.
    pub fn both(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }

    /// Asserts that stdout or stderr contains `needle`.
    #[track_caller]
    pub fn expect_output(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "expected {needle:?} in\n{}",
            self.both()
        );
        self
    }

    /// stdout starts with the success line of `name` rolled out at `revision`.
    #[track_caller]
    pub fn expect_rolled_out(&self, name: &str, revision: i64) -> &Self {
        let line = format!("deployment \"{name}\" successfully rolled out (revision {revision}, ");
        assert!(
            self.stdout.starts_with(&line),
            "expected stdout to start with {line:?} in\n{}",
            self.both()
        );
        self
    }

    /// stdout parsed as the one JSON object it must be.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is one JSON value ({e})\n{}", self.both()))
    }
}
