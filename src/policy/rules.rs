//! Route rules: which requests are public, and what a route and method require of the caller:
//! scopes, the kinds of credential accepted, and whether an application must be named.
//!
//! Rules are tried in order and the first whose path prefix and method match wins. A prefix
//! matches whole path segments only, so `/public` covers `/public` and `/public/x` but never
//! `/publicity`. Paths with dot-segments (`/a/../b`, also percent-encoded) are refused before
//! matching, so that no spelling of a path can reach a rule meant for another.

use crate::jwt::confirmation::SenderConstraint;
use crate::request::credential::CredentialKind;

/// One compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    path_prefix: String,
    methods: Option<Vec<String>>,
    public: bool,
    route: Route,
}

/// What an authenticated route requires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Every one of these scopes (possibly none).
    pub scopes: Vec<String>,
    /// The credential kinds accepted (resolved at configure time: only configured kinds).
    pub accept: Vec<CredentialKind>,
    /// Whether the request must name an application (the configured app header).
    pub require_app: bool,
    /// The rule's own sender constraint for tokens, overriding the provider's.
    pub sender_constraint: Option<SenderConstraint>,
    /// Report mode: a request this route would refuse is forwarded, counted and logged instead
    /// (resolved at configure time from the rule's `mode`, else the global one).
    pub report: bool,
}

/// What the matched rule (or the default) requires of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement<'a> {
    /// No credential needed.
    Public,
    /// A valid credential meeting this route's requirements.
    Authenticated(&'a Route),
}

/// The ordered rule list, and what applies where no rule matches.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    default: Route,
}

impl Rule {
    /// A public rule; `methods` are upper-case, `None` meaning every method.
    pub fn public(path_prefix: String, methods: Option<Vec<String>>) -> Rule {
        Rule {
            path_prefix,
            methods,
            public: true,
            route: Route::default(),
        }
    }

