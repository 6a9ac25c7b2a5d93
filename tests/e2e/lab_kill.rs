//! A lab killed outright (SIGKILL: no shutdown code runs) must not leave its pods' processes
//! behind, grandchildren included: each container runs under a guard that gets the parent
//! death signal and kills its process group.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

use crate::support::{DEADLINE, pod_ready};

/// Process groups whose leader is a lab guard started by the lab with pid `lab`.
fn guard_groups(lab: u32) -> Vec<i32> {
    let mut groups = Vec::new();
    for (pid, _, _) in processes() {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        // sh -c GUARD lab-guard <lab pid> argv...
        if let Some(i) = args.iter().position(|a| a == "lab-guard")
            && args.get(i + 1) == Some(&lab.to_string())
        {
            groups.push(pid);
        }
    }
    groups
}

/// Every process: (pid, process group, state).
fn processes() -> Vec<(i32, i32, char)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut f = stat.rsplit_once(')')?.1.split_whitespace();
            let state = f.next()?.chars().next()?;
            let pgrp = f.nth(1)?.parse().ok()?;
            Some((pid, pgrp, state))
        })
        .collect()
}

/// Live (not zombie) processes in any of `groups`.
fn alive_in(groups: &[i32]) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|(_, g, s)| groups.contains(g) && *s != 'Z')
        .map(|(p, _, _)| p)
        .collect()
}

async fn client(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("the lab's kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("a client config");
    Client::try_from(cfg).expect("a client")
}

#[tokio::test]
async fn a_sigkilled_lab_leaves_no_pod_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("lab.yaml");
    let mut lab = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["lab", "up", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rollout lab up starts");
    // The kubeconfig is written once the API server answers.
    let t0 = Instant::now();
    while !kubeconfig.exists() {
        assert!(t0.elapsed() < DEADLINE, "the lab wrote no kubeconfig");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It holds the lab's token: readable by its owner only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the kubeconfig's mode");
    let client = client(&kubeconfig).await;
    // Each container forks a grandchild, which PR_SET_PDEATHSIG alone would not reach.
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "orphans"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "orphans"}},
            "template": {
                "metadata": {"labels": {"app": "orphans"}},
                "spec": {"containers": [{
                    "name": "main", "image": "busybox:1.36",
                    "command": ["sh", "-c", "sleep 600 & touch /tmp/ready; wait"],
                    "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1},
                }]},
            },
        },
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &d)
        .await
        .expect("the Deployment is created");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let t0 = Instant::now();
    loop {
        let list = pods
            .list(&ListParams::default().labels("app=orphans"))
            .await
            .expect("pods list");
        if list.items.len() == 2 && list.items.iter().all(pod_ready) {
            break;
        }
        assert!(t0.elapsed() < DEADLINE, "the pods did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let groups = guard_groups(lab.id());
    assert!(
        groups.len() >= 2,
        "expected a guarded group per container, found {groups:?}"
    );
    let before = alive_in(&groups);
    // guard + container shell + its sleep, per container.
    assert!(
        before.len() >= 3 * 2,
        "expected the containers' grandchildren too, found {before:?}"
    );

    lab.kill().expect("SIGKILL the lab");
    lab.wait().expect("the lab is reaped");
    let t0 = Instant::now();
    loop {
        let left = alive_in(&groups);
        if left.is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "processes outlived the lab: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
