//! The host side of fetched keys and token introspection: HTTP calls to issuers, proxy-wasm
//! shared data, and requests paused until an answer comes.
//!
//! Everything here moves bytes for the pure state machines of [`crate::issuer::remote_keys`]
//! and the answer interpretation of [`crate::issuer::introspection`]; the root and HTTP
//! contexts own the events and call in, and requests are decided again through
//! [`super::apply`]. The root context's [`KeyFetcher`] runs the fetches: on each tick it
//! installs the key record another VM shared (reading the lease first: a fetcher publishes keys
//! before it releases the lease; and the record's small generation value before the record, so
//! the record is copied only when it changed), takes the lease with compare-and-swap when a
//! fetch is due, dispatches the discovery and JWKS calls, publishes good bodies (record, then
//! generation), logs each failure once, and decides the paused requests. Its shared-data
//! helpers (the lease, the generation, the keys' names) also serve the revocation lists of
//! [`super::revocation_calls`]. The HTTP context dispatches introspection calls itself, so the answer comes
//! back to the request it is about.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::apply::{internal_failure, Shared};
use super::metrics::IntrospectionResult;
use super::woken::decide_now;
use super::{Flow, Host, HostError};
use crate::issuer::discovery;
use crate::issuer::introspection::{self, Confirmation, Expected, Inactive, Outcome};
use crate::issuer::remote_keys::{
    response_body, Generation, KeyRecord, Lease, Locator, RemoteKeys, Slot, Stage, Sync, Waiter,
};
use crate::jwt::jwks::KeySet;
use crate::jwt::provider::Provider;
use crate::policy::decision::Settled;
use crate::policy::deny::Denial;
use crate::policy::outcome::Reason;

/// The root context's fetches in flight.
#[derive(Default)]
pub(crate) struct KeyFetcher {
    /// HTTP call token to the provider it fetches for.
    calls: RefCell<HashMap<u32, usize>>,
}

impl KeyFetcher {
    /// Every tick: per remote provider, sync the shared keys, take the lease if a fetch is due,
    /// and decide the paused requests whose wait is over.
    pub(crate) fn on_tick(&self, host: &dyn Host, shared: &Shared) {
        let now = host.now_ms();
        let policy = &shared.policy;
        for (index, (provider, endpoints)) in
            policy.providers.iter().zip(&policy.endpoints).enumerate()
        {
            let Some(remote) = endpoints.remote.as_ref() else {
                continue;
            };
            // Lease first: a fetcher publishes the keys before it releases the lease, so a lease
            // read as released guarantees the sync below sees that fetch's keys.
            let (lease, cas) = read_lease(host, provider, remote);
            sync_keys(host, shared, index);
            let mut lease = lease;
            let Some((fetching, wanted, fetched_at)) = with_slot(shared, index, |slot| {
                (slot.fetching(), slot.unknown_kid_wanted, slot.fetched_at_ms)
            }) else {
                continue;
            };
            let since = fetched_at.unwrap_or(shared.started_ms);
            shared
                .metrics
                .key_age(host, index, now.saturating_sub(since) / 1000);
            if !fetching {
                if let Some((reason, taken)) = lease.take(now, wanted, remote) {
                    if host
                        .set_shared_data(&lease_key(provider, remote), &taken.encode(), cas)
                        .is_ok()
                    {
                        log::debug!("provider {}: fetching keys ({reason:?})", provider.name);
                        lease = taken;
                        self.start_fetch(host, shared, index);
                    }
                }
                // Either this worker fetches now, another one does, or the window forbids it.
                with_slot(shared, index, |slot| slot.unknown_kid_wanted = false);
            }
            let due = with_slot(shared, index, |slot| slot.due_waiters(now, &lease));
            decide_waiters(host, shared, due.unwrap_or_default());
        }
    }

    /// An answer to one of this fetcher's calls (or its failure).
    pub(crate) fn on_response(
        &self,
        host: &dyn Host,
        shared: &Shared,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
    ) {
        let provider = match self.calls.try_borrow_mut() {
            Ok(mut calls) => calls.remove(&token_id),
            Err(_) => None,
        };
        let Some(provider) = provider else {
            log::debug!("answer to unknown call {token_id} ignored");
            return;
        };
        let (status, body) = host.call_response(num_headers, body_size);
        self.on_fetched(
            host,
            shared,
            provider,
            token_id,
            response_body(status, body),
        );
    }

