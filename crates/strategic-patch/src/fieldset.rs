//! Field sets: which fields of an object a manager owns, in structured-merge-diff's terms.
//!
//! A set holds paths to leaves (scalars, atomic lists, empty maps) and to list items of
//! associative and set lists. It converts to and from the `FieldsV1` encoding stored in
//! `metadata.managedFields` (`{"f:spec":{"f:replicas":{}}}`, `k:{"name":"c"}` for keyed items,
//! `v:"x"` for set members, `".":{}` when an item is owned as well as some of its fields) and
//! renders paths the way upstream conflict messages do (`.spec.containers[name="c"].image`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::schema::{ListKind, Schema, ssa_key_default};

/// One step of a field path. The derived order (fields, keys, values, indexes) is upstream's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// An object field, `f:<name>`.
    Field(String),
    /// An item of an associative list, by the canonical JSON object of its key fields.
    Key(String),
    /// A member of a set list, by its canonical JSON.
    Value(String),
    /// A list index, `i:<n>` (decoded for completeness; never produced here).
    Index(usize),
}

/// A path from the object root.
pub type Path = Vec<PathElement>;

impl PathElement {
    fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(key) => format!("k:{key}"),
            PathElement::Value(value) => format!("v:{value}"),
            PathElement::Index(index) => format!("i:{index}"),
        }
    }

    fn decode(encoded: &str) -> Option<PathElement> {
        let (kind, rest) = encoded.split_once(':')?;
        match kind {
            "f" => Some(PathElement::Field(rest.to_string())),
            "k" => match serde_json::from_str::<Value>(rest).ok()? {
                key @ Value::Object(_) => Some(PathElement::Key(canonical_json(&key))),
                _ => None,
            },
            "v" => serde_json::from_str::<Value>(rest)
                .ok()
                .map(|v| PathElement::Value(canonical_json(&v))),
            "i" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }
}

/// Renders a path as upstream's `fieldpath.Path.String()`: `.spec.ports[port=80,protocol="TCP"]`.
pub fn render_path(path: &[PathElement]) -> String {
    let mut out = String::new();
    for element in path {
        match element {
            PathElement::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            PathElement::Key(key) => {
                let fields = serde_json::from_str::<Map<String, Value>>(key).unwrap_or_default();
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name}={}", canonical_json(value)))
                    .collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            PathElement::Value(value) => out.push_str(&format!("[={value}]")),
            PathElement::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

/// JSON with object keys sorted, so equal keys encode equally whatever the map order.
pub(crate) fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let parts: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_json(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", parts.join(","))
        }
        scalar => scalar.to_string(),
    }
}

/// The `k:` key of an associative list item, applying key defaults; `None` if a key is missing.
pub(crate) fn item_key(item: &Value, keys: &[&str]) -> Option<String> {
    let item = item.as_object()?;
    let mut fields = Map::new();
    for key in keys {
        let value = match item.get(*key) {
            Some(value) if !value.is_null() => value.clone(),
            _ => Value::String(ssa_key_default(key)?.to_string()),
        };
        fields.insert((*key).to_string(), value);
    }
    Some(canonical_json(&Value::Object(fields)))
}

/// A set of owned field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    paths: BTreeSet<Path>,
}

impl FieldSet {
    /// Every leaf and list item of `value` (what a manager owns when it applies `value`).
    pub fn from_value(value: &Value, schema: &Schema) -> FieldSet {
        FieldSet {
            paths: leaves(value, schema).into_keys().collect(),
        }
    }

    /// Decodes a `fieldsV1` object; unknown or malformed keys are skipped.
    pub fn from_fields_v1(fields: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        decode_into(fields, &mut Vec::new(), &mut set.paths);
        set
    }

    /// Encodes the set as a `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        #[derive(Default)]
        struct Node {
            member: bool,
            children: BTreeMap<String, Node>,
        }
        fn to_json(node: &Node) -> Value {
            let mut map = Map::new();
            if node.member && !node.children.is_empty() {
                map.insert(".".to_string(), Value::Object(Map::new()));
            }
            for (key, child) in &node.children {
                map.insert(key.clone(), to_json(child));
            }
            Value::Object(map)
        }
        let mut root = Node::default();
        for path in &self.paths {
            let mut node = &mut root;
            for element in path {
                node = node.children.entry(element.encode()).or_default();
            }
            node.member = true;
        }
        to_json(&root)
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.paths.contains(path)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Path> {
        self.paths.iter()
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.union(&other.paths).cloned().collect(),
        }
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.difference(&other.paths).cloned().collect(),
        }
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet {
            paths: self.paths.intersection(&other.paths).cloned().collect(),
        }
    }
}

