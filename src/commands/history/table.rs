//! The revisions of one Deployment as rows, and the `rollout history` table.
//!
//! Pure: the ReplicaSets come in, rows and text come out. As kubectl, only ReplicaSets
//! controlled by the Deployment count, the revision is the RS's
//! `deployment.kubernetes.io/revision` annotation and the change cause its
//! `kubernetes.io/change-cause` (else its template's). On top of kubectl's columns each row
//! carries the RS's age and images, and the REVISION cell marks the revision the Deployment
//! runs now (`(current)`) and the numbers a revision had before an undo renumbered it
//! (`(was 2)`, from `deployment.kubernetes.io/revision-history`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::jiff::Timestamp;
use rollout_semantics::access::{annotation, created, name, rs_template};
use rollout_semantics::duration::age;
use rollout_semantics::kubectl::controlled_by;
use rollout_semantics::revision::{
    CHANGE_CAUSE, REVISION_HISTORY, find_new_rs, revision_of, sort_by_revision,
};
use serde::Serialize;

/// One revision of a Deployment: one ReplicaSet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub revision: i64,
    /// The numbers this revision had before undos renumbered it, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub former_revisions: Vec<i64>,
    /// The Deployment's pod template is this revision's.
    pub current: bool,
    pub replica_set: String,
    /// The RS's creation time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `container -> image`, in container order.
    pub images: Vec<ContainerImage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_cause: Option<String>,
    /// The revision's pod template (with the RS's `pod-template-hash` label).
    #[serde(skip)]
    pub template: Option<PodTemplateSpec>,
    #[serde(skip)]
    pub created_at: Option<Timestamp>,
}

/// One container's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerImage {
    pub container: String,
    pub image: String,
}

impl Entry {
    /// The REVISION cell: `3`, `3 (current)`, `5 (was 2)`, `5 (current, was 2, 4)`.
    pub fn revision_cell(&self) -> String {
        let mut marks = Vec::new();
        if self.current {
            marks.push("current".to_string());
        }
        if !self.former_revisions.is_empty() {
            let was: Vec<String> = self.former_revisions.iter().map(i64::to_string).collect();
            marks.push(format!("was {}", was.join(", ")));
        }
        if marks.is_empty() {
            self.revision.to_string()
        } else {
            format!("{} ({})", self.revision, marks.join(", "))
        }
    }

