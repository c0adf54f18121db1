//! Route rules: which requests are public, and what a route and method require of the caller:
//! scopes, the kinds of credential accepted, whether an application must be named, and of a
//! token: its provider, its audience and its claims (conditions, else its provider's).
//!
//! Rules are tried in order and the first whose path (prefix or template) and method match
//! wins. A prefix matches whole path segments only, so `/public` covers `/public` and
//! `/public/x` but never `/publicity`; a template matches segment by segment
//! ([`crate::policy::templates`]), and its route may bind captured segments to the caller. Rules see the canonical path of [`crate::request::path`]: spellings whose
//! meaning depends on the upstream's decoding (encoded separators, `;` parameters,
//! dot-segments) are refused before matching, so that none can reach a rule meant for another.

use std::borrow::Cow;

use crate::jwt::claims::Condition;
use crate::jwt::confirmation::SenderConstraint;
use crate::policy::templates::{Binding, PathTemplate};
use crate::request::credential::CredentialKind;
use crate::request::path::{canonical, LetterCase, PathError, PathOptions};

/// One compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    path: PathMatch,
    methods: Option<Vec<String>>,
    public: bool,
    route: Route,
}

/// How a rule matches paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// `path_prefix`: whole segments from the start.
    Prefix(String),
    /// `path_template`: segment by segment.
    Template(PathTemplate),
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Prefix(prefix) => match path.strip_prefix(prefix.as_str()) {
                Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
                None => false,
            },
            PathMatch::Template(template) => template.matches(path),
        }
    }

    /// [`PathMatch::matches`], comparing ASCII letters without regard to case.
    fn matches_ignoring_case(&self, path: &str) -> bool {
        match self {
            PathMatch::Prefix(prefix) => {
                let prefix = prefix.as_bytes();
                match path.as_bytes().split_at_checked(prefix.len()) {
                    Some((head, rest)) => {
                        head.eq_ignore_ascii_case(prefix)
                            && (prefix.ends_with(b"/") || rest.is_empty() || rest.starts_with(b"/"))
                    }
                    None => false,
                }
            }
            PathMatch::Template(template) => template.matches_ignoring_case(path),
        }
    }
}

impl From<String> for PathMatch {
    fn from(prefix: String) -> PathMatch {
        PathMatch::Prefix(prefix)
    }
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
    /// The providers (indexes) whose tokens the route accepts; empty: every provider.
    pub providers: Vec<usize>,
    /// The audiences the route accepts (a token must name one); empty: any its provider accepts.
    pub audiences: Vec<String>,
    /// The claim conditions a token must meet here; `None`: its provider's.
    pub claim_conditions: Option<Vec<Condition>>,
    /// Whether API key and Basic callers pass a route with claim conditions (else refused: they
    /// have no claims).
    pub clients_skip_claim_conditions: bool,
    /// Template segments that must be granted to the caller (`bind`), checked in order.
    pub bindings: Vec<Binding>,
    /// `introspect`: a token must also be confirmed by its provider's introspection endpoint,
    /// by an answer at most this many seconds old (`max_cache_seconds`; 0: asked every time).
    pub introspect_within: Option<u64>,
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
    pub fn public(path: impl Into<PathMatch>, methods: Option<Vec<String>>) -> Rule {
        Rule {
            path: path.into(),
            methods,
            public: true,
            route: Route::default(),
        }
    }

    /// A rule requiring an authenticated caller meeting `route`.
    pub fn authenticated(
        path: impl Into<PathMatch>,
        methods: Option<Vec<String>>,
        route: Route,
    ) -> Rule {
        Rule {
            path: path.into(),
            methods,
            public: false,
            route,
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.path.matches(path) && self.matches_method(method)
    }

    /// [`Rule::matches`], comparing the path's ASCII letters without regard to case.
    fn matches_ignoring_case(&self, method: &str, path: &str) -> bool {
        self.path.matches_ignoring_case(path) && self.matches_method(method)
    }

    fn matches_method(&self, method: &str) -> bool {
        self.methods
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
        let index = self
            .rules
            .iter()
            .position(|rule| rule.matches(method, path));
        (index, self.requirement_of(index))
    }

    /// The requirement of the rule at `index` (as [`Rules::matching`] or
    /// [`Rules::canonical_match`] found it; `None`: the default).
    pub fn requirement_of(&self, index: Option<usize>) -> Requirement<'_> {
        match index.and_then(|index| self.rules.get(index)) {
            Some(rule) if rule.public => Requirement::Public,
            Some(rule) => Requirement::Authenticated(&rule.route),
            None => Requirement::Authenticated(&self.default),
        }
    }

