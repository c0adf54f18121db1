//! Per-source records shared by every worker of an Envoy: a fixed set of bucket records in a
//! key-value store with compare-and-swap (proxy-wasm shared data in the filter, memory in the
//! tests), bounded in memory whatever the traffic.
//!
//! A source's entries live in one bucket, chosen by a hash of the source; a bucket keeps at most
//! [`Table::per_bucket`] entries and drops the least recently touched when a new one needs room,
//! so the whole table never holds more than `buckets × per_bucket` entries of fixed size. The
//! store has no delete, so the bucket keys are a fixed set: [`Table::keys`] names them all, and
//! the host creates them once at configuration time (compare-and-swap only guards a key that
//! exists). An update reads a bucket, changes it and writes it back only if no other worker
//! wrote it meanwhile; on a mismatch it starts over, at most [`MAX_ATTEMPTS`] times, and never
//! waits. Entries are keyed by a 64-bit hash, never by the address or client id itself.

use std::cell::RefCell;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// Most read-change-write rounds for one update before it gives up (only other workers writing
/// the same bucket in between can cause a retry).
pub const MAX_ATTEMPTS: usize = 4;

/// Format version of a bucket record (the first byte).
const RECORD_VERSION: u8 = 1;
/// Bytes an entry takes before its value: the 64-bit key and the time it was last touched.
const ENTRY_HEADER: usize = 16;

/// Why an update of the shared store did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// Another worker wrote the record since it was read.
    CasMismatch,
    /// Still contended after [`MAX_ATTEMPTS`] attempts.
    Contended,
    /// The store refused the read or the write.
    Failed,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreError::CasMismatch => "the record changed since it was read",
            StoreError::Contended => "the record kept changing under the update",
            StoreError::Failed => "the shared store refused the operation",
        })
    }
}

/// A key-value store shared by the workers, with compare-and-swap.
pub trait SharedStore {
    /// The value under `key` and its compare-and-swap stamp (`None`s when absent).
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError>;
    /// Writes `value` under `key` if its stamp is still `cas` (unconditionally with `None`).
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError>;
}

/// A [`SharedStore`] in memory, with the same compare-and-swap rule as Envoy's shared data
/// (a stamp only guards a key that exists): for native tests and tools.
#[derive(Default)]
pub struct MemoryStore {
    values: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    stamp: RefCell<u32>,
}

impl MemoryStore {
    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.values.borrow().len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total bytes stored (values only).
    pub fn bytes(&self) -> usize {
        self.values.borrow().values().map(|(v, _)| v.len()).sum()
    }
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
        Ok(match self.values.borrow().get(key) {
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        })
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        let mut values = self.values.borrow_mut();
        let mut stamp = self.stamp.borrow_mut();
        if let (Some(expected), Some((_, current))) = (cas, values.get(key)) {
            if expected != 0 && expected != *current {
                return Err(StoreError::CasMismatch);
            }
        }
        *stamp = stamp.wrapping_add(1).max(1);
        values.insert(key.to_string(), (value.to_vec(), *stamp));
        Ok(())
    }
}

/// A fixed-size value kept per entry.
pub trait EntryValue: Sized + Copy {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Appends exactly [`EntryValue::SIZE`] bytes.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads a value from exactly [`EntryValue::SIZE`] bytes.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

/// One entry of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<V> {
    /// Hash of what the entry counts (a source, or a source and a client id).
    pub key: u64,
    /// When it was last changed (milliseconds); the least recent is evicted first.
    pub touched_ms: u64,
    /// The state.
    pub value: V,
}

/// A bounded table of entries spread over a fixed set of bucket records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Prefix of the bucket keys in the shared store.
    pub name: String,
    /// How many bucket records.
    pub buckets: u32,
    /// Most entries in one bucket.
    pub per_bucket: usize,
}

/// A 64-bit hash of `parts` (SHA-256, truncated), each part length-prefixed so that no two
/// different lists of parts hash the same input.
pub fn hash64(parts: &[&[u8]]) -> u64 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(first)
}

