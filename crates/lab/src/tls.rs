//! The lab's credentials, made fresh at every start and kept only in memory and in the
//! kubeconfig the lab writes: a CA of its own, a server certificate it signs for
//! `127.0.0.1`, `::1` and `localhost`, and a random bearer token that every request must
//! carry. Nothing is written anywhere else, so a lab's credentials die with it (as kind's
//! and k3s's do with their cluster).

use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Errors making the lab's certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate the lab's certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// What a lab serves and hands to its clients.
pub struct Credentials {
    /// The CA certificate (PEM), for `certificate-authority-data`.
    pub ca_pem: String,
    /// The server's TLS configuration (certificate chain and key).
    pub server: Arc<rustls::ServerConfig>,
}

/// A random bearer token: 32 bytes from the OS generator, hex-encoded.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Token comparison whose time does not depend on where the first difference is, so
/// timing a wrong guess tells nothing about the token.
pub fn same_token(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// PEM text of one DER certificate.
pub fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "rollout-lab");
    dn
}

/// A new CA and a server certificate signed by it, and the rustls server configuration that
/// presents them (HTTP/1.1 only: every client the lab serves speaks it).
pub fn generate() -> Result<Credentials, TlsError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = name("rollout-lab-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ])?;
    params.distinguished_name = name("rollout-lab-apiserver");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = params.signed_by(&server_key, &issuer)?;

    let chain = vec![
        CertificateDer::from(server_cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Credentials {
        ca_pem: pem(ca_cert.der()),
        server: Arc::new(server),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_digits_and_differ_between_calls() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn only_the_exact_token_compares_equal() {
        assert!(same_token(b"abc", b"abc"));
        assert!(!same_token(b"abd", b"abc"));
        assert!(!same_token(b"ab", b"abc"));
        assert!(!same_token(b"", b"abc"));
    }

    #[test]
    fn pem_wraps_base64_at_64_columns_between_the_markers() {
        let text = pem(&[0u8; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[lines.len() - 1], "-----END CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn a_generated_ca_is_a_pem_certificate() {
        let creds = generate().expect("certificates");
        assert!(creds.ca_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(creds.server.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
