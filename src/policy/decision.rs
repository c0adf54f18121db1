//! The decision: given the policy, a request and the time, allow (with the header changes the
//! upstream must see), deny (with the reply the client must see), or wait for the issuer.
//!
//! A request runs through stages, in this order ([`Run::stages`], one screen): path sanity,
//! minimum TLS, CORS preflight, route, credential, authentication ([`authenticate`]: abuse lock,
//! verified-token cache, introspection, signature, API key clients), the route's token
//! narrowing (providers, audiences: on the identity, so on a cache hit too), sender binding
//! ([`sender`]), scopes, claim conditions, path bindings, then the allow-lists ([`caller`]: source network, web
//! origin, application), a rule's introspection of the token ([`confirm`]: last, so that only
//! a token every local check passed costs the issuer a call), then forwarding. Each stage returns what the next needs or a [`Stop`]: a
//! decision without refusal (public route, preflight, a wait for the issuer's keys or an
//! introspection answer), or a refusal with its reason code. Every refusal passes one exit
//! ([`Run::refused`]), which records its reason and verdict in the [`Outcome`] (metrics and the
//! access log read it), writes the debug line, and in report mode (the route's `mode`, else the
//! global one) turns it into a forward: spoofed identity headers and consumed credentials are
//! still removed, and identity headers are added only for a credential that passed. A refusal
//! challenges every scheme the route accepts until a credential of one of them is read, then
//! only that credential's scheme ([`Challenge`]).
//!
//! The abuse limits, when configured, come in three places: a locked-out source is refused
//! before any secret comparison, and a token that passed every cheap check and missed the cache
//! spends the source's budget before the signature math (as does an introspection call before
//! it is made, and a DPoP proof before its signature). Each stage reports to a [`Tracer`] for
//! `edge-auth explain`; the filter's [`Untraced`] compiles to nothing.
//!
//! [`authenticate`]: crate::policy::authenticate
//! [`caller`]: crate::policy::caller
//! [`confirm`]: crate::policy::confirm

use std::net::IpAddr;

use crate::jwt::confirmation::SenderConstraint;
use crate::jwt::token::{InlineKeys, KeyLookup};
use crate::policy::abuse::records::SharedStore;
use crate::policy::abuse::Guard;
pub use crate::policy::answer::{Decided, Decision, Forwarding, Settled, Stop};
use crate::policy::authenticate::{authenticate, Authenticated, Verifier};
use crate::policy::cache::TokenCache;
use crate::policy::caller::{
    add_identity_headers, check_application, check_bindings, check_claims, check_network,
    check_origin, check_scopes, Caller, Refusal,
};
use crate::policy::confirm::confirmed_by_issuer;
use crate::policy::deny::{Challenge, Denial, Scheme};
use crate::policy::outcome::{Outcome, Reason, Verdict};
use crate::policy::rules::{Requirement, Route};
use crate::policy::sender;
use crate::policy::trace::{Tracer, Untraced};
use crate::policy::Policy;
use crate::request::credential::{Credential, Embedded, Place, Presented, Request};
use crate::request::transport::TlsVersion;

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
/// policy's `abuse` block; `None` when none is configured).
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
    let mut verifier = Verifier {
        keys,
        guard,
        cache,
        now,
        settled,
    };
    let mut run = Run::new(policy, request, trace);
    let decision = match run.stages(&mut verifier) {
        Ok(decision) => decision,
        Err(Stop::Decided(decision)) => decision,
        Err(Stop::Refused(denial, reason)) => run.refused(denial, reason),
    };
    Decided {
        decision,
        outcome: run.outcome,
    }
}

/// The header the token cookie comes in (HTTP/2's several are one list to Envoy's filters).
const COOKIE: &str = "cookie";