    /// The path of `target` (`:path`, query included) that rules are matched against: its
    /// canonical form (ASCII letters in lower case when `letter_case` is `Insensitive`: prefixes
    /// are compiled so), refused where it cannot have one (see [`crate::request::path`]), where
    /// the canonical form and the path as written match different rules for `method` (an
    /// upstream that does not decode escaped unreserved characters could serve another route),
    /// or, with `letter_case` `Reject`, where comparing letters without regard to case would
    /// choose another rule.
    pub fn canonical_path<'r>(
        &self,
        options: PathOptions,
        method: &str,
        target: &'r str,
    ) -> Result<Cow<'r, str>, PathError> {
        self.canonical_match(options, method, target)
            .map(|(path, _)| path)
    }

    /// [`Rules::canonical_path`], with the index of the rule that path matches for `method`
    /// ([`Rules::matching`]'s), found by the same walk over the rules that the checks make: a
    /// request's path is compared with the templates once, not once per question.
    pub fn canonical_match<'r>(
        &self,
        options: PathOptions,
        method: &str,
        target: &'r str,
    ) -> Result<(Cow<'r, str>, Option<usize>), PathError> {
        let form = canonical(target, options)?;
        let fold = |path: Cow<'r, str>| match options.letter_case {
            LetterCase::Insensitive if path.bytes().any(|b| b.is_ascii_uppercase()) => {
                Cow::Owned(path.to_ascii_lowercase())
            }
            _ => path,
        };
        let path = fold(form.path);
        let mut matched = None;
        if form.decoded {
            let written = target.split_once('?').map_or(target, |(path, _)| path);
            let index = self.matching(method, &path).0;
            if index != self.matching(method, &fold(written.into())).0 {
                return Err(PathError::AmbiguousEscape);
            }
            matched = Some(index);
        }
        if options.letter_case == LetterCase::Reject {
            let first = self
                .rules
                .iter()
                .position(|rule| rule.matches_ignoring_case(method, &path));
            let rule = first.and_then(|index| self.rules.get(index));
            if rule.is_some_and(|rule| !rule.matches(method, &path)) {
                return Err(PathError::AmbiguousCase);
            }
            // A rule that matches also matches without regard to case, so no rule before
            // `first` matches: `first` is the one that does.
            matched = Some(first);
        }
        let index = matched.unwrap_or_else(|| self.matching(method, &path).0);
        Ok((path, index))
    }

    /// The rule at `index`, as the configuration wrote its match (`path_prefix` or
    /// `path_template`, `methods`).
    pub fn describe(&self, index: usize) -> Option<String> {
        let rule = self.rules.get(index)?;
        let methods = rule
            .methods
            .as_ref()
            .map_or("any method".to_string(), |m| m.join(" "));
        let path = match &rule.path {
            PathMatch::Prefix(prefix) => format!("path_prefix {prefix:?}"),
            PathMatch::Template(template) => format!("path_template {:?}", template.text()),
        };
        Some(format!(
            "{path}, {methods}{}",
            if rule.public { ", public" } else { "" }
        ))
    }
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
                Rule::public("/public".to_string(), None),
                Rule::authenticated(
                    "/devices".to_string(),
                    Some(vec!["GET".into()]),
                    scopes(&["devices:read"]),
                ),
                Rule::authenticated(
                    "/devices".to_string(),
                    Some(vec!["POST".into(), "DELETE".into()]),
                    scopes(&["devices:write"]),
                ),
                Rule::public("/static/".to_string(), None),
            ],
            Route::default(),
        )
    }

    fn template(text: &str) -> PathMatch {
        PathMatch::Template(PathTemplate::parse(text).unwrap())
    }

    #[test]
    fn templates_and_prefixes_are_tried_in_order() {
        let rules = Rules::new(
            vec![
                Rule::authenticated(
                    template("/accounts/{a}/devices/{id}"),
                    None,
                    scopes(&["one"]),
                ),
                Rule::authenticated("/accounts".to_string(), None, scopes(&["two"])),
            ],
            Route::default(),
        );
        assert_eq!(rules.matching("GET", "/accounts/a1/devices/7").0, Some(0));
        assert_eq!(rules.matching("GET", "/accounts/a1/devices").0, Some(1));
        assert_eq!(rules.matching("GET", "/other").0, None);
        assert_eq!(
            rules.describe(0).unwrap(),
            "path_template \"/accounts/{a}/devices/{id}\", any method"
        );
    }

    #[test]
    fn a_template_whose_rule_changes_with_letter_case_is_refused() {
        let rules = Rules::new(
            vec![Rule::authenticated(
                template("/accounts/{a}"),
                None,
                scopes(&["one"]),
            )],
            Route::default(),
        );
        let options = PathOptions::default();
        assert_eq!(
            rules.canonical_path(options, "GET", "/ACCOUNTS/a1"),
            Err(PathError::AmbiguousCase)
        );
        assert!(rules.canonical_path(options, "GET", "/accounts/A1").is_ok());
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
}
