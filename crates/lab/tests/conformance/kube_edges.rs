//! Less-travelled corners of the API that controllers and tools still hit: generateName,
//! preconditions, metadata-only reads, all-namespace lists, consistent paging, status
//! replace, server-side apply field removal, pod deletion answers.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, ResourceExt};
use rollout_lab::LabConfig;
use serde_json::json;

use crate::support::{TestLab, api_status, config_map, deployment};

#[tokio::test]
async fn generate_name_gives_a_unique_name_with_the_prefix() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let mut cm = config_map("", "1", &[]);
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("job-".into());
    let a = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let b = api
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    assert!(
        a.name_any().starts_with("job-") && a.name_any().len() == 9,
        "{}",
        a.name_any()
    );
    assert_ne!(a.name_any(), b.name_any());
}

#[tokio::test]
async fn a_patch_carrying_a_stale_resource_version_is_a_conflict() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let cm = api
        .create(&PostParams::default(), &config_map("cm", "1", &[]))
        .await
        .expect("create");
    let rv = cm.resource_version().expect("rv");
    let p1 = json!({"metadata": {"resourceVersion": rv}, "data": {"k": "2"}});
    api.patch("cm", &PatchParams::default(), &Patch::Merge(&p1))
        .await
        .expect("a current version applies");
    let p2 = json!({"metadata": {"resourceVersion": rv}, "data": {"k": "3"}});
    let status = api_status(
        api.patch("cm", &PatchParams::default(), &Patch::Merge(&p2))
            .await
            .expect_err("stale"),
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
}

#[tokio::test]
async fn delete_preconditions_guard_against_a_replaced_object() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    api.create(&PostParams::default(), &config_map("cm", "1", &[]))
        .await
        .expect("create");
    let dp = DeleteParams::default().preconditions(Preconditions {
        uid: Some("other".into()),
        resource_version: None,
    });
    let status = api_status(api.delete("cm", &dp).await.expect_err("wrong uid"));
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(api.get_opt("cm").await.expect("get_opt").is_some());
    let dry = DeleteParams::default().dry_run();
    api.delete("cm", &dry).await.expect("dry-run delete");
    assert!(
        api.get_opt("cm").await.expect("get_opt").is_some(),
        "a dry-run delete keeps it"
    );
}

#[tokio::test]
async fn metadata_only_reads_return_partial_object_metadata() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let meta = api.get_metadata("web").await.expect("get_metadata");
    assert_eq!(meta.name_any(), "web");
    assert_eq!(
        meta.types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );
    let list = api
        .list_metadata(&ListParams::default())
        .await
        .expect("list_metadata");
    assert_eq!(
        list.iter().map(|m| m.name_any()).collect::<Vec<_>>(),
        ["web"]
    );
}

#[tokio::test]
async fn all_namespace_lists_span_namespaces() {
    let lab = TestLab::start().await;
    let here: Api<ConfigMap> = lab.api();
    let there: Api<ConfigMap> = Api::namespaced(lab.client.clone(), "kube-system");
    here.create(&PostParams::default(), &config_map("a", "1", &[("x", "y")]))
        .await
        .expect("create");
    there
        .create(&PostParams::default(), &config_map("b", "1", &[("x", "y")]))
        .await
        .expect("create");
    let all: Api<ConfigMap> = Api::all(lab.client.clone());
    let got: Vec<(String, String)> = all
        .list(&ListParams::default().labels("x=y"))
        .await
        .expect("list")
        .iter()
        .map(|c| (c.namespace().unwrap_or_default(), c.name_any()))
        .collect();
    assert_eq!(
        got,
        [
            ("default".into(), "a".into()),
            ("kube-system".into(), "b".into())
        ]
    );
}