/// One request on its way through the stages: what they read, and what they learnt so far.
struct Run<'a, 'r, T> {
    policy: &'a Policy,
    request: &'r Request,
    trace: &'r mut T,
    /// The header changes so far: spoofed identity headers removed, the query token and the
    /// token cookie cut.
    forwarding: Forwarding<'a>,
    /// What is reported about the decision.
    outcome: Outcome<'a>,
    /// Report mode: the route's, the global one before a route is known.
    report: bool,
    /// Whom a refusal challenges: the route's accepted schemes until a credential of one of
    /// them is read, then that credential's scheme alone.
    challenge: Challenge<'a>,
    /// The headers the credential was read from; `None` until it was read (a refusal in report
    /// mode then strips every header that may carry a secret).
    consumed: Option<Vec<&'a str>>,
    /// The token parameter of the query string and the token cookie, read once.
    embedded: Embedded,
}

impl<'a, 'r, T: Tracer> Run<'a, 'r, T> {
    /// A request before any stage: identity headers the client sent are removed (they could be
    /// spoofed; the ones it did not send need no removal, and every removal is a call into
    /// Envoy), and a query token and a token cookie are cut whatever happens next: the path
    /// loses the parameter, the `Cookie` header the cookie (and goes when no other is left).
    fn new(policy: &'a Policy, request: &'r Request, trace: &'r mut T) -> Run<'a, 'r, T> {
        // The query string and cookies are read once: the credential stage finds tokens in this.
        let embedded = policy.credentials.embedded(request);
        let mut forwarding = Forwarding {
            remove: policy
                .forward
                .header_names()
                .filter(|name| request.has_header(name))
                .collect(),
            set: Vec::new(),
            path: embedded.query.path_without().map(str::to_string),
            replay: None,
        };
        match embedded.cookie.others() {
            None => {}
            Some("") => forwarding.remove.push(COOKIE),
            Some(others) => forwarding.set.push((COOKIE, others.to_string())),
        }
        Run {
            policy,
            request,
            trace,
            forwarding,
            outcome: Outcome::default(),
            report: policy.report,
            challenge: Challenge::Accepted(&[]),
            consumed: None,
            embedded,
        }
    }

    /// The stages, in order. Each returns what the next needs, or stops the request.
    fn stages(&mut self, verifier: &mut Verifier<'_, '_>) -> Result<Decision<'a>, Stop<'a>> {
        let (path, rule) = self.path_sanity()?;
        self.minimum_tls()?;
        self.cors_preflight()?;
        let route = self.route(rule)?;
        let presented = self.credential(route)?;
        let authenticated = self.authenticate(&presented, verifier)?;
        let caller = match &authenticated {
            Authenticated::Token(identity) => Caller::of_token(self.policy, identity),
            Authenticated::Client(client) => Caller::of_client(presented.credential.kind(), client),
        };
        // The credential passed: who the caller is may be reported from here on.
        self.outcome.client = caller.client_id.map(str::to_string);
        self.outcome.subject = caller.subject.map(str::to_string);
        self.route_token(route, &authenticated)?;
        let bound = self.sender_binding(route, &presented, &authenticated, verifier)?;
        let (policy, request) = (self.policy, self.request);
        let checked = check_scopes(route, &caller, self.trace)
            .and_then(|()| check_claims(route, &caller, self.trace))
            .and_then(|()| check_bindings(route, &path, request, &caller, self.trace))
            .and_then(|()| check_network(policy, request, &caller, self.trace))
            .and_then(|()| check_origin(request, &caller, self.trace))
            .and_then(|()| check_application(policy, route, request, &caller, self.trace));
        if checked.is_ok() {
            self.introspection(route, &presented, &authenticated, verifier)?;
        }
        self.forward(presented, &caller, bound, checked)
    }

