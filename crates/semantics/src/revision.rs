//! Revisions, new/old ReplicaSet classification, ordering and history cleanup.
//!
//! Follows `deployment_util.go` (`Revision`, `MaxRevision`, `LastRevision`,
//! `SetNewReplicaSetAnnotations`, `FindNewReplicaSet`, `FindOldReplicaSets`), `controller_utils.go`
//! (`ReplicaSetsByCreationTimestamp`, `ReplicaSetsByRevision`, `FilterActiveReplicaSets`) and
//! `sync.go` `cleanupDeployment`. Revisions live in annotations, so a rollback re-adopts an old RS,
//! bumps it to max+1 and records its former number in `revision-history` (fact sheet §2.3-2.5).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::access::{annotation, created, deployment_replicas, deployment_template, name};
use crate::access::{rs_replicas, rs_status_replicas, rs_template};
use crate::template::normalize;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
pub const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Annotations never copied between a Deployment and its ReplicaSets (`annotationsToSkip`).
pub const SKIP_ANNOTATIONS: [&str; 6] = [
    LAST_APPLIED,
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    ROLLBACK_TO,
];

/// Upstream caps `revision-history` at 2000 characters (`--deployment-controller` default).
pub const REVISION_HISTORY_LIMIT_CHARS: usize = 2000;

/// True for annotations in [`SKIP_ANNOTATIONS`].
pub fn is_skipped_annotation(key: &str) -> bool {
    SKIP_ANNOTATIONS.contains(&key)
}

/// The revision annotation is present but not a decimal integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("revision annotation {0:?} is not an integer")]
pub struct RevisionError(pub String);

/// `Revision(obj)`: 0 when the annotation is missing, an error when it is not a number.
pub fn revision_of_meta(meta: &ObjectMeta) -> Result<i64, RevisionError> {
    match annotation(meta, REVISION) {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| RevisionError(v.to_string())),
    }
}

/// `Revision(rs)` for a ReplicaSet.
pub fn revision_of(rs: &ReplicaSet) -> Result<i64, RevisionError> {
    revision_of_meta(&rs.metadata)
}

/// `MaxRevision`: the largest parsable revision, 0 when there is none.
pub fn max_revision(rss: &[&ReplicaSet]) -> i64 {
    rss.iter()
        .filter_map(|rs| revision_of(rs).ok())
        .max()
        .unwrap_or(0)
}

/// `LastRevision`: the second-highest revision (what the legacy rollback to 0 means).
pub fn last_revision(rss: &[&ReplicaSet]) -> i64 {
    let (mut max, mut second) = (0, 0);
    for v in rss.iter().filter_map(|rs| revision_of(rs).ok()) {
        if v >= max {
            second = max;
            max = v;
        } else if v > second {
            second = v;
        }
    }
    second
}

/// The revision the new RS must carry: max over the **old** RSes plus one.
pub fn next_revision(old_rss: &[&ReplicaSet]) -> i64 {
    max_revision(old_rss).saturating_add(1)
}

/// `ReplicaSetsByCreationTimestamp`: older first, name breaks ties; unset sorts as oldest.
pub fn cmp_by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(&a.metadata)
        .cmp(&created(&b.metadata))
        .then_with(|| name(&a.metadata).cmp(name(&b.metadata)))
}

/// `ReplicaSetsByRevision`: lower revision first; unparsable or equal falls back to creation.
pub fn cmp_by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    match (revision_of(a), revision_of(b)) {
        (Ok(x), Ok(y)) if x != y => x.cmp(&y),
        _ => cmp_by_creation(a, b),
    }
}

/// Sorts oldest first.
pub fn sort_by_creation(rss: &mut [&ReplicaSet]) {
    rss.sort_by(|a, b| cmp_by_creation(a, b));
}

/// Sorts by revision ascending.
pub fn sort_by_revision(rss: &mut [&ReplicaSet]) {
    rss.sort_by(|a, b| cmp_by_revision(a, b));
}

