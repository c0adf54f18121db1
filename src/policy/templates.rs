//! Path templates: a rule's `path_template` (`/accounts/{account}/devices/{id}`, optionally
//! ending in `/**`), parsed once and matched segment-wise against the canonical path of
//! [`crate::request::path`], and the bindings that require a captured segment to be granted to
//! the caller (checked in [`crate::policy::caller::check_bindings`]).
//!
//! Matching, exactly:
//! - the path (without query) and the template are split on `/` after the leading one; a `%2F`
//!   kept as data (`encoded_delimiters: keep`) is three characters of a segment, never a
//!   separator;
//! - a literal segment equals the path's segment byte for byte (case-sensitive; the caller folds
//!   both to lower case where the policy compares letters without regard to case);
//! - a variable `{name}` matches exactly one non-empty segment (`/accounts/` has no account);
//! - a final `**` matches the rest: zero or more segments, so `/a/**` covers `/a` and `/a/b/c`
//!   as the prefix `/a` does; without it the path has exactly the template's segments.
//!
//! A captured segment is the canonical path's spelling: escaped unreserved characters decoded
//! (`%61` is `a`), every other escape kept with upper-case hex digits (`%2F`, `%C3%A9`).
//! Dot-segments and empty segments never reach matching: the canonical path refuses them.

use std::fmt;

use crate::jwt::claims::ClaimPath;

/// Longest template accepted.
pub const MAX_TEMPLATE_BYTES: usize = 1024;

/// A compiled `path_template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
    /// Ends in `/**`: the rest of the path, zero or more segments.
    rest: bool,
}

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches this text exactly.
    Literal(String),
    /// Matches any one non-empty segment.
    Variable(String),
}

/// Why a template is refused. The `Display` text follows the field name in the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// It does not start with `/`.
    NotAbsolute,
    /// Longer than [`MAX_TEMPLATE_BYTES`].
    TooLong,
    /// An empty segment (`//`) other than a final trailing slash.
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// A character a canonical path segment never has as a literal (`%`, `;`, `?`, `#`, `\`,
    /// `{`, `}`, `*`, control characters, spaces, non-ASCII).
    BadCharacter(char),
    /// A `{...}` whose name is not `[A-Za-z_][A-Za-z0-9_]*`, or braces inside a segment.
    BadVariable(String),
    /// A variable named twice.
    DuplicateVariable(String),
    /// `**` other than as the last segment.
    MisplacedWildcard,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::NotAbsolute => f.write_str("must start with '/'"),
            TemplateError::TooLong => write!(f, "at most {MAX_TEMPLATE_BYTES} bytes"),
            TemplateError::EmptySegment => {
                f.write_str("has an empty segment (//): requests with one are refused")
            }
            TemplateError::DotSegment => {
                f.write_str("has a dot-segment (. or ..): requests with one are refused")
            }
            TemplateError::BadCharacter(c) => write!(
                f,
                "has {c:?}: literal segments are written as requests are matched (no %, ;, *, braces, spaces or non-ASCII)"
            ),
            TemplateError::BadVariable(text) => write!(
                f,
                "{text:?} is not a variable: write a whole segment {{name}}, name [A-Za-z_][A-Za-z0-9_]*"
            ),
            TemplateError::DuplicateVariable(name) => {
                write!(f, "names the variable {{{name}}} twice")
            }
            TemplateError::MisplacedWildcard => {
                f.write_str("has ** other than as its last segment")
            }
        }
    }
}

impl std::error::Error for TemplateError {}

/// Whether `name` is a variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `c` may be written in a literal segment: RFC 3986 `pchar` without escapes, `;` and
/// `*` (so that a literal is already in canonical form and `**` is never a literal).
fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()+,=:@".contains(c)
}

/// One segment of the template text.
fn parse_segment(text: &str) -> Result<Segment, TemplateError> {
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        return if is_name(inner) {
            Ok(Segment::Variable(inner.to_string()))
        } else {
            Err(TemplateError::BadVariable(text.to_string()))
        };
    }
    if text.contains(['{', '}']) {
        return Err(TemplateError::BadVariable(text.to_string()));
    }
    if text == "." || text == ".." {
        return Err(TemplateError::DotSegment);
    }
    if let Some(bad) = text.chars().find(|c| !is_literal_char(*c)) {
        return Err(TemplateError::BadCharacter(bad));
    }
    Ok(Segment::Literal(text.to_string()))
}

