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
//! signature math (as does an introspection call before it is made, and a DPoP proof before
//! its signature: [`sender`]). Where only the issuer can settle a token (its keys are not in yet,
//! or it is opaque), the decision says so and the filter asks, then decides again.
//!
//! Every decision comes with its [`Outcome`] (verdict, reason code, credential kind, provider,
//! caller) for metrics and the access log, and can leave a trace ([`Tracer`]) of each check for
//! `edge-auth explain`. In report mode (the route's `mode`, else the global one) a refusal is
//! turned into a forward: spoofed identity headers and consumed credentials are still removed,
//! and identity headers are added only for a credential that passed.

use std::net::IpAddr;
use std::rc::Rc;

use crate::identity::{forwarded_text, Identity};
use crate::issuer::introspection;
use crate::jwt::provider::Provider;
use crate::jwt::token::{self, InlineKeys, KeyLookup};
use crate::policy::abuse::Guard;
use crate::policy::cache::TokenCache;
use crate::policy::deny::Denial;
use crate::policy::explain::{Tracer, Untraced};
use crate::policy::outcome::{Outcome, Reason, Verdict};
use crate::policy::records::SharedStore;
use crate::policy::replay::ReplayEntry;
use crate::policy::rules::{Requirement, Route};
use crate::policy::sender;
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
    /// A DPoP proof to record as used before forwarding: refuse the request if it was used
    /// already (the host owns the replay cache shared by the workers).
    pub replay: Option<ReplayEntry>,
}

/// A decision with what is reported about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided<'a> {
    /// What to do with the request.
    pub decision: Decision<'a>,
    /// Verdict, reason, credential kind, provider and caller, for metrics and the access log.
    pub outcome: Outcome<'a>,
}

/// What the filter learnt while the request waited for its issuer, for deciding it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Nothing yet: the decision may ask to wait for keys or an introspection answer.
    Open,
    /// No more waiting: keys still missing, or an introspection call that could not be made,
    /// are refused as they stand (503, or 401 for an unknown `kid`).
    Final,
    /// The introspection endpoint refused the token, or could not answer: this refusal.
    Refused(Denial, Reason),
    /// The introspection endpoint vouched for the token just now: it is decided with this
    /// identity in hand, whether or not the token cache kept the answer.
    Active(Rc<Identity>),
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

/// What a refused request's credential left to strip, should report mode forward it.
enum Consumed<'a, 'r> {
    /// These headers carried the credential (possibly none).
    Known(&'r [&'a str]),
    /// The credential could not be read: every header that may carry a secret goes.
    Unknown(&'r Request),
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
    evaluate(
        policy,
        keys,
        cache,
        request,
        now,
        &Settled::Open,
        &mut Untraced,
    )
    .decision
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
    evaluate_guarded(
        policy,
        keys,
        guard.as_ref(),
        cache,
        request,
        now_ms / 1000,
        &Settled::Open,
        &mut Untraced,
    )
    .decision
}

/// The decision and its outcome: what the filter runs for every request, and what
/// `edge-auth explain` runs with a recording [`Tracer`] (the filter's [`Untraced`] compiles to
/// nothing). `settled` says what the issuer already
/// answered for a request that waited.
pub fn evaluate<'a, T: Tracer>(
    policy: &'a Policy,
    keys: &dyn KeyLookup,
    cache: &mut TokenCache,
    request: &Request,
    now: u64,
    settled: &Settled,
    trace: &mut T,
) -> Decided<'a> {
    evaluate_guarded(policy, keys, None, cache, request, now, settled, trace)
}

