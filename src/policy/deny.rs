//! Deny responses: the contract clients see when a request is refused.
//!
//! 401 when no acceptable credential came (with a challenge per credential scheme the route
//! accepts: `Bearer`, `Basic`, `ApiKey`) or a bad one did (`error="invalid_token"` for tokens,
//! `invalid_client` for API keys and Basic); 403 `insufficient_scope` naming the scopes the
//! route needs, or `access_denied` when an allow-list (application, network, origin, TLS) or a
//! claim condition refuses; 400 `invalid_request` for a request whose credential cannot be read; 503 when the
//! filter cannot decide; 429 `too_many_requests` with `Retry-After` when an abuse limit refuses
//! (a locked-out source, a spent signature-check budget). Every denial has a small JSON body and `cache-control: no-store`.
//!
//! Whom a refusal challenges ([`Challenge`]): before a credential was read, every scheme the
//! route accepts; after, only the scheme of the credential presented ([`Scheme`]), so that a
//! caller never gets another scheme's error. RFC 6750's errors (`invalid_token`,
//! `insufficient_scope`, `invalid_request`) are Bearer (and DPoP, RFC 9449 section 7.1)
//! parameters: an API key or Basic caller's 403 and 400 carry no challenge, only the body
//! (which names the missing scopes too).

use crate::json::write;

use crate::request::credential::CredentialKind;

/// Why a request is refused; each maps to one status and error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No credential at all: 401 without an error code.
    MissingCredential,
    /// A credential of a kind this route does not accept: 401.
    CredentialNotAccepted,
    /// A token that is not valid: 401 `invalid_token`.
    InvalidToken(String),
    /// An API key or Basic credential that does not authenticate: 401 `invalid_client`.
    InvalidClient,
    /// A valid credential lacking scopes: 403 `insufficient_scope`, naming the route's scopes.
    InsufficientScope(Vec<String>),
    /// A valid credential refused by an allow-list or a claim condition: 403 `access_denied`.
    AccessDenied(String),
    /// A request that cannot be read: 400 `invalid_request`.
    InvalidRequest(String),
    /// The filter cannot decide right now (not configured): 503, never a pass.
    Unavailable(String),
    /// A DPoP proof that fails its checks (RFC 9449): 401 `invalid_dpop_proof`; the `DPoP`
    /// challenge is added by [`crate::policy::sender::challenge`], which knows the proof algorithms.
    InvalidDpopProof(String),
    /// A DPoP proof without a current server nonce: 401 `use_dpop_nonce`; the reply carries a
    /// fresh one in `DPoP-Nonce` (RFC 9449 section 9).
    UseDpopNonce(String),
    /// An abuse limit refuses the source for now: 429 `too_many_requests` with `Retry-After`.
    TooManyRequests {
        /// Seconds until asking again can succeed.
        retry_after: u64,
        /// Which limit: the description, and the reason code metrics report.
        limit: Limit,
    },
}

/// Which abuse limit refused a request ([`crate::policy::abuse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Too many failed secrets from the source (and client id).
    LockedOut,
    /// The source spent its budget of token checks (signatures, introspection calls).
    CheckBudget,
}

impl Limit {
    /// The 429's description.
    pub fn description(self) -> &'static str {
        match self {
            Limit::LockedOut => "too many failed attempts; try again later",
            Limit::CheckBudget => "too many token checks from this source; try again later",
        }
    }
}

/// The `WWW-Authenticate` scheme a credential was presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// A token in a bearer header or the query string (RFC 6750).
    Bearer,
    /// A token with `Authorization: DPoP` where DPoP is configured (RFC 9449); its challenge
    /// names the proof algorithms, so [`crate::policy::sender::challenge`] writes it.
    Dpop,
    /// An API key pair: this filter's own `ApiKey` scheme.
    ApiKey,
    /// HTTP Basic (RFC 7617).
    Basic,
}

/// Whom a refusal's `WWW-Authenticate` challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge<'a> {
    /// No credential was read (or the one read is of a kind the route does not accept): every
    /// scheme of these credential kinds, the ones the route accepts.
    Accepted(&'a [CredentialKind]),
    /// A credential was read: its scheme alone.
    Presented(Scheme),
}

