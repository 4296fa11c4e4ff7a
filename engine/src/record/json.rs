//! The parsed JSON tree the record walker reads: serde_json's `Value`, except that strings
//! and keys borrow from the input text where they have no escapes, and an object is its
//! members in document order rather than a sorted map.
//!
//! A parcel record is ~1 KB of JSON with ~60 keys and ~40 strings. Reading it into a `Value`
//! allocated every key and string and built a B-tree per object, and the walk then removed
//! each field from its tree: together more than the screening of the record (BENCHMARKS.md,
//! "Profile of the hot path"). Here a key costs nothing, a string is copied once (into the
//! typed record), and an object is a short `Vec` searched linearly: records' objects have
//! 2 to 20 members. Objects are built by [`super::duplicate_keys`], which refuses a key
//! twice, so a lookup by key is unambiguous.

use serde_json::Number;
use std::borrow::Cow;

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its members in document order, each key once.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Object<'a> {
    members: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> Object<'a> {
    /// Builds an object from members whose keys are distinct (checked by the caller).
    pub(super) fn from_distinct(members: Vec<(Cow<'a, str>, Json<'a>)>) -> Self {
        debug_assert!(
            members.len() > 64
                || members
                    .iter()
                    .enumerate()
                    .all(|(i, (key, _))| members[..i].iter().all(|(other, _)| other != key)),
            "object keys must be distinct"
        );
        Object { members }
    }

    /// Takes the member `key` out of the object (the walk reads each field once).
    pub(super) fn remove(&mut self, key: &str) -> Option<Json<'a>> {
        let position = self.members.iter().position(|(name, _)| name == key)?;
        Some(self.members.swap_remove(position).1)
    }
}

impl Json<'_> {
    /// The JSON type, as named in problems.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The same value as a serde_json `Value`: for tests comparing with serde_json.
    #[cfg(test)]
    pub(super) fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(value) => Value::Bool(*value),
            Json::Number(number) => Value::Number(number.clone()),
            Json::String(text) => Value::String(text.to_string()),
            Json::Array(elements) => Value::Array(elements.iter().map(Json::to_value).collect()),
            Json::Object(object) => Value::Object(
                object
                    .members
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_value()))
                    .collect(),
            ),
        }
    }
}
