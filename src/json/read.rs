//! Typed reading of a [`Node`] tree: strings, numbers, lists, maps and the configuration's
//! objects, each error a [`ConfigError`] naming the field by its path.
//!
//! The path is taken where serde_json's derived deserializers used to stop reading (after a
//! refused scalar or key, before a refused list or object, after the object a field is missing
//! from), through the same [`path_at`], so every error names the field exactly as before.

use super::value::{self, Value};

use super::path::path_at;
use super::tree::{Kind, Member, Node, Number};
use crate::error::ConfigError;

/// The bytes of the document, for the paths of errors.
#[derive(Clone, Copy)]
pub struct Document<'a> {
    bytes: &'a [u8],
}

impl<'a> Document<'a> {
    /// A document over `bytes` (those its tree was parsed from).
    pub fn new(bytes: &'a [u8]) -> Document<'a> {
        Document { bytes }
    }

    /// An error about what the first `offset` bytes end in.
    pub fn error_at(&self, offset: usize, problem: impl Into<String>) -> ConfigError {
        ConfigError::new(&path_at(self.bytes, offset), problem)
    }

    /// `node` is not the `expected` kind of value.
    pub fn invalid_type(&self, node: &Node, expected: &str) -> ConfigError {
        // serde_json reads a refused scalar whole, and stops before a refused list or object.
        let offset = match node.kind {
            Kind::Array(_) | Kind::Object(_) => node.start,
            _ => node.end,
        };
        self.error_at(
            offset,
            format!("invalid type: {}, expected {expected}", unexpected(node)),
        )
    }

    /// The members of the object `node` (or the elements of a list, field by field, as serde
    /// accepted too) by name; unknown and repeated names are refused.
    pub fn fields<'n>(
        &self,
        node: &'n Node,
        names: &'static [&'static str],
    ) -> Result<Fields<'n, 'a>, ConfigError> {
        let mut slots = vec![None; names.len()];
        match &node.kind {
            Kind::Object(members) => {
                for member in members {
                    let Some(index) = names.iter().position(|name| *name == member.key) else {
                        return Err(
                            self.error_at(member.key_end, unknown_field(&member.key, names))
                        );
                    };
                    match slots.get_mut(index) {
                        Some(Some(_)) => {
                            return Err(self.error_at(
                                member.key_end,
                                format!("duplicate field `{}`", member.key),
                            ))
                        }
                        Some(slot) => *slot = Some(&member.value),
                        None => {}
                    }
                }
            }
            Kind::Array(elements) => {
                if let Some(extra) = elements.get(names.len()) {
                    return Err(self.error_at(extra.start + 1, "trailing characters"));
                }
                for (slot, element) in slots.iter_mut().zip(elements) {
                    *slot = Some(element);
                }
            }
            _ => return Err(self.invalid_type(node, "an object")),
        }
        Ok(Fields {
            document: *self,
            names,
            slots,
            end: node.end,
        })
    }
}

/// The members of one object, taken out by name.
pub struct Fields<'n, 'a> {
    document: Document<'a>,
    names: &'static [&'static str],
    slots: Vec<Option<&'n Node>>,
    end: usize,
}

impl Fields<'_, '_> {
    fn node(&self, name: &str) -> Option<&Node> {
        let index = self.names.iter().position(|known| *known == name)?;
        self.slots.get(index).copied().flatten()
    }

    /// A field that must be present.
    #[inline(never)]
    pub fn required<T: FromJson>(&self, name: &str) -> Result<T, ConfigError> {
        match self.node(name) {
            Some(node) => T::from_json(node, &self.document),
            None => Err(self
                .document
                .error_at(self.end, format!("missing field `{name}`"))),
        }
    }