impl Challenge<'_> {
    /// Whether RFC 6750 errors go in a `Bearer` challenge: for a bearer token, or before any
    /// credential was read on a route that accepts tokens.
    fn bearer(self) -> bool {
        match self {
            Challenge::Accepted(kinds) => kinds.contains(&CredentialKind::Jwt),
            Challenge::Presented(scheme) => scheme == Scheme::Bearer,
        }
    }
}

/// A complete local reply for Envoy to send instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyResponse {
    /// HTTP status.
    pub status: u32,
    /// Response headers (`www-authenticate` may repeat, one per scheme).
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: String,
}

impl Denial {
    /// HTTP status of this denial.
    pub fn status(&self) -> u32 {
        match self {
            Denial::MissingCredential
            | Denial::CredentialNotAccepted
            | Denial::InvalidToken(_)
            | Denial::InvalidClient
            | Denial::InvalidDpopProof(_)
            | Denial::UseDpopNonce(_) => 401,
            Denial::InsufficientScope(_) | Denial::AccessDenied(_) => 403,
            Denial::InvalidRequest(_) => 400,
            Denial::Unavailable(_) => 503,
            Denial::TooManyRequests { .. } => 429,
        }
    }

    /// The error code in the body and, where RFC 6750 defines one, in the challenge.
    pub fn error_code(&self) -> &'static str {
        match self {
            Denial::MissingCredential | Denial::CredentialNotAccepted => "unauthorized",
            Denial::InvalidToken(_) => "invalid_token",
            Denial::InvalidClient => "invalid_client",
            Denial::InsufficientScope(_) => "insufficient_scope",
            Denial::AccessDenied(_) => "access_denied",
            Denial::InvalidRequest(_) => "invalid_request",
            Denial::Unavailable(_) => "temporarily_unavailable",
            Denial::InvalidDpopProof(_) => "invalid_dpop_proof",
            Denial::UseDpopNonce(_) => "use_dpop_nonce",
            Denial::TooManyRequests { .. } => "too_many_requests",
        }
    }

    /// Short, client-safe description.
    pub fn description(&self) -> String {
        match self {
            Denial::MissingCredential => "a credential is required".to_string(),
            Denial::CredentialNotAccepted => {
                "this route does not accept this kind of credential".to_string()
            }
            Denial::InvalidClient => "client authentication failed".to_string(),
            Denial::UseDpopNonce(_) => {
                "the DPoP proof must carry a current server nonce".to_string()
            }
            Denial::InsufficientScope(_) => {
                "the credential lacks a scope this route requires".to_string()
            }
            Denial::InvalidToken(why)
            | Denial::AccessDenied(why)
            | Denial::InvalidRequest(why)
            | Denial::Unavailable(why)
            | Denial::InvalidDpopProof(why) => why.clone(),
            Denial::TooManyRequests { limit, .. } => limit.description().to_string(),
        }
    }

    /// The reply for this denial in `realm`, challenging as `challenge` says.
    pub fn response(&self, realm: &str, challenge: Challenge<'_>) -> DenyResponse {
        let description = self.description();
        let code = self.error_code();
        let with_error = |scheme: &str| {
            format!(
                "{scheme} realm=\"{realm}\", error=\"{code}\", error_description=\"{}\"",
                quoted(&description)
            )
        };
        let bearer = challenge.bearer();
        let challenges: Vec<String> = match self {
            Denial::MissingCredential | Denial::CredentialNotAccepted | Denial::InvalidClient => {
                match challenge {
                    Challenge::Accepted(kinds) => kinds
                        .iter()
                        .filter_map(|kind| bare(kind_scheme(*kind), realm))
                        .collect(),
                    Challenge::Presented(scheme) => bare(scheme, realm).into_iter().collect(),
                }
            }
            // A token error is a Bearer one unless the token came with another scheme.
            Denial::InvalidToken(_)
                if matches!(
                    challenge,
                    Challenge::Accepted(_) | Challenge::Presented(Scheme::Bearer)
                ) =>
            {
                vec![with_error("Bearer")]
            }
            Denial::InsufficientScope(scopes) if bearer => {
                vec![format!(
                    "{}, scope=\"{}\"",
                    with_error("Bearer"),
                    quoted(&scopes.join(" "))
                )]
            }
            Denial::InvalidRequest(_) if bearer => vec![with_error("Bearer")],
            Denial::InvalidToken(_)
            | Denial::InsufficientScope(_)
            | Denial::InvalidRequest(_)
            | Denial::AccessDenied(_)
            | Denial::Unavailable(_)
            | Denial::InvalidDpopProof(_)
            | Denial::UseDpopNonce(_)
            | Denial::TooManyRequests { .. } => Vec::new(),
        };
        // `scope`: the scopes the route needs, for `insufficient_scope`: what every caller,
        // whatever its scheme, needs to know.
        let scope = match self {
            Denial::InsufficientScope(scopes) => Some(scopes.join(" ")),
            _ => None,
        };
        let body = write::Object::new()
            .string("error", code)
            .string("error_description", &description)
            .optional_string("scope", scope.as_deref())
            .finish();
        let mut headers: Vec<(String, String)> = challenges
            .into_iter()
            .map(|value| ("www-authenticate".to_string(), value))
            .collect();
        if let Denial::TooManyRequests { retry_after, .. } = self {
            headers.push(("retry-after".to_string(), retry_after.to_string()));
        }
        headers.push(("content-type".to_string(), "application/json".to_string()));
        headers.push(("cache-control".to_string(), "no-store".to_string()));
        DenyResponse {
            status: self.status(),
            headers,
            body,
        }
    }
}

