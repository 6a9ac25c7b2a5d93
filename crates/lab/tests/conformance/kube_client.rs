//! Reads, lists and plain writes through the real kube-rs client: what `Api<K>` callers get.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::support::{DEADLINE, TestLab, api_status, config_map, deployment, service, within};

#[tokio::test]
async fn a_created_deployment_reads_back_with_the_server_owned_metadata() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    let created = api
        .create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create succeeds");
    let got = api.get("web").await.expect("get succeeds");
    assert_eq!(got.uid(), created.uid());
    assert!(got.uid().is_some_and(|u| !u.is_empty()), "uid is set");
    assert!(got.resource_version().is_some(), "resourceVersion is set");
    assert!(
        got.creation_timestamp().is_some(),
        "creationTimestamp is set"
    );
    assert_eq!(got.metadata.generation, Some(1));
    assert_eq!(got.namespace().as_deref(), Some("default"));
}

#[tokio::test]
async fn get_opt_of_a_missing_object_is_none_and_get_is_not_found() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    assert!(
        api.get_opt("nope")
            .await
            .expect("a 404 is not an error")
            .is_none()
    );
    let status = api_status(
        api.get("nope")
            .await
            .expect_err("get of a missing object fails"),
    );
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "configmaps \"nope\" not found");
}

#[tokio::test]
async fn pods_are_created_and_listed_with_a_pending_phase() {
    let lab = TestLab::start().await;
    let api: Api<Pod> = lab.api();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
    }))
    .expect("a valid Pod");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("create succeeds");
    let pods = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list");
    let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    assert_eq!(names, ["p"]);
    let phase = pods.items[0].status.as_ref().and_then(|s| s.phase.clone());
    assert_eq!(phase.as_deref(), Some("Pending"));
}

#[tokio::test]
async fn lists_filter_by_label_equality_and_by_metadata_name() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        api.create(
            &PostParams::default(),
            &config_map(name, "1", &[("tier", tier)]),
        )
        .await
        .expect("create succeeds");
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.iter().map(|c| c.name_any()).collect()
    };
    let web = api
        .list(&ListParams::default().labels("tier=web"))
        .await
        .expect("list");
    assert_eq!(names(web), ["a", "b"]);
    let db = api
        .list(&ListParams::default().labels("tier=db"))
        .await
        .expect("list");
    assert_eq!(names(db), ["c"]);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .expect("list");
    assert_eq!(names(by_name), ["b"]);
}

