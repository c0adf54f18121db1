//! Metrics: proxy-wasm counters and gauges, visible in Envoy's `/stats` and, with the tag
//! regexes of `envoy/envoy.yaml`, as labelled series in `/stats/prometheus`.
//!
//! Envoy puts Wasm metrics under the `wasmcustom.` namespace (which its Prometheus output
//! strips) and all worker VMs of one Envoy share each stat, so counts are per Envoy. Names carry
//! their labels as `.label.value` segments, e.g.
//! `edge_auth_denied_total.reason.expired.credential.jwt.provider.main-realm`, which the
//! `stats_tags` regexes turn into `edge_auth_denied_total{reason="expired",...}`.
//!
//! Cost on the request path: no host call. A decided request (and a refusal's reason) is
//! counted in the worker, and [`Metrics::flush`] adds the counts to Envoy's counters on the
//! root context's tick (at most a second later), defining a series the first time it has a
//! count; token-cache counts are kept by the core and added at the same flush. When the
//! plugin is done (its configuration replaced or removed, the VM stopping),
//! [`Metrics::close`] adds what is pending and counts every later request at once, so no
//! count is lost while the host still takes metric calls. Calls to issuers and to the fleet
//! are counted at once: each is a host call already. docs/operations.md is the reference for
//! every name.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::fleet::FleetUse;
use crate::policy::cache::CacheStats;
use crate::policy::outcome::{Outcome, Reason, Verdict};
use crate::policy::Policy;
use crate::request::credential::CredentialKind;

use super::{Host, MetricKind};

/// Label value for "none" (no credential, no provider).
const NONE: &str = "none";

/// How an introspection call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntrospectionResult {
    /// The endpoint vouched for the token.
    Active,
    /// The endpoint refused the token.
    Inactive,
    /// No call, or no usable answer.
    Unavailable,
}

/// How a call to the fleet's rate limit service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FleetResult {
    /// Under the limit: a new proof, a failure that locks nothing.
    Ok,
    /// Over the limit: a proof used before, a failure count that locks.
    OverLimit,
    /// No usable answer in time (down, slow, its Redis down, or no call could be made).
    Unavailable,
}

/// A refusal series: report mode, reason, credential slot, provider slot.
type RefusalKey = (bool, Reason, usize, usize);

/// One refusal series: its metric id once defined, and the refusals not yet added to it. One
/// map for both (they were two, each a hash table compiled for its own value type: issue 22).
#[derive(Default)]
struct RefusalSeries {
    id: Option<u32>,
    pending: u64,
}

/// One worker's metric ids, and the request counts not yet added to them.
pub(crate) struct Metrics {
    /// Provider names as label values, same index as the policy's providers.
    providers: Vec<String>,
    /// `edge_auth_requests_total` per (verdict, credential, provider), defined on first use.
    requests: Vec<Cell<Option<u32>>>,
    /// Requests counted since the last flush, same slots as `requests`.
    pending_requests: Vec<Cell<u64>>,
    /// `edge_auth_denied_total` / `edge_auth_would_deny_total`, defined on first use, and the
    /// refusals counted since the last flush.
    refusals: RefCell<HashMap<RefusalKey, RefusalSeries>>,
    /// Set once the plugin is done: nothing flushes any more, so counts go out at once.
    closed: Cell<bool>,
    cache: [Option<u32>; 3],
    /// Per provider: fetch successes and failures, key age (providers with fetched keys).
    keys: Vec<Option<[u32; 3]>>,
    /// Per provider: revocation list fetch successes and failures, list age.
    revocation: Vec<Option<[u32; 3]>>,
    /// Per provider: introspection active, inactive, unavailable.
    introspection: Vec<Option<[u32; 3]>>,
    /// Per fleet use ([`FleetUse::ALL`] order): calls ok, over limit, unavailable, and the
    /// calls' duration (when a fleet is configured).
    fleet: Vec<[Option<u32>; 4]>,
}