    /// Dispatches the next call of a fetch for `index`: discovery first unless its JWKS URL is
    /// known, then the JWKS.
    fn start_fetch(&self, host: &dyn Host, shared: &Shared, index: usize) {
        let Some((_, remote)) = remote_provider(shared, index) else {
            return;
        };
        let known = with_slot(shared, index, |slot| slot.jwks_url.clone()).flatten();
        let (url, discovering) = match (&remote.locator, known) {
            (Locator::Jwks(url), _) => (url.clone(), false),
            (Locator::Discovery(_), Some(url)) => (url, false),
            (Locator::Discovery(url), None) => (url.clone(), true),
        };
        let headers = vec![
            (":method", "GET"),
            (":path", url.path.as_str()),
            (":authority", url.authority.as_str()),
            ("accept", "application/json"),
        ];
        match host.dispatch_http_call(&remote.cluster, &headers, None, remote.timeout_ms) {
            Ok(token) => {
                if let Ok(mut calls) = self.calls.try_borrow_mut() {
                    calls.insert(token, index);
                }
                with_slot(shared, index, |slot| {
                    slot.stage = Some(if discovering {
                        Stage::Discovery(token)
                    } else {
                        Stage::Jwks(token)
                    });
                });
            }
            Err(status) => self.fetch_failed(
                host,
                shared,
                index,
                &format!("cannot call cluster {}: {status:?}", remote.cluster),
            ),
        }
    }

    /// Handles the answer to one call of a fetch.
    fn on_fetched(
        &self,
        host: &dyn Host,
        shared: &Shared,
        index: usize,
        token: u32,
        body: Result<Vec<u8>, String>,
    ) {
        let Some(provider) = shared.policy.providers.get(index) else {
            return;
        };
        let stage = with_slot(shared, index, |slot| slot.stage).flatten();
        match (stage, body) {
            (Some(Stage::Discovery(expected)), Ok(body)) if expected == token => {
                match discovery::jwks_url(&body, &provider.issuer) {
                    Ok(url) => {
                        with_slot(shared, index, |slot| slot.jwks_url = Some(url));
                        self.start_fetch(host, shared, index);
                    }
                    Err(why) => self.fetch_failed(host, shared, index, &why),
                }
            }
            (Some(Stage::Jwks(expected)), Ok(body)) if expected == token => {
                match KeySet::from_fetched_jwks(&body, &provider.algorithms) {
                    Ok(_) => self.fetch_succeeded(host, shared, index, body),
                    Err(why) => self.fetch_failed(host, shared, index, &format!("JWKS {why}")),
                }
            }
            (Some(Stage::Discovery(expected) | Stage::Jwks(expected)), Err(why))
                if expected == token =>
            {
                let what = if matches!(stage, Some(Stage::Discovery(_))) {
                    "discovery document"
                } else {
                    "JWKS"
                };
                self.fetch_failed(host, shared, index, &format!("{what}: {why}"));
            }
            _ => log::debug!("provider {}: stale call {token} answered", provider.name),
        }
    }

    fn fetch_succeeded(&self, host: &dyn Host, shared: &Shared, index: usize, body: Vec<u8>) {
        let Some((provider, remote)) = remote_provider(shared, index) else {
            return;
        };
        let now = host.now_ms();
        let record = KeyRecord {
            fetched_at_ms: now,
            body,
        };
        if let Err(status) =
            host.set_shared_data(&record_key(provider, remote), &record.encode(), None)
        {
            log::error!("provider {}: cannot share keys: {status:?}", provider.name);
        } else {
            bump_generation(host, &generation_key(provider, remote), &provider.name);
        }
        shared.metrics.key_fetch(host, index, true);
        let (lease, _) = read_lease(host, provider, remote);
        let done = lease.succeeded(now, remote);
        // This worker owns the lease while fetching: no compare-and-swap needed.
        let _ = host.set_shared_data(&lease_key(provider, remote), &done.encode(), None);
        self.finish(host, shared, index, &done);
    }

