//! The lab's image table: which local program an image name stands for, with the image's
//! ENTRYPOINT and CMD as its Dockerfile sets them. There is no container engine, so
//! "pulling" an image means finding it here.
//!
//! | image (any tag or digest, `docker.io/[library/]` optional) | runs | ENTRYPOINT | CMD |
//! |---|---|---|---|
//! | `busybox` | this machine's programs | none | `sh` (exits at once: no stdin) |
//! | `alpine` | same | none | `/bin/sh` |
//! | `debian`, `ubuntu` | same | none | `bash` |
//! | `python` | same | none | `python3` |
//! | `rollout-lab/model-server`, `ghcr.io/rollout-lab/model-server` | the stand-in model server | `LabConfig.model_server_command` | none |
//! | anything else | nothing: `ErrImagePull`, then `ImagePullBackOff` | | |
//!
//! A container's `command` and `args` combine with them by upstream's four rules (see
//! `spec::argv`): neither runs ENTRYPOINT + CMD, `command` alone runs it, `args` alone run
//! after ENTRYPOINT (so `kubectl run p --image=busybox -- sleep 100` runs `sleep 100`), both
//! run `command` + `args`. An empty `model_server_command` makes the model-server image
//! unpullable, with a message saying so. Extra rows come first from `LabConfig.image_table`
//! or the file named by `ROLLOUT_LAB_IMAGES` (YAML or JSON; `defaultCommand` is read as
//! `cmd`), e.g.
//!
//! ```yaml
//! - pattern: "myrepo/tf-serving"      # `*` matches any run of characters
//!   runner: shell
//!   entrypoint: ["sh", "-c"]
//!   cmd: ["sleep infinity"]
//! - pattern: "myrepo/server*"
//!   runner: model-server
//! ```

use std::path::Path;

use serde::Deserialize;

/// How a container of an image is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// The host's programs, with the image's ENTRYPOINT and CMD.
    Shell {
        entrypoint: Vec<String>,
        cmd: Vec<String>,
    },
    /// The stand-in model server: ENTRYPOINT `LabConfig.model_server_command`, no CMD.
    ModelServer,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRule {
    pub pattern: String,
    #[serde(default = "shell")]
    pub runner: RunnerName,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// `defaultCommand` is the name older table files use.
    #[serde(default, alias = "defaultCommand")]
    pub cmd: Vec<String>,
}

fn shell() -> RunnerName {
    RunnerName::Shell
}

/// The runner names a table file may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunnerName {
    Shell,
    ModelServer,
}

/// Errors reading a table file.
#[derive(Debug, thiserror::Error)]
pub enum ImageTableError {
    #[error("cannot read the image table {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the image table {path} is not a list of {{pattern, runner, entrypoint, cmd}}")]
    Parse {
        path: String,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
}

/// The table: extra rows, then the built-in ones.
#[derive(Debug, Clone)]
pub struct ImageTable {
    rules: Vec<ImageRule>,
}

fn rule(pattern: &str, runner: RunnerName, cmd: &[&str]) -> ImageRule {
    ImageRule {
        pattern: pattern.into(),
        runner,
        entrypoint: Vec::new(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
    }
}

impl Default for ImageTable {
    fn default() -> Self {
        Self::with_extra(Vec::new())
    }
}

impl ImageTable {
    /// The built-in rows after `extra`.
    pub fn with_extra(mut extra: Vec<ImageRule>) -> Self {
        use RunnerName::*;
        extra.extend([
            rule("busybox", Shell, &["sh"]),
            rule("alpine", Shell, &["/bin/sh"]),
            rule("debian", Shell, &["bash"]),
            rule("ubuntu", Shell, &["bash"]),
            rule("python", Shell, &["python3"]),
            rule("rollout-lab/model-server", ModelServer, &[]),
            rule("ghcr.io/rollout-lab/model-server", ModelServer, &[]),
        ]);
        Self { rules: extra }
    }

    /// Reads extra rows from a YAML or JSON file.
    pub fn load(path: &Path) -> Result<Self, ImageTableError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ImageTableError::Read {
            path: shown.clone(),
            source,
        })?;
        let extra: Vec<ImageRule> =
            serde_saphyr::from_str(&text).map_err(|source| ImageTableError::Parse {
                path: shown,
                source: Box::new(source),
            })?;
        Ok(Self::with_extra(extra))
    }

    /// The runner of an image, if the table has it.
    pub fn lookup(&self, image: &str) -> Option<Runner> {
        let name = repository(image);
        self.rules
            .iter()
            .find(|r| glob(&r.pattern, &name))
            .map(|r| match r.runner {
                RunnerName::Shell => Runner::Shell {
                    entrypoint: r.entrypoint.clone(),
                    cmd: r.cmd.clone(),
                },
                RunnerName::ModelServer => Runner::ModelServer,
            })
    }
}

/// The repository of an image reference, without tag, digest and Docker Hub's implicit
/// prefixes: `docker.io/library/busybox:1.36` -> `busybox`.
pub fn repository(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    // A tag is after the last ':' that follows the last '/' (a registry may have a port).
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let name = match without_digest[last_slash..].rfind(':') {
        Some(i) => &without_digest[..last_slash + i],
        None => without_digest,
    };
    let name = name.strip_prefix("docker.io/").unwrap_or(name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    name.to_string()
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_reduce_to_their_repository() {
        assert_eq!(repository("busybox"), "busybox");
        assert_eq!(repository("busybox:1.36"), "busybox");
        assert_eq!(repository("docker.io/library/busybox:1.36"), "busybox");
        assert_eq!(repository("localhost:5000/app:v1"), "localhost:5000/app");
        assert_eq!(
            repository("ghcr.io/rollout-lab/model-server:v2@sha256:abc"),
            "ghcr.io/rollout-lab/model-server"
        );
    }

    #[test]
    fn base_images_run_the_shell_and_the_model_server_image_its_command() {
        let t = ImageTable::default();
        assert_eq!(
            t.lookup("busybox:1.36"),
            Some(Runner::Shell {
                entrypoint: vec![],
                cmd: vec!["sh".into()]
            })
        );
        assert_eq!(
            t.lookup("rollout-lab/model-server:v1"),
            Some(Runner::ModelServer)
        );
        assert_eq!(
            t.lookup("ghcr.io/rollout-lab/model-server:v2"),
            Some(Runner::ModelServer)
        );
        assert_eq!(t.lookup("myrepo/tf-serving:1.0.3"), None);
    }

    #[test]
    fn a_table_file_adds_rows_before_the_built_in_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("images.yaml");
        std::fs::write(
            &path,
            "- pattern: \"myrepo/*\"\n  runner: model-server\n- pattern: busybox\n  defaultCommand: [\"true\"]\n- pattern: tini\n  entrypoint: [env]\n  cmd: [\"true\"]\n",
        )
        .expect("write");
        let t = ImageTable::load(&path).expect("load");
        assert_eq!(
            t.lookup("myrepo/tf-serving:1.0.3"),
            Some(Runner::ModelServer)
        );
        assert_eq!(
            t.lookup("busybox"),
            Some(Runner::Shell {
                entrypoint: vec![],
                cmd: vec!["true".into()]
            })
        );
        assert_eq!(
            t.lookup("tini:1"),
            Some(Runner::Shell {
                entrypoint: vec!["env".into()],
                cmd: vec!["true".into()]
            })
        );
    }
}
