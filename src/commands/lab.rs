//! `rollout lab up` and `rollout lab load`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rollout_lab::{Faults, Lab, LabConfig};
use tokio::signal::unix::{SignalKind, signal};

use super::fail;
use crate::cli::{LabLoadArgs, LabUpArgs};
use crate::exit::Exit;

/// `~/.kube/rollout-lab.yaml`, or `./rollout-lab.yaml` without a home directory.
pub fn default_kubeconfig() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => Path::new(&home).join(".kube").join("rollout-lab.yaml"),
        None => PathBuf::from("rollout-lab.yaml"),
    }
}

/// Asks the API for its version as a client of the kubeconfig would (TLS against the lab's
/// CA, with its token), so the kubeconfig is only written once a client could use it.
async fn answers(lab: &Lab) -> bool {
    let Ok(kubeconfig) = kube::config::Kubeconfig::from_yaml(&lab.kubeconfig()) else {
        return false;
    };
    let options = kube::config::KubeConfigOptions::default();
    let Ok(config) = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await else {
        return false;
    };
    match kube::Client::try_from(config) {
        Ok(client) => client.apiserver_version().await.is_ok(),
        Err(_) => false,
    }
}

pub async fn up(args: LabUpArgs) -> Exit {
    let started = Instant::now();
    let faults = match args.faults.as_deref().map(Faults::parse).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => {
            return fail(
                Exit::Usage,
                format!("invalid --faults: {e}"),
                Some("e.g. --faults 500=0.1,429=0.05,watch-cut=10 (see `rollout lab up --help`)"),
            );
        }
    };
    let model_server_command = match std::env::current_exe() {
        Ok(exe) => vec![
            exe.to_string_lossy().into_owned(),
            "lab".into(),
            "model-server".into(),
        ],
        Err(e) => {
            return fail(
                Exit::Error,
                format!("cannot locate this executable for the model-server image: {e}"),
                None,
            );
        }
    };
    let quantity_ok = |q: &str| {
        q.trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .parse::<f64>()
            .is_ok_and(|n| n > 0.0)
    };
    if !quantity_ok(&args.cpu_per_node) || !quantity_ok(&args.memory_per_node) {
        return fail(
            Exit::Usage,
            "invalid --cpu-per-node or --memory-per-node quantity",
            Some("use quantities such as 8, 4000m, 32Gi"),
        );
    }
    let mut layout = rollout_lab::controllers::nodes::NodeLayout::default();
    let parsed = args
        .node_labels
        .iter()
        .try_for_each(|a| layout.add_labels(a))
        .and_then(|()| {
            args.node_taints
                .iter()
                .try_for_each(|a| layout.add_taints(a))
        })
        .and_then(|()| args.node_gpus.iter().try_for_each(|a| layout.add_gpus(a)))
        .and_then(|()| layout.check(usize::from(args.nodes)));
    if let Err(e) = parsed {
        return fail(
            Exit::Usage,
            format!("invalid node option: {e}"),
            Some(
                "e.g. --node-labels 'lab-node-1=pool=gpu' --node-taints 'lab-node-1=nvidia.com/gpu=present:NoSchedule'",
            ),
        );
    }
    let config = LabConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], args.port)),
        node_layout: layout,
        nodes: usize::from(args.nodes),
        faults,
        node_capacity: rollout_lab::controllers::nodes::NodeCapacity {
            cpu: args.cpu_per_node.clone(),
            memory: args.memory_per_node.clone(),
            gpus: args.gpus_per_node,
            ..Default::default()
        },
        proxy_delay: args.proxy_delay,
        model_server_command,
        insecure_http: args.insecure_http,
        pods_as_root: args.pods_as_root,
        prometheus_targets: args.prometheus_targets.clone(),
        ..LabConfig::default()
    };
    let (mut sigint, mut sigterm) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        _ => return fail(Exit::Error, "cannot install signal handlers", None),
    };
    let lab = match Lab::start(config).await {
        Ok(lab) => lab,
        Err(e) => {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            let hint = match e {
                rollout_lab::LabError::PrometheusTargets { .. } => {
                    "pass --prometheus-targets a path in a writable directory"
                }
                _ => "pick another --port, or leave it out to use a free one",
            };
            return fail(Exit::Error, format!("{e}{cause}"), Some(hint));
        }
    };
    if !answers(&lab).await {
        return fail(
            Exit::Error,
            format!("the lab API at {} does not answer", lab.url()),
            None,
        );
    }
    let path = args.kubeconfig.unwrap_or_else(default_kubeconfig);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return fail(
            Exit::Error,
            format!("cannot create {}: {e}", dir.display()),
            Some("pass --kubeconfig PATH in a writable directory"),
        );
    }
    if let Err(e) = lab.write_kubeconfig(&path) {
        return fail(
            Exit::Error,
            format!("cannot write the kubeconfig {}: {e}", path.display()),
            Some("pass --kubeconfig PATH in a writable directory"),
        );
    }
    eprintln!(
        "lab API serving at {} ({} ms)",
        lab.url(),
        started.elapsed().as_millis()
    );
    eprintln!(
        "kubeconfig written to {} (context rollout-lab)",
        path.display()
    );
    eprintln!();
    eprintln!(
        "  export KUBECONFIG={}",
        crate::text::shell_quote(&path.display().to_string())
    );
    eprintln!("  kubectl get nodes");
    eprintln!();
    if let Some(targets) = &args.prometheus_targets {
        eprintln!(
            "Prometheus targets of the running pods kept in {} (file_sd_configs)",
            targets.display()
        );
    }
    eprintln!("Ctrl-C stops the lab.");
    let which = tokio::select! {
        _ = sigint.recv() => "interrupt",
        _ = sigterm.recv() => "SIGTERM",
    };
    eprintln!("{which} received: ending watch streams and stopping the lab");
    lab.shutdown().await;
    let _ = std::fs::remove_file(&path);
    eprintln!("lab stopped; removed {}", path.display());
    Exit::Success
}

