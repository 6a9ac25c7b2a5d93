//! Turning the cluster flags into a connected client, as kubectl resolves them:
//! `--kubeconfig`, then `KUBECONFIG`, then `~/.kube/config`; `--context` or the current
//! context; `-n`, then the context's namespace, then `default`.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::Cluster;
use crate::cli::ClusterArgs;
use crate::error::CliError;
use crate::input::{self, KUBECONFIG_LIMIT, ReadError};

/// A file a kubeconfig names (a CA, a client certificate or key, a token): far beyond any
/// real one.
pub const REFERENCED_LIMIT: u64 = 1024 * 1024;

/// Connects as kubectl would. Nothing is sent to the cluster yet.
pub async fn connect(args: &ClusterArgs) -> Result<Cluster, CliError> {
    if let Some(ns) = &args.namespace
        && !is_namespace(ns)
    {
        return Err(CliError::usage(
            format!("{} is not a valid namespace", crate::text::shown(ns)),
            Some("namespaces are lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit".to_string()),
        ));
    }
    let kubeconfig = load(args.kubeconfig.as_deref())?;
    if let Some(ctx) = &args.context
        && !kubeconfig.contexts.iter().any(|c| &c.name == ctx)
    {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(CliError::Config {
            message: format!(
                "context {} is not in the kubeconfig",
                crate::text::shown(ctx)
            ),
            hint: Some(format!("known contexts: {}", known.join(", "))),
        });
    }
    referenced_files_fit(&kubeconfig, args.context.as_deref())?;
    let options = KubeConfigOptions {
        context: args.context.clone(),
        cluster: args.cluster.clone(),
        user: args.user.clone(),
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| CliError::Config {
            message: format!("cannot use the kubeconfig: {e}"),
            hint: Some(
                "check the context's cluster and user entries (`kubectl config view`)".into(),
            ),
        })?;
    let server = config.cluster_url.to_string();
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| CliError::Config {
            message: format!("cannot build a client: {e}"),
            hint: Some("check the kubeconfig's certificates and keys".into()),
        })?
        .with_layer(&super::trace::layer())
        .build();
    Ok(Cluster {
        client,
        namespace,
        server,
    })
}

/// A namespace name: a DNS-1123 label, as the API server requires.
fn is_namespace(ns: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    ns.len() <= 63
        && ns.starts_with(alnum)
        && ns.ends_with(alnum)
        && ns.chars().all(|c| alnum(c) || c == '-')
}

/// The kubeconfig as kubectl finds it: `--kubeconfig`, else every file of `KUBECONFIG`
/// (a path list, merged first-wins as kubectl and kube merge them), else `~/.kube/config`.
/// Each file is read with a cap ([`KUBECONFIG_LIMIT`]); any failure is a usage error.
fn load(flag: Option<&Path>) -> Result<Kubeconfig, CliError> {
    if let Some(path) = flag {
        return read_one(path).map_err(|(message, too_large)| CliError::Config {
            message,
            hint: Some(if too_large {
                format!(
                    "--kubeconfig names a kubeconfig file of at most {}",
                    input::size(KUBECONFIG_LIMIT)
                )
            } else {
                "pass an existing file with --kubeconfig".to_string()
            }),
        });
    }
    let env_hint = || {
        Some("set KUBECONFIG to existing files or pass --kubeconfig; `rollout lab up` writes one for the local lab".to_string())
    };
    let listed: Vec<PathBuf> = std::env::var_os("KUBECONFIG")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if listed.is_empty() {
        let Some(home) = std::env::home_dir() else {
            return Err(CliError::Config {
                message: "no kubeconfig: KUBECONFIG is unset and there is no home directory".into(),
                hint: env_hint(),
            });
        };
        let path = home.join(".kube").join("config");
        return read_one(&path).map_err(|(message, _)| CliError::Config {
            message,
            hint: env_hint(),
        });
    }
    listed
        .iter()
        .try_fold(Kubeconfig::default(), |merged, path| {
            let next = read_one(path).map_err(|(message, _)| CliError::Config {
                message: format!("{message} (from KUBECONFIG)"),
                hint: env_hint(),
            })?;
            merged.merge(next).map_err(|e| CliError::Config {
                message: format!("cannot merge kubeconfig {}: {e}", path.display()),
                hint: env_hint(),
            })
        })
}

/// One kubeconfig file, its relative file references made absolute against its directory
/// (as kube and kubectl resolve them). The error says whether the file was too large.
fn read_one(path: &Path) -> Result<Kubeconfig, (String, bool)> {
    let cannot = |why: String, too_large| {
        (
            format!("cannot read kubeconfig {}: {why}", path.display()),
            too_large,
        )
    };
    let bytes = input::read_file(path, KUBECONFIG_LIMIT).map_err(|e| {
        let too_large = matches!(e, ReadError::TooLarge(_));
        cannot(e.to_string(), too_large)
    })?;
    let text =
        decode(bytes).ok_or_else(|| cannot("it is not UTF-8 or UTF-16 text".into(), false))?;
    let mut config = Kubeconfig::from_yaml(&text).map_err(|e| cannot(e.to_string(), false))?;
    if let Some(dir) = path.parent() {
        absolutize(&mut config, dir);
    }
    Ok(config)
}