    fn fetch_failed(&self, host: &dyn Host, shared: &Shared, index: usize, cause: &str) {
        let Some((provider, remote)) = remote_provider(shared, index) else {
            return;
        };
        shared.metrics.key_fetch(host, index, false);
        let now = host.now_ms();
        let (lease, _) = read_lease(host, provider, remote);
        let failed = lease.failed(now, remote);
        let _ = host.set_shared_data(&lease_key(provider, remote), &failed.encode(), None);
        let in_use = with_slot(shared, index, |slot| {
            // A JWKS URL that failed is discovered again next time.
            slot.jwks_url = None;
            slot.keys.as_ref().map_or(0, KeySet::len)
        })
        .unwrap_or(0);
        let keeping = if in_use == 0 {
            "no keys yet, requests get 503".to_string()
        } else {
            format!("keeping the last good keys ({in_use})")
        };
        log::warn!(
            "provider {}: fetching keys from cluster {} failed: {cause}; {keeping}; retry {} in {} ms",
            provider.name,
            remote.cluster,
            failed.failures,
            failed.next_at_ms.saturating_sub(now)
        );
        self.finish(host, shared, index, &failed);
    }

    /// After a fetch: install what is shared and decide every request that was waiting.
    fn finish(&self, host: &dyn Host, shared: &Shared, index: usize, lease: &Lease) {
        with_slot(shared, index, |slot| slot.stage = None);
        sync_keys(host, shared, index);
        let now = host.now_ms();
        let due = with_slot(shared, index, |slot| slot.due_waiters(now, lease));
        decide_waiters(host, shared, due.unwrap_or_default());
    }
}

/// Runs `change` on the slot of the provider at `index`, the borrow ending with it (never held
/// across a host call); `None` if there is no such slot (or, against the borrow discipline,
/// the slots are borrowed: the next tick does it again).
fn with_slot<R>(shared: &Shared, index: usize, change: impl FnOnce(&mut Slot) -> R) -> Option<R> {
    let mut slots = shared.slots.try_borrow_mut().ok()?;
    slots.get_mut(index).map(change)
}

/// Decides paused requests with the keys there are now (they may not wait again).
fn decide_waiters(host: &dyn Host, shared: &Shared, waiters: Vec<Waiter>) {
    if waiters.is_empty() {
        return;
    }
    for waiter in waiters {
        if host.set_effective_context(waiter.context_id).is_err() {
            continue; // the client has gone
        }
        resume(
            host,
            decide_now(host, shared, &Settled::Final, waiter.context_id),
        );
    }
    if let Err(status) = host.set_effective_context(shared.root_id) {
        log::error!("cannot return to the root context: {status:?}");
    }
}

/// The provider at `index` and where its keys are fetched from, if they are.
fn remote_provider(shared: &Shared, index: usize) -> Option<(&Provider, &RemoteKeys)> {
    let provider = shared.policy.providers.get(index)?;
    let remote = shared.policy.endpoints.get(index)?.remote.as_ref()?;
    Some((provider, remote))
}

/// Tells the other workers a new record (keys, a revocation list) is shared under the
/// generation key `key`: bumps its generation (after the record was written). A
/// compare-and-swap mismatch means another fetch bumped it after this record was written, which
/// tells them as well.
pub(crate) fn bump_generation(host: &dyn Host, key: &str, provider: &str) {
    let (current, cas) = match host.get_shared_data(key) {
        Ok((value, cas)) => (value.as_deref().and_then(Generation::decode), cas),
        Err(_) => (None, None),
    };
    let next = current.unwrap_or(Generation(0)).next();
    match host.set_shared_data(key, &next.encode(), cas) {
        Ok(()) | Err(HostError::CasMismatch) => {}
        Err(status) => {
            log::error!("provider {provider}: cannot share a record's generation: {status:?}")
        }
    }
}

/// The shared generation at `key`, if any.
pub(crate) fn read_generation(host: &dyn Host, key: &str) -> Option<Generation> {
    host.get_shared_data(key)
        .ok()
        .and_then(|(value, _)| value)
        .and_then(|value| Generation::decode(&value))
}

