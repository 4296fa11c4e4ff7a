//! JSON text to a [`Json`] tree in one pass, refusing duplicate object keys.
//!
//! serde_json keeps the last value of a key that appears twice in an object, silently. Other
//! readers keep the first, so the same bytes could mean a different record downstream: a
//! record whose consignee reads `"name": "<listed name>", "name": "Jane Doe"` would be
//! screened as Jane Doe. The parser therefore rejects any object, at any depth (unknown
//! fields included), that has the same key twice. Keys are compared after JSON unescaping,
//! so `"n\u0061me"` is `"name"`.
//!
//! This is serde_json's own [`serde_json::Deserializer`] (its syntax, errors and recursion
//! limit) driving a visitor that builds a [`Json`] tree borrowing from the text (see
//! [`super::json`]), where adding a member whose key the object already has is a duplicate.
//! The path to the value being read is kept as a stack of keys and indexes, moved in and out
//! (no copy), and is rendered only for a duplicate.
//!
//! Every duplicate is reported, as a [`FieldError`] `duplicate key` at the path of the key
//! (`consignee.name`, `items[0].value.currency`, `$["first name"]`), in document order, up
//! to [`MAX_REPORTED`]; past that the parse stops. Keys other than plain identifiers are
//! shown quoted and escaped (like found values), and a deep path is shortened in the middle,
//! so hostile keys can neither forge log lines nor blow up the rejection.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use rustc_hash::FxHashSet;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Number;
use xxhash_rust::xxh3::xxh3_64;

use super::json::{Json, Object};
use super::parse::quote;
use super::FieldError;

/// Most duplicate keys listed in one rejection; one more stops the parse.
pub(super) const MAX_REPORTED: usize = 16;

/// What a duplicate is reported as.
pub(super) const PROBLEM: &str = "duplicate key";

/// Most path segments shown: the first [`HEAD_SEGMENTS`], `…`, then the last ones.
const MAX_SEGMENTS: usize = 9;
const HEAD_SEGMENTS: usize = 4;

/// Longest key written as is (a longer one is quoted, hence truncated).
const MAX_PLAIN_KEY_BYTES: usize = 64;

/// Members an object may have before its keys are also kept in a hash set for the duplicate
/// check: below, scanning the members is cheaper; above (hostile input only), the check
/// stays linear in the object's size.
const LINEAR_SCAN_MEMBERS: usize = 16;

/// Why JSON text did not become a value.
#[derive(Debug)]
pub(super) enum Failure {
    /// Not JSON (syntax, nesting beyond the recursion limit, a number out of range…).
    Json(serde_json::Error),
    /// JSON, with at least one object carrying a key twice: the duplicates, in document
    /// order (at most [`MAX_REPORTED`], then one problem at `$` saying there are more).
    DuplicateKeys(Vec<FieldError>),
}

/// Parses `text` as one JSON value (trailing whitespace only), as `serde_json::from_str`
/// does, except that an object with a duplicate key is a [`Failure::DuplicateKeys`].
pub(super) fn from_str(text: &str) -> Result<Json<'_>, Failure> {
    let mut state = State {
        path: Vec::new(),
        duplicates: Vec::new(),
        too_many: false,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = ValueSeed { state: &mut state }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        // Too many duplicates stopped the parse: report those found.
        Err(_) if state.too_many => Err(Failure::DuplicateKeys(state.duplicates)),
        Err(error) => Err(Failure::Json(error)),
        Ok(_) if !state.duplicates.is_empty() => Err(Failure::DuplicateKeys(state.duplicates)),
        Ok(value) => Ok(value),
    }
}

/// One step of the path from the root to the value being read.
enum Segment<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

struct State<'a> {
    /// The keys and indexes leading to the value being read (not including it).
    path: Vec<Segment<'a>>,
    duplicates: Vec<FieldError>,
    /// More than [`MAX_REPORTED`] duplicates: the parse was stopped.
    too_many: bool,
}

