//! What to run for a container: the pure translation of a pod's container spec, its image's
//! runner and the pod's sandbox into a process spec (argv, environment, working directory,
//! memory limit).
//! The runner in `process.rs` does the I/O.
//!
//! **The lab's /tmp rule.** Containers are plain local processes without mount namespaces,
//! so each container's root is a private directory `<pod dir>/<container>/` and its `/tmp`
//! is `<root>/tmp`: `TMPDIR` points there, and every `/tmp` path in `command`, `args`, env
//! values, exec probes and exec hooks is rewritten textually (`/tmp/ready` ->
//! `<root>/tmp/ready`; `/var/tmp` and `/tmpfs` are left alone). Probe output is mapped
//! back, so events say `cat: /tmp/ready: No such file or directory` as upstream would.
//! `workingDir` is taken relative to the container root, which is also the default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::images::Runner;

/// A process to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub argv: Vec<String>,
    /// The complete environment, in definition order.
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
    /// The container's root directory (its `/`).
    pub root: PathBuf,
    /// `resources.limits.memory` in bytes: the group is killed past it (`memory.rs`).
    pub memory_limit: Option<u64>,
    /// The user the processes run as; `None` is the lab's own (see `user.rs`).
    pub run_as: Option<super::user::RunAs>,
}

/// Why a container cannot be configured (upstream `CreateContainerConfigError`, or
/// `CreateContainerError` for `NoCommand`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKey {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKey {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("unsupported fieldPath: {0}")]
    FieldPath(String),
    #[error("no command specified")]
    NoCommand,
}

impl ConfigError {
    /// The waiting reason upstream reports.
    pub fn reason(&self) -> &'static str {
        match self {
            ConfigError::NoCommand => "CreateContainerError",
            _ => "CreateContainerConfigError",
        }
    }
}

/// The sandbox facts a container's spec is resolved against.
#[derive(Debug, Clone)]
pub struct Sandbox<'a> {
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    /// The container's root directory.
    pub root: &'a Path,
    /// `PATH` for the processes (this machine's).
    pub path: &'a str,
    pub model_server_command: &'a [String],
}

