//! Server-side apply and field ownership (`metadata.managedFields`).
//!
//! Follows structured-merge-diff's `Updater.Apply`/`Updater.Update` and the apiserver's
//! fieldmanager: an apply merges the configuration, prunes fields the manager owned before but
//! no longer applies (unless someone else owns them), and fails on fields that change while
//! owned by another manager; any other write moves the fields it changed to the writer's
//! `Update` entry. Ownership ignores what upstream strips (`apiVersion`, `kind`, the system
//! fields of `metadata`) and `status`, which belongs to the status subresource.

use serde_json::{Map, Value};

use crate::fieldset::{FieldSet, compare, render_path};
use crate::schema::Schema;
use crate::ssa_merge;

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

/// Metadata fields upstream's fieldmanager strips before tracking ownership.
const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// One field that an apply would take from another manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// `Apply` or `Update`: upstream names `Update` managers with their API version.
    pub operation: String,
    pub api_version: String,
    /// The field as upstream renders it: `.spec.replicas`.
    pub field: String,
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("apply configuration is not a JSON object")]
    NotAnObject,
    #[error("{}", conflict_message(.conflicts))]
    Conflict { conflicts: Vec<Conflict> },
}

/// The 409 message upstream returns for apply conflicts, e.g.
/// `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            describe_manager(only),
            only.field
        );
    }
    let mut sorted: Vec<&Conflict> = conflicts.iter().collect();
    sorted.sort_by(|a, b| a.manager.cmp(&b.manager));
    let mut lines: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for conflict in sorted {
        let manager = describe_manager(conflict);
        if current.as_ref() != Some(&manager) {
            lines.push(format!("conflicts with {manager}:"));
            current = Some(manager);
        }
        lines.push(format!("- {}", conflict.field));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// The manager name of a write: the `fieldManager` query parameter, else the User-Agent up to
/// its first `/` (upstream's `prefixFromUserAgent`: `kubectl/v1.33.0 (linux/amd64)` gives
/// `kubectl`).
pub fn manager_name(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    match field_manager.filter(|m| !m.is_empty()) {
        Some(manager) => manager.to_string(),
        None => user_agent
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Upstream's `printManager`: the quoted name, plus `using <apiVersion>` for `Update` managers.
fn describe_manager(conflict: &Conflict) -> String {
    if conflict.operation == UPDATE {
        format!("{:?} using {}", conflict.manager, conflict.api_version)
    } else {
        format!("{:?}", conflict.manager)
    }
}

/// Applies `applied` (the manager's full intent) to `live` (absent on create) and returns the
/// new object with `metadata.managedFields` updated. `now` is the RFC 3339 time to record.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    schema: &Schema,
    now: &str,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::NotAnObject);
    }
    let config = apply_configuration(applied);
    let api_version = api_version_of(applied);
    let base = without_managed_fields(live.filter(|l| l.is_object()));
    let mut entries = read_entries(live);

    let own = entries.iter().position(|e| e.is(manager, APPLY, ""));
    let new_set = FieldSet::from_value(&ownership_view(&config), schema);
    let last_set = own.map(|i| entries[i].set.clone()).unwrap_or_default();
    let mut owned = new_set.clone();
    for (_, entry) in others(&entries, own) {
        owned = owned.union(&entry.set);
    }

    let mut merged = ssa_merge::merge(Some(base.clone()), &config, &mut Vec::new(), schema);
    ssa_merge::remove_fields(&mut merged, &last_set.difference(&owned), &owned);

    let (changed, removed) = compare(&ownership_view(&base), &ownership_view(&merged), schema);
    let mut conflicts = Vec::new();
    for (_, entry) in others(&entries, own) {
        for path in entry.set.intersection(&changed).iter() {
            conflicts.push(Conflict {
                manager: entry.manager.clone(),
                operation: entry.operation.clone(),
                api_version: entry.api_version.clone(),
                field: render_path(path),
            });
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| (&a.manager, &a.operation).cmp(&(&b.manager, &b.operation)));
        return Err(ApplyError::Conflict { conflicts });
    }
    for (i, entry) in entries.iter_mut().enumerate() {
        if Some(i) != own {
            entry.set = entry.set.difference(&changed).difference(&removed);
        }
    }
    match own {
        Some(i) => entries[i].replace_set(new_set, &api_version, now),
        None => entries.push(Entry::new(manager, APPLY, &api_version, new_set, now)),
    }
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// Records a non-apply write (create, update, patch) of `new` over `old` by `manager`: the
/// fields it added or changed move to its `Update` entry. Returns `new` with
/// `metadata.managedFields` updated.
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    schema: &Schema,
    now: &str,
) -> Value {
    if !new.is_object() {
        return new.clone();
    }
    let api_version = api_version_of(new);
    let mut entries = read_entries(old.or(Some(new)));
    let before = ownership_view(&without_managed_fields(old));
    let (changed, removed) = compare(&before, &ownership_view(new), schema);

    let own = entries
        .iter()
        .position(|e| e.is(manager, UPDATE, &api_version));
    for (i, entry) in entries.iter_mut().enumerate() {
        if Some(i) != own {
            entry.set = entry.set.difference(&changed).difference(&removed);
        }
    }
    match own {
        Some(i) => {
            let set = entries[i].set.difference(&removed).union(&changed);
            entries[i].replace_set(set, &api_version, now);
        }
        None => entries.push(Entry::new(manager, UPDATE, &api_version, changed, now)),
    }
    let mut result = new.clone();
    write_entries(&mut result, entries);
    result
}

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<Value>,
    subresource: Option<String>,
    set: FieldSet,
}