/// [`evaluate`] with the abuse limits of `guard` (built per request by [`Guard::new`] from the
/// policy's `abuse` block; `None` when none is configured): a locked-out source is refused
/// before any secret comparison, and a first-sight token spends the source's signature-check
/// budget just before the signature math.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_guarded<'a, T: Tracer>(
    policy: &'a Policy,
    keys: &dyn KeyLookup,
    guard: Option<&Guard>,
    cache: &mut TokenCache,
    request: &Request,
    now: u64,
    settled: &Settled,
    trace: &mut T,
) -> Decided<'a> {
    // Identity headers the client sent are removed (they could be spoofed); the ones it did not
    // send need no removal, and every removal is a call into Envoy on the request path.
    let forwarding = Forwarding {
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
        replay: None,
    };
    let mut outcome = Outcome::default();
    let path = request.path_only();
    let canonical = match policy
        .rules
        .canonical_path(policy.paths, &request.method, &request.path)
    {
        Ok(canonical) => canonical,
        Err(err) => {
            trace.fail("path", || err.to_string());
            return refuse(
                policy,
                policy.report,
                forwarding,
                outcome,
                Consumed::Unknown(request),
                (
                    Denial::InvalidRequest(err.to_string()),
                    Reason::MalformedRequest,
                ),
                &[],
                trace,
            );
        }
    };
    trace.pass("path", || format!("canonical: {canonical}"));
    if let Some(minimum) = policy.min_tls_version {
        let version = request.tls_version.as_deref().and_then(TlsVersion::parse);
        if version.is_none_or(|version| version < minimum) {
            trace.fail("TLS", || {
                format!(
                    "{} is older than the minimum {}",
                    request.tls_version.as_deref().unwrap_or("plain text"),
                    minimum.name()
                )
            });
            let denial = Denial::AccessDenied(format!("{} or newer is required", minimum.name()));
            return refuse(
                policy,
                policy.report,
                forwarding,
                outcome,
                Consumed::Unknown(request),
                (denial, Reason::Tls),
                &[],
                trace,
            );
        }
        trace.pass("TLS", || {
            format!(
                "{} meets the minimum {}",
                request.tls_version.as_deref().unwrap_or_default(),
                minimum.name()
            )
        });
    }
    if policy.allow_cors_preflight && is_cors_preflight(request) {
        trace.pass("CORS preflight", || {
            "OPTIONS with Origin and Access-Control-Request-Method: forwarded without a credential"
                .into()
        });
        // Nothing was checked, so nothing that could be a credential travels on.
        let mut forwarding = forwarding;
        let dpop = policy.sender.dpop.as_ref().map(|_| sender::DPOP_HEADER);
        for header in policy
            .credentials
            .credential_headers()
            .into_iter()
            .chain(dpop)
        {
            if request.has_header(header) && !forwarding.remove.contains(&header) {
                forwarding.remove.push(header);
            }
        }
        outcome.verdict = Some(Verdict::Preflight);
        return Decided {
            decision: Decision::Allow(forwarding),
            outcome,
        };
    }
    let (rule, requirement) = policy.rules.matching(&request.method, &canonical);
    let describe = || match rule.and_then(|index| Some((index, policy.rules.describe(index)?))) {
        Some((index, text)) => format!("rules[{index}]: {text}"),
        None => "no rule matches: the default (any valid credential, no scope)".to_string(),
    };
    let route = match requirement {
        Requirement::Public => {
            trace.pass("rule", describe);
            outcome.verdict = Some(Verdict::Public);
            return Decided {
                decision: Decision::Allow(forwarding),
                outcome,
            };
        }
        Requirement::Authenticated(route) => route,
    };
    trace.info("rule", || {
        let names: Vec<&str> = route.accept.iter().map(|kind| kind.name()).collect();
        format!(
            "{}; accepts {}; scopes [{}]{}; mode {}",
            describe(),
            names.join(", "),
            route.scopes.join(" "),
            if route.require_app {
                "; requires an application"
            } else {
                ""
            },
            if route.report { "report" } else { "enforce" }
        )
    });
    let report = route.report;
    let schemes = route.accept.as_slice();
    let presented = match policy.credentials.find(request) {
        Ok(Some(presented)) => presented,
        Ok(None) => {
            trace.fail("credential", || "none found".into());
            return refuse(
                policy,
                report,
                forwarding,
                outcome,
                Consumed::Known(&[]),
                (Denial::MissingCredential, Reason::MissingCredential),
                schemes,
                trace,
            );
        }
        Err(err) => {
            trace.fail("credential", || format!("cannot be read: {err}"));
            return refuse(
                policy,
                report,
                forwarding,
                outcome,
                Consumed::Unknown(request),
                (
                    Denial::InvalidRequest(err.to_string()),
                    Reason::MalformedRequest,
                ),
                schemes,
                trace,
            );
        }
    };
    let kind = presented.credential.kind();
    outcome.credential = Some(kind);
    let consumed = Consumed::Known(&presented.consumed_headers);
    trace.pass("credential", || {
        let place = match (&presented.credential, presented.consumed_headers.first()) {
            (Credential::Jwt(_), _) if presented.path_without_token.is_some() => {
                "the query string".to_string()
            }
            (Credential::ApiKey { .. }, _) => policy
                .credentials
                .api_key_headers
                .as_ref()
                .map_or(String::new(), |(id, secret)| {
                    format!("headers {id} and {secret}")
                }),
            (_, Some(header)) => format!("header {header}"),
            (_, None) => "the request".to_string(),
        };
        format!("{} in {place}", kind.name())
    });
    if !schemes.contains(&kind) {
        trace.fail("credential kind", || {
            format!("this route does not accept {}", kind.name())
        });
        return refuse(
            policy,
            report,
            forwarding,
            outcome,
            consumed,
            (Denial::CredentialNotAccepted, Reason::CredentialNotAccepted),
            schemes,
            trace,
        );
    }

    // Keeps a cached token identity alive while `caller` borrows from it.
    let identity: Rc<Identity>;
    // How a token was shown to be the sender's (DPoP proof, client certificate), if it was.
    let mut bound = sender::Bound::default();
    let caller = match &presented.credential {
        Credential::Jwt(token) => {
            let introspected = introspected_by(policy, token);
            if let Some(index) = introspected {
                outcome.provider_index = Some(index);
                outcome.provider = policy.providers.get(index).map(|p| p.name.as_str());
                if introspection::too_long(token) {
                    trace.fail("introspection", || {
                        format!("a token of {} bytes is never sent", token.len())
                    });
                    let err = token::TokenError::TooLarge;
                    let refusal = (
                        Denial::InvalidToken(err.to_string()),
                        Reason::for_token(err),
                    );
                    return refuse(
                        policy, report, forwarding, outcome, consumed, refusal, schemes, trace,
                    );
                }
            }
            if cache.is_inactive(token, now) {
                trace.fail("introspection", || {
                    "the endpoint called this token inactive (answer remembered)".into()
                });
                let denial = Denial::InvalidToken("token is not active".into());
                return refuse(
                    policy,
                    report,
                    forwarding,
                    outcome,
                    consumed,
                    (denial, Reason::IntrospectionInactive),
                    schemes,
                    trace,
                );
            }
            // An answer just received decides its request without a round trip through the cache.
            let answered = match (settled, introspected) {
                (Settled::Active(identity), Some(index)) if identity.provider == index => {
                    Some(Rc::clone(identity))
                }
                _ => None,
            };
            if let (Some(index), None) = (introspected, &answered) {
                if cache.get(token, now, keys).is_none() {
                    let refusal = match settled {
                        Settled::Open => {
                            cache.note_miss();
                            // A call to the issuer is spent from the source's budget, as a
                            // signature check is: random strings cannot make one call each.
                            if let Err(denial) = guard.map_or(Ok(()), Guard::spend_signature_check)
                            {
                                trace.fail("check budget", || denial.description());
                                let reason = Reason::of_limit(&denial);
                                return refuse(
                                    policy,
                                    report,
                                    forwarding,
                                    outcome,
                                    consumed,
                                    (denial, reason),
                                    schemes,
                                    trace,
                                );
                            }
                            trace.info("introspection", || {
                                let cluster = policy
                                    .endpoints
                                    .get(index)
                                    .and_then(|e| e.introspection.as_ref())
                                    .map_or("", |i| i.cluster.as_str());
                                format!("the filter asks the endpoint through cluster {cluster}")
                            });
                            return Decided {
                                decision: Decision::Introspect {
                                    provider: index,
                                    token: token.to_string(),
                                },
                                outcome,
                            };
                        }
                        Settled::Final => (
                            Denial::Unavailable(
                                "the token introspection endpoint is unavailable".into(),
                            ),
                            Reason::IntrospectionUnavailable,
                        ),
                        Settled::Refused(denial, reason) => (denial.clone(), *reason),
                        // An answer for another provider's token (never asked): not this one's.
                        Settled::Active(_) => (
                            Denial::Unavailable(
                                "the token introspection endpoint is unavailable".into(),
                            ),
                            Reason::IntrospectionUnavailable,
                        ),
                    };
                    trace.fail("introspection", || refusal.0.description());
                    return refuse(
                        policy, report, forwarding, outcome, consumed, refusal, schemes, trace,
                    );
                }
            }
            let checked = match answered {
                Some(identity) => Ok((identity, false)),
                None => cached_or_verified(policy, keys, guard, cache, token, now),
            };
            match checked {
                Ok((verified, hit)) => {
                    trace.pass("token", || {
                        if hit {
                            "verified earlier (token cache)".into()
                        } else if introspected.is_some() {
                            "active (introspection answer)".into()
                        } else {
                            format!("passed: {}", token::CHECKS.join("; "))
                        }
                    });
                    identity = verified;
                    outcome.provider_index = Some(identity.provider);
                    outcome.provider = policy
                        .providers
                        .get(identity.provider)
                        .map(|p| p.name.as_str());
                    match sender::check(policy, route, request, token, &identity, guard, now) {
                        Ok(proven) => {
                            if let Some(via) = proven.via {
                                trace.pass("sender", || {
                                    format!("the token's binding is proven ({via})")
                                });
                            }
                            bound = proven;
                        }
                        Err(denial) => {
                            trace.fail("sender", || denial.description());
                            let reason = Reason::of_sender_denial(&denial);
                            return refuse(
                                policy,
                                report,
                                forwarding,
                                outcome,
                                consumed,
                                (denial, reason),
                                schemes,
                                trace,
                            );
                        }
                    }
                    jwt_caller(policy, &identity)
                }
                Err(Unverified::Limited(denial)) => {
                    trace.fail("signature budget", || denial.description());
                    let reason = Reason::of_limit(&denial);
                    return refuse(
                        policy,
                        report,
                        forwarding,
                        outcome,
                        consumed,
                        (denial, reason),
                        schemes,
                        trace,
                    );
                }
                Err(Unverified::Token(err)) => {
                    if outcome.provider_index.is_none() {
                        outcome.provider_index = token::claimed_provider(token, &policy.providers);
                        outcome.provider = outcome
                            .provider_index
                            .and_then(|index| policy.providers.get(index))
                            .map(|p| p.name.as_str());
                    }
                    trace_token_checks(trace, err);
                    let refusal = match await_keys(policy, token, err) {
                        Some((wait, _)) if *settled == Settled::Open => {
                            trace.info("issuer keys", || {
                                "the filter waits for the issuer's keys, then decides again".into()
                            });
                            return Decided {
                                decision: wait,
                                outcome,
                            };
                        }
                        Some((_, refusal)) => refusal,
                        None => {
                            log::debug!("denied {} {}: {err}", request.method, path);
                            (
                                Denial::InvalidToken(err.to_string()),
                                Reason::for_token(err),
                            )
                        }
                    };
                    return refuse(
                        policy, report, forwarding, outcome, consumed, refusal, schemes, trace,
                    );
                }
            }
        }
        // Both kinds authenticate against the same clients, with the same lockout.
        Credential::ApiKey { .. } | Credential::Basic { .. } => {
            let (id, secret) = presented.credential.client().unwrap_or_default();
            match authenticate_client(policy, guard, id, secret) {
                Ok(client) => {
                    trace.pass("client", || format!("client {id:?} authenticated"));
                    client_caller(kind, client)
                }
                Err(denial) => {
                    trace.fail("client", || denial.description());
                    let reason = Reason::of_limit(&denial);
                    return refuse(
                        policy,
                        report,
                        forwarding,
                        outcome,
                        consumed,
                        (denial, reason),
                        kind.as_slice(),
                        trace,
                    );
                }
            }
        }
    };
    // The credential passed: who the caller is may be reported from here on.
    outcome.client = caller.client_id.map(str::to_string);
    outcome.subject = caller.subject.map(str::to_string);

    let mut forwarding = forwarding;
    let checked = check_caller(policy, route, request, &caller, trace);
    forwarding
        .remove
        .extend(presented.consumed_headers.iter().copied());
    if presented.path_without_token.is_some() {
        forwarding.path = presented.path_without_token;
    }
    if let Err((denial, reason)) = checked {
        log::debug!(
            "denied {} {}: {}",
            request.method,
            path,
            denial.description()
        );
        outcome.reason = Some(reason);
        if !report {
            outcome.verdict = Some(Verdict::Denied);
            return Decided {
                decision: Decision::Deny { denial, schemes },
                outcome,
            };
        }
        trace.info("mode", || {
            "report: forwarded anyway, with the identity of the credential that passed".into()
        });
        outcome.verdict = Some(Verdict::WouldDeny);
    } else {
        outcome.verdict = Some(Verdict::Allowed);
    }
    // A refused application is never forwarded as the caller's.
    let application = policy
        .app_header
        .as_deref()
        .filter(|_| outcome.verdict == Some(Verdict::Allowed))
        .and_then(|name| request.single_header(name).ok().flatten());
    add_identity_headers(policy, &caller, application, &mut forwarding.set);
    sender::forward(policy, request, bound, &mut forwarding);
    Decided {
        decision: Decision::Allow(forwarding),
        outcome,
    }
}

