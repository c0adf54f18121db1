//! The request as the core sees it, and finding the bearer token in it.
//!
//! Token sources are tried in the configured order; the first header that is present and
//! starts with its scheme prefix (compared case-insensitively) supplies the token. Only that
//! header is consumed: every other header, including a client's own `Authorization` when the
//! token came in an alternate header, passes upstream untouched.

/// An HTTP request, reduced to what the decision needs. Header names are compared
/// case-insensitively; Envoy hands them over lower-cased.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `:method`.
    pub method: String,
    /// `:path`, including the query string.
    pub path: String,
    /// All headers in arrival order, duplicates kept.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Builds a request from a header list carrying `:method` and `:path` pseudo-headers.
    pub fn from_headers(headers: Vec<(String, String)>) -> Request {
        let pseudo = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Request {
            method: pseudo(":method"),
            path: pseudo(":path"),
            headers: Vec::new(),
        }
        .with_headers(headers)
    }

    fn with_headers(mut self, headers: Vec<(String, String)>) -> Request {
        self.headers = headers;
        self
    }

    /// Values of every header called `name`.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether header `name` appears at all.
    pub fn has_header(&self, name: &str) -> bool {
        self.header_values(name).next().is_some()
    }

    /// The path without query string or fragment.
    pub fn path_only(&self) -> &str {
        let end = self.path.find(['?', '#']).unwrap_or(self.path.len());
        &self.path[..end]
    }
}

/// A header that may carry a bearer token, with its scheme prefix (e.g. `Bearer `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSource {
    header: String,
    prefix: String,
}

/// A bearer token found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken<'a> {
    /// The header it was read from (to be removed before the upstream).
    pub header: &'a str,
    /// The token itself.
    pub token: &'a str,
}

/// Why the request's credential could not even be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    /// The token header appears more than once.
    RepeatedHeader,
    /// The header has the scheme but no token after it.
    EmptyToken,
}

impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialError::RepeatedHeader => "more than one credential in the credential header",
            CredentialError::EmptyToken => "the credential header carries no token",
        })
    }
}

impl TokenSource {
    /// A source reading `header` (lower-case) with scheme `prefix` (may be empty).
    pub fn new(header: &str, prefix: &str) -> TokenSource {
        TokenSource {
            header: header.to_ascii_lowercase(),
            prefix: prefix.to_string(),
        }
    }

    /// The header name.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The token in this source's header, if the header is present with the scheme prefix.
    fn read<'a>(
        &'a self,
        request: &'a Request,
    ) -> Result<Option<BearerToken<'a>>, CredentialError> {
        let mut values = request.header_values(&self.header);
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(CredentialError::RepeatedHeader);
        }
        let value = value.trim_start();
        let Some(head) = value.get(..self.prefix.len()) else {
            // Shorter than the prefix: the scheme itself with nothing after it, or another scheme.
            return if self
                .prefix
                .trim_end()
                .eq_ignore_ascii_case(value.trim_end())
                && !self.prefix.is_empty()
            {
                Err(CredentialError::EmptyToken)
            } else {
                Ok(None)
            };
        };
        if !head.eq_ignore_ascii_case(&self.prefix) {
            return Ok(None);
        }
        let token = value[self.prefix.len()..].trim_matches(' ');
        if token.is_empty() {
            return Err(CredentialError::EmptyToken);
        }
        // Envoy joins repeated headers with commas, and no token may contain one.
        if token.contains(',') {
            return Err(CredentialError::RepeatedHeader);
        }
        Ok(Some(BearerToken {
            header: &self.header,
            token,
        }))
    }
}

/// Finds the bearer token: the first configured source that carries one.
pub fn find_bearer<'a>(
    sources: &'a [TokenSource],
    request: &'a Request,
) -> Result<Option<BearerToken<'a>>, CredentialError> {
    for source in sources {
        if let Some(found) = source.read(request)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn sources() -> Vec<TokenSource> {
        vec![
            TokenSource::new("x-rpz-auth", "Bearer "),
            TokenSource::new("authorization", "Bearer "),
        ]
    }

    #[test]
    fn alternate_header_wins_and_authorization_is_left_alone() {
        let sources = sources();
        let req = request(&[
            ("authorization", "Basic dXNlcjpwdw=="),
            ("x-rpz-auth", "Bearer abc.def.ghi"),
        ]);
        let found = find_bearer(&sources, &req).unwrap().unwrap();
        assert_eq!(
            found,
            BearerToken {
                header: "x-rpz-auth",
                token: "abc.def.ghi"
            }
        );
    }

    #[test]
    fn scheme_prefix_matches_case_insensitively() {
        let sources = sources();
        let req = request(&[("Authorization", "bEaReR tok")]);
        assert_eq!(find_bearer(&sources, &req).unwrap().unwrap().token, "tok");
    }

    #[test]
    fn another_scheme_is_not_a_bearer_token() {
        let sources = sources();
        assert_eq!(
            find_bearer(&sources, &request(&[("authorization", "Basic abc")])).unwrap(),
            None
        );
        assert_eq!(
            find_bearer(&sources, &request(&[("authorization", "Bear")])).unwrap(),
            None
        );
        assert_eq!(find_bearer(&sources, &request(&[])).unwrap(), None);
    }

    #[test]
    fn scheme_without_token_is_malformed() {
        let sources = sources();
        assert_eq!(
            find_bearer(&sources, &request(&[("authorization", "Bearer ")])),
            Err(CredentialError::EmptyToken)
        );
        assert_eq!(
            find_bearer(&sources, &request(&[("authorization", "Bearer")])),
            Err(CredentialError::EmptyToken)
        );
    }

    #[test]
    fn repeated_token_header_is_malformed() {
        let sources = sources();
        let req = request(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert_eq!(
            find_bearer(&sources, &req),
            Err(CredentialError::RepeatedHeader)
        );
    }

    #[test]
    fn comma_joined_values_are_several_credentials() {
        let sources = sources();
        let req = request(&[("authorization", "Bearer a.b.c,Bearer d.e.f")]);
        assert_eq!(
            find_bearer(&sources, &req),
            Err(CredentialError::RepeatedHeader)
        );
    }

    #[test]
    fn empty_prefix_takes_the_whole_value() {
        let sources = vec![TokenSource::new("X-Token", "")];
        let req = request(&[("x-token", "raw.token.value")]);
        assert_eq!(
            find_bearer(&sources, &req).unwrap().unwrap(),
            BearerToken {
                header: "x-token",
                token: "raw.token.value"
            }
        );
    }

    #[test]
    fn request_from_headers_reads_pseudo_headers() {
        let req = Request::from_headers(vec![
            (":method".into(), "POST".into()),
            (":path".into(), "/a?b=c".into()),
        ]);
        assert_eq!(req.method, "POST");
        assert_eq!(req.path_only(), "/a");
    }
}
