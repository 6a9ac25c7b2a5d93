//! The kubeconfig a lab writes: one cluster, context and user, all named `rollout-lab`.

/// The context name every lab kubeconfig uses.
pub const CONTEXT: &str = "rollout-lab";

/// A kubeconfig (YAML) pointing at `server` over plain HTTP.
pub fn render(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {server}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
users:
- name: {CONTEXT}
  user: {{}}
preferences: {{}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_names_the_context_and_server() {
        let k = render("http://127.0.0.1:1234");
        assert!(k.contains("current-context: rollout-lab"));
        assert!(k.contains("server: http://127.0.0.1:1234"));
    }
}