/// Refuses, or in report mode forwards what the refused request may still carry: spoofed
/// identity headers and its credential removed, no identity added.
#[allow(clippy::too_many_arguments)]
fn refuse<'a, T: Tracer>(
    policy: &'a Policy,
    report: bool,
    mut forwarding: Forwarding<'a>,
    mut outcome: Outcome<'a>,
    consumed: Consumed<'a, '_>,
    (denial, reason): (Denial, Reason),
    schemes: &'a [CredentialKind],
    trace: &mut T,
) -> Decided<'a> {
    outcome.reason = Some(reason);
    if !report {
        outcome.verdict = Some(Verdict::Denied);
        return Decided {
            decision: Decision::Deny { denial, schemes },
            outcome,
        };
    }
    let strip: Vec<&'a str> = match consumed {
        Consumed::Known(headers) => headers.to_vec(),
        Consumed::Unknown(request) => policy
            .credentials
            .secret_headers()
            .into_iter()
            .filter(|name| request.has_header(name))
            .collect(),
    };
    for header in strip {
        if !forwarding.remove.contains(&header) {
            forwarding.remove.push(header);
        }
    }
    trace.info("mode", || {
        "report: forwarded anyway, without the credential and without identity headers".into()
    });
    outcome.verdict = Some(Verdict::WouldDeny);
    Decided {
        decision: Decision::Allow(forwarding),
        outcome,
    }
}

