//! Who may talk to the lab: TLS against the lab's own CA, the bearer token on every request,
//! and the kubeconfig that carries both, readable by its owner only.

use std::os::unix::fs::PermissionsExt;

use rollout_lab::{Lab, LabConfig};

use super::wire::{self, bearer, request};

async fn api_lab(config: LabConfig) -> Lab {
    Lab::start(LabConfig {
        controllers: false,
        ..config
    })
    .await
    .expect("the lab starts")
}

#[tokio::test]
async fn a_request_without_the_token_or_with_another_gets_401_and_the_kubeconfig_token_is_accepted()
{
    let lab = api_lab(LabConfig::default()).await;
    let path = "/api/v1/namespaces";

    let anonymous = request(&lab, "GET", path, &[], b"").await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let status: serde_json::Value = serde_json::from_str(&anonymous.body).expect("a Status");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Unauthorized");
    assert_eq!(status["message"], "Unauthorized");
    assert_eq!(status["code"], 401);

    let wrong = format!("Bearer {}", "0".repeat(64));
    let guessed = request(&lab, "GET", path, &[("Authorization", &wrong)], b"").await;
    assert_eq!(guessed.status, 401, "{guessed:?}");

    // A write is refused as well, and nothing is created.
    let create = request(
        &lab,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[("Content-Type", "application/json")],
        br#"{"metadata":{"name":"intruder"}}"#,
    )
    .await;
    assert_eq!(create.status, 401, "{create:?}");

    let allowed = request(&lab, "GET", path, &[("Authorization", &bearer(&lab))], b"").await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert!(
        allowed.body.contains("\"NamespaceList\""),
        "{}",
        allowed.body
    );
    assert!(!allowed.body.contains("intruder"));
}

#[tokio::test]
async fn health_and_version_answer_anonymous_clients_but_not_a_wrong_token() {
    let lab = api_lab(LabConfig::default()).await;
    for path in ["/healthz", "/livez", "/readyz", "/version", "/version/"] {
        let open = request(&lab, "GET", path, &[], b"").await;
        assert_eq!(open.status, 200, "{path}: {open:?}");
        let wrong = request(&lab, "GET", path, &[("Authorization", "Bearer nope")], b"").await;
        assert_eq!(wrong.status, 401, "{path}: {wrong:?}");
    }
    let faults = request(&lab, "GET", "/lab/faults", &[], b"").await;
    assert_eq!(
        faults.status, 401,
        "the fault settings are not public: {faults:?}"
    );
}

#[tokio::test]
async fn the_lab_presents_a_certificate_only_its_own_ca_verifies() {
    let lab = api_lab(LabConfig::default()).await;
    let other = api_lab(LabConfig::default()).await;
    assert!(lab.url().starts_with("https://127.0.0.1:"), "{}", lab.url());
    let other_ca = other.access().ca_pem.clone().expect("a CA");
    assert_ne!(Some(&other_ca), lab.access().ca_pem.as_ref());
    let tcp = tokio::net::TcpStream::connect(lab.addr())
        .await
        .expect("connects");
    let name = rustls::pki_types::ServerName::IpAddress(lab.addr().ip().into());
    let handshake = wire::tls_client(&other_ca).connect(name, tcp).await;
    assert!(
        handshake.is_err(),
        "a certificate from another CA must not verify"
    );
}

#[tokio::test]
async fn the_kubeconfig_is_0600_and_carries_the_ca_and_token_kubectl_uses() {
    let lab = api_lab(LabConfig::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config");
    lab.write_kubeconfig(&path).expect("written");
    let mode = std::fs::metadata(&path)
        .expect("exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).expect("readable");
    assert!(text.contains("certificate-authority-data: "));
    assert!(text.contains(&format!("token: {}", lab.token())));
    assert!(text.contains(&format!("server: {}", lab.url())));

    let Ok(out) = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&path)
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .await
    else {
        println!("skipped the kubectl half: kubectl not found");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.lines().any(|l| l == "namespace/default"), "{stdout}");
}

#[tokio::test]
async fn an_insecure_http_lab_serves_plain_http_and_still_wants_the_token() {
    let lab = api_lab(LabConfig {
        insecure_http: true,
        ..LabConfig::default()
    })
    .await;
    assert!(lab.url().starts_with("http://127.0.0.1:"), "{}", lab.url());
    assert!(lab.access().ca_pem.is_none());
    assert!(!lab.kubeconfig().contains("certificate-authority-data"));
    let refused = request(&lab, "GET", "/api/v1/namespaces", &[], b"").await;
    assert_eq!(refused.status, 401);
    let allowed = request(
        &lab,
        "GET",
        "/api/v1/namespaces",
        &[("Authorization", &bearer(&lab))],
        b"",
    )
    .await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
}
