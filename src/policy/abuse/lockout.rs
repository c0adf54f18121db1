//! Failed-secret lockout: API key pairs and Basic credentials that fail are counted per source
//! and client id, and per source alone; a source that reaches the limit within the window is
//! refused (429) without any secret comparison until the lock runs out, even with the right
//! secret. A client calling from another source is never affected, so knowing a client id does
//! not let anyone lock its owner out.
//!
//! Counting is a fixed window per entry: it opens at the first failure and lasts
//! `window_seconds`; the failure that reaches the limit locks for `window_seconds` from then.
//! A source's entries share one bucket of the shared [`Table`].

use crate::policy::abuse::records::{
    hash64, read_u64, Entry, EntryValue, SharedStore, StoreError, Table,
};
use crate::request::source::Source;

/// Bucket records of the lockout table.
pub const BUCKETS: u32 = 128;
/// Entries per bucket: 128 × 32 = 4096 counted sources and source-client pairs at most,
/// about 40 bytes each.
pub const PER_BUCKET: usize = 32;

/// The lockout settings (compiled from the `abuse.lockout` configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    /// Failures of one client id from one source that lock that pair.
    pub max_failures: u32,
    /// Failures from one source, any client ids, that lock the source for every client id.
    pub max_failures_per_source: u32,
    /// How long failures are counted, and how long a lock lasts.
    pub window_seconds: u64,
    /// Where the counts are kept.
    pub table: Table,
}

/// Failures counted for one source (or one source and client id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// Failures in the current window.
    pub count: u64,
    /// When the window opened (milliseconds).
    pub since_ms: u64,
    /// Locked until then (milliseconds; 0 when not locked).
    pub locked_until_ms: u64,
}

impl EntryValue for Failures {
    const SIZE: usize = 24;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.since_ms.to_be_bytes());
        out.extend_from_slice(&self.locked_until_ms.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Failures {
            count: read_u64(bytes, 0)?,
            since_ms: read_u64(bytes, 8)?,
            locked_until_ms: read_u64(bytes, 16)?,
        })
    }
}

/// The hashes that place a source's entries: its bucket, its own entry, and its entry for
/// `client_id`.
struct Keys {
    group: u64,
    source: u64,
    pair: u64,
}

fn keys(source: &Source, client_id: &str) -> Keys {
    let bytes = source.key_bytes();
    Keys {
        group: hash64(&[b"source", &bytes]),
        source: hash64(&[b"lockout-source", &bytes]),
        pair: hash64(&[b"lockout-pair", &bytes, client_id.as_bytes()]),
    }
}

impl Lockout {
    fn window_ms(&self) -> u64 {
        self.window_seconds.saturating_mul(1000)
    }

    /// Whether an entry still means anything at `now_ms` (its window or its lock runs).
    fn live(&self, entry: &Entry<Failures>, now_ms: u64) -> bool {
        entry.value.locked_until_ms > now_ms
            || entry.value.since_ms.saturating_add(self.window_ms()) > now_ms
    }

    /// If `client_id` from `source` is locked out at `now_ms`: the seconds until it is not
    /// (at least 1). A store that cannot be read locks nothing.
    pub fn locked(
        &self,
        store: &dyn SharedStore,
        source: &Source,
        client_id: &str,
        now_ms: u64,
    ) -> Option<u64> {
        let keys = keys(source, client_id);
        let entries: Vec<Entry<Failures>> = self.table.read(store, keys.group).ok()?;
        entries
            .iter()
            .filter(|entry| entry.key == keys.source || entry.key == keys.pair)
            .map(|entry| entry.value.locked_until_ms)
            .filter(|until| *until > now_ms)
            .max()
            .map(|until| (until - now_ms).div_ceil(1000).max(1))
    }

    /// Counts a failed secret for `client_id` from `source` at `now_ms`.
    pub fn record_failure(
        &self,
        store: &dyn SharedStore,
        source: &Source,
        client_id: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let keys = keys(source, client_id);
        let window_ms = self.window_ms();
        self.table.update(
            store,
            keys.group,
            |entry| self.live(entry, now_ms),
            |entries| {
                for (key, limit) in [
                    (keys.pair, self.max_failures),
                    (keys.source, self.max_failures_per_source),
                ] {
                    count_failure(entries, key, u64::from(limit), window_ms, now_ms);
                }
                ((), true)
            },
        )
    }
}

impl Lockout {
    /// Locks `client_id` from `source` (and with `whole_source`, every client id from it) for
    /// the window from `now_ms`: what the fleet's rate limit service said after a failure here
    /// (its count, over every Envoy, reached the limit). A lock already running is kept.
    pub fn lock(
        &self,
        store: &dyn SharedStore,
        source: &Source,
        client_id: &str,
        whole_source: bool,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let keys = keys(source, client_id);
        let until = now_ms.saturating_add(self.window_ms());
        let locked: &[u64] = if whole_source {
            &[keys.pair, keys.source]
        } else {
            &[keys.pair]
        };
        self.table.update(
            store,
            keys.group,
            |entry| self.live(entry, now_ms),
            |entries| {
                for key in locked {
                    lock_entry(entries, *key, until, now_ms);
                }
                ((), true)
            },
        )
    }
}

