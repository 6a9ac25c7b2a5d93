//! The message table the protobuf reader walks: for each Kubernetes message the lab reads,
//! its fields' numbers, JSON names, types and Go presence rules. The table is
//! `schema.txt`, generated from upstream's `generated.proto` files and Go types by
//! `crates/lab/tools/protobuf_schema.py` (its header says the format and why the Go types
//! are needed); it is parsed once, on the first protobuf body.

use std::collections::HashMap;
use std::sync::LazyLock;

const TABLE: &str = include_str!("schema.txt");

/// What a field holds on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type<'a> {
    String,
    Int,
    Bool,
    Bytes,
    /// A message, by its full name (`k8s.io.api.core.v1.PodSpec`).
    Message(&'a str),
    /// A map: key and value types (entries are messages with the key in 1, the value in 2).
    Map(&'a Type<'a>, &'a Type<'a>),
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub number: u64,
    /// The JSON name; `None` for a Go field embedded inline, whose fields join the parent.
    pub json: Option<&'a str>,
    pub ty: Type<'a>,
    /// The Go field is a pointer: present on the wire means set, even to a zero value.
    pub pointer: bool,
    /// The Go JSON tag has `omitempty`: a zero non-pointer value is left out.
    pub omitempty: bool,
    pub repeated: bool,
}

/// A message of the table.
#[derive(Debug)]
pub enum Message<'a> {
    Struct(Vec<Field<'a>>),
    /// A Go slice type (`ExtraValue`): its JSON is the array of field 1.
    List,
}

/// The parsed table; the first malformed row found, if any, is kept to be reported.
pub struct Schema {
    messages: HashMap<&'static str, Message<'static>>,
    pub error: Option<String>,
}

impl Schema {
    pub fn get(&self, name: &str) -> Option<&Message<'static>> {
        self.messages.get(name)
    }
}

/// The table, parsed on first use.
pub static SCHEMA: LazyLock<Schema> = LazyLock::new(|| parse(TABLE));

/// A scalar type name of the table, or a message's full name, as a leaked `Type` (the table
/// lives for the whole process, so its few hundred map types are leaked once).
fn scalar_or_message(name: &'static str) -> Type<'static> {
    match name {
        "string" => Type::String,
        "int32" | "int64" => Type::Int,
        "bool" => Type::Bool,
        "bytes" => Type::Bytes,
        other => Type::Message(other),
    }
}

fn parse_type(text: &'static str) -> Option<Type<'static>> {
    match text.strip_prefix("map:") {
        Some(kv) => {
            let (k, v) = kv.split_once(':')?;
            let key: &'static Type<'static> = Box::leak(Box::new(scalar_or_message(k)));
            let value: &'static Type<'static> = Box::leak(Box::new(scalar_or_message(v)));
            Some(Type::Map(key, value))
        }
        None => Some(scalar_or_message(text)),
    }
}

fn parse_field(line: &'static str) -> Option<Field<'static>> {
    let mut parts = line.split(' ');
    let number = parts.next()?.parse().ok()?;
    let json = parts.next()?;
    let ty = parse_type(parts.next()?)?;
    let flags = parts.next()?;
    Some(Field {
        number,
        json: (json != "~").then_some(json),
        ty,
        pointer: flags.contains('p'),
        omitempty: flags.contains('o'),
        repeated: flags.contains('r'),
    })
}

fn parse(table: &'static str) -> Schema {
    let mut messages = HashMap::new();
    let mut error = None;
    let mut current: Option<(&'static str, Vec<Field<'static>>)> = None;
    for line in table
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(name) = line.strip_prefix("message ") {
            if let Some((n, fields)) = current.take() {
                messages.insert(n, Message::Struct(fields));
            }
            current = Some((name, Vec::new()));
        } else if let Some(name) = line.strip_prefix("list ") {
            if let Some((n, fields)) = current.take() {
                messages.insert(n, Message::Struct(fields));
            }
            messages.insert(name, Message::List);
        } else {
            match (parse_field(line), current.as_mut()) {
                (Some(f), Some((_, fields))) => fields.push(f),
                _ => {
                    error.get_or_insert_with(|| format!("malformed row {line:?}"));
                }
            }
        }
    }
    if let Some((n, fields)) = current {
        messages.insert(n, Message::Struct(fields));
    }
    Schema { messages, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_table_parses_whole() {
        assert_eq!(SCHEMA.error, None);
        assert!(SCHEMA.messages.len() > 400, "{}", SCHEMA.messages.len());
    }

    #[test]
    fn a_probe_embeds_its_handler_inline_and_knows_its_pointers() {
        let Some(Message::Struct(probe)) = SCHEMA.get("k8s.io.api.core.v1.Probe") else {
            panic!("no Probe");
        };
        assert_eq!(probe[0].json, None);
        assert_eq!(
            probe[0].ty,
            Type::Message("k8s.io.api.core.v1.ProbeHandler")
        );
        let grace = probe.iter().find(|f| f.number == 7).expect("field 7");
        assert_eq!(grace.json, Some("terminationGracePeriodSeconds"));
        assert!(grace.pointer && grace.omitempty);
        let period = probe.iter().find(|f| f.number == 4).expect("field 4");
        assert!(!period.pointer && period.omitempty);
    }

    #[test]
    fn maps_and_lists_keep_their_element_types() {
        let Some(Message::Struct(secret)) = SCHEMA.get("k8s.io.api.core.v1.Secret") else {
            panic!("no Secret");
        };
        let data = secret
            .iter()
            .find(|f| f.json == Some("data"))
            .expect("data");
        assert_eq!(data.ty, Type::Map(&Type::String, &Type::Bytes));
        assert!(matches!(
            SCHEMA.get("k8s.io.api.authentication.v1.ExtraValue"),
            Some(Message::List)
        ));
    }
}