impl FromIterator<Path> for FieldSet {
    fn from_iter<I: IntoIterator<Item = Path>>(iter: I) -> Self {
        FieldSet {
            paths: iter.into_iter().collect(),
        }
    }
}

fn decode_into(fields: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    let Value::Object(map) = fields else {
        return;
    };
    if map.is_empty() && !path.is_empty() {
        out.insert(path.clone());
    }
    for (key, child) in map {
        if key == "." {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            continue;
        }
        if let Some(element) = PathElement::decode(key) {
            path.push(element);
            decode_into(child, path, out);
            path.pop();
        }
    }
}

/// Leaf paths of `value` with their values; list items map to `None` (owned as a whole item,
/// their value lives in their fields).
pub(crate) fn leaves<'v>(value: &'v Value, schema: &Schema) -> BTreeMap<Path, Option<&'v Value>> {
    let mut out = BTreeMap::new();
    walk(value, &mut Vec::new(), &mut Vec::new(), schema, &mut out);
    out
}

fn walk<'v>(
    value: &'v Value,
    path: &mut Path,
    fields: &mut Vec<String>,
    schema: &Schema,
    out: &mut BTreeMap<Path, Option<&'v Value>>,
) {
    match value {
        Value::Object(map) if !map.is_empty() && !schema.is_atomic_map(fields) => {
            walk_fields(map, path, fields, schema, out)
        }
        Value::Array(items) if !items.is_empty() => match schema.list_kind(fields) {
            ListKind::Map { ssa_keys, .. } => {
                let keys: Option<Vec<String>> =
                    items.iter().map(|item| item_key(item, ssa_keys)).collect();
                let unique = keys
                    .as_ref()
                    .is_some_and(|k| k.iter().collect::<BTreeSet<_>>().len() == k.len());
                match keys {
                    Some(keys) if unique => {
                        for (item, key) in items.iter().zip(keys) {
                            path.push(PathElement::Key(key));
                            out.insert(path.clone(), None);
                            if let Value::Object(map) = item {
                                walk_fields(map, path, fields, schema, out);
                            }
                            path.pop();
                        }
                    }
                    // Items without usable keys cannot be tracked one by one.
                    _ => {
                        out.insert(path.clone(), Some(value));
                    }
                }
            }
            ListKind::Set => {
                for item in items {
                    path.push(PathElement::Value(canonical_json(item)));
                    out.insert(path.clone(), None);
                    path.pop();
                }
            }
            ListKind::Atomic => {
                out.insert(path.clone(), Some(value));
            }
        },
        _ if path.is_empty() => {}
        leaf => {
            out.insert(path.clone(), Some(leaf));
        }
    }
}

fn walk_fields<'v>(
    map: &'v Map<String, Value>,
    path: &mut Path,
    fields: &mut Vec<String>,
    schema: &Schema,
    out: &mut BTreeMap<Path, Option<&'v Value>>,
) {
    for (name, child) in map {
        path.push(PathElement::Field(name.clone()));
        fields.push(name.clone());
        walk(child, path, fields, schema, out);
        fields.pop();
        path.pop();
    }
}

/// Fields added or modified from `old` to `new`, and fields removed.
pub(crate) fn compare(old: &Value, new: &Value, schema: &Schema) -> (FieldSet, FieldSet) {
    let before = leaves(old, schema);
    let after = leaves(new, schema);
    let changed = after
        .iter()
        .filter(|(path, value)| before.get(*path) != Some(value))
        .map(|(path, _)| path.clone())
        .collect();
    let removed = before
        .keys()
        .filter(|path| !after.contains_key(*path))
        .cloned()
        .collect();
    (changed, removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips_keyed_items_set_members_and_item_markers() {
        let encoded = json!({
            "f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"a\"": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}
        });
        let set = FieldSet::from_fields_v1(&encoded);
        assert_eq!(set.iter().count(), 5);
        assert_eq!(set.to_fields_v1(), encoded);
    }

    #[test]
    fn paths_render_like_upstream_conflict_fields() {
        let path = vec![
            PathElement::Field("spec".into()),
            PathElement::Field("ports".into()),
            PathElement::Key(r#"{"port":80,"protocol":"TCP"}"#.into()),
            PathElement::Field("targetPort".into()),
        ];
        assert_eq!(
            render_path(&path),
            r#".spec.ports[port=80,protocol="TCP"].targetPort"#
        );
    }

    #[test]
    fn container_port_keys_default_the_protocol_to_tcp() {
        let key = item_key(
            &json!({"containerPort": 80}),
            &["containerPort", "protocol"],
        );
        assert_eq!(
            key.as_deref(),
            Some(r#"{"containerPort":80,"protocol":"TCP"}"#)
        );
    }
}