    /// Path sanity: the canonical path rules are matched against (with the rule it matches),
    /// or 400 for a path whose meaning depends on how the upstream decodes it.
    fn path_sanity(&mut self) -> Result<(std::borrow::Cow<'r, str>, Option<usize>), Stop<'a>> {
        let (policy, request) = (self.policy, self.request);
        match policy
            .rules
            .canonical_match(policy.paths, &request.method, &request.path)
        {
            Ok((canonical, rule)) => {
                self.trace
                    .pass("path", || format!("canonical: {canonical}"));
                Ok((canonical, rule))
            }
            Err(err) => {
                self.trace.fail("path", || err.to_string());
                let denial = Denial::InvalidRequest(err.to_string());
                Err(Stop::Refused(denial, Reason::MalformedRequest))
            }
        }
    }

    /// Minimum TLS: the connection's version is at least the configured one.
    fn minimum_tls(&mut self) -> Result<(), Stop<'a>> {
        let Some(minimum) = self.policy.min_tls_version else {
            return Ok(());
        };
        let shown = self.request.tls_version.as_deref();
        if shown
            .and_then(TlsVersion::parse)
            .is_none_or(|v| v < minimum)
        {
            self.trace.fail("TLS", || {
                format!(
                    "{} is older than the minimum {}",
                    shown.unwrap_or("plain text"),
                    minimum.name()
                )
            });
            let denial = Denial::AccessDenied(format!("{} or newer is required", minimum.name()));
            return Err(Stop::Refused(denial, Reason::Tls));
        }
        self.trace.pass("TLS", || {
            format!(
                "{} meets the minimum {}",
                shown.unwrap_or_default(),
                minimum.name()
            )
        });
        Ok(())
    }

