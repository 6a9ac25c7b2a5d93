//! The real `/usr/bin/kubectl` (Google's dispatcher, which runs kubectl 1.33 against the
//! lab's v1.33): apply, create, get, watch, describe, delete and diff.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{DEADLINE, TestLab, config_map, deployment, deployment_yaml, service, within};

fn replicas_and_image(d: &Deployment) -> (Option<i32>, Option<String>) {
    let spec = d.spec.as_ref();
    let image = spec
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    (spec.and_then(|s| s.replicas), image)
}

/// The NAME column of a `kubectl get` line.
pub fn first_column(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

#[tokio::test]
async fn kubectl_apply_creates_then_three_way_patches_a_changed_manifest() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let file = k.file("web.yaml", &deployment_yaml("web", "nginx:1", 2));
    let out = k.run(&["apply", "-f", &file]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web created");
    let api: Api<Deployment> = lab.api();
    let d = api.get("web").await.expect("created by apply");
    assert!(
        d.annotations()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration"),
        "client-side apply records its configuration"
    );
    let same = k.run(&["apply", "-f", &file]).await.ok();
    assert_eq!(same.trim(), "deployment.apps/web unchanged");
    let file = k.file("web.yaml", &deployment_yaml("web", "nginx:2", 3));
    let out = k.run(&["apply", "-f", &file]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web configured");
    let d = api.get("web").await.expect("get");
    assert_eq!(replicas_and_image(&d), (Some(3), Some("nginx:2".into())));
    assert_eq!(d.metadata.generation, Some(2));
}

#[tokio::test]
async fn kubectl_server_side_apply_conflicts_with_another_manager_unless_forced() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let file = k.file("web.yaml", &deployment_yaml("web", "nginx:1", 2));
    let out = k.run(&["apply", "--server-side", "-f", &file]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    let other = k.file("other.yaml", &deployment_yaml("web", "nginx:1", 5));
    let refused = k
        .run(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            &other,
        ])
        .await;
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    assert!(refused.stderr.contains("conflict"), "{}", refused.stderr);
    let api: Api<Deployment> = lab.api();
    assert_eq!(
        replicas_and_image(&api.get("web").await.expect("get")).0,
        Some(2)
    );
    let forced = [
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        &other,
    ];
    let out = k.run(&forced).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    assert_eq!(
        replicas_and_image(&api.get("web").await.expect("get")).0,
        Some(5)
    );
}

#[tokio::test]
async fn kubectl_create_then_a_duplicate_create_is_already_exists() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let file = k.file("web.yaml", &deployment_yaml("web", "nginx:1", 2));
    let out = k.run(&["create", "-f", &file]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web created");
    let dup = k.run(&["create", "-f", &file]).await;
    assert_eq!(dup.code, Some(1));
    let expected = format!(
        "Error from server (AlreadyExists): error when creating \"{file}\": deployments.apps \"web\" already exists"
    );
    assert_eq!(dup.stderr.trim(), expected);
}

#[tokio::test]
async fn kubectl_get_shows_deployments_pods_services_and_namespaces() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let svc: Api<Service> = lab.api();
    svc.create(&PostParams::default(), &service("web"))
        .await
        .expect("create");
    let deploys = k.run(&["get", "deploy"]).await.ok();
    assert!(
        deploys.lines().any(|l| first_column(l) == "web"),
        "{deploys}"
    );
    let pods = k.run(&["get", "pods"]).await;
    assert!(pods.success(), "{pods:#?}");
    assert!(
        pods.stderr
            .contains("No resources found in default namespace."),
        "{pods:#?}"
    );
    let svcs = k.run(&["get", "svc"]).await.ok();
    assert!(svcs.lines().any(|l| first_column(l) == "web"), "{svcs}");
    let ns = k.run(&["get", "ns"]).await.ok();
    for name in ["default", "kube-system"] {
        assert!(ns.lines().any(|l| first_column(l) == name), "{ns}");
    }
    let wide = k.run(&["get", "deploy", "web", "-o", "wide"]).await.ok();
    assert!(wide.lines().any(|l| first_column(l) == "web"), "{wide}");
}

