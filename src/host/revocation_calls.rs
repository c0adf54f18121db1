//! The host side of revocation lists: the root context's [`RevocationFetcher`] fetches each
//! provider's list through Envoy and shares it with the other workers, with the machinery of the
//! key fetches ([`super::issuer_calls`]: the lease taken with compare-and-swap, the record and
//! its generation in shared data, backoff from [`crate::issuer::remote_keys::Lease`]).
//!
//! On each tick a worker installs the list another VM shared (lease first, then the generation,
//! then the record only if the generation changed), and takes the lease when a fetch is due. A
//! fetched body is parsed before it is shared: a list that is not valid is never published, so
//! every worker keeps the last good one, and the failure is logged once and retried with
//! backoff. Nothing here runs on the request path: decisions read the worker's parsed list.

use std::cell::RefCell;
use std::collections::HashMap;

use super::apply::Shared;
use super::issuer_calls::{
    bump_generation, create_lease_at, issuer_key, read_generation, read_lease_at,
};
use super::Host;
use crate::issuer::remote_keys::{response_body_within, KeyRecord, Sync};
use crate::issuer::revocation::{Revocation, RevocationList, RevocationSlot, MAX_LIST_BYTES};
use crate::jwt::provider::Provider;

/// The root context's revocation list fetches in flight.
#[derive(Default)]
pub(crate) struct RevocationFetcher {
    /// HTTP call token to the provider it fetches for.
    calls: RefCell<HashMap<u32, usize>>,
}

impl RevocationFetcher {
    /// Every tick: per provider with a list, install the shared list if it changed, and take
    /// the lease and fetch if a fetch is due.
    pub(crate) fn on_tick(&self, host: &dyn Host, shared: &Shared) {
        let now = host.now_ms();
        for index in 0..shared.policy.providers.len() {
            let Some((provider, revocation)) = revocation_of(shared, index) else {
                continue;
            };
            // Lease first: a fetcher publishes the list before it releases the lease.
            let (lease, cas) = read_lease_at(host, &key("revocation-lease", provider, revocation));
            sync_list(host, shared, index);
            let Some((fetching, fetched_at)) = with_slot(shared, index, |slot| {
                (slot.fetching.is_some(), slot.fetched_at_ms)
            }) else {
                continue;
            };
            let since = fetched_at.unwrap_or(shared.started_ms);
            let age = now.saturating_sub(since) / 1000;
            shared.metrics.revocation_age(host, index, age);
            if fetching {
                continue;
            }
            if let Some((_, taken)) = lease.take(now, false, revocation) {
                let lease_key = key("revocation-lease", provider, revocation);
                if host
                    .set_shared_data(&lease_key, &taken.encode(), cas)
                    .is_ok()
                {
                    log::debug!("provider {}: fetching the revocation list", provider.name);
                    self.start_fetch(host, shared, index);
                }
            }
        }
    }

    /// Whether `token_id` is one of this fetcher's calls.
    pub(crate) fn owns(&self, token_id: u32) -> bool {
        self.calls
            .try_borrow()
            .is_ok_and(|calls| calls.contains_key(&token_id))
    }

    /// The answer to one of this fetcher's calls (or its failure).
    pub(crate) fn on_response(
        &self,
        host: &dyn Host,
        shared: &Shared,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
    ) {
        let index = match self.calls.try_borrow_mut() {
            Ok(mut calls) => calls.remove(&token_id),
            Err(_) => None,
        };
        let Some(index) = index else {
            return;
        };
        with_slot(shared, index, |slot| slot.fetching = None);
        let Some((provider, revocation)) = revocation_of(shared, index) else {
            return;
        };
        let (status, body) = host.call_response(num_headers, body_size);
        let now = host.now_ms();
        let checked = response_body_within(status, body, MAX_LIST_BYTES).and_then(|body| {
            RevocationList::parse(
                &body,
                revocation.max_entries,
                now / 1000,
                provider.clock_skew_seconds,
            )
            .map(|_| body)
        });
        let lease_key = key("revocation-lease", provider, revocation);
        let (lease, _) = read_lease_at(host, &lease_key);
        let done = match checked {
            Ok(body) => {
                let record = KeyRecord {
                    fetched_at_ms: now,
                    body,
                };
                let record_key = key("revocation", provider, revocation);
                match host.set_shared_data(&record_key, &record.encode(), None) {
                    Ok(()) => bump_generation(
                        host,
                        &key("revocation-generation", provider, revocation),
                        &provider.name,
                    ),
                    Err(status) => log::error!(
                        "provider {}: cannot share the revocation list: {status:?}",
                        provider.name
                    ),
                }
                shared.metrics.revocation_fetch(host, index, true);
                lease.succeeded(now, revocation)
            }
            Err(cause) => {
                shared.metrics.revocation_fetch(host, index, false);
                let failed = lease.failed(now, revocation);
                warn_failed(shared, index, provider, revocation, &cause, now, &failed);
                failed
            }
        };
        // This worker owns the lease while fetching: no compare-and-swap needed.
        let _ = host.set_shared_data(&lease_key, &done.encode(), None);
        sync_list(host, shared, index);
    }

