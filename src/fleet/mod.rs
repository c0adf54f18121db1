//! The fleet: what edge-auth remembers across every Envoy behind one load balancer, kept by
//! the fleet's rate limit service (Envoy's protocol, `envoy.service.ratelimit.v3`, with Redis
//! behind it) instead of each Envoy's own shared data.
//!
//! Two uses, each off unless configured (`fleet` in the configuration; docs/fleet.md):
//! - **DPoP proof replay**: after every check of a proof passed (its signature included, so a
//!   forged proof costs no call) and the Envoy's own replay cache took it as new, the proof is
//!   one hit on a limit of 1 per proof: the service answers `OVER_LIMIT` to every use after the
//!   first, whichever Envoy it reached.
//! - **Failed-secret lockout**: each failed API key or Basic secret is one hit on the source's
//!   and the source-and-client's limits; an `OVER_LIMIT` locks them in this Envoy's own lockout
//!   table. A good secret makes no call, so an Envoy learns of a lock set elsewhere at its next
//!   failure from that source.
//!
//! [`protocol`] is the wire format, [`descriptors`] what each use sends. The host makes the
//! call (`dispatch_grpc_call`) and applies the answer; nothing here touches proxy-wasm.

pub mod descriptors;
pub mod protocol;

/// What a use does when the rate limit service gives no usable answer in time (down, slow, or
/// its Redis down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnavailable {
    /// Refuse with 503: no proof passes unless the fleet has seen it.
    FailClosed,
    /// Decide with this Envoy's own state alone, as without a fleet.
    Local,
}

impl OnUnavailable {
    /// The configuration's spelling.
    pub fn name(self) -> &'static str {
        match self {
            OnUnavailable::FailClosed => "fail_closed",
            OnUnavailable::Local => "local",
        }
    }
}

/// The uses of the rate limit service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FleetUse {
    /// DPoP proof single use.
    DpopReplay,
    /// Failed-secret lockout.
    Lockout,
}

impl FleetUse {
    /// Every use, in metric order.
    pub const ALL: [FleetUse; 2] = [FleetUse::DpopReplay, FleetUse::Lockout];

    /// The use's name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            FleetUse::DpopReplay => "dpop_replay",
            FleetUse::Lockout => "lockout",
        }
    }
}

/// The fleet settings (compiled from the `fleet` configuration block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSettings {
    /// The Envoy cluster (HTTP/2) of the rate limit service.
    pub cluster: String,
    /// The rate limit domain edge-auth's descriptors are counted in.
    pub domain: String,
    /// How long a call may take before its use counts the service as unavailable.
    pub timeout_ms: u64,
    /// DPoP proofs single use across the fleet, and what happens without an answer.
    pub dpop_replay: Option<OnUnavailable>,
    /// Failed secrets counted across the fleet (without an answer: this Envoy's own count).
    pub lockout: bool,
}
