//! Any JSON value, owned: the runtime documents and claims (token headers and claims, DPoP
//! proofs, JWK Sets, introspection answers) are read into it from the project's own tree
//! ([`super::tree`]), without serde_json.
//!
//! The API is the part of serde_json's `Value` the filter used, with the same meaning, so that
//! every comparison stays what it was: objects are ordered maps (serde_json's default `Map` is a
//! `BTreeMap` too) where a repeated member name keeps its last value; numbers are classified
//! the same way (a non-negative integer that fits 64 bits, a negative one, or a float), and
//! `1` is not `1.0` for `==` (claim conditions compare numbers by value themselves, with
//! [`Number::same_value`]). A float is kept as its text and compared, rounded and written as
//! [`super::number`] says: by exact value, and verbatim.

use std::collections::BTreeMap;
use std::fmt;

#[cfg(not(target_arch = "wasm32"))]
use super::number::Float;
use super::number::{Rest, Scaled};
use super::syntax;
use super::tree::{self, Kind, Node};
use super::write;

/// An object's members, ordered by name.
pub type Map<K, V> = BTreeMap<K, V>;

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    /// `null`
    #[default]
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map<String, Value>),
}

/// A JSON number, as serde_json classified it; a float is kept as its text ([`super::number`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(tree::Number);

impl Number {
    /// Natively: a float as a number; `None` for NaN and the infinities, which JSON cannot
    /// write. Its text is serde_json's (`1.0`, `1e-7`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_f64(value: f64) -> Option<Number> {
        Float::from_f64(value).map(|float| Number(tree::Number::Float(float)))
    }

    /// The number if it is a non-negative integer that fits 64 bits.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            tree::Number::Unsigned(value) => Some(value),
            _ => None,
        }
    }

    /// The number if it is an integer that fits `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            tree::Number::Unsigned(value) => i64::try_from(value).ok(),
            tree::Number::Negative(value) => Some(value),
            tree::Number::Float(_) => None,
        }
    }

    /// Natively: the number as the nearest double.
    #[cfg(not(target_arch = "wasm32"))]
    #[allow(clippy::cast_precision_loss)]
    pub fn as_f64(&self) -> Option<f64> {
        Some(match &self.0 {
            tree::Number::Unsigned(value) => *value as f64,
            tree::Number::Negative(value) => *value as f64,
            tree::Number::Float(float) => float.to_f64(),
        })
    }

    /// Whether it was written as a float rather than an integer.
    pub fn is_f64(&self) -> bool {
        matches!(self.0, tree::Number::Float(_))
    }

    /// Whether it is a non-negative integer that fits 64 bits.
    pub fn is_u64(&self) -> bool {
        matches!(self.0, tree::Number::Unsigned(_))
    }

    /// Whether it is an integer that fits `i64`.
    pub fn is_i64(&self) -> bool {
        self.as_i64().is_some()
    }

    /// Whether the two are the same number by value: integers exactly, and where either is a
    /// float, as the exact decimals they spell (`1` = `1.0` = `10e-1`; unlike `==`, which
    /// tells `1` from `1.0` as serde_json did).
    pub fn same_value(&self, other: &Number) -> bool {
        use tree::Number::{Float, Negative, Unsigned};
        match (&self.0, &other.0) {
            (Float(a), Float(b)) => a == b,
            (Float(float), Unsigned(value)) | (Unsigned(value), Float(float)) => {
                let float = float.decimal();
                !float.is_negative() && float.magnitude() == Some(*value)
            }
            (Float(float), Negative(value)) | (Negative(value), Float(float)) => {
                let float = float.decimal();
                float.is_negative() && float.magnitude() == Some(value.unsigned_abs())
            }
            (a, b) => a == b,
        }
    }

    /// A non-negative number times `10^decimals`, made whole exactly ([`Scaled`]: round it
    /// as needed); `None` for a negative number (`-0` is zero).
    pub fn scaled(&self, decimals: u32) -> Option<Scaled> {
        match &self.0 {
            tree::Number::Unsigned(value) => Some(Scaled {
                whole: value.saturating_mul(10u64.saturating_pow(decimals)),
                rest: Rest::Zero,
            }),
            tree::Number::Negative(_) => None,
            tree::Number::Float(float) => float.decimal().scaled(decimals),
        }
    }
}

