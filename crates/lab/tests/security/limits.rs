//! What a real API server refuses: bodies over 3 MiB (413), write bodies that are not JSON
//! or YAML (415), objects over the size limits (422), repeated keys under strict field
//! validation; and connections that stall are closed instead of holding the server.

use std::time::Duration;

use rollout_lab::{Lab, LabConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::wire::{self, Answer, bearer, connect, read_answer, request};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

async fn api_lab() -> Lab {
    Lab::start(LabConfig {
        controllers: false,
        read_timeout: Duration::from_secs(1),
        ..LabConfig::default()
    })
    .await
    .expect("the lab starts")
}

async fn post(lab: &Lab, path: &str, content_type: Option<&str>, body: &[u8]) -> Answer {
    let auth = bearer(lab);
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(ct) = content_type {
        headers.push(("Content-Type", ct));
    }
    request(lab, "POST", path, &headers, body).await
}

fn message(answer: &Answer) -> String {
    let status: Value =
        serde_json::from_str(&answer.body).unwrap_or_else(|_| panic!("a Status body: {answer:?}"));
    status["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_body_over_3_mib_gets_413_whether_declared_or_streamed() {
    let lab = api_lab().await;
    let limit = 3 * 1024 * 1024;
    // Declared: answered from the headers, before any of the body is sent.
    let mut io = connect(&lab).await;
    let head = format!(
        "POST {CONFIGMAPS} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bearer(&lab),
        limit + 1
    );
    io.write_all(head.as_bytes()).await.expect("sent");
    let declared = read_answer(&mut io).await;
    assert_eq!(declared.status, 413, "{declared:?}");
    assert_eq!(
        message(&declared),
        "Request entity too large: limit is 3145728"
    );

    // Streamed without a length: refused once the limit is passed.
    let io = connect(&lab).await;
    let (mut rd, mut wr) = tokio::io::split(io);
    let head = format!(
        "POST {CONFIGMAPS} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        bearer(&lab)
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..(limit / chunk.len() + 2) {
            wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            wr.write_all(&chunk).await?;
            wr.write_all(b"\r\n").await?;
        }
        wr.write_all(b"0\r\n\r\n").await
    });
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut raw)).await;
    writer.abort();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.contains("Request entity too large: limit is 3145728"),
        "{text}"
    );
}