impl Entry {
    fn new(manager: &str, operation: &str, api_version: &str, set: FieldSet, now: &str) -> Entry {
        Entry {
            manager: manager.to_string(),
            operation: operation.to_string(),
            api_version: api_version.to_string(),
            time: Some(Value::String(now.to_string())),
            subresource: None,
            set,
        }
    }

    /// Upstream's manager identity: name, operation and subresource, plus the API version for
    /// `Update` (appliers keep one entry across versions).
    fn is(&self, manager: &str, operation: &str, api_version: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.is_none()
            && (operation == APPLY || self.api_version == api_version)
    }

    /// Upstream keeps the time when the owned set is unchanged.
    fn replace_set(&mut self, set: FieldSet, api_version: &str, now: &str) {
        if set != self.set {
            self.time = Some(Value::String(now.to_string()));
        }
        self.set = set;
        self.api_version = api_version.to_string();
    }

    fn parse(value: &Value) -> Option<Entry> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        Some(Entry {
            manager: text("manager")?,
            operation: text("operation")?,
            api_version: text("apiVersion").unwrap_or_default(),
            time: value.get("time").cloned(),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            set: value
                .get("fieldsV1")
                .map(FieldSet::from_fields_v1)
                .unwrap_or_default(),
        })
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("manager".into(), Value::String(self.manager.clone()));
        map.insert("operation".into(), Value::String(self.operation.clone()));
        map.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(time) = &self.time {
            map.insert("time".into(), time.clone());
        }
        map.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        map.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(subresource) = &self.subresource {
            map.insert("subresource".into(), Value::String(subresource.clone()));
        }
        Value::Object(map)
    }
}

fn others(entries: &[Entry], own: Option<usize>) -> impl Iterator<Item = (usize, &Entry)> {
    entries
        .iter()
        .enumerate()
        .filter(move |(i, _)| Some(*i) != own)
}

fn read_entries(object: Option<&Value>) -> Vec<Entry> {
    object
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Entry::parse).collect())
        .unwrap_or_default()
}

/// Stores the entries, dropping empty ones and sorting for a deterministic order.
fn write_entries(object: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        (&a.manager, &a.operation, &a.api_version, &a.subresource).cmp(&(
            &b.manager,
            &b.operation,
            &b.api_version,
            &b.subresource,
        ))
    });
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        metadata.remove("managedFields");
    } else {
        let list = entries.iter().map(Entry::to_json).collect();
        metadata.insert("managedFields".into(), Value::Array(list));
    }
}

fn api_version_of(object: &Value) -> String {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn without_managed_fields(object: Option<&Value>) -> Value {
    let mut object = object.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    object
}

/// The configuration as merged: nulls dropped (an apply states values, it does not delete),
/// and fields the server owns (status, system metadata) removed.
fn apply_configuration(applied: &Value) -> Value {
    let mut config = strip_nulls(applied);
    if let Some(root) = config.as_object_mut() {
        root.remove("status");
        if let Some(metadata) = root.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "managedFields",
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
            ] {
                metadata.remove(field);
            }
        }
    }
    config
}

/// The part of an object whose ownership is tracked.
fn ownership_view(object: &Value) -> Value {
    let mut view = object.clone();
    if let Some(root) = view.as_object_mut() {
        for field in ["apiVersion", "kind", "status"] {
            root.remove(field);
        }
        if let Some(metadata) = root.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in SYSTEM_METADATA {
                metadata.remove(*field);
            }
            if metadata.is_empty() {
                root.remove("metadata");
            }
        }
    }
    view
}

fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        scalar => scalar.clone(),
    }
}
