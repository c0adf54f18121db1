//! The decision: given the policy, a request and the time, allow (with the header changes the
//! upstream must see) or deny (with the reply the client must see).
//!
//! This is the one place where the pieces meet, in this order: path sanity, minimum TLS, CORS
//! preflight, route rules, credential extraction, authentication (verified-token cache, token
//! validation against inline or fetched keys, introspection, API key clients), scopes, then the
//! allow-lists (source network, web origin, application). A query token is cut from the path on
//! every forwarded request. The abuse limits, when configured, come in two places: a
//! locked-out source is refused before any secret comparison, and a token that passed every
//! cheap check and missed the cache spends the source's signature-check budget before the
//! signature math. Where only the issuer can settle a token (its keys are not in yet,
//! or it is opaque), the decision says so and the filter asks, then decides again.

use std::net::IpAddr;
use std::rc::Rc;

use crate::identity::Identity;
use crate::jwt::provider::Provider;
use crate::jwt::token::{self, InlineKeys, KeyLookup};
use crate::policy::abuse::Guard;
use crate::policy::cache::TokenCache;
use crate::policy::deny::Denial;
use crate::policy::records::SharedStore;
use crate::policy::rules::{has_dot_segment, Requirement, Route};
use crate::policy::Policy;
use crate::request::allowlist::{any_contains, url_host, Cidr, OriginPattern};
use crate::request::credential::{Credential, CredentialKind, Request};
use crate::request::query_token;
use crate::request::transport::{client_address, TlsVersion};

/// What to do with a request. Header names are borrowed from the policy: nothing about them is
/// allocated per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Forward it, after these changes.
    Allow(Forwarding<'a>),
    /// Answer it locally; `schemes` are the credential kinds to challenge for on a 401.
    Deny {
        /// Why.
        denial: Denial,
        /// Credential kinds for `WWW-Authenticate` challenges.
        schemes: &'a [CredentialKind],
    },
    /// The token's issuer publishes its keys and the keys in hand cannot decide it (none have
    /// arrived yet, or none has the token's `kid`): decide again once `provider`'s keys are
    /// (re)fetched, or answer `otherwise` if no fetch can come.
    AwaitKeys {
        /// Index of the provider whose keys are needed.
        provider: usize,
        /// Whether the keys are there but lack the token's `kid` (an early refetch).
        unknown_kid: bool,
        /// The answer when no fetch is coming.
        otherwise: Denial,
    },
    /// The token is for `provider`'s introspection endpoint: ask it, remember the answer in the
    /// token cache, and decide again.
    Introspect {
        /// Index of the provider whose endpoint vouches for the token.
        provider: usize,
        /// The bearer token to ask about.
        token: String,
    },
}

/// Changes for an allowed request. Removals are applied before additions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarding<'a> {
    /// Headers to remove entirely: identity headers the client sent, and consumed credential
    /// headers.
    pub remove: Vec<&'a str>,
    /// Headers to set (replacing any value).
    pub set: Vec<(&'a str, String)>,
    /// A new `:path`, when a query token was cut out of it.
    pub path: Option<String>,
}

/// Who the caller turned out to be, whatever the credential.
struct Caller<'a> {
    kind: CredentialKind,
    client_id: Option<&'a str>,
    subject: Option<&'a str>,
    provider: Option<&'a Provider>,
    scopes: &'a [String],
    apps: &'a [String],
    networks: [&'a [Cidr]; 2],
    origins: &'a [OriginPattern],
    claims: &'a [(usize, String)],
}

/// Decides `request` at time `now` (Unix seconds), consulting and filling `cache`, with the keys
/// written in the configuration.
pub fn authorize<'a>(
    policy: &'a Policy,
    cache: &mut TokenCache,
    request: &Request,
    now: u64,
) -> Decision<'a> {
    authorize_with_keys(policy, &InlineKeys(&policy.providers), cache, request, now)
}

/// [`authorize`], with each provider's current keys from `keys` (fetched keys included).
pub fn authorize_with_keys<'a>(
    policy: &'a Policy,
    keys: &dyn KeyLookup,
    cache: &mut TokenCache,
    request: &Request,
    now: u64,
) -> Decision<'a> {
    decide(policy, keys, None, cache, request, now)
}