impl Table {
    /// Every bucket key, for creating them up front.
    pub fn keys(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.buckets).map(|bucket| format!("{}/{bucket}", self.name))
    }

    /// The key of the bucket for entries grouped under `group` (a source's hash).
    fn key_for(&self, group: u64) -> String {
        let bucket = group % u64::from(self.buckets.max(1));
        format!("{}/{bucket}", self.name)
    }

    /// The entries of `group`'s bucket, as stored.
    pub fn read<V: EntryValue>(
        &self,
        store: &dyn SharedStore,
        group: u64,
    ) -> Result<Vec<Entry<V>>, StoreError> {
        let (bytes, _) = store.get(&self.key_for(group))?;
        Ok(bytes.map_or_else(Vec::new, |bytes| decode(&bytes)))
    }

    /// Read-change-write of `group`'s bucket: `change` gets the entries (those `keep` refuses
    /// dropped first) and says whether it changed them; the bucket is then cut to
    /// [`Table::per_bucket`] entries, least recently touched first, and written back with
    /// compare-and-swap. `change` runs again on a fresh read after a mismatch.
    pub fn update<V: EntryValue, R>(
        &self,
        store: &dyn SharedStore,
        group: u64,
        keep: impl Fn(&Entry<V>) -> bool,
        mut change: impl FnMut(&mut Vec<Entry<V>>) -> (R, bool),
    ) -> Result<R, StoreError> {
        let key = self.key_for(group);
        for _ in 0..MAX_ATTEMPTS {
            let (bytes, cas) = store.get(&key)?;
            let mut entries: Vec<Entry<V>> = bytes.map_or_else(Vec::new, |bytes| decode(&bytes));
            let before = entries.len();
            entries.retain(&keep);
            let pruned = entries.len() != before;
            let (result, changed) = change(&mut entries);
            if !changed && !pruned {
                return Ok(result);
            }
            if entries.len() > self.per_bucket {
                let mut touched = Vec::with_capacity(entries.len());
                for entry in &entries {
                    touched.push(entry.touched_ms);
                }
                let mut kept = Vec::with_capacity(self.per_bucket);
                for at in newest_first(&touched, self.per_bucket) {
                    kept.extend(entries.get(at).copied());
                }
                entries = kept;
            }
            match store.set(&key, &encode(&entries), cas) {
                Ok(()) => return Ok(result),
                Err(StoreError::CasMismatch) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Contended)
    }
}

/// The positions of the `keep` most recently touched of `touched`, newest first, equal times
/// in their stored order (what a stable sort by descending time, then a cut, gives). An
/// insertion sort of positions, not of entries: it is built once for every entry type, where a
/// `sort_by_key` of the entries linked a stable sort per type (3.5 KB each), for buckets of a
/// few dozen entries.
fn newest_first(touched: &[u64], keep: usize) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::with_capacity(touched.len());
    for (at, time) in touched.iter().enumerate() {
        let place = order.partition_point(|&other| touched.get(other) >= Some(time));
        order.insert(place, at);
    }
    order.truncate(keep);
    order
}

/// A bucket record: the version byte, then the entries back to back. A record that does not
/// decode (another version, a torn size) reads as empty: it only ever holds counters.
fn decode<V: EntryValue>(bytes: &[u8]) -> Vec<Entry<V>> {
    let size = ENTRY_HEADER + V::SIZE;
    let Some((&version, body)) = bytes.split_first() else {
        return Vec::new();
    };
    if version != RECORD_VERSION || body.len() % size != 0 {
        return Vec::new();
    }
    let mut entries = Vec::with_capacity(body.len() / size);
    for chunk in body.chunks_exact(size) {
        let (header, value) = chunk.split_at(ENTRY_HEADER);
        if let (Some(key), Some(touched_ms), Some(value)) =
            (read_u64(header, 0), read_u64(header, 8), V::decode(value))
        {
            entries.push(Entry {
                key,
                touched_ms,
                value,
            });
        }
    }
    entries
}

fn encode<V: EntryValue>(entries: &[Entry<V>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + entries.len() * (ENTRY_HEADER + V::SIZE));
    out.push(RECORD_VERSION);
    for entry in entries {
        out.extend_from_slice(&entry.key.to_be_bytes());
        out.extend_from_slice(&entry.touched_ms.to_be_bytes());
        entry.value.encode(&mut out);
    }
    out
}