/// Installs the provider's shared key record if another fetch changed it. The record (up to
/// 512 KiB) is copied out of shared data only when its generation changed.
fn sync_keys(host: &dyn Host, shared: &Shared, index: usize) {
    let Some((provider, remote)) = remote_provider(shared, index) else {
        return;
    };
    let generation = read_generation(host, &generation_key(provider, remote));
    if with_slot(shared, index, |slot| slot.record_changed(generation)) != Some(true) {
        return;
    }
    let (record, cas) = host
        .get_shared_data(&record_key(provider, remote))
        .unwrap_or((None, None));
    let Some(outcome) = with_slot(shared, index, |slot| {
        slot.record_generation = generation;
        slot.sync(record.as_deref(), cas, &provider.algorithms)
    }) else {
        return;
    };
    match outcome {
        Sync::Unchanged => {}
        Sync::Installed(skipped) => {
            for why in skipped {
                log::warn!("provider {}: skipped a fetched key: {why}", provider.name);
            }
            let (count, version) = with_slot(shared, index, |slot| {
                (slot.keys.as_ref().map_or(0, KeySet::len), slot.version)
            })
            .unwrap_or((0, 0));
            log::info!(
                "provider {}: using {count} fetched key(s), version {version}",
                provider.name
            );
            // Cached tokens of the old set are checked again: the cache compares each entry's
            // key version with the slot's on every hit, so no flush is needed (or missed).
        }
        Sync::Unusable(why) => {
            log::warn!("provider {}: shared keys unusable: {why}", provider.name);
        }
    }
}

/// Shared-data key of the provider's lease. Keys are named by issuer and cluster, not by the
/// provider's name, so two configurations in one VM never mix up two issuers' keys.
fn lease_key(provider: &Provider, remote: &RemoteKeys) -> String {
    shared_key("lease", provider, remote)
}

/// Shared-data key of the provider's last good JWKS.
fn record_key(provider: &Provider, remote: &RemoteKeys) -> String {
    shared_key("jwks", provider, remote)
}

/// Shared-data key of the generation of the provider's JWKS record.
fn generation_key(provider: &Provider, remote: &RemoteKeys) -> String {
    shared_key("jwks-generation", provider, remote)
}

fn shared_key(kind: &str, provider: &Provider, remote: &RemoteKeys) -> String {
    issuer_key(kind, &remote.cluster, &provider.issuer)
}

/// Shared-data key of a record of `kind` fetched from `issuer` through `cluster`.
pub(crate) fn issuer_key(kind: &str, cluster: &str, issuer: &str) -> String {
    format!("edge-auth/{kind} {cluster} {issuer}")
}

/// Creates the provider's lease if no VM has yet. Compare-and-swap only guards keys that
/// exist, so the lease must exist before any VM tries to take it: Envoy configures the main
/// thread's VM before it starts the workers, which makes this creation race-free.
pub(crate) fn create_lease(host: &dyn Host, provider: &Provider, remote: &RemoteKeys) {
    create_lease_at(host, &lease_key(provider, remote), &provider.name);
}

/// Creates the lease at shared-data key `key` if no VM has yet (see [`create_lease`]).
pub(crate) fn create_lease_at(host: &dyn Host, key: &str, provider: &str) {
    if let Ok((None, _)) = host.get_shared_data(key) {
        let fresh = Lease::default().encode();
        if let Err(status) = host.set_shared_data(key, &fresh, None) {
            log::error!("provider {provider}: cannot create the fetch lease: {status:?}");
        }
    }
}

/// The provider's lease and its compare-and-swap value (a fresh lease if none is shared yet).
fn read_lease(host: &dyn Host, provider: &Provider, remote: &RemoteKeys) -> (Lease, Option<u32>) {
    read_lease_at(host, &lease_key(provider, remote))
}

/// The lease at shared-data key `key` and its compare-and-swap value (fresh if none).
pub(crate) fn read_lease_at(host: &dyn Host, key: &str) -> (Lease, Option<u32>) {
    match host.get_shared_data(key) {
        Ok((Some(bytes), cas)) => (Lease::decode(&bytes).unwrap_or_default(), cas),
        Ok((None, cas)) => (Lease::default(), cas),
        Err(_) => (Lease::default(), None),
    }
}

