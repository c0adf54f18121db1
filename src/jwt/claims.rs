//! Claim conditions: what a route (or, by default, a provider) requires of a token's claims
//! beyond scopes. A [`ClaimPath`] names a claim, inside nested objects too
//! (`realm_access.roles`); a [`Condition`] tests the value found there. Both are compiled once;
//! the values a token has at the policy's paths are kept in its [`crate::identity::Identity`]
//! (so that a cache hit is checked without the token), and a condition is evaluated on such a
//! value without allocating.
//!
//! Paths: segments separated by `.`, each naming a member of an object, never an array index.
//! Inside a segment `~1` stands for a literal `.` and `~0` for `~` (JSON Pointer's escapes, with
//! `.` in the place of `/`): `resource_access.my~1app.roles` is `roles` in the member `my.app`
//! of `resource_access`. Any other `~`, and empty segments, are refused.
//!
//! Values compare exactly: strings with strings, booleans with booleans, numbers by exact
//! decimal value (`1` is `1.0`; [`crate::json::number`]), never across types (`"1"` is not
//! `1`, `"true"` is not `true`). An array claim is the list of its elements; any other claim
//! a list of one; a string claim is split on spaces only where the condition says
//! `space_separated`. A claim that is absent or `null` has no value: only a negated condition
//! holds for it.

use std::fmt;

use crate::json::{Map, Number, Value};

use crate::identity::member_at;

/// A claim's place in the token's claims: object members, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    text: String,
    segments: Vec<String>,
}

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// A segment is empty (the path is empty, or has `..`, or starts or ends with `.`).
    EmptySegment,
    /// A `~` followed by anything but `0` or `1`.
    BadEscape,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::EmptySegment => {
                "has an empty segment: separate member names with single dots"
            }
            PathError::BadEscape => {
                "has a \"~\" not followed by 0 or 1 (write ~1 for a dot in a name, ~0 for ~)"
            }
        })
    }
}

impl ClaimPath {
    /// Parses `text` (see the module doc for the syntax).
    pub fn parse(text: &str) -> Result<ClaimPath, PathError> {
        let mut segments = Vec::new();
        for segment in text.split('.') {
            if segment.is_empty() {
                return Err(PathError::EmptySegment);
            }
            let mut name = String::with_capacity(segment.len());
            let mut chars = segment.chars();
            while let Some(ch) = chars.next() {
                if ch != '~' {
                    name.push(ch);
                    continue;
                }
                match chars.next() {
                    Some('0') => name.push('~'),
                    Some('1') => name.push('.'),
                    _ => return Err(PathError::BadEscape),
                }
            }
            segments.push(name);
        }
        Ok(ClaimPath {
            text: text.to_string(),
            segments,
        })
    }

    /// The path as written in the configuration.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The object members on the way, outermost first (escapes resolved).
    pub fn members(&self) -> &[String] {
        &self.segments
    }

    /// The value at this path, if every member on the way exists.
    pub fn find<'v>(&self, claims: &'v Map<String, Value>) -> Option<&'v Value> {
        member_at(claims, &self.segments)
    }

    /// The value an identity keeps for this path: `None` for absent or `null`; an object as an
    /// empty one (only `present` reads it), so that a cached identity stays small.
    pub fn keep(&self, claims: &Map<String, Value>) -> Option<Value> {
        match self.find(claims)? {
            Value::Null => None,
            Value::Object(_) => Some(Value::Object(Map::new())),
            other => Some(other.clone()),
        }
    }
}

/// What a condition tests of the value at its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// The claim exists (and is not `null`).
    Present,
    /// The claim is this string, number or boolean (an array never equals one).
    Equals(Value),
    /// At least one of these values is among the claim's.
    AnyOf(Vec<Value>),
    /// Every one of these values is among the claim's.
    AllOf(Vec<Value>),
}

impl Test {
    /// The operator's name in the configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Test::Present => "present",
            Test::Equals(_) => "equals",
            Test::AnyOf(_) => "any_of",
            Test::AllOf(_) => "all_of",
        }
    }
}

/// One compiled claim condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The claim it tests.
    pub path: ClaimPath,
    /// Index of `path` in the policy's table of condition claims (every provider's
    /// `condition_claims`, every identity's `claim_values`).
    pub slot: usize,
    /// What it tests.
    pub test: Test,
    /// Whether a string claim is the list of its space-separated words (`any_of`, `all_of`).
    pub space_separated: bool,
    /// Whether the condition holds where the test fails (`"not": true`).
    pub negated: bool,
}