/// ConfigMaps and Secrets of the pod's namespace, by name.
pub trait Objects {
    fn configmap(&self, name: &str) -> Option<Value>;
    fn secret(&self, name: &str) -> Option<Value>;
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Rewrites `/tmp` paths to the container's tmp directory (the /tmp rule).
pub fn rewrite_tmp(text: &str, tmp: &str) -> String {
    let path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(i) = rest.find("/tmp") {
        let before = rest[..i].chars().last().or(prev);
        let after = rest[i + 4..].chars().next();
        let starts = before.is_none_or(|c| !path_char(c));
        let ends = after.is_none_or(|c| c == '/' || !path_char(c));
        out.push_str(&rest[..i]);
        out.push_str(if starts && ends { tmp } else { "/tmp" });
        prev = Some('p');
        rest = &rest[i + 4..];
    }
    out.push_str(rest);
    out
}

/// Maps the container's tmp directory back to `/tmp` in output shown to users.
pub fn unrewrite_tmp(text: &str, tmp: &str) -> String {
    text.replace(tmp, "/tmp")
}

/// Expands `$(VAR)` references to earlier variables, as upstream `expansion.Expand`:
/// `$$` is a literal `$`, unknown references stay as written.
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        if let Some(t) = tail.strip_prefix('$') {
            out.push('$');
            rest = t;
        } else if let Some(t) = tail.strip_prefix('(') {
            match t.find(')') {
                Some(end) => {
                    let name = &t[..end];
                    match env.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &t[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = t;
                }
            }
        } else {
            out.push('$');
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// `metadata.labels['x']` and friends (upstream `ExtractFieldPathAsString`).
fn field_ref(pod: &Value, sandbox: &Sandbox, path: &str) -> Result<String, ConfigError> {
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(String::from)
    };
    if let Some(k) = subscript("metadata.labels['") {
        return Ok(s(pod, &format!("/metadata/labels/{k}")).to_string());
    }
    if let Some(k) = subscript("metadata.annotations['") {
        return Ok(s(pod, &format!("/metadata/annotations/{k}")).to_string());
    }
    Ok(match path {
        "metadata.name" => s(pod, "/metadata/name").into(),
        "metadata.namespace" => s(pod, "/metadata/namespace").into(),
        "metadata.uid" => s(pod, "/metadata/uid").into(),
        "spec.nodeName" => s(pod, "/spec/nodeName").into(),
        "spec.serviceAccountName" => s(pod, "/spec/serviceAccountName").into(),
        "status.podIP" | "status.podIPs" => sandbox.pod_ip.into(),
        "status.hostIP" | "status.hostIPs" => sandbox.host_ip.into(),
        other => return Err(ConfigError::FieldPath(other.into())),
    })
}

/// A value of a ConfigMap (`data`, then `binaryData`) or Secret (`data`, base64).
fn key_of(obj: &Value, key: &str, secret: bool) -> Option<String> {
    let raw = obj.pointer(&format!("/data/{key}")).and_then(Value::as_str);
    match (raw, secret) {
        (Some(v), false) => Some(v.to_string()),
        (Some(v), true) => base64_decode(v).map(|b| String::from_utf8_lossy(&b).into_owned()),
        (None, _) => obj
            .pointer(&format!("/stringData/{key}"))
            .and_then(Value::as_str)
            .map(String::from),
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The container's own variables: `envFrom` first, then `env` (later wins), upstream
/// `makeEnvironmentVariables`.
pub fn container_env(
    pod: &Value,
    container: &Value,
    sandbox: &Sandbox,
    objects: &dyn Objects,
) -> Result<Vec<(String, String)>, ConfigError> {
    let ns = s(pod, "/metadata/namespace");
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |vars: &mut Vec<(String, String)>, k: String, v: String| {
        vars.retain(|(n, _)| *n != k);
        vars.push((k, v));
    };
    for from in container
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let prefix = s(from, "/prefix");
        let (obj, secret, name, optional) = if let Some(r) = from.get("configMapRef") {
            let name = s(r, "/name");
            (objects.configmap(name), false, name, r["optional"] == true)
        } else if let Some(r) = from.get("secretRef") {
            let name = s(r, "/name");
            (objects.secret(name), true, name, r["optional"] == true)
        } else {
            continue;
        };
        let Some(obj) = obj else {
            if optional {
                continue;
            }
            return Err(if secret {
                ConfigError::SecretNotFound(name.into())
            } else {
                ConfigError::ConfigMapNotFound(name.into())
            });
        };
        let mut keys: Vec<String> = ["data", "stringData"]
            .iter()
            .filter_map(|f| obj.get(*f).and_then(Value::as_object))
            .flat_map(|m| m.keys().cloned())
            .collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            if let Some(v) = key_of(&obj, &k, secret) {
                set(&mut vars, format!("{prefix}{k}"), v);
            }
        }
    }
    for e in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s(e, "/name").to_string();
        let value = if let Some(from) = e.get("valueFrom") {
            match env_source(pod, ns, from, sandbox, objects)? {
                Some(v) => v,
                None => continue,
            }
        } else {
            let known: BTreeMap<String, String> = vars.iter().cloned().collect();
            expand(s(e, "/value"), &known)
        };
        set(&mut vars, name, value);
    }
    Ok(vars)
}

fn env_source(
    pod: &Value,
    ns: &str,
    from: &Value,
    sandbox: &Sandbox,
    objects: &dyn Objects,
) -> Result<Option<String>, ConfigError> {
    if let Some(f) = from.get("fieldRef") {
        return field_ref(pod, sandbox, s(f, "/fieldPath")).map(Some);
    }
    if let Some(r) = from.get("resourceFieldRef") {
        let resource = s(r, "/resource");
        let (section, name) = resource.split_once('.').unwrap_or(("limits", resource));
        let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
        let c = containers
            .into_iter()
            .flatten()
            .find(|c| c["name"] == s(r, "/containerName"))
            .or_else(|| containers.and_then(|c| c.first()));
        let v = c
            .and_then(|c| c.pointer(&format!("/resources/{section}/{name}")))
            .and_then(Value::as_str)
            .unwrap_or("0");
        return Ok(Some(v.to_string()));
    }
    let (r, secret) = match (from.get("configMapKeyRef"), from.get("secretKeyRef")) {
        (Some(r), _) => (r, false),
        (None, Some(r)) => (r, true),
        (None, None) => return Ok(None),
    };
    let (name, key, optional) = (s(r, "/name"), s(r, "/key"), r["optional"] == true);
    let obj = if secret {
        objects.secret(name)
    } else {
        objects.configmap(name)
    };
    let Some(obj) = obj else {
        return match (optional, secret) {
            (true, _) => Ok(None),
            (false, true) => Err(ConfigError::SecretNotFound(name.into())),
            (false, false) => Err(ConfigError::ConfigMapNotFound(name.into())),
        };
    };
    match (key_of(&obj, key, secret), optional) {
        (Some(v), _) => Ok(Some(v)),
        (None, true) => Ok(None),
        (None, false) => {
            let (key, namespace, name) = (key.into(), ns.into(), name.into());
            Err(if secret {
                ConfigError::SecretKey {
                    key,
                    namespace,
                    name,
                }
            } else {
                ConfigError::ConfigMapKey {
                    key,
                    namespace,
                    name,
                }
            })
        }
    }
}

/// The container root's tmp directory.
pub fn tmp_dir(root: &Path) -> PathBuf {
    root.join("tmp")
}

/// The process spec of one container.
pub fn process_spec(
    pod: &Value,
    container: &Value,
    runner: &Runner,
    sandbox: &Sandbox,
    objects: &dyn Objects,
) -> Result<ProcessSpec, ConfigError> {
    let tmp = tmp_dir(sandbox.root).display().to_string();
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), sandbox.path.into()),
        ("HOSTNAME".into(), s(pod, "/metadata/name").into()),
        ("HOME".into(), sandbox.root.display().to_string()),
        ("TMPDIR".into(), tmp.clone()),
        ("POD_IP".into(), sandbox.pod_ip.into()),
    ];
    for (k, v) in container_env(pod, container, sandbox, objects)? {
        env.retain(|(n, _)| *n != k);
        env.push((k, rewrite_tmp(&v, &tmp)));
    }
    let known: BTreeMap<String, String> = env.iter().cloned().collect();
    let command = strings(container.get("command"));
    let args = strings(container.get("args"));
    // The container's own words follow the /tmp rule; the lab's model-server entrypoint is a
    // path on this machine (it may well live under /tmp) and is left as it is.
    let container_words = |words: Vec<String>| -> Vec<String> {
        words
            .iter()
            .map(|a| rewrite_tmp(&expand(a, &known), &tmp))
            .collect()
    };
    let (entrypoint, cmd) = match runner {
        Runner::ModelServer => (sandbox.model_server_command, &[][..]),
        Runner::Shell { entrypoint, cmd } => (entrypoint.as_slice(), cmd.as_slice()),
    };
    let argv = self::argv(
        entrypoint,
        cmd,
        &container_words(command),
        &container_words(args),
    );
    if argv.is_empty() {
        return Err(ConfigError::NoCommand);
    }
    let wd = s(container, "/workingDir").trim_start_matches('/');
    Ok(ProcessSpec {
        argv,
        env,
        working_dir: sandbox.root.join(wd),
        root: sandbox.root.to_path_buf(),
        run_as: None,
        memory_limit: super::memory::limit_bytes(container),
    })
}

/// What a container runs, by upstream's four rules (the Kubernetes docs' "Define a Command
/// and Arguments for a Container"): no `command` and no `args` run the image's ENTRYPOINT
/// and CMD; a `command` replaces both; `args` alone replace the CMD after the ENTRYPOINT;
/// both run `command` with `args`.
pub fn argv(
    entrypoint: &[String],
    cmd: &[String],
    command: &[String],
    args: &[String],
) -> Vec<String> {
    let (head, tail) = match (command.is_empty(), args.is_empty()) {
        (true, true) => (entrypoint, cmd),
        (false, true) => (command, &[][..]),
        (true, false) => (entrypoint, args),
        (false, false) => (command, args),
    };
    head.iter().chain(tail).cloned().collect()
}

/// An exec probe's or hook's argv, under the /tmp rule.
pub fn exec_argv(command: &[String], spec: &ProcessSpec) -> Vec<String> {
    let tmp = tmp_dir(&spec.root).display().to_string();
    command.iter().map(|a| rewrite_tmp(a, &tmp)).collect()
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
