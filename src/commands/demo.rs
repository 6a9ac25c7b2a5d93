//! `rollout lab demo`: the main job, end to end, on a throw-away lab. It starts a lab,
//! deploys the seeds' stand-in inference Deployment, rolls it from v1 to v2, ships the bad
//! v3 whose readiness probe never passes and lets `rollout update` roll it back, prints the
//! history, and stops the lab. Every step runs the same code as the commands themselves.

use clap::Parser;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use rollout_lab::{Lab, LabConfig};

use super::fail;
use crate::cli::Cli;
use crate::exit::Exit;

const INFERENCE: &str = include_str!("../../manifests/01-inference.yaml");

/// The bad v3 of the seeds: the startup script forgets to touch /tmp/ready.
const BAD_V3: &str = r#"{"spec":{"template":{"spec":{"containers":[{"name":"server","command":["sh","-c","echo loading model $VERSION; sleep 3; echo serving $VERSION; sleep 3600"]}]}}}}"#;

async fn apply(kubeconfig: &str, manifest: &str) -> Result<(), String> {
    let kc = Kubeconfig::from_yaml(kubeconfig).map_err(|e| e.to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
    let obj: DynamicObject = serde_saphyr::from_str(manifest).map_err(|e| e.to_string())?;
    let gvk = kube::api::GroupVersionKind::gvk("apps", "v1", "Deployment");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "deployments");
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let name = obj.metadata.name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply("rollout-demo").force(),
        &Patch::Apply(&obj),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Runs one `rollout ...` command line in-process against the demo lab.
async fn step(title: &str, kubeconfig: &std::path::Path, args: &[&str]) -> Exit {
    crate::output::err_line("");
    crate::output::err_line(&format!("==> {title}"));
    crate::output::err_line(&format!("    $ rollout {}", args.join(" ")));
    let mut argv = vec!["rollout"];
    argv.extend_from_slice(args);
    let path = kubeconfig.to_string_lossy().into_owned();
    argv.extend_from_slice(&["--kubeconfig", &path]);
    match Cli::try_parse_from(argv) {
        Ok(cli) => Box::pin(super::run(cli)).await,
        Err(e) => fail(Exit::Error, e, None),
    }
}

pub async fn run() -> Exit {
    let exe = match std::env::current_exe() {
        Ok(e) => e.to_string_lossy().into_owned(),
        Err(e) => {
            return fail(
                Exit::Error,
                format!("cannot locate this executable: {e}"),
                None,
            );
        }
    };
    let config = LabConfig {
        model_server_command: vec![exe, "lab".into(), "model-server".into()],
        ..LabConfig::default()
    };
    let lab = match Lab::start(config).await {
        Ok(l) => l,
        Err(e) => return fail(Exit::Error, format!("cannot start the lab: {e}"), None),
    };
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => return fail(Exit::Error, e, None),
    };
    let kubeconfig = dir.join("kubeconfig.yaml");
    if let Err(e) = lab.write_kubeconfig(&kubeconfig) {
        return fail(
            Exit::Error,
            format!("cannot write {}: {e}", kubeconfig.display()),
            None,
        );
    }
    crate::output::err_line(&format!(
        "lab started at {} (kubeconfig {})",
        lab.url(),
        kubeconfig.display()
    ));
    crate::output::err_line(
        "==> deploying the stand-in inference Deployment (3 replicas, exec readiness probe)",
    );
    if let Err(e) = apply(&lab.kubeconfig(), INFERENCE).await {
        return fail(
            Exit::Error,
            format!("cannot apply the inference Deployment: {e}"),
            None,
        );
    }
    let steps: [(&str, Vec<&str>, Exit); 4] = [
        (
            "waiting for v1 to roll out",
            vec!["status", "inference"],
            Exit::Success,
        ),
        (
            "rolling out v2 (pod by pod, gated on readiness)",
            vec!["update", "inference", "--env", "VERSION=v2"],
            Exit::Success,
        ),
        (
            "shipping the bad v3: its readiness probe never passes",
            vec![
                "update",
                "inference",
                "--env",
                "VERSION=v3",
                "--patch",
                BAD_V3,
            ],
            Exit::RolledBack,
        ),
        (
            "what happened, revision by revision",
            vec!["history", "inference"],
            Exit::Success,
        ),
    ];
    let mut result = Exit::Success;
    for (title, args, expected) in steps {
        let got = step(title, &kubeconfig, &args).await;
        if got != expected {
            crate::output::err_line(&format!(
                "demo: step \"{title}\" ended with exit code {} (expected {})",
                got.code(),
                expected.code()
            ));
            result = Exit::Error;
            break;
        }
    }
    lab.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    crate::output::err_line("");
    crate::output::err_line(
        "lab stopped. Run `rollout lab up` for a lab that stays up, and point kubectl and rollout at it.",
    );
    result
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("rollout-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
