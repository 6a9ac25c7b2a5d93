//! The Deployment controller, following upstream `deployment_controller.go`, `sync.go`,
//! `rolling.go`, `recreate.go` and `progress.go`.
//!
//! Each reconcile is one upstream `syncDeployment`: claim the ReplicaSets, then pause
//! handling, scaling events, or one rolling/recreate step, then a status write. The
//! arithmetic (new/old RS choice, surge and unavailable sizes, proportional scaling, status
//! and conditions) is the pure `rollout_semantics` crate; this file reads the cache, makes
//! the decisions' writes through the registry, and records the upstream events.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use rollout_semantics::{intstr, replicaset, revision, rolling, status as dstatus, template};
use serde_json::{Value, json};

use super::events::{EventType, record};
use super::runtime::{
    Informer, Key, RETRY, Reconciler, Requeue, controller_owner, event_key, labels_of, typed,
    writer,
};
use crate::kinds::{self, ResourceType};
use crate::registry::{DeleteOptions, Registry, Subresource, WriteOptions};
use crate::store::StoredEvent;

const COMPONENT: &str = "deployment-controller";

fn rt(plural: &str) -> &'static ResourceType {
    kinds::RESOURCES
        .iter()
        .find(|r| {
            r.plural == plural && (r.group == "apps" || (r.group.is_empty() && plural == "pods"))
        })
        .unwrap_or(&kinds::RESOURCES[0])
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

fn opts() -> WriteOptions {
    writer(COMPONENT)
}

/// The Deployment controller.
pub struct DeploymentController;

impl Reconciler for DeploymentController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn keys_for(&self, ev: &StoredEvent, cache: &Informer) -> Vec<Key> {
        match (ev.resource.group, ev.resource.plural) {
            ("apps", "deployments") => vec![event_key(ev)],
            ("apps", "replicasets") => {
                let mut keys: Vec<Key> = controller_owner(&ev.object, "Deployment")
                    .into_iter()
                    .collect();
                if let Some(prev) = &ev.previous {
                    keys.extend(controller_owner(prev, "Deployment"));
                }
                // An orphan RS may be adopted by a Deployment selecting it.
                if keys.is_empty() {
                    keys.extend(selecting_deployments(cache, &ev.object));
                }
                keys
            }
            // Recreate waits for old pods to be gone.
            ("", "pods") if ev.kind == crate::store::EventType::Deleted => {
                controller_owner(&ev.object, "ReplicaSet")
                    .and_then(|(ns, rs)| cache.get(rt("replicasets"), &ns, &rs))
                    .and_then(|rs| controller_owner(&rs, "Deployment"))
                    .into_iter()
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, cache: &Informer) -> Vec<Key> {
        cache.keys(rt("deployments"))
    }

    fn reconcile(&mut self, key: &Key, cache: &Informer, registry: &Registry) -> Requeue {
        let Some(raw) = cache.get(rt("deployments"), &key.0, &key.1) else {
            return Requeue::OnChange;
        };
        let Some(d) = typed::<Deployment>(&raw) else {
            return Requeue::OnChange;
        };
        let mut sync = Sync {
            d,
            raw: (*raw).clone(),
            cache,
            registry,
        };
        match sync.run() {
            Ok(requeue) => requeue,
            Err(()) => Requeue::After(RETRY),
        }
    }
}

fn selecting_deployments(cache: &Informer, rs: &Value) -> Vec<Key> {
    let ns = rs
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let labels = labels_of(rs);
    cache
        .list(rt("deployments"), Some(ns))
        .iter()
        .filter_map(|d| typed::<Deployment>(d))
        .filter(|d| {
            let sel = d.spec.as_ref().map(|s| &s.selector);
            rollout_semantics::selector::label_selector_matches(sel, &labels)
        })
        .map(|d| (ns.to_string(), d.metadata.name.unwrap_or_default()))
        .collect()
}

/// One sync of one Deployment. Errors mean "a write failed; retry soon" (the cache will
/// have the fresh object by then).
struct Sync<'a> {
    d: Deployment,
    raw: Value,
    cache: &'a Informer,
    registry: &'a Registry,
}

