use super::*;
use serde_json::json;

struct Cluster(Vec<Value>);

impl Objects for Cluster {
    fn configmap(&self, name: &str) -> Option<Value> {
        self.0
            .iter()
            .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == name)
            .cloned()
    }
    fn secret(&self, name: &str) -> Option<Value> {
        self.0
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name)
            .cloned()
    }
}

fn pod(container: Value) -> Value {
    json!({
        "metadata": {"name": "web-1", "namespace": "prod", "uid": "u-1", "labels": {"app": "web"}},
        "spec": {"nodeName": "lab-node-1", "containers": [container]},
    })
}

fn sandbox(root: &Path) -> Sandbox<'_> {
    Sandbox {
        pod_ip: "127.42.0.7",
        host_ip: "127.0.0.1",
        root,
        path: "/usr/bin:/bin",
        model_server_command: &[],
    }
}

fn busybox() -> Runner {
    Runner::Shell {
        entrypoint: vec![],
        cmd: vec!["sh".into()],
    }
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

#[test]
fn command_and_args_combine_with_the_image_by_the_four_upstream_rules() {
    // The docs' table, with an image whose ENTRYPOINT is [/ep-foo, /ep-bar] and CMD
    // [/cmd-foo, /cmd-bar].
    let (ep, cmd) = (
        words(&["/ep-foo", "/ep-bar"]),
        words(&["/cmd-foo", "/cmd-bar"]),
    );
    let (command, args) = (words(&["/cmd-zoo"]), words(&["/arg-zoo"]));
    assert_eq!(
        argv(&ep, &cmd, &[], &[]),
        words(&["/ep-foo", "/ep-bar", "/cmd-foo", "/cmd-bar"])
    );
    assert_eq!(argv(&ep, &cmd, &command, &[]), words(&["/cmd-zoo"]));
    assert_eq!(
        argv(&ep, &cmd, &[], &args),
        words(&["/ep-foo", "/ep-bar", "/arg-zoo"])
    );
    assert_eq!(
        argv(&ep, &cmd, &command, &args),
        words(&["/cmd-zoo", "/arg-zoo"])
    );
}

#[test]
fn args_alone_on_busybox_run_as_the_command_since_it_has_no_entrypoint() {
    let c = json!({"name": "p", "image": "busybox:1.36", "args": ["sleep", "100"]});
    let spec = process_spec(
        &pod(c.clone()),
        &c,
        &busybox(),
        &sandbox(Path::new("/r")),
        &Cluster(vec![]),
    )
    .expect("spec");
    assert_eq!(spec.argv, words(&["sleep", "100"]));
    let bare = json!({"name": "p", "image": "busybox:1.36"});
    let spec = process_spec(
        &pod(bare.clone()),
        &bare,
        &busybox(),
        &sandbox(Path::new("/r")),
        &Cluster(vec![]),
    )
    .expect("spec");
    assert_eq!(spec.argv, words(&["sh"]), "the image's CMD");
}

#[test]
fn the_seed_readiness_file_lives_in_each_containers_own_tmp() {
    let c = json!({"name": "app", "image": "busybox",
        "command": ["sh", "-c", "sleep 2; touch /tmp/ready; sleep 3600"]});
    let (a, b) = (Path::new("/lab/pods/a/app"), Path::new("/lab/pods/b/app"));
    let none = Cluster(vec![]);
    let spec_a = process_spec(&pod(c.clone()), &c, &busybox(), &sandbox(a), &none).expect("spec");
    let spec_b = process_spec(&pod(c.clone()), &c, &busybox(), &sandbox(b), &none).expect("spec");
    assert_eq!(
        spec_a.argv[2],
        "sleep 2; touch /lab/pods/a/app/tmp/ready; sleep 3600"
    );
    assert_eq!(
        spec_b.argv[2],
        "sleep 2; touch /lab/pods/b/app/tmp/ready; sleep 3600"
    );
    let probe = exec_argv(&["cat".into(), "/tmp/ready".into()], &spec_a);
    assert_eq!(probe, vec!["cat", "/lab/pods/a/app/tmp/ready"]);
    assert!(
        spec_a
            .env
            .contains(&("TMPDIR".into(), "/lab/pods/a/app/tmp".into()))
    );
}

#[test]
fn only_whole_tmp_paths_are_rewritten() {
    let t = "/R/tmp";
    assert_eq!(rewrite_tmp("/tmp", t), "/R/tmp");
    assert_eq!(
        rewrite_tmp("a>/tmp/x;cat '/tmp/x'", t),
        "a>/R/tmp/x;cat '/R/tmp/x'"
    );
    assert_eq!(rewrite_tmp("--dir=/tmp/cache", t), "--dir=/R/tmp/cache");
    assert_eq!(
        rewrite_tmp("/var/tmp/x /tmpfs x/tmp", t),
        "/var/tmp/x /tmpfs x/tmp"
    );
    assert_eq!(
        unrewrite_tmp("cat: /R/tmp/ready: No such file or directory", t),
        "cat: /tmp/ready: No such file or directory"
    );
}

#[test]
fn env_resolves_field_refs_configmaps_secrets_and_expansions() {
    let c = json!({"name": "app", "image": "busybox", "command": ["sh"],
    "args": ["-c", "echo $(GREETING) on $(PORT)"],
    "envFrom": [{"configMapRef": {"name": "base"}, "prefix": "CM_"}],
    "env": [
        {"name": "PORT", "value": "8080"},
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "base", "key": "greeting"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "MY_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MY_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "MY_APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "ADDR", "value": "$(MY_IP):$(PORT) $$(PORT) $(NOPE)"},
        {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
    ]});
    let objects = Cluster(vec![
        json!({"kind": "ConfigMap", "metadata": {"name": "base"}, "data": {"greeting": "hello", "mode": "fast"}}),
        json!({"kind": "Secret", "metadata": {"name": "creds"}, "data": {"token": "czNjcjN0"}}),
    ]);
    let root = Path::new("/lab/p/app");
    let spec =
        process_spec(&pod(c.clone()), &c, &busybox(), &sandbox(root), &objects).expect("spec");
    let env: BTreeMap<_, _> = spec.env.iter().cloned().collect();
    let get = |k: &str| env.get(k).map(String::as_str);
    assert_eq!(get("CM_greeting"), Some("hello"));
    assert_eq!(get("CM_mode"), Some("fast"));
    assert_eq!(get("GREETING"), Some("hello"));
    assert_eq!(get("TOKEN"), Some("s3cr3t"));
    assert_eq!(get("MY_NAME"), Some("web-1"));
    assert_eq!(get("MY_NS"), Some("prod"));
    assert_eq!(get("MY_IP"), Some("127.42.0.7"));
    assert_eq!(get("MY_NODE"), Some("lab-node-1"));
    assert_eq!(get("MY_UID"), Some("u-1"));
    assert_eq!(get("MY_APP"), Some("web"));
    assert_eq!(get("ADDR"), Some("127.42.0.7:8080 $(PORT) $(NOPE)"));
    assert_eq!(get("OPT"), None);
    assert_eq!(get("HOSTNAME"), Some("web-1"));
    assert_eq!(get("POD_IP"), Some("127.42.0.7"));
    assert_eq!(spec.argv, vec!["sh", "-c", "echo hello on 8080"]);
    assert_eq!(spec.working_dir, root.join(""));
}

#[test]
fn missing_configmaps_secrets_and_keys_give_upstream_messages() {
    let cases = [
        (
            json!({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}),
            "configmap \"cfg\" not found",
        ),
        (
            json!({"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}),
            "secret \"s\" not found",
        ),
        (
            json!({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "base", "key": "k"}}}),
            "couldn't find key k in ConfigMap prod/base",
        ),
    ];
    let objects = Cluster(vec![
        json!({"kind": "ConfigMap", "metadata": {"name": "base"}, "data": {}}),
    ]);
    for (var, message) in cases {
        let c = json!({"name": "app", "image": "busybox", "command": ["true"], "env": [var]});
        let err = process_spec(
            &pod(c.clone()),
            &c,
            &busybox(),
            &sandbox(Path::new("/r")),
            &objects,
        )
        .expect_err("config error");
        assert_eq!(err.to_string(), message);
        assert_eq!(err.reason(), "CreateContainerConfigError");
    }
}

#[test]
fn images_without_a_command_run_their_default_and_working_dir_is_under_the_root() {
    let c = json!({"name": "app", "image": "busybox", "workingDir": "/srv/app"});
    let spec = process_spec(
        &pod(c.clone()),
        &c,
        &busybox(),
        &sandbox(Path::new("/r")),
        &Cluster(vec![]),
    )
    .expect("spec");
    assert_eq!(spec.argv, vec!["sh"]);
    assert_eq!(spec.working_dir, Path::new("/r/srv/app"));
    let ms = vec![
        "/bin/rollout".to_string(),
        "lab".into(),
        "model-server".into(),
    ];
    let mut sb = sandbox(Path::new("/r"));
    sb.model_server_command = &ms;
    let c = json!({"name": "m", "image": "rollout-lab/model-server:v1", "args": ["--x"]});
    let spec = process_spec(
        &pod(c.clone()),
        &c,
        &Runner::ModelServer,
        &sb,
        &Cluster(vec![]),
    )
    .expect("spec");
    assert_eq!(
        spec.argv,
        vec!["/bin/rollout", "lab", "model-server", "--x"]
    );
}

#[test]
fn the_model_server_entrypoint_under_tmp_is_not_rewritten_but_its_args_are() {
    // A clone under /tmp (as CI's may be) puts the lab's own binary there.
    let ms = vec![
        "/tmp/ci/target/debug/rollout".to_string(),
        "lab".into(),
        "model-server".into(),
    ];
    let mut sb = sandbox(Path::new("/r"));
    sb.model_server_command = &ms;
    let c = json!({"name": "m", "image": "rollout-lab/model-server:v1", "args": ["--ready-file=/tmp/ready"]});
    let spec = process_spec(
        &pod(c.clone()),
        &c,
        &Runner::ModelServer,
        &sb,
        &Cluster(vec![]),
    )
    .expect("spec");
    assert_eq!(
        spec.argv,
        vec![
            "/tmp/ci/target/debug/rollout",
            "lab",
            "model-server",
            "--ready-file=/r/tmp/ready"
        ]
    );
}

#[test]
fn the_memory_limit_is_carried_in_bytes_and_only_when_set() {
    let spec_of = |c: Value| {
        process_spec(
            &pod(c.clone()),
            &c,
            &busybox(),
            &sandbox(Path::new("/r")),
            &Cluster(vec![]),
        )
        .expect("spec")
    };
    let limited = json!({"name": "app", "image": "busybox",
        "resources": {"requests": {"memory": "32Mi"}, "limits": {"memory": "48Mi"}}});
    assert_eq!(spec_of(limited).memory_limit, Some(48 << 20));
    let requested = json!({"name": "app", "image": "busybox",
        "resources": {"requests": {"memory": "32Mi"}}});
    assert_eq!(spec_of(requested).memory_limit, None);
}