/// `FilterActiveReplicaSets`: RSes with `spec.replicas > 0`.
pub fn filter_active<'a>(rss: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    rss.iter()
        .copied()
        .filter(|rs| rs_replicas(rs) > 0)
        .collect()
}

/// `FindNewReplicaSet`: the oldest RS whose template equals the Deployment's, ignoring the hash.
pub fn find_new_rs<'a>(d: &Deployment, rss: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    let want = normalize(deployment_template(d)?);
    find_new_rs_with(rss, |rs| {
        rs_template(rs).is_some_and(|t| normalize(t) == want)
    })
}

/// [`find_new_rs`] with the template comparison given: `same_template(rs)` says whether the
/// ReplicaSet's template equals the Deployment's, ignoring the hash (a caller that follows
/// a rollout remembers the answers of ReplicaSets that did not change).
pub fn find_new_rs_with<'a>(
    rss: &[&'a ReplicaSet],
    mut same_template: impl FnMut(&ReplicaSet) -> bool,
) -> Option<&'a ReplicaSet> {
    let mut sorted = rss.to_vec();
    sort_by_creation(&mut sorted);
    sorted.into_iter().find(|rs| same_template(rs))
}

/// `FindOldReplicaSets`: every RS except the new one, in input order.
pub fn find_old_rss<'a>(d: &Deployment, rss: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let new_name = find_new_rs(d, rss).map(|rs| name(&rs.metadata).to_string());
    rss.iter()
        .copied()
        .filter(|rs| Some(name(&rs.metadata)) != new_name.as_deref())
        .collect()
}

/// `SetNewReplicaSetAnnotations`: the annotations the new RS should carry, and whether they
/// changed.
///
/// Copies the Deployment's non-skip annotations, raises `revision` to `new_revision` if lower,
/// appends the replaced number to `revision-history` when the RS already had one (a re-adopted
/// RS), and for a freshly created RS (`exists == false`) adds `desired-replicas` and
/// `max-replicas`. An unparsable existing revision leaves everything but the copy untouched, as
/// upstream bails out there.
pub fn new_rs_annotations(
    d: &Deployment,
    rs: &ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> (BTreeMap<String, String>, bool) {
    let mut ann = rs.metadata.annotations.clone().unwrap_or_default();
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if is_skipped_annotation(k) || ann.get(k) == Some(v) {
            continue;
        }
        ann.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = ann.get(REVISION).cloned();
    let old_num = match old.as_deref() {
        None | Some("") => 0,
        Some(s) => match s.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return (ann, false),
        },
    };
    if old_num < new_revision {
        ann.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            append_history(&mut ann, &old);
        }
    }
    if !exists {
        let replicas = deployment_replicas(d);
        let max = replicas.saturating_add(crate::intstr::max_surge(d));
        ann.insert(DESIRED_REPLICAS.to_string(), replicas.to_string());
        ann.insert(MAX_REPLICAS.to_string(), max.to_string());
        changed = true;
    }
    (ann, changed)
}

/// Appends `old` to `revision-history`, dropping the oldest entries to stay within 2000
/// characters, and appending nothing if even that is not enough.
fn append_history(ann: &mut BTreeMap<String, String>, old: &str) {
    let current = ann.get(REVISION_HISTORY).cloned().unwrap_or_default();
    if current.is_empty() {
        ann.insert(REVISION_HISTORY.to_string(), old.to_string());
        return;
    }
    let entries: Vec<&str> = current.split(',').collect();
    let mut total = current.len() + old.len() + 1;
    let mut start = 0;
    while total > REVISION_HISTORY_LIMIT_CHARS && start < entries.len() {
        total -= entries[start].len() + 1;
        start += 1;
    }
    if total <= REVISION_HISTORY_LIMIT_CHARS {
        let mut kept: Vec<&str> = entries[start..].to_vec();
        kept.push(old);
        ann.insert(REVISION_HISTORY.to_string(), kept.join(","));
    }
}