impl Metrics {
    /// Defines the metrics a configuration can need; ids of per-request series come later.
    pub(crate) fn new(host: &dyn Host, policy: &Policy) -> Metrics {
        let providers: Vec<String> = policy
            .providers
            .iter()
            .map(|p| label_value(&p.name))
            .collect();
        let slots = Verdict::ALL.len() * (CredentialKind::ALL.len() + 1) * (providers.len() + 1);
        let cache = [
            define(
                host,
                MetricKind::Counter,
                "edge_auth_token_cache_hits_total",
            ),
            define(
                host,
                MetricKind::Counter,
                "edge_auth_token_cache_misses_total",
            ),
            define(
                host,
                MetricKind::Counter,
                "edge_auth_token_cache_evictions_total",
            ),
        ];
        let keys = fetch_metrics(
            host,
            &providers,
            &|index| {
                policy
                    .endpoints
                    .get(index)
                    .is_some_and(|e| e.remote.is_some())
            },
            "edge_auth_key_fetches_total",
            "edge_auth_keys_age_seconds",
        );
        let introspection = per_provider(
            host,
            &providers,
            &|index| {
                policy
                    .endpoints
                    .get(index)
                    .is_some_and(|e| e.introspection.is_some())
            },
            &|p| {
                ["active", "inactive", "unavailable"].map(|result| {
                    (
                        MetricKind::Counter,
                        format!("edge_auth_introspection_total.provider.{p}.result.{result}"),
                    )
                })
            },
        );
        let revocation = fetch_metrics(
            host,
            &providers,
            &|index| {
                policy
                    .endpoints
                    .get(index)
                    .is_some_and(|e| e.revocation.is_some())
            },
            "edge_auth_revocation_fetches_total",
            "edge_auth_revocation_list_age_seconds",
        );
        Metrics {
            providers,
            requests: (0..slots).map(|_| Cell::new(None)).collect(),
            pending_requests: (0..slots).map(|_| Cell::new(0)).collect(),
            refusals: RefCell::new(HashMap::new()),
            closed: Cell::new(false),
            cache,
            keys,
            introspection,
            revocation,
            fleet: fleet_metrics(host, policy),
        }
    }

    /// Counts a call to the fleet's rate limit service and records how long it took.
    pub(crate) fn fleet_call(
        &self,
        host: &dyn Host,
        fleet_use: FleetUse,
        result: FleetResult,
        elapsed_ms: u64,
    ) {
        let Some(at) = FleetUse::ALL.iter().position(|u| *u == fleet_use) else {
            return;
        };
        let Some([ok, over, unavailable, duration]) = self.fleet.get(at) else {
            return;
        };
        let counter = match result {
            FleetResult::Ok => ok,
            FleetResult::OverLimit => over,
            FleetResult::Unavailable => unavailable,
        };
        increment(host, *counter, 1);
        if let Some(id) = duration {
            if let Err(status) = host.record_metric(*id, elapsed_ms) {
                log::debug!("cannot record metric {id}: {status:?}");
            }
        }
    }

    /// Counts one decided request, and the reason of a refusal: in the worker, added to the
    /// metrics by the next [`Metrics::flush`].
    pub(crate) fn count(&self, host: &dyn Host, outcome: &Outcome) {
        let Some(verdict) = outcome.verdict else {
            return;
        };
        let kind = outcome
            .credential
            .and_then(|kind| CredentialKind::ALL.iter().position(|k| *k == kind))
            .map_or(0, |at| at + 1);
        let provider = outcome
            .provider_index
            .filter(|index| *index < self.providers.len())
            .map_or(0, |index| index + 1);
        let verdict_at = Verdict::ALL
            .iter()
            .position(|v| *v == verdict)
            .unwrap_or_default();
        let slot = (verdict_at * (CredentialKind::ALL.len() + 1) + kind)
            * (self.providers.len() + 1)
            + provider;
        if let Some(pending) = self.pending_requests.get(slot) {
            pending.set(pending.get().saturating_add(1));
        }
        if let (Some(reason), true) = (
            outcome.reason,
            matches!(verdict, Verdict::Denied | Verdict::WouldDeny),
        ) {
            let key = (verdict == Verdict::WouldDeny, reason, kind, provider);
            match self.refusals.try_borrow_mut() {
                Ok(mut refusals) => {
                    let series = refusals.entry(key).or_default();
                    series.pending = series.pending.saturating_add(1);
                }
                // Not reached (no borrow outlives a call here); counted at once regardless.
                Err(_) => self.add_refusal(host, key, 1),
            }
        }
    }

    /// Whether the plugin is done: then nothing flushes any more, and whoever counts flushes.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Adds the counts kept since the last flush: the requests and refusals, and the token
    /// cache's `stats`. The root context calls it on every tick.
    pub(crate) fn flush(&self, host: &dyn Host, stats: CacheStats) {
        self.flush_requests(host);
        self.add_cache(host, stats);
    }

