//! What `rollout bluegreen` reports, on busybox sides (any cluster): the `--dry-run` plan
//! with each precondition that held, the `-o json` result of `--to` (sides, selectors
//! before and after, endpoints, timings, the command to swap back), the `ServiceSwapped`
//! Event on the Service, and `rollout status
//! svc/NAME` / `--status -o json` (the active side, each side's image, VERSION and
//! readiness, the endpoints, the previous selector, when and why it was swapped).

use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::{Value, json};

use crate::bluegreen::{blue, shop, svc};
use crate::support::{Env, pod_ready};

/// The names of the side's ready pods, as the cluster has them.
async fn ready_pods(env: &Env, color: &str) -> Vec<String> {
    env.wait_list::<Pod>(&format!("app=shop,color={color}"), |ps| {
        ps.len() == 2 && ps.iter().all(pod_ready)
    })
    .await
    .into_iter()
    .filter_map(|p| p.metadata.name)
    .collect()
}

fn seconds(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("a number of seconds: {v}"))
}

#[tokio::test]
async fn a_swap_reports_its_plan_result_and_status_with_every_field_the_issue_names() {
    let env = Env::start().await;
    shop(&env, blue(), json!("http")).await;
    let ns = env.namespace.clone();

    // The dry run lists each precondition that held, and the selector diff.
    let dry = env
        .rollout(&[
            "bluegreen",
            "shop",
            "--to",
            "shop-green",
            "--dry-run",
            "--stable-for",
            "0",
        ])
        .await;
    dry.expect_code(0);
    let plan = &dry.stdout;
    assert!(
        plan.contains(&format!(
            "plan: swap service {ns}/shop to deployment \"shop-green\""
        )),
        "{}",
        dry.both()
    );
    for check in [
        "ok: deployment \"shop-green\" is fully rolled out",
        "ok: its 2 pods have been Ready",
        "ok: the new selector app=shop,color=green selects all 2 pods of \"shop-green\"",
        "ok: target ports \"http\" are declared by \"shop-green\"",
    ] {
        assert!(plan.contains(check), "{check:?} in {}", dry.both());
    }

    let run = env
        .rollout(&[
            "bluegreen",
            "service/shop",
            "--to",
            "shop-green",
            "--stable-for",
            "0",
            "--cause",
            "v2 schema",
            "-o",
            "json",
        ])
        .await;
    run.expect_code(0);
    let r = run.json();
    assert_eq!(r["result"], "swapped", "{}", run.both());
    assert_eq!(r["target"], format!("{ns}/shop"));
    assert_eq!(r["action"], "bluegreen");
    assert_eq!(r["from"], "shop-blue");
    assert_eq!(r["to"], "shop-green");
    assert_eq!(r["selectorBefore"], blue());
    assert_eq!(r["selectorAfter"], json!({"app": "shop", "color": "green"}));
    assert_eq!(r["checks"].as_array().map(Vec::len), Some(4), "{r:#}");
    let green = ready_pods(&env, "green").await;
    let serving = r["endpoints"]["serving"].to_string();
    for pod in &green {
        assert!(serving.contains(pod.as_str()), "{pod} serves: {r:#}");
    }
    assert_eq!(r["endpoints"]["serving"].as_array().map(Vec::len), Some(2));
    assert_eq!(r["endpoints"]["extra"], json!([]));
    assert_eq!(r["endpoints"]["missing"], json!([]));
    let t = &r["timings"];
    let (check, switch, total) = (
        seconds(&t["checkSeconds"]),
        seconds(&t["switchSeconds"]),
        seconds(&t["totalSeconds"]),
    );
    assert!(
        check >= 0.0 && switch >= 0.0 && total >= check + switch * 0.99,
        "{t}"
    );
    assert_eq!(
        r["next"],
        format!("rollout bluegreen shop --rollback -n {ns}")
    );
    assert_eq!(r["exitCode"], 0);

    let status = env.rollout(&["status", "svc/shop"]).await;
    status.expect_code(0);
    let out = &status.stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(
            format!("service {ns}/shop: selector app=shop,color=green, active side: shop-green")
                .as_str()
        ),
        "{out}"
    );
    let row = |side: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{side} ")))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("a row for {side}: {out}"))
    };
    assert_eq!(
        row("shop-blue"),
        ["shop-blue", "busybox:1.36", "blue", "2/2", "ready"]
    );
    assert_eq!(
        row("shop-green"),
        ["shop-green", "*", "busybox:1.36", "green", "2/2", "ready"]
    );
    let endpoints = lines
        .iter()
        .find(|l| l.starts_with("endpoints: "))
        .unwrap_or_else(|| panic!("an endpoints line: {out}"));
    for pod in &green {
        assert!(endpoints.contains(pod.as_str()), "{pod}: {out}");
    }
    let s = svc(&env, "shop").await;
    let at = s
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("rollout.dev/swapped-at"))
        .cloned()
        .expect("the swap time is recorded");
    assert!(
        out.contains(&format!(
            "last swap: {at} to shop-green from shop-blue (app=shop,color=blue), cause: v2 schema, settled"
        )),
        "{out}"
    );

    // The swap is announced on the Service, with its cause.
    let events: Vec<Event> = env
        .api::<Event>()
        .list(&Default::default())
        .await
        .expect("events are listed")
        .items;
    let swapped: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.reason.as_deref() == Some("ServiceSwapped")
                && e.involved_object.kind.as_deref() == Some("Service")
                && e.involved_object.name.as_deref() == Some("shop")
        })
        .collect();
    assert_eq!(swapped.len(), 1, "one ServiceSwapped event: {events:?}");
    let message = swapped[0].message.as_deref().unwrap_or_default();
    assert!(
        message.contains("shop-green") && message.contains("v2 schema"),
        "{message}"
    );

    let json_status = env
        .rollout(&["bluegreen", "shop", "--status", "-o", "json"])
        .await;
    json_status.expect_code(0);
    let st = json_status.json();
    assert_eq!(st["result"], "status");
    assert_eq!(st["activeSide"], "shop-green");
    let sides = st["sides"].as_array().cloned().unwrap_or_default();
    let side = |name: &str| {
        sides
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("side {name}: {st:#}"))
    };
    for (name, active) in [("shop-blue", false), ("shop-green", true)] {
        let d = side(name);
        assert_eq!(d["active"], active, "{d}");
        assert_eq!(d["images"], json!(["busybox:1.36"]));
        assert_eq!(d["version"], name.trim_start_matches("shop-"));
        assert_eq!(
            (d["ready"].clone(), d["replicas"].clone()),
            (json!(2), json!(2))
        );
    }
    assert_eq!(st["endpoints"].as_array().map(Vec::len), Some(2), "{st:#}");
    assert_eq!(st["lastSwap"]["previousSelector"], blue());
    assert_eq!(st["lastSwap"]["previousSide"], "shop-blue");
    assert_eq!(st["lastSwap"]["swappedAt"], at.as_str());
    assert_eq!(st["lastSwap"]["cause"], "v2 schema");
    assert_eq!(st["lastSwap"]["state"], "settled");
    let read: jiff::Timestamp = at.parse().expect("an RFC 3339 time");
    let age = jiff::Timestamp::now().duration_since(read);
    assert!(
        age >= jiff::SignedDuration::ZERO - jiff::SignedDuration::from_secs(5)
            && age < jiff::SignedDuration::from_secs(600),
        "recorded at the swap: {at}"
    );
}
