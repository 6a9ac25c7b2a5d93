//! `--patch`: the text parsed to an object, merged into the Deployment as a strategic merge
//! patch, and the result checked the way a real API server would check it, so what a
//! cluster refuses (or what would be silently lost) is refused before any write:
//!
//! - a field the Deployment schema does not have (`spec.tempalte`) would be dropped on
//!   decoding and the patch would do nothing: it is named, with the nearest known field;
//! - `metadata.name`, `metadata.namespace`, `apiVersion`, `kind`, the immutable
//!   `spec.selector` and `status` cannot be changed by an update;
//! - the Deployment's own metadata (labels, annotations) is not what `update` writes;
//! - annotations over 256 KiB in total (the API server's limit).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::Value;

use super::change::Refused;
use crate::input::size;

/// The API server's limit on the total size of an object's annotations (keys and values).
pub const ANNOTATIONS_LIMIT: usize = 256 * 1024;

/// Metadata fields the server sets: a manifest given as a patch may carry stale copies,
/// which an update ignores.
const SERVER_METADATA: &[&str] = &[
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
];

/// Parses `--patch` text: JSON, else YAML; an object.
pub fn parse(text: &str) -> Result<Value, Refused> {
    let value: Value = serde_json::from_str(text)
        .or_else(|_| serde_saphyr::from_str::<Value>(text))
        .map_err(|e| {
            Refused::new(
                format!("--patch is neither JSON nor YAML: {e}"),
                "give a strategic merge patch, e.g. --patch '{\"spec\":{\"replicas\":3}}'",
            )
        })?;
    if !value.is_object() {
        return Err(Refused::new(
            "--patch must be an object, e.g. {\"spec\":{\"template\":...}}",
            "a strategic merge patch is a (partial) Deployment object",
        ));
    }
    Ok(value)
}

/// `current` with `patch` merged in, refused as described in the module docs.
pub fn apply(current: &Deployment, patch: &Value) -> Result<Deployment, Refused> {
    let before = serde_json::to_value(current)
        .map_err(|e| Refused::internal(format!("cannot encode deployment: {e}")))?;
    let schema = strategic_patch::Schema::for_resource("deployments");
    let merged = strategic_patch::strategic_merge(&before, patch, &schema).map_err(|e| {
        Refused::new(
            format!("invalid --patch: {e}"),
            "see `kubectl patch --help` for the strategic merge patch directives",
        )
    })?;
    fixed_fields_unchanged(&before, &merged)?;
    let decoded: Deployment = serde_json::from_value(merged.clone()).map_err(|e| {
        Refused::new(
            format!("invalid --patch: the result is not a Deployment: {e}"),
            "check the field types with `kubectl explain deployment --recursive`",
        )
    })?;
    let after = serde_json::to_value(&decoded)
        .map_err(|e| Refused::internal(format!("cannot encode deployment: {e}")))?;
    if let Some(path) = first_dropped(&merged, &after, &before) {
        let hint = match nearest_known(&path, &after) {
            Some(known) => format!("did you mean {}?", render(&known)),
            None => "check the field names with `kubectl explain deployment --recursive`".into(),
        };
        return Err(Refused::new(
            format!(
                "--patch field {} is not in the Deployment schema (apps/v1)",
                render(&path)
            ),
            hint,
        ));
    }
    Ok(decoded)
}