#[tokio::test]
async fn kubectl_get_one_deployment_as_json_and_yaml_shows_the_whole_object() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let api: Api<Deployment> = lab.api();
    let created = api
        .create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let text = k.run(&["get", "deploy", "web", "-o", "json"]).await.ok();
    let obj: serde_json::Value = serde_json::from_str(&text).expect("-o json prints JSON");
    assert_eq!(obj["kind"], "Deployment");
    assert_eq!(obj["apiVersion"], "apps/v1");
    assert_eq!(obj["metadata"]["uid"].as_str(), created.uid().as_deref());
    let yaml = k.run(&["get", "deploy", "web", "-o", "yaml"]).await.ok();
    assert!(yaml.contains("kind: Deployment"), "{yaml}");
    assert!(yaml.contains("image: nginx:1"), "{yaml}");
}

#[tokio::test]
async fn kubectl_get_watch_prints_a_configmap_created_while_watching() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let api: Api<ConfigMap> = lab.api();
    api.create(&PostParams::default(), &config_map("before", "1", &[]))
        .await
        .expect("create");
    let mut child = k
        .command(&["get", "cm", "-w"])
        .spawn()
        .expect("kubectl get -w starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    print_of(&mut lines, &mut seen, "before").await;
    api.create(&PostParams::default(), &config_map("later", "1", &[]))
        .await
        .expect("create");
    print_of(&mut lines, &mut seen, "later").await;
    child.kill().await.expect("kubectl is stopped");
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// Reads kubectl's output until a line for `name` appears.
async fn print_of(lines: &mut Lines, seen: &mut Vec<String>, name: &str) {
    within(DEADLINE, &format!("kubectl to print {name}"), async {
        while let Some(line) = lines.next_line().await.expect("reading kubectl") {
            let found = first_column(&line) == name;
            seen.push(line);
            if found {
                return;
            }
        }
        panic!("kubectl ended before printing {name}: {seen:?}");
    })
    .await
}

#[tokio::test]
async fn kubectl_describe_deployment_shows_its_spec() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let out = k.run(&["describe", "deployment", "web"]).await.ok();
    for needle in [
        "Name:",
        "web",
        "Namespace:",
        "default",
        "Selector:",
        "app=web",
        "Image:",
        "nginx:1",
    ] {
        assert!(out.contains(needle), "describe shows {needle:?}:\n{out}");
    }
    assert!(
        out.contains("Replicas:") && out.contains("2 desired"),
        "{out}"
    );
}

#[tokio::test]
async fn kubectl_delete_removes_an_object_and_waits_for_a_finalizer() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let out = k.run(&["delete", "deploy", "web"]).await.ok();
    assert_eq!(out.trim(), "deployment.apps \"web\" deleted");
    assert!(api.get_opt("web").await.expect("get_opt").is_none());
    let cms: Api<ConfigMap> = lab.api();
    let mut held = config_map("held", "1", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held)
        .await
        .expect("create");
    let child = k
        .command(&["delete", "cm", "held"])
        .spawn()
        .expect("kubectl delete starts");
    let marked = |c: Option<&ConfigMap>| c.is_some_and(|c| c.metadata.deletion_timestamp.is_some());
    within(
        DEADLINE,
        "the delete to mark the object",
        await_condition(cms.clone(), "held", marked),
    )
    .await
    .expect("watching");
    let release = json!({"metadata": {"finalizers": null}});
    cms.patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .expect("release");
    let out = within(
        DEADLINE,
        "kubectl delete to return",
        child.wait_with_output(),
    )
    .await
    .expect("kubectl delete ends");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "configmap \"held\" deleted"
    );
}

#[tokio::test]
async fn kubectl_diff_exits_1_when_different_and_0_when_the_same() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let file = k.file("web.yaml", &deployment_yaml("web", "nginx:1", 2));
    k.run(&["apply", "-f", &file]).await.ok();
    let same = k.run(&["diff", "-f", &file]).await;
    assert_eq!(same.code, Some(0), "{same:#?}");
    assert_eq!(same.stdout, "");
    let changed = k.file("web2.yaml", &deployment_yaml("web", "nginx:2", 2));
    let diff = k.run(&["diff", "-f", &changed]).await;
    assert_eq!(diff.code, Some(1), "{diff:#?}");
    assert!(
        diff.stdout.contains("\n-      - image: nginx:1\n"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("\n+      - image: nginx:2\n"),
        "{}",
        diff.stdout
    );
    let api: Api<Deployment> = lab.api();
    let d = api.get("web").await.expect("get");
    assert_eq!(
        replicas_and_image(&d).1.as_deref(),
        Some("nginx:1"),
        "diff changes nothing"
    );
}