    /// The plugin is done: adds what is pending, and from now on every count at once.
    pub(crate) fn close(&self, host: &dyn Host, stats: CacheStats) {
        self.closed.set(true);
        self.flush(host, stats);
    }

    /// Adds the pending request and refusal counts, defining each series on its first count.
    fn flush_requests(&self, host: &dyn Host) {
        for (slot, pending) in self.pending_requests.iter().enumerate() {
            let count = pending.replace(0);
            if count > 0 {
                let id = self.request_series(host, slot);
                increment(host, id, i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
        let refusals: Vec<(RefusalKey, u64)> = match self.refusals.try_borrow_mut() {
            Ok(mut refusals) => refusals
                .iter_mut()
                .filter(|(_, series)| series.pending > 0)
                .map(|(key, series)| (*key, std::mem::take(&mut series.pending)))
                .collect(),
            Err(_) => Vec::new(), // not reached; added by the next flush
        };
        for (key, count) in refusals {
            self.add_refusal(host, key, count);
        }
    }

    /// The id of request series `slot`, defined on first use.
    fn request_series(&self, host: &dyn Host, slot: usize) -> Option<u32> {
        let cell = self.requests.get(slot)?;
        if let Some(id) = cell.get() {
            return Some(id);
        }
        let per_verdict = (CredentialKind::ALL.len() + 1) * (self.providers.len() + 1);
        let verdict = Verdict::ALL.get(slot / per_verdict)?;
        let kind = slot % per_verdict / (self.providers.len() + 1);
        let provider = slot % (self.providers.len() + 1);
        let id = define(
            host,
            MetricKind::Counter,
            &format!(
                "edge_auth_requests_total.decision.{}.credential.{}.provider.{}",
                verdict.code(),
                self.kind_label(kind),
                self.provider_label(provider)
            ),
        );
        cell.set(id);
        id
    }

    /// Adds `count` refusals to series `key`, defined on first use.
    fn add_refusal(&self, host: &dyn Host, key: RefusalKey, count: u64) {
        let (report, reason, kind, provider) = key;
        let known = self
            .refusals
            .try_borrow()
            .ok()
            .and_then(|refusals| refusals.get(&key).and_then(|series| series.id));
        let id = known.or_else(|| {
            let name = format!(
                "{}.reason.{}.credential.{}.provider.{}",
                if report {
                    "edge_auth_would_deny_total"
                } else {
                    "edge_auth_denied_total"
                },
                reason.code(),
                self.kind_label(kind),
                self.provider_label(provider)
            );
            let id = define(host, MetricKind::Counter, &name)?;
            if let Ok(mut refusals) = self.refusals.try_borrow_mut() {
                refusals.entry(key).or_default().id = Some(id);
            }
            Some(id)
        });
        increment(host, id, i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Adds the token cache's counts since the last call.
    fn add_cache(&self, host: &dyn Host, stats: CacheStats) {
        let [hits, misses, evictions] = self.cache;
        for (id, count) in [
            (hits, stats.hits),
            (misses, stats.misses),
            (evictions, stats.evictions),
        ] {
            if count > 0 {
                increment(host, id, i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
    }

    /// Counts a key fetch for the provider at `index`.
    pub(crate) fn key_fetch(&self, host: &dyn Host, index: usize, success: bool) {
        count_fetch(host, &self.keys, index, success);
    }

    /// Sets the age of the provider's keys in use, in seconds.
    pub(crate) fn key_age(&self, host: &dyn Host, index: usize, seconds: u64) {
        record_age(host, &self.keys, index, seconds);
    }

    /// Counts a revocation list fetch for the provider at `index`.
    pub(crate) fn revocation_fetch(&self, host: &dyn Host, index: usize, success: bool) {
        count_fetch(host, &self.revocation, index, success);
    }

    /// Sets the age of the provider's revocation list in use, in seconds.
    pub(crate) fn revocation_age(&self, host: &dyn Host, index: usize, seconds: u64) {
        record_age(host, &self.revocation, index, seconds);
    }

    /// Counts an introspection call for the provider at `index`.
    pub(crate) fn introspection(&self, host: &dyn Host, index: usize, result: IntrospectionResult) {
        if let Some(Some(ids)) = self.introspection.get(index) {
            let at = match result {
                IntrospectionResult::Active => 0,
                IntrospectionResult::Inactive => 1,
                IntrospectionResult::Unavailable => 2,
            };
            increment(host, ids.get(at).copied(), 1);
        }
    }

    fn kind_label(&self, kind: usize) -> &'static str {
        kind.checked_sub(1)
            .and_then(|at| CredentialKind::ALL.get(at))
            .map_or(NONE, |kind| kind.name())
    }

    fn provider_label(&self, provider: usize) -> &str {
        provider
            .checked_sub(1)
            .and_then(|at| self.providers.get(at))
            .map_or(NONE, String::as_str)
    }
}

/// Counts a fetch (keys or a revocation list) in a per-provider table of
/// `[succeeded, failed, age]` metric ids.
fn count_fetch(host: &dyn Host, table: &[Option<[u32; 3]>], index: usize, success: bool) {
    if let Some(Some([ok, failed, _])) = table.get(index) {
        increment(host, Some(if success { *ok } else { *failed }), 1);
    }
}

/// Sets the age gauge of a per-provider table of `[succeeded, failed, age]` metric ids.
fn record_age(host: &dyn Host, table: &[Option<[u32; 3]>], index: usize, seconds: u64) {
    if let Some(Some([_, _, age])) = table.get(index) {
        if let Err(status) = host.record_metric(*age, seconds) {
            log::debug!("cannot record metric {age}: {status:?}");
        }
    }
}

/// A provider name as one stat-name segment and Prometheus label value: letters, digits, `-`
/// and `_` kept, anything else (dots included, which would split the segment) as `_`.
/// The fleet call metrics of each use the policy configures (none without a fleet).
/// The fetch counters (`success`, `failure`) and the age gauge of each provider `wanted`.
fn fetch_metrics(
    host: &dyn Host,
    providers: &[String],
    wanted: &dyn Fn(usize) -> bool,
    fetches: &str,
    age: &str,
) -> Vec<Option<[u32; 3]>> {
    per_provider(host, providers, wanted, &|p| {
        [
            (
                MetricKind::Counter,
                format!("{fetches}.provider.{p}.result.success"),
            ),
            (
                MetricKind::Counter,
                format!("{fetches}.provider.{p}.result.failure"),
            ),
            (MetricKind::Gauge, format!("{age}.provider.{p}")),
        ]
    })
}

/// Three metrics per provider `wanted`, named by `names` from its label value.
fn per_provider(
    host: &dyn Host,
    providers: &[String],
    wanted: &dyn Fn(usize) -> bool,
    names: &dyn Fn(&str) -> [(MetricKind, String); 3],
) -> Vec<Option<[u32; 3]>> {
    providers
        .iter()
        .enumerate()
        .map(|(index, label)| {
            if !wanted(index) {
                return None;
            }
            let [a, b, c] = names(label);
            Some([
                define(host, a.0, &a.1)?,
                define(host, b.0, &b.1)?,
                define(host, c.0, &c.1)?,
            ])
        })
        .collect()
}

fn fleet_metrics(host: &dyn Host, policy: &Policy) -> Vec<[Option<u32>; 4]> {
    let Some(fleet) = policy.fleet.as_ref() else {
        return Vec::new();
    };
    FleetUse::ALL
        .iter()
        .map(|fleet_use| {
            let configured = match fleet_use {
                FleetUse::DpopReplay => fleet.dpop_replay.is_some(),
                FleetUse::Lockout => fleet.lockout,
            };
            if !configured {
                return [None; 4];
            }
            let name = fleet_use.name();
            let calls = |result: &str| {
                define(
                    host,
                    MetricKind::Counter,
                    &format!("edge_auth_fleet_calls_total.use.{name}.result.{result}"),
                )
            };
            [
                calls("ok"),
                calls("over_limit"),
                calls("unavailable"),
                define(
                    host,
                    MetricKind::Histogram,
                    &format!("edge_auth_fleet_call_milliseconds.use.{name}"),
                ),
            ]
        })
        .collect()
}

fn label_value(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn define(host: &dyn Host, kind: MetricKind, name: &str) -> Option<u32> {
    match host.define_metric(kind, name) {
        Ok(id) => Some(id),
        Err(status) => {
            log::warn!("cannot define metric {name}: {status:?}");
            None
        }
    }
}

fn increment(host: &dyn Host, id: Option<u32>, by: i64) {
    if let Some(id) = id {
        if let Err(status) = host.increment_metric(id, by) {
            log::debug!("cannot increment metric {id}: {status:?}");
        }
    }
}