    /// CORS preflight: forwarded without a credential, and without any header that could carry
    /// one (nothing was checked, so nothing that could be a credential travels on).
    fn cors_preflight(&mut self) -> Result<(), Stop<'a>> {
        let (policy, request) = (self.policy, self.request);
        if !policy.allow_cors_preflight || !is_cors_preflight(request) {
            return Ok(());
        }
        self.trace.pass("CORS preflight", || {
            "OPTIONS with Origin and Access-Control-Request-Method: forwarded without a credential"
                .into()
        });
        let dpop = policy.sender.dpop.as_ref().map(|_| sender::DPOP_HEADER);
        for header in policy
            .credentials
            .credential_headers()
            .into_iter()
            .chain(dpop)
        {
            if request.has_header(header) && !self.forwarding.remove.contains(&header) {
                self.forwarding.remove.push(header);
            }
        }
        self.outcome.verdict = Some(Verdict::Preflight);
        Err(Stop::Decided(Decision::Allow(std::mem::take(
            &mut self.forwarding,
        ))))
    }

    /// Route: the first rule for the path and method (`rule`, as path sanity found it); a
    /// public one forwards at once.
    fn route(&mut self, rule: Option<usize>) -> Result<&'a Route, Stop<'a>> {
        let policy = self.policy;
        let requirement = policy.rules.requirement_of(rule);
        let describe = || match rule.and_then(|i| Some((i, policy.rules.describe(i)?))) {
            Some((index, text)) => format!("rules[{index}]: {text}"),
            None => "no rule matches: the default (any valid credential, no scope)".to_string(),
        };
        let route = match requirement {
            Requirement::Public => {
                self.trace.pass("rule", describe);
                self.outcome.verdict = Some(Verdict::Public);
                let forwarding = std::mem::take(&mut self.forwarding);
                return Err(Stop::Decided(Decision::Allow(forwarding)));
            }
            Requirement::Authenticated(route) => route,
        };
        self.trace.info("rule", || {
            let names: Vec<&str> = route.accept.iter().map(|kind| kind.name()).collect();
            let app = if route.require_app {
                "; requires an application"
            } else {
                ""
            };
            let mode = if route.report { "report" } else { "enforce" };
            let (scopes, accepted) = (route.scopes.join(" "), names.join(", "));
            let introspect = route.introspect_within.map_or(String::new(), |within| {
                format!("; tokens confirmed by introspection (answers reused up to {within} s)")
            });
            format!(
                "{}; accepts {accepted}{}; scopes [{scopes}]{}{}{app}{introspect}; mode {mode}",
                describe(),
                token_narrowing(policy, route),
                claim_conditions(route),
                bindings(route)
            )
        });
        self.report = route.report;
        self.challenge = Challenge::Accepted(route.accept.as_slice());
        Ok(route)
    }

    /// Credential: the one credential the request carries, of a kind the route accepts.
    fn credential(&mut self, route: &Route) -> Result<Presented<'a, 'r>, Stop<'a>> {
        let policy = self.policy;
        let presented = match policy.credentials.find_with(self.request, &self.embedded) {
            Ok(Some(presented)) => presented,
            Ok(None) => {
                self.trace.fail("credential", || "none found".into());
                self.consumed = Some(Vec::new());
                return Err(Stop::Refused(
                    Denial::MissingCredential,
                    Reason::MissingCredential,
                ));
            }
            Err(err) => {
                self.trace
                    .fail("credential", || format!("cannot be read: {err}"));
                let denial = Denial::InvalidRequest(err.to_string());
                return Err(Stop::Refused(denial, Reason::MalformedRequest));
            }
        };
        let kind = presented.credential.kind();
        self.outcome.credential = Some(kind);
        self.consumed = Some(presented.consumed_headers.clone());
        self.trace.pass("credential", || {
            format!("{} in {}", kind.name(), place(policy, &presented))
        });
        if !route.accept.contains(&kind) {
            self.trace.fail("credential kind", || {
                format!("this route does not accept {}", kind.name())
            });
            return Err(Stop::Refused(
                Denial::CredentialNotAccepted,
                Reason::CredentialNotAccepted,
            ));
        }
        if let Some(scheme) = self.presented_scheme(route, &presented.credential) {
            self.challenge = Challenge::Presented(scheme);
        }
        Ok(presented)
    }

    /// The scheme `credential` came with, which every later refusal challenges alone; `None`
    /// for a bearer token on a route that demands DPoP, whose refusals keep challenging for
    /// what the route accepts (a challenge must be one that can succeed, RFC 9110 §11.6.1).
    fn presented_scheme(&self, route: &Route, credential: &Credential<'_>) -> Option<Scheme> {
        let scheme = match credential {
            Credential::Jwt(token)
                if self.policy.sender.dpop.is_some()
                    && sender::uses_dpop_scheme(self.request, token) =>
            {
                return Some(Scheme::Dpop);
            }
            Credential::Jwt(_) => Scheme::Bearer,
            Credential::ApiKey { .. } => Scheme::ApiKey,
            Credential::Basic { .. } => Scheme::Basic,
        };
        let dpop_only = route.sender_constraint == Some(SenderConstraint::Dpop);
        (!(scheme == Scheme::Bearer && dpop_only)).then_some(scheme)
    }

    /// Authentication ([`authenticate`]).
    fn authenticate(
        &mut self,
        presented: &Presented<'a, 'r>,
        verifier: &mut Verifier<'_, '_>,
    ) -> Result<Authenticated<'a>, Stop<'a>> {
        authenticate(
            self.policy,
            &presented.credential,
            verifier,
            &mut self.outcome,
            self.trace,
        )
    }

    /// Route token: a token of a provider and with an audience the route accepts, checked on the
    /// identity (so on a cache hit too). Refused 401 `invalid_token`: the token is valid, but not
    /// for this route (RFC 6750 section 3.1), and the client needs another one.
    fn route_token(
        &mut self,
        route: &Route,
        authenticated: &Authenticated<'a>,
    ) -> Result<(), Stop<'a>> {
        let Authenticated::Token(identity) = authenticated else {
            return Ok(());
        };
        if route.providers.is_empty() && route.audiences.is_empty() {
            return Ok(());
        }
        let name = self.outcome.provider.unwrap_or_default();
        if !route.providers.is_empty() && !route.providers.contains(&identity.provider) {
            self.trace.fail("rule token", || {
                format!("provider {name} is not one the rule accepts")
            });
            let denial =
                Denial::InvalidToken("the token's issuer is not accepted on this route".into());
            return Err(Stop::Refused(denial, Reason::RuleProvider));
        }
        let audience = route
            .audiences
            .iter()
            .find(|aud| identity.audiences.contains(aud));
        if !route.audiences.is_empty() && audience.is_none() {
            self.trace.fail("rule token", || {
                "no audience of the token is one the rule accepts".into()
            });
            let denial =
                Denial::InvalidToken("the token's audience is not accepted on this route".into());
            return Err(Stop::Refused(denial, Reason::RuleAudience));
        }
        self.trace.pass("rule token", || match audience {
            Some(aud) => format!("provider {name}, audience {aud}: accepted by the rule"),
            None => format!("provider {name}: accepted by the rule"),
        });
        Ok(())
    }

    /// Sender binding: a token's DPoP proof or certificate, where the route or provider
    /// requires one or the token is bound.
    fn sender_binding(
        &mut self,
        route: &Route,
        presented: &Presented<'a, 'r>,
        authenticated: &Authenticated<'a>,
        verifier: &Verifier<'_, '_>,
    ) -> Result<sender::Bound, Stop<'a>> {
        let (Credential::Jwt(token), Authenticated::Token(identity)) =
            (&presented.credential, authenticated)
        else {
            return Ok(sender::Bound::default());
        };
        let (policy, request, guard) = (self.policy, self.request, verifier.guard);
        match sender::check(policy, route, request, token, identity, guard, verifier.now) {
            Ok(bound) => {
                if let Some(via) = bound.via {
                    self.trace.pass("sender", || {
                        format!("the token's binding is proven ({via})")
                    });
                }
                Ok(bound)
            }
            Err(denial) => {
                self.trace.fail("sender", || denial.description());
                let reason = Reason::of_sender_denial(&denial);
                Err(Stop::Refused(denial, reason))
            }
        }
    }

    /// Introspection of a token on a rule with `introspect` ([`confirmed_by_issuer`]): last, so
    /// that only a token every local check passed can cost the issuer a call.
    fn introspection(
        &mut self,
        route: &Route,
        presented: &Presented<'a, 'r>,
        authenticated: &Authenticated<'a>,
        verifier: &mut Verifier<'_, '_>,
    ) -> Result<(), Stop<'a>> {
        let (Credential::Jwt(token), Authenticated::Token(identity)) =
            (&presented.credential, authenticated)
        else {
            return Ok(());
        };
        confirmed_by_issuer(self.policy, route, token, identity, verifier, self.trace)
    }

    /// Forwarding: the credential's headers removed, the caller's identity added (in report
    /// mode also for a caller a later check refused), the binding's changes made.
    fn forward(
        &mut self,
        presented: Presented<'a, 'r>,
        caller: &Caller,
        bound: sender::Bound,
        checked: Result<(), Refusal>,
    ) -> Result<Decision<'a>, Stop<'a>> {
        let (policy, request) = (self.policy, self.request);
        let mut forwarding = std::mem::take(&mut self.forwarding);
        forwarding
            .remove
            .extend(presented.consumed_headers.iter().copied());
        match checked {
            Err((denial, reason)) if !self.report => return Err(Stop::Refused(denial, reason)),
            Err((denial, reason)) => {
                self.record(&denial, reason);
                self.trace.info("mode", || {
                    "report: forwarded anyway, with the identity of the credential that passed"
                        .into()
                });
            }
            Ok(()) => self.outcome.verdict = Some(Verdict::Allowed),
        }
        // A refused application is never forwarded as the caller's.
        let application = policy
            .app_header
            .as_deref()
            .filter(|_| self.outcome.verdict == Some(Verdict::Allowed))
            .and_then(|name| request.single_header(name).ok().flatten());
        add_identity_headers(policy, caller, application, &mut forwarding.set);
        if policy.sender.dpop.is_some() && request.has_header(sender::DPOP_HEADER) {
            forwarding.remove.push(sender::DPOP_HEADER);
        }
        if let (Some(header), Some(via)) = (&policy.forward.confirmation_header, bound.via) {
            forwarding.set.push((header.as_str(), via.to_string()));
        }
        forwarding.replay = bound.replay;
        Ok(Decision::Allow(forwarding))
    }

    /// The one exit of every refusal: recorded, then answered, or in report mode forwarded
    /// without the credential and without identity headers.
    fn refused(&mut self, denial: Denial, reason: Reason) -> Decision<'a> {
        self.record(&denial, reason);
        if !self.report {
            return Decision::Deny {
                denial,
                challenge: self.challenge,
            };
        }
        let mut forwarding = std::mem::take(&mut self.forwarding);
        let strip: Vec<&'a str> = match self.consumed.take() {
            Some(headers) => headers,
            None => self
                .policy
                .credentials
                .secret_headers()
                .into_iter()
                .filter(|name| self.request.has_header(name))
                .collect(),
        };
        for header in strip {
            if !forwarding.remove.contains(&header) {
                forwarding.remove.push(header);
            }
        }
        self.trace.info("mode", || {
            "report: forwarded anyway, without the credential and without identity headers".into()
        });
        Decision::Allow(forwarding)
    }

    /// What every refusal, enforced or reported, leaves ([`Outcome::record_refusal`]).
    fn record(&mut self, denial: &Denial, reason: Reason) {
        self.outcome
            .record_refusal(denial, reason, self.report, self.request);
    }
}

