//! Route rules: which requests are public and which scopes a route and method require.
//!
//! Rules are tried in order and the first whose path prefix and method match wins. A prefix
//! matches whole path segments only, so `/public` covers `/public` and `/public/x` but never
//! `/publicity`. Paths with dot-segments (`/a/../b`, also percent-encoded) are refused before
//! matching, so that no spelling of a path can reach a rule meant for another.

/// One compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    path_prefix: String,
    methods: Option<Vec<String>>,
    scopes: Vec<String>,
    public: bool,
}

/// What the matched rule (or the default) requires of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement<'a> {
    /// No credential needed.
    Public,
    /// A valid credential holding every one of these scopes (possibly none).
    Scopes(&'a [String]),
}

/// The ordered rule list.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rule {
    /// A rule; `methods` are upper-case, `None` meaning every method.
    pub fn new(
        path_prefix: String,
        methods: Option<Vec<String>>,
        scopes: Vec<String>,
        public: bool,
    ) -> Rule {
        Rule {
            path_prefix,
            methods,
            scopes,
            public,
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
    /// Wraps compiled rules, in configuration order.
    pub fn new(rules: Vec<Rule>) -> Rules {
        Rules { rules }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The requirement for a request; `path` is without query string.
    /// Without a matching rule, a valid credential with no particular scope is required.
    pub fn requirement(&self, method: &str, path: &str) -> Requirement<'_> {
        match self.rules.iter().find(|rule| rule.matches(method, path)) {
            Some(rule) if rule.public => Requirement::Public,
            Some(rule) => Requirement::Scopes(&rule.scopes),
            None => Requirement::Scopes(&[]),
        }
    }
}

/// Whether a path (without query) contains a `.` or `..` segment, literally or percent-encoded.
pub fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.replace("%2e", ".").replace("%2E", ".");
        decoded == "." || decoded == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::new(vec![
            Rule::new("/public".into(), None, vec![], true),
            Rule::new(
                "/devices".into(),
                Some(vec!["GET".into()]),
                vec!["devices:read".into()],
                false,
            ),
            Rule::new(
                "/devices".into(),
                Some(vec!["POST".into(), "DELETE".into()]),
                vec!["devices:write".into()],
                false,
            ),
            Rule::new("/static/".into(), None, vec![], true),
        ])
    }

    #[test]
    fn first_matching_rule_wins_by_path_and_method() {
        let rules = rules();
        assert_eq!(
            rules.requirement("GET", "/devices/42"),
            Requirement::Scopes(&["devices:read".to_string()])
        );
        assert_eq!(
            rules.requirement("DELETE", "/devices"),
            Requirement::Scopes(&["devices:write".to_string()])
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
            Requirement::Scopes(&[])
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
            Requirement::Scopes(&[])
        );
        assert_eq!(rules.requirement("GET", "/other"), Requirement::Scopes(&[]));
    }

    #[test]
    fn dot_segments_are_detected_literal_and_encoded() {
        assert!(has_dot_segment("/public/../admin"));
        assert!(has_dot_segment("/public/%2e%2E/admin"));
        assert!(has_dot_segment("/./x"));
        assert!(has_dot_segment("/a/.."));
        assert!(!has_dot_segment("/a/.well-known/x"));
        assert!(!has_dot_segment("/Products('a.b')"));
    }
}