impl State<'_> {
    /// Notes a second `key` in the object at the current path; an error stops the parse.
    fn duplicate<E: de::Error>(&mut self, key: &str) -> Result<(), E> {
        if self.duplicates.len() == MAX_REPORTED {
            self.too_many = true;
            self.duplicates.push(FieldError {
                path: "$".to_owned(),
                problem: format!("more than {MAX_REPORTED} duplicate keys; the rest not listed"),
            });
            return Err(E::custom("too many duplicate keys"));
        }
        let path = render_path(&self.path, key);
        self.duplicates.push(FieldError {
            path,
            problem: PROBLEM.to_owned(),
        });
        Ok(())
    }
}

/// The path of `key` in the object at `path`, written as the parser writes field paths:
/// dotted keys, indexes in brackets, `$` for the root when the path starts otherwise.
fn render_path(path: &[Segment], key: &str) -> String {
    let last = Segment::Key(Cow::Borrowed(key));
    let segments: Vec<&Segment> = path.iter().chain(std::iter::once(&last)).collect();
    let mut out = String::new();
    if segments.len() > MAX_SEGMENTS {
        let tail = MAX_SEGMENTS - HEAD_SEGMENTS;
        for segment in &segments[..HEAD_SEGMENTS] {
            push_segment(&mut out, segment);
        }
        out.push_str(".…");
        for segment in &segments[segments.len() - tail..] {
            push_segment(&mut out, segment);
        }
    } else {
        for segment in &segments {
            push_segment(&mut out, segment);
        }
    }
    out
}

fn push_segment(out: &mut String, segment: &Segment) {
    match segment {
        Segment::Key(key) if is_plain(key) => {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        Segment::Key(key) => {
            if out.is_empty() {
                out.push('$');
            }
            out.push('[');
            out.push_str(&quote(key));
            out.push(']');
        }
        Segment::Index(index) => {
            if out.is_empty() {
                out.push('$');
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "[{index}]");
        }
    }
}

/// A key written as is in a path: ASCII letters, digits, `_` and `-`, not too long.
fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_PLAIN_KEY_BYTES
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Deserialises one JSON value (of any type) into a [`Json`], checking its objects.
struct ValueSeed<'s, 'de> {
    state: &'s mut State<'de>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, 'de> {
    type Value = Json<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(ValueVisitor { state: self.state })
    }
}

/// serde_json's own `Value` visitor, building a [`Json`] that borrows unescaped strings, with
/// the duplicate check in `visit_map`.
struct ValueVisitor<'s, 'de> {
    state: &'s mut State<'de>,
}

impl<'de> Visitor<'de> for ValueVisitor<'_, 'de> {
    type Value = Json<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json<'de>, E> {
        // As serde_json: a non-finite float (which its parser never yields) becomes null.
        Ok(Number::from_f64(value).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(value)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        ValueSeed { state: self.state }.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut elements: A) -> Result<Json<'de>, A::Error> {
        let mut values = Vec::new();
        self.state.path.push(Segment::Index(0));
        loop {
            if let Some(Segment::Index(index)) = self.state.path.last_mut() {
                *index = values.len();
            }
            let seed = ValueSeed {
                state: &mut *self.state,
            };
            match elements.next_element_seed(seed)? {
                Some(value) => values.push(value),
                None => break,
            }
        }
        self.state.path.pop();
        Ok(Json::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Json<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        // Hashes of the keys, once the object is too large to scan (see LINEAR_SCAN_MEMBERS).
        let mut key_hashes: FxHashSet<u64> = FxHashSet::default();
        while let Some(key) = entries.next_key_seed(KeySeed)? {
            // The key goes on the path while its value is read (for duplicates inside it),
            // and comes back for the insertion.
            self.state.path.push(Segment::Key(key));
            let value = entries.next_value_seed(ValueSeed {
                state: &mut *self.state,
            })?;
            let Some(Segment::Key(key)) = self.state.path.pop() else {
                return Err(de::Error::custom("duplicate-key check: path out of step"));
            };
            let is_duplicate = if members.len() < LINEAR_SCAN_MEMBERS {
                members.iter().any(|(existing, _)| *existing == key)
            } else {
                if key_hashes.is_empty() {
                    key_hashes.extend(
                        members
                            .iter()
                            .map(|(existing, _)| xxh3_64(existing.as_bytes())),
                    );
                }
                // A hash seen before is confirmed by comparing the keys (collisions).
                !key_hashes.insert(xxh3_64(key.as_bytes()))
                    && members.iter().any(|(existing, _)| *existing == key)
            };
            if is_duplicate {
                // The first value stays; the parse goes on to report every duplicate.
                self.state.duplicate(&key)?;
            } else {
                members.push((key, value));
            }
        }
        Ok(Json::Object(Object::from_distinct(members)))
    }
}

