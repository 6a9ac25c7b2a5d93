//! Behaviour a new user meets with the real kubectl where the lab once differed from a real
//! cluster: Secret `stringData`, unconditional updates, log options, trailing-slash discovery
//! paths, Status details, the events.k8s.io view of events, access reviews and watch expiry.

use crate::kubectl::first_column;
use crate::support::TestLab;

#[tokio::test]
async fn kubectl_shows_secret_string_data_merged_into_data_and_never_returns_it() {
    let lab = TestLab::start().await;
    let Some(k) = lab.kubectl() else { return };
    let file = k.file(
        "secret.yaml",
        "apiVersion: v1
kind: Secret
metadata:
  name: creds
data:
  user: YWRtaW4=
  token: b2xk
stringData:
  token: s3cret
",
    );
    k.run(&["apply", "-f", &file]).await.ok();
    let table = k
        .run(&["get", "secret", "creds", "--no-headers"])
        .await
        .ok();
    let cells: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(first_column(&table), "creds");
    assert_eq!(cells.get(1..3), Some(&["Opaque", "2"][..]), "{table}");
    let data = k
        .run(&[
            "get",
            "secret",
            "creds",
            "-o",
            "jsonpath={.data.token} {.data.user} [{.stringData}]",
        ])
        .await
        .ok();
    assert_eq!(
        data, "czNjcmV0 YWRtaW4= []",
        "stringData overwrites data and is not returned"
    );
}
