//! kubectl rollout status / undo / history against fact sheet §5.2-5.4.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use crate::kubectl::*;
use crate::revision::{CHANGE_CAUSE, LAST_APPLIED, REVISION};
use crate::status::{PROGRESSING, TIMED_OUT, new_condition};
use crate::template::with_hash_label;
use crate::testutil::{deployment, rs, set_annotation, template, ts};

fn web(generation: i64, observed: i64, updated: i32, replicas: i32, available: i32) -> Deployment {
    let mut d = deployment("web", 3, IntOrString::Int(1), IntOrString::Int(0));
    d.metadata.generation = Some(generation);
    d.status = Some(DeploymentStatus {
        observed_generation: Some(observed),
        updated_replicas: Some(updated),
        replicas: Some(replicas),
        available_replicas: Some(available),
        ..Default::default()
    });
    d
}

#[test]
fn rollout_status_messages_follow_kubectl_in_order() {
    let cases = [
        (
            web(2, 1, 3, 3, 3),
            "Waiting for deployment spec update to be observed...\n",
            false,
        ),
        (
            web(1, 1, 1, 4, 3),
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n",
            false,
        ),
        (
            web(1, 1, 3, 4, 3),
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n",
            false,
        ),
        (
            web(1, 1, 3, 3, 2),
            "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...\n",
            false,
        ),
        (
            web(1, 1, 3, 3, 3),
            "deployment \"web\" successfully rolled out\n",
            true,
        ),
    ];
    for (d, want, done) in cases {
        assert_eq!(rollout_status(&d, None), Ok((want.to_string(), done)));
    }
}

#[test]
fn a_deadline_exceeded_condition_is_an_error_before_the_counters() {
    let mut d = web(1, 1, 1, 3, 1);
    if let Some(s) = d.status.as_mut() {
        s.conditions = Some(vec![new_condition(
            PROGRESSING,
            "False",
            TIMED_OUT,
            "x",
            ts(0),
        )]);
    }
    let err = rollout_status(&d, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "deployment \"web\" exceeded its progress deadline"
    );
    // ...but not before the generation check.
    d.metadata.generation = Some(2);
    assert!(rollout_status(&d, None).is_ok());
}

#[test]
fn a_revision_mismatch_is_reported_first() {
    let mut d = web(1, 1, 3, 3, 3);
    set_annotation(&mut d.metadata, REVISION, "4");
    let err = rollout_status(&d, Some(5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "desired revision (5) is different from the running revision (4)"
    );
    assert!(rollout_status(&d, Some(4)).is_ok_and(|(_, done)| done));
    assert!(
        rollout_status(&d, Some(0)).is_ok(),
        "0 means no revision check"
    );
}

fn four_revisions() -> Vec<ReplicaSet> {
    (1..=4)
        .map(|i| rs(&format!("web-{i}"), i, i, 0, 0))
        .collect()
}

#[test]
fn undo_targets_the_second_highest_revision_or_the_named_one() {
    let all = four_revisions();
    let refs: Vec<&ReplicaSet> = all.iter().rev().collect();
    let name = |r: &ReplicaSet| r.metadata.name.clone().unwrap_or_default();
    assert_eq!(
        rollback_target("web", &refs, 0).map(name),
        Ok("web-3".into())
    );
    assert_eq!(
        rollback_target("web", &refs, 2).map(name),
        Ok("web-2".into())
    );
    assert_eq!(
        rollback_target("web", &refs, 9).unwrap_err().to_string(),
        "unable to find specified revision 9 in history"
    );
    assert_eq!(
        rollback_target("web", &refs, -1).unwrap_err().to_string(),
        "unable to find specified revision -1 in history"
    );
    assert_eq!(
        rollback_target("web", &refs[..1], 0)
            .unwrap_err()
            .to_string(),
        "no rollout history found for deployment \"web\""
    );
}

#[test]
fn after_readoption_the_old_revision_number_is_gone_from_history() {
    // undo --to-revision=2 turned RS#2 into revision 5: history lists 1, 3, 4, 5.
    let mut all = four_revisions();
    set_annotation(&mut all[1].metadata, REVISION, "5");
    let refs: Vec<&ReplicaSet> = all.iter().collect();
    let revs: Vec<i64> = history_rows(&refs).iter().map(|(r, _)| *r).collect();
    assert_eq!(revs, vec![1, 3, 4, 5]);
    assert_eq!(
        rollback_target("web", &refs, 2).unwrap_err().to_string(),
        "unable to find specified revision 2 in history"
    );
}

#[test]
fn undo_skips_a_matching_template_and_refuses_a_paused_deployment() {
    let d = web(1, 1, 3, 3, 3); // template app:v2
    let mut current = rs("web-cur", 2, 2, 3, 3);
    let mut prev = rs("web-prev", 1, 1, 0, 0);
    if let Some(s) = prev.spec.as_mut() {
        s.template = Some(with_hash_label(&template("app:v2"), "h1"));
    }
    if let Some(s) = current.spec.as_mut() {
        s.template = Some(template("app:v3"));
    }
    let refs = [&current, &prev];
    assert_eq!(
        plan_undo(&d, &refs, 0),
        Ok(UndoPlan::Skipped { to_revision: 0 })
    );
    assert_eq!(
        skipped_message(0),
        "skipped rollback (current template already matches revision 0)"
    );
    let mut paused = d.clone();
    if let Some(s) = paused.spec.as_mut() {
        s.paused = Some(true);
    }
    assert_eq!(
        plan_undo(&paused, &refs, 0).unwrap_err().to_string(),
        "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
    );
}

#[test]
fn the_undo_patch_replaces_template_without_hash_and_carries_annotations_as_kubectl() {
    let mut d = web(1, 1, 3, 3, 3);
    set_annotation(&mut d.metadata, REVISION, "2");
    set_annotation(&mut d.metadata, LAST_APPLIED, "{}");
    set_annotation(&mut d.metadata, CHANGE_CAUSE, "v2 rollout");
    set_annotation(&mut d.metadata, "team", "ml");
    let mut target = rs("web-1", 1, 1, 0, 0);
    if let Some(s) = target.spec.as_mut() {
        s.template = Some(with_hash_label(&template("app:v1"), "h1"));
    }
    set_annotation(&mut target.metadata, CHANGE_CAUSE, "v1 rollout");
    let current = rs("web-2", 2, 2, 3, 3);
    let Ok(UndoPlan::Patch(patch)) = plan_undo(&d, &[&current, &target], 1) else {
        panic!("expected a patch");
    };
    let want = json!([
        {"op": "replace", "path": "/spec/template", "value": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "app:v1"}]}
        }},
        {"op": "replace", "path": "/metadata/annotations", "value": {
            "deployment.kubernetes.io/revision": "2",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "kubernetes.io/change-cause": "v1 rollout"
        }}
    ]);
    assert_eq!(patch, want);
}

#[test]
fn history_output_has_the_trailing_space_and_blank_line() {
    let one = rs("web-1", 1, 1, 0, 0);
    let mut two = rs("web-2", 2, 2, 3, 3);
    set_annotation(
        &mut two.metadata,
        CHANGE_CAUSE,
        "kubectl set image deployment/web app=app:v2",
    );
    let out = history_output("deployment.apps/web", &[&two, &one]);
    assert_eq!(
        out,
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n2         kubectl set image deployment/web app=app:v2\n\n"
    );
    assert_eq!(history_table(&[]), "No rollout history found.");
    assert!(history_revision(&[&one, &two], 2).is_ok());
    assert_eq!(
        history_revision(&[&one], 7).unwrap_err().to_string(),
        "unable to find the specified revision"
    );
}
