//! The caller a credential proved, and the stages that check it: scopes, claim conditions, path
//! bindings (a template's captured segments granted to the caller), then the allow-lists (source network, web origin, application); and the identity headers it is
//! forwarded with.

use crate::clients::Client;
use crate::identity::{forwarded_text, Identity};
use crate::json::Value;
use crate::jwt::claims::has_string;
use crate::jwt::provider::Provider;
use crate::policy::deny::Denial;
use crate::policy::outcome::Reason;
use crate::policy::rules::Route;
use crate::policy::templates::{segment_at, Binding, BindingSource};
use crate::policy::trace::Tracer;
use crate::policy::Policy;
use crate::request::allowlist::{any_contains, url_host, Cidr, OriginPattern};
use crate::request::credential::{CredentialKind, Request};
use crate::request::transport::client_address;

/// Who the caller turned out to be, whatever the credential.
pub struct Caller<'a> {
    /// The kind of credential it passed with.
    pub kind: CredentialKind,
    /// The client id (API key / Basic id, or the token's `client_id` / `azp`).
    pub client_id: Option<&'a str>,
    /// The subject (the token's `sub`, or the client id).
    pub subject: Option<&'a str>,
    /// The provider of its token.
    pub provider: Option<&'a Provider>,
    scopes: &'a [String],
    apps: &'a [String],
    networks: [&'a [Cidr]; 2],
    origins: &'a [OriginPattern],
    claims: &'a [(usize, String)],
    /// A token's values at the policy's condition claims; `None` for an API key or Basic client.
    claim_values: Option<&'a [Option<Value>]>,
}

/// A refusal by one of the caller's checks.
pub type Refusal = (Denial, Reason);

impl<'a> Caller<'a> {
    /// The bearer of a verified token.
    pub fn of_token(policy: &'a Policy, identity: &'a Identity) -> Caller<'a> {
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
            claim_values: Some(&identity.claim_values),
        }
    }

    /// An API key or Basic client.
    pub fn of_client(kind: CredentialKind, client: &'a Client) -> Caller<'a> {
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
            claim_values: None,
        }
    }
}

/// The scopes stage: every scope the route requires was granted.
pub fn check_scopes<T: Tracer>(
    route: &Route,
    caller: &Caller,
    trace: &mut T,
) -> Result<(), Refusal> {
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
    Ok(())
}

/// The claim conditions stage: a token meets every condition of the route, else of its
/// provider (evaluated on the values its identity kept: a cache hit needs no token). An API key
/// or Basic caller has no claims: refused where the route has conditions of its own, unless the
/// route lets clients skip them.
pub fn check_claims<T: Tracer>(
    route: &Route,
    caller: &Caller,
    trace: &mut T,
) -> Result<(), Refusal> {
    let (Some(values), Some(provider)) = (caller.claim_values, caller.provider) else {
        let own = route.claim_conditions.as_ref().filter(|c| !c.is_empty());
        if own.is_none() || route.clients_skip_claim_conditions {
            return Ok(());
        }
        trace.fail("claims", || {
            format!(
                "{} has no claims to meet the route's conditions",
                caller.kind.name()
            )
        });
        return Err((
            Denial::AccessDenied("this route's claim conditions need a token".into()),
            Reason::ClaimCondition,
        ));
    };
    let conditions = route
        .claim_conditions
        .as_deref()
        .unwrap_or(&provider.claim_conditions);
    let value = |slot: usize| values.get(slot).and_then(Option::as_ref);
    if let Some(failed) = conditions.iter().find(|c| !c.holds(value(c.slot))) {
        trace.fail("claims", || format!("fails {}", failed.describe()));
        return Err((
            Denial::AccessDenied(format!(
                "the token's claim {} does not meet a condition of this route",
                failed.path.text()
            )),
            Reason::ClaimCondition,
        ));
    }
    if !conditions.is_empty() {
        trace.pass("claims", || {
            let all: Vec<String> = conditions.iter().map(|c| c.describe()).collect();
            format!("meets {}", all.join("; "))
        });
    }
    Ok(())
}

/// The path bindings stage: every segment the route binds (`path`: the canonical path the rule
/// matched) is one of the token's values at the claim, one of the credential's granted
/// applications, or equal to the header (present once). A claim binding needs a token (a
/// cache hit reads the values its identity kept). Refusals name the variable and where its
/// values come from, never a value.
pub fn check_bindings<T: Tracer>(
    route: &Route,
    path: &str,
    request: &Request,
    caller: &Caller,
    trace: &mut T,
) -> Result<(), Refusal> {
    for binding in &route.bindings {
        let segment = segment_at(path, binding.segment).unwrap_or_default();
        if !bound(binding, segment, request, caller) {
            let (variable, source) = (&binding.variable, binding.source.describe());
            trace.fail("path binding", || {
                format!("{{{variable}}} does not match {source}")
            });
            return Err((
                Denial::AccessDenied(format!("the path's {{{variable}}} does not match {source}")),
                Reason::PathBinding,
            ));
        }
    }
    if !route.bindings.is_empty() {
        trace.pass("path binding", || {
            let all: Vec<String> = route
                .bindings
                .iter()
                .map(|b| format!("{{{}}} by {}", b.variable, b.source.describe()))
                .collect();
            format!("matched: {}", all.join("; "))
        });
    }
    Ok(())
}

/// Whether `segment` (never empty: a variable matches none) is granted as `binding` says.
fn bound(binding: &Binding, segment: &str, request: &Request, caller: &Caller) -> bool {
    match &binding.source {
        BindingSource::Claim { slot, .. } => caller
            .claim_values
            .is_some_and(|values| has_string(values.get(*slot).and_then(Option::as_ref), segment)),
        BindingSource::Applications => caller.apps.iter().any(|app| app == segment),
        BindingSource::Header(name) => matches!(
            request.single_header(name),
            Ok(Some(value)) if !value.contains(',') && value == segment
        ),
    }
}

/// The network stage: the caller's address is in every network list that applies to it.
pub fn check_network<T: Tracer>(
    policy: &Policy,
    request: &Request,
    caller: &Caller,
    trace: &mut T,
) -> Result<(), Refusal> {
    if caller.networks.iter().all(|list| list.is_empty()) {
        return Ok(());
    }
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
    Ok(())
}

/// The origin stage: the request's web origin (`Origin`, else `Referer`) is one the caller may
/// be used from.
pub fn check_origin<T: Tracer>(
    request: &Request,
    caller: &Caller,
    trace: &mut T,
) -> Result<(), Refusal> {
    if caller.origins.is_empty() {
        return Ok(());
    }
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
    Ok(())
}

/// The application stage: the application the request names (once) is granted to the caller,
/// and a route that requires one gets one.
pub fn check_application<T: Tracer>(
    policy: &Policy,
    route: &Route,
    request: &Request,
    caller: &Caller,
    trace: &mut T,
) -> Result<(), Refusal> {
    let Some(app_header) = &policy.app_header else {
        return Ok(());
    };
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
                Denial::AccessDenied("the application is not granted to this credential".into()),
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
    Ok(())
}

/// The identity headers for `caller` (and the checked `application`), each value in the
/// format [`forwarded_text`] documents.
pub fn add_identity_headers<'a>(
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
        if let Some(claim) = forward.claims.get(*index) {
            set.push((claim.header.as_str(), value.clone()));
        }
    }
}