impl PathTemplate {
    /// Parses `text` (see the module doc).
    pub fn parse(text: &str) -> Result<PathTemplate, TemplateError> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLong);
        }
        let body = text.strip_prefix('/').ok_or(TemplateError::NotAbsolute)?;
        let mut parts: Vec<&str> = body.split('/').collect();
        let rest = parts.last() == Some(&"**");
        if rest {
            parts.pop();
        }
        let last = parts.len().saturating_sub(1);
        let mut segments: Vec<Segment> = Vec::with_capacity(parts.len());
        for (at, part) in parts.into_iter().enumerate() {
            if part == "**" {
                return Err(TemplateError::MisplacedWildcard);
            }
            // A trailing slash (`/`, `/a/`) is an empty last segment; any other is `//`.
            if part.is_empty() && (at != last || rest) {
                return Err(TemplateError::EmptySegment);
            }
            let segment = parse_segment(part)?;
            if let Segment::Variable(name) = &segment {
                if segments.contains(&segment) {
                    return Err(TemplateError::DuplicateVariable(name.clone()));
                }
            }
            segments.push(segment);
        }
        Ok(PathTemplate {
            text: text.to_string(),
            segments,
            rest,
        })
    }

    /// The template as configured.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The template with its literals in ASCII lower case (for policies that compare letters
    /// without regard to case: paths are matched in lower case).
    pub fn lower_cased(mut self) -> PathTemplate {
        for segment in &mut self.segments {
            if let Segment::Literal(text) = segment {
                text.make_ascii_lowercase();
            }
        }
        self
    }

    /// The index of the segment variable `name` captures, if the template has it.
    pub fn variable_index(&self, name: &str) -> Option<usize> {
        self.segments
            .iter()
            .position(|s| matches!(s, Segment::Variable(n) if n == name))
    }

    /// The variables' names, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Variable(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Whether `path` (canonical, without query) matches, literals compared case-sensitively.
    pub fn matches(&self, path: &str) -> bool {
        self.matches_by(path, |a, b| a == b)
    }

    /// [`PathTemplate::matches`], comparing literals' ASCII letters without regard to case.
    pub fn matches_ignoring_case(&self, path: &str) -> bool {
        self.matches_by(path, |a, b| a.eq_ignore_ascii_case(b))
    }

    fn matches_by(&self, path: &str, same: impl Fn(&str, &str) -> bool) -> bool {
        let Some(body) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = Segments(Some(body));
        for segment in &self.segments {
            let Some(part) = parts.next() else {
                return false;
            };
            let ok = match segment {
                Segment::Literal(text) => same(text, part),
                Segment::Variable(_) => !part.is_empty(),
            };
            if !ok {
                return false;
            }
        }
        self.rest || parts.next().is_none()
    }
}

/// The segment at `index` of `path` (as [`PathTemplate::variable_index`] counts: after the
/// leading `/`).
pub fn segment_at(path: &str, index: usize) -> Option<&str> {
    Segments(Some(path.strip_prefix('/')?)).nth(index)
}

/// The `/`-separated parts of a path after its leading `/`, as `str::split('/')` gives them
/// (empty ones included), found by a plain byte loop: the generic `char` searcher costs more
/// than the few bytes of a segment on a cache hit's path (templates are walked on every request).
struct Segments<'p>(Option<&'p str>);

impl<'p> Iterator for Segments<'p> {
    type Item = &'p str;

    fn next(&mut self) -> Option<&'p str> {
        let rest = self.0?;
        match rest.bytes().position(|byte| byte == b'/') {
            // `/` is ASCII: both sides of it are on character boundaries.
            Some(slash) => {
                self.0 = rest.get(slash + 1..);
                rest.get(..slash)
            }
            None => {
                self.0 = None;
                Some(rest)
            }
        }
    }
}

/// A captured segment that must be granted to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The template variable.
    pub variable: String,
    /// The index of the segment it captures.
    pub segment: usize,
    /// What the segment must be one of.
    pub source: BindingSource,
}

/// Where the values a bound segment must be among come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingSource {
    /// One of a token's string values at this claim (its elements, for an array).
    Claim {
        /// The claim.
        path: ClaimPath,
        /// Its slot in the policy's claim table (every identity's `claim_values`).
        slot: usize,
    },
    /// One of the applications the credential grants (a token's apps claim, a client's `apps`).
    Applications,
    /// Equal to this request header (lower-case name), present exactly once.
    Header(String),
}

