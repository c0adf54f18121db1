//! Tokens in the URL (`?token=...`): opt-in, discouraged (URLs end up in logs and browser
//! history), and never forwarded: the parameter is cut out of `:path`, leaving the rest of the
//! query string exactly as it was.

/// What the query string holds under the token parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryToken {
    /// The parameter is absent.
    Absent,
    /// One token, and the path without the parameter.
    Found {
        /// The percent-decoded token.
        token: String,
        /// `:path` with the parameter removed.
        path_without: String,
    },
    /// The parameter appears more than once (refused), and the path without any of them.
    Repeated {
        /// `:path` with every occurrence of the parameter removed.
        path_without: String,
    },
}

impl QueryToken {
    /// `:path` without the token parameter, if it had one: what the upstream gets.
    pub fn path_without(&self) -> Option<&str> {
        match self {
            QueryToken::Absent => None,
            QueryToken::Found { path_without, .. } | QueryToken::Repeated { path_without } => {
                Some(path_without)
            }
        }
    }
}

/// Looks for `param` in the query string of `path`: the one read of it a request needs.
pub fn find(path: &str, param: &str) -> QueryToken {
    match split(path, param) {
        None => QueryToken::Absent,
        Some(parts) if parts.tokens.len() == 1 => QueryToken::Found {
            token: parts.tokens.into_iter().next().unwrap_or_default(),
            path_without: parts.path_without,
        },
        Some(parts) => QueryToken::Repeated {
            path_without: parts.path_without,
        },
    }
}

struct Split {
    tokens: Vec<String>,
    path_without: String,
}

/// The values of `param` (percent-decoded; empty where malformed) and the path without them.
fn split(path: &str, param: &str) -> Option<Split> {
    let (base, rest) = path.split_once('?')?;
    let (query, fragment) = match rest.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (rest, None),
    };
    let mut tokens = Vec::new();
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(name).as_deref() == Some(param) {
            tokens.push(percent_decode(value).unwrap_or_default());
        } else {
            kept.push(pair);
        }
    }
    if tokens.is_empty() {
        return None;
    }
    let mut path_without = base.to_string();
    if !kept.is_empty() {
        path_without.push('?');
        path_without.push_str(&kept.join("&"));
    }
    if let Some(fragment) = fragment {
        path_without.push('#');
        path_without.push_str(fragment);
    }
    Some(Split {
        tokens,
        path_without,
    })
}

/// `path` with every occurrence of `param` removed, or `None` if it has none.
pub fn strip(path: &str, param: &str) -> Option<String> {
    split(path, param).map(|parts| parts.path_without)
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            // Two hex digits exactly (`u8::from_str_radix` alone would take `+a`).
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_cut_out_and_the_rest_of_the_query_kept() {
        assert_eq!(
            find("/files/a?x=1&token=aa.bb.cc&y=%20z", "token"),
            QueryToken::Found {
                token: "aa.bb.cc".into(),
                path_without: "/files/a?x=1&y=%20z".into()
            }
        );
        assert_eq!(
            find("/files?token=aa.bb.cc", "token"),
            QueryToken::Found {
                token: "aa.bb.cc".into(),
                path_without: "/files".into()
            }
        );
        assert_eq!(
            find("/f?tok%65n=a%2Eb.c#frag", "token"),
            QueryToken::Found {
                token: "a.b.c".into(),
                path_without: "/f#frag".into()
            }
        );
    }

    #[test]
    fn absent_and_similar_names_are_not_tokens() {
        assert_eq!(find("/files", "token"), QueryToken::Absent);
        assert_eq!(
            find("/files?tokens=1&xtoken=2", "token"),
            QueryToken::Absent
        );
    }

    #[test]
    fn repeated_parameter_is_ambiguous_and_stripped_entirely() {
        assert_eq!(
            find("/f?token=a&token=b&x=1", "token"),
            QueryToken::Repeated {
                path_without: "/f?x=1".into()
            }
        );
        assert_eq!(
            strip("/f?token=a&x=1&token=b", "token").as_deref(),
            Some("/f?x=1")
        );
        assert_eq!(strip("/f?x=1", "token"), None);
    }

    #[test]
    fn malformed_escapes_give_an_empty_token() {
        assert_eq!(
            find("/f?token=%zz", "token"),
            QueryToken::Found {
                token: String::new(),
                path_without: "/f".into()
            }
        );
    }

    #[test]
    fn an_escape_is_two_hex_digits_exactly() {
        assert_eq!(percent_decode("a%2Bb").as_deref(), Some("a+b"));
        for malformed in ["%+a", "%-1", "% a", "%a", "%"] {
            assert_eq!(percent_decode(malformed), None, "{malformed}");
        }
    }
}
