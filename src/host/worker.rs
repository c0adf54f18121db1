//! One worker VM's state and the root context's callbacks: compiling the plugin configuration
//! once (refusing a bad one, so Envoy rejects the plugin), creating the shared-data keys the
//! workers use, the tick (key fetches, waiting requests, batched metrics), the answers to the
//! root's key fetches, and the end of the plugin (the last metrics). Each request gets a
//! [`RequestFlow`] sharing the worker's [`Shared`] state.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::apply::Shared;
use super::fleet_calls::{answered, forget_stale, in_flight};
use super::issuer_calls::{create_lease, KeyFetcher};
use super::metrics::Metrics;
use super::nonce_key::{create_nonce_key, KEY_BYTES};
use super::replay_store::create_shards;
use super::revocation_calls::{create_revocation_leases, RevocationFetcher};
use super::shared_records::create_buckets;
use super::{Host, RequestFlow};
use crate::issuer::remote_keys::Slot;
use crate::issuer::revocation::RevocationSlot;
use crate::policy::cache::{CacheStats, TokenCache};
use crate::policy::Policy;

/// How often the root context looks at shared keys, leases and waiting requests.
const TICK: Duration = Duration::from_millis(100);
/// How often the root context adds the counts kept in the worker (requests, refusals, token
/// cache) to the metrics when it fetches no keys.
const METRICS_TICK: Duration = Duration::from_secs(1);

/// A configured worker: what its contexts share, and the key fetches of its root context.
pub struct Worker {
    shared: Rc<Shared>,
    fetcher: KeyFetcher,
    revocation: RevocationFetcher,
}

/// Why a configuration was refused (logged by [`Worker::configure`] already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl Worker {
    /// Compiles `configuration` for the root context `root_id` and creates the shared-data keys
    /// it needs; `random` is fresh randomness for a DPoP nonce key (`None`: there is none), used
    /// only when server nonces are on without configured `dpop.nonce_keys`.
    /// Returns the worker and the tick period to ask the host for.
    pub fn configure(
        host: &dyn Host,
        root_id: u32,
        configuration: &[u8],
        random: Option<[u8; KEY_BYTES]>,
    ) -> Result<(Worker, Duration), Refused> {
        let policy = compile_policy(configuration)?;
        let remote = policy
            .endpoints
            .iter()
            .any(|e| e.remote.is_some() || e.revocation.is_some());
        let tick = if remote { TICK } else { METRICS_TICK };
        create_keys(host, &policy, random)?;
        // Once per plugin, after everything that can fail: which release is running.
        log::info!("edge-auth {} configured", env!("CARGO_PKG_VERSION"));
        create_buckets(host, &policy.abuse);
        let shared = share(host, policy, root_id);
        create_revocation_leases(host, &shared);
        let worker = Worker {
            shared,
            fetcher: KeyFetcher::default(),
            revocation: RevocationFetcher::default(),
        };
        Ok((worker, tick))
    }

    /// The root context's tick: shared keys and revocation lists, leases, fetches, waiting
    /// requests, then the counts kept since the last tick added to the metrics.
    pub fn on_tick(&self, host: &dyn Host) {
        self.fetcher.on_tick(host, &self.shared);
        self.revocation.on_tick(host, &self.shared);
        forget_stale(&self.shared, host.now_ms());
        self.shared.metrics.flush(host, self.cache_stats());
    }

    /// The plugin is done (its configuration replaced or removed, or the VM stopping): the
    /// counts kept since the last tick are added to the metrics, and any request decided after
    /// this is counted at once.
    pub fn on_done(&self, host: &dyn Host) {
        self.shared.metrics.close(host, self.cache_stats());
    }

    /// The token cache's counts since the last call (none if the cache is busy, which no
    /// callback order makes it: they are taken by the next call then).
    fn cache_stats(&self) -> CacheStats {
        match self.shared.cache.try_borrow_mut() {
            Ok(mut cache) => cache.take_stats(),
            Err(_) => CacheStats::default(),
        }
    }

    /// The answer to a gRPC call (to the fleet's rate limit service) made while the root
    /// context was running: `status` is the gRPC status (0: OK), `size` the answer's bytes.
    pub fn on_grpc_call_response(&self, host: &dyn Host, token_id: u32, status: u32, size: usize) {
        answered(
            host,
            &self.shared,
            self.shared.root_id,
            token_id,
            status,
            size,
        );
    }

    /// How many calls to the fleet's rate limit service this worker waits for.
    pub fn fleet_calls_in_flight(&self) -> usize {
        in_flight(&self.shared)
    }

    /// The answer to one of the root context's HTTP calls (a key or revocation list fetch), or
    /// its failure.
    pub fn on_http_call_response(
        &self,
        host: &dyn Host,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
    ) {
        if self.revocation.owns(token_id) {
            self.revocation
                .on_response(host, &self.shared, token_id, num_headers, body_size);
            return;
        }
        self.fetcher
            .on_response(host, &self.shared, token_id, num_headers, body_size);
    }

    /// The logic of a new HTTP context `context_id`.
    pub fn request(&self, context_id: u32) -> RequestFlow {
        RequestFlow::new(context_id, Some(Rc::clone(&self.shared)))
    }

    /// How many tokens this worker has verified and cached (for tests and diagnostics).
    pub fn cached_tokens(&self) -> usize {
        self.shared
            .cache
            .try_borrow()
            .map_or(0, |cache| cache.len())
    }
}