impl BindingSource {
    /// What the configuration wrote, for descriptions and `edge-auth explain` (never a value).
    pub fn describe(&self) -> String {
        match self {
            BindingSource::Claim { path, .. } => format!("the claim {}", path.text()),
            BindingSource::Applications => "the credential's applications".to_string(),
            BindingSource::Header(name) => format!("the header {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> PathTemplate {
        PathTemplate::parse(text).unwrap()
    }

    #[test]
    fn variables_match_one_non_empty_segment() {
        let t = template("/accounts/{account}/devices/{id}");
        assert!(t.matches("/accounts/a1/devices/7"));
        assert!(!t.matches("/accounts/a1/devices"));
        assert!(!t.matches("/accounts/a1/devices/7/x"));
        assert!(!t.matches("/accounts//devices/7"));
        assert!(!t.matches("/accounts/a1/devices/"));
        assert_eq!(t.variable_index("id"), Some(3));
        assert_eq!(segment_at("/accounts/a1/devices/7", 1), Some("a1"));
    }

    #[test]
    fn a_final_wildcard_matches_zero_or_more_segments() {
        let t = template("/odata/applications/{appId}/**");
        assert!(t.matches("/odata/applications/app1"));
        assert!(t.matches("/odata/applications/app1/"));
        assert!(t.matches("/odata/applications/app1/Devices/x"));
        assert!(!t.matches("/odata/applications"));
        assert!(!t.matches("/odata/applications/"));
        assert!(template("/**").matches("/"));
        assert!(template("/**").matches("/anything/at/all"));
    }

    #[test]
    fn literals_compare_case_sensitively_and_encoded_slashes_never_split() {
        let t = template("/accounts/{account}");
        assert!(!t.matches("/Accounts/a1"));
        assert!(t.matches_ignoring_case("/Accounts/a1"));
        assert!(t.matches("/accounts/a%2Fb"));
        assert!(!template("/accounts/{account}/{x}").matches("/accounts/a%2Fb"));
        assert_eq!(segment_at("/accounts/a%2Fb", 1), Some("a%2Fb"));
    }

    #[test]
    fn a_trailing_slash_is_literal() {
        assert!(template("/").matches("/"));
        assert!(!template("/").matches("/a"));
        assert!(template("/a/").matches("/a/"));
        assert!(!template("/a/").matches("/a"));
        assert!(!template("/a").matches("/a/"));
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        use TemplateError::*;
        for (text, error) in [
            ("accounts/{a}", NotAbsolute),
            ("/a//b", EmptySegment),
            ("//**", EmptySegment),
            ("/a/../b", DotSegment),
            ("/a/./b", DotSegment),
            ("/a%2Fb", BadCharacter('%')),
            ("/a;b", BadCharacter(';')),
            ("/a*", BadCharacter('*')),
            ("/é", BadCharacter('é')),
            ("/a b", BadCharacter(' ')),
            ("/x{a}", BadVariable("x{a}".into())),
            ("/{1a}", BadVariable("{1a}".into())),
            ("/{}", BadVariable("{}".into())),
            ("/{a-b}", BadVariable("{a-b}".into())),
            ("/{a}/{a}", DuplicateVariable("a".into())),
            ("/**/a", MisplacedWildcard),
        ] {
            assert_eq!(PathTemplate::parse(text), Err(error), "{text}");
        }
        let long = format!("/{}", "a".repeat(MAX_TEMPLATE_BYTES));
        assert_eq!(PathTemplate::parse(&long), Err(TooLong));
        assert_eq!(
            BadCharacter('%').to_string(),
            "has '%': literal segments are written as requests are matched (no %, ;, *, braces, spaces or non-ASCII)"
        );
    }

    #[test]
    fn segments_are_what_split_gives() {
        for body in [
            "", "a", "a/b", "a//b", "/", "a/", "/a", "é/ü/", "a%2Fb/c", "//",
        ] {
            let ours: Vec<&str> = Segments(Some(body)).collect();
            let split: Vec<&str> = body.split('/').collect();
            assert_eq!(ours, split, "{body:?}");
        }
    }

    #[test]
    fn variables_are_listed_in_order() {
        let t = template("/a/{_x}/b/{Y9}/**");
        assert_eq!(t.variables().collect::<Vec<_>>(), ["_x", "Y9"]);
        assert_eq!(t.variable_index("nope"), None);
    }
}
