//! Token introspection (RFC 7662) for opaque tokens, and for JWTs on the rules that ask for it:
//! the `introspection` configuration, the request edge-auth POSTs to the issuer, and what its
//! answer means.
//!
//! The answer's `active`, `iss`, `exp`, `aud`, `scope`, `sub` and `client_id` drive the same
//! decision as a JWT's claims: an inactive token, one of another issuer, an expired one or one for
//! another audience is refused (401); anything but a 200 JSON answer means the issuer cannot
//! vouch for the token now (503, never a pass). Positive answers are remembered until the
//! smaller of the token's `exp` (plus the provider's clock skew, as for a JWT) and
//! `cache_seconds`, negative ones for `negative_cache_seconds`.
//!
//! A JWT that passed every local check is *confirmed* on a rule with `introspect`
//! ([`confirm`]): the identity stays the one the verified token gives, and the answer only has
//! to be active and not contradict the token (its `iss`, `sub`, `client_id` and `exp`, where it
//! names them, are the token's).

use crate::error::ConfigError;
use crate::identity::Forward;
use crate::identity::Identity;
use crate::issuer::remote_keys::{response_body, Url};
use crate::json::value::parse_object;
use crate::json::{Document, Fields, FromJson, Node};
use crate::json::{Map, Value};
use crate::jwt::provider::Provider;
use crate::jwt::token::{
    check_audience, identity_from_claims, looks_like_jwt, numeric_date, Rounding, MAX_TOKEN_BYTES,
};

/// Default time a positive answer is trusted without asking again.
const DEFAULT_CACHE_SECONDS: u64 = 60;
/// Default time a negative answer is remembered (short: a token may become active).
const DEFAULT_NEGATIVE_CACHE_SECONDS: u64 = 10;
/// Default timeout of the introspection call.
const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// Longest accepted positive cache time: revocation must be seen within it.
const MAX_CACHE_SECONDS: u64 = 3600;
/// Longest accepted timeout (the request waits this long).
const MAX_TIMEOUT_MS: u64 = 30_000;

/// Longest opaque token (one that is not a JWT) sent to the introspection endpoint, in bytes;
/// a longer one is refused (401 `invalid_token`, "token is too large") without a call. Opaque
/// tokens are references of tens of bytes, or JWE-wrapped ones of one or two KiB. A JWT sent to
/// the endpoint (`"tokens": "all"`) has the JWT limit, [`MAX_TOKEN_BYTES`].
pub const MAX_OPAQUE_TOKEN_BYTES: usize = 4 * 1024;

/// Whether `token` is too long to be introspected: see [`MAX_OPAQUE_TOKEN_BYTES`].
pub fn too_long(token: &str) -> bool {
    token.len() > MAX_OPAQUE_TOKEN_BYTES
        && (token.len() > MAX_TOKEN_BYTES || !looks_like_jwt(token))
}

/// `providers[i].introspection`, as written.
#[derive(Default)]
pub struct IntrospectionConfig {
    cluster: String,
    path: String,
    authority: Option<String>,
    client_id: String,
    client_secret: String,
    cache_seconds: Option<u64>,
    negative_cache_seconds: Option<u64>,
    timeout_ms: Option<u64>,
    tokens: Option<String>,
}

impl FromJson for IntrospectionConfig {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "cluster",
                "path",
                "authority",
                "client_id",
                "client_secret",
                "cache_seconds",
                "negative_cache_seconds",
                "timeout_ms",
                "tokens",
            ],
        )?;
        let mut raw = IntrospectionConfig::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl IntrospectionConfig {
    /// Reads the fields in place, as `config::RawConfig::read` does: after an error the
    /// caller drops the whole in one place, not each field read so far after every `?`.
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.cluster = fields.required("cluster")?;
        self.path = fields.required("path")?;
        self.authority = fields.optional("authority")?;
        self.client_id = fields.required("client_id")?;
        self.client_secret = fields.required("client_secret")?;
        self.cache_seconds = fields.optional("cache_seconds")?;
        self.negative_cache_seconds = fields.optional("negative_cache_seconds")?;
        self.timeout_ms = fields.optional("timeout_ms")?;
        self.tokens = fields.optional("tokens")?;
        Ok(())
    }
}