    /// A rule requiring an authenticated caller meeting `route`.
    pub fn authenticated(path_prefix: String, methods: Option<Vec<String>>, route: Route) -> Rule {
        Rule {
            path_prefix,
            methods,
            public: false,
            route,
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let prefix = self.path_prefix.as_str();
        let path_ok = match path.strip_prefix(prefix) {
            Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
            None => false,
        };
        path_ok
            && self
                .methods
                .as_ref()
                .is_none_or(|methods| methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

impl Rules {
    /// Wraps compiled rules, in configuration order; `default` applies where none matches
    /// (any valid credential of the configured kinds, no scope).
    pub fn new(rules: Vec<Rule>, default: Route) -> Rules {
        Rules { rules, default }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every authenticated route, the default last (for documents that list what routes need).
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.rules
            .iter()
            .filter(|rule| !rule.public)
            .map(|rule| &rule.route)
            .chain(std::iter::once(&self.default))
    }

    /// The requirement for a request; `path` is without query string.
    /// Without a matching rule, any valid credential with no particular scope is required.
    pub fn requirement(&self, method: &str, path: &str) -> Requirement<'_> {
        self.matching(method, path).1
    }

    /// [`Rules::requirement`], with the index of the rule that matched (`None`: the default).
    pub fn matching(&self, method: &str, path: &str) -> (Option<usize>, Requirement<'_>) {
        match self
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matches(method, path))
        {
            Some((index, rule)) if rule.public => (Some(index), Requirement::Public),
            Some((index, rule)) => (Some(index), Requirement::Authenticated(&rule.route)),
            None => (None, Requirement::Authenticated(&self.default)),
        }
    }

    /// The rule at `index`, as the configuration wrote its match (`path_prefix`, `methods`).
    pub fn describe(&self, index: usize) -> Option<String> {
        let rule = self.rules.get(index)?;
        let methods = rule
            .methods
            .as_ref()
            .map_or("any method".to_string(), |m| m.join(" "));
        Some(format!(
            "path_prefix {:?}, {methods}{}",
            rule.path_prefix,
            if rule.public { ", public" } else { "" }
        ))
    }
}

/// Whether a path (without query) contains a `.` or `..` segment, literally or percent-encoded.
pub fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(is_dot_segment)
}

/// Whether a segment is `.` or `..` once `%2e`/`%2E` are decoded: one or two dots, each written
/// `.` or percent-encoded. Runs on every request, so it reads the bytes without allocating.
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] | [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return false,
        };
        dots += 1;
        if dots > 2 {
            return false;
        }
    }
    dots > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(scopes: &[&str]) -> Route {
        Route {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Route::default()
        }
    }

    fn rules() -> Rules {
        Rules::new(
            vec![
                Rule::public("/public".into(), None),
                Rule::authenticated(
                    "/devices".into(),
                    Some(vec!["GET".into()]),
                    scopes(&["devices:read"]),
                ),
                Rule::authenticated(
                    "/devices".into(),
                    Some(vec!["POST".into(), "DELETE".into()]),
                    scopes(&["devices:write"]),
                ),
                Rule::public("/static/".into(), None),
            ],
            Route::default(),
        )
    }

    #[test]
    fn first_matching_rule_wins_by_path_and_method() {
        let rules = rules();
        assert_eq!(
            rules.requirement("GET", "/devices/42"),
            Requirement::Authenticated(&scopes(&["devices:read"]))
        );
        assert_eq!(
            rules.requirement("DELETE", "/devices"),
            Requirement::Authenticated(&scopes(&["devices:write"]))
        );
    }

    #[test]
    fn prefix_matches_whole_segments_only() {
        let rules = rules();
        assert_eq!(rules.requirement("GET", "/public"), Requirement::Public);
        assert_eq!(
            rules.requirement("GET", "/public/docs"),
            Requirement::Public
        );
        assert_eq!(
            rules.requirement("GET", "/publicity"),
            Requirement::Authenticated(&Route::default())
        );
        assert_eq!(
            rules.requirement("GET", "/static/app.js"),
            Requirement::Public
        );
    }

    #[test]
    fn unmatched_method_or_path_needs_a_credential_without_scope() {
        let rules = rules();
        assert_eq!(
            rules.requirement("PUT", "/devices/1"),
            Requirement::Authenticated(&Route::default())
        );
        assert_eq!(
            rules.requirement("GET", "/other"),
            Requirement::Authenticated(&Route::default())
        );
    }

    #[test]
    fn dot_segments_are_detected_literal_and_encoded() {
        assert!(has_dot_segment("/public/../admin"));
        assert!(has_dot_segment("/public/%2e%2E/admin"));
        assert!(has_dot_segment("/./x"));
        assert!(has_dot_segment("/a/.."));
        assert!(!has_dot_segment("/a/.well-known/x"));
        assert!(!has_dot_segment("/Products('a.b')"));
        for dots in [".", "..", "%2e", "%2E", ".%2e", "%2E.", "%2e%2E"] {
            assert!(has_dot_segment(&format!("/a/{dots}/b")), "{dots}");
        }
        for other in [
            "",
            "...",
            "%2e%2e%2e",
            "%2",
            "%2f",
            "%2e%",
            ".a",
            "a.",
            "%252e",
        ] {
            assert!(!has_dot_segment(&format!("/a/{other}/b")), "{other}");
        }
    }

    /// The definition, by decoding: every path of up to 7 characters over the bytes that matter.
    #[test]
    fn dot_segments_agree_with_decoding_on_every_short_path() {
        let by_decoding = |path: &str| {
            path.split('/').any(|segment| {
                let decoded = segment.replace("%2e", ".").replace("%2E", ".");
                decoded == "." || decoded == ".."
            })
        };
        let alphabet = ['.', '%', '2', 'e', 'E', 'a', '/'];
        let mut paths = vec![String::new()];
        for _ in 0..7 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|path| alphabet.iter().map(move |c| format!("{path}{c}")))
                .collect();
            for path in &longer {
                assert_eq!(has_dot_segment(path), by_decoding(path), "{path:?}");
            }
            paths = longer;
        }
    }
}