    /// The IMAGES cell: `server=model:v2,sidecar=proxy:1`.
    pub fn images_cell(&self) -> String {
        if self.images.is_empty() {
            return "<none>".to_string();
        }
        self.images
            .iter()
            .map(|c| format!("{}={}", c.container, c.image))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The revisions of `d` among `rss`, ascending. RSes not controlled by `d` and RSes with an
/// unparsable revision are left out; of two RSes with one revision the later created wins.
pub fn entries(d: &Deployment, rss: &[&ReplicaSet]) -> Vec<Entry> {
    let mut owned: Vec<&ReplicaSet> = rss
        .iter()
        .copied()
        .filter(|rs| controlled_by(rs, d))
        .collect();
    sort_by_revision(&mut owned);
    let current = find_new_rs(d, &owned).map(|rs| name(&rs.metadata).to_string());
    let mut by_revision: BTreeMap<i64, Entry> = BTreeMap::new();
    for rs in owned {
        let Ok(revision) = revision_of(rs) else {
            continue;
        };
        let rs_name = name(&rs.metadata).to_string();
        let template = rs_template(rs).cloned();
        let from_template = template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| annotation(m, CHANGE_CAUSE));
        let change_cause = annotation(&rs.metadata, CHANGE_CAUSE)
            .or(from_template)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        let created_at = created(&rs.metadata);
        by_revision.insert(
            revision,
            Entry {
                revision,
                former_revisions: former_revisions(rs),
                current: current.as_deref() == Some(rs_name.as_str()),
                replica_set: rs_name,
                created: created_at.map(|t| t.to_string()),
                images: images(template.as_ref()),
                change_cause,
                template,
                created_at,
            },
        );
    }
    by_revision.into_values().collect()
}

/// The parsable numbers in `revision-history` (`"1,3"`).
fn former_revisions(rs: &ReplicaSet) -> Vec<i64> {
    annotation(&rs.metadata, REVISION_HISTORY)
        .map(|h| h.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// The containers' images of a template.
pub fn images(template: Option<&PodTemplateSpec>) -> Vec<ContainerImage> {
    template
        .and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .map(|c| ContainerImage {
                    container: c.name.clone(),
                    image: c.image.clone().unwrap_or_else(|| "<none>".to_string()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The table: `REVISION  AGE  IMAGES  CHANGE-CAUSE`, columns padded to their widest cell
/// plus two as kubectl's tabwriter, `No rollout history found.` without revisions.
pub fn render(entries: &[Entry], now: Timestamp) -> String {
    if entries.is_empty() {
        return "No rollout history found.\n".to_string();
    }
    let mut rows: Vec<[String; 4]> = vec![[
        "REVISION".to_string(),
        "AGE".to_string(),
        "IMAGES".to_string(),
        "CHANGE-CAUSE".to_string(),
    ]];
    for e in entries {
        rows.push([
            e.revision_cell(),
            age(e.created_at, now),
            e.images_cell(),
            e.change_cause
                .clone()
                .unwrap_or_else(|| "<none>".to_string()),
        ]);
    }
    let mut widths = [0usize; 3];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (w, cell) in widths.iter().zip(row.iter()) {
            out.push_str(&format!("{cell:<width$}", width = w + 2));
        }
        out.push_str(&row[3]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSetSpec};
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, ObjectMeta, OwnerReference, Time,
    };

    const UID: &str = "d-uid";

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "server".into(),
                    image: Some(image.into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
        }
    }

    fn deployment(image: &str) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                uid: Some(UID.into()),
                ..ObjectMeta::default()
            },
            spec: Some(DeploymentSpec {
                selector: LabelSelector::default(),
                template: template(image),
                ..DeploymentSpec::default()
            }),
            status: None,
        }
    }

    fn rs(
        name: &str,
        image: &str,
        annotations: &[(&str, &str)],
        owner_uid: &str,
        at: i64,
    ) -> ReplicaSet {
        let mut t = template(image);
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.insert("pod-template-hash".into(), name.into());
        }
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                owner_references: Some(vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: "web".into(),
                    uid: owner_uid.into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]),
                creation_timestamp: Timestamp::from_second(at).ok().map(Time),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                template: Some(t),
                ..ReplicaSetSpec::default()
            }),
            status: None,
        }
    }

    const REV: &str = "deployment.kubernetes.io/revision";

    #[test]
    fn an_undo_renumbers_a_revision_and_the_table_says_what_it_was() {
        let d = deployment("model:v1");
        let v1 = rs(
            "web-1",
            "model:v1",
            &[(REV, "4"), (REVISION_HISTORY, "1")],
            UID,
            1000,
        );
        let v2 = rs(
            "web-2",
            "model:v2",
            &[
                (REV, "2"),
                (CHANGE_CAUSE, "rollout update --image model:v2"),
            ],
            UID,
            2000,
        );
        let v3 = rs("web-3", "model:v3", &[(REV, "3")], UID, 3000);
        let rows = entries(&d, &[&v3, &v1, &v2]);
        let cells: Vec<String> = rows.iter().map(Entry::revision_cell).collect();
        assert_eq!(cells, ["2", "3", "4 (current, was 1)"]);
        let now = Timestamp::from_second(3600 + 1000).unwrap();
        assert_eq!(
            render(&rows, now),
            "\
REVISION            AGE  IMAGES           CHANGE-CAUSE
2                   43m  server=model:v2  rollout update --image model:v2
3                   26m  server=model:v3  <none>
4 (current, was 1)  60m  server=model:v1  <none>
"
        );
    }

    #[test]
    fn replica_sets_another_deployment_controls_are_not_history() {
        let d = deployment("model:v1");
        let mine = rs("web-1", "model:v1", &[(REV, "1")], UID, 1000);
        let other = rs("web-x", "model:v9", &[(REV, "7")], "someone-else", 1000);
        let rows = entries(&d, &[&mine, &other]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].revision, 1);
        assert!(rows[0].current);
    }

    #[test]
    fn several_renumberings_are_all_listed_and_a_pending_template_marks_nothing_current() {
        let d = deployment("model:v9");
        let a = rs(
            "web-1",
            "model:v1",
            &[(REV, "5"), (REVISION_HISTORY, "1,3")],
            UID,
            1000,
        );
        let rows = entries(&d, &[&a]);
        assert_eq!(rows[0].former_revisions, [1, 3]);
        assert_eq!(rows[0].revision_cell(), "5 (was 1, 3)");
    }

    #[test]
    fn no_replica_sets_is_no_history() {
        let d = deployment("model:v1");
        assert_eq!(
            render(&entries(&d, &[]), Timestamp::UNIX_EPOCH),
            "No rollout history found.\n"
        );
    }

    #[test]
    fn the_change_cause_falls_back_to_the_template_and_an_empty_one_is_none() {
        let d = deployment("model:v1");
        let mut a = rs("web-1", "model:v1", &[(REV, "1")], UID, 1000);
        if let Some(m) = a
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut())
            .and_then(|t| t.metadata.as_mut())
        {
            m.annotations = Some([(CHANGE_CAUSE.to_string(), "from template".to_string())].into());
        }
        let b = rs(
            "web-2",
            "model:v2",
            &[(REV, "2"), (CHANGE_CAUSE, "")],
            UID,
            2000,
        );
        let rows = entries(&d, &[&a, &b]);
        assert_eq!(rows[0].change_cause.as_deref(), Some("from template"));
        assert_eq!(rows[1].change_cause, None);
    }
}
