//! kubectl steps the node-selection and init-container tests share: apply a manifest, wait
//! on a JSONPath value (a watch, bounded by kubectl's timeout), read one.

use super::support::Kubectl;

pub async fn apply(k: &Kubectl, name: &str, yaml: &str) {
    let path = k.file(&format!("{name}.yaml"), yaml);
    k.run(&["apply", "-f", &path]).await.ok();
}

/// `kubectl wait` on a JSONPath value.
pub async fn wait_for(k: &Kubectl, object: &str, path: &str, value: &str) {
    let cond = format!("--for=jsonpath={path}={value}");
    let run = k.run(&["wait", object, &cond, "--timeout=15s"]).await;
    assert!(
        run.success(),
        "{object} never had {path}={value}: {run:#?}\n{}",
        k.run(&["get", object, "-o", "yaml"]).await.stdout
    );
}

pub async fn get(k: &Kubectl, object: &str, path: &str) -> String {
    k.run(&["get", object, "-o", &format!("jsonpath={path}")])
        .await
        .ok()
}
