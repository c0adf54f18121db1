//! Metrics: proxy-wasm counters and gauges, visible in Envoy's `/stats` and, with the tag
//! regexes of `envoy/envoy.yaml`, as labelled series in `/stats/prometheus`.
//!
//! Envoy puts Wasm metrics under the `wasmcustom.` namespace (which its Prometheus output
//! strips) and all worker VMs of one Envoy share each stat, so counts are per Envoy. Names carry
//! their labels as `.label.value` segments, e.g.
//! `edge_auth_denied_total.reason.expired.credential.jwt.provider.main-realm`, which the
//! `stats_tags` regexes turn into `edge_auth_denied_total{reason="expired",...}`.
//!
//! Cost on the request path: one `increment_metric` per decided request (ids are defined once
//! and cached per worker); a refusal adds one for its reason. Token-cache counts are kept by
//! the core and added here in batches (on the tick and on the slow paths), never one host call
//! per cache hit. docs/operations.md is the reference for every name.

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

/// One worker's metric ids.
pub(crate) struct Metrics {
    /// Provider names as label values, same index as the policy's providers.
    providers: Vec<String>,
    /// `edge_auth_requests_total` per (verdict, credential, provider), defined on first use.
    requests: Vec<Cell<Option<u32>>>,
    /// `edge_auth_denied_total` / `edge_auth_would_deny_total`, defined on first use.
    refusals: RefCell<HashMap<(bool, Reason, usize, usize), u32>>,
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
            refusals: RefCell::new(HashMap::new()),
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

    /// Counts one decided request: one increment, plus one for the reason of a refusal.
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
        if let Some(cell) = self.requests.get(slot) {
            let id = match cell.get() {
                Some(id) => Some(id),
                None => {
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
            };
            increment(host, id, 1);
        }
        if let (Some(reason), true) = (
            outcome.reason,
            matches!(verdict, Verdict::Denied | Verdict::WouldDeny),
        ) {
            let report = verdict == Verdict::WouldDeny;
            let key = (report, reason, kind, provider);
            let known = self
                .refusals
                .try_borrow()
                .ok()
                .and_then(|refusals| refusals.get(&key).copied());
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
                    refusals.insert(key, id);
                }
                Some(id)
            });
            increment(host, id, 1);
        }
    }

    /// Adds the token cache's counts since the last call.
    pub(crate) fn add_cache(&self, host: &dyn Host, stats: CacheStats) {
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
        if let Some(Some([ok, failed, _])) = self.keys.get(index) {
            increment(host, Some(if success { *ok } else { *failed }), 1);
        }
    }

    /// Sets the age of the provider's keys in use, in seconds.
    pub(crate) fn key_age(&self, host: &dyn Host, index: usize, seconds: u64) {
        if let Some(Some([_, _, age])) = self.keys.get(index) {
            if let Err(status) = host.record_metric(*age, seconds) {
                log::debug!("cannot record metric {age}: {status:?}");
            }
        }
    }

    /// Counts a revocation list fetch for the provider at `index`.
    pub(crate) fn revocation_fetch(&self, host: &dyn Host, index: usize, success: bool) {
        if let Some(Some([ok, failed, _])) = self.revocation.get(index) {
            increment(host, Some(if success { *ok } else { *failed }), 1);
        }
    }

    /// Sets the age of the provider's revocation list in use, in seconds.
    pub(crate) fn revocation_age(&self, host: &dyn Host, index: usize, seconds: u64) {
        if let Some(Some([_, _, age])) = self.revocation.get(index) {
            if let Err(status) = host.record_metric(*age, seconds) {
                log::debug!("cannot record metric {age}: {status:?}");
            }
        }
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