/// An object key: borrowed from the text unless it has escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn duplicates(text: &str) -> Vec<String> {
        match from_str(text) {
            Err(Failure::DuplicateKeys(errors)) => errors.iter().map(ToString::to_string).collect(),
            other => panic!("expected duplicate keys in {text}, got {other:?}"),
        }
    }

    #[test]
    fn values_are_those_of_serde_json() {
        for text in [
            r#"{"a": [1, -2, 3.5, 1e300, 18446744073709551615, -9223372036854775808], "b": {"c": null, "d": true, "e": false}, "f": "x\u00e9\n", "g": [], "h": {}}"#,
            r#"[{"a": 1}, {"a": 2}, [[], [{}]]]"#,
            "  \"text\"  ",
            "0",
            "-0.0",
            "null",
            "12345678901234567890123",
            r#"{"$serde_json::private::Number": 1}"#,
        ] {
            let ours = from_str(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            let theirs: Value = serde_json::from_str(text).expect(text);
            assert_eq!(ours.to_value(), theirs, "{text}");
        }
    }

    #[test]
    fn json_errors_are_those_of_serde_json() {
        let deep = "[".repeat(200);
        for text in [
            "",
            "{",
            r#"{"a": 1,}"#,
            r#"{"a": 1} x"#,
            "1e400",
            "[1, 2",
            "NaN",
            "\"\\ud800\"",
            deep.as_str(),
        ] {
            let theirs = serde_json::from_str::<Value>(text).expect_err(text);
            match from_str(text) {
                Err(Failure::Json(ours)) => assert_eq!(ours.to_string(), theirs.to_string()),
                other => panic!("{text}: expected a JSON error, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_duplicate_key_is_reported_at_its_path() {
        assert_eq!(
            duplicates(r#"{"record_id": "A", "record_id": "B"}"#),
            ["record_id: duplicate key"]
        );
        assert_eq!(
            duplicates(r#"{"consignee": {"name": "X", "address": {}, "name": "Y"}}"#),
            ["consignee.name: duplicate key"]
        );
        assert_eq!(
            duplicates(r#"{"items": [{}, {"value": {"currency": "USD", "currency": "EUR"}}]}"#),
            ["items[1].value.currency: duplicate key"]
        );
        // The same value twice is a duplicate too; so is an object value.
        assert_eq!(
            duplicates(r#"{"a": {"b": 1}, "a": {"b": 1}}"#),
            ["a: duplicate key"]
        );
    }

    #[test]
    fn keys_are_compared_unescaped() {
        assert_eq!(
            duplicates(r#"{"consignee": {"name": "X", "n\u0061me": "Y"}}"#),
            ["consignee.name: duplicate key"]
        );
        assert_eq!(
            duplicates(r#"{"\u00e9": 1, "é": 2}"#),
            [r#"$["é"]: duplicate key"#]
        );
        // Different keys that look alike are not duplicates.
        assert!(from_str(r#"{"name": 1, "Name": 2, "name ": 3, "nam\u0065x": 4}"#).is_ok());
    }

    #[test]
    fn duplicates_at_any_depth_and_in_unknown_fields_are_all_reported_in_order() {
        assert_eq!(
            duplicates(
                r#"{"x": {"y": [0, [{"z": 1, "z": 2}]]}, "a": 1, "b": {"c": 1, "c": 2, "c": 3}, "a": 2}"#
            ),
            [
                "x.y[1][0].z: duplicate key",
                "b.c: duplicate key",
                "b.c: duplicate key",
                "a: duplicate key",
            ]
        );
        assert_eq!(
            duplicates(r#"[{"a": 1, "a": 2}]"#),
            ["$[0].a: duplicate key"]
        );
    }

    #[test]
    fn hostile_keys_are_quoted_escaped_and_deep_paths_shortened() {
        let errors = duplicates("{\"\u{202e}x\\n\": {\"k\": 1, \"k\": 2}}");
        assert_eq!(errors, [r#"$["\u{202e}x\n"].k: duplicate key"#]);
        let long_key = "k".repeat(1000);
        let errors = duplicates(&format!(r#"{{"{long_key}": 1, "{long_key}": 2}}"#));
        assert!(errors[0].len() < 80, "{errors:?}");
        assert!(errors[0].starts_with(r#"$["kkkk"#) && errors[0].contains('…'));
        // Depth 100 (within serde_json's limit of 128), a duplicate at the bottom.
        let deep = format!(
            "{}{{\"z\": 1, \"z\": 2}}{}",
            "{\"a\": [".repeat(50),
            "]}".repeat(50)
        );
        let errors = duplicates(&deep);
        assert_eq!(errors, ["a[0].a[0].….a[0].a[0].z: duplicate key"]);
        assert!(errors
            .iter()
            .all(|e| !e.chars().any(|c| c.is_control() || c == '\u{202e}')));
    }

    #[test]
    fn past_the_limit_the_parse_stops() {
        let members: Vec<String> = (0..10_000).map(|i| format!("\"k\": {i}")).collect();
        let text = format!("{{{}}}", members.join(","));
        let errors = duplicates(&text);
        assert_eq!(errors.len(), MAX_REPORTED + 1);
        assert!(errors[..MAX_REPORTED]
            .iter()
            .all(|e| e == "k: duplicate key"));
        assert_eq!(
            errors[MAX_REPORTED],
            "$: more than 16 duplicate keys; the rest not listed"
        );
        // Exactly at the limit: every one listed, nothing more.
        let members: Vec<String> = (0..=MAX_REPORTED).map(|i| format!("\"k\": {i}")).collect();
        let errors = duplicates(&format!("{{{}}}", members.join(",")));
        assert_eq!(errors.len(), MAX_REPORTED);
    }

    #[test]
    fn duplicates_in_large_objects_are_found_through_the_key_hashes() {
        let mut members: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        // Escaped, so compared unescaped: `k\u0033` is `k3`.
        members.push(r#""k\u0033": 3"#.to_owned());
        members.push(r#""k39": 39"#.to_owned());
        let text = format!("{{\"big\": {{{}}}}}", members.join(","));
        assert_eq!(
            duplicates(&text),
            ["big.k3: duplicate key", "big.k39: duplicate key"]
        );
        // Forty distinct keys alone are no duplicate, and every member is kept.
        let distinct = format!("{{{}}}", members[..40].join(","));
        let parsed = from_str(&distinct).expect("no duplicates").to_value();
        assert_eq!(parsed.as_object().map(|o| o.len()), Some(40));
    }

    #[test]
    fn a_syntax_error_after_a_duplicate_is_a_json_error() {
        assert!(matches!(
            from_str(r#"{"a": 1, "a": 2"#),
            Err(Failure::Json(_))
        ));
        assert!(matches!(
            from_str(r#"{"a": 1, "a": 2} trailing"#),
            Err(Failure::Json(_))
        ));
    }

    #[test]
    fn no_duplicates_parse_as_serde_json_does() {
        let value = json!({"a": {"b": [1, {"c": "d"}]}, "e": null});
        let text = value.to_string();
        assert_eq!(from_str(&text).expect("no duplicates").to_value(), value);
    }
}
