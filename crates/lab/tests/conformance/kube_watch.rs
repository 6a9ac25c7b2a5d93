//! Watches through kube-rs: the `watcher` state machine in list-watch and streaming-list
//! modes, resuming from a resourceVersion, 410 Expired after compaction, bookmarks,
//! `timeoutSeconds`, and `await_condition`.

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::wait::await_condition;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use rollout_lab::LabConfig;
use serde_json::json;

use crate::support::{DEADLINE, TestLab, config_map, deployment, within};

type Events =
    std::pin::Pin<Box<dyn Stream<Item = Result<Event<ConfigMap>, watcher::Error>> + Send>>;

/// The next watcher event, as `Init`, `InitApply(a)`, `Apply(a)`, `Delete(a)`...
async fn next(events: &mut Events) -> String {
    within(DEADLINE, "the next watcher event", events.try_next())
        .await
        .expect("the watcher does not fail")
        .expect("the watcher does not end")
        .to_string()
}

/// Events up to and including the next `InitDone`, with the `InitApply`s sorted.
async fn initial_list(events: &mut Events) -> Vec<String> {
    let mut got = vec![next(events).await];
    assert_eq!(got[0], "Init");
    loop {
        let e = next(events).await;
        let done = e == "InitDone";
        got.push(e);
        if done {
            let end = got.len() - 1;
            got[1..end].sort();
            return got;
        }
    }
}