/// A compiled introspection endpoint. Deliberately not `Debug`: it holds the client secret.
pub struct Introspection {
    /// The Envoy cluster of the issuer.
    pub cluster: String,
    /// `:authority` of the call.
    pub authority: String,
    /// `:path` of the endpoint.
    pub path: String,
    /// The `Authorization: Basic` value (RFC 6749 section 2.3.1).
    pub authorization: String,
    /// Upper bound on trusting a positive answer.
    pub cache_seconds: u64,
    /// How long a negative answer is remembered.
    pub negative_cache_seconds: u64,
    /// Timeout of the call.
    pub timeout_ms: u64,
    /// Whether every bearer token is introspected, not only those that are not JWTs.
    pub all_tokens: bool,
}

/// Compiles `introspection` of the provider at `field` (whose issuer is `issuer`).
pub fn compile(
    raw: IntrospectionConfig,
    issuer: &str,
    field: &str,
) -> Result<Introspection, ConfigError> {
    let at = format!("{field}.introspection");
    if raw.cluster.trim().is_empty() {
        return Err(ConfigError::new(
            &format!("{at}.cluster"),
            "must name an Envoy cluster",
        ));
    }
    if !raw.path.starts_with('/')
        || raw
            .path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError::new(
            &format!("{at}.path"),
            "must be a path starting with '/'",
        ));
    }
    let authority = compile_authority(raw.authority, issuer, &at)?;
    if raw.client_id.is_empty() {
        return Err(ConfigError::new(
            &format!("{at}.client_id"),
            "must not be empty",
        ));
    }
    if raw.client_secret.is_empty() {
        return Err(ConfigError::new(
            &format!("{at}.client_secret"),
            "must not be empty",
        ));
    }
    let (cache_seconds, negative_cache_seconds) =
        compile_cache_times(raw.cache_seconds, raw.negative_cache_seconds, &at)?;
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ConfigError::new(
            &format!("{at}.timeout_ms"),
            format!("must be 1 to {MAX_TIMEOUT_MS}"),
        ));
    }
    let all_tokens = match raw.tokens.as_deref() {
        None | Some("opaque") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ConfigError::new(
                &format!("{at}.tokens"),
                format!("must be \"opaque\" or \"all\", not {other:?}"),
            ))
        }
    };
    let credentials = format!(
        "{}:{}",
        form_urlencode(&raw.client_id),
        form_urlencode(&raw.client_secret)
    );
    Ok(Introspection {
        cluster: raw.cluster,
        authority,
        path: raw.path,
        authorization: format!(
            "Basic {}",
            crate::base64::encode_standard(credentials.as_bytes())
        ),
        cache_seconds,
        negative_cache_seconds,
        timeout_ms,
        all_tokens,
    })
}

/// `introspection.authority`: the `Host` of the call, by default the issuer URL's.
fn compile_authority(raw: Option<String>, issuer: &str, at: &str) -> Result<String, ConfigError> {
    let authority = match raw {
        Some(authority) => authority,
        None => Url::parse(issuer).map(|url| url.authority).map_err(|_| {
            ConfigError::new(
                &format!("{at}.authority"),
                "is required when the issuer is not an http(s) URL",
            )
        })?,
    };
    if authority.is_empty()
        || authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError::new(
            &format!("{at}.authority"),
            "must be a host name",
        ));
    }
    Ok(authority)
}