/// The scheme a credential kind is challenged with before it is presented.
fn kind_scheme(kind: CredentialKind) -> Scheme {
    match kind {
        CredentialKind::Jwt => Scheme::Bearer,
        CredentialKind::ApiKey => Scheme::ApiKey,
        CredentialKind::Basic => Scheme::Basic,
    }
}

/// The bare challenge for a scheme; `None` for DPoP, whose challenge needs the policy's proof
/// algorithms ([`crate::policy::sender::challenge`]).
fn bare(scheme: Scheme, realm: &str) -> Option<String> {
    match scheme {
        Scheme::Bearer => Some(format!("Bearer realm=\"{realm}\"")),
        Scheme::Basic => Some(format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")),
        Scheme::ApiKey => Some(format!("ApiKey realm=\"{realm}\"")),
        Scheme::Dpop => None,
    }
}

/// Makes text safe inside a quoted-string: no quotes, backslashes or control characters.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenges(response: &DenyResponse) -> Vec<&str> {
        response
            .headers
            .iter()
            .filter(|(n, _)| n == "www-authenticate")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn missing_credential_challenges_every_accepted_scheme() {
        let response = Denial::MissingCredential.response(
            "edge",
            Challenge::Accepted(&[CredentialKind::Jwt, CredentialKind::Basic]),
        );
        assert_eq!(
            challenges(&response),
            [
                "Bearer realm=\"edge\"",
                "Basic realm=\"edge\", charset=\"UTF-8\""
            ]
        );
        let basic_only = Denial::CredentialNotAccepted
            .response("edge", Challenge::Accepted(&[CredentialKind::Basic]));
        assert_eq!(basic_only.status, 401);
        assert_eq!(
            challenges(&basic_only),
            ["Basic realm=\"edge\", charset=\"UTF-8\""]
        );
    }

    #[test]
    fn failed_client_authentication_is_401_invalid_client() {
        let response = Denial::InvalidClient.response("edge", Challenge::Presented(Scheme::ApiKey));
        assert_eq!(response.status, 401);
        assert_eq!(challenges(&response), ["ApiKey realm=\"edge\""]);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"], "invalid_client");
    }

    #[test]
    fn allow_list_refusal_is_403_access_denied_without_a_challenge() {
        let response = Denial::AccessDenied("application not granted".into())
            .response("edge", Challenge::Accepted(&[CredentialKind::Jwt]));
        assert_eq!(response.status, 403);
        assert!(challenges(&response).is_empty());
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"], "access_denied");
        assert_eq!(body["error_description"], "application not granted");
    }

    fn header<'a>(response: &'a DenyResponse, name: &str) -> &'a str {
        &response.headers.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn missing_credential_is_a_bare_bearer_challenge() {
        let response =
            Denial::MissingCredential.response("edge", Challenge::Accepted(&[CredentialKind::Jwt]));
        assert_eq!(response.status, 401);
        assert_eq!(
            header(&response, "www-authenticate"),
            "Bearer realm=\"edge\""
        );
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"], "unauthorized");
    }

    #[test]
    fn invalid_token_carries_error_and_description() {
        let response = Denial::InvalidToken("token has expired".into())
            .response("edge", Challenge::Accepted(&[CredentialKind::Jwt]));
        assert_eq!(response.status, 401);
        assert_eq!(
            header(&response, "www-authenticate"),
            "Bearer realm=\"edge\", error=\"invalid_token\", error_description=\"token has expired\""
        );
        assert_eq!(header(&response, "content-type"), "application/json");
        assert_eq!(header(&response, "cache-control"), "no-store");
    }

    #[test]
    fn insufficient_scope_names_the_required_scopes() {
        let response = Denial::InsufficientScope(vec!["devices:write".into(), "admin".into()])
            .response("api", Challenge::Accepted(&[CredentialKind::Jwt]));
        assert_eq!(response.status, 403);
        assert!(header(&response, "www-authenticate").ends_with("scope=\"devices:write admin\""));
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
    }

    #[test]
    fn a_presented_credential_is_challenged_for_its_own_scheme_alone() {
        let scope = Denial::InsufficientScope(vec!["devices:write".into()]);
        let bearer = scope.response("edge", Challenge::Presented(Scheme::Bearer));
        assert_eq!(
            challenges(&bearer),
            ["Bearer realm=\"edge\", error=\"insufficient_scope\", error_description=\"the credential lacks a scope this route requires\", scope=\"devices:write\""]
        );
        for scheme in [Scheme::ApiKey, Scheme::Basic, Scheme::Dpop] {
            let response = scope.response("edge", Challenge::Presented(scheme));
            assert_eq!(response.status, 403);
            assert!(challenges(&response).is_empty(), "{scheme:?}");
            assert_eq!(
                response.body,
                r#"{"error":"insufficient_scope","error_description":"the credential lacks a scope this route requires","scope":"devices:write"}"#
            );
        }
        let repeated = Denial::InvalidRequest("the appId header appears more than once".into());
        for scheme in [Scheme::ApiKey, Scheme::Basic, Scheme::Dpop] {
            let response = repeated.response("edge", Challenge::Presented(scheme));
            assert!(challenges(&response).is_empty(), "{scheme:?}");
        }
        let expired = Denial::InvalidToken("token has expired".into());
        assert!(
            challenges(&expired.response("edge", Challenge::Presented(Scheme::Dpop))).is_empty()
        );
        let failed = Denial::InvalidClient.response("edge", Challenge::Presented(Scheme::Basic));
        assert_eq!(
            challenges(&failed),
            ["Basic realm=\"edge\", charset=\"UTF-8\""]
        );
    }

    #[test]
    fn unavailable_is_503_without_a_challenge() {
        let response = Denial::Unavailable("not configured".into())
            .response("edge", Challenge::Accepted(&[CredentialKind::Jwt]));
        assert_eq!(response.status, 503);
        assert!(response
            .headers
            .iter()
            .all(|(name, _)| name != "www-authenticate"));
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }

    #[test]
    fn too_many_requests_is_429_with_retry_after_and_no_challenge() {
        let response = Denial::TooManyRequests {
            retry_after: 42,
            limit: Limit::LockedOut,
        }
        .response("edge", Challenge::Accepted(&[CredentialKind::ApiKey]));
        assert_eq!(response.status, 429);
        assert_eq!(header(&response, "retry-after"), "42");
        assert_eq!(header(&response, "content-type"), "application/json");
        assert_eq!(header(&response, "cache-control"), "no-store");
        assert!(challenges(&response).is_empty());
        assert_eq!(
            response.body,
            r#"{"error":"too_many_requests","error_description":"too many failed attempts; try again later"}"#
        );
    }

    #[test]
    fn invalid_request_is_400_and_quotes_cannot_break_the_challenge() {
        let response = Denial::InvalidRequest("bad \"header\"\r\n".into())
            .response("edge", Challenge::Accepted(&[CredentialKind::Jwt]));
        assert_eq!(response.status, 400);
        assert!(header(&response, "www-authenticate").contains("error_description=\"bad header\""));
    }
}
