//! The load generator against a real model server and a closed port.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{config, start, within};
use model_server::load::{self, LoadMethod, LoadSpec, Target};
use model_server::server::Config;
use tokio::net::TcpListener;

fn spec(url: &str, rps: f64, millis: u64) -> LoadSpec {
    LoadSpec {
        rps,
        duration: Duration::from_millis(millis),
        timeout: Duration::from_secs(5),
        ..LoadSpec::new(Target::parse(url).unwrap())
    }
}

#[tokio::test]
async fn load_against_a_ready_server_succeeds_and_counts_its_version_and_pod() {
    let mut server = start(config()).await;
    server.ready().await;
    let url = format!("http://{}/v1/models/classifier:predict", server.addr);
    let report = within(
        "the load run",
        load::run(
            LoadSpec {
                method: LoadMethod::Post,
                body: Some(br#"{"instances":[[1,2]]}"#.to_vec()),
                ..spec(&url, 50.0, 500)
            },
            std::future::pending::<()>(),
        ),
    )
    .await
    .unwrap();

    assert_eq!(report.sent, 25, "{}", report.render_human());
    assert_eq!(report.succeeded, 25);
    assert_eq!(report.failed, 0);
    assert_eq!(report.versions, BTreeMap::from([("v2".to_string(), 25)]));
    assert_eq!(
        report.pods,
        BTreeMap::from([("inference-abc".to_string(), 25)])
    );
    assert!(report.latency.is_some());
    assert!(
        (report.duration_s - 0.5).abs() < 0.05,
        "{}",
        report.duration_s
    );
    server.stop().await;
}

#[tokio::test]
async fn load_with_a_reused_connection_also_succeeds() {
    let mut server = start(config()).await;
    server.ready().await;
    let url = format!("http://localhost:{}/healthz", server.addr.port());
    let report = load::run(
        LoadSpec {
            fresh_connections: false,
            ..spec(&url, 40.0, 250)
        },
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    assert_eq!((report.sent, report.succeeded), (10, 10));
    server.stop().await;
}

#[tokio::test]
async fn load_against_a_closed_port_reports_connection_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let report = load::run(
        spec(&format!("http://{addr}/"), 40.0, 250),
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    assert_eq!(report.sent, 10);
    assert_eq!(report.failed, 10);
    assert_eq!(report.failures.connect_refused, 10, "{:?}", report.failures);
    assert!(report.latency.is_none());
    assert!(report.render_human().contains("connection refused 10"));
}

#[tokio::test]
async fn server_errors_are_reported_by_status_code() {
    let mut server = start(Config {
        error_rate: 0.5,
        ..config()
    })
    .await;
    server.ready().await;
    let url = format!("http://{}/v1/models/classifier:predict", server.addr);
    let report = load::run(
        LoadSpec {
            method: LoadMethod::Post,
            body: Some(br#"{"instances":[1]}"#.to_vec()),
            ..spec(&url, 40.0, 250)
        },
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    assert_eq!((report.sent, report.succeeded), (10, 5));
    assert_eq!(report.failures.http_status.get(&500).copied(), Some(5));
    server.stop().await;
}

#[tokio::test]
async fn a_slow_server_makes_requests_time_out() {
    let mut server = start(Config {
        extra_latency: Duration::from_secs(5),
        ..config()
    })
    .await;
    server.ready().await;
    let url = format!("http://{}/v1/models/classifier:predict", server.addr);
    let report = load::run(
        LoadSpec {
            method: LoadMethod::Post,
            body: Some(br#"{"instances":[1]}"#.to_vec()),
            timeout: Duration::from_millis(100),
            ..spec(&url, 20.0, 100)
        },
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    assert_eq!(report.sent, 2);
    assert_eq!(report.failures.timeout, 2);
    drop(server);
}

#[tokio::test]
async fn a_cancelled_run_stops_early_and_still_reports() {
    let report = load::run(spec("http://127.0.0.1:9/", 10.0, 60_000), async {})
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
    assert!(report.duration_s < 1.0);
}

#[tokio::test]
async fn a_url_off_this_machine_is_refused_before_anything_is_sent() {
    let err = Target::parse("http://192.0.2.1:8080/").unwrap_err();
    assert!(err.to_string().contains("only ever sent to this machine"));
}