/// `introspection.cache_seconds` and `negative_cache_seconds` (never longer than the first).
fn compile_cache_times(
    cache: Option<u64>,
    negative: Option<u64>,
    at: &str,
) -> Result<(u64, u64), ConfigError> {
    let cache_seconds = cache.unwrap_or(DEFAULT_CACHE_SECONDS);
    if cache_seconds > MAX_CACHE_SECONDS {
        return Err(ConfigError::new(
            &format!("{at}.cache_seconds"),
            format!("at most {MAX_CACHE_SECONDS}"),
        ));
    }
    let negative_cache_seconds = negative.unwrap_or(DEFAULT_NEGATIVE_CACHE_SECONDS);
    if negative_cache_seconds > cache_seconds.max(DEFAULT_NEGATIVE_CACHE_SECONDS) {
        return Err(ConfigError::new(
            &format!("{at}.negative_cache_seconds"),
            "must not exceed cache_seconds",
        ));
    }
    Ok((cache_seconds, negative_cache_seconds))
}

/// The form body of the introspection request for `token`.
pub fn request_body(token: &str) -> String {
    format!(
        "token={}&token_type_hint=access_token",
        form_urlencode(token)
    )
}

/// `application/x-www-form-urlencoded` encoding of one value (unreserved characters kept).
pub fn form_urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Why an introspection answer refuses the token. The `Display` text is safe to show clients;
/// the reason code metrics report is chosen from the variant
/// ([`crate::policy::outcome::Reason::for_inactive`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inactive {
    /// `active` is not `true`.
    NotActive,
    /// The answer names another issuer.
    UntrustedIssuer,
    /// `exp` is not an integer NumericDate.
    BadTimeClaim,
    /// `exp` is past (beyond the clock skew).
    Expired,
    /// `aud` missing or naming none of the provider's audiences.
    WrongAudience,
    /// The provider's network claim is not a list of CIDRs.
    BadNetworkClaim,
    /// An active answer about a verified JWT names another `sub`, `client_id` or `exp` than
    /// the token: it is not about this token.
    Contradicts,
}

impl std::fmt::Display for Inactive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Inactive::NotActive => "token is not active",
            Inactive::UntrustedIssuer => "token issuer is not trusted",
            Inactive::BadTimeClaim => "token has an invalid time claim",
            Inactive::Expired => "token has expired",
            Inactive::WrongAudience => "token audience is not accepted",
            Inactive::BadNetworkClaim => "token has an invalid network claim",
            Inactive::Contradicts => "the issuer's introspection answer does not match the token",
        })
    }
}

/// What an introspection answer means for the request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The token is good: this identity, trusted until `valid_until` (Unix seconds, inclusive).
    Active {
        /// Who the token speaks for (boxed: an identity is large beside the other answers).
        identity: Box<Identity>,
        /// Last second the answer may be reused.
        valid_until: u64,
    },
    /// The token must be refused, for this reason (its text is safe to show the client).
    Inactive(Inactive),
    /// No usable answer (the cause is for the log).
    Unavailable(String),
}

/// Interprets the introspection call's answer (`status` `None`: no answer at all) for the
/// provider at `index`, at `now` (Unix seconds).
pub fn interpret(
    status: Option<u32>,
    body: Option<Vec<u8>>,
    index: usize,
    provider: &Provider,
    introspection: &Introspection,
    forward: &Forward,
    now: u64,
) -> Outcome {
    let body = match response_body(status, body) {
        Ok(body) => body,
        Err(why) => return Outcome::Unavailable(format!("introspection: {why}")),
    };
    let claims: Map<String, Value> = match parse_object(&body) {
        Ok(claims) => claims,
        Err(err) => {
            return Outcome::Unavailable(format!(
                "introspection answer is not a JSON object: {err}"
            ))
        }
    };
    if claims.get("active") != Some(&Value::Bool(true)) {
        return Outcome::Inactive(Inactive::NotActive);
    }
    if let Some(iss) = claims.get("iss") {
        if iss.as_str() != Some(provider.issuer.as_str()) {
            return Outcome::Inactive(Inactive::UntrustedIssuer);
        }
    }
    let exp = match claims.get("exp") {
        None => None,
        Some(value) => match numeric_date(value, Rounding::Down) {
            Some(exp) => Some(exp),
            None => return Outcome::Inactive(Inactive::BadTimeClaim),
        },
    };
    if exp.is_some_and(|exp| exp.saturating_add(provider.clock_skew_seconds) < now) {
        return Outcome::Inactive(Inactive::Expired);
    }
    if check_audience(&claims, provider).is_err() {
        return Outcome::Inactive(Inactive::WrongAudience);
    }
    let cache_until = now.saturating_add(introspection.cache_seconds);
    // Good as long as `exp` is within the clock skew (the check above): an `exp` just past is
    // still accepted, so the answer must not be cached "until" a time already gone.
    let valid_until = exp.map_or(cache_until, |exp| {
        exp.saturating_add(provider.clock_skew_seconds)
            .min(cache_until)
    });
    let Ok(mut identity) = identity_from_claims(&claims, index, provider, forward, valid_until)
    else {
        return Outcome::Inactive(Inactive::BadNetworkClaim);
    };
    if identity.subject.is_none() {
        identity.subject = claims
            .get("client_id")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    Outcome::Active {
        identity: Box::new(identity),
        valid_until,
    }
}

/// What a verified JWT says that its introspection answer must not contradict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The token's `sub`.
    pub subject: Option<String>,
    /// The token's `client_id` (or `azp`).
    pub client_id: Option<String>,
    /// The token's `exp` (Unix seconds).
    pub expires_at: u64,
}