// The configuration steps stay out of line: they run once per VM, and one large function costs
// Envoy's V8 more memory than the same code in several (docs/performance.md, Memory).

/// The policy of `configuration`, or the refusal, logged with the field it is about.
#[inline(never)]
fn compile_policy(configuration: &[u8]) -> Result<Policy, Refused> {
    let policy = match Policy::from_json(configuration) {
        Ok(policy) => policy,
        Err(err) => {
            log::error!("invalid configuration: {err}");
            return Err(Refused(err.to_string()));
        }
    };
    log::info!(
        "configured {} provider(s), {} API client(s), {} rule(s)",
        policy.providers.len(),
        policy.clients.len(),
        policy.rules.len()
    );
    Ok(policy)
}

/// The shared-data keys of DPoP (replay shards, the nonce key) and of fetched key sets.
#[inline(never)]
fn create_keys(
    host: &dyn Host,
    policy: &Policy,
    random: Option<[u8; KEY_BYTES]>,
) -> Result<(), Refused> {
    if let Some(dpop) = &policy.sender.dpop {
        create_shards(host, &dpop.replay);
        // Configured keys hold across the fleet; without them, a random key per Envoy.
        let random_key = dpop.nonce_lifetime_seconds.is_some() && dpop.nonce_keys.is_empty();
        if random_key && !create_nonce_key(host, random) {
            return Err(Refused("no DPoP nonce key".into()));
        }
        if random_key {
            log::info!(
                "DPoP server nonces: a random key per Envoy (a fleet needs dpop.nonce_keys)"
            );
        } else if !dpop.nonce_keys.is_empty() {
            log::info!(
                "DPoP server nonces: {} configured key(s)",
                dpop.nonce_keys.len()
            );
        }
    }
    for (provider, endpoints) in policy.providers.iter().zip(&policy.endpoints) {
        if let Some(remote) = &endpoints.remote {
            create_lease(host, provider, remote);
        }
    }
    Ok(())
}

/// What this worker's contexts share: the policy, an empty token cache, a key slot and a
/// revocation slot per provider, the metric ids.
#[inline(never)]
fn share(host: &dyn Host, policy: Policy, root_id: u32) -> Rc<Shared> {
    let cache = RefCell::new(TokenCache::new(policy.token_cache_entries));
    let slots = RefCell::new(policy.providers.iter().map(|_| Slot::default()).collect());
    let revocations = RefCell::new(
        policy
            .providers
            .iter()
            .map(|_| RevocationSlot::default())
            .collect(),
    );
    let metrics = Metrics::new(host, &policy);
    Rc::new(Shared {
        policy,
        cache,
        slots,
        revocations,
        root_id,
        metrics,
        started_ms: host.now_ms(),
        fleet: RefCell::default(),
    })
}