/// Creates, changes and deletes config maps, asserting each change arrives in order.
async fn changes_arrive(api: &Api<ConfigMap>, events: &mut Events) {
    api.create(&PostParams::default(), &config_map("c", "1", &[]))
        .await
        .expect("create");
    assert_eq!(next(events).await, "Apply(c)");
    let p = json!({"data": {"k": "2"}});
    api.patch("a", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .expect("patch");
    assert_eq!(next(events).await, "Apply(a)");
    api.delete("b", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(next(events).await, "Delete(b)");
}

async fn two_config_maps(lab: &TestLab) -> Api<ConfigMap> {
    let api: Api<ConfigMap> = lab.api();
    for name in ["a", "b"] {
        api.create(&PostParams::default(), &config_map(name, "1", &[]))
            .await
            .expect("create");
    }
    api
}

#[tokio::test]
async fn the_watcher_lists_then_watches_in_list_watch_mode() {
    let lab = TestLab::start().await;
    let api = two_config_maps(&lab).await;
    let mut events: Events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    assert_eq!(
        initial_list(&mut events).await,
        ["Init", "InitApply(a)", "InitApply(b)", "InitDone"]
    );
    changes_arrive(&api, &mut events).await;
}

#[tokio::test]
async fn the_watcher_lists_then_watches_in_streaming_list_mode() {
    let lab = TestLab::start().await;
    let api = two_config_maps(&lab).await;
    let config = watcher::Config::default().streaming_lists();
    let mut events: Events = watcher::watcher(api.clone(), config).boxed();
    assert_eq!(
        initial_list(&mut events).await,
        ["Init", "InitApply(a)", "InitApply(b)", "InitDone"]
    );
    changes_arrive(&api, &mut events).await;
}

#[tokio::test]
async fn a_watcher_with_a_label_selector_sees_an_object_leave_as_a_delete() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    api.create(
        &PostParams::default(),
        &config_map("a", "1", &[("tier", "web")]),
    )
    .await
    .expect("create");
    let mut events: Events =
        watcher::watcher(api.clone(), watcher::Config::default().labels("tier=web")).boxed();
    assert_eq!(
        initial_list(&mut events).await,
        ["Init", "InitApply(a)", "InitDone"]
    );
    let relabel = json!({"metadata": {"labels": {"tier": "db"}}});
    api.patch("a", &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .expect("patch");
    assert_eq!(next(&mut events).await, "Delete(a)");
    let back = json!({"metadata": {"labels": {"tier": "web"}}});
    api.patch("a", &PatchParams::default(), &Patch::Merge(&back))
        .await
        .expect("patch");
    assert_eq!(next(&mut events).await, "Apply(a)");
}

#[tokio::test]
async fn a_watch_from_a_resource_version_replays_the_later_changes() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let a = api
        .create(&PostParams::default(), &config_map("a", "1", &[]))
        .await
        .expect("create");
    let from = a.resource_version().expect("rv");
    api.create(&PostParams::default(), &config_map("x", "1", &[]))
        .await
        .expect("create");
    let p = json!({"data": {"k": "2"}});
    api.patch("x", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .expect("patch");
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    let stream = api
        .watch(&WatchParams::default().disable_bookmarks(), &from)
        .await
        .expect("watch");
    let replayed: Vec<String> = within(
        DEADLINE,
        "three replayed events",
        stream.take(3).collect::<Vec<_>>(),
    )
    .await
    .into_iter()
    .map(|e| match e.expect("an event") {
        WatchEvent::Added(c) => format!("ADDED {}", c.name_any()),
        WatchEvent::Modified(c) => format!("MODIFIED {}", c.name_any()),
        WatchEvent::Deleted(c) => format!("DELETED {}", c.name_any()),
        other => format!("{other:?}"),
    })
    .collect();
    assert_eq!(replayed, ["ADDED x", "MODIFIED x", "DELETED a"]);
}

#[tokio::test]
async fn a_compacted_resource_version_is_an_expired_error_event_in_the_stream() {
    let lab = TestLab::with_config(LabConfig {
        history: 5,
        ..LabConfig::default()
    })
    .await;
    let api: Api<ConfigMap> = lab.api();
    let first = api
        .create(&PostParams::default(), &config_map("a", "0", &[]))
        .await
        .expect("create");
    for i in 1..=8 {
        let p = json!({"data": {"k": i.to_string()}});
        api.patch("a", &PatchParams::default(), &Patch::Merge(&p))
            .await
            .expect("patch");
    }
    let mut stream = api
        .watch(
            &WatchParams::default(),
            &first.resource_version().expect("rv"),
        )
        .await
        .expect("the watch starts with 200, not an HTTP 410")
        .boxed();
    let event = within(DEADLINE, "the ERROR event", stream.next())
        .await
        .expect("an event");
    match event.expect("a decodable event") {
        WatchEvent::Error(status) => {
            assert_eq!(
                (status.code, status.reason.as_str()),
                (410, "Expired"),
                "{status:?}"
            );
            assert!(
                status.message.starts_with("too old resource version"),
                "{}",
                status.message
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn the_watcher_relists_after_its_resource_version_is_compacted() {
    let lab = TestLab::with_config(LabConfig {
        history: 5,
        ..LabConfig::default()
    })
    .await;
    let api: Api<ConfigMap> = lab.api();
    api.create(
        &PostParams::default(),
        &config_map("watched", "1", &[("w", "yes")]),
    )
    .await
    .expect("create");
    // Short server-side watches and no bookmarks: the watcher re-watches from the version
    // of the last event it saw, which the changes below push out of the history.
    let config = watcher::Config::default()
        .labels("w=yes")
        .timeout(1)
        .disable_bookmarks();
    let mut events: Events = watcher::watcher(api.clone(), config).boxed();
    assert_eq!(
        initial_list(&mut events).await,
        ["Init", "InitApply(watched)", "InitDone"]
    );
    for i in 0..8 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("other-{i}"), "1", &[]),
        )
        .await
        .expect("create");
    }
    let mut errors = 0;
    let relisted = within(DEADLINE, "a second initial list", async {
        loop {
            match events.next().await.expect("the watcher does not end") {
                Ok(Event::Init) => return true,
                Ok(other) => panic!("unexpected event before the relist: {other}"),
                Err(watcher::Error::WatchError(status)) if status.code == 410 => errors += 1,
                Err(e) => panic!("the watcher failed another way: {e}"),
            }
        }
    })
    .await;
    assert!(relisted);
    assert_eq!(errors, 1, "one 410, then a relist (not a loop of retries)");
    assert_eq!(next(&mut events).await, "InitApply(watched)");
    assert_eq!(next(&mut events).await, "InitDone");
}

#[tokio::test]
async fn bookmarks_arrive_when_asked_for() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let cm = api
        .create(&PostParams::default(), &config_map("a", "1", &[]))
        .await
        .expect("create");
    let rv = cm.resource_version().expect("rv");
    let params = WatchParams::default().timeout(30);
    assert!(params.bookmarks, "kube-rs asks for bookmarks by default");
    let mut stream = api.watch(&params, &rv).await.expect("watch").boxed();
    let event = within(DEADLINE, "a bookmark", stream.next())
        .await
        .expect("an event");
    match event.expect("a decodable event") {
        WatchEvent::Bookmark(b) => {
            let at: u64 = b
                .metadata
                .resource_version
                .parse()
                .expect("a numeric resourceVersion");
            assert!(
                at >= rv.parse::<u64>().expect("numeric"),
                "{at} is not before {rv}"
            );
        }
        other => panic!("expected a BOOKMARK on an idle watch, got {other:?}"),
    }
}

#[tokio::test]
async fn timeout_seconds_ends_the_watch_stream() {
    let lab = TestLab::start().await;
    let api: Api<ConfigMap> = lab.api();
    let stream = api
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), "0")
        .await
        .expect("watch");
    let events = within(
        DEADLINE,
        "the server to end the watch",
        stream.collect::<Vec<_>>(),
    )
    .await;
    assert!(
        events.is_empty(),
        "nothing happened, so nothing was sent: {events:?}"
    );
}

#[tokio::test]
async fn await_condition_returns_once_a_patch_makes_the_condition_true() {
    let lab = TestLab::start().await;
    let api: Api<Deployment> = lab.api();
    api.create(&PostParams::default(), &deployment("web", "nginx:1"))
        .await
        .expect("create");
    let scaled = |d: Option<&Deployment>| d.and_then(|d| d.spec.as_ref()?.replicas) == Some(5);
    let waiter = tokio::spawn(await_condition(api.clone(), "web", scaled));
    let p = json!({"spec": {"replicas": 5}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .expect("patch");
    let found = within(DEADLINE, "the condition", waiter)
        .await
        .expect("the waiter task finishes")
        .expect("the wait does not fail")
        .expect("the object exists");
    assert_eq!(found.spec.and_then(|s| s.replicas), Some(5));
}