/// [`authorize_with_keys`] with the policy's abuse limits applied, their state kept in `store`
/// (shared by the workers); `now_ms` is the time in milliseconds. `peer` gives the caller's
/// address when `request.source_address` lacks it; it is asked only if a limit needs it.
pub fn authorize_guarded<'a>(
    policy: &'a Policy,
    keys: &dyn KeyLookup,
    store: &dyn SharedStore,
    peer: &dyn Fn() -> Option<IpAddr>,
    cache: &mut TokenCache,
    request: &Request,
    now_ms: u64,
) -> Decision<'a> {
    let guard = Guard::new(
        &policy.abuse,
        store,
        request,
        policy.trusted_hops,
        peer,
        now_ms,
    );
    decide(policy, keys, guard.as_ref(), cache, request, now_ms / 1000)
}

fn decide<'a>(
    policy: &'a Policy,
    keys: &dyn KeyLookup,
    guard: Option<&Guard>,
    cache: &mut TokenCache,
    request: &Request,
    now: u64,
) -> Decision<'a> {
    let deny = |denial: Denial, schemes: &'a [CredentialKind]| Decision::Deny { denial, schemes };

    // Identity headers the client sent are removed (they could be spoofed); the ones it did not
    // send need no removal, and every removal is a call into Envoy on the request path.
    let mut forwarding = Forwarding {
        remove: policy
            .forward
            .header_names()
            .filter(|name| request.has_header(name))
            .collect(),
        set: Vec::new(),
        path: policy
            .credentials
            .query_param
            .as_ref()
            .and_then(|param| query_token::strip(&request.path, param)),
    };
    let path = request.path_only();
    if has_dot_segment(path) {
        return deny(
            Denial::InvalidRequest("the path contains dot-segments".into()),
            &[],
        );
    }
    if let Some(minimum) = policy.min_tls_version {
        let version = request.tls_version.as_deref().and_then(TlsVersion::parse);
        if version.is_none_or(|version| version < minimum) {
            return deny(
                Denial::AccessDenied(format!("{} or newer is required", minimum.name())),
                &[],
            );
        }
    }
    if policy.allow_cors_preflight && is_cors_preflight(request) {
        return Decision::Allow(forwarding);
    }
    let route = match policy.rules.requirement(&request.method, path) {
        Requirement::Public => return Decision::Allow(forwarding),
        Requirement::Authenticated(route) => route,
    };
    let schemes = route.accept.as_slice();
    let presented = match policy.credentials.find(request) {
        Ok(Some(presented)) => presented,
        Ok(None) => return deny(Denial::MissingCredential, schemes),
        Err(err) => return deny(Denial::InvalidRequest(err.to_string()), schemes),
    };
    let kind = presented.credential.kind();
    if !schemes.contains(&kind) {
        return deny(Denial::CredentialNotAccepted, schemes);
    }

    // Keeps a cached token identity alive while `caller` borrows from it.
    let identity: Rc<Identity>;
    let caller = match &presented.credential {
        Credential::Jwt(token) => {
            if cache.is_inactive(token, now) {
                return deny(Denial::InvalidToken("token is not active".into()), schemes);
            }
            if let Some(provider) = introspected_by(policy, token) {
                if cache.get(token, now).is_none() {
                    return Decision::Introspect {
                        provider,
                        token: token.to_string(),
                    };
                }
            }
            match cached_or_verified(policy, keys, guard, cache, token, now) {
                Ok(verified) => {
                    identity = verified;
                    jwt_caller(policy, &identity)
                }
                Err(Unverified::Limited(denial)) => return deny(denial, schemes),
                Err(Unverified::Token(err)) => {
                    if let Some(wait) = await_keys(policy, token, err) {
                        return wait;
                    }
                    log::debug!("denied {} {}: {err}", request.method, path);
                    return deny(Denial::InvalidToken(err.to_string()), schemes);
                }
            }
        }
        Credential::ApiKey { id, secret } => match authenticate_client(policy, guard, id, secret) {
            Ok(client) => client_caller(kind, client),
            Err(denial) => return deny(denial, kind.as_slice()),
        },
        Credential::Basic { id, secret } => match authenticate_client(policy, guard, id, secret) {
            Ok(client) => client_caller(kind, client),
            Err(denial) => return deny(denial, kind.as_slice()),
        },
    };

    if let Err(denial) = check_caller(policy, route, request, &caller) {
        log::debug!(
            "denied {} {}: {}",
            request.method,
            path,
            denial.description()
        );
        return deny(denial, schemes);
    }

    forwarding
        .remove
        .extend(presented.consumed_headers.iter().copied());
    if presented.path_without_token.is_some() {
        forwarding.path = presented.path_without_token;
    }
    let application = policy
        .app_header
        .as_deref()
        .and_then(|name| request.single_header(name).ok().flatten());
    add_identity_headers(policy, &caller, application, &mut forwarding.set);
    Decision::Allow(forwarding)
}