pub async fn load(args: LabLoadArgs, output: Option<&str>) -> Exit {
    use model_server::load::{LoadSpec, Target, run};
    let target = match Target::parse(&args.url) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                Exit::Usage,
                e,
                Some("the load generator only targets this machine (127.0.0.0/8 or localhost)"),
            );
        }
    };
    let mut spec = LoadSpec::new(target);
    spec.rps = args.rps;
    spec.duration = args.duration;
    spec.timeout = args.timeout;
    spec.method = match args.method.parse() {
        Ok(m) => m,
        Err(e) => return fail(Exit::Usage, e, Some("use --method GET or --method POST")),
    };
    spec.body = match args.body {
        None => None,
        Some(b) => match b.strip_prefix('@') {
            Some(file) => {
                match crate::input::read_file(Path::new(file), crate::input::BODY_LIMIT) {
                    Ok(bytes) => Some(bytes),
                    Err(e) => {
                        return fail(
                            Exit::Usage,
                            format!("cannot read --body file {}: {e}", crate::text::shown(file)),
                            Some(&format!(
                                "--body @FILE names a readable file of at most {}",
                                crate::input::size(crate::input::BODY_LIMIT)
                            )),
                        );
                    }
                }
            }
            None => Some(b.into_bytes()),
        },
    };
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match run(spec, cancel).await {
        Ok(report) => {
            if output == Some("json") {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => crate::output::out(&format!("{s}\n")),
                    Err(e) => {
                        return fail(Exit::Error, format!("cannot render the report: {e}"), None);
                    }
                }
            } else {
                crate::output::out(&report.render_human());
            }
            if report.failed > 0 {
                Exit::Failed
            } else {
                Exit::Success
            }
        }
        Err(e) => fail(
            Exit::Usage,
            e,
            Some("see `rollout lab load --help` for the flags' ranges"),
        ),
    }
}
