//! The host side of fetched keys and token introspection (wasm only): HTTP calls to issuers,
//! proxy-wasm shared data, and requests paused until an answer comes.
//!
//! Everything here moves bytes for the pure state machines of [`crate::issuer::remote_keys`]
//! and the answer interpretation of [`crate::issuer::introspection`]; the root and HTTP
//! contexts own the events and call in, and requests are decided again through
//! [`super::apply`]. The root context's [`KeyFetcher`] runs the fetches: on each tick it
//! installs the key record another VM shared (reading the lease first: a fetcher publishes keys before it
//! releases the lease), takes the lease with compare-and-swap when a fetch is due, dispatches
//! the discovery and JWKS calls, publishes good bodies, logs each failure once, and decides the
//! paused requests. The HTTP context dispatches introspection calls itself, so the answer comes
//! back to the request it is about.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, BufferType, MapType};

use super::apply::{decide_now, internal_failure, now_ms, Shared};
use super::metrics::IntrospectionResult;
use crate::issuer::discovery;
use crate::issuer::introspection::{self, Outcome};
use crate::issuer::remote_keys::{
    response_body, KeyRecord, Lease, Locator, RemoteKeys, Stage, Sync, Waiter,
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
    calls: HashMap<u32, usize>,
}

impl KeyFetcher {
    /// Every tick: per remote provider, sync the shared keys, take the lease if a fetch is due,
    /// and decide the paused requests whose wait is over.
    pub(crate) fn on_tick(&mut self, shared: &Shared) {
        let now = now_ms();
        let policy = &shared.policy;
        if let Ok(mut cache) = shared.cache.try_borrow_mut() {
            let stats = cache.take_stats();
            if !stats.is_empty() {
                shared.metrics.add_cache(stats);
            }
        }
        for (index, (provider, endpoints)) in
            policy.providers.iter().zip(&policy.endpoints).enumerate()
        {
            let Some(remote) = endpoints.remote.as_ref() else {
                continue;
            };
            // Lease first: a fetcher publishes the keys before it releases the lease, so a lease
            // read as released guarantees the sync below sees that fetch's keys.
            let (lease, cas) = read_lease(provider, remote);
            sync_keys(shared, index);
            let mut lease = lease;
            let (fetching, wanted, fetched_at) = match shared.slots.borrow().get(index) {
                Some(slot) => (slot.fetching(), slot.unknown_kid_wanted, slot.fetched_at_ms),
                None => continue,
            };
            let since = fetched_at.unwrap_or(shared.started_ms);
            shared
                .metrics
                .key_age(index, now.saturating_sub(since) / 1000);
            if !fetching {
                if let Some((reason, taken)) = lease.take(now, wanted, remote) {
                    if hostcalls::set_shared_data(
                        &lease_key(provider, remote),
                        Some(&taken.encode()),
                        cas,
                    )
                    .is_ok()
                    {
                        log::debug!("provider {}: fetching keys ({reason:?})", provider.name);
                        lease = taken;
                        self.start_fetch(shared, index);
                    }
                }
                if let Some(slot) = shared.slots.borrow_mut().get_mut(index) {
                    // Either this worker fetches now, another one does, or the window forbids it.
                    slot.unknown_kid_wanted = false;
                }
            }
            let due = match shared.slots.borrow_mut().get_mut(index) {
                Some(slot) => slot.due_waiters(now, &lease),
                None => Vec::new(),
            };
            self.decide_waiters(shared, due);
        }
    }

    /// An answer to one of this fetcher's calls (or its failure).
    pub(crate) fn on_response(
        &mut self,
        shared: &Shared,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
    ) {
        let Some(provider) = self.calls.remove(&token_id) else {
            return;
        };
        let (status, body) = call_response(num_headers, body_size);
        self.on_fetched(shared, provider, token_id, response_body(status, body));
    }

    /// Dispatches the next call of a fetch for `index`: discovery first unless its JWKS URL is
    /// known, then the JWKS.
    fn start_fetch(&mut self, shared: &Shared, index: usize) {
        let Some((_, remote)) = remote_provider(shared, index) else {
            return;
        };
        let known = shared
            .slots
            .borrow()
            .get(index)
            .and_then(|slot| slot.jwks_url.clone());
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
        match hostcalls::dispatch_http_call(
            &remote.cluster,
            headers,
            None,
            vec![],
            Duration::from_millis(remote.timeout_ms),
        ) {
            Ok(token) => {
                self.calls.insert(token, index);
                if let Some(slot) = shared.slots.borrow_mut().get_mut(index) {
                    slot.stage = Some(if discovering {
                        Stage::Discovery(token)
                    } else {
                        Stage::Jwks(token)
                    });
                }
            }
            Err(status) => self.fetch_failed(
                shared,
                index,
                &format!("cannot call cluster {}: {status:?}", remote.cluster),
            ),
        }
    }