/// The client an API key pair or Basic credential authenticates: a locked-out source is
/// refused before any secret comparison, and a failed comparison is counted.
fn authenticate_client<'a>(
    policy: &'a Policy,
    guard: Option<&Guard>,
    id: &str,
    secret: &str,
) -> Result<&'a crate::clients::Client, Denial> {
    if let Some(guard) = guard {
        guard.check_lockout(id)?;
    }
    match policy.clients.authenticate(id, secret.as_bytes()) {
        Some(client) => Ok(client),
        None => {
            if let Some(guard) = guard {
                guard.record_failure(id);
            }
            Err(Denial::InvalidClient)
        }
    }
}

/// The provider whose introspection endpoint decides `token`: the one introspecting every
/// token, or, for a token that is not a JWT, the one introspecting opaque tokens.
fn introspected_by(policy: &Policy, token: &str) -> Option<usize> {
    let (index, introspection) = policy
        .endpoints
        .iter()
        .enumerate()
        .find_map(|(index, e)| e.introspection.as_ref().map(|i| (index, i)))?;
    (introspection.all_tokens || !token::looks_like_jwt(token)).then_some(index)
}

/// For a token refused only for want of its issuer's keys: the decision to wait for them.
fn await_keys<'a>(policy: &Policy, token: &str, err: token::TokenError) -> Option<Decision<'a>> {
    let unknown_kid = match err {
        token::TokenError::KeysUnavailable => false,
        token::TokenError::UnknownKey => true,
        _ => return None,
    };
    let provider = token::claimed_provider(token, &policy.providers)?;
    let remote = policy.endpoints.get(provider)?.remote.as_ref()?;
    let otherwise = if unknown_kid {
        Denial::InvalidToken(err.to_string())
    } else {
        log::debug!("no keys yet from cluster {}", remote.cluster);
        Denial::Unavailable(err.to_string())
    };
    Some(Decision::AwaitKeys {
        provider,
        unknown_kid,
        otherwise,
    })
}

/// Why a token was not verified: the token itself, or an abuse limit before the signature.
enum Unverified {
    Token(token::TokenError),
    Limited(Denial),
}

impl From<token::TokenError> for Unverified {
    fn from(err: token::TokenError) -> Unverified {
        Unverified::Token(err)
    }
}

fn cached_or_verified(
    policy: &Policy,
    keys: &dyn KeyLookup,
    guard: Option<&Guard>,
    cache: &mut TokenCache,
    token: &str,
    now: u64,
) -> Result<Rc<Identity>, Unverified> {
    if let Some(identity) = cache.get(token, now) {
        return Ok(identity);
    }
    let unverified = token::check_before_signature(token, &policy.providers, keys, now)?;
    if let Some(guard) = guard {
        guard.spend_signature_check().map_err(Unverified::Limited)?;
    }
    let identity = Rc::new(unverified.verify_signature(&policy.providers, &policy.forward)?);
    let skew = policy
        .providers
        .get(identity.provider)
        .map_or(0, |p| p.clock_skew_seconds);
    cache.insert(
        token,
        Rc::clone(&identity),
        identity.expires_at.saturating_add(skew),
        now,
    );
    Ok(identity)
}