    /// A field that may be absent or `null`.
    #[inline(never)]
    pub fn optional<T: FromJson>(&self, name: &str) -> Result<Option<T>, ConfigError> {
        match self.node(name) {
            Some(node) if !matches!(node.kind, Kind::Null) => {
                T::from_json(node, &self.document).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// A field that may be absent (then its default), but not `null`.
    #[inline(never)]
    pub fn or_default<T: FromJson + Default>(&self, name: &str) -> Result<T, ConfigError> {
        match self.node(name) {
            Some(node) => T::from_json(node, &self.document),
            None => Ok(T::default()),
        }
    }
}

/// A value read from JSON as a configuration reads it.
pub trait FromJson: Sized {
    /// Reads `node`; errors name their field through `document`.
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError>;
}

impl FromJson for String {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        match &node.kind {
            Kind::String(text) => Ok(text.clone()),
            _ => Err(document.invalid_type(node, "a string")),
        }
    }
}

impl FromJson for bool {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        match node.kind {
            Kind::Bool(value) => Ok(value),
            _ => Err(document.invalid_type(node, "a boolean")),
        }
    }
}

/// A non-negative integer no larger than `T` holds.
fn unsigned<T: TryFrom<u64>>(
    node: &Node,
    document: &Document,
    expected: &str,
) -> Result<T, ConfigError> {
    let problem = match node.kind {
        Kind::Number(Number::Unsigned(value)) => match T::try_from(value) {
            Ok(value) => return Ok(value),
            Err(_) => format!("invalid value: integer `{value}`, expected {expected}"),
        },
        Kind::Number(Number::Negative(value)) => {
            format!("invalid value: integer `{value}`, expected {expected}")
        }
        _ => return Err(document.invalid_type(node, expected)),
    };
    Err(document.error_at(node.end, problem))
}

impl FromJson for u64 {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        unsigned(node, document, "u64")
    }
}

impl FromJson for usize {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        unsigned(node, document, "usize")
    }
}

impl FromJson for u32 {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        unsigned(node, document, "u32")
    }
}

impl FromJson for u8 {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        unsigned(node, document, "u8")
    }
}

/// Any number, exactly as written (where serde read an `f64`, whose name the error keeps).
impl FromJson for value::Number {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        match &node.kind {
            Kind::Number(number) => Ok(value::Number::from(number.clone())),
            _ => Err(document.invalid_type(node, "f64")),
        }
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        match node.kind {
            Kind::Null => Ok(None),
            _ => T::from_json(node, document).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        match &node.kind {
            // A loop, not `collect`: one small function per element type instead of the
            // half-dozen iterator adapters a `Result` collect instantiates for each (issue 22).
            Kind::Array(elements) => {
                let mut list = Vec::with_capacity(elements.len());
                for element in elements {
                    list.push(T::from_json(element, document)?);
                }
                Ok(list)
            }
            _ => Err(document.invalid_type(node, "a sequence")),
        }
    }
}

/// An object of any keys, as its members in key order; a repeated key keeps its place and its
/// last value. What serde read into a `BTreeMap<String, T>`, without a B-tree (its insertion,
/// splitting and draining code) compiled for each `T` of the configuration (issue 22).
#[derive(Debug)]
pub struct Members<T>(pub Vec<(String, T)>);

/// No members (what an absent field reads as, with [`Fields::or_default`]).
impl<T> Default for Members<T> {
    fn default() -> Self {
        Members(Vec::new())
    }
}

impl<T: FromJson> FromJson for Members<T> {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let Kind::Object(members) = &node.kind else {
            return Err(document.invalid_type(node, "a map"));
        };
        // Every value is read, in document order (so is the first error), before the order of
        // the keys drops the ones a later member repeats.
        let mut values = Vec::with_capacity(members.len());
        for member in members {
            values.push(Some(T::from_json(&member.value, document)?));
        }
        let mut list = Vec::with_capacity(members.len());
        for index in key_order(members) {
            if let (Some(member), Some(value)) = (
                members.get(index),
                values.get_mut(index).and_then(Option::take),
            ) {
                list.push((member.key.clone(), value));
            }
        }
        Ok(Members(list))
    }
}

/// The indices of `members` in key order, each key once, at its last member.
fn key_order(members: &[Member]) -> Vec<usize> {
    let key = |index: usize| members.get(index).map(|member| member.key.as_str());
    let mut order: Vec<usize> = Vec::with_capacity(members.len());
    for index in 0..members.len() {
        match order.binary_search_by(|&earlier| key(earlier).cmp(&key(index))) {
            Ok(place) => {
                if let Some(slot) = order.get_mut(place) {
                    *slot = index;
                }
            }
            Err(place) => order.insert(place, index),
        }
    }
    order
}