/// Refuses annotations whose keys and values add up to more than the API server accepts.
pub fn annotations_fit(
    what: &str,
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<(), Refused> {
    let total: usize = annotations
        .into_iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if total > ANNOTATIONS_LIMIT {
        return Err(Refused::new(
            format!(
                "{what} would total {total} bytes, over the API server's limit of {}",
                size(ANNOTATIONS_LIMIT as u64)
            ),
            "keep large data in a ConfigMap and reference it (a shorter --cause, fewer or smaller annotations)",
        ));
    }
    Ok(())
}

/// One step of a path into a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&crate::text::one_line(k));
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn fixed_fields_unchanged(before: &Value, after: &Value) -> Result<(), Refused> {
    let fixed: [(&[&str], &str, &str); 6] = [
        (
            &["metadata", "name"],
            "a Deployment cannot be renamed",
            "remove metadata.name from the patch; create a Deployment under the new name with kubectl apply",
        ),
        (
            &["metadata", "namespace"],
            "a Deployment cannot move to another namespace",
            "remove metadata.namespace from the patch; pick the Deployment's namespace with -n",
        ),
        (
            &["apiVersion"],
            "an update keeps the object's apiVersion",
            "remove apiVersion from the patch",
        ),
        (
            &["kind"],
            "an update keeps the object's kind",
            "remove kind from the patch",
        ),
        (
            &["spec", "selector"],
            "spec.selector is immutable in apps/v1",
            "remove spec.selector from the patch; to change it, delete and re-create the Deployment",
        ),
        (
            &["status"],
            "status is written by the Deployment controller",
            "remove status from the patch",
        ),
    ];
    for (path, why, hint) in fixed {
        if get(before, path) != get(after, path) {
            return Err(Refused::new(
                format!("--patch changes {}: {why}", path.join(".")),
                hint,
            ));
        }
    }
    let meta = |v: &Value| {
        let mut m = v.get("metadata").cloned().unwrap_or(Value::Null);
        if let Some(o) = m.as_object_mut() {
            o.retain(|k, _| !SERVER_METADATA.contains(&k.as_str()));
        }
        m
    };
    let mut path = vec![Seg::Key("metadata".into())];
    if first_difference(&meta(before), &meta(after), &mut path) {
        return Err(Refused::new(
            format!(
                "--patch changes {}: `rollout update` writes the spec only (and its change-cause)",
                render(&path)
            ),
            "change the Deployment's own labels and annotations with kubectl label / kubectl annotate; the pods' are under spec.template.metadata",
        ));
    }
    Ok(())
}

/// Whether `a` and `b` differ; `path` is left at the first place they do.
fn first_difference(a: &Value, b: &Value, path: &mut Vec<Seg>) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                path.push(Seg::Key(k.clone()));
                if first_difference(va, vb, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => a != b,
    }
}

/// The first path present in `merged` but lost when decoding it (`decoded`), unless the
/// Deployment as read had lost it too (a field this client's schema does not know, which
/// the patch did not bring).
fn first_dropped(merged: &Value, decoded: &Value, before: &Value) -> Option<Vec<Seg>> {
    let mut dropped = Vec::new();
    collect_dropped(merged, decoded, &mut Vec::new(), &mut dropped);
    dropped.into_iter().find(|p| lookup(before, p).is_none())
}

fn collect_dropped(a: &Value, b: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                if v.is_null() || k.starts_with('$') {
                    continue;
                }
                path.push(Seg::Key(k.clone()));
                match y.get(k) {
                    None => out.push(path.clone()),
                    Some(w) => collect_dropped(v, w, path, out),
                }
                path.pop();
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                path.push(Seg::Index(i));
                collect_dropped(v, w, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn lookup<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, s| match s {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.get(i),
    })
}

/// A known field next to the unknown one whose name is a small edit away (`tempalte` ->
/// `template`).
fn nearest_known(path: &[Seg], decoded: &Value) -> Option<Vec<Seg>> {
    let (Seg::Key(unknown), parent) = path.split_last()? else {
        return None;
    };
    let siblings = lookup(decoded, parent)?.as_object()?;
    let (best, distance) = siblings
        .keys()
        .map(|k| (k, edit_distance(unknown, k)))
        .min_by_key(|(_, d)| *d)?;
    (distance <= 2.max(unknown.len() / 4)).then(|| {
        let mut p = parent.to_vec();
        p.push(Seg::Key(best.clone()));
        p
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[path = "patch_tests.rs"]
mod tests;