/// An introspection call: its token, the provider asked, the bearer token asked about, and
/// (confirming a verified JWT on a rule with `introspect`) what that token says.
pub(crate) struct Pending {
    pub(crate) call: u32,
    pub(crate) provider: usize,
    pub(crate) token: String,
    pub(crate) confirm: Option<Expected>,
}

/// What an introspection answer settles, before metrics and the request see it.
enum Answer {
    /// Good: decide the request with this.
    Good(Settled),
    /// The token is refused for this reason (remembered as inactive).
    Inactive(Inactive),
    /// No usable answer (the cause is for the log).
    Unavailable(String),
}

/// Handles the introspection answer for the effective HTTP context's request: caches it and
/// decides the request again (allowed requests are resumed), or refuses it (401/503; in report
/// mode forwarded and counted as would-deny).
pub(crate) fn introspection_answered(
    host: &dyn Host,
    shared: &Shared,
    context_id: u32,
    pending: &Pending,
    num_headers: usize,
    body_size: usize,
) {
    let endpoint = shared.policy.providers.get(pending.provider).zip(
        shared
            .policy
            .endpoints
            .get(pending.provider)
            .and_then(|e| e.introspection.as_ref()),
    );
    let Some((provider, introspection)) = endpoint else {
        let misconfigured = Denial::Unavailable("edge-auth is misconfigured".into());
        resume(host, internal_failure(host, shared, &misconfigured));
        return;
    };
    let response = host.call_response(num_headers, body_size);
    let now = host.now_ms() / 1000;
    let answer = match &pending.confirm {
        None => identity_answer(shared, pending, (provider, introspection), response, now),
        Some(expected) => {
            match introspection::confirm(
                response.0,
                response.1,
                provider,
                introspection,
                expected,
                now,
            ) {
                Confirmation::Confirmed { until } => {
                    if let Ok(mut cache) = shared.cache.try_borrow_mut() {
                        cache.confirm(&pending.token, now, until);
                    }
                    Answer::Good(Settled::Confirmed)
                }
                Confirmation::Inactive(why) => Answer::Inactive(why),
                Confirmation::Unavailable(cause) => Answer::Unavailable(cause),
            }
        }
    };
    let (metric, settled) = match answer {
        Answer::Good(settled) => (IntrospectionResult::Active, settled),
        Answer::Inactive(why) => {
            shared
                .metrics
                .introspection(host, pending.provider, IntrospectionResult::Inactive);
            let flow = decide_now(
                host,
                shared,
                &Settled::Refused(
                    Denial::InvalidToken(why.to_string()),
                    Reason::for_inactive(why),
                ),
                context_id,
            );
            // Remembered after deciding, so the answer's own reason is the one reported.
            if let Ok(mut cache) = shared.cache.try_borrow_mut() {
                let until = now.saturating_add(introspection.negative_cache_seconds);
                cache.insert_inactive(&pending.token, until, now);
            }
            resume(host, flow);
            return;
        }
        Answer::Unavailable(cause) => {
            log::warn!(
                "provider {}: introspection via cluster {} failed: {cause}",
                provider.name,
                introspection.cluster
            );
            (
                IntrospectionResult::Unavailable,
                Settled::Refused(
                    Denial::Unavailable("the token introspection endpoint is unavailable".into()),
                    Reason::IntrospectionUnavailable,
                ),
            )
        }
    };
    shared.metrics.introspection(host, pending.provider, metric);
    resume(host, decide_now(host, shared, &settled, context_id));
}