#[tokio::test]
async fn a_write_body_that_is_not_json_or_yaml_gets_415_and_a_missing_type_reads_as_json() {
    let lab = api_lab().await;
    let body = br#"{"metadata":{"name":"plain"}}"#;
    let refused = post(&lab, CONFIGMAPS, Some("text/plain"), body).await;
    assert_eq!(refused.status, 415, "{refused:?}");
    assert_eq!(
        message(&refused),
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    let untyped = post(&lab, CONFIGMAPS, None, body).await;
    assert_eq!(untyped.status, 201, "{untyped:?}");
    let charset = br#"{"metadata":{"name":"utf8"}}"#;
    let typed = post(
        &lab,
        CONFIGMAPS,
        Some("application/json; charset=utf-8"),
        charset,
    )
    .await;
    assert_eq!(typed.status, 201, "{typed:?}");
}

#[tokio::test]
async fn a_protobuf_body_of_an_unknown_kind_gets_415_and_a_broken_one_400() {
    let lab = api_lab().await;
    const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
    // `k8s\0`, then runtime.Unknown{typeMeta{apiVersion: "example.com/v1", kind: "Widget"}}.
    let type_meta = [&[10, 14][..], b"example.com/v1", &[18, 6], b"Widget"].concat();
    let widget = [&b"k8s\0"[..], &[10, type_meta.len() as u8], &type_meta].concat();
    let refused = post(&lab, CONFIGMAPS, Some(PROTOBUF), &widget).await;
    assert_eq!(refused.status, 415, "{refused:?}");
    assert_eq!(
        message(&refused),
        "the lab cannot read Widget (example.com/v1) from protobuf; send it as JSON"
    );
    let cut = post(&lab, CONFIGMAPS, Some(PROTOBUF), b"k8s\0\x12\x09\x01").await;
    assert_eq!(cut.status, 400, "{cut:?}");
}

#[tokio::test]
async fn configmap_data_over_1_mib_and_annotations_over_256_kib_get_422() {
    let lab = api_lab().await;
    let data = |name: &str, n: usize| {
        json!({"metadata": {"name": name}, "data": {"k": "x".repeat(n)}}).to_string()
    };
    let fits = post(
        &lab,
        CONFIGMAPS,
        Some("application/json"),
        data("fits", 1 << 20).as_bytes(),
    )
    .await;
    assert_eq!(
        fits.status, 201,
        "exactly 1 MiB is accepted: {}",
        fits.status
    );
    let big = post(
        &lab,
        CONFIGMAPS,
        Some("application/json"),
        data("big", (1 << 20) + 1).as_bytes(),
    )
    .await;
    assert_eq!(big.status, 422, "{}", big.body);
    assert_eq!(
        message(&big),
        "ConfigMap \"big\" is invalid: []: Too long: must have at most 1048576 bytes"
    );

    let annotated =
        json!({"metadata": {"name": "noted", "annotations": {"a": "x".repeat(256 * 1024)}}});
    let noted = post(
        &lab,
        CONFIGMAPS,
        Some("application/json"),
        annotated.to_string().as_bytes(),
    )
    .await;
    assert_eq!(noted.status, 422, "{}", noted.body);
    assert_eq!(
        message(&noted),
        "ConfigMap \"noted\" is invalid: metadata.annotations: Too long: must have at most 262144 bytes"
    );
}

#[tokio::test]
async fn repeated_keys_fail_strict_validation_and_warn_by_default() {
    let lab = api_lab().await;
    let body =
        br#"{"metadata": {"name": "dup", "name": "dup"}, "immutable": false, "immutable": true}"#;
    let strict = post(
        &lab,
        &format!("{CONFIGMAPS}?fieldValidation=Strict"),
        Some("application/json"),
        body,
    )
    .await;
    assert_eq!(strict.status, 400, "{strict:?}");
    assert_eq!(
        message(&strict),
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: duplicate field \"metadata.name\", duplicate field \"immutable\""
    );
    let warned = post(&lab, CONFIGMAPS, Some("application/json"), body).await;
    assert_eq!(warned.status, 201, "{warned:?}");
    assert_eq!(
        warned.header("Warning"),
        [
            "299 - \"duplicate field \\\"metadata.name\\\"\"",
            "299 - \"duplicate field \\\"immutable\\\"\""
        ]
    );
}

/// Reads until the server closes the connection (EOF or reset); true if it did within
/// `within`.
async fn closed_by_server(io: &mut Box<dyn wire::Io>, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_all).await.is_ok()
}

#[tokio::test]
async fn three_hundred_stalled_connections_do_not_stop_a_request_and_each_is_closed() {
    let lab = api_lab().await;
    // Stalled before the TLS handshake: TCP only, nothing sent.
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(
            tokio::net::TcpStream::connect(lab.addr())
                .await
                .expect("connects"),
        );
    }
    // Stalled in the headers, after the handshake.
    let mut half_headers = connect(&lab).await;
    half_headers
        .write_all(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("sent");
    // Stalled in the body.
    let mut half_body = connect(&lab).await;
    let head = format!(
        "POST {CONFIGMAPS} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"metadata\"",
        bearer(&lab)
    );
    half_body.write_all(head.as_bytes()).await.expect("sent");

    let answered = request(
        &lab,
        "GET",
        "/api/v1/namespaces",
        &[("Authorization", &bearer(&lab))],
        b"",
    )
    .await;
    assert_eq!(answered.status, 200, "{answered:?}");

    let generous = Duration::from_secs(20);
    assert!(
        closed_by_server(&mut half_headers, generous).await,
        "a connection stalled in its headers is closed"
    );
    let mut body_answer = Vec::new();
    let _ = tokio::time::timeout(generous, half_body.read_to_end(&mut body_answer)).await;
    let text = String::from_utf8_lossy(&body_answer);
    assert!(
        text.starts_with("HTTP/1.1 504"),
        "a stalled body gets 504: {text}"
    );
    for (i, tcp) in silent.iter_mut().enumerate() {
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(generous, async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "silent connection {i} is closed by the server"
        );
    }
}
