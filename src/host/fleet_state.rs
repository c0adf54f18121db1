//! What the host keeps while the fleet's rate limit service is asked: the check a request
//! waits for, the allowed request held meanwhile, and the calls in flight. Data only; the
//! calls are made and answered in [`super::fleet_calls`].

use std::collections::HashMap;

use crate::fleet::descriptors;
use crate::fleet::protocol::Descriptor;
use crate::fleet::{FleetUse, OnUnavailable};
use crate::policy::decision::Forwarding;
use crate::policy::deny::DenyResponse;
use crate::policy::outcome::Outcome;
use crate::request::credential::Request;
use crate::request::source::Source;

/// An allowed request kept while the fleet is asked about its DPoP proof: its header changes
/// and outcome, owned (the decision's borrow of the policy ends with the callback).
pub(crate) struct HeldAllow {
    /// The request as it was decided (a refusal's challenge is built from it).
    pub(crate) request: Request,
    /// Headers to remove.
    pub(crate) remove: Vec<String>,
    /// A new `:path`, when a query token was cut out.
    pub(crate) path: Option<String>,
    /// Headers to set.
    pub(crate) set: Vec<(String, String)>,
    /// What is reported (the provider by index; its name is put back on use).
    pub(crate) outcome: Outcome<'static>,
}

impl HeldAllow {
    /// Keeps `request`, allowed with `forwarding` and `outcome`.
    pub(crate) fn new(request: Request, forwarding: &Forwarding, outcome: Outcome) -> HeldAllow {
        HeldAllow {
            request,
            remove: forwarding.remove.iter().map(|n| (*n).to_string()).collect(),
            path: forwarding.path.clone(),
            set: forwarding
                .set
                .iter()
                .map(|(n, v)| ((*n).to_string(), v.clone()))
                .collect(),
            outcome: outcome.detached(),
        }
    }
}

/// What a request waits for the fleet to say.
pub(crate) enum FleetCheck {
    /// A DPoP proof this Envoy's replay cache took as new: forwarded as `held` if the fleet
    /// has not seen it either.
    Replay {
        /// The replay cache's key for the proof.
        key: [u8; 16],
        /// The allowed request, kept until the answer.
        held: Box<HeldAllow>,
        /// What to do without an answer.
        on_unavailable: OnUnavailable,
    },
    /// A failed secret: the request is answered once the fleet has counted it, and the source
    /// locked here if the fleet's count reached the limit.
    Lockout {
        /// Where the failure came from.
        source: Source,
        /// The client id the secret was presented for.
        client_id: String,
        /// How the request is answered then.
        then: AfterCount,
    },
}

/// How a request with a failed secret is answered once the fleet has counted it.
pub(crate) enum AfterCount {
    /// Refused (enforced).
    Refuse(DenyResponse),
    /// Forwarded without its credential (report mode: the failure is counted, not enforced).
    Forward(Box<HeldAllow>),
}

impl FleetCheck {
    /// The use this check is for.
    pub(crate) fn fleet_use(&self) -> FleetUse {
        match self {
            FleetCheck::Replay { .. } => FleetUse::DpopReplay,
            FleetCheck::Lockout { .. } => FleetUse::Lockout,
        }
    }

    /// What the service is asked.
    pub(crate) fn descriptors(&self) -> Vec<Descriptor> {
        match self {
            FleetCheck::Replay { key, .. } => vec![descriptors::dpop_proof(key)],
            FleetCheck::Lockout {
                source, client_id, ..
            } => descriptors::failed_secret(&source.to_string(), client_id).to_vec(),
        }
    }
}

/// A call in flight.
pub(crate) struct InFlight {
    /// The waiting request's context.
    pub(crate) context_id: u32,
    /// When the call was made.
    pub(crate) started_ms: u64,
    /// What the request waits for.
    pub(crate) check: FleetCheck,
}

/// The calls a worker waits for, and whether the service is known to be out.
#[derive(Default)]
pub(crate) struct FleetCalls {
    /// By call token.
    pub(crate) in_flight: HashMap<u32, InFlight>,
    /// The last call had no usable answer (an outage was logged).
    pub(crate) out: bool,
}
