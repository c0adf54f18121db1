//! The DPoP replay cache: a proof's `jti` may be used once while its `iat` is inside the window.
//!
//! Every worker must see every `jti`, so the cache lives in proxy-wasm shared data; this module
//! is the host-independent part: which shard a proof goes to, the shard's byte encoding, and
//! recording one proof in a shard (dropping entries whose window has passed). The host reads a
//! shard, calls [`record`], and writes the result back with compare-and-swap, retrying when
//! another worker wrote first.
//!
//! Keys are the first 16 bytes of SHA-256(thumbprint `\n` jti): the proof's `jti` is unique per
//! key (RFC 9449 section 11.1), nothing the client sent is stored as is, and entries have a fixed
//! size. A shard holds at most `capacity` live entries; a proof that finds its shard full is
//! refused (the cache never forgets a live `jti` to make room, which would reopen replay).

use sha2::{Digest, Sha256};

/// Bytes of one entry: the 16-byte key, then the expiry as big-endian u64 Unix seconds.
const ENTRY_BYTES: usize = 24;
/// Bytes of an entry's key.
const KEY_BYTES: usize = 16;

/// One proof to remember: its key, and when its `iat` leaves the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayEntry {
    /// Hash of the proof key's thumbprint and the `jti`.
    pub key: [u8; KEY_BYTES],
    /// Unix seconds after which a proof with this `iat` is stale anyway.
    pub expires_at: u64,
}

/// Where a shared replay cache keeps its entries, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayLimits {
    /// Number of shared-data keys the entries are spread over.
    pub shards: usize,
    /// Most live entries per shard.
    pub entries_per_shard: usize,
}

/// What recording a proof in a shard found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// First use: write these bytes back as the shard.
    Fresh(Vec<u8>),
    /// The `jti` was used before, in its window: refuse the proof.
    Replayed,
    /// The shard is full of live entries: refuse the proof (fail closed).
    Full,
}

impl ReplayEntry {
    /// The entry for a proof by the key with `thumbprint`, carrying `jti`, that is stale after
    /// `expires_at`.
    pub fn new(thumbprint: &str, jti: &str, expires_at: u64) -> ReplayEntry {
        let mut hasher = Sha256::new();
        hasher.update(thumbprint.as_bytes());
        hasher.update(b"\n");
        hasher.update(jti.as_bytes());
        let digest = hasher.finalize();
        let mut key = [0u8; KEY_BYTES];
        key.copy_from_slice(digest.get(..KEY_BYTES).unwrap_or(&[0u8; KEY_BYTES]));
        ReplayEntry { key, expires_at }
    }

    /// The shard this entry belongs to, among `shards` (at least 1).
    pub fn shard(&self, shards: usize) -> usize {
        let mut first = [0u8; 8];
        first.copy_from_slice(self.key.get(..8).unwrap_or(&[0u8; 8]));
        let spread = u64::from_be_bytes(first);
        usize::try_from(spread % u64::try_from(shards.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

/// The shared-data key of shard `index`.
pub fn shard_key(index: usize) -> String {
    format!("edge-auth.dpop-jti.{index}")
}

/// Records `entry` in `shard` (its current bytes; empty for a new shard) at time `now`.
/// Entries past their expiry are dropped; malformed trailing bytes are discarded.
pub fn record(shard: &[u8], entry: &ReplayEntry, now: u64, capacity: usize) -> Recorded {
    let mut kept = Vec::with_capacity(shard.len().saturating_add(ENTRY_BYTES));
    let mut live = 0usize;
    for chunk in shard.chunks_exact(ENTRY_BYTES) {
        let (key, expiry) = chunk.split_at(KEY_BYTES);
        let mut expiry_bytes = [0u8; 8];
        expiry_bytes.copy_from_slice(expiry);
        let expires_at = u64::from_be_bytes(expiry_bytes);
        if expires_at < now {
            continue;
        }
        if key == entry.key {
            return Recorded::Replayed;
        }
        kept.extend_from_slice(chunk);
        live += 1;
    }
    if live >= capacity {
        return Recorded::Full;
    }
    kept.extend_from_slice(&entry.key);
    kept.extend_from_slice(&entry.expires_at.to_be_bytes());
    Recorded::Fresh(kept)
}

/// An in-process replay cache with the shared one's behaviour (same shards, same encoding): for
/// native tests and tools. The filter uses proxy-wasm shared data instead.
#[derive(Debug, Clone)]
pub struct LocalReplayCache {
    limits: ReplayLimits,
    shards: Vec<Vec<u8>>,
}

impl LocalReplayCache {
    /// An empty cache.
    pub fn new(limits: ReplayLimits) -> LocalReplayCache {
        LocalReplayCache {
            limits,
            shards: vec![Vec::new(); limits.shards.max(1)],
        }
    }

    /// Records a proof: `Ok(())` on first use, the refusal otherwise.
    pub fn first_use(&mut self, entry: &ReplayEntry, now: u64) -> Result<(), Recorded> {
        let Some(shard) = self.shards.get_mut(entry.shard(self.limits.shards)) else {
            return Err(Recorded::Full);
        };
        match record(shard, entry, now, self.limits.entries_per_shard) {
            Recorded::Fresh(bytes) => {
                *shard = bytes;
                Ok(())
            }
            refused => Err(refused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_jti_by_the_same_key_is_a_replay_until_it_expires() {
        let entry = ReplayEntry::new("thumb", "jti-1", 160);
        let shard = match record(&[], &entry, 100, 8) {
            Recorded::Fresh(bytes) => bytes,
            other => panic!("{other:?}"),
        };
        assert_eq!(record(&shard, &entry, 150, 8), Recorded::Replayed);
        // Past the window the entry is dropped: the proof would be stale by then anyway.
        assert!(matches!(record(&shard, &entry, 161, 8), Recorded::Fresh(_)));
    }

    #[test]
    fn same_jti_by_another_key_is_not_a_replay() {
        let mine = ReplayEntry::new("thumb-a", "jti-1", 160);
        let theirs = ReplayEntry::new("thumb-b", "jti-1", 160);
        let Recorded::Fresh(shard) = record(&[], &mine, 100, 8) else {
            panic!()
        };
        assert!(matches!(
            record(&shard, &theirs, 100, 8),
            Recorded::Fresh(_)
        ));
    }

    #[test]
    fn full_shard_refuses_until_entries_expire() {
        let mut shard = Vec::new();
        for index in 0..2 {
            let entry = ReplayEntry::new("t", &format!("jti-{index}"), 110);
            let Recorded::Fresh(bytes) = record(&shard, &entry, 100, 2) else {
                panic!()
            };
            shard = bytes;
        }
        let third = ReplayEntry::new("t", "jti-2", 200);
        assert_eq!(record(&shard, &third, 100, 2), Recorded::Full);
        let Recorded::Fresh(bytes) = record(&shard, &third, 111, 2) else {
            panic!()
        };
        assert_eq!(bytes.len(), ENTRY_BYTES, "expired entries were dropped");
    }

    #[test]
    fn entries_spread_over_shards() {
        let used: std::collections::BTreeSet<usize> = (0..64)
            .map(|index| ReplayEntry::new("t", &format!("j{index}"), 0).shard(8))
            .collect();
        assert!(used.len() > 4, "{used:?}");
        assert!(used.iter().all(|shard| *shard < 8));
    }
}