/// Refuses a file the chosen context names (certificate-authority, client-certificate,
/// client-key, tokenFile) that is larger than [`REFERENCED_LIMIT`], before the client
/// library reads it whole. A missing file is left to the client library to report.
fn referenced_files_fit(config: &Kubeconfig, context: Option<&str>) -> Result<(), CliError> {
    let Some(name) = context.or(config.current_context.as_deref()) else {
        return Ok(());
    };
    let Some(ctx) = config
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
    else {
        return Ok(());
    };
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref());
    let user = ctx
        .user
        .as_ref()
        .and_then(|u| config.auth_infos.iter().find(|a| &a.name == u))
        .and_then(|a| a.auth_info.as_ref());
    let files = [
        (
            "certificate-authority",
            cluster.and_then(|c| c.certificate_authority.as_ref()),
        ),
        (
            "client-certificate",
            user.and_then(|u| u.client_certificate.as_ref()),
        ),
        ("client-key", user.and_then(|u| u.client_key.as_ref())),
        ("tokenFile", user.and_then(|u| u.token_file.as_ref())),
    ];
    for (field, path) in files {
        let Some(path) = path else { continue };
        if let Err(ReadError::TooLarge(limit)) = input::read_file(Path::new(path), REFERENCED_LIMIT)
        {
            return Err(CliError::Config {
                message: format!(
                    "the kubeconfig's {field} {} is larger than {}",
                    crate::text::shown(path),
                    input::size(limit)
                ),
                hint: Some(format!("point {field} at the file it should name")),
            });
        }
    }
    Ok(())
}

/// Text with kube's byte-order-mark handling: UTF-8 (with or without a BOM), UTF-16 LE/BE.
fn decode(bytes: Vec<u8>) -> Option<String> {
    let utf16 = |rest: &[u8], from: fn([u8; 2]) -> u16| {
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|c| from([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        String::from_utf16(&units).ok()
    };
    match bytes.as_slice() {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok(),
        _ => String::from_utf8(bytes).ok(),
    }
}

fn absolutize(config: &mut Kubeconfig, dir: &Path) {
    let fix = |file: &mut Option<String>| {
        if let Some(f) = file
            && Path::new(f.as_str()).is_relative()
            && let Some(abs) = dir.join(f.as_str()).to_str()
        {
            *f = abs.to_string();
        }
    };
    for c in config
        .clusters
        .iter_mut()
        .filter_map(|n| n.cluster.as_mut())
    {
        fix(&mut c.certificate_authority);
    }
    for a in config
        .auth_infos
        .iter_mut()
        .filter_map(|n| n.auth_info.as_mut())
    {
        fix(&mut a.client_certificate);
        fix(&mut a.client_key);
        fix(&mut a.token_file);
        // A relative exec plugin is resolved only when it is a path, not a bare command
        // looked up in PATH (as client-go does).
        if let Some(exec) = a.exec.as_mut()
            && exec
                .command
                .as_deref()
                .is_some_and(|c| c.contains(std::path::MAIN_SEPARATOR))
        {
            fix(&mut exec.command);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_zero_as_a_kubeconfig_fails_at_the_cap() {
        let (message, too_large) = read_one(Path::new("/dev/zero")).expect_err("capped");
        assert!(too_large);
        assert_eq!(
            message,
            "cannot read kubeconfig /dev/zero: it is larger than 16 MiB"
        );
    }

    #[test]
    fn relative_file_references_resolve_against_the_kubeconfig_directory() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://x\n    certificate-authority: ca.crt\nusers:\n- name: u\n  user:\n    tokenFile: /abs/token\n",
        )
        .expect("written");
        let config = read_one(&path).expect("read");
        let ca = config.clusters[0]
            .cluster
            .as_ref()
            .and_then(|c| c.certificate_authority.clone());
        assert_eq!(ca, dir.path().join("ca.crt").to_str().map(str::to_string));
        let token = config.auth_infos[0]
            .auth_info
            .as_ref()
            .and_then(|a| a.token_file.clone());
        assert_eq!(token.as_deref(), Some("/abs/token"));
    }

    #[test]
    fn an_endless_file_named_by_the_context_is_refused_at_its_cap() {
        let config = Kubeconfig::from_yaml(
            "clusters:\n- name: c\n  cluster:\n    server: https://x\n    certificate-authority: /dev/zero\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\nusers:\n- name: u\n  user: {token: t}\n",
        )
        .expect("a kubeconfig");
        let e = referenced_files_fit(&config, None).expect_err("capped");
        assert_eq!(
            e.to_string(),
            "the kubeconfig's certificate-authority \"/dev/zero\" is larger than 1 MiB"
        );
        assert_eq!(e.exit(), crate::exit::Exit::Usage);
        assert!(referenced_files_fit(&config, Some("other")).is_ok());
    }

    #[test]
    fn namespaces_are_dns_labels() {
        assert!(is_namespace("prod-1"));
        assert!(!is_namespace("Prod"));
        assert!(!is_namespace("a b"));
        assert!(!is_namespace("-x"));
        assert!(!is_namespace(""));
        assert!(!is_namespace(&"a".repeat(64)));
    }

    #[test]
    fn utf16_and_bom_kubeconfigs_decode() {
        assert_eq!(
            decode(b"\xEF\xBB\xBFa: 1".to_vec()).as_deref(),
            Some("a: 1")
        );
        assert_eq!(decode(vec![0xFF, 0xFE, b'a', 0]).as_deref(), Some("a"));
        assert_eq!(decode(vec![0xFE, 0xFF, 0, b'a']).as_deref(), Some("a"));
        assert_eq!(decode(vec![0xC3]), None);
    }
}
