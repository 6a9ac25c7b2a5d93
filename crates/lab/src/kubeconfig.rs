//! The kubeconfig a lab writes: one cluster, context and user, all named `rollout-lab`,
//! carrying the lab's CA (`certificate-authority-data`) and its bearer token. The token is
//! the lab's only credential, so the file is created readable by its owner alone (0600)
//! and replaced atomically: it is never, even for a moment, readable by anyone else.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;

/// The context name every lab kubeconfig uses.
pub const CONTEXT: &str = "rollout-lab";

/// How a client reaches a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `https://127.0.0.1:PORT` (or `http://...` for a lab started with `insecure_http`).
    pub server: String,
    /// The CA's PEM; `None` over plain HTTP.
    pub ca_pem: Option<String>,
    /// The bearer token every request must carry.
    pub token: String,
}

/// A kubeconfig (YAML) for `access`.
pub fn render(access: &Access) -> String {
    let ca = access
        .ca_pem
        .as_ref()
        .map(|pem| {
            let data = base64::engine::general_purpose::STANDARD.encode(pem);
            format!("    certificate-authority-data: {data}\n")
        })
        .unwrap_or_default();
    let (server, token) = (&access.server, &access.token);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
{ca}    server: {server}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
users:
- name: {CONTEXT}
  user:
    token: {token}
preferences: {{}}
"
    )
}

/// Writes `text` to `path` as a file only its owner can read: created 0600 under a
/// temporary name beside it, then renamed over `path` (an existing file's mode is not
/// trusted, and no reader ever sees a half-written file).
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kubeconfig".into());
    let tmp = dir.join(format!(
        ".{file_name}.{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn access(ca: Option<&str>) -> Access {
        Access {
            server: "https://127.0.0.1:1234".into(),
            ca_pem: ca.map(String::from),
            token: "abc".into(),
        }
    }

    #[test]
    fn the_kubeconfig_names_the_context_server_ca_and_token() {
        let k = render(&access(Some("PEM")));
        assert!(k.contains("current-context: rollout-lab"));
        assert!(k.contains("    server: https://127.0.0.1:1234\n"));
        assert!(k.contains("    certificate-authority-data: UEVN\n"));
        assert!(k.contains("    token: abc\n"));
    }

    #[test]
    fn a_plain_http_kubeconfig_has_no_ca() {
        let k = render(&access(None));
        assert!(!k.contains("certificate-authority-data"));
        assert!(k.contains("token: abc"));
    }

    #[test]
    fn the_written_file_is_readable_by_its_owner_only_even_over_an_open_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config");
        std::fs::write(&path, "old").expect("pre-existing file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write(&path, "new").expect("written");
        let meta = std::fs::metadata(&path).expect("metadata");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }
}
