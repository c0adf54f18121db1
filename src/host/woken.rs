//! Deciding a request that waited (for its issuer's keys or an introspection answer): it may
//! not wait for the issuer again, but an allowed DPoP proof may still need the fleet's word.

use super::apply::{decide, internal_failure, Applied, Shared};
use super::fleet_calls::start;
use super::{Flow, Host};
use crate::policy::decision::Settled;
use crate::policy::deny::Denial;

/// Decides a request that may not wait (it was woken once already, or nothing would come of
/// waiting) and applies the decision: what is missing is refused as it stands.
pub(crate) fn decide_now(
    host: &dyn Host,
    shared: &Shared,
    settled: &Settled,
    context_id: u32,
) -> Flow {
    match decide(host, shared, settled) {
        Applied::Done(flow) => flow,
        Applied::Fleet(check) => start(host, shared, context_id, check),
        // The core never asks a settled request to wait; fail closed regardless.
        Applied::AwaitKeys { .. } | Applied::Introspect { .. } => internal_failure(
            host,
            shared,
            &Denial::Unavailable("edge-auth cannot decide".into()),
        ),
    }
}