/// Records the token checks up to the one `err` failed.
fn trace_token_checks<T: Tracer>(trace: &mut T, err: token::TokenError) {
    let failed = err.check();
    for check in token::CHECKS.iter().take(failed) {
        trace.pass("token", || format!("{check}: passed"));
    }
    if let Some(check) = token::CHECKS.get(failed) {
        trace.fail("token", || format!("{check}: {err}"));
    }
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

/// For a token refused only for want of its issuer's keys: the decision to wait for them, and
/// the refusal should no wait be possible.
fn await_keys<'a>(
    policy: &Policy,
    token: &str,
    err: token::TokenError,
) -> Option<(Decision<'a>, (Denial, Reason))> {
    let unknown_kid = match err {
        token::TokenError::KeysUnavailable => false,
        token::TokenError::UnknownKey => true,
        _ => return None,
    };
    let provider = token::claimed_provider(token, &policy.providers)?;
    let remote = policy.endpoints.get(provider)?.remote.as_ref()?;
    let refusal = if unknown_kid {
        (Denial::InvalidToken(err.to_string()), Reason::UnknownKey)
    } else {
        log::debug!("no keys yet from cluster {}", remote.cluster);
        (
            Denial::Unavailable(err.to_string()),
            Reason::IssuerKeysUnavailable,
        )
    };
    Some((
        Decision::AwaitKeys {
            provider,
            unknown_kid,
            otherwise: refusal.0.clone(),
        },
        refusal,
    ))
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

/// The token's identity from the cache, or verified now (and cached); whether it was a hit.
fn cached_or_verified(
    policy: &Policy,
    keys: &dyn KeyLookup,
    guard: Option<&Guard>,
    cache: &mut TokenCache,
    token: &str,
    now: u64,
) -> Result<(Rc<Identity>, bool), Unverified> {
    if let Some(identity) = cache.lookup(token, now, keys) {
        return Ok((identity, true));
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
        keys.key_version(identity.provider),
    );
    Ok((identity, false))
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
fn check_caller<T: Tracer>(
    policy: &Policy,
    route: &Route,
    request: &Request,
    caller: &Caller,
    trace: &mut T,
) -> Result<(), (Denial, Reason)> {
    if let Some(missing) = route
        .scopes
        .iter()
        .find(|scope| !caller.scopes.contains(scope))
    {
        trace.fail("scopes", || format!("lacks {missing}"));
        return Err((
            Denial::InsufficientScope(route.scopes.clone()),
            Reason::InsufficientScope,
        ));
    }
    if !route.scopes.is_empty() {
        trace.pass("scopes", || format!("has {}", route.scopes.join(" ")));
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
        let shown = || address.map_or("unknown".to_string(), |a| a.to_string());
        if !allowed {
            trace.fail("network", || {
                format!("caller address {} is not allowed", shown())
            });
            return Err((
                Denial::AccessDenied("requests from this network are not allowed".into()),
                Reason::Network,
            ));
        }
        trace.pass("network", || {
            format!("caller address {} is allowed", shown())
        });
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
        if !host
            .as_ref()
            .is_some_and(|host| caller.origins.iter().any(|pattern| pattern.matches(host)))
        {
            trace.fail("origin", || {
                format!("{} is not allowed", host.as_deref().unwrap_or("no origin"))
            });
            return Err((
                Denial::AccessDenied("requests from this origin are not allowed".into()),
                Reason::Origin,
            ));
        }
        trace.pass("origin", || {
            format!("{} is allowed", host.as_deref().unwrap_or_default())
        });
    }
    if let Some(app_header) = &policy.app_header {
        let repeated = || {
            (
                Denial::InvalidRequest(format!("the {app_header} header appears more than once")),
                Reason::MalformedRequest,
            )
        };
        let application = request.single_header(app_header).map_err(|_| repeated())?;
        match application {
            Some(app) if app.contains(',') => {
                trace.fail("application", || {
                    format!("{app_header} appears more than once")
                });
                return Err(repeated());
            }
            Some(app) if !caller.apps.iter().any(|granted| granted == app) => {
                trace.fail("application", || format!("{app:?} is not granted"));
                return Err((
                    Denial::AccessDenied(
                        "the application is not granted to this credential".into(),
                    ),
                    Reason::Application,
                ));
            }
            None if route.require_app => {
                trace.fail("application", || format!("the route requires {app_header}"));
                return Err((
                    Denial::AccessDenied(format!("this route requires the {app_header} header")),
                    Reason::Application,
                ));
            }
            Some(app) => trace.pass("application", || format!("{app:?} is granted")),
            None => {}
        }
    }
    Ok(())
}

/// A CORS preflight: `OPTIONS` (methods are case-sensitive, RFC 9110 §9.1) with `Origin` and
/// `Access-Control-Request-Method`.
fn is_cors_preflight(request: &Request) -> bool {
    request.method == "OPTIONS"
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
            set.push((header.as_str(), forwarded_text(value).into_owned()));
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