/// Reads a big-endian `u64` at `at` (for [`EntryValue::decode`]).
pub fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(slice.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Count(u64);

    impl EntryValue for Count {
        const SIZE: usize = 8;
        fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_be_bytes());
        }
        fn decode(bytes: &[u8]) -> Option<Self> {
            read_u64(bytes, 0).map(Count)
        }
    }

    fn table() -> Table {
        Table {
            name: "t".into(),
            buckets: 1,
            per_bucket: 3,
        }
    }

    fn bump(store: &dyn SharedStore, key: u64, now: u64) {
        table()
            .update::<Count, ()>(
                store,
                0,
                |_| true,
                |entries| {
                    match entries.iter_mut().find(|e| e.key == key) {
                        Some(entry) => {
                            entry.value.0 += 1;
                            entry.touched_ms = now;
                        }
                        None => entries.push(Entry {
                            key,
                            touched_ms: now,
                            value: Count(1),
                        }),
                    }
                    ((), true)
                },
            )
            .unwrap();
    }

    #[test]
    fn newest_first_is_a_stable_sort_by_time_then_a_cut() {
        let cases: [&[u64]; 6] = [
            &[],
            &[5],
            &[1, 2, 3, 4],
            &[4, 3, 2, 1],
            &[7, 3, 7, 1, 3, 7, 9, 0, 3],
            &[2, 2, 2, 2, 2],
        ];
        for touched in cases {
            for keep in 0..=touched.len() + 1 {
                let mut expected: Vec<usize> = (0..touched.len()).collect();
                expected.sort_by_key(|&at| std::cmp::Reverse(touched[at]));
                expected.truncate(keep);
                assert_eq!(newest_first(touched, keep), expected, "{touched:?} {keep}");
            }
        }
    }

    #[test]
    fn a_full_bucket_evicts_the_least_recently_touched_entry() {
        let store = MemoryStore::default();
        bump(&store, 1, 10);
        bump(&store, 2, 20);
        bump(&store, 3, 30);
        bump(&store, 1, 40);
        bump(&store, 4, 50);
        let entries: Vec<Entry<Count>> = table().read(&store, 0).unwrap();
        let mut keys: Vec<u64> = entries.iter().map(|e| e.key).collect();
        keys.sort_unstable();
        assert_eq!(keys, [1, 3, 4], "2 was touched least recently");
        assert_eq!(store.len(), 1);
    }

    /// A store whose record changes under the first `conflicts` writes.
    struct Racing {
        inner: MemoryStore,
        conflicts: RefCell<usize>,
    }

    impl SharedStore for Racing {
        fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
            let mut conflicts = self.conflicts.borrow_mut();
            if *conflicts > 0 {
                *conflicts -= 1;
                // Another worker counts a failure of its own first.
                drop(conflicts);
                bump(&self.inner, 99, 1);
                return self.inner.set(key, value, cas);
            }
            self.inner.set(key, value, cas)
        }
    }

    #[test]
    fn a_compare_and_swap_mismatch_retries_on_fresh_state_and_loses_no_update() {
        let store = Racing {
            inner: MemoryStore::default(),
            conflicts: RefCell::new(0),
        };
        bump(&store.inner, 99, 0);
        *store.conflicts.borrow_mut() = 2;
        bump(&store, 7, 5);
        let entries: Vec<Entry<Count>> = table().read(&store, 0).unwrap();
        let count = |key| entries.iter().find(|e| e.key == key).unwrap().value.0;
        assert_eq!(count(99), 3, "both racing writes kept");
        assert_eq!(count(7), 1);
        *store.conflicts.borrow_mut() = MAX_ATTEMPTS;
        let gave_up = table().update::<Count, ()>(&store, 0, |_| true, |_| ((), true));
        assert_eq!(gave_up, Err(StoreError::Contended), "bounded, never a spin");
    }

    #[test]
    fn undecodable_records_read_as_empty() {
        assert!(decode::<Count>(&[]).is_empty());
        assert!(decode::<Count>(&[2, 0, 0]).is_empty());
        assert!(decode::<Count>(&[1; 20]).is_empty(), "torn size");
        assert_eq!(
            decode::<Count>(&encode(&[Entry {
                key: 1,
                touched_ms: 2,
                value: Count(3)
            }]))
            .len(),
            1
        );
    }
}