impl Condition {
    /// Whether the condition holds for `value`, the claim at its path (`None`: absent).
    pub fn holds(&self, value: Option<&Value>) -> bool {
        let value = value.filter(|value| !value.is_null());
        let passed = match (&self.test, value) {
            (_, None) => false,
            (Test::Present, Some(_)) => true,
            (Test::Equals(wanted), Some(value)) => {
                !matches!(value, Value::Array(_)) && same(Item::Value(value), wanted)
            }
            (Test::AnyOf(wanted), Some(value)) => any_item(value, self.space_separated, |item| {
                wanted.iter().any(|wanted| same(item, wanted))
            }),
            (Test::AllOf(wanted), Some(value)) => wanted
                .iter()
                .all(|wanted| any_item(value, self.space_separated, |item| same(item, wanted))),
        };
        passed != self.negated
    }

    /// The condition as configured, for `edge-auth explain` (configuration values only, never
    /// a token's).
    pub fn describe(&self) -> String {
        let not = if self.negated { "not " } else { "" };
        let values = match &self.test {
            Test::Present => String::new(),
            Test::Equals(value) => format!(" {value}"),
            Test::AnyOf(values) | Test::AllOf(values) => {
                format!(" {}", Value::Array(values.clone()))
            }
        };
        format!("{} {not}{}{values}", self.path.text(), self.test.name())
    }
}

/// Whether `wanted` is one of the string values of `value` (a claim at its path, `None`:
/// absent): an element of an array claim, or the claim itself. Numbers and booleans are never
/// the string spelling them; a string is never split. What a path binding to a claim tests.
pub fn has_string(value: Option<&Value>, wanted: &str) -> bool {
    value.is_some_and(|value| {
        any_item(
            value,
            false,
            |item| matches!(item, Item::Value(Value::String(text)) if text == wanted),
        )
    })
}