#[tokio::test]
async fn a_list_of_25_objects_pages_with_limit_and_continue() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    for i in 0..25 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("cm-{i:02}"), "1", &[("set", "paged")]),
        )
        .await
        .expect("create succeeds");
    }
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut params = ListParams::default().labels("set=paged").limit(10);
    loop {
        let page = api.list(&params).await.expect("a page");
        pages += 1;
        assert!(page.items.len() <= 10, "a page holds at most `limit` items");
        seen.extend(page.iter().map(|c| c.name_any()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    let expected: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(pages, 3);
    assert_eq!(seen, expected, "every object exactly once, in order");
}

#[tokio::test]
async fn replace_with_a_stale_resource_version_is_a_conflict() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let first = api
        .create(&PostParams::default(), &config_map("cm", "1", &[]))
        .await
        .expect("create succeeds");
    let mut fresh = first.clone();
    fresh.data = Some([("k".to_string(), "2".to_string())].into());
    api.replace("cm", &PostParams::default(), &fresh)
        .await
        .expect("the first replace succeeds");
    let mut stale = first;
    stale.data = Some([("k".to_string(), "3".to_string())].into());
    let status = api_status(
        api.replace("cm", &PostParams::default(), &stale)
            .await
            .expect_err("a stale resourceVersion is refused"),
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status.message.contains("the object has been modified"),
        "{}",
        status.message
    );
    let stored = api.get("cm").await.expect("get");
    assert_eq!(
        stored.data.and_then(|d| d.get("k").cloned()).as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn a_dry_run_create_answers_the_object_and_stores_nothing() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let answered = api
        .create(&pp, &deployment("web", "nginx:1"))
        .await
        .expect("dry run succeeds");
    assert_eq!(answered.name_any(), "web");
    assert!(
        api.get_opt("web").await.expect("get_opt").is_none(),
        "nothing was stored"
    );
    let svc: Api<Service> = lab.api();
    svc.create(&pp, &service("web"))
        .await
        .expect("dry-run service");
    assert!(
        svc.get_opt("web").await.expect("get_opt").is_none(),
        "no service stored"
    );
}

#[tokio::test]
async fn a_service_gets_a_cluster_ip_in_the_lab_range() {
    let lab = TestLab::start().await;
    let api: Api<Service> = lab.api();
    let a = api
        .create(&PostParams::default(), &service("a"))
        .await
        .expect("create a");
    let b = api
        .create(&PostParams::default(), &service("b"))
        .await
        .expect("create b");
    let ip = |s: &Service| {
        s.spec
            .as_ref()
            .and_then(|s| s.cluster_ip.clone())
            .unwrap_or_default()
    };
    for s in [&a, &b] {
        let addr: std::net::Ipv4Addr = ip(s).parse().expect("clusterIP is an IPv4 address");
        assert_eq!(
            &addr.octets()[..2],
            &[127, 43],
            "{addr} is in 127.43.0.0/16"
        );
    }
    assert_ne!(ip(&a), ip(&b), "each Service gets its own address");
    let got = api.get("a").await.expect("get");
    assert_eq!(ip(&got), ip(&a), "the address is stored");
}

#[tokio::test]
async fn namespaces_are_listed_created_and_deleted() {
    let lab = TestLab::start().await;
    let api: Api<Namespace> = Api::all(lab.client.clone());
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert!(names.contains(&"default".to_string()), "{names:?}");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("ns");
    let created = api
        .create(&PostParams::default(), &ns)
        .await
        .expect("create");
    let cms: Api<ConfigMap> = Api::namespaced(lab.client.clone(), "team");
    cms.create(&PostParams::default(), &config_map("inside", "1", &[]))
        .await
        .expect("create");
    api.delete("team", &DeleteParams::default())
        .await
        .expect("delete");
    let uid = created.uid().expect("uid");
    within(
        DEADLINE,
        "the namespace to go",
        await_condition(api, "team", conditions::is_deleted(&uid)),
    )
    .await
    .expect("watching the namespace");
    assert!(
        cms.get_opt("inside").await.expect("get_opt").is_none(),
        "its contents went too"
    );
}

#[tokio::test]
async fn lists_filter_by_set_based_and_inequality_selectors() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "cache")] {
        api.create(
            &PostParams::default(),
            &config_map(name, "1", &[("tier", tier)]),
        )
        .await
        .expect("create succeeds");
    }
    api.create(&PostParams::default(), &config_map("d", "1", &[]))
        .await
        .expect("create");
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.iter().map(|c| c.name_any()).collect()
    };
    let cases = [
        ("tier in (web,db)", vec!["a", "b"]),
        ("tier notin (web,db)", vec!["c", "d"]),
        ("tier!=db", vec!["a", "c", "d"]),
        ("tier", vec!["a", "b", "c"]),
        ("!tier", vec!["d"]),
        ("tier==cache", vec!["c"]),
    ];
    for (selector, expected) in cases {
        let got = api
            .list(&ListParams::default().labels(selector))
            .await
            .expect(selector);
        assert_eq!(names(got), expected, "selector {selector:?}");
    }
}

#[tokio::test]
async fn created_objects_get_the_upstream_defaults() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    let d = api
        .create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let spec = d.spec.expect("spec");
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    let strategy = spec.strategy.expect("strategy");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let rolling = serde_json::to_value(strategy.rolling_update).expect("json");
    assert_eq!(rolling, json!({"maxSurge": "25%", "maxUnavailable": "25%"}));
    let pod = spec.template.spec.expect("pod spec");
    assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
    assert_eq!(pod.termination_grace_period_seconds, Some(30));
    assert_eq!(pod.dns_policy.as_deref(), Some("ClusterFirst"));
    let c = &pod.containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        c.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    let svc: Api<Service> = lab.api();
    let s = svc
        .create(&PostParams::default(), &service("web"))
        .await
        .expect("create")
        .spec
        .expect("spec");
    assert_eq!(s.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(s.session_affinity.as_deref(), Some("None"));
    assert_eq!(s.ports.expect("ports")[0].protocol.as_deref(), Some("TCP"));
}