impl From<u64> for Number {
    fn from(value: u64) -> Number {
        Number(tree::Number::Unsigned(value))
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Number {
        Number(match u64::try_from(value) {
            Ok(unsigned) => tree::Number::Unsigned(unsigned),
            Err(_) => tree::Number::Negative(value),
        })
    }
}

impl From<tree::Number> for Number {
    fn from(value: tree::Number) -> Number {
        Number(value)
    }
}

impl Value {
    /// The member `name` of an object; `None` for a missing member or a value that is not one.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_object()?.get(name)
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The value of a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(value) => Some(*value),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(elements) => Some(elements),
            _ => None,
        }
    }

    /// The members of an object.
    pub fn as_object(&self) -> Option<&Map<String, Value>> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The number, if it is one.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(number) => Some(number),
            _ => None,
        }
    }

    /// A non-negative integer that fits 64 bits.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number()?.as_u64()
    }

    /// An integer that fits `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number()?.as_i64()
    }

    /// Natively: any number, as the nearest double.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }

    /// Whether it is a number written as (or made from) a float.
    pub fn is_f64(&self) -> bool {
        self.as_number().is_some_and(Number::is_f64)
    }

    /// Whether it is a non-negative integer that fits 64 bits.
    pub fn is_u64(&self) -> bool {
        self.as_number().is_some_and(Number::is_u64)
    }

    /// Whether it is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether it is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    /// Whether it is a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    /// Whether it is an array.
    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    /// Whether it is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }
}

/// `node` as a value; a repeated member name keeps its last value.
pub fn from_node(node: &Node) -> Value {
    match &node.kind {
        Kind::Null => Value::Null,
        Kind::Bool(value) => Value::Bool(*value),
        Kind::Number(number) => Value::Number(Number(number.clone())),
        Kind::String(text) => Value::String(text.clone()),
        Kind::Array(elements) => Value::Array(elements.iter().map(from_node).collect()),
        Kind::Object(members) => object(
            members
                .iter()
                .map(|member| (member.key.clone(), from_node(&member.value)))
                .collect(),
        ),
    }
}

/// `node` as a value, its strings moved rather than copied.
fn into_value(node: Node) -> Value {
    match node.kind {
        Kind::Null => Value::Null,
        Kind::Bool(value) => Value::Bool(value),
        Kind::Number(number) => Value::Number(Number(number)),
        Kind::String(text) => Value::String(text),
        Kind::Array(elements) => Value::Array(elements.into_iter().map(into_value).collect()),
        Kind::Object(members) => object(
            members
                .into_iter()
                .map(|member| (member.key, into_value(member.value)))
                .collect(),
        ),
    }
}

/// An object of `members`, a repeated name keeping its last value. One function for both
/// readers: `BTreeMap`'s `collect` sorts, and its sort is compiled again for every iterator
/// type it is given (about 4 KB each, issue 22).
fn object(members: Vec<(String, Value)>) -> Value {
    Value::Object(members.into_iter().collect())
}

/// `bytes` as a value, or why not: serde_json's syntax message and position, or what else
/// serde_json refused (for logs; the text is never quoted).
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    match tree::parse(bytes) {
        Some(node) => Ok(into_value(node)),
        None => Err(match syntax::check(bytes) {
            Err(err) => err.describe(bytes),
            Ok(()) => "a string that is not UTF-8, a lone surrogate, a number out of range, \
                       or arrays and objects nested deeper than 127"
                .to_string(),
        }),
    }
}

/// `bytes` as an object's members, or why not (see [`parse`]).
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match parse(bytes)? {
        Value::Object(members) => Ok(members),
        other => Err(format!(
            "invalid type: {}, expected a map",
            describe(&other)
        )),
    }
}

/// How a value is named in an error (never its text: a string may be a secret).
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(value) => format!("boolean `{value}`"),
        Value::Number(number) => match number.as_i64() {
            Some(integer) if !number.is_f64() => format!("integer `{integer}`"),
            _ if number.is_u64() => format!("integer `{}`", number.as_u64().unwrap_or_default()),
            _ => "floating point number".to_string(),
        },
        Value::String(_) => "a string".to_string(),
        Value::Array(_) => "sequence".to_string(),
        Value::Object(_) => "map".to_string(),
    }
}

/// `bytes` as a value, if they are one JSON document (the syntax serde_json accepted).
pub fn from_slice(bytes: &[u8]) -> Option<Value> {
    tree::parse(bytes).map(into_value)
}

/// `bytes` as an object's members, if they are one JSON object.
pub fn object_from_slice(bytes: &[u8]) -> Option<Map<String, Value>> {
    match from_slice(bytes)? {
        Value::Object(members) => Some(members),
        _ => None,
    }
}

/// Compact JSON, as serde_json wrote it (`to_string`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out);
        f.write_str(&out)
    }
}