/// One of a claim's values: an element, the claim itself, or a word of a space-separated string.
#[derive(Clone, Copy)]
enum Item<'v> {
    Value(&'v Value),
    Word(&'v str),
}

/// Whether `check` holds for any of `value`'s items.
fn any_item(value: &Value, split: bool, mut check: impl FnMut(Item<'_>) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| check(Item::Value(item))),
        Value::String(text) if split => text
            .split(' ')
            .filter(|word| !word.is_empty())
            .any(|word| check(Item::Word(word))),
        other => check(Item::Value(other)),
    }
}

/// Whether `item` is exactly `wanted` (a string, number or boolean).
fn same(item: Item<'_>, wanted: &Value) -> bool {
    match (item, wanted) {
        (Item::Word(word), Value::String(wanted)) => word == wanted,
        (Item::Value(Value::String(text)), Value::String(wanted)) => text == wanted,
        (Item::Value(Value::Bool(value)), Value::Bool(wanted)) => value == wanted,
        (Item::Value(Value::Number(value)), Value::Number(wanted)) => same_number(value, wanted),
        _ => false,
    }
}

/// Numbers by exact value (`1` = `1.0` = `1e0`; `0.1` is not `0.10000000000000001`, which
/// were the same double).
fn same_number(a: &Number, b: &Number) -> bool {
    a.same_value(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json_value as json;

    fn claims() -> Map<String, Value> {
        json!({
            "sub": "alice",
            "realm_access": {"roles": ["admin", "user"]},
            "resource_access": {"edge-api": {"roles": ["read"]}, "my.app": {"roles": ["write"]}},
            "a~b": {"c": 1},
            "scope": "devices:read profile:read",
            "level": 3,
            "ratio": 1.0,
            "verified": true,
            "tenant": "1",
            "nothing": null,
            "negative": -2
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn condition(path: &str, test: Test) -> Condition {
        Condition {
            path: ClaimPath::parse(path).unwrap(),
            slot: 0,
            test,
            space_separated: false,
            negated: false,
        }
    }

    fn holds(condition: &Condition) -> bool {
        let claims = claims();
        condition.holds(condition.path.keep(&claims).as_ref())
    }

    #[test]
    fn has_string_reads_string_elements_and_single_strings_only() {
        let array = json!(["a1", 7, "b2 c3"]);
        assert!(has_string(Some(&array), "a1"));
        assert!(!has_string(Some(&array), "7"));
        assert!(!has_string(Some(&array), "c3"));
        assert!(has_string(Some(&json!("a1")), "a1"));
        assert!(!has_string(Some(&json!(true)), "true"));
        assert!(!has_string(None, "a1"));
    }

    #[test]
    fn nested_paths_reach_into_objects_only() {
        let claims = claims();
        let find = |path: &str| ClaimPath::parse(path).unwrap().find(&claims).cloned();
        assert_eq!(find("realm_access.roles"), Some(json!(["admin", "user"])));
        assert_eq!(
            find("resource_access.edge-api.roles"),
            Some(json!(["read"]))
        );
        assert_eq!(find("realm_access.roles.0"), None);
        assert_eq!(find("sub.x"), None);
        assert_eq!(find("missing.roles"), None);
    }

    #[test]
    fn escapes_name_keys_with_dots_and_tildes() {
        let claims = claims();
        let find = |path: &str| ClaimPath::parse(path).unwrap().find(&claims).cloned();
        assert_eq!(
            find("resource_access.my~1app.roles"),
            Some(json!(["write"]))
        );
        assert_eq!(find("resource_access.my.app.roles"), None);
        assert_eq!(find("a~0b.c"), Some(json!(1)));
        assert_eq!(ClaimPath::parse("a~2b"), Err(PathError::BadEscape));
        assert_eq!(ClaimPath::parse("a~"), Err(PathError::BadEscape));
        for bad in ["", ".a", "a.", "a..b"] {
            assert_eq!(ClaimPath::parse(bad), Err(PathError::EmptySegment), "{bad}");
        }
    }

    #[test]
    fn any_of_and_all_of_read_arrays_and_single_values() {
        let roles = |test| holds(&condition("realm_access.roles", test));
        assert!(roles(Test::AnyOf(vec![json!("ops"), json!("admin")])));
        assert!(!roles(Test::AnyOf(vec![json!("ops")])));
        assert!(roles(Test::AllOf(vec![json!("user"), json!("admin")])));
        assert!(!roles(Test::AllOf(vec![json!("user"), json!("ops")])));
        assert!(holds(&condition("sub", Test::AnyOf(vec![json!("alice")]))));
        assert!(holds(&condition("sub", Test::AllOf(vec![json!("alice")]))));
        assert!(!holds(&condition(
            "sub",
            Test::AllOf(vec![json!("alice"), json!("bob")])
        )));
    }

    #[test]
    fn a_string_is_a_list_only_where_the_condition_says_so() {
        let mut scope = condition("scope", Test::AnyOf(vec![json!("devices:read")]));
        assert!(!holds(&scope), "the whole string is one value");
        scope.space_separated = true;
        assert!(holds(&scope));
        scope.test = Test::AllOf(vec![json!("profile:read"), json!("devices:read")]);
        assert!(holds(&scope));
        scope.test = Test::AllOf(vec![json!("profile:read"), json!("devices:write")]);
        assert!(!holds(&scope));
    }

    #[test]
    fn numbers_and_booleans_compare_exactly_without_coercion() {
        let equals = |path: &str, value: Value| holds(&condition(path, Test::Equals(value)));
        assert!(equals("level", json!(3)));
        assert!(equals("level", json!(3.0)));
        assert!(!equals("level", json!("3")));
        assert!(!equals("level", json!(4)));
        assert!(equals("ratio", json!(1)));
        assert!(equals("negative", json!(-2)));
        assert!(!equals("negative", json!(2)));
        assert!(equals("verified", json!(true)));
        assert!(!equals("verified", json!("true")));
        assert!(!equals("tenant", json!(1)));
        assert!(equals("tenant", json!("1")));
        assert!(
            !equals("realm_access.roles", json!("admin")),
            "an array equals no scalar"
        );
        assert!(!holds(&condition("level", Test::AnyOf(vec![json!("3")]))));
    }

    #[test]
    fn a_missing_or_null_claim_meets_no_test_and_every_negated_one() {
        for path in ["missing", "nothing", "realm_access.missing"] {
            for test in [
                Test::Present,
                Test::Equals(json!("x")),
                Test::AnyOf(vec![json!("x")]),
                Test::AllOf(vec![json!("x")]),
            ] {
                let mut tested = condition(path, test);
                assert!(!holds(&tested), "{path}: {tested:?}");
                tested.negated = true;
                assert!(holds(&tested), "{path}: {tested:?}");
            }
        }
    }

    #[test]
    fn negation_inverts_a_test_on_a_present_claim() {
        let mut banned = condition("realm_access.roles", Test::AnyOf(vec![json!("banned")]));
        banned.negated = true;
        assert!(holds(&banned));
        banned.test = Test::AnyOf(vec![json!("user")]);
        assert!(!holds(&banned));
        let mut object = condition("realm_access", Test::Present);
        assert!(holds(&object));
        object.negated = true;
        assert!(!holds(&object));
    }

    #[test]
    fn an_identity_keeps_objects_empty_and_null_as_absent() {
        let claims = claims();
        let keep = |path: &str| ClaimPath::parse(path).unwrap().keep(&claims);
        assert_eq!(keep("resource_access"), Some(json!({})));
        assert_eq!(keep("nothing"), None);
        assert_eq!(keep("level"), Some(json!(3)));
    }
}