#[tokio::test]
async fn paging_is_a_consistent_snapshot_of_the_first_page_version() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    for i in 0..25 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("cm-{i:02}"), "1", &[]),
        )
        .await
        .expect("create");
    }
    let first = api
        .list(&ListParams::default().limit(10))
        .await
        .expect("page 1");
    let token = first.metadata.continue_.clone().expect("more pages");
    api.delete("cm-15", &DeleteParams::default())
        .await
        .expect("delete");
    api.create(&PostParams::default(), &config_map("cm-99", "1", &[]))
        .await
        .expect("create");
    let p = json!({"data": {"k": "changed"}});
    api.patch("cm-12", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .expect("patch");
    let mut names: Vec<String> = first.iter().map(|c| c.name_any()).collect();
    let mut params = ListParams::default().limit(10).continue_token(&token);
    loop {
        let page = api.list(&params).await.expect("a later page");
        assert_eq!(
            page.metadata.resource_version, first.metadata.resource_version,
            "same snapshot"
        );
        for c in page.iter() {
            if c.name_any() == "cm-12" {
                assert_eq!(
                    c.data.as_ref().map(|d| d["k"].as_str()),
                    Some("1"),
                    "as of the snapshot"
                );
            }
            names.push(c.name_any());
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(t) => params = params.continue_token(&t),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(
        names, expected,
        "pages show the collection as it was when paging began"
    );
}

#[tokio::test]
async fn replace_status_changes_only_the_status() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    let mut d = api
        .create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    d.status = Some(
        serde_json::from_value(json!({"replicas": 2, "observedGeneration": 1})).expect("status"),
    );
    if let Some(spec) = d.spec.as_mut() {
        spec.replicas = Some(7);
    }
    let got = api
        .replace_status("web", &PostParams::default(), &d)
        .await
        .expect("replace_status");
    assert_eq!(got.status.as_ref().and_then(|s| s.replicas), Some(2));
    assert_eq!(
        got.spec.as_ref().and_then(|s| s.replicas),
        Some(2),
        "spec untouched"
    );
}

#[tokio::test]
async fn server_side_apply_removes_a_field_its_manager_stops_applying() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let pp = PatchParams::apply("me");
    let both = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "1", "j": "2"}});
    api.patch("cm", &pp, &Patch::Apply(&both))
        .await
        .expect("apply");
    let one = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "1"}});
    let got = api
        .patch("cm", &pp, &Patch::Apply(&one))
        .await
        .expect("apply");
    let data = got.data.expect("data");
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["k"],
        "j is no longer applied by anyone"
    );
    let dry = PatchParams::apply("me").dry_run();
    let new = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}, "data": {"k": "1"}});
    api.patch("new", &dry, &Patch::Apply(&new))
        .await
        .expect("dry-run apply");
    assert!(
        api.get_opt("new").await.expect("get_opt").is_none(),
        "a dry-run apply creates nothing"
    );
}

#[tokio::test]
async fn deleting_a_pod_answers_the_pod_and_a_bound_pod_waits_for_its_grace_period() {
    let lab = TestLab::start().await;
    let api: Api<Pod> = lab.api();
    let pod = |name: &str, node: Option<&str>| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx:1"}]},
        }))
        .expect("a valid Pod")
    };
    api.create(&PostParams::default(), &pod("free", None))
        .await
        .expect("create");
    let answer = api
        .delete("free", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(answer.is_left(), "pods answer with the object");
    assert!(api.get_opt("free").await.expect("get_opt").is_none());
    api.create(&PostParams::default(), &pod("bound", Some("lab-node-1")))
        .await
        .expect("create");
    let marked = api
        .delete("bound", &DeleteParams::default())
        .await
        .expect("delete")
        .left()
        .expect("pod");
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    assert!(
        api.get_opt("bound").await.expect("get_opt").is_some(),
        "its kubelet must stop it first"
    );
    api.delete("bound", &DeleteParams::default().grace_period(0))
        .await
        .expect("force delete");
    assert!(
        api.get_opt("bound").await.expect("get_opt").is_none(),
        "grace 0 removes it at once"
    );
}

#[tokio::test]
async fn creating_with_a_resource_version_is_refused() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let mut cm = config_map("cm", "1", &[]);
    cm.metadata.resource_version = Some("5".into());
    let err = api
        .create(&PostParams::default(), &cm)
        .await
        .expect_err("refused");
    let status = api_status(err);
    assert_eq!(
        status.code, 500,
        "upstream's storage error, not a validation error"
    );
    assert_eq!(
        status.message,
        "resourceVersion should not be set on objects to be created"
    );
    assert!(api.get_opt("cm").await.expect("get_opt").is_none());
    cm.metadata.resource_version = Some("0".into());
    api.create(&PostParams::default(), &cm)
        .await
        .expect("version 0 means unset");
}

#[tokio::test]
async fn a_continue_token_older_than_the_history_is_expired() {
    let lab = TestLab::with_config(LabConfig {
        history: 5,
        ..LabConfig::default()
    })
    .await;
    let api: Api<ConfigMap> = lab.api();
    for i in 0..4 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("cm-{i}"), "1", &[]),
        )
        .await
        .expect("create");
    }
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    let token = first.metadata.continue_.expect("more pages");
    for i in 0..6 {
        let p = json!({"data": {"k": i.to_string()}});
        api.patch("cm-0", &PatchParams::default(), &Patch::Merge(&p))
            .await
            .expect("patch");
    }
    let status = api_status(
        api.list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .expect_err("too old"),
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (410, "Expired"),
        "{status:?}"
    );
}