type Step<T> = Result<T, ()>;

impl Sync<'_> {
    fn ns(&self) -> String {
        self.d.metadata.namespace.clone().unwrap_or_default()
    }

    fn name(&self) -> String {
        self.d.metadata.name.clone().unwrap_or_default()
    }

    fn uid(&self) -> String {
        self.d.metadata.uid.clone().unwrap_or_default()
    }

    fn run(&mut self) -> Step<Requeue> {
        let selector_empty = self.d.spec.as_ref().is_none_or(|s| {
            s.selector
                .match_labels
                .as_ref()
                .is_none_or(|m| m.is_empty())
                && s.selector
                    .match_expressions
                    .as_ref()
                    .is_none_or(|e| e.is_empty())
        });
        if selector_empty {
            record(
                self.registry,
                &self.raw,
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
                COMPONENT,
                None,
            );
            return Ok(Requeue::OnChange);
        }
        let rss = self.claim_replica_sets()?;
        if self.d.metadata.deletion_timestamp.is_some() {
            let refs: Vec<&ReplicaSet> = rss.iter().collect();
            let new_rs = revision::find_new_rs(&self.d, &refs);
            let status = dstatus::calculate_status(&self.d, &refs, new_rs, now());
            self.write_status(status)?;
            return Ok(Requeue::OnChange);
        }
        if let Some(status) = dstatus::check_paused_conditions(&self.d, now()) {
            self.write_status(status)?;
            return Ok(Requeue::After(Duration::ZERO));
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let refs: Vec<&ReplicaSet> = rss.iter().collect();
        if paused || rolling::is_scaling_event(&self.d, &refs) {
            return self.sync_scale(&rss, paused);
        }
        if intstr::is_rolling_update(&self.d) {
            self.rollout_rolling(&rss)
        } else {
            self.rollout_recreate(&rss)
        }
    }

    /// The ReplicaSets this Deployment controls, adopting matching orphans.
    fn claim_replica_sets(&self) -> Step<Vec<ReplicaSet>> {
        let uid = self.uid();
        let sel = self.d.spec.as_ref().map(|s| &s.selector);
        let mut out = Vec::new();
        for raw in self.cache.list(rt("replicasets"), Some(&self.ns())) {
            let Some(rs) = typed::<ReplicaSet>(&raw) else {
                continue;
            };
            let owner = rs
                .metadata
                .owner_references
                .as_ref()
                .and_then(|r| r.iter().find(|o| o.controller == Some(true)));
            match owner {
                Some(o) if o.uid == uid => out.push(rs),
                Some(_) => {}
                None => {
                    let labels = rs.metadata.labels.clone().unwrap_or_default();
                    if rs.metadata.deletion_timestamp.is_none()
                        && rollout_semantics::selector::label_selector_matches(sel, &labels)
                    {
                        let mut adopted = (*raw).clone();
                        adopted["metadata"]["ownerReferences"] =
                            json!([replicaset::controller_ref(&self.d)]);
                        self.update_rs(adopted)?;
                        return Err(());
                    }
                }
            }
        }
        Ok(out)
    }

    fn update_rs(&self, rs: Value) -> Step<ReplicaSet> {
        let name = rs
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match self.registry.update(
            rt("replicasets"),
            &self.ns(),
            &name,
            rs,
            Subresource::Main,
            &opts(),
        ) {
            Ok(w) => typed(&w.object).ok_or(()),
            Err(_) => Err(()),
        }
    }

    /// Writes the Deployment's status (and its annotations, as upstream's UpdateStatus).
    fn write_status(&mut self, status: DeploymentStatus) -> Step<()> {
        // observedGeneration is only what a computed status carries (calculate_status):
        // a condition-only write must not declare the new generation observed.
        let mut obj = self.raw.clone();
        obj["status"] = serde_json::to_value(&status).map_err(|_| ())?;
        obj["metadata"]["annotations"] =
            serde_json::to_value(&self.d.metadata.annotations).map_err(|_| ())?;
        let name = self.name();
        match self.registry.update(
            rt("deployments"),
            &self.ns(),
            &name,
            obj,
            Subresource::Status,
            &opts(),
        ) {
            Ok(w) => {
                self.raw = (*w.object).clone();
                self.d = typed(&w.object).ok_or(())?;
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    /// `scaleReplicaSet`: size plus the desired/max annotations, and the event.
    fn scale_rs(&self, rs: &ReplicaSet, to: i32) -> Step<ReplicaSet> {
        let from = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let replicas = self.d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let max = replicas.saturating_add(intstr::max_surge(&self.d));
        let mut obj = serde_json::to_value(rs).map_err(|_| ())?;
        obj["spec"]["replicas"] = json!(to);
        obj["metadata"]["annotations"][revision::DESIRED_REPLICAS] = json!(replicas.to_string());
        obj["metadata"]["annotations"][revision::MAX_REPLICAS] = json!(max.to_string());
        let updated = self.update_rs(obj)?;
        if from != to {
            let dir = if to > from { "up" } else { "down" };
            let rs_name = rs.metadata.name.clone().unwrap_or_default();
            record(
                self.registry,
                &self.raw,
                EventType::Normal,
                "ScalingReplicaSet",
                &format!("Scaled {dir} replica set {rs_name} to {to} from {from}"),
                COMPONENT,
                None,
            );
        }
        Ok(updated)
    }

    fn apply_decisions(&self, rss: &[ReplicaSet], decisions: &[(String, i32)]) -> Step<bool> {
        let mut scaled = false;
        for (name, to) in decisions {
            if let Some(rs) = rss
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
            {
                let current = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                self.scale_rs(rs, *to)?;
                scaled |= current != *to;
            }
        }
        Ok(scaled)
    }

    /// `getAllReplicaSetsAndSyncRevision`: the new RS (found, annotated, or created) and
    /// the old ones.
    fn new_and_old(
        &mut self,
        rss: &[ReplicaSet],
        create: bool,
    ) -> Step<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let refs: Vec<&ReplicaSet> = rss.iter().collect();
        let old: Vec<ReplicaSet> = revision::find_old_rss(&self.d, &refs)
            .into_iter()
            .cloned()
            .collect();
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let new_revision = revision::next_revision(&old_refs);
        if let Some(existing) = revision::find_new_rs(&self.d, &refs).cloned() {
            let mut rs = existing.clone();
            let changed = replicaset::set_new_rs_annotations(&self.d, &mut rs, new_revision, true);
            let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let min_ready_changed = rs.spec.as_ref().and_then(|s| s.min_ready_seconds) != min_ready;
            if changed || min_ready_changed {
                if let Some(spec) = rs.spec.as_mut() {
                    spec.min_ready_seconds = min_ready;
                }
                let updated = self.update_rs(serde_json::to_value(&rs).map_err(|_| ())?)?;
                return Ok((Some(updated), old));
            }
            self.sync_deployment_revision(&existing)?;
            return Ok((Some(existing), old));
        }
        if !create {
            return Ok((None, old));
        }
        let rs = replicaset::new_replica_set(&self.d, &old_refs, new_revision).map_err(|_| ())?;
        let rs_name = rs.metadata.name.clone().unwrap_or_default();
        let body = serde_json::to_value(&rs).map_err(|_| ())?;
        match self
            .registry
            .create(rt("replicasets"), &self.ns(), body, &opts())
        {
            Ok(w) => {
                let created: ReplicaSet = typed(&w.object).ok_or(())?;
                let size = created.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                if size > 0 {
                    record(
                        self.registry,
                        &self.raw,
                        EventType::Normal,
                        "ScalingReplicaSet",
                        &format!("Scaled up replica set {rs_name} to {size}"),
                        COMPONENT,
                        None,
                    );
                }
                let mut status = self.d.status.clone().unwrap_or_default();
                if dstatus::has_progress_deadline(&self.d) {
                    dstatus::set_condition(
                        &mut status,
                        dstatus::new_rs_created_condition(&rs_name, now()),
                    );
                }
                self.set_revision_annotation(&created);
                self.write_status(status)?;
                Ok((Some(created), old))
            }
            Err(e) if e.reason == "AlreadyExists" => {
                let existing = self
                    .cache
                    .get(rt("replicasets"), &self.ns(), &rs_name)
                    .and_then(|v| typed::<ReplicaSet>(&v));
                let ours = existing.as_ref().is_some_and(|ex| {
                    ex.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.uid == self.uid() && o.controller == Some(true))
                        && template::equal_ignore_hash(
                            &ex.spec
                                .as_ref()
                                .and_then(|s| s.template.clone())
                                .unwrap_or_default(),
                            &self
                                .d
                                .spec
                                .as_ref()
                                .map(|s| s.template.clone())
                                .unwrap_or_default(),
                        )
                });
                if ours {
                    return Ok((existing, old));
                }
                let mut status = self.d.status.clone().unwrap_or_default();
                status.collision_count =
                    Some(status.collision_count.unwrap_or(0).saturating_add(1));
                self.write_status(status)?;
                Err(())
            }
            Err(e) => {
                let msg = format!(
                    "Failed to create new replica set {rs_name:?}: {}",
                    e.message
                );
                record(
                    self.registry,
                    &self.raw,
                    EventType::Warning,
                    "ReplicaSetCreateError",
                    &msg,
                    COMPONENT,
                    None,
                );
                if dstatus::has_progress_deadline(&self.d) {
                    let mut status = self.d.status.clone().unwrap_or_default();
                    dstatus::set_condition(
                        &mut status,
                        dstatus::create_error_condition(&rs_name, &e.message, now()),
                    );
                    self.write_status(status)?;
                }
                Err(())
            }
        }
    }

    fn set_revision_annotation(&mut self, rs: &ReplicaSet) {
        let rev = rs
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(revision::REVISION))
            .cloned();
        if let Some(rev) = rev {
            self.d
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(revision::REVISION.into(), rev);
        }
    }

    /// Copies the new RS's revision to the Deployment and marks FoundNewReplicaSet.
    fn sync_deployment_revision(&mut self, new_rs: &ReplicaSet) -> Step<()> {
        let want = new_rs
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(revision::REVISION))
            .cloned();
        let have = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(revision::REVISION))
            .cloned();
        let mut status = self.d.status.clone().unwrap_or_default();
        let has_progress_cond = dstatus::get_condition(&status, dstatus::PROGRESSING).is_some();
        if want == have && (has_progress_cond || !dstatus::has_progress_deadline(&self.d)) {
            return Ok(());
        }
        self.set_revision_annotation(new_rs);
        if !has_progress_cond && dstatus::has_progress_deadline(&self.d) {
            let name = new_rs.metadata.name.clone().unwrap_or_default();
            dstatus::set_condition(&mut status, dstatus::found_new_rs_condition(&name, now()));
        }
        self.write_status(status)
    }

    /// `sync()`: scaling (and cleanup when paused) without rolling anything.
    fn sync_scale(&mut self, rss: &[ReplicaSet], paused: bool) -> Step<Requeue> {
        let (new_rs, old) = self.new_and_old(rss, false)?;
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let decisions = rolling::scale(&self.d, new_rs.as_ref(), &old_refs);
        let all: Vec<ReplicaSet> = old.iter().cloned().chain(new_rs.clone()).collect();
        self.apply_decisions(&all, &decisions)?;
        if paused {
            self.cleanup(&old)?;
        }
        let fresh = self.fresh_rss()?;
        let refs: Vec<&ReplicaSet> = fresh.iter().collect();
        let new_ref = revision::find_new_rs(&self.d, &refs);
        let status = dstatus::calculate_status(&self.d, &refs, new_ref, now());
        self.write_status(status)?;
        Ok(Requeue::OnChange)
    }

    /// The RSes again after our own writes (the registry has them; the cache may not yet).
    fn fresh_rss(&self) -> Step<Vec<ReplicaSet>> {
        let uid = self.uid();
        let (items, _) = self
            .registry
            .store()
            .list(rt("replicasets"), Some(&self.ns()));
        Ok(items
            .iter()
            .filter_map(|v| typed::<ReplicaSet>(v))
            .filter(|rs| {
                rs.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.uid == uid && o.controller == Some(true))
            })
            .collect())
    }

    fn cleanup(&self, old: &[ReplicaSet]) -> Step<()> {
        let refs: Vec<&ReplicaSet> = old.iter().collect();
        for rs in revision::rss_to_cleanup(&self.d, &refs) {
            let name = rs.metadata.name.clone().unwrap_or_default();
            let _ = self.registry.delete(
                rt("replicasets"),
                &self.ns(),
                &name,
                &DeleteOptions::default(),
            );
        }
        Ok(())
    }

    fn finish(&mut self) -> Step<Requeue> {
        let fresh = self.fresh_rss()?;
        let refs: Vec<&ReplicaSet> = fresh.iter().collect();
        let new_ref = revision::find_new_rs(&self.d, &refs);
        let status = dstatus::sync_rollout_status(&self.d, &refs, new_ref, now());
        let requeue = dstatus::requeue_stuck_after(&self.d, &status, now());
        self.write_status(status)?;
        // minReadySeconds: look again when pods may have become available.
        let min_ready = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        let after = requeue.map(|d| Duration::from_secs_f64(d.as_secs_f64().max(0.0)));
        let after = match (after, min_ready > 0) {
            (Some(a), true) => Some(a.min(Duration::from_secs(1))),
            (None, true) => Some(Duration::from_secs(1)),
            (a, false) => a,
        };
        Ok(after.map_or(Requeue::OnChange, Requeue::After))
    }

    fn rollout_rolling(&mut self, rss: &[ReplicaSet]) -> Step<Requeue> {
        let complete_at_start = self
            .d
            .status
            .as_ref()
            .is_some_and(|s| dstatus::deployment_complete(&self.d, s));
        let (new_rs, old) = self.new_and_old(rss, true)?;
        let Some(new_rs) = new_rs else { return Err(()) };
        let all: Vec<ReplicaSet> = old
            .iter()
            .cloned()
            .chain(std::iter::once(new_rs.clone()))
            .collect();
        let all_refs: Vec<&ReplicaSet> = all.iter().collect();
        if let Some(to) = rolling::reconcile_new_rs(&self.d, &all_refs, &new_rs).map_err(|_| ())? {
            self.scale_rs(&new_rs, to)?;
            return self.finish();
        }
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let decisions = rolling::reconcile_old_rss(&self.d, &all_refs, &old_refs, Some(&new_rs))
            .map_err(|_| ())?;
        if self.apply_decisions(&all, &decisions)? {
            return self.finish();
        }
        if complete_at_start {
            self.cleanup(&old)?;
        }
        self.finish()
    }

    fn rollout_recreate(&mut self, rss: &[ReplicaSet]) -> Step<Requeue> {
        let (new_rs, old) = self.new_and_old(rss, false)?;
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let decisions = rolling::recreate_scale_down(&old_refs);
        if self.apply_decisions(&old, &decisions)? {
            return self.finish();
        }
        let old_pods: Vec<Pod> = self
            .cache
            .list(rt("pods"), Some(&self.ns()))
            .iter()
            .filter(|p| {
                controller_owner(p, "ReplicaSet").is_some_and(|(_, rs)| {
                    old.iter()
                        .any(|o| o.metadata.name.as_deref() == Some(rs.as_str()))
                })
            })
            .filter_map(|p| typed::<Pod>(p))
            .collect();
        let pod_refs: Vec<&Pod> = old_pods.iter().collect();
        if rolling::old_pods_running(&old_refs, &pod_refs) {
            return self.finish();
        }
        let new_rs = match new_rs {
            Some(rs) => rs,
            None => match self.new_and_old(rss, true)?.0 {
                Some(rs) => rs,
                None => return Err(()),
            },
        };
        let replicas = self.d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        if new_rs.spec.as_ref().and_then(|s| s.replicas) != Some(replicas) {
            self.scale_rs(&new_rs, replicas)?;
        }
        let complete = self
            .d
            .status
            .as_ref()
            .is_some_and(|s| dstatus::deployment_complete(&self.d, s));
        if complete {
            self.cleanup(&old)?;
        }
        self.finish()
    }
}
