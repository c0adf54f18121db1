//! Explaining one decision: the [`Trace`] the decision leaves of each check, and
//! [`explain`], which runs the filter's own [`evaluate`] on a request and says what the client
//! or the upstream would get. `edge-auth explain` renders it as text or JSON; there is no second
//! implementation of any check here.
//!
//! A trace costs nothing in the filter: the decision is generic over its [`Tracer`] (defined
//! below the decision, in [`crate::policy::trace`], so that explaining depends on deciding and
//! never the reverse), and the filter's [`Untraced`] records nothing, so its step texts are
//! never even compiled in.

use crate::jwt::jwks::KeySet;
use crate::jwt::token::KeyLookup;
use crate::policy::cache::TokenCache;
use crate::policy::decision::{evaluate, Decision, Settled};
use crate::policy::deny::Challenge;
use crate::policy::outcome::Outcome;
use crate::policy::sender::challenge::deny_response;
pub use crate::policy::trace::{Status, Tracer, Untraced};
use crate::policy::Policy;
use crate::request::credential::Request;

/// One check of the decision, in the order it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
pub struct Step {
    /// What was checked (`path`, `rule`, `credential`, `token`, `scopes`, ...).
    pub check: &'static str,
    /// How it ended.
    pub status: Status,
    /// In plain words, never a secret.
    pub detail: String,
}

/// Records every step, in order: what `edge-auth explain` decides with.
#[derive(Debug, Default)]
pub struct Trace {
    steps: Vec<Step>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Trace {
        Trace::default()
    }

    /// The steps recorded.
    pub fn into_steps(self) -> Vec<Step> {
        self.steps
    }
}

impl Tracer for Trace {
    fn step<F: FnOnce() -> String>(&mut self, check: &'static str, status: Status, detail: F) {
        self.steps.push(Step {
            check,
            status,
            detail: detail(),
        });
    }
}

/// What Envoy does with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
#[cfg_attr(
    not(target_arch = "wasm32"),
    serde(tag = "action", rename_all = "snake_case")
)]
pub enum Action {
    /// Forwarded upstream after these changes (removals first).
    Forward {
        /// Headers removed.
        remove: Vec<String>,
        /// Headers set, replacing any value.
        set: Vec<(String, String)>,
        /// The new `:path`, when a query token was cut out of it.
        path: Option<String>,
    },
    /// Answered by the filter with this response.
    Respond {
        /// HTTP status.
        status: u32,
        /// Response headers, in order.
        headers: Vec<(String, String)>,
        /// The body.
        body: String,
    },
}

/// A decision explained: its steps, its outcome, and what the client or upstream gets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
pub struct Explanation<'a> {
    /// Every check in the order it ran.
    pub steps: Vec<Step>,
    /// Verdict, reason, credential kind, provider and caller (as metrics and access logs say).
    pub outcome: Outcome<'a>,
    /// What happens to the request.
    pub action: Action,
}

/// Each provider's keys for an explanation: the configuration's inline keys, or for a provider
/// whose keys are fetched, the JWK Set given for it (none: its tokens are refused as the
/// filter refuses them before its first fetch).
pub struct GivenKeys<'a> {
    policy: &'a Policy,
    fetched: Vec<Option<KeySet>>,
}

impl<'a> GivenKeys<'a> {
    /// The inline keys only.
    pub fn new(policy: &'a Policy) -> GivenKeys<'a> {
        GivenKeys {
            policy,
            fetched: policy.providers.iter().map(|_| None).collect(),
        }
    }

    /// Uses `jwks` (a JWK Set document, as the issuer serves it) as the keys of the provider
    /// named `name`; keys of algorithms the provider does not allow are skipped, as the filter
    /// skips them.
    pub fn with_jwks(mut self, name: &str, jwks: &[u8]) -> Result<GivenKeys<'a>, String> {
        let index = self
            .policy
            .providers
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| format!("no provider is named {name:?}"))?;
        let provider = self
            .policy
            .providers
            .get(index)
            .ok_or_else(|| format!("no provider is named {name:?}"))?;
        let (keys, _skipped) = KeySet::from_fetched_jwks(jwks, &provider.algorithms)
            .map_err(|why| format!("keys for {name:?}: {why}"))?;
        if let Some(slot) = self.fetched.get_mut(index) {
            *slot = Some(keys);
        }
        Ok(self)
    }
}

impl KeyLookup for GivenKeys<'_> {
    fn keys_of(&self, index: usize) -> Option<&KeySet> {
        if let Some(Some(keys)) = self.fetched.get(index) {
            return Some(keys);
        }
        self.policy
            .providers
            .get(index)
            .map(|provider| &provider.keys)
            .filter(|keys| !keys.is_empty())
    }
}

/// Decides `request` at `now` as the filter would on a worker that has not seen the token yet
/// (empty token cache), without waiting for any issuer: keys not given are missing, and an
/// introspection endpoint is never asked.
pub fn explain<'a>(
    policy: &'a Policy,
    keys: &GivenKeys<'_>,
    request: &Request,
    now: u64,
) -> Explanation<'a> {
    let mut cache = TokenCache::new(policy.token_cache_entries.max(1));
    let mut trace = Trace::new();
    let decided = evaluate(
        policy,
        keys,
        &mut cache,
        request,
        now,
        &Settled::Final,
        &mut trace,
    );
    let action = match decided.decision {
        Decision::Allow(forwarding) => Action::Forward {
            remove: forwarding.remove.iter().map(|h| h.to_string()).collect(),
            set: forwarding
                .set
                .iter()
                .map(|(h, v)| (h.to_string(), v.clone()))
                .collect(),
            path: forwarding.path,
        },
        Decision::Deny { denial, challenge } => {
            let response = deny_response(policy, request, &denial, challenge);
            Action::Respond {
                status: response.status,
                headers: response.headers,
                body: response.body,
            }
        }
        // `Settled::Final` never waits; answer as the filter does when no answer can come.
        Decision::AwaitKeys { otherwise, .. } => {
            let response = otherwise.response(&policy.realm, Challenge::Accepted(&[]));
            Action::Respond {
                status: response.status,
                headers: response.headers,
                body: response.body,
            }
        }
        Decision::Introspect { .. } => {
            let response = crate::policy::deny::Denial::Unavailable(
                "the token introspection endpoint is unavailable".into(),
            )
            .response(&policy.realm, Challenge::Accepted(&[]));
            Action::Respond {
                status: response.status,
                headers: response.headers,
                body: response.body,
            }
        }
    };
    Explanation {
        steps: trace.into_steps(),
        outcome: decided.outcome,
        action,
    }
}
