//! Tokens in a cookie (`Cookie: access_token=...`): opt-in, for same-site browser apps only
//! (a browser attaches cookies to every request to the site, whoever's page makes it), and
//! never forwarded: the token cookie is cut out of the `Cookie` header(s), the other cookies are
//! kept byte for byte, and a `Cookie` header left empty is removed.
//!
//! Parsing follows RFC 6265 §4.2.1 and §5.4 (`name=value` pairs separated by `; `) and is
//! tolerant of the form: a missing or extra space, several `Cookie` headers (HTTP/2 sends one
//! per cookie; Envoy joins them with `; `), and a comma as a separator (no cookie-octet is a
//! comma, so a comma means headers a proxy joined as a list). Names are compared exactly, as
//! browsers do. The token's value is strict: a token68 (RFC 9110 §11.2: letters, digits,
//! `-._~+/`, then `=` padding), optionally wrapped in one pair of double quotes (RFC 6265's
//! quoted cookie-value), which are not part of the token. The token cookie twice is ambiguous
//! and refused, never "first wins".

/// What the `Cookie` headers hold under the token cookie's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieToken {
    /// No cookie of that name: the `Cookie` headers pass unchanged.
    Absent,
    /// One token (empty if the cookie is empty), and the other cookies.
    Found {
        /// The token, without quotes.
        token: String,
        /// The other cookies, as one `Cookie` value; empty when there are none.
        others: String,
    },
    /// The cookie once, with a value that is not a token68 (refused), and the other cookies.
    Malformed {
        /// The other cookies, as one `Cookie` value; empty when there are none.
        others: String,
    },
    /// The cookie more than once (refused), and the other cookies.
    Repeated {
        /// The other cookies, as one `Cookie` value; empty when there are none.
        others: String,
    },
}

impl CookieToken {
    /// The `Cookie` value the upstream gets, if the token cookie was there: empty when no other
    /// cookie is left (the header is then removed).
    pub fn others(&self) -> Option<&str> {
        match self {
            CookieToken::Absent => None,
            CookieToken::Found { others, .. }
            | CookieToken::Malformed { others }
            | CookieToken::Repeated { others } => Some(others),
        }
    }
}

/// Looks for cookie `name` in the values of the request's `Cookie` headers: the one read of
/// them a request needs.
pub fn find<'v>(values: impl IntoIterator<Item = &'v str>, name: &str) -> CookieToken {
    let mut values_found: Vec<&str> = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    for value in values {
        let rest = without(value, name, &mut values_found);
        if !rest.trim_matches(is_whitespace).is_empty() {
            kept.push(rest);
        }
    }
    let others = kept.join("; ");
    match values_found.as_slice() {
        [] => CookieToken::Absent,
        [value] => match token_value(value) {
            Some(token) => CookieToken::Found {
                token: token.to_string(),
                others,
            },
            None => CookieToken::Malformed { others },
        },
        _ => CookieToken::Repeated { others },
    }
}

/// `value` (one `Cookie` header) without the pairs named `name`, whose values are pushed to
/// `found`. The separators and spaces of the pairs kept are as they were.
fn without<'v>(value: &'v str, name: &str, found: &mut Vec<&'v str>) -> String {
    let mut rest = String::with_capacity(value.len());
    let mut first = true;
    let mut start = 0;
    // Each pair with the separator before it (none for the first).
    let mut separator: Option<char> = None;
    for (at, c) in value
        .char_indices()
        .chain(std::iter::once((value.len(), ';')))
    {
        if at < value.len() && c != ';' && c != ',' {
            continue;
        }
        let pair = value.get(start..at).unwrap_or_default();
        let (pair_name, pair_value) = pair.split_once('=').unwrap_or((pair, ""));
        if pair.contains('=') && pair_name.trim_matches(is_whitespace) == name {
            found.push(pair_value);
        } else if first {
            rest.push_str(pair.trim_start_matches(is_whitespace));
            first = false;
        } else {
            rest.extend(separator);
            rest.push_str(pair);
        }
        separator = Some(c);
        start = at + c.len_utf8();
    }
    rest
}

/// The token in a cookie's value: optional surrounding spaces and one pair of quotes removed,
/// then a token68 or nothing; `None` if it is anything else.
fn token_value(value: &str) -> Option<&str> {
    let value = value.trim_matches(is_whitespace);
    let value = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => value,
    };
    let body = value.trim_end_matches('=');
    let token68 = body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    // Padding alone is no token.
    (token68 && (body.len() == value.len() || !body.is_empty())).then_some(value)
}