    /// Handles the answer to one call of a fetch.
    fn on_fetched(
        &mut self,
        shared: &Shared,
        index: usize,
        token: u32,
        body: Result<Vec<u8>, String>,
    ) {
        let Some(provider) = shared.policy.providers.get(index) else {
            return;
        };
        let stage = shared.slots.borrow().get(index).and_then(|slot| slot.stage);
        match (stage, body) {
            (Some(Stage::Discovery(expected)), Ok(body)) if expected == token => {
                match discovery::jwks_url(&body, &provider.issuer) {
                    Ok(url) => {
                        if let Some(slot) = shared.slots.borrow_mut().get_mut(index) {
                            slot.jwks_url = Some(url);
                        }
                        self.start_fetch(shared, index);
                    }
                    Err(why) => self.fetch_failed(shared, index, &why),
                }
            }
            (Some(Stage::Jwks(expected)), Ok(body)) if expected == token => {
                match KeySet::from_fetched_jwks(&body, &provider.algorithms) {
                    Ok(_) => self.fetch_succeeded(shared, index, body),
                    Err(why) => self.fetch_failed(shared, index, &format!("JWKS {why}")),
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
                self.fetch_failed(shared, index, &format!("{what}: {why}"));
            }
            _ => log::debug!("provider {}: stale call {token} answered", provider.name),
        }
    }

    fn fetch_succeeded(&mut self, shared: &Shared, index: usize, body: Vec<u8>) {
        let Some((provider, remote)) = remote_provider(shared, index) else {
            return;
        };
        let now = now_ms();
        let record = KeyRecord {
            fetched_at_ms: now,
            body,
        };
        if let Err(status) =
            hostcalls::set_shared_data(&record_key(provider, remote), Some(&record.encode()), None)
        {
            log::error!("provider {}: cannot share keys: {status:?}", provider.name);
        }
        shared.metrics.key_fetch(index, true);
        let (lease, _) = read_lease(provider, remote);
        let done = lease.succeeded(now, remote);
        // This worker owns the lease while fetching: no compare-and-swap needed.
        let _ =
            hostcalls::set_shared_data(&lease_key(provider, remote), Some(&done.encode()), None);
        self.finish(shared, index, &done);
    }

    fn fetch_failed(&mut self, shared: &Shared, index: usize, cause: &str) {
        let Some((provider, remote)) = remote_provider(shared, index) else {
            return;
        };
        shared.metrics.key_fetch(index, false);
        let now = now_ms();
        let (lease, _) = read_lease(provider, remote);
        let failed = lease.failed(now, remote);
        let _ =
            hostcalls::set_shared_data(&lease_key(provider, remote), Some(&failed.encode()), None);
        let in_use = match shared.slots.borrow_mut().get_mut(index) {
            Some(slot) => {
                // A JWKS URL that failed is discovered again next time.
                slot.jwks_url = None;
                slot.keys.as_ref().map_or(0, KeySet::len)
            }
            None => 0,
        };
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
        self.finish(shared, index, &failed);
    }

    /// After a fetch: install what is shared and decide every request that was waiting.
    fn finish(&mut self, shared: &Shared, index: usize, lease: &Lease) {
        if let Some(slot) = shared.slots.borrow_mut().get_mut(index) {
            slot.stage = None;
        }
        sync_keys(shared, index);
        let due = match shared.slots.borrow_mut().get_mut(index) {
            Some(slot) => slot.due_waiters(now_ms(), lease),
            None => Vec::new(),
        };
        self.decide_waiters(shared, due);
    }

    /// Decides paused requests with the keys there are now (they may not wait again).
    fn decide_waiters(&self, shared: &Shared, waiters: Vec<Waiter>) {
        for waiter in waiters {
            if hostcalls::set_effective_context(waiter.context_id).is_err() {
                continue; // the client has gone
            }
            resume(decide_now(shared, &Settled::Final));
        }
        if let Err(status) = hostcalls::set_effective_context(shared.root_id) {
            log::error!("cannot return to the root context: {status:?}");
        }
    }
}

/// The status (`None` when there was no answer: Envoy reports a failed call with no headers)
/// and body of the HTTP call being answered.
fn call_response(num_headers: usize, body_size: usize) -> (Option<u32>, Option<Vec<u8>>) {
    let status = if num_headers == 0 {
        None
    } else {
        hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|status| status.parse::<u32>().ok())
    };
    let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .ok()
        .flatten();
    (status, body)
}

