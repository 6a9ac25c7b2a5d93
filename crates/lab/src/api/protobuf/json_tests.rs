use super::*;

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A varint field, as Go writes int32, int64 and bool.
fn v(number: u64, value: i64) -> Vec<u8> {
    [varint(number << 3), varint(value as u64)].concat()
}

/// A length-delimited field: string, bytes, message or map entry.
fn b(number: u64, bytes: &[u8]) -> Vec<u8> {
    [
        varint((number << 3) | 2),
        varint(bytes.len() as u64),
        bytes.to_vec(),
    ]
    .concat()
}

fn s(number: u64, text: &str) -> Vec<u8> {
    b(number, text.as_bytes())
}

/// ObjectMeta as Go writes it: every non-pointer field, empty or not.
fn object_meta(name: &str) -> Vec<u8> {
    [
        s(1, name),
        s(2, ""),
        s(3, ""),
        s(4, ""),
        s(5, ""),
        s(6, ""),
        v(7, 0),
        b(8, &[]),
    ]
    .concat()
}

#[test]
fn go_writes_every_non_pointer_field_and_the_json_leaves_zero_omitempty_ones_out() {
    assert_eq!(
        message(
            "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            &object_meta("web")
        ),
        Ok(json!({"name": "web"}))
    );
}

#[test]
fn a_pointer_present_on_the_wire_keeps_its_zero() {
    // replicas (*int32) 0 and paused (bool, omitempty) false; minReadySeconds 0.
    let spec = [v(1, 0), v(5, 0), v(7, 0)].concat();
    assert_eq!(
        message("k8s.io.api.apps.v1.DeploymentSpec", &spec),
        Ok(json!({"replicas": 0}))
    );
}

#[test]
fn an_inline_go_field_joins_its_parent_and_zero_probe_settings_are_unset() {
    let http_get = [s(1, "/readyz"), b(2, &v(2, 8080))].concat();
    let handler = b(2, &http_get);
    let probe = [b(1, &handler), v(2, 0), v(4, 5), v(6, 0)].concat();
    assert_eq!(
        message("k8s.io.api.core.v1.Probe", &probe),
        Ok(json!({"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 5}))
    );
}

#[test]
fn secret_data_maps_read_as_base64_and_string_maps_as_text() {
    let secret = [
        b(1, &object_meta("creds")),
        b(2, &[s(1, "password"), s(2, "s3cr3t")].concat()),
        b(2, &[s(1, "user"), s(2, "admin")].concat()),
        s(3, "Opaque"),
        b(4, &[s(1, "note"), s(2, "hi")].concat()),
    ]
    .concat();
    assert_eq!(
        message("k8s.io.api.core.v1.Secret", &secret),
        Ok(json!({
            "metadata": {"name": "creds"},
            "data": {"password": "czNjcjN0", "user": "YWRtaW4="},
            "type": "Opaque",
            "stringData": {"note": "hi"},
        }))
    );
}

#[test]
fn containers_repeat_and_quantities_read_as_strings() {
    let quantity = b(1, b"250m");
    let limits = b(1, &[s(1, "cpu"), b(2, &quantity)].concat());
    let container = [
        s(1, "app"),
        s(2, "nginx:1.27"),
        s(4, "--port=80"),
        s(4, "-v"),
        b(8, &limits),
    ]
    .concat();
    let spec = [b(2, &container), b(2, &s(1, "sidecar"))].concat();
    assert_eq!(
        message("k8s.io.api.core.v1.PodSpec", &spec),
        Ok(json!({"containers": [
            {"name": "app", "image": "nginx:1.27", "args": ["--port=80", "-v"],
             "resources": {"limits": {"cpu": "250m"}}},
            {"name": "sidecar"},
        ]}))
    );
}

#[test]
fn int_or_string_keeps_a_pointer_zero_and_drops_a_plain_one() {
    let zero = [v(1, 0), v(2, 0), s(3, "")].concat();
    let quarter = [v(1, 1), v(2, 0), s(3, "25%")].concat();
    let rolling = [b(1, &zero), b(2, &quarter)].concat();
    assert_eq!(
        message("k8s.io.api.apps.v1.RollingUpdateDeployment", &rolling),
        Ok(json!({"maxUnavailable": 0, "maxSurge": "25%"}))
    );
    let port = [s(1, "http"), s(2, "TCP"), v(3, 80), b(4, &zero)].concat();
    assert_eq!(
        message("k8s.io.api.core.v1.ServicePort", &port),
        Ok(json!({"name": "http", "protocol": "TCP", "port": 80}))
    );
}

#[test]
fn times_read_as_rfc3339_and_an_unset_time_is_left_out() {
    let condition = [
        s(1, "Ready"),
        s(2, "True"),
        b(3, &v(1, 1_767_225_600)),
        b(4, &[]),
    ]
    .concat();
    assert_eq!(
        message("k8s.io.api.core.v1.PodCondition", &condition),
        Ok(json!({"type": "Ready", "status": "True", "lastProbeTime": "2026-01-01T00:00:00Z"}))
    );
    let micro = [v(1, 1_767_225_600), v(2, 123_456_000)].concat();
    assert_eq!(
        message("k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime", &micro),
        Ok(json!("2026-01-01T00:00:00.123456Z"))
    );
}

#[test]
fn durations_read_as_go_writes_them() {
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(1_500_000_000), "1.5s");
    assert_eq!(go_duration(3_723_000_000_000), "1h2m3s");
    assert_eq!(go_duration(300_000_000_000), "5m0s");
    assert_eq!(go_duration(2_000_000), "2ms");
}

#[test]
fn a_wire_type_that_contradicts_the_table_is_malformed() {
    assert_eq!(
        message("k8s.io.api.apps.v1.DeploymentSpec", &s(1, "three")),
        Err(DecodeError::Malformed)
    );
}

#[test]
fn kinds_beyond_the_core_read_too_a_jobs_zero_backoff_and_a_roles_rules() {
    // `kubectl create job` and `create role` send these.
    let spec = [v(7, 0), v(2, 1)].concat();
    assert_eq!(
        message("k8s.io.api.batch.v1.JobSpec", &spec),
        Ok(json!({"backoffLimit": 0, "completions": 1}))
    );
    let rule = [s(1, "get"), s(1, "list"), s(2, ""), s(3, "pods")].concat();
    assert_eq!(
        message("k8s.io.api.rbac.v1.PolicyRule", &rule),
        Ok(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}))
    );
}
