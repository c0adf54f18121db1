//! The request as the core sees it, and finding the caller's credential in it.
//!
//! Credential kinds: a JWT (from a token header or, opt-in, the query string or a cookie), an API key pair
//! (id and secret headers), and HTTP Basic `id:secret`. Token headers are tried in the configured
//! order; the first that is present and starts with its scheme prefix (compared
//! case-insensitively) supplies the JWT. When that header is not `Authorization`, the client's
//! `Authorization` is its own business and is not read as a credential. Presenting two
//! credentials at once is refused, never resolved in either's favour (a token cookie with an
//! `Authorization` header too is two). Only the headers a credential came in are consumed; every
//! other header passes upstream untouched. The query token and the token cookie are read once
//! ([`Embedded`]), since the decision also cuts them from what the upstream gets, whatever it
//! decides.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::request::cookie_token::{self, CookieToken};
use crate::request::query_token::{self, QueryToken};

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
    /// The downstream peer address Envoy reports (`source.address`).
    pub source_address: Option<IpAddr>,
    /// The downstream TLS version Envoy reports (`connection.tls_version`); `None` for plain text.
    pub tls_version: Option<String>,
    /// Hex SHA-256 of the client certificate's DER
    /// (`connection.sha256_peer_certificate_digest`), read only for certificate-bound tokens.
    pub peer_certificate_sha256: Option<String>,
    /// The workers' random DPoP nonce key, read from shared data by the host only when server
    /// nonces are on (`dpop.nonce_lifetime_seconds`) without configured `dpop.nonce_keys`.
    pub dpop_nonce_key: Option<NonceKey>,
}

/// A DPoP server-nonce key: 32 bytes nonces are issued and checked with
/// ([`crate::policy::sender::dpop_nonce`]), one of the configured `dpop.nonce_keys` or the
/// workers' random one. Whoever has it can make nonces, so its `Debug` prints nothing of it: a
/// logged or printed [`Request`] or policy never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct NonceKey([u8; NonceKey::BYTES]);

impl NonceKey {
    /// Bytes of a key.
    pub const BYTES: usize = 32;

    /// The key in these bytes, or `None` if they are not [`NonceKey::BYTES`] long.
    pub fn from_bytes(bytes: &[u8]) -> Option<NonceKey> {
        <[u8; NonceKey::BYTES]>::try_from(bytes).ok().map(NonceKey)
    }

    /// The key material, for the MAC.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
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
            source_address: None,
            tls_version: None,
            peer_certificate_sha256: None,
            dpop_nonce_key: None,
        }
        .with_headers(headers)
    }

    fn with_headers(mut self, headers: Vec<(String, String)>) -> Request {
        self.headers = headers;
        self
    }

    /// The value of header `name` if it appears at most once; an error if repeated.
    pub fn single_header<'r>(&'r self, name: &str) -> Result<Option<&'r str>, CredentialError> {
        let mut values = self.header_values(name);
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => Ok(Some(value)),
            _ => Err(CredentialError::RepeatedHeader),
        }
    }

    /// Values of every header called `name`.
    pub fn header_values<'r, 'n>(
        &'r self,
        name: &'n str,
    ) -> impl Iterator<Item = &'r str> + use<'r, 'n> {
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
pub struct BearerToken<'s, 'r> {
    /// The header it was read from (to be removed before the upstream).
    pub header: &'s str,
    /// The token itself.
    pub token: &'r str,
}

/// Why the request's credential could not even be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    /// The token header appears more than once.
    RepeatedHeader,
    /// The header has the scheme but no token after it.
    EmptyToken,
    /// Only one half of the API key pair was sent.
    IncompleteKeyPair,
    /// `Authorization: Basic` that is not base64 of `id:secret`.
    MalformedBasic,
    /// More than one credential in one request.
    SeveralCredentials,
    /// The token cookie's value is not a token68.
    MalformedCookie,
    /// The token cookie appears more than once.
    RepeatedCookie,
}

impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialError::RepeatedHeader => "more than one credential in the credential header",
            CredentialError::EmptyToken => "the credential carries no token",
            CredentialError::IncompleteKeyPair => "the API key pair is incomplete",
            CredentialError::MalformedBasic => "the Basic credential is not base64 of id:secret",
            CredentialError::SeveralCredentials => "more than one credential was presented",
            CredentialError::MalformedCookie => "the token cookie's value is not a token",
            CredentialError::RepeatedCookie => "the token cookie appears more than once",
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
    fn read<'s, 'r>(
        &'s self,
        request: &'r Request,
    ) -> Result<Option<BearerToken<'s, 'r>>, CredentialError> {
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
pub fn find_bearer<'s, 'r>(
    sources: &'s [TokenSource],
    request: &'r Request,
) -> Result<Option<BearerToken<'s, 'r>>, CredentialError> {
    for source in sources {
        if let Some(found) = source.read(request)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The kinds of credential, as rules name them (`"accept": ["jwt", "api_key", "basic"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A bearer JWT, from a header or the query string.
    Jwt,
    /// An API key id/secret header pair.
    ApiKey,
    /// HTTP Basic `id:secret`.
    Basic,
}

impl CredentialKind {
    /// Every kind.
    pub const ALL: [CredentialKind; 3] = [
        CredentialKind::Jwt,
        CredentialKind::ApiKey,
        CredentialKind::Basic,
    ];

    /// The configuration and forwarding name.
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::Jwt => "jwt",
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Basic => "basic",
        }
    }

    /// This kind alone, as a slice that lives forever (for challenges).
    pub fn as_slice(self) -> &'static [CredentialKind] {
        match self {
            CredentialKind::Jwt => &[CredentialKind::Jwt],
            CredentialKind::ApiKey => &[CredentialKind::ApiKey],
            CredentialKind::Basic => &[CredentialKind::Basic],
        }
    }

    /// Parses a configuration name.
    pub fn from_name(name: &str) -> Option<CredentialKind> {
        CredentialKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// A credential as presented, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A JWT.
    Jwt(Cow<'a, str>),
    /// An API key pair.
    ApiKey {
        /// The client id.
        id: &'a str,
        /// The secret.
        secret: &'a str,
    },
    /// HTTP Basic.
    Basic {
        /// The user name: the client id.
        id: String,
        /// The password: the API token.
        secret: String,
    },
}

impl Credential<'_> {
    /// Its kind.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::Jwt(_) => CredentialKind::Jwt,
            Credential::ApiKey { .. } => CredentialKind::ApiKey,
            Credential::Basic { .. } => CredentialKind::Basic,
        }
    }

    /// The client id and secret of an API key pair or a Basic credential (`None` for a token).
    pub fn client(&self) -> Option<(&str, &str)> {
        match self {
            Credential::Jwt(_) => None,
            Credential::ApiKey { id, secret } => Some((id, secret)),
            Credential::Basic { id, secret } => Some((id, secret)),
        }
    }
}

/// The credential found in a request, and what must change before the upstream sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented<'s, 'r> {
    /// The credential.
    pub credential: Credential<'r>,
    /// Headers the credential was read from that must not reach the upstream.
    pub consumed_headers: Vec<&'s str>,
    /// Where it came from.
    pub place: Place,
}

/// Where a credential was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In headers of its own ([`Presented::consumed_headers`]), removed before the upstream.
    Headers,
    /// In the URL: its parameter is cut from the forwarded `:path`.
    Query,
    /// In a cookie: it is cut from the forwarded `Cookie` header.
    Cookie,
}

/// The tokens a request may carry among other data, the query string and the cookies: read
/// once ([`CredentialSources::embedded`]), because the decision cuts them from what the
/// upstream gets whatever it decides, and the credential stage reads them from this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// The token parameter of the query string.
    pub query: QueryToken,
    /// The token cookie.
    pub cookie: CookieToken,
}

/// Where credentials may be found, compiled from the configuration.
#[derive(Debug, Clone, Default)]
pub struct CredentialSources {
    /// Headers that may carry a JWT, in order.
    pub token_headers: Vec<TokenSource>,
    /// Query parameter that may carry a JWT.
    pub query_param: Option<String>,
    /// Cookie that may carry a JWT.
    pub cookie_name: Option<String>,
    /// API key id and secret header names.
    pub api_key_headers: Option<(String, String)>,
    /// Whether `Authorization: Basic` is read.
    pub basic: bool,
}

impl CredentialSources {
    /// Whether credentials of this kind can be presented at all.
    pub fn offers(&self, kind: CredentialKind) -> bool {
        match kind {
            CredentialKind::Jwt => {
                !self.token_headers.is_empty()
                    || self.query_param.is_some()
                    || self.cookie_name.is_some()
            }
            CredentialKind::ApiKey => self.api_key_headers.is_some(),
            CredentialKind::Basic => self.basic,
        }
    }

    /// Every header that may carry a secret (token headers, the API key secret header,
    /// `authorization` when Basic is on), each once: what a forwarded request whose credential
    /// could not be read must lose. Not `cookie`: only the token cookie is cut from it, for
    /// every request ([`Self::embedded`]).
    pub fn secret_headers(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.token_headers.iter().map(TokenSource::header).collect();
        if let Some((_, secret)) = &self.api_key_headers {
            names.push(secret);
        }
        if self.basic && !names.contains(&"authorization") {
            names.push("authorization");
        }
        names
    }

    /// Every header that may carry a credential or part of one: [`Self::secret_headers`] and the
    /// API key id header. What a CORS preflight, which carries no credential upstream, loses.
    pub fn credential_headers(&self) -> Vec<&str> {
        let mut names = self.secret_headers();
        if let Some((id, _)) = &self.api_key_headers {
            names.push(id);
        }
        names
    }

    /// The token parameter of `request`'s query string, read once: [`QueryToken::Absent`]
    /// where no query token is configured.
    pub fn query_token(&self, request: &Request) -> QueryToken {
        self.query_param
            .as_ref()
            .map_or(QueryToken::Absent, |param| {
                query_token::find(&request.path, param)
            })
    }

    /// The token cookie of `request`'s `Cookie` headers, read once: [`CookieToken::Absent`]
    /// where no token cookie is configured.
    pub fn cookie_token(&self, request: &Request) -> CookieToken {
        self.cookie_name
            .as_ref()
            .map_or(CookieToken::Absent, |name| {
                cookie_token::find(request.header_values("cookie"), name)
            })
    }

    /// The query token and the token cookie of `request`, each read once.
    pub fn embedded(&self, request: &Request) -> Embedded {
        Embedded {
            query: self.query_token(request),
            cookie: self.cookie_token(request),
        }
    }

    /// Finds the one credential in `request`; `None` when there is none, an error when it is
    /// malformed or when there are several.
    pub fn find<'s, 'r>(
        &'s self,
        request: &'r Request,
    ) -> Result<Option<Presented<'s, 'r>>, CredentialError> {
        self.find_with(request, &self.embedded(request))
    }

    /// [`Self::find`], with the query token and the token cookie already read
    /// ([`Self::embedded`]).
    pub fn find_with<'s, 'r>(
        &'s self,
        request: &'r Request,
        embedded: &Embedded,
    ) -> Result<Option<Presented<'s, 'r>>, CredentialError> {
        let mut found: Vec<Presented<'s, 'r>> = Vec::with_capacity(1);
        let bearer = find_bearer(&self.token_headers, request)?;
        let authorization_is_the_clients =
            bearer.as_ref().is_some_and(|b| b.header != "authorization");
        if let Some(bearer) = bearer {
            found.push(Presented {
                credential: Credential::Jwt(Cow::Borrowed(bearer.token)),
                consumed_headers: vec![bearer.header],
                place: Place::Headers,
            });
        }
        found.extend(embedded_tokens(embedded)?);
        if let Some((id_header, secret_header)) = &self.api_key_headers {
            let id = request.single_header(id_header)?;
            let secret = request.single_header(secret_header)?;
            match (id, secret) {
                (None, None) => {}
                (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                    found.push(Presented {
                        credential: Credential::ApiKey { id, secret },
                        consumed_headers: vec![secret_header.as_str()],
                        place: Place::Headers,
                    })
                }
                _ => return Err(CredentialError::IncompleteKeyPair),
            }
        }
        if self.basic && !authorization_is_the_clients {
            if let Some(basic) = read_basic(request)? {
                found.push(basic);
            }
        }
        if found.len() > 1 {
            return Err(CredentialError::SeveralCredentials);
        }
        Ok(found.pop())
    }
}

/// The tokens of the query string and the cookies: none, one or both (two credentials).
fn embedded_tokens<'s, 'r>(embedded: &Embedded) -> Result<Vec<Presented<'s, 'r>>, CredentialError> {
    let query = match &embedded.query {
        QueryToken::Absent => None,
        QueryToken::Repeated { .. } => return Err(CredentialError::RepeatedHeader),
        QueryToken::Found { token, .. } => Some((token, Place::Query)),
    };
    let cookie = match &embedded.cookie {
        CookieToken::Absent => None,
        CookieToken::Repeated { .. } => return Err(CredentialError::RepeatedCookie),
        CookieToken::Malformed { .. } => return Err(CredentialError::MalformedCookie),
        CookieToken::Found { token, .. } => Some((token, Place::Cookie)),
    };
    let tokens = [query, cookie].into_iter().flatten();
    if tokens.clone().any(|(token, _)| token.is_empty()) {
        return Err(CredentialError::EmptyToken);
    }
    Ok(tokens
        .map(|(token, place)| Presented {
            credential: Credential::Jwt(Cow::Owned(token.clone())),
            consumed_headers: Vec::new(),
            place,
        })
        .collect())
}

fn read_basic(request: &Request) -> Result<Option<Presented<'static, '_>>, CredentialError> {
    let Some(value) = request.single_header("authorization")? else {
        return Ok(None);
    };
    let value = value.trim_start();
    let Some(scheme) = value.get(..6) else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic ") {
        return Ok(None);
    }
    let encoded = value.get(6..).unwrap_or_default().trim();
    // Base64 as HTTP Basic uses it (RFC 7617); padding tolerated.
    let decoded = crate::base64::decode_standard_padding_optional(encoded)
        .ok_or(CredentialError::MalformedBasic)?;
    let text = String::from_utf8(decoded).map_err(|_| CredentialError::MalformedBasic)?;
    let (id, secret) = text
        .split_once(':')
        .ok_or(CredentialError::MalformedBasic)?;
    Ok(Some(Presented {
        credential: Credential::Basic {
            id: id.to_string(),
            secret: secret.to_string(),
        },
        consumed_headers: vec!["authorization"],
        place: Place::Headers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..Request::default()
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

    fn all_sources() -> CredentialSources {
        CredentialSources {
            token_headers: sources(),
            query_param: Some("token".into()),
            cookie_name: Some("access_token".into()),
            api_key_headers: Some(("clientid".into(), "clientsecret".into())),
            basic: true,
        }
    }

    fn basic(id_secret: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(id_secret)
        )
    }

    #[test]
    fn each_kind_is_found_with_the_headers_it_consumes() {
        let all = all_sources();
        let req = request(&[("clientid", "c1"), ("clientsecret", "s1")]);
        let found = all.find(&req).unwrap().unwrap();
        assert_eq!(
            found.credential,
            Credential::ApiKey {
                id: "c1",
                secret: "s1"
            }
        );
        assert_eq!(found.consumed_headers, ["clientsecret"]);

        let auth = basic("APP_ID:API:TOKEN");
        let req = request(&[("authorization", &auth)]);
        let found = all.find(&req).unwrap().unwrap();
        assert_eq!(
            found.credential,
            Credential::Basic {
                id: "APP_ID".into(),
                secret: "API:TOKEN".into()
            }
        );
        assert_eq!(found.consumed_headers, ["authorization"]);

        let mut req = request(&[]);
        req.path = "/f?a=1&token=x.y.z".into();
        let found = all.find(&req).unwrap().unwrap();
        assert_eq!(found.credential, Credential::Jwt(Cow::Borrowed("x.y.z")));
        assert_eq!(found.place, Place::Query);
        assert_eq!(all.query_token(&req).path_without(), Some("/f?a=1"));
        assert!(found.consumed_headers.is_empty());
    }

    #[test]
    fn malformed_basic_and_half_pairs_are_errors() {
        let all = all_sources();
        for value in ["Basic %%%", "Basic bm9jb2xvbg==", "basic !"] {
            assert_eq!(
                all.find(&request(&[("authorization", value)])),
                Err(CredentialError::MalformedBasic),
                "{value}"
            );
        }
        assert_eq!(
            all.find(&request(&[("clientid", "c1")])),
            Err(CredentialError::IncompleteKeyPair)
        );
        assert_eq!(
            all.find(&request(&[("clientsecret", "s1")])),
            Err(CredentialError::IncompleteKeyPair)
        );
        assert_eq!(
            all.find(&request(&[("clientid", ""), ("clientsecret", "s")])),
            Err(CredentialError::IncompleteKeyPair)
        );
    }

    #[test]
    fn two_credentials_are_refused() {
        let all = all_sources();
        let req = request(&[
            ("authorization", "Bearer a.b.c"),
            ("clientid", "c1"),
            ("clientsecret", "s1"),
        ]);
        assert_eq!(all.find(&req), Err(CredentialError::SeveralCredentials));
        let mut req = request(&[("x-rpz-auth", "Bearer a.b.c")]);
        req.path = "/?token=d.e.f".into();
        assert_eq!(all.find(&req), Err(CredentialError::SeveralCredentials));
    }

    #[test]
    fn a_token_cookie_is_a_jwt_and_one_credential_among_the_others() {
        let all = all_sources();
        let req = request(&[("cookie", "theme=dark; access_token=x.y.z")]);
        let found = all.find(&req).unwrap().unwrap();
        assert_eq!(found.credential, Credential::Jwt(Cow::Borrowed("x.y.z")));
        assert_eq!(found.place, Place::Cookie);
        assert!(found.consumed_headers.is_empty());
        assert_eq!(all.embedded(&req).cookie.others(), Some("theme=dark"));

        let cookie = ("cookie", "access_token=x.y.z");
        for other in [
            ("authorization", "Bearer a.b.c"),
            ("x-rpz-auth", "Bearer a.b.c"),
        ] {
            let req = request(&[other, cookie]);
            assert_eq!(all.find(&req), Err(CredentialError::SeveralCredentials));
        }
        let auth = basic("user:pw");
        let req = request(&[("authorization", &auth), cookie]);
        assert_eq!(all.find(&req), Err(CredentialError::SeveralCredentials));
        let mut req = request(&[cookie]);
        req.path = "/?token=d.e.f".into();
        assert_eq!(all.find(&req), Err(CredentialError::SeveralCredentials));
    }

    #[test]
    fn a_repeated_empty_or_malformed_token_cookie_cannot_be_read() {
        let all = all_sources();
        for (cookies, error) in [
            (
                &["access_token=a; access_token=a"][..],
                CredentialError::RepeatedCookie,
            ),
            (
                &["access_token=a", "access_token=b"],
                CredentialError::RepeatedCookie,
            ),
            (&["access_token="], CredentialError::EmptyToken),
            (&["access_token=a b"], CredentialError::MalformedCookie),
        ] {
            let headers: Vec<(&str, &str)> = cookies.iter().map(|c| ("cookie", *c)).collect();
            assert_eq!(all.find(&request(&headers)), Err(error), "{cookies:?}");
        }
        // Only the configured cookie is a credential.
        let jwt_only = CredentialSources {
            token_headers: sources(),
            ..CredentialSources::default()
        };
        let req = request(&[("cookie", "access_token=x.y.z")]);
        assert_eq!(jwt_only.find(&req).unwrap(), None);
        assert_eq!(jwt_only.embedded(&req).cookie.others(), None);
    }

    #[test]
    fn authorization_is_the_clients_own_when_the_token_came_elsewhere() {
        let all = all_sources();
        let auth = basic("user:pw");
        let req = request(&[("x-rpz-auth", "Bearer a.b.c"), ("authorization", &auth)]);
        let found = all.find(&req).unwrap().unwrap();
        assert_eq!(found.credential, Credential::Jwt(Cow::Borrowed("a.b.c")));
        assert_eq!(found.consumed_headers, ["x-rpz-auth"]);
    }

    #[test]
    fn basic_is_ignored_unless_configured() {
        let jwt_only = CredentialSources {
            token_headers: sources(),
            ..CredentialSources::default()
        };
        assert_eq!(
            jwt_only
                .find(&request(&[("authorization", &basic("a:b"))]))
                .unwrap(),
            None
        );
    }
}
