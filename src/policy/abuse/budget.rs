//! The signature-check budget: a token bucket per source for the checks that need asymmetric
//! signature math (a token not in the verified-token cache that passed every cheap check).
//! A source over budget gets 429 before any signature math, so a forged-token flood from one
//! source costs about what a cache hit does, and other sources keep first-sight service.
//!
//! The bucket holds at most `burst` checks and refills at `rate` per second; an absent entry is
//! a full bucket, so only sources that spent some of it take room in the shared [`Table`].
//! Amounts are kept in thousandths of a check so that slow rates refill smoothly.

use crate::policy::abuse::records::{
    hash64, read_u64, Entry, EntryValue, SharedStore, StoreError, Table,
};
use crate::request::source::Source;

/// Bucket records of the budget table.
pub const BUCKETS: u32 = 128;
/// Entries per bucket: 128 × 32 = 4096 sources with a partly spent budget at most.
pub const PER_BUCKET: usize = 32;
/// Thousandths of a check in one check.
const ONE: u64 = 1000;

/// The budget settings (compiled from the `abuse.signature_budget` configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureBudget {
    /// Refill, in thousandths of a check per second.
    pub rate_milli: u64,
    /// Most checks in a row.
    pub burst: u64,
    /// Where the buckets are kept.
    pub table: Table,
}

/// What is left of one source's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Thousandths of a check left.
    pub left_milli: u64,
    /// When it was last refilled (milliseconds).
    pub at_ms: u64,
}

impl EntryValue for Allowance {
    const SIZE: usize = 16;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.left_milli.to_be_bytes());
        out.extend_from_slice(&self.at_ms.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Allowance {
            left_milli: read_u64(bytes, 0)?,
            at_ms: read_u64(bytes, 8)?,
        })
    }
}

/// The outcome of asking for one signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Within budget: the check may run.
    Granted,
    /// Over budget: refuse, and say to retry after this many seconds (at least 1).
    Refused(u64),
}

impl SignatureBudget {
    fn capacity(&self) -> u64 {
        self.burst.saturating_mul(ONE)
    }

    /// `allowance` refilled up to `now_ms`.
    fn refilled(&self, allowance: Allowance, now_ms: u64) -> u64 {
        let elapsed = now_ms.saturating_sub(allowance.at_ms);
        let refill = elapsed.saturating_mul(self.rate_milli) / 1000;
        allowance
            .left_milli
            .saturating_add(refill)
            .min(self.capacity())
    }

    /// Takes one check from `source`'s budget at `now_ms`. Errors of the store are the
    /// caller's to weigh (the filter lets the check run: the budget fails open).
    pub fn spend(
        &self,
        store: &dyn SharedStore,
        source: &Source,
        now_ms: u64,
    ) -> Result<Spend, StoreError> {
        let bytes = source.key_bytes();
        let group = hash64(&[b"source", &bytes]);
        let key = hash64(&[b"budget", &bytes]);
        self.table.update(
            store,
            group,
            |entry: &Entry<Allowance>| self.refilled(entry.value, now_ms) < self.capacity(),
            |entries| {
                let index = entries.iter().position(|entry| entry.key == key);
                let left = index
                    .and_then(|index| entries.get(index))
                    .map_or(self.capacity(), |entry| self.refilled(entry.value, now_ms));
                if left < ONE {
                    let missing = ONE - left;
                    let wait_ms = missing
                        .saturating_mul(1000)
                        .div_ceil(self.rate_milli.max(1));
                    return (Spend::Refused(wait_ms.div_ceil(1000).max(1)), false);
                }
                let entry = Entry {
                    key,
                    touched_ms: now_ms,
                    value: Allowance {
                        left_milli: left - ONE,
                        at_ms: now_ms,
                    },
                };
                match index.and_then(|index| entries.get_mut(index)) {
                    Some(slot) => *slot = entry,
                    None => entries.push(entry),
                }
                (Spend::Granted, true)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::abuse::records::MemoryStore;

    fn budget(rate: f64, burst: u64) -> SignatureBudget {
        SignatureBudget {
            rate_milli: (rate * 1000.0) as u64,
            burst,
            table: Table {
                name: "budget".into(),
                buckets: BUCKETS,
                per_bucket: PER_BUCKET,
            },
        }
    }

    fn source(text: &str) -> Source {
        Source::group(Some(text.parse().unwrap()), 64)
    }

    #[test]
    fn a_burst_then_the_rate_and_other_sources_untouched() {
        let (budget, store) = (budget(2.0, 3), MemoryStore::default());
        let flood = source("203.0.113.5");
        for _ in 0..3 {
            assert_eq!(budget.spend(&store, &flood, 1000).unwrap(), Spend::Granted);
        }
        assert_eq!(
            budget.spend(&store, &flood, 1000).unwrap(),
            Spend::Refused(1)
        );
        assert_eq!(
            budget.spend(&store, &source("198.51.100.7"), 1000).unwrap(),
            Spend::Granted
        );
        // Two checks a second: one more after half a second, not two.
        assert_eq!(budget.spend(&store, &flood, 1500).unwrap(), Spend::Granted);
        assert_eq!(
            budget.spend(&store, &flood, 1500).unwrap(),
            Spend::Refused(1)
        );
        // Refused asks do not spend: after 1.5 s three are back, but never more than the burst.
        for _ in 0..3 {
            assert_eq!(
                budget.spend(&store, &flood, 60_000).unwrap(),
                Spend::Granted
            );
        }
        assert_eq!(
            budget.spend(&store, &flood, 60_000).unwrap(),
            Spend::Refused(1)
        );
    }

    #[test]
    fn slow_rates_say_how_long_to_wait() {
        let (budget, store) = (budget(0.1, 1), MemoryStore::default());
        let flood = source("203.0.113.5");
        assert_eq!(budget.spend(&store, &flood, 0).unwrap(), Spend::Granted);
        assert_eq!(budget.spend(&store, &flood, 0).unwrap(), Spend::Refused(10));
        assert_eq!(
            budget.spend(&store, &flood, 4000).unwrap(),
            Spend::Refused(6)
        );
        assert_eq!(
            budget.spend(&store, &flood, 10_000).unwrap(),
            Spend::Granted
        );
    }

    #[test]
    fn full_buckets_take_no_room() {
        let (budget, store) = (budget(1000.0, 2), MemoryStore::default());
        budget.spend(&store, &source("203.0.113.5"), 0).unwrap();
        let group = hash64(&[b"source", &source("203.0.113.5").key_bytes()]);
        let entries: Vec<Entry<Allowance>> = budget.table.read(&store, group).unwrap();
        assert_eq!(entries.len(), 1);
        budget
            .spend(&store, &source("203.0.113.5"), 10_000)
            .unwrap();
        budget
            .spend(&store, &source("203.0.113.5"), 20_000)
            .unwrap();
        let entries: Vec<Entry<Allowance>> = budget.table.read(&store, group).unwrap();
        assert_eq!(
            entries.len(),
            1,
            "the refilled entry was dropped, then one was spent"
        );
    }
}