fn jwt_caller<'a>(policy: &'a Policy, identity: &'a Identity) -> Caller<'a> {
    let provider = policy.providers.get(identity.provider);
    Caller {
        kind: CredentialKind::Jwt,
        client_id: identity.client_id.as_deref(),
        subject: identity.subject.as_deref(),
        provider,
        scopes: &identity.scopes,
        apps: &identity.apps,
        networks: [
            provider.map_or(&[][..], |p| &p.allowed_cidrs),
            &identity.allowed_cidrs,
        ],
        origins: provider.map_or(&[][..], |p| &p.allowed_origins),
        claims: &identity.forwarded_claims,
    }
}

fn client_caller(kind: CredentialKind, client: &crate::clients::Client) -> Caller<'_> {
    Caller {
        kind,
        client_id: Some(&client.id),
        subject: Some(&client.id),
        provider: None,
        scopes: &client.scopes,
        apps: &client.apps,
        networks: [&client.allowed_cidrs, &[]],
        origins: &client.allowed_origins,
        claims: &[],
    }
}

/// Scopes, then where the caller comes from, then the application it acts for.
fn check_caller(
    policy: &Policy,
    route: &Route,
    request: &Request,
    caller: &Caller,
) -> Result<(), Denial> {
    if !route
        .scopes
        .iter()
        .all(|scope| caller.scopes.contains(scope))
    {
        return Err(Denial::InsufficientScope(route.scopes.clone()));
    }
    if caller.networks.iter().any(|list| !list.is_empty()) {
        let forwarded: Vec<&str> = request.header_values("x-forwarded-for").collect();
        let address = client_address(request.source_address, &forwarded, policy.trusted_hops);
        let allowed = address.is_some_and(|address| {
            caller
                .networks
                .iter()
                .all(|list| list.is_empty() || any_contains(list, address))
        });
        if !allowed {
            return Err(Denial::AccessDenied(
                "requests from this network are not allowed".into(),
            ));
        }
    }
    if !caller.origins.is_empty() {
        let origin = request
            .single_header("origin")
            .ok()
            .flatten()
            .filter(|origin| *origin != "null");
        let host = origin
            .or_else(|| request.single_header("referer").ok().flatten())
            .and_then(url_host);
        if !host.is_some_and(|host| caller.origins.iter().any(|pattern| pattern.matches(&host))) {
            return Err(Denial::AccessDenied(
                "requests from this origin are not allowed".into(),
            ));
        }
    }
    if let Some(app_header) = &policy.app_header {
        let application = request.single_header(app_header).map_err(|_| {
            Denial::InvalidRequest(format!("the {app_header} header appears more than once"))
        })?;
        match application {
            Some(app) if app.contains(',') => {
                return Err(Denial::InvalidRequest(format!(
                    "the {app_header} header appears more than once"
                )));
            }
            Some(app) if !caller.apps.iter().any(|granted| granted == app) => {
                return Err(Denial::AccessDenied(
                    "the application is not granted to this credential".into(),
                ));
            }
            None if route.require_app => {
                return Err(Denial::AccessDenied(format!(
                    "this route requires the {app_header} header"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_cors_preflight(request: &Request) -> bool {
    request.method.eq_ignore_ascii_case("OPTIONS")
        && request.has_header("origin")
        && request.has_header("access-control-request-method")
}

fn add_identity_headers<'a>(
    policy: &'a Policy,
    caller: &Caller,
    application: Option<&str>,
    set: &mut Vec<(&'a str, String)>,
) {
    let forward = &policy.forward;
    let mut add = |header: &'a Option<String>, value: Option<&str>| {
        if let (Some(header), Some(value)) = (header, value) {
            if !value.chars().any(char::is_control) {
                set.push((header.as_str(), value.to_string()));
            }
        }
    };
    add(&forward.subject_header, caller.subject);
    add(&forward.scopes_header, Some(&caller.scopes.join(" ")));
    add(
        &forward.provider_header,
        caller.provider.map(|p| p.name.as_str()),
    );
    add(&forward.client_header, caller.client_id);
    add(&forward.credential_header, Some(caller.kind.name()));
    add(&forward.application_header, application);
    for (index, value) in caller.claims {
        if let Some((_, header)) = forward.claims.get(*index) {
            set.push((header.as_str(), value.clone()));
        }
    }
}
