//! The abuse limits of one request: which source it comes from, whether that source is locked
//! out for a client id ([`lockout`](crate::policy::abuse::lockout)), and whether it may spend a
//! check ([`budget`](crate::policy::abuse::budget)): a first-sight token's signature, a DPoP proof's
//! signature, or an introspection call. Built per request by the decision only
//! when the policy configures a limit and the host lends a shared store.

use std::cell::{OnceCell, RefCell};
use std::net::IpAddr;

use crate::policy::abuse::budget::{SignatureBudget, Spend};
use crate::policy::abuse::lockout::Lockout;
use crate::policy::abuse::records::SharedStore;
use crate::policy::deny::{Denial, Limit};
use crate::request::credential::Request;
use crate::request::source::{Source, DEFAULT_IPV6_PREFIX};
use crate::request::transport::client_address;

/// The configured limits (all off by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// Failed-secret lockout for API key pairs and Basic.
    pub lockout: Option<Lockout>,
    /// Signature-check budget per source.
    pub signature_budget: Option<SignatureBudget>,
    /// Bits of an IPv6 address that make one source.
    pub ipv6_prefix: u8,
}

impl Default for AbuseLimits {
    fn default() -> AbuseLimits {
        AbuseLimits {
            lockout: None,
            signature_budget: None,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }
}

impl AbuseLimits {
    /// Whether any limit is configured.
    pub fn any(&self) -> bool {
        self.lockout.is_some() || self.signature_budget.is_some()
    }
}

/// The limits applied to one request, with the store that keeps their state. The source is
/// worked out on first use: a request that never reaches a limit (a public route, a cached
/// token) costs no look at its address.
pub struct Guard<'a> {
    limits: &'a AbuseLimits,
    store: &'a dyn SharedStore,
    request: &'a Request,
    trusted_hops: usize,
    peer: &'a dyn Fn() -> Option<IpAddr>,
    source: OnceCell<Source>,
    now_ms: u64,
    /// The client id of a failed secret counted for this request, for the fleet.
    failed: RefCell<Option<String>>,
}

impl<'a> Guard<'a> {
    /// The guard for `request` at `now_ms`, or `None` when no limit is configured. The source
    /// is the caller address the network allow-lists use (through `trusted_hops`); without
    /// trusted hops it is the peer: `request.source_address`, or else what `peer` says (asked
    /// at most once, and only if a limit needs the source).
    pub fn new(
        limits: &'a AbuseLimits,
        store: &'a dyn SharedStore,
        request: &'a Request,
        trusted_hops: usize,
        peer: &'a dyn Fn() -> Option<IpAddr>,
        now_ms: u64,
    ) -> Option<Guard<'a>> {
        if !limits.any() {
            return None;
        }
        Some(Guard {
            limits,
            store,
            request,
            trusted_hops,
            peer,
            source: OnceCell::new(),
            now_ms,
            failed: RefCell::new(None),
        })
    }

    /// The source the limits count this request against.
    pub fn source(&self) -> &Source {
        self.source.get_or_init(|| {
            let peer = match self.trusted_hops {
                0 => self.request.source_address.or_else(self.peer),
                _ => None,
            };
            let forwarded: Vec<&str> = self.request.header_values("x-forwarded-for").collect();
            let address = client_address(peer, &forwarded, self.trusted_hops);
            Source::group(address, self.limits.ipv6_prefix)
        })
    }

    /// A 429 if `client_id` from this source is locked out; checked before any secret
    /// comparison.
    pub fn check_lockout(&self, client_id: &str) -> Result<(), Denial> {
        let Some(lockout) = &self.limits.lockout else {
            return Ok(());
        };
        match lockout.locked(self.store, self.source(), client_id, self.now_ms) {
            None => Ok(()),
            Some(retry_after) => {
                log::debug!("source {} is locked out for {retry_after} s", self.source());
                Err(Denial::TooManyRequests {
                    retry_after,
                    limit: Limit::LockedOut,
                })
            }
        }
    }

    /// Counts a failed secret for `client_id` from this source.
    pub fn record_failure(&self, client_id: &str) {
        if let Some(lockout) = &self.limits.lockout {
            if let Ok(mut failed) = self.failed.try_borrow_mut() {
                *failed = Some(client_id.to_string());
            }
            if let Err(err) =
                lockout.record_failure(self.store, self.source(), client_id, self.now_ms)
            {
                log::warn!(
                    "a failed secret from {} went uncounted: {err}",
                    self.source()
                );
            }
        }
    }

    /// The failed secret this request counted, if any: its source and client id (what the
    /// fleet's rate limit service is told).
    pub fn failed_secret(&self) -> Option<(Source, String)> {
        let client_id = self.failed.try_borrow().ok()?.clone()?;
        Some((*self.source(), client_id))
    }

    /// Spends one signature check of this source's budget, or a 429 when it is spent. A store
    /// that fails lets the check run (the budget fails open; the failure is logged).
    pub fn spend_signature_check(&self) -> Result<(), Denial> {
        let Some(budget) = &self.limits.signature_budget else {
            return Ok(());
        };
        match budget.spend(self.store, self.source(), self.now_ms) {
            Ok(Spend::Granted) => Ok(()),
            Ok(Spend::Refused(retry_after)) => {
                log::debug!(
                    "source {} is over its signature-check budget",
                    self.source()
                );
                Err(Denial::TooManyRequests {
                    retry_after,
                    limit: Limit::CheckBudget,
                })
            }
            Err(err) => {
                log::warn!(
                    "signature-check budget of {} not applied: {err}",
                    self.source()
                );
                Ok(())
            }
        }
    }
}