/// What a route narrows of tokens (providers, audiences), for the trace.
fn token_narrowing(policy: &Policy, route: &Route) -> String {
    let mut text = String::new();
    if !route.providers.is_empty() {
        let names: Vec<&str> = route
            .providers
            .iter()
            .filter_map(|index| policy.providers.get(*index))
            .map(|provider| provider.name.as_str())
            .collect();
        text.push_str(&format!(" (tokens of {})", names.join(", ")));
    }
    if !route.audiences.is_empty() {
        text.push_str(&format!(" (audiences {})", route.audiences.join(", ")));
    }
    text
}

/// A route's own claim conditions, for the trace.
fn claim_conditions(route: &Route) -> String {
    match &route.claim_conditions {
        None => String::new(),
        Some(conditions) => {
            let all: Vec<String> = conditions.iter().map(|c| c.describe()).collect();
            format!("; claim conditions [{}]", all.join("; "))
        }
    }
}

/// The route's path bindings, for the trace (configuration only, never a request's value).
fn bindings(route: &Route) -> String {
    if route.bindings.is_empty() {
        return String::new();
    }
    let all: Vec<String> = route
        .bindings
        .iter()
        .map(|b| format!("{{{}}} to {}", b.variable, b.source.describe()))
        .collect();
    format!("; binds {}", all.join("; "))
}

/// Where the credential was found, for the trace.
fn place(policy: &Policy, presented: &Presented<'_, '_>) -> String {
    match (&presented.credential, presented.consumed_headers.first()) {
        (Credential::Jwt(_), _) if presented.place == Place::Query => "the query string".into(),
        (Credential::Jwt(_), _) if presented.place == Place::Cookie => {
            let name = policy
                .credentials
                .cookie_name
                .as_deref()
                .unwrap_or_default();
            format!("cookie {name}")
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
    }
}

/// A CORS preflight: `OPTIONS` (methods are case-sensitive, RFC 9110 §9.1) with `Origin` and
/// `Access-Control-Request-Method`.
fn is_cors_preflight(request: &Request) -> bool {
    request.method == "OPTIONS"
        && request.has_header("origin")
        && request.has_header("access-control-request-method")
}
