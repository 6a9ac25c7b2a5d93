//! The model server over real loopback sockets: loading, serving, failure
//! knobs and graceful shutdown.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{config, get, predict, start, within};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use model_server::server::{Config, ExitReason, Phase, serve};
use serde_json::json;
use tokio::net::TcpStream;

#[tokio::test]
async fn the_model_answers_503_while_loading_and_200_after_load_seconds() {
    let started = Instant::now();
    let mut server = start(Config {
        load_time: Duration::from_millis(200),
        ..config()
    })
    .await;

    let loading = get(server.addr, "/v1/models/classifier").await;
    assert_eq!(loading.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        loading.json(),
        json!({"model_version_status":[{"version":"v2","state":"LOADING",
            "status":{"error_code":"UNAVAILABLE","error_message":""}}]})
    );
    assert_eq!(get(server.addr, "/readyz").await.status, 503);
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
    assert_eq!(
        predict(server.addr, r#"{"instances":[1]}"#).await.status,
        503
    );

    server.ready().await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    let loaded = get(server.addr, "/v1/models/classifier").await;
    assert_eq!(loaded.status, StatusCode::OK);
    assert_eq!(
        loaded.json(),
        json!({"model_version_status":[{"version":"v2","state":"AVAILABLE",
            "status":{"error_code":"OK","error_message":""}}]})
    );
    assert_eq!(get(server.addr, "/readyz").await.status, 200);
    assert_eq!(server.stop().await, ExitReason::Shutdown);
}

#[tokio::test]
async fn the_ready_file_is_created_once_the_model_is_loaded() {
    let path = std::env::temp_dir().join(format!(
        "model-server-ready-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    std::fs::write(&path, b"stale").unwrap();
    let mut server = start(Config {
        load_time: Duration::from_millis(200),
        ready_file: Some(path.clone()),
        ..config()
    })
    .await;
    server.ready().await;
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    server.stop().await;
    assert!(!path.exists(), "the ready file is removed while draining");
}

#[tokio::test]
async fn predict_answers_with_the_configured_version_and_pod_name() {
    let mut server = start(config()).await;
    server.ready().await;
    let reply = predict(server.addr, r#"{"instances":[[1,2,3],"abcd"]}"#).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"predictions":[6.0,4.0],"model_name":"classifier","model_version":"v2","pod":"inference-abc"})
    );
    assert_eq!(reply.header("x-model-version"), "v2");
    assert_eq!(reply.header("x-pod-name"), "inference-abc");
    server.stop().await;
}

#[tokio::test]
async fn every_response_names_the_version_and_pod_even_errors() {
    let mut server = start(config()).await;
    server.ready().await;
    for path in ["/healthz", "/metrics", "/nowhere", "/v1/models/other"] {
        let reply = get(server.addr, path).await;
        assert_eq!(reply.header("x-model-version"), "v2", "{path}");
        assert_eq!(reply.header("x-pod-name"), "inference-abc", "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_model_is_404_and_a_malformed_body_is_400() {
    let mut server = start(config()).await;
    server.ready().await;
    let unknown = get(server.addr, "/v1/models/resnet").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json(),
        json!({"error": "Servable not found for request: Latest(resnet)"})
    );
    let bad = predict(server.addr, "{\"instances\":").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["error"].as_str().unwrap().contains("JSON"));
    let wrong_method = get(server.addr, "/v1/models/classifier:predict").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

#[tokio::test]
async fn an_error_rate_of_a_quarter_answers_every_fourth_predict_with_500() {
    let mut server = start(Config {
        error_rate: 0.25,
        ..config()
    })
    .await;
    server.ready().await;
    let mut codes = Vec::new();
    for _ in 0..20 {
        codes.push(
            predict(server.addr, r#"{"instances":[1]}"#)
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(codes.iter().filter(|c| **c == 500).count(), 5);
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 15);
    let metrics = get(server.addr, "/metrics").await.body;
    assert!(
        metrics
            .contains("model_requests_total{model=\"classifier\",version=\"v2\",code=\"500\"} 5\n")
    );
    assert!(metrics.contains("model_errors_total{model=\"classifier\",version=\"v2\"} 5\n"));
    assert!(metrics.contains(
        "model_request_duration_seconds_count{model=\"classifier\",version=\"v2\"} 20\n"
    ));
    assert!(metrics.contains("model_loaded{model=\"classifier\",version=\"v2\"} 1\n"));
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_an_in_flight_slow_request_then_refuses_connections() {
    let mut server = start(Config {
        extra_latency: Duration::from_millis(500),
        ..config()
    })
    .await;
    server.ready().await;
    let addr = server.addr;
    let slow = tokio::spawn(async move { predict(addr, r#"{"instances":[2]}"#).await });
    within(
        "the request to be in flight",
        server.inflight.wait_for(|n| *n == 1),
    )
    .await
    .unwrap();

    server.request_shutdown();
    within(
        "draining to start",
        server.phase.wait_for(|p| *p == Phase::Draining),
    )
    .await
    .unwrap();
    let reply = within("the slow request", slow).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("connection"), "close");

    let log = server.log();
    assert_eq!(server.finish().await.unwrap(), ExitReason::Shutdown);
    assert!(log.contains(&"shutdown requested; draining 1 in-flight request".to_string()));
    let refused = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_shutdown() {
    let mut server = start(config()).await;
    server.ready().await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let connection = tokio::spawn(conn);
    let request = Request::builder()
        .method(Method::GET)
        .uri("/healthz")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await.unwrap();

    server.request_shutdown();
    within("the server to close the connection", connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(server.finish().await.unwrap(), ExitReason::Shutdown);
}

#[tokio::test]
async fn a_never_ready_model_keeps_answering_503_until_shutdown() {
    let server = start(Config {
        never_ready: true,
        ..config()
    })
    .await;
    assert_eq!(get(server.addr, "/readyz").await.status, 503);
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
    assert!(server.log()[0].contains("NEVER_READY"));
    assert_eq!(server.stop().await, ExitReason::Shutdown);
}

#[tokio::test]
async fn crash_after_seconds_ends_the_server_with_a_crash() {
    let server = start(Config {
        crash_after: Some(Duration::from_millis(100)),
        ..config()
    })
    .await;
    assert_eq!(server.finish().await.unwrap(), ExitReason::Crashed);
}

#[tokio::test]
async fn fail_at_start_returns_its_exit_code_without_serving() {
    let reason = serve(
        Config {
            fail_at_start: Some(3),
            ..config()
        },
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    assert_eq!(reason, ExitReason::FailedAtStart(3));
    assert_eq!(reason.exit_code(), 3);
}

#[tokio::test]
async fn alloc_mb_is_allocated_before_loading() {
    let mut server = start(Config {
        alloc_mib: 4,
        ..config()
    })
    .await;
    server.ready().await;
    assert_eq!(server.log()[0], "allocated 4 MiB of model memory");
    assert_eq!(server.stop().await, ExitReason::Shutdown);
}