/// `cleanupDeployment`: which old RSes to delete so at most `revisionHistoryLimit` remain.
///
/// Candidates are old RSes without a deletionTimestamp, sorted by revision; the first
/// `len - limit` are deleted unless busy (spec or status replicas non-zero, or status not yet
/// observed). Busy ones are skipped and **not** replaced by later ones (fact sheet §2.5). A nil or
/// MaxInt32 limit disables cleanup.
pub fn rss_to_cleanup<'a>(d: &Deployment, old_rss: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let limit = match d.spec.as_ref().and_then(|s| s.revision_history_limit) {
        None | Some(i32::MAX) => return Vec::new(),
        Some(l) => l.max(0) as usize,
    };
    let mut candidates: Vec<&ReplicaSet> = old_rss
        .iter()
        .copied()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let diff = candidates.len().saturating_sub(limit);
    sort_by_revision(&mut candidates);
    candidates
        .into_iter()
        .take(diff)
        .filter(|rs| {
            let generation = rs.metadata.generation.unwrap_or(0);
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation);
            rs_replicas(rs) == 0
                && rs_status_replicas(rs) == 0
                && generation <= observed.unwrap_or(0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{deployment, rs, set_annotation, template};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn web() -> Deployment {
        deployment("web", 3, IntOrString::Int(1), IntOrString::Int(0))
    }

    #[test]
    fn max_and_last_revision_skip_unparsable_annotations() {
        let a = rs("a", 1, 0, 0, 0);
        let b = rs("b", 4, 1, 0, 0);
        let c = rs("c", 3, 2, 0, 0);
        let mut bad = rs("bad", 0, 3, 0, 0);
        set_annotation(&mut bad.metadata, REVISION, "x");
        let all = [&a, &b, &c, &bad];
        assert_eq!(max_revision(&all), 4);
        assert_eq!(last_revision(&all), 3);
        assert_eq!(next_revision(&all), 5);
        assert!(revision_of(&bad).is_err());
        assert_eq!(max_revision(&[]), 0);
    }

    #[test]
    fn readopting_revision_two_of_four_makes_it_five_with_history_two() {
        let d = web();
        let rs2 = rs("web-2", 2, 2, 0, 0);
        let (ann, changed) = new_rs_annotations(&d, &rs2, 5, true);
        assert!(changed);
        assert_eq!(ann.get(REVISION).map(String::as_str), Some("5"));
        assert_eq!(ann.get(REVISION_HISTORY).map(String::as_str), Some("2"));
        assert!(
            !ann.contains_key(DESIRED_REPLICAS),
            "existing RS gets no replica annotations"
        );
        // Rolling back to 5 again later gives revision 7 with history "2,5".
        let mut again = rs2.clone();
        again.metadata.annotations = Some(ann);
        let (ann, _) = new_rs_annotations(&d, &again, 7, true);
        assert_eq!(ann.get(REVISION).map(String::as_str), Some("7"));
        assert_eq!(ann.get(REVISION_HISTORY).map(String::as_str), Some("2,5"));
    }

    #[test]
    fn a_created_rs_gets_copied_annotations_and_replica_annotations_but_no_skip_list() {
        let mut d = web();
        set_annotation(&mut d.metadata, CHANGE_CAUSE, "kubectl set image");
        set_annotation(&mut d.metadata, LAST_APPLIED, "{}");
        set_annotation(&mut d.metadata, REVISION, "9");
        let mut fresh = rs("web-new", 0, 0, 0, 0);
        fresh.metadata.annotations = None;
        let (ann, changed) = new_rs_annotations(&d, &fresh, 1, false);
        assert!(changed);
        assert_eq!(
            ann.get(CHANGE_CAUSE).map(String::as_str),
            Some("kubectl set image")
        );
        assert_eq!(ann.get(REVISION).map(String::as_str), Some("1"));
        assert_eq!(ann.get(DESIRED_REPLICAS).map(String::as_str), Some("3"));
        assert_eq!(ann.get(MAX_REPLICAS).map(String::as_str), Some("4"));
        assert!(!ann.contains_key(LAST_APPLIED));
        assert!(
            !ann.contains_key(REVISION_HISTORY),
            "no previous revision, no history"
        );
    }

    #[test]
    fn revision_history_drops_oldest_entries_past_two_thousand_characters() {
        let d = web();
        let mut r = rs("web-1", 10, 0, 0, 0);
        let long: Vec<String> = (0..500).map(|i| format!("{:03}", i % 1000)).collect();
        let long = long.join(","); // 500 * 4 - 1 = 1999 characters
        set_annotation(&mut r.metadata, REVISION_HISTORY, &long);
        let (ann, _) = new_rs_annotations(&d, &r, 11, true);
        let hist = ann.get(REVISION_HISTORY).cloned().unwrap_or_default();
        assert!(hist.len() <= REVISION_HISTORY_LIMIT_CHARS);
        assert!(hist.ends_with(",10"));
        assert!(hist.starts_with("001,"), "the oldest entry went first");
    }

    #[test]
    fn the_oldest_matching_rs_is_new_and_the_rest_are_old() {
        let d = web(); // template app:v2
        let mut a = rs("b-twin", 1, 5, 1, 1);
        let mut b = rs("a-twin", 2, 5, 1, 1);
        let c = rs("old", 3, 1, 1, 1);
        a.spec.get_or_insert_with(Default::default).template = Some(template("app:v2"));
        b.spec.get_or_insert_with(Default::default).template = Some(template("app:v2"));
        let all = [&a, &b, &c];
        let new = find_new_rs(&d, &all).map(|r| name(&r.metadata));
        assert_eq!(new, Some("a-twin"), "same timestamp: name breaks the tie");
        let old: Vec<&str> = find_old_rss(&d, &all)
            .iter()
            .map(|r| name(&r.metadata))
            .collect();
        assert_eq!(old, vec!["b-twin", "old"]);
    }

    #[test]
    fn history_limit_two_after_six_rollouts_deletes_revisions_one_to_three() {
        let mut d = web();
        if let Some(s) = d.spec.as_mut() {
            s.revision_history_limit = Some(2);
        }
        let olds: Vec<ReplicaSet> = (1..=5).map(|i| rs(&format!("r{i}"), i, i, 0, 0)).collect();
        let refs: Vec<&ReplicaSet> = olds.iter().rev().collect();
        let gone: Vec<&str> = rss_to_cleanup(&d, &refs)
            .iter()
            .map(|r| name(&r.metadata))
            .collect();
        assert_eq!(gone, vec!["r1", "r2", "r3"]);
    }

    #[test]
    fn a_busy_rs_is_skipped_and_not_replaced_by_a_later_one() {
        let mut d = web();
        if let Some(s) = d.spec.as_mut() {
            s.revision_history_limit = Some(1);
        }
        let r1 = rs("r1", 1, 1, 1, 1); // still has replicas
        let r2 = rs("r2", 2, 2, 0, 0);
        let r3 = rs("r3", 3, 3, 0, 0);
        let gone: Vec<&str> = rss_to_cleanup(&d, &[&r3, &r2, &r1])
            .iter()
            .map(|r| name(&r.metadata))
            .collect();
        assert_eq!(gone, vec!["r2"]);
        if let Some(s) = d.spec.as_mut() {
            s.revision_history_limit = None;
        }
        assert!(rss_to_cleanup(&d, &[&r3, &r2, &r1]).is_empty());
    }

    #[test]
    fn filter_active_keeps_rses_with_replicas() {
        let a = rs("a", 1, 1, 0, 0);
        let b = rs("b", 2, 2, 2, 2);
        let active: Vec<&str> = filter_active(&[&a, &b])
            .iter()
            .map(|r| name(&r.metadata))
            .collect();
        assert_eq!(active, vec!["b"]);
    }
}
