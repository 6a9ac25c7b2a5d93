//! `rollout version`: the client's version and the git commit it was built from, then the
//! server's, as `kubectl version` prints them. An unreachable cluster is exit 1 after the
//! client's version, as kubectl does; `--client` never connects.

use serde::Serialize;

use crate::cli::{ClusterArgs, VersionArgs};
use crate::error::CliError;
use crate::exit::Exit;
use crate::output::Printer;

/// The commit the binary was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("ROLLOUT_GIT_COMMIT");

/// What `--version` prints after the name.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ROLLOUT_GIT_COMMIT"),
    ")"
);

/// The client's side of the answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientVersion {
    pub git_version: String,
    pub git_commit: &'static str,
    pub platform: String,
}

/// The whole answer, as `kubectl version -o json` names its parts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Versions {
    client_version: ClientVersion,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_version: Option<k8s_openapi::apimachinery::pkg::version::Info>,
}

pub fn client() -> ClientVersion {
    ClientVersion {
        git_version: format!("v{}", env!("CARGO_PKG_VERSION")),
        git_commit: COMMIT,
        platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    }
}

/// The commit shortened as git shows it, or the whole word when it is not a hash.
fn short(commit: &str) -> &str {
    if commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        &commit[..12]
    } else {
        commit
    }
}

pub async fn run(cluster: &ClusterArgs, printer: &Printer, args: VersionArgs) -> Exit {
    let client = client();
    let server = if args.client {
        Ok(None)
    } else {
        match crate::cluster::connect(cluster).await {
            Ok(c) => c.server_version().await.map(Some),
            Err(e) => Err(e),
        }
    };
    let (server, error): (_, Option<CliError>) = match server {
        Ok(s) => (s, None),
        Err(e) => (None, Some(e)),
    };
    if printer.format.is_some() {
        let shown = Versions {
            client_version: client,
            server_version: server,
        };
        if let Err(e) = printer.structured(&shown) {
            e.report();
            return e.exit();
        }
    } else {
        let mut text = format!(
            "Client Version: {} (commit {})\n",
            client.git_version,
            short(client.git_commit)
        );
        if let Some(s) = &server {
            text.push_str(&format!("Server Version: {}\n", s.git_version));
        }
        printer.data(&text);
    }
    match error {
        None => Exit::Success,
        Some(e) => {
            e.report();
            e.exit()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_hash_is_shortened_and_anything_else_is_kept() {
        assert_eq!(
            short("0123456789abcdef0123456789abcdef01234567"),
            "0123456789ab"
        );
        assert_eq!(short("unknown"), "unknown");
    }

    #[test]
    fn the_long_version_names_the_package_version_and_the_commit() {
        assert!(LONG.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(LONG.contains(COMMIT));
    }
}
