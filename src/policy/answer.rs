//! What a decision answers, below the stages that reach it: the [`Decision`] (forward with
//! these changes, refuse, or wait for the issuer), what the issuer [`Settled`] for a request
//! that waited, and the [`Stop`] a stage returns when the request goes no further.

use std::rc::Rc;

use crate::identity::Identity;
use crate::issuer::introspection::Expected;
use crate::policy::deny::{Challenge, Denial};
use crate::policy::outcome::{Outcome, Reason};
use crate::policy::sender::replay::ReplayEntry;

/// What to do with a request. Header names are borrowed from the policy: nothing about them is
/// allocated per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Forward it, after these changes.
    Allow(Forwarding<'a>),
    /// Answer it locally.
    Deny {
        /// Why.
        denial: Denial,
        /// Whom `WWW-Authenticate` challenges: the route's schemes, or the presented one.
        challenge: Challenge<'a>,
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
        /// `None`: the answer is the token's identity (an opaque token). `Some`: the token is a
        /// JWT that passed every local check on a rule with `introspect`, and the answer only
        /// confirms it: active, and saying nothing against what the token says.
        confirm: Option<Expected>,
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
    /// The introspection endpoint confirmed the request's JWT just now (a rule's
    /// `introspect`), whether or not the token cache kept the confirmation.
    Confirmed,
}

/// Why the stages stopped before forwarding an allowed request.
#[derive(Debug)]
pub enum Stop<'a> {
    /// A decision without a refusal: a public route or a preflight forwarded, or a wait for the
    /// issuer.
    Decided(Decision<'a>),
    /// A refusal, with its reason code.
    Refused(Denial, Reason),
}

impl<'a> From<(Denial, Reason)> for Stop<'a> {
    fn from((denial, reason): (Denial, Reason)) -> Stop<'a> {
        Stop::Refused(denial, reason)
    }
}