/// Sets `key`'s lock to run until `until` at least.
fn lock_entry(entries: &mut Vec<Entry<Failures>>, key: u64, until: u64, now_ms: u64) {
    match entries.iter_mut().find(|entry| entry.key == key) {
        Some(entry) => {
            entry.value.locked_until_ms = entry.value.locked_until_ms.max(until);
            entry.touched_ms = now_ms;
        }
        None => entries.push(Entry {
            key,
            touched_ms: now_ms,
            value: Failures {
                count: 0,
                since_ms: now_ms,
                locked_until_ms: until,
            },
        }),
    }
}

/// One more failure for `key` (a fresh window if none is open), locking at `limit`.
fn count_failure(
    entries: &mut Vec<Entry<Failures>>,
    key: u64,
    limit: u64,
    window_ms: u64,
    now_ms: u64,
) {
    let index = match entries.iter().position(|entry| entry.key == key) {
        Some(index) => index,
        None => {
            entries.push(Entry {
                key,
                touched_ms: now_ms,
                value: Failures {
                    count: 0,
                    since_ms: now_ms,
                    locked_until_ms: 0,
                },
            });
            entries.len() - 1
        }
    };
    let Some(entry) = entries.get_mut(index) else {
        return;
    };
    let value = &mut entry.value;
    if value.since_ms.saturating_add(window_ms) <= now_ms {
        value.count = 0;
        value.since_ms = now_ms;
    }
    value.count = value.count.saturating_add(1);
    if value.count >= limit && value.locked_until_ms <= now_ms {
        value.locked_until_ms = now_ms.saturating_add(window_ms);
    }
    entry.touched_ms = now_ms;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::abuse::records::MemoryStore;

    fn lockout() -> Lockout {
        Lockout {
            max_failures: 3,
            max_failures_per_source: 5,
            window_seconds: 60,
            table: Table {
                name: "lockout".into(),
                buckets: BUCKETS,
                per_bucket: PER_BUCKET,
            },
        }
    }

    fn source(text: &str) -> Source {
        Source::group(Some(text.parse().unwrap()), 64)
    }

    #[test]
    fn the_pair_locks_at_the_limit_for_the_window_and_only_from_that_source() {
        let (lockout, store) = (lockout(), MemoryStore::default());
        let (attacker, owner) = (source("203.0.113.5"), source("198.51.100.7"));
        for at in [0, 1000] {
            lockout
                .record_failure(&store, &attacker, "alice", at)
                .unwrap();
            assert_eq!(lockout.locked(&store, &attacker, "alice", at), None);
        }
        lockout
            .record_failure(&store, &attacker, "alice", 2000)
            .unwrap();
        assert_eq!(lockout.locked(&store, &attacker, "alice", 2000), Some(60));
        assert_eq!(lockout.locked(&store, &attacker, "alice", 61_500), Some(1));
        assert_eq!(
            lockout.locked(&store, &attacker, "alice", 62_000),
            None,
            "over"
        );
        assert_eq!(lockout.locked(&store, &attacker, "bob", 2000), None);
        assert_eq!(lockout.locked(&store, &owner, "alice", 2000), None, "owner");
    }

    #[test]
    fn many_client_ids_from_one_source_lock_the_source() {
        let (lockout, store) = (lockout(), MemoryStore::default());
        let attacker = source("2001:db8:1:2::1");
        for (index, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let rotated = source(&format!("2001:db8:1:2::{}", index + 10));
            lockout.record_failure(&store, &rotated, id, 100).unwrap();
        }
        assert_eq!(lockout.locked(&store, &attacker, "zed", 100), Some(60));
        assert_eq!(
            lockout.locked(&store, &source("2001:db8:1:3::1"), "a", 100),
            None
        );
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_lock() {
        let (lockout, store) = (lockout(), MemoryStore::default());
        let attacker = source("203.0.113.5");
        for minute in 0..10 {
            for second in [0, 1] {
                let at = minute * 61_000 + second * 1000;
                lockout
                    .record_failure(&store, &attacker, "alice", at)
                    .unwrap();
                assert_eq!(lockout.locked(&store, &attacker, "alice", at), None);
            }
        }
    }

    #[test]
    fn a_lock_from_the_fleet_holds_for_the_window_and_for_the_source_only_when_asked() {
        let (lockout, store) = (lockout(), MemoryStore::default());
        let attacker = source("203.0.113.5");
        lockout
            .lock(&store, &attacker, "alice", false, 1000)
            .unwrap();
        assert_eq!(lockout.locked(&store, &attacker, "alice", 1000), Some(60));
        assert_eq!(lockout.locked(&store, &attacker, "bob", 1000), None);
        assert_eq!(lockout.locked(&store, &attacker, "alice", 61_000), None);
        lockout
            .lock(&store, &attacker, "alice", true, 2000)
            .unwrap();
        assert_eq!(lockout.locked(&store, &attacker, "bob", 2000), Some(60));
        assert_eq!(
            lockout.locked(&store, &source("198.51.100.7"), "alice", 2000),
            None
        );
    }

    #[test]
    fn failures_encode_and_decode() {
        let value = Failures {
            count: 3,
            since_ms: 9,
            locked_until_ms: u64::MAX,
        };
        let mut bytes = Vec::new();
        value.encode(&mut bytes);
        assert_eq!(bytes.len(), Failures::SIZE);
        assert_eq!(Failures::decode(&bytes), Some(value));
        assert_eq!(Failures::decode(&bytes[..10]), None);
    }
}
