"""Checks of the lab through the official Python `kubernetes` client, one per call:

    python client_checks.py CHECK

with KUBECONFIG naming the lab's kubeconfig (CA data and bearer token). Each check is what
a Python user does first and where the lab once differed from a real cluster; it exits 0
when the lab answered as upstream does, and fails with the assertion's message otherwise.
Run by crates/lab/tests/conformance/python_client.rs, which starts the lab.
"""

import base64
import datetime
import re
import sys
import time

from kubernetes import client, config, watch
from kubernetes.stream import stream
from kubernetes.client.rest import ApiException

NS = "default"
DEADLINE = 20.0


def until(what, probe):
    """Polls `probe` until it returns a true value, failing after DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def version():
    info = client.VersionApi().get_code()
    assert info.major == "1" and info.minor == "33", info
    assert info.git_version.startswith("v1.33"), info.git_version


def api_versions():
    core = client.CoreApi().get_api_versions()
    assert "v1" in core.versions, core
    groups = client.ApisApi().get_api_versions()
    names = {g.name for g in groups.groups}
    assert {"apps", "policy", "events.k8s.io"} <= names, names


def pod_logs():
    core = client.CoreV1Api()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "talk"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": "busybox",
                    "command": ["sh", "-c", "echo one; exec sleep 3600"],
                }
            ],
        },
    }
    core.create_namespaced_pod(NS, pod)
    until("the pod's first line", lambda: core.read_namespaced_pod_log("talk", NS) == "one\n")
    stamped = core.read_namespaced_pod_log("talk", NS, timestamps=True)
    m = re.fullmatch(r"(\S+) one\n", stamped)
    assert m, repr(stamped)
    at = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    cut = core.read_namespaced_pod_log("talk", NS, timestamps=True, limit_bytes=7)
    assert cut == stamped[:7], (cut, stamped)
    assert core.read_namespaced_pod_log("talk", NS, since_seconds=3600) == "one\n"
    # Once the line is more than a second and a half old, the last second holds nothing.
    def old_enough():
        return datetime.datetime.now(datetime.timezone.utc) - at > datetime.timedelta(seconds=1.5)

    until("the line to be older than a second", old_enough)
    recent = core.read_namespaced_pod_log("talk", NS, since_seconds=1)
    assert recent == "", repr(recent)


def secret_string_data():
    core = client.CoreV1Api()
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="creds"),
        data={"user": base64.b64encode(b"old").decode()},
        string_data={"user": "admin", "password": "s3cr3t"},
    )
    created = core.create_namespaced_secret(NS, secret)
    assert created.string_data is None, created.string_data
    stored = core.read_namespaced_secret("creds", NS)
    decoded = {k: base64.b64decode(v).decode() for k, v in stored.data.items()}
    assert decoded == {"user": "admin", "password": "s3cr3t"}, decoded
    assert stored.string_data is None, stored.string_data


def events_api():
    core = client.CoreV1Api()
    # With its eventTime, as reporters write events today: for one without, upstream (and
    # the lab) serve `eventTime: null` through events.k8s.io, which this client's model
    # refuses to read (a client-side limit, not the server's).
    core.create_namespaced_event(
        NS,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="web.1"),
            involved_object=client.V1ObjectReference(kind="Pod", name="web", namespace=NS),
            reason="Started",
            message="Started container app",
            type="Normal",
            action="Started",
            event_time=datetime.datetime.now(datetime.timezone.utc),
            reporting_component="kubelet",
            reporting_instance="lab-node-1",
            source=client.V1EventSource(component="kubelet"),
        ),
    )
    listed = client.EventsV1Api().list_namespaced_event(NS)
    found = [e for e in listed.items if e.metadata.name == "web.1"]
    assert len(found) == 1, [e.metadata.name for e in listed.items]
    event = found[0]
    assert event.note == "Started container app", event
    assert event.regarding.name == "web" and event.reason == "Started", event


def watch_expired():
    core = client.CoreV1Api()
    first = core.create_namespaced_config_map(
        NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm-0"), data={"k": "0"})
    )
    # The lab of this check keeps a short history: a few writes compact the first away.
    for i in range(1, 6):
        core.create_namespaced_config_map(
            NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"cm-{i}"), data={"k": str(i)})
        )
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        NS,
        resource_version=first.metadata.resource_version,
        timeout_seconds=10,
    )
    try:
        for event in stream:
            raise AssertionError(f"an event from a compacted resourceVersion: {event['type']}")
        raise AssertionError("the watch ended without an error")
    except ApiException as e:
        assert e.status == 410, e
        assert "Expired" in str(e.reason), e.reason


def deployment_crud():
    apps = client.AppsV1Api()
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]},
            },
        },
    }
    created = apps.create_namespaced_deployment(NS, body)
    assert created.spec.strategy.type == "RollingUpdate", created.spec.strategy
    names = [d.metadata.name for d in apps.list_namespaced_deployment(NS, label_selector="app=web").items]
    assert names == ["web"], names
    patched = apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 3}})
    assert patched.spec.replicas == 3, patched.spec.replicas
    assert patched.metadata.generation == 2, patched.metadata.generation
    until(
        "three available replicas",
        lambda: (apps.read_namespaced_deployment_status("web", NS).status.available_replicas or 0) == 3,
    )
    apps.delete_namespaced_deployment("web", NS)

    def gone():
        try:
            apps.read_namespaced_deployment("web", NS)
            return False
        except ApiException as e:
            return e.status == 404

    until("the Deployment to be gone", gone)


def pod_exec():
    """`stream(connect_get_namespaced_pod_exec)`: the client's websocket `v4.channel.k8s.io`."""
    core = client.CoreV1Api()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "box"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": "busybox",
                    "env": [{"name": "GREETING", "value": "hello from python"}],
                    "command": ["sh", "-c", "touch /tmp/ready; exec sleep 3600"],
                }
            ],
        },
    }
    core.create_namespaced_pod(NS, pod)
    until(
        "the pod to run",
        lambda: core.read_namespaced_pod("box", NS).status.phase == "Running",
    )
    out = stream(
        core.connect_get_namespaced_pod_exec,
        "box",
        NS,
        command=["sh", "-c", "echo $GREETING; ls /tmp/ready"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert out == "hello from python\n/tmp/ready\n", repr(out)
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        "box",
        NS,
        command=["sh", "-c", "exit 3"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    resp.run_forever(timeout=DEADLINE)
    assert resp.returncode == 3, resp.returncode


CHECKS = {
    f.__name__: f
    for f in [
        version,
        api_versions,
        pod_logs,
        secret_string_data,
        events_api,
        watch_expired,
        deployment_crud,
        pod_exec,
    ]
}

if __name__ == "__main__":
    config.load_kube_config()
    CHECKS[sys.argv[1]]()
    print(f"{sys.argv[1]}: ok")