/// Any JSON, as a [`Value`] (a repeated key keeps its last value, as serde_json's did).
impl FromJson for Value {
    fn from_json(node: &Node, _document: &Document) -> Result<Self, ConfigError> {
        Ok(to_value(node))
    }
}

/// `node` as a [`Value`].
pub fn to_value(node: &Node) -> Value {
    value::from_node(node)
}

/// How a refused value is described (never its text: a string may be a secret).
fn unexpected(node: &Node) -> String {
    match &node.kind {
        Kind::Null => "null".to_string(),
        Kind::Bool(value) => format!("boolean `{value}`"),
        Kind::Number(Number::Unsigned(value)) => format!("integer `{value}`"),
        Kind::Number(Number::Negative(value)) => format!("integer `{value}`"),
        Kind::Number(Number::Float(_)) => "floating point number".to_string(),
        Kind::String(_) => "a string".to_string(),
        Kind::Array(_) => "sequence".to_string(),
        Kind::Object(_) => "map".to_string(),
    }
}

fn unknown_field(key: &str, names: &[&str]) -> String {
    if names.is_empty() {
        return format!("unknown field `{key}`, there are no fields");
    }
    let expected: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    format!(
        "unknown field `{key}`, expected one of {}",
        expected.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Pair {
        name: String,
        count: Option<u64>,
        tags: Vec<String>,
    }

    impl FromJson for Pair {
        fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
            let fields = document.fields(node, &["name", "count", "tags"])?;
            Ok(Pair {
                name: fields.required("name")?,
                count: fields.optional("count")?,
                tags: fields.or_default("tags")?,
            })
        }
    }

    /// `json` read as an object of any keys, as a map.
    fn read_map<T: FromJson>(json: &[u8]) -> Result<BTreeMap<String, T>, ConfigError> {
        let Members(members) = crate::json::read::<Members<T>>(json)?;
        let keys: Vec<&str> = members.iter().map(|(key, _)| key.as_str()).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
        Ok(members.into_iter().collect())
    }

    fn error(json: &str) -> ConfigError {
        match read_map::<Pair>(json.as_bytes()) {
            Ok(_) => panic!("accepted: {json}"),
            Err(err) => err,
        }
    }

    #[test]
    fn fields_are_read_by_name_with_defaults() {
        let map: BTreeMap<String, Pair> =
            read_map(br#"{"a": {"name": "x", "count": null}, "b": {"tags": ["t"], "name": "y", "count": 3}}"#)
                .unwrap();
        assert_eq!(map["a"].name, "x");
        assert_eq!(map["a"].count, None);
        assert!(map["a"].tags.is_empty());
        assert_eq!((map["b"].count, map["b"].tags.len()), (Some(3), 1));
    }

    #[test]
    fn errors_name_the_field_as_serde_json_did() {
        let err = error(r#"{"a": {"name": "x", "nam": 1}}"#);
        assert_eq!(err.field(), "a.nam");
        assert!(err.problem().starts_with("unknown field `nam`"), "{err}");
        assert_eq!(
            error(r#"{"a": {"name": "x", "name": "y"}}"#).field(),
            "a.name"
        );
        // A missing field names the object it is missing from.
        let err = error(r#"{"a": {"count": 1}}"#);
        assert_eq!((err.field(), err.problem()), ("a", "missing field `name`"));
        assert_eq!(error(r#"{"a": {"name": 5}}"#).field(), "a.name");
        assert_eq!(
            error(r#"{"a": {"name": "x", "tags": [1]}}"#).field(),
            "a.tags[0]"
        );
        assert_eq!(
            error(r#"{"a": {"name": "x", "tags": [{}]}}"#).field(),
            "a.tags[0]"
        );
        assert_eq!(
            error(r#"{"a": {"name": "x", "tags": null}}"#).field(),
            "a.tags"
        );
        assert_eq!(
            error(r#"{"a": {"name": "x", "count": -1}}"#).field(),
            "a.count"
        );
        assert_eq!(
            error(r#"{"a": {"name": "x", "count": 1.0}}"#).field(),
            "a.count"
        );
    }

    #[test]
    fn an_object_may_be_written_as_a_list_of_its_fields() {
        // serde's derived deserializers accepted this; so does the reader, with the same paths.
        let map: BTreeMap<String, Pair> = read_map(br#"{"a": ["x", 2]}"#).unwrap();
        assert_eq!((map["a"].name.as_str(), map["a"].count), ("x", Some(2)));
        assert_eq!(error(r#"{"a": []}"#).field(), "a");
        assert_eq!(error(r#"{"a": ["x", 1, [], 4]}"#).field(), "a[3]");
    }

    #[test]
    fn numbers_are_classified_as_serde_json_does() {
        let text = "[18446744073709551615, -5, -0, 1e2, 18446744073709551616]";
        let value: Value = crate::json::read(text.as_bytes()).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        let (ours, theirs) = (value.as_array().unwrap(), theirs.as_array().unwrap());
        assert_eq!(ours.len(), theirs.len());
        for (ours, theirs) in ours.iter().zip(theirs) {
            assert_eq!(
                (ours.is_u64(), ours.as_i64(), ours.is_f64(), ours.as_f64()),
                (
                    theirs.is_u64(),
                    theirs.as_i64(),
                    theirs.is_f64(),
                    theirs.as_f64()
                ),
                "{theirs}"
            );
        }
        assert!(value[2].is_f64() && value[3].is_f64() && value[4].is_f64());
        // Floats keep their text: written back as the document wrote them.
        assert_eq!(
            value.to_string(),
            "[18446744073709551615,-5,-0,1e2,18446744073709551616]"
        );
    }

    #[test]
    fn a_repeated_key_of_a_map_keeps_its_last_value() {
        let map: BTreeMap<String, String> = read_map(br#"{"k": "a", "k": "b"}"#).unwrap();
        assert_eq!(map["k"], "b");
    }

    #[test]
    fn members_are_in_key_order_each_key_once_with_its_last_value() {
        let Members(members) = crate::json::read::<Members<u64>>(
            br#"{"m": 1, "b": 2, "z": 3, "b": 4, "a": 5, "m": 6, "": 7, "b": 8}"#,
        )
        .unwrap();
        let expected = [("", 7), ("a", 5), ("b", 8), ("m", 6), ("z", 3)];
        let got: Vec<(&str, u64)> = members.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(got, expected);
        // Every value is read, a repeated one too: the first bad one in the document is named.
        let err = crate::json::read::<Members<u64>>(br#"{"b": 1, "a": -1, "b": "x"}"#).unwrap_err();
        assert_eq!(err.field(), "a");
        let err = crate::json::read::<Members<u64>>(br#"{"b": "x", "b": 1}"#).unwrap_err();
        assert_eq!(err.field(), "b");
        assert_eq!(
            crate::json::read::<Members<u64>>(b"[]")
                .unwrap_err()
                .problem(),
            "invalid type: sequence, expected a map"
        );
    }

    #[test]
    fn malformed_json_gets_serde_json_message() {
        let err = crate::json::read::<Value>(br#"{"a": [1, 2"#).unwrap_err();
        assert_eq!(
            (err.field(), err.problem()),
            ("a[1]", "EOF while parsing a list")
        );
        let err = crate::json::read::<Value>(b"\"\\ud800\"").unwrap_err();
        assert_eq!(err.field(), "");
    }

    #[test]
    fn anything_after_the_document_is_refused() {
        // serde's derived reading stopped after the value and ignored the rest: `{...},` or two
        // documents one after the other were accepted, the second one unread.
        let err = crate::json::read::<Value>(b"{\"a\": 1}\n},").unwrap_err();
        assert_eq!((err.field(), err.problem()), ("", "trailing characters"));
        assert!(crate::json::read::<Value>(b"{} {}").is_err());
        assert!(crate::json::read::<Value>(b" {} \n").is_ok());
    }
}
