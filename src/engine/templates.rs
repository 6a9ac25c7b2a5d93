//! Which ReplicaSet is the new one, as following finds it again on every snapshot. Pure.
//!
//! Upstream's `FindNewReplicaSet` compares each ReplicaSet's template with the
//! Deployment's, and the comparison normalises both (a JSON round trip). A rollout scales
//! its two ReplicaSets hundreds of times, and each scale is a new ReplicaSet generation, so
//! comparing every template again on each one was a few per cent of what following cost. A
//! template changes only with its object's generation: [`NewRs`] keeps each ReplicaSet's
//! answer by the two generations it was found for, and compares only what changed.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use rollout_semantics::access::{deployment_template, rs_template};
use rollout_semantics::revision::find_new_rs_with;
use rollout_semantics::template::normalize;
use serde_json::Value;

/// The generation of the Deployment and of a ReplicaSet an answer was found for.
type Generations = (i64, i64);

/// What earlier snapshots found out about the templates.
#[derive(Debug, Default)]
pub struct NewRs {
    /// The Deployment's normalised template, by its generation.
    want: Option<(Option<i64>, Value)>,
    /// Whether a ReplicaSet (by uid) has the Deployment's template.
    same: HashMap<String, (Generations, bool)>,
}

impl NewRs {
    /// The uid of the new ReplicaSet among `rss`, as [`rollout_semantics::revision::find_new_rs`]
    /// finds it. An object without a generation (never so on a cluster) is compared afresh.
    pub fn find(&mut self, d: &Deployment, rss: &[Arc<ReplicaSet>]) -> Option<String> {
        let template = deployment_template(d)?;
        let d_gen = d.metadata.generation;
        let want = match &mut self.want {
            Some((g, v)) if g.is_some() && *g == d_gen => v,
            slot => &slot.insert((d_gen, normalize(template))).1,
        };
        self.same
            .retain(|uid, _| rss.iter().any(|rs| rs.metadata.uid.as_ref() == Some(uid)));
        let refs: Vec<&ReplicaSet> = rss.iter().map(|rs| &**rs).collect();
        let same = &mut self.same;
        let found = find_new_rs_with(&refs, |rs| {
            let key = d_gen.zip(rs.metadata.generation);
            let uid = rs.metadata.uid.as_deref();
            if let (Some(key), Some(uid)) = (key, uid)
                && let Some((seen, answer)) = same.get(uid)
                && *seen == key
            {
                return *answer;
            }
            let answer = rs_template(rs).is_some_and(|t| normalize(t) == *want);
            if let (Some(key), Some(uid)) = (key, uid) {
                same.insert(uid.to_string(), (key, answer));
            }
            answer
        });
        found.and_then(|rs| rs.metadata.uid.clone())
    }

    /// How many ReplicaSets' answers are kept.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.same.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixture::{deployment, replica_set};
    use rollout_semantics::revision::find_new_rs;

    fn uid_of(rs: &ReplicaSet) -> Option<String> {
        rs.metadata.uid.clone()
    }

    /// A ReplicaSet as a cluster sends it: with a generation.
    fn rs(name: &str, revision: i64, image: &str) -> Arc<ReplicaSet> {
        let mut rs = replica_set(name, revision, image, 1, 1);
        rs.metadata.generation = Some(1);
        rs.into()
    }

    #[test]
    fn it_finds_what_upstreams_rule_finds_as_templates_and_generations_change() {
        let mut memo = NewRs::default();
        let mut d = deployment(2, "v2", (1, 0, 0, 0));
        let mut rss = vec![rs("web-1", 1, "v1"), rs("web-2", 2, "v2")];
        let upstream = |d: &Deployment, rss: &[Arc<ReplicaSet>]| {
            let refs: Vec<&ReplicaSet> = rss.iter().map(|r| &**r).collect();
            find_new_rs(d, &refs).and_then(uid_of)
        };
        let found = memo.find(&d, &rss);
        assert!(found.is_some());
        assert_eq!(found, upstream(&d, &rss));
        assert_eq!(memo.kept(), 2, "both compared (the older first)");
        // The new ReplicaSet's template is edited in place: its generation says so.
        let edited = Arc::make_mut(&mut rss[1]);
        edited.metadata.generation = Some(9);
        if let Some(c) = edited
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut())
            .and_then(|t| t.spec.as_mut())
        {
            c.containers[0].image = Some("v3".into());
        }
        assert_eq!(memo.find(&d, &rss), None);
        assert_eq!(upstream(&d, &rss), None);
        // The Deployment goes to v1's template (a rollback): a new generation.
        let template = rss[0].spec.as_ref().and_then(|s| s.template.clone());
        if let (Some(spec), Some(t)) = (d.spec.as_mut(), template) {
            spec.template = t;
        }
        d.metadata.generation = Some(3);
        assert_eq!(memo.find(&d, &rss), upstream(&d, &rss));
        assert_eq!(memo.find(&d, &rss), uid_of(&rss[0]));
        // A ReplicaSet gone is forgotten.
        rss.pop();
        assert_eq!(memo.find(&d, &rss), uid_of(&rss[0]));
        assert_eq!(memo.kept(), 1);
    }

    #[test]
    fn an_answer_is_kept_only_for_the_generations_it_was_found_for() {
        let mut memo = NewRs::default();
        let d = deployment(2, "v2", (1, 0, 0, 0));
        let mut rss = vec![rs("web-2", 2, "v2")];
        assert_eq!(memo.find(&d, &rss), uid_of(&rss[0]));
        // The same generation with another template (which a cluster never sends) keeps
        // the answer: the proof that it was not compared again.
        let rs = Arc::make_mut(&mut rss[0]);
        if let Some(t) = rs.spec.as_mut().and_then(|s| s.template.as_mut()) {
            t.spec = None;
        }
        assert_eq!(memo.find(&d, &rss), uid_of(&rss[0]));
        // Its next generation is compared again.
        let rs = Arc::make_mut(&mut rss[0]);
        rs.metadata.generation = Some(rs.metadata.generation.unwrap_or(0) + 1);
        assert_eq!(memo.find(&d, &rss), None);
    }
}
