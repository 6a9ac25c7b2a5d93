//! Duplicate keys in a JSON body. A JSON object with a key twice decodes (the last one
//! wins), but upstream's strict decoder reports each repeated field, as
//! `duplicate field "spec.paused"` under `fieldValidation=Strict` (an error) or `Warn` (a
//! warning). The lab decodes into `serde_json::Value`, which keeps the last value silently,
//! so the raw bytes are walked once more to find them.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The paths of the repeated keys in a JSON document (e.g. `spec.template.spec.containers[0]
/// .imagePullPolicy`), each once, in document order. Not JSON: none (decoding reports it).
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let walk = Walk {
        path: String::new(),
        found: &mut found,
    };
    match walk.deserialize(&mut de) {
        Ok(()) => found,
        Err(_) => Vec::new(),
    }
}

struct Walk<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut seen, mut reported) = (HashSet::new(), HashSet::new());
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key.clone()) && reported.insert(key) {
                self.found.push(path.clone());
            }
            map.next_value_seed(Walk {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let walk = Walk {
                path: format!("{}[{i}]", self.path),
                found: &mut *self.found,
            };
            if seq.next_element_seed(walk)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_reported_once_each_with_their_path() {
        let body = br#"{"metadata": {"name": "a", "name": "b"},
            "spec": {"paused": true, "paused": false, "paused": true,
              "template": {"spec": {"containers": [{"name": "c", "imagePullPolicy": "Always",
                "imagePullPolicy": "Never"}]}}}}"#;
        assert_eq!(
            duplicate_fields(body),
            [
                "metadata.name",
                "spec.paused",
                "spec.template.spec.containers[0].imagePullPolicy"
            ]
        );
    }

    #[test]
    fn the_same_key_in_different_objects_is_not_a_duplicate() {
        assert!(
            duplicate_fields(br#"{"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]}"#)
                .is_empty()
        );
    }

    #[test]
    fn a_body_that_is_not_json_has_no_duplicates_to_report() {
        assert!(duplicate_fields(b"a: 1\na: 2\n").is_empty());
    }
}