/// RFC 6265's optional whitespace: space and horizontal tab.
fn is_whitespace(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(token: &str, others: &str) -> CookieToken {
        CookieToken::Found {
            token: token.into(),
            others: others.into(),
        }
    }

    #[test]
    fn token_is_cut_out_and_the_other_cookies_kept_as_they_were() {
        let name = "access_token";
        assert_eq!(
            find(["a=1; access_token=aa.bb.cc; b=2"], name),
            found("aa.bb.cc", "a=1; b=2")
        );
        assert_eq!(find(["access_token=x.y.z"], name), found("x.y.z", ""));
        assert_eq!(
            find(["access_token=x.y.z; theme=dark"], name),
            found("x.y.z", "theme=dark")
        );
        assert_eq!(
            find(["theme=dark;access_token=x.y.z"], name),
            found("x.y.z", "theme=dark")
        );
        // Spacing and odd pairs of the other cookies are theirs to keep.
        assert_eq!(
            find(["a=1;b=\"q r\" ;  access_token = x.y.z ;c;d="], name),
            found("x.y.z", "a=1;b=\"q r\" ;c;d=")
        );
    }

    #[test]
    fn several_cookie_headers_are_read_and_joined_for_the_upstream() {
        let name = "access_token";
        assert_eq!(
            find(["a=1", "access_token=x.y.z", "b=2"], name),
            found("x.y.z", "a=1; b=2")
        );
        assert_eq!(find(["access_token=x.y.z"], name), found("x.y.z", ""));
        // Headers a proxy joined with a comma.
        assert_eq!(
            find(["a=1, access_token=x.y.z, b=2"], name),
            found("x.y.z", "a=1, b=2")
        );
    }

    #[test]
    fn absent_and_similar_names_are_not_tokens() {
        let name = "access_token";
        assert_eq!(find([], name), CookieToken::Absent);
        assert_eq!(
            find(["access_tokens=1; Access_Token=2; xaccess_token=3"], name),
            CookieToken::Absent
        );
        // A pair without `=` is a value with an empty name (RFC 6265bis), never the token.
        assert_eq!(find(["access_token"], name), CookieToken::Absent);
        assert_eq!(find(["a=access_token=x"], name), CookieToken::Absent);
    }

    #[test]
    fn the_cookie_twice_is_ambiguous_in_one_header_or_across_several() {
        let name = "t";
        assert_eq!(
            find(["t=a; x=1; t=b"], name),
            CookieToken::Repeated {
                others: "x=1".into()
            }
        );
        assert_eq!(
            find(["t=a", "x=1", "t=a"], name),
            CookieToken::Repeated {
                others: "x=1".into()
            }
        );
        assert_eq!(
            find(["t=a; t="], name),
            CookieToken::Repeated {
                others: String::new()
            }
        );
    }

    #[test]
    fn the_value_is_a_token68_optionally_quoted() {
        let name = "t";
        for (cookie, token) in [
            ("t=a.b.c", "a.b.c"),
            ("t=\"a.b.c\"", "a.b.c"),
            ("t=abc+/=", "abc+/="),
            ("t=ab-_~", "ab-_~"),
            ("t=", ""),
            ("t=\"\"", ""),
        ] {
            assert_eq!(find([cookie], name), found(token, ""), "{cookie}");
        }
        for cookie in [
            "t=a\"b",
            "t=\"a.b.c",
            "t=a.b.c\"",
            "t=a b",
            "t=a%2Eb",
            "t===",
            "t=a=b",
            "t=\"",
            "t=é",
            "t=a\\b",
        ] {
            assert_eq!(
                find([cookie], name),
                CookieToken::Malformed {
                    others: String::new()
                },
                "{cookie}"
            );
        }
    }

    #[test]
    fn others_say_what_the_upstream_gets() {
        assert_eq!(CookieToken::Absent.others(), None);
        assert_eq!(find(["t=a; x=1"], "t").others(), Some("x=1"));
        assert_eq!(find(["t=a"], "t").others(), Some(""));
    }

    #[test]
    fn any_input_is_parsed_without_panic() {
        for value in [
            "",
            ";",
            ",",
            "=",
            ";;=;",
            "t",
            "\u{e9}t=\u{e9};",
            "t=\"",
            " t = ; , t",
        ] {
            let _ = find([value, value], "t");
        }
    }
}