    fn start_fetch(&self, host: &dyn Host, shared: &Shared, index: usize) {
        let Some((provider, revocation)) = revocation_of(shared, index) else {
            return;
        };
        let headers = [
            (":method", "GET"),
            (":path", revocation.url.path.as_str()),
            (":authority", revocation.url.authority.as_str()),
            ("accept", "application/json"),
        ];
        match host.dispatch_http_call(&revocation.cluster, &headers, None, revocation.timeout_ms) {
            Ok(token) => {
                if let Ok(mut calls) = self.calls.try_borrow_mut() {
                    calls.insert(token, index);
                }
                with_slot(shared, index, |slot| slot.fetching = Some(token));
            }
            Err(status) => {
                let now = host.now_ms();
                let lease_key = key("revocation-lease", provider, revocation);
                let (lease, _) = read_lease_at(host, &lease_key);
                let failed = lease.failed(now, revocation);
                let _ = host.set_shared_data(&lease_key, &failed.encode(), None);
                shared.metrics.revocation_fetch(host, index, false);
                let cause = format!("cannot call cluster {}: {status:?}", revocation.cluster);
                warn_failed(shared, index, provider, revocation, &cause, now, &failed);
            }
        }
    }
}

/// Logs a failed fetch once, saying what clients get meanwhile.
fn warn_failed(
    shared: &Shared,
    index: usize,
    provider: &Provider,
    revocation: &Revocation,
    cause: &str,
    now: u64,
    failed: &crate::issuer::remote_keys::Lease,
) {
    let in_use = with_slot(shared, index, |slot| {
        slot.list.as_ref().map(RevocationList::len)
    })
    .flatten();
    let keeping = match in_use {
        Some(entries) => format!("keeping the last good list ({entries} entries)"),
        None if revocation.refuse_until_fetched => "no list yet, tokens get 503".to_string(),
        None => "no list yet, tokens are decided without one".to_string(),
    };
    log::warn!(
        "provider {}: fetching the revocation list from cluster {} failed: {cause}; {keeping}; retry {} in {} ms",
        provider.name,
        revocation.cluster,
        failed.failures,
        failed.next_at_ms.saturating_sub(now)
    );
}

/// Installs the provider's shared list if another fetch changed it (the record is copied out
/// of shared data only when its generation changed).
fn sync_list(host: &dyn Host, shared: &Shared, index: usize) {
    let Some((provider, revocation)) = revocation_of(shared, index) else {
        return;
    };
    let generation = read_generation(host, &key("revocation-generation", provider, revocation));
    if with_slot(shared, index, |slot| slot.record_changed(generation)) != Some(true) {
        return;
    }
    let (record, cas) = host
        .get_shared_data(&key("revocation", provider, revocation))
        .unwrap_or((None, None));
    let now = host.now_ms() / 1000;
    let outcome = with_slot(shared, index, |slot| {
        slot.record_generation = generation;
        slot.sync(
            record.as_deref(),
            cas,
            revocation,
            now,
            provider.clock_skew_seconds,
        )
    });
    match outcome {
        Some(Sync::Installed(_)) => {
            let entries = with_slot(shared, index, |slot| {
                slot.list.as_ref().map_or(0, RevocationList::len)
            })
            .unwrap_or(0);
            log::info!(
                "provider {}: using a revocation list of {entries} entries",
                provider.name
            );
        }
        Some(Sync::Unusable(why)) => log::warn!(
            "provider {}: shared revocation list unusable: {why}",
            provider.name
        ),
        Some(Sync::Unchanged) | None => {}
    }
}

/// Creates the shared fetch lease of every provider's list (see
/// [`super::issuer_calls::create_lease`]: before the workers start).
pub(crate) fn create_revocation_leases(host: &dyn Host, shared: &Shared) {
    for index in 0..shared.policy.providers.len() {
        if let Some((provider, revocation)) = revocation_of(shared, index) {
            let lease_key = key("revocation-lease", provider, revocation);
            create_lease_at(host, &lease_key, &provider.name);
        }
    }
}

/// The provider at `index` and its revocation list settings, if it has a list.
fn revocation_of(shared: &Shared, index: usize) -> Option<(&Provider, &Revocation)> {
    let provider = shared.policy.providers.get(index)?;
    let revocation = shared.policy.endpoints.get(index)?.revocation.as_ref()?;
    Some((provider, revocation))
}

/// Runs `change` on the provider's revocation slot, the borrow ending with it.
fn with_slot<R>(
    shared: &Shared,
    index: usize,
    change: impl FnOnce(&mut RevocationSlot) -> R,
) -> Option<R> {
    let mut slots = shared.revocations.try_borrow_mut().ok()?;
    slots.get_mut(index).map(change)
}

/// Shared-data key of one of the provider's revocation records: named by issuer, cluster and
/// URL, so two configurations never mix up two lists.
fn key(kind: &str, provider: &Provider, revocation: &Revocation) -> String {
    let at = format!(
        "{} {}{}",
        provider.issuer, revocation.url.authority, revocation.url.path
    );
    issuer_key(kind, &revocation.cluster, &at)
}