/// The provider at `index` and where its keys are fetched from, if they are.
fn remote_provider(shared: &Shared, index: usize) -> Option<(&Provider, &RemoteKeys)> {
    let provider = shared.policy.providers.get(index)?;
    let remote = shared.policy.endpoints.get(index)?.remote.as_ref()?;
    Some((provider, remote))
}

/// Installs the provider's shared key record if another fetch changed it.
fn sync_keys(shared: &Shared, index: usize) {
    let Some((provider, remote)) = remote_provider(shared, index) else {
        return;
    };
    let (record, cas) =
        hostcalls::get_shared_data(&record_key(provider, remote)).unwrap_or((None, None));
    let outcome = match shared.slots.borrow_mut().get_mut(index) {
        Some(slot) => slot.sync(record.as_deref(), cas, &provider.algorithms),
        None => return,
    };
    match outcome {
        Sync::Unchanged => {}
        Sync::Installed(skipped) => {
            for why in skipped {
                log::warn!("provider {}: skipped a fetched key: {why}", provider.name);
            }
            let (count, version) = match shared.slots.borrow().get(index) {
                Some(slot) => (slot.keys.as_ref().map_or(0, KeySet::len), slot.version),
                None => (0, 0),
            };
            log::info!(
                "provider {}: using {count} fetched key(s), version {version}",
                provider.name
            );
            // A token verified with the old set must not outlive a key that was removed.
            if let Ok(mut cache) = shared.cache.try_borrow_mut() {
                cache.forget_provider(index);
            }
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

fn shared_key(kind: &str, provider: &Provider, remote: &RemoteKeys) -> String {
    format!("edge-auth/{kind} {} {}", remote.cluster, provider.issuer)
}

/// Creates the provider's lease if no VM has yet. Compare-and-swap only guards keys that
/// exist, so the lease must exist before any VM tries to take it: Envoy configures the main
/// thread's VM before it starts the workers, which makes this creation race-free.
pub(crate) fn create_lease(provider: &Provider, remote: &RemoteKeys) {
    if let Ok((None, _)) = hostcalls::get_shared_data(&lease_key(provider, remote)) {
        let fresh = Lease::default().encode();
        if let Err(status) =
            hostcalls::set_shared_data(&lease_key(provider, remote), Some(&fresh), None)
        {
            log::error!(
                "provider {}: cannot create the fetch lease: {status:?}",
                provider.name
            );
        }
    }
}

/// The provider's lease and its compare-and-swap value (a fresh lease if none is shared yet).
fn read_lease(provider: &Provider, remote: &RemoteKeys) -> (Lease, Option<u32>) {
    match hostcalls::get_shared_data(&lease_key(provider, remote)) {
        Ok((Some(bytes), cas)) => (Lease::decode(&bytes).unwrap_or_default(), cas),
        Ok((None, cas)) => (Lease::default(), cas),
        Err(_) => (Lease::default(), None),
    }
}

/// An introspection call: its token, the provider asked and the bearer token asked about.
pub(crate) struct Pending {
    pub(crate) call: u32,
    pub(crate) provider: usize,
    pub(crate) token: String,
}

/// Handles the introspection answer for the effective HTTP context's request: caches it and
/// decides the request again (allowed requests are resumed), or refuses it (401/503; in report
/// mode forwarded and counted as would-deny).
pub(crate) fn introspection_answered(
    shared: &Shared,
    pending: &Pending,
    num_headers: usize,
    body_size: usize,
) {
    let misconfigured = || Denial::Unavailable("edge-auth is misconfigured".into());
    let Some(provider) = shared.policy.providers.get(pending.provider) else {
        resume(internal_failure(shared, &misconfigured()));
        return;
    };
    let Some(introspection) = shared
        .policy
        .endpoints
        .get(pending.provider)
        .and_then(|e| e.introspection.as_ref())
    else {
        resume(internal_failure(shared, &misconfigured()));
        return;
    };
    let (status, body) = call_response(num_headers, body_size);
    let now = now_ms() / 1000;
    let outcome = introspection::interpret(
        status,
        body,
        pending.provider,
        provider,
        introspection,
        &shared.policy.forward,
        now,
    );
    let settled = match outcome {
        Outcome::Active {
            identity,
            valid_until,
        } => {
            shared
                .metrics
                .introspection(pending.provider, IntrospectionResult::Active);
            let Ok(mut cache) = shared.cache.try_borrow_mut() else {
                internal_failure(shared, &Denial::Unavailable("edge-auth is busy".into()));
                return;
            };
            cache.insert(&pending.token, Rc::new(identity), valid_until, now);
            // The answer is cached: decide as for any verified token (route scopes, headers).
            Settled::Final
        }
        Outcome::Inactive(why) => {
            shared
                .metrics
                .introspection(pending.provider, IntrospectionResult::Inactive);
            let action = decide_now(
                shared,
                &Settled::Refused(
                    Denial::InvalidToken(why.to_string()),
                    Reason::for_inactive(why),
                ),
            );
            // Remembered after deciding, so the answer's own reason is the one reported.
            if let Ok(mut cache) = shared.cache.try_borrow_mut() {
                let until = now.saturating_add(introspection.negative_cache_seconds);
                cache.insert_inactive(&pending.token, until, now);
            }
            resume(action);
            return;
        }
        Outcome::Unavailable(cause) => {
            shared
                .metrics
                .introspection(pending.provider, IntrospectionResult::Unavailable);
            log::warn!(
                "provider {}: introspection via cluster {} failed: {cause}",
                provider.name,
                introspection.cluster
            );
            Settled::Refused(
                Denial::Unavailable("the token introspection endpoint is unavailable".into()),
                Reason::IntrospectionUnavailable,
            )
        }
    };
    resume(decide_now(shared, &settled));
}

/// Resumes the effective HTTP context's paused request if it was allowed (a refusal has sent
/// its reply already).
fn resume(action: Action) {
    if let Action::Continue = action {
        if let Err(status) = hostcalls::resume_http_request() {
            log::error!("cannot resume a request: {status:?}");
        }
    }
}

/// POSTs `token` to `provider`'s introspection endpoint; the call's token, or `None` (logged).
pub(crate) fn introspect(shared: &Shared, provider: usize, token: &str) -> Option<u32> {
    let introspection = shared
        .policy
        .endpoints
        .get(provider)?
        .introspection
        .as_ref()?;
    let provider = shared.policy.providers.get(provider)?;
    let body = introspection::request_body(token);
    let headers = vec![
        (":method", "POST"),
        (":path", introspection.path.as_str()),
        (":authority", introspection.authority.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
        ("accept", "application/json"),
        ("authorization", introspection.authorization.as_str()),
    ];
    match hostcalls::dispatch_http_call(
        &introspection.cluster,
        headers,
        Some(body.as_bytes()),
        vec![],
        Duration::from_millis(introspection.timeout_ms),
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

/// Parks the request until `provider`'s keys are fetched, if a fetch is coming (or, for an
/// unknown `kid`, the refetch window allows one); false if nothing would come of waiting.
pub(crate) fn wait_for_keys(
    shared: &Shared,
    provider: usize,
    unknown_kid: bool,
    context_id: u32,
    now: u64,
) -> bool {
    let Some((entry, remote)) = remote_provider(shared, provider) else {
        return false;
    };
    let version = |shared: &Shared| shared.slots.borrow().get(provider).map(|s| s.version);
    let before = version(shared);
    // Lease, then keys (see on_tick): another worker may have finished a fetch since this
    // worker's last tick, and its keys are then already shared.
    let (lease, _) = read_lease(entry, remote);
    sync_keys(shared, provider);
    let installed = version(shared) != before;
    let Ok(mut slots) = shared.slots.try_borrow_mut() else {
        return false;
    };
    let Some(slot) = slots.get_mut(provider) else {
        return false;
    };
    let early = unknown_kid && lease.unknown_kid_refetch_allowed(now, remote);
    // With new keys just installed, the next tick decides the request again with them.
    if !(installed || slot.fetching() || lease.fetch_coming(now) || early) {
        return false;
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
    true
}
