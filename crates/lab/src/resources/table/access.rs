//! ServiceAccount, Role, ClusterRole, RoleBinding, ClusterRoleBinding,
//! PersistentVolumeClaim and PersistentVolume rows (upstream printServiceAccount,
//! printRole, printRoleBinding, printPersistentVolumeClaim and printPersistentVolume of
//! v1.33).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::super::json::{arr_at, at, obj_at, str_at};
use super::{AGE_DESC, age, age_col, col, name_col};

pub fn columns(resource: &str) -> Vec<Value> {
    let vac = col(
        "VolumeAttributesClass",
        "string",
        0,
        "VolumeAttributesClass of the pv",
    );
    let volume_mode = col(
        "VolumeMode",
        "string",
        1,
        "volumeMode defines what type of volume is required by the claim.",
    );
    match resource {
        "serviceaccounts" => vec![
            name_col(),
            col(
                "Secrets",
                "string",
                0,
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            ),
            age_col(),
        ],
        "roles" | "clusterroles" => vec![name_col(), col("Created At", "date", 0, AGE_DESC)],
        "rolebindings" | "clusterrolebindings" => vec![
            name_col(),
            col(
                "Role",
                "string",
                0,
                "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
            ),
            age_col(),
            col("Users", "string", 1, "Users in the roleBinding"),
            col("Groups", "string", 1, "Groups in the roleBinding"),
            col(
                "ServiceAccounts",
                "string",
                1,
                "ServiceAccounts in the roleBinding",
            ),
        ],
        "persistentvolumeclaims" => vec![
            name_col(),
            col(
                "Status",
                "string",
                0,
                "phase represents the current phase of PersistentVolumeClaim.",
            ),
            col(
                "Volume",
                "string",
                0,
                "volumeName is the binding reference to the PersistentVolume backing this claim.",
            ),
            col(
                "Capacity",
                "string",
                0,
                "capacity represents the actual resources of the underlying volume.",
            ),
            col(
                "Access Modes",
                "string",
                0,
                "accessModes contains the actual access modes the volume backing the PVC has.",
            ),
            col("StorageClass", "string", 0, "StorageClass of the pvc"),
            vac,
            age_col(),
            volume_mode,
        ],
        _ => vec![
            name_col(),
            col(
                "Capacity",
                "string",
                0,
                "capacity is the description of the persistent volume's resources and capacity.",
            ),
            col(
                "Access Modes",
                "string",
                0,
                "accessModes contains all ways the volume can be mounted.",
            ),
            col(
                "Reclaim Policy",
                "string",
                0,
                "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
            ),
            col(
                "Status",
                "string",
                0,
                "phase indicates if a volume is available, bound to a claim, or released by a claim.",
            ),
            col(
                "Claim",
                "string",
                0,
                "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
            ),
            col("StorageClass", "string", 0, "StorageClass of the pv"),
            vac,
            col(
                "Reason",
                "string",
                0,
                "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
            ),
            age_col(),
            volume_mode,
        ],
    }
}

pub fn cells(resource: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(str_at(obj, &["metadata", "name"]));
    let age = json!(age(obj, now));
    match resource {
        "serviceaccounts" => vec![name, json!(arr_at(obj, &["secrets"]).len()), age],
        "roles" | "clusterroles" => {
            let created = str_at(obj, &["metadata", "creationTimestamp"])
                .parse::<Timestamp>()
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|_| "0001-01-01T00:00:00Z".to_string());
            vec![name, json!(created)]
        }
        "rolebindings" | "clusterrolebindings" => {
            let role = format!(
                "{}/{}",
                str_at(obj, &["roleRef", "kind"]),
                str_at(obj, &["roleRef", "name"])
            );
            let subjects = |kind: &str| {
                arr_at(obj, &["subjects"])
                    .iter()
                    .filter(|s| str_at(s, &["kind"]) == kind)
                    .map(|s| match (kind, str_at(s, &["namespace"])) {
                        ("ServiceAccount", ns) => format!("{ns}/{}", str_at(s, &["name"])),
                        _ => str_at(s, &["name"]).to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                name,
                json!(role),
                age,
                json!(subjects("User")),
                json!(subjects("Group")),
                json!(subjects("ServiceAccount")),
            ]
        }
        "persistentvolumeclaims" => {
            let phase = if str_at(obj, &["metadata", "deletionTimestamp"]).is_empty() {
                str_at(obj, &["status", "phase"])
            } else {
                "Terminating"
            };
            let volume = str_at(obj, &["spec", "volumeName"]);
            let (capacity, modes) = if volume.is_empty() {
                (String::new(), String::new())
            } else {
                (
                    storage(obj, &["status", "capacity"]),
                    access_modes(arr_at(obj, &["status", "accessModes"])),
                )
            };
            vec![
                name,
                json!(phase),
                json!(volume),
                json!(capacity),
                json!(modes),
                json!(storage_class(obj)),
                json!(attributes_class(obj)),
                age,
                json!(volume_mode(obj)),
            ]
        }
        _ => {
            let claim = match at(obj, &["spec", "claimRef"]).filter(|c| c.is_object()) {
                Some(c) => format!("{}/{}", str_at(c, &["namespace"]), str_at(c, &["name"])),
                None => String::new(),
            };
            let phase = if str_at(obj, &["metadata", "deletionTimestamp"]).is_empty() {
                str_at(obj, &["status", "phase"])
            } else {
                "Terminating"
            };
            vec![
                name,
                json!(storage(obj, &["spec", "capacity"])),
                json!(access_modes(arr_at(obj, &["spec", "accessModes"]))),
                json!(str_at(obj, &["spec", "persistentVolumeReclaimPolicy"])),
                json!(phase),
                json!(claim),
                json!(storage_class(obj)),
                json!(attributes_class(obj)),
                json!(str_at(obj, &["status", "reason"])),
                age,
                json!(volume_mode(obj)),
            ]
        }
    }
}

fn storage(obj: &Value, path: &[&str]) -> String {
    obj_at(obj, path)
        .and_then(|m| m.get("storage"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// upstream GetAccessModesAsString: each mode once, in this fixed order.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The class from the beta annotation, else the field (upstream GetPersistentVolume(Claim)Class).
fn storage_class(obj: &Value) -> String {
    let annotation = str_at(
        obj,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    );
    if annotation.is_empty() {
        str_at(obj, &["spec", "storageClassName"]).to_string()
    } else {
        annotation.to_string()
    }
}

fn attributes_class(obj: &Value) -> String {
    match str_at(obj, &["spec", "volumeAttributesClassName"]) {
        "" => "<unset>".to_string(),
        c => c.to_string(),
    }
}

fn volume_mode(obj: &Value) -> String {
    match str_at(obj, &["spec", "volumeMode"]) {
        "" => "<unset>".to_string(),
        m => m.to_string(),
    }
}