/// An answer about an opaque token (or any token of a provider introspecting all): the
/// token's identity, cached, and counted as a confirmation from now for rules with
/// `introspect`.
fn identity_answer(
    shared: &Shared,
    pending: &Pending,
    (provider, introspection): (&Provider, &introspection::Introspection),
    (status, body): (Option<u32>, Option<Vec<u8>>),
    now: u64,
) -> Answer {
    let outcome = introspection::interpret(
        status,
        body,
        pending.provider,
        provider,
        introspection,
        &shared.policy.forward,
        now,
    );
    match outcome {
        Outcome::Active {
            identity,
            valid_until,
        } => {
            let identity: Rc<_> = Rc::from(identity);
            let version = with_slot(shared, pending.provider, |slot| slot.version).unwrap_or(0);
            if let Ok(mut cache) = shared.cache.try_borrow_mut() {
                cache.insert(
                    &pending.token,
                    Rc::clone(&identity),
                    valid_until,
                    now,
                    version,
                );
                cache.confirm(&pending.token, now, valid_until);
            }
            // Decided with the answer in hand (route scopes, headers), cached or not.
            Answer::Good(Settled::Active(identity))
        }
        Outcome::Inactive(why) => Answer::Inactive(why),
        Outcome::Unavailable(cause) => Answer::Unavailable(cause),
    }
}

/// Resumes the effective HTTP context's paused request if it was allowed (a refusal has sent
/// its reply already).
fn resume(host: &dyn Host, flow: Flow) {
    if flow == Flow::Continue {
        if let Err(status) = host.resume_request() {
            log::error!("cannot resume a request: {status:?}");
        }
    }
}

/// POSTs `token` to `provider`'s introspection endpoint; the call's token, or `None` (logged).
pub(crate) fn introspect(
    host: &dyn Host,
    shared: &Shared,
    provider: usize,
    token: &str,
) -> Option<u32> {
    let introspection = shared
        .policy
        .endpoints
        .get(provider)?
        .introspection
        .as_ref()?;
    let provider = shared.policy.providers.get(provider)?;
    let body = introspection::request_body(token);
    let headers = [
        (":method", "POST"),
        (":path", introspection.path.as_str()),
        (":authority", introspection.authority.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
        ("accept", "application/json"),
        ("authorization", introspection.authorization.as_str()),
    ];
    match host.dispatch_http_call(
        &introspection.cluster,
        &headers,
        Some(body.as_bytes()),
        introspection.timeout_ms,
    ) {
        Ok(call) => Some(call),
        Err(status) => {
            log::warn!(
                "provider {}: cannot call introspection cluster {}: {status:?}",
                provider.name,
                introspection.cluster
            );
            None
        }
    }
}

/// What became of a request that needs keys the worker does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyWait {
    /// Parked until a fetch ends (or its deadline).
    Parked,
    /// New keys were installed just now (another worker's fetch, or this one's that ended
    /// before the tick): decide the request again at once.
    Installed,
    /// Nothing would come of waiting: decide with what there is.
    Nothing,
}

/// Parks the request until `provider`'s keys are fetched, if a fetch is coming (or, for an
/// unknown `kid`, the refetch window allows one). Keys another worker shared meanwhile are
/// installed first (reading only their generation when they did not change).
pub(crate) fn wait_for_keys(
    host: &dyn Host,
    shared: &Shared,
    provider: usize,
    unknown_kid: bool,
    context_id: u32,
    now: u64,
) -> KeyWait {
    let Some((entry, remote)) = remote_provider(shared, provider) else {
        return KeyWait::Nothing;
    };
    let before = with_slot(shared, provider, |slot| slot.version);
    // Lease, then keys (see on_tick): another worker may have finished a fetch since this
    // worker's last tick, and its keys are then already shared.
    let (lease, _) = read_lease(host, entry, remote);
    sync_keys(host, shared, provider);
    let early = unknown_kid && lease.unknown_kid_refetch_allowed(now, remote);
    with_slot(shared, provider, |slot| {
        if Some(slot.version) != before {
            return KeyWait::Installed;
        }
        if !(slot.fetching() || lease.fetch_coming(now) || early) {
            return KeyWait::Nothing;
        }
        if early {
            slot.unknown_kid_wanted = true;
        }
        slot.waiters.push(Waiter {
            context_id,
            deadline_ms: now
                .saturating_add(remote.timeout_ms.saturating_mul(2))
                .saturating_add(1000),
        });
        KeyWait::Parked
    })
    .unwrap_or(KeyWait::Nothing)
}