impl Expected {
    /// What `identity` (a verified token's) says.
    pub fn of(identity: &Identity) -> Expected {
        Expected {
            subject: identity.subject.clone(),
            client_id: identity.client_id.clone(),
            expires_at: identity.expires_at,
        }
    }
}

/// What an introspection answer about a verified JWT means.
#[derive(Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Active and consistent with the token: the confirmation holds until `until` (Unix
    /// seconds, inclusive: the token's `exp` plus clock skew, and `cache_seconds` from now).
    Confirmed {
        /// Last second the answer may be reused.
        until: u64,
    },
    /// The token must be refused, for this reason.
    Inactive(Inactive),
    /// No usable answer (the cause is for the log).
    Unavailable(String),
}

/// Interprets the introspection answer about a JWT that passed every local check (`expected`
/// is what it says), for `provider`, at `now`. The answer's own claims never replace the
/// token's: scopes, claims and sender binding are the token's, checked on every request.
pub fn confirm(
    status: Option<u32>,
    body: Option<Vec<u8>>,
    provider: &Provider,
    introspection: &Introspection,
    expected: &Expected,
    now: u64,
) -> Confirmation {
    let body = match response_body(status, body) {
        Ok(body) => body,
        Err(why) => return Confirmation::Unavailable(format!("introspection: {why}")),
    };
    let claims: Map<String, Value> = match parse_object(&body) {
        Ok(claims) => claims,
        Err(err) => {
            return Confirmation::Unavailable(format!(
                "introspection answer is not a JSON object: {err}"
            ))
        }
    };
    if claims.get("active") != Some(&Value::Bool(true)) {
        return Confirmation::Inactive(Inactive::NotActive);
    }
    if let Some(iss) = claims.get("iss") {
        if iss.as_str() != Some(provider.issuer.as_str()) {
            return Confirmation::Inactive(Inactive::UntrustedIssuer);
        }
    }
    // A name the answer gives must be the token's: an answer about another token (or a
    // token the issuer reissued to someone else) confirms nothing.
    let agrees = |name: &str, token_says: &Option<String>| match claims.get(name) {
        None => true,
        Some(value) => value.as_str().is_some() && value.as_str() == token_says.as_deref(),
    };
    if !agrees("sub", &expected.subject) || !agrees("client_id", &expected.client_id) {
        return Confirmation::Inactive(Inactive::Contradicts);
    }
    match claims.get("exp") {
        None => {}
        Some(value) => match numeric_date(value, Rounding::Down) {
            Some(exp) if exp == expected.expires_at => {}
            Some(_) => return Confirmation::Inactive(Inactive::Contradicts),
            None => return Confirmation::Inactive(Inactive::BadTimeClaim),
        },
    }
    let until = expected
        .expires_at
        .saturating_add(provider.clock_skew_seconds)
        .min(now.saturating_add(introspection.cache_seconds));
    Confirmation::Confirmed { until }
}