#[tokio::test]
async fn kubectl_get_namespace_json_is_cluster_scoped() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let text = k.run(&["get", "ns", "default", "-o", "json"]).await.ok();
    let ns: Namespace = serde_json::from_str(&text).expect("a Namespace");
    assert_eq!(ns.metadata.namespace, None);
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Active"));
}

#[tokio::test]
async fn kubectl_get_prints_the_upstream_columns() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let svc: Api<Service> = lab.api();
    svc.create(&PostParams::default(), &service("web"))
        .await
        .expect("create");
    let header = |out: &str| {
        out.lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let deploys = k.run(&["get", "deploy"]).await.ok();
    assert_eq!(header(&deploys), "NAME READY UP-TO-DATE AVAILABLE AGE");
    assert!(deploys.contains("0/2"), "{deploys}");
    let wide = k.run(&["get", "deploy", "web", "-o", "wide"]).await.ok();
    assert_eq!(
        header(&wide),
        "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR"
    );
    assert!(
        wide.contains("nginx:1") && wide.contains("app=web"),
        "{wide}"
    );
    let svcs = k.run(&["get", "svc"]).await.ok();
    assert_eq!(
        header(&svcs),
        "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE"
    );
    assert!(
        svcs.contains("ClusterIP") && svcs.contains("127.43.") && svcs.contains("80/TCP"),
        "{svcs}"
    );
    let ns = k.run(&["get", "ns"]).await.ok();
    assert_eq!(header(&ns), "NAME STATUS AGE");
}

#[tokio::test]
async fn kubectl_server_side_apply_takes_over_a_client_side_applied_object() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let file = k.file("web.yaml", &deployment_yaml("web", "nginx:1", 2));
    k.run(&["apply", "-f", &file]).await.ok();
    let file = k.file("web.yaml", &deployment_yaml("web", "nginx:2", 2));
    let out = k.run(&["apply", "--server-side", "-f", &file]).await.ok();
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    let api: Api<Deployment> = lab.api();
    let d = api.get("web").await.expect("get");
    assert_eq!(replicas_and_image(&d).1.as_deref(), Some("nginx:2"));
    let managers: Vec<String> = d
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.contains(&"kubectl".to_string()), "{managers:?}");
}

#[tokio::test]
async fn kubectl_get_watch_of_one_deployment_prints_it_once_then_its_changes() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    api.create(&PostParams::default(), &deployment("other", "nginx:1"))
        .await
        .expect("create");
    let mut child = k
        .command(&["get", "deploy", "web", "-w", "--no-headers"])
        .spawn()
        .expect("kubectl starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut seen = Vec::new();
    print_of(&mut lines, &mut seen, "web").await;
    // kubectl follows its GET with a watch from resourceVersion 0, whose synthetic ADDED it
    // does not print (upstream, too): a change made before that watch is established is
    // folded into the ADDED and never printed. Nothing says when the watch is up, so both
    // Deployments are changed again until a change of `web` is printed.
    within(DEADLINE, "kubectl to print the change of web", async {
        for x in 1.. {
            let p = json!({"metadata": {"labels": {"x": x.to_string()}}});
            api.patch("other", &PatchParams::default(), &Patch::Merge(&p))
                .await
                .expect("patch other");
            api.patch("web", &PatchParams::default(), &Patch::Merge(&p))
                .await
                .expect("patch web");
            // `next_line` is cancel-safe: a line cut off by the timeout is read next time.
            let wait = std::time::Duration::from_millis(500);
            while let Ok(line) = tokio::time::timeout(wait, lines.next_line()).await {
                let line = line.expect("reading kubectl").expect("kubectl is running");
                let found = first_column(&line) == "web";
                seen.push(line);
                if found {
                    return;
                }
            }
        }
    })
    .await;
    child.kill().await.expect("kubectl is stopped");
    assert_eq!(
        seen.iter().map(|l| first_column(l)).collect::<Vec<_>>(),
        ["web", "web"],
        "{seen:?}"
    );
}