impl Value {
    /// Appends the value as compact JSON.
    pub fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(number) => write::number(out, &number.0),
            Value::String(text) => write::string(out, text),
            Value::Array(elements) => {
                out.push('[');
                for (index, element) in elements.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    element.write(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (index, (name, member)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    write::string(out, name);
                    out.push(':');
                    member.write(out);
                }
                out.push('}');
            }
        }
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

impl From<u64> for Value {
    fn from(value: u64) -> Value {
        Value::Number(Number::from(value))
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Number(Number::from(value))
    }
}

/// Natively (tests): NaN and the infinities become `null`, as serde_json made them.
#[cfg(not(target_arch = "wasm32"))]
impl From<f64> for Value {
    fn from(value: f64) -> Value {
        Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Value {
        Value::String(value.to_string())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Value {
        Value::String(value)
    }
}

impl From<Vec<Value>> for Value {
    fn from(value: Vec<Value>) -> Value {
        Value::Array(value)
    }
}

impl From<Map<String, Value>> for Value {
    fn from(value: Map<String, Value>) -> Value {
        Value::Object(value)
    }
}

/// Natively only (tests, the `edge-auth` tool, token minting): a serde_json value, written with
/// `json!`, as one of these. Through its text, so that both parsers must agree.
#[cfg(not(target_arch = "wasm32"))]
impl From<serde_json::Value> for Value {
    fn from(value: serde_json::Value) -> Value {
        from_slice(value.to_string().as_bytes()).unwrap_or_default()
    }
}

/// Natively only: the other way, for the same callers.
#[cfg(not(target_arch = "wasm32"))]
impl From<&Value> for serde_json::Value {
    fn from(value: &Value) -> serde_json::Value {
        serde_json::from_str(&value.to_string()).unwrap_or_default()
    }
}

/// `json!` for a [`Value`], natively (the tests): serde_json's macro, converted.
#[cfg(not(target_arch = "wasm32"))]
#[macro_export]
macro_rules! json_value {
    ($($json:tt)+) => {
        $crate::json::Value::from(serde_json::json!($($json)+))
    };
}

/// `value["name"]`, as serde_json's: `null` for a missing member or a value that is not an object.
impl std::ops::Index<&str> for Value {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        self.get(name).unwrap_or(&NULL)
    }
}

/// `value[i]`, as serde_json's: `null` past the end or for a value that is not an array.
impl std::ops::Index<usize> for Value {
    type Output = Value;

    fn index(&self, index: usize) -> &Value {
        self.as_array()
            .and_then(|elements| elements.get(index))
            .unwrap_or(&NULL)
    }
}

static NULL: Value = Value::Null;

/// Natively only (tests): `value["name"] = ...` as with serde_json, which makes `null` an object;
/// any other non-object is replaced by an empty object first (serde_json panicked).
#[cfg(not(target_arch = "wasm32"))]
impl std::ops::IndexMut<&str> for Value {
    fn index_mut(&mut self, name: &str) -> &mut Value {
        if !self.is_object() {
            *self = Value::Object(Map::new());
        }
        match self {
            Value::Object(members) => members.entry(name.to_string()).or_default(),
            _ => unreachable!("made an object above"),
        }
    }
}

/// Natively only: written by serde (the `edge-auth` tool's JSON output, `json!` in tests).
#[cfg(not(target_arch = "wasm32"))]
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::Value::from(self).serialize(serializer)
    }
}

/// Natively only: read by serde, through serde_json's value.
#[cfg(not(target_arch = "wasm32"))]
impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        serde_json::Value::deserialize(deserializer).map(Value::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Number {
        from_slice(text.as_bytes())
            .unwrap()
            .as_number()
            .unwrap()
            .clone()
    }

    #[test]
    fn numbers_are_the_same_by_exact_value() {
        for (a, b) in [
            ("1", "1.0"),
            ("1", "1e0"),
            ("100", "1E2"),
            ("0", "-0"),
            ("0", "0.0e5"),
            ("-2", "-2.0"),
            ("-2", "-20e-1"),
            ("1.5", "15e-1"),
            ("18446744073709551615", "1.8446744073709551615e19"),
            ("-9223372036854775808", "-9223372036854775808.0"),
            ("7", "7"),
        ] {
            assert!(number(a).same_value(&number(b)), "{a} {b}");
            assert!(number(b).same_value(&number(a)), "{b} {a}");
        }
        for (a, b) in [
            ("1", "1.0000000000000000001"),
            ("9007199254740993", "9007199254740992.0"),
            ("1", "-1.0"),
            ("-1", "1.0"),
            ("0.1", "0.10000000000000001"),
            ("18446744073709551615", "18446744073709551616"),
            ("1", "0.1e300"),
            ("1", "0.1e-300"),
            ("2", "3"),
        ] {
            assert!(!number(a).same_value(&number(b)), "{a} {b}");
            assert!(!number(b).same_value(&number(a)), "{b} {a}");
        }
        // The doubles could not tell these apart.
        assert_eq!(
            number("9007199254740993").as_f64(),
            number("9007199254740992.0").as_f64()
        );
        assert_eq!(
            number("0.1").as_f64(),
            number("0.10000000000000001").as_f64()
        );
        // `==` tells an integer from a float, as serde_json's did, and floats apart by value.
        assert_ne!(number("1"), number("1.0"));
        assert_eq!(number("1.0"), number("1.00"));
        assert_eq!(number("-0.0"), number("0e7"));
    }

    #[test]
    fn floats_are_written_as_the_document_wrote_them() {
        let text = r#"{"a":1.50,"b":1E3,"c":-0,"d":[0.5e-3,1e-400,12345678901234567890123]}"#;
        assert_eq!(from_slice(text.as_bytes()).unwrap().to_string(), text);
    }
}
