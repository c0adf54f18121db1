//! Verified-token cache: a client reusing its token pays for the signature check once per worker.
//!
//! Entries are keyed by the whole token string, so no other token can ever hit an entry, and
//! only tokens that passed every check are stored: a flood of forged tokens cannot fill or
//! evict it. An entry is good until the token's `exp` (plus the provider's clock skew) and
//! while its provider's keys are the ones it was verified with: each entry carries the
//! provider's key-set version ([`KeyLookup::key_version`]) and a hit compares it with the
//! current one (one number compare), so a key withdrawn at the issuer stops a cached token at
//! once without any flush that could be missed. What depends on the request (route scopes) is
//! re-checked on every hit. Size is bounded: when
//! full, expired entries go first, then an arbitrary one. Finding the expired ones is a pass
//! over the whole map, so a full map makes that pass at most once per eighth of its capacity
//! of inserts and otherwise drops an arbitrary entry: O(1) per insert, amortized, whatever
//! `max_entries` is (a pass per insert cost a 100,000-entry cache 100,000 visits per new token).
//!
//! An entry also keeps the last introspection answer that confirmed its token (when it came,
//! and until when it may be reused): a rule with `introspect` reads it and asks again when it
//! is older than the rule allows. It lives and dies with the entry (same key, same bound; a
//! new key set or an eviction drops it, which only costs a new call).
//!
//! The verified-token map hashes with [`TokenHasher`] rather than SipHash: hashing a 700-byte
//! token with SipHash was a sixth of a cache hit. Hash flooding needs many entries chosen by
//! the attacker, and only verified tokens become entries here. The map is keyed by that hash,
//! and each entry holds its token, compared in full before anything is returned: a lookup or
//! an insertion hashes the token once, and evicting an entry copies and hashes nothing (keyed
//! by the token, an insertion into a full cache hashed the new token twice and cloned and
//! hashed the evicted one). Two verified tokens of the same hash share one slot, the later
//! one replacing the earlier: a miss for the other, never its identity. The map of tokens called
//! inactive, which anyone can fill with made-up strings, keeps the standard keyed hasher, and
//! is keyed by the SHA-256 of the token rather than the token: 32 bytes an entry, whatever the
//! token's length (whole tokens of up to 16 KiB made `max_entries` of them about 1 GiB per
//! worker at the maximum), and no token kept that was never valid.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::identity::Identity;
use crate::jwt::token::KeyLookup;

/// A bounded map from token to verified identity.
pub struct TokenCache {
    /// Verified tokens by their [`TokenHasher`] hash (see the module's documentation).
    entries: HashMap<u64, CachedIdentity, BuildHasherDefault<KnownHash>>,
    /// Tokens an introspection endpoint called inactive, by SHA-256, until when (bounded like
    /// `entries`).
    inactive: HashMap<[u8; 32], u64>,
    capacity: usize,
    /// Full inserts left before the next pass for expired entries, per map.
    sweep_in: [usize; 2],
    /// Lookups and evictions since the host last took them (for metrics).
    stats: CacheStats,
}

/// What the cache did since the counts were last taken: the host adds them to its metrics in
/// batches, so a cache hit costs no host call of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Tokens found verified.
    pub hits: u64,
    /// Tokens not found, so checked in full (or introspected).
    pub misses: u64,
    /// Entries dropped to make room for a new one.
    pub evictions: u64,
}

impl CacheStats {
    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        *self == CacheStats::default()
    }
}

struct CachedIdentity {
    /// The token itself: only this exact string gets the entry.
    token: Box<str>,
    identity: Rc<Identity>,
    /// Last second (inclusive) the entry may be used.
    valid_until: u64,
    /// The version of the provider's key set it was verified with.
    key_version: u64,
    /// When an introspection answer last confirmed the token, and until when it may be reused.
    confirmed: Option<Confirmed>,
}

#[derive(Clone, Copy)]
struct Confirmed {
    /// When the answer came (Unix seconds).
    at: u64,
    /// Last second (inclusive) it may be reused: the token's `exp` and the provider's
    /// `cache_seconds` bound it.
    until: u64,
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens; 0 disables caching.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            entries: HashMap::with_capacity_and_hasher(capacity.min(1024), Default::default()),
            inactive: HashMap::new(),
            capacity,
            sweep_in: [0; 2],
            stats: CacheStats::default(),
        }
    }

    /// [`TokenCache::get`], counted as a hit or a miss.
    pub fn lookup(&mut self, token: &str, now: u64, keys: &dyn KeyLookup) -> Option<Rc<Identity>> {
        let found = self.get(token, now, keys);
        if found.is_some() {
            self.stats.hits = self.stats.hits.saturating_add(1);
        } else {
            self.note_miss();
        }
        found
    }

    /// Counts a miss that did not go through [`TokenCache::lookup`].
    pub fn note_miss(&mut self) {
        self.stats.misses = self.stats.misses.saturating_add(1);
    }

    /// The counts since the last call, reset to zero.
    pub fn take_stats(&mut self) -> CacheStats {
        std::mem::take(&mut self.stats)
    }

    /// The identity for `token` if it is cached, still valid at `now` and verified with the
    /// key set its provider has in `keys` now.
    pub fn get(&mut self, token: &str, now: u64, keys: &dyn KeyLookup) -> Option<Rc<Identity>> {
        let hash = token_hash(token);
        let entry = self.entries.get(&hash)?;
        if *entry.token != *token {
            return None;
        }
        if now <= entry.valid_until
            && entry.key_version == keys.key_version(entry.identity.provider)
        {
            return Some(Rc::clone(&entry.identity));
        }
        self.entries.remove(&hash);
        None
    }

    /// The entry of exactly `token`, if any.
    fn entry(&self, token: &str) -> Option<&CachedIdentity> {
        self.entries
            .get(&token_hash(token))
            .filter(|entry| *entry.token == *token)
    }

    /// Remembers a verified token until `valid_until` (Unix seconds, inclusive), as verified
    /// with version `key_version` of its provider's keys.
    pub fn insert(
        &mut self,
        token: &str,
        identity: Rc<Identity>,
        valid_until: u64,
        now: u64,
        key_version: u64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let hash = token_hash(token);
        let entry = CachedIdentity {
            token: token.into(),
            identity,
            valid_until,
            key_version,
            confirmed: None,
        };
        // A token cached already (or one of the same hash) takes its slot back.
        if let Some(slot) = self.entries.get_mut(&hash) {
            *slot = entry;
            return;
        }
        let [sweep_in, _] = &mut self.sweep_in;
        let evicted = make_room(&mut self.entries, self.capacity, sweep_in, |entry| {
            entry.valid_until < now
        });
        let evicted = u64::try_from(evicted).unwrap_or(u64::MAX);
        self.stats.evictions = self.stats.evictions.saturating_add(evicted);
        self.entries.insert(hash, entry);
    }

    /// Records that an introspection answer at `at` confirmed `token` (already cached), reusable
    /// until `until` (inclusive). A token not cached (evicted, or a cache of size 0) records
    /// nothing: its next request asks again.
    pub fn confirm(&mut self, token: &str, at: u64, until: u64) {
        let entry = self.entries.get_mut(&token_hash(token));
        if let Some(entry) = entry.filter(|entry| *entry.token == *token) {
            entry.confirmed = Some(Confirmed { at, until });
        }
    }

    /// When the last introspection answer still reusable at `now` confirmed `token`.
    pub fn confirmed_at(&self, token: &str, now: u64) -> Option<u64> {
        let entry = self.entry(token)?;
        let confirmed = entry.confirmed?;
        (now <= confirmed.until && now <= entry.valid_until).then_some(confirmed.at)
    }

    /// Remembers that the issuer called `token` inactive, until `until` (inclusive).
    pub fn insert_inactive(&mut self, token: &str, until: u64, now: u64) {
        if self.capacity == 0 {
            return;
        }
        let digest = token_digest(token);
        if !self.inactive.contains_key(&digest) {
            let [_, sweep_in] = &mut self.sweep_in;
            make_room(&mut self.inactive, self.capacity, sweep_in, |until| {
                *until < now
            });
        }
        self.inactive.insert(digest, until);
    }

    /// Whether the issuer recently called `token` inactive.
    pub fn is_inactive(&mut self, token: &str, now: u64) -> bool {
        // Every bearer token is looked up here: no hashing while nothing was called inactive.
        if self.inactive.is_empty() {
            return false;
        }
        let digest = token_digest(token);
        match self.inactive.get(&digest) {
            Some(until) if now <= *until => true,
            Some(_) => {
                self.inactive.remove(&digest);
                false
            }
            None => false,
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Makes room for one more entry in `map` if it holds `capacity`: drops the expired entries if a
/// pass is due (`sweep_in` counts the full inserts until the next), then an arbitrary one if it
/// is still full. Returns how many entries went.
fn make_room<K: Eq + Hash + Clone, V, S: BuildHasher>(
    map: &mut HashMap<K, V, S>,
    capacity: usize,
    sweep_in: &mut usize,
    expired: impl Fn(&V) -> bool,
) -> usize {
    if map.len() < capacity {
        return 0;
    }
    let before = map.len();
    if *sweep_in == 0 {
        map.retain(|_, value| !expired(value));
        *sweep_in = capacity / 8;
    } else {
        *sweep_in -= 1;
    }
    if map.len() >= capacity {
        if let Some(victim) = map.keys().next().cloned() {
            map.remove(&victim);
        }
    }
    before - map.len()
}

/// The key of a token in the map of verified tokens.
fn token_hash(token: &str) -> u64 {
    BuildHasherDefault::<TokenHasher>::default().hash_one(token)
}

/// The hasher of the verified-token map, whose keys are [`TokenHasher`] hashes already: it
/// passes them through.
#[derive(Default)]
struct KnownHash(u64);

impl Hasher for KnownHash {
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with it; anything else still gets a hash.
        let mut hasher = TokenHasher::default();
        hasher.write(bytes);
        self.0 = hasher.finish();
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The key of a token in the map of inactive tokens.
fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A word-at-a-time multiplicative hash (the rotate-xor-multiply step of rustc's FxHasher) for
/// keys nobody but the issuers chooses: a few cycles per 8 bytes, where SipHash takes dozens.
#[derive(Default)]
pub struct TokenHasher {
    hash: u64,
}

impl TokenHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        // One 8-byte load per word: `copy_from_slice` into a buffer became a call to `memcpy`
        // per word in the filter's size-optimised build (cache hit +55% instructions).
        for word in &mut words {
            if let Ok(word) = <&[u8; 8]>::try_from(word) {
                self.add(u64::from_le_bytes(*word));
            }
        }
        let mut last = [0u8; 8];
        let rest = words.remainder();
        last.iter_mut().zip(rest).for_each(|(to, from)| *to = *from);
        self.add(u64::from_le_bytes(last) ^ (rest.len() as u64) << 56);
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::jwks::KeySet;

    /// Keys whose versions the test sets (no key set: the cache never looks at keys).
    struct Versions(Vec<u64>);

    impl KeyLookup for Versions {
        fn keys_of(&self, _index: usize) -> Option<&KeySet> {
            None
        }

        fn key_version(&self, index: usize) -> u64 {
            self.0.get(index).copied().unwrap_or(0)
        }
    }

    const V0: Versions = Versions(Vec::new());

    fn identity(subject: &str) -> Rc<Identity> {
        Rc::new(Identity {
            provider: 0,
            subject: Some(subject.into()),
            scopes: vec![],
            apps: vec![],
            client_id: None,
            allowed_cidrs: vec![],
            audiences: vec![],
            claim_values: vec![],
            forwarded_claims: vec![],
            expires_at: 0,
            token_id: None,
            issued_at: None,
            confirmation: None,
        })
    }

    #[test]
    fn hit_returns_the_identity_of_that_exact_token() {
        let mut cache = TokenCache::new(4);
        cache.insert("a.b.c", identity("alice"), 100, 0, 0);
        assert_eq!(
            cache.get("a.b.c", 50, &V0).unwrap().subject.as_deref(),
            Some("alice")
        );
        assert!(cache.get("a.b.c ", 50, &V0).is_none());
        assert!(cache.get("a.b.d", 50, &V0).is_none());
    }

    /// The map is keyed by the token's hash: an entry under that hash holding another token
    /// (two tokens of one hash) is a miss for this one, never the other's identity.
    #[test]
    fn an_entry_of_the_same_hash_but_another_token_is_a_miss() {
        let mut cache = TokenCache::new(4);
        cache.insert("a.b.c", identity("alice"), 100, 0, 0);
        let alice = cache.entries.remove(&token_hash("a.b.c")).unwrap();
        cache.entries.insert(token_hash("x.y.z"), alice);
        assert!(cache.get("x.y.z", 50, &V0).is_none());
        assert!(cache.confirmed_at("x.y.z", 50).is_none());
        cache.confirm("x.y.z", 40, 100);
        assert!(cache
            .entries
            .values()
            .all(|entry| entry.confirmed.is_none()));
        // Bob's token of that hash takes the slot; it is his from then on.
        cache.insert("x.y.z", identity("bob"), 100, 0, 0);
        assert_eq!(
            cache.get("x.y.z", 50, &V0).unwrap().subject.as_deref(),
            Some("bob")
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn entry_expires_after_valid_until() {
        let mut cache = TokenCache::new(4);
        cache.insert("t", identity("alice"), 100, 0, 0);
        assert!(cache.get("t", 100, &V0).is_some());
        assert!(cache.get("t", 101, &V0).is_none());
        assert!(cache.is_empty(), "expired entry is dropped on lookup");
    }

    #[test]
    fn size_stays_bounded_and_expired_entries_go_first() {
        let mut cache = TokenCache::new(2);
        cache.insert("old", identity("o"), 10, 0, 0);
        cache.insert("live", identity("l"), 1000, 0, 0);
        cache.insert("new", identity("n"), 1000, 50, 0);
        assert_eq!(cache.len(), 2);
        assert!(cache.get("live", 60, &V0).is_some());
        assert!(cache.get("new", 60, &V0).is_some());
        for i in 0..100 {
            cache.insert(&format!("t{i}"), identity("x"), 1000, 60, 0);
        }
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_new_key_set_of_its_provider_ends_only_that_providers_entries() {
        let mut cache = TokenCache::new(4);
        let mut other = (*identity("bob")).clone();
        other.provider = 1;
        cache.insert("a", identity("alice"), 100, 0, 3);
        cache.insert("b", Rc::new(other), 100, 0, 7);
        assert!(cache.get("a", 1, &Versions(vec![3, 7])).is_some());
        // Provider 0's keys change: its token is checked again, provider 1's is not.
        assert!(cache.get("a", 1, &Versions(vec![4, 7])).is_none());
        assert!(cache.get("b", 1, &Versions(vec![4, 7])).is_some());
        assert_eq!(cache.len(), 1, "the stale entry is dropped");
    }

    /// The map of inactive tokens holds 32 bytes per entry, not the token: made-up tokens of
    /// 16 KiB cost no more than short ones.
    #[test]
    fn inactive_tokens_are_kept_as_digests_not_whole() {
        let mut cache = TokenCache::new(8);
        let long = "x".repeat(16 * 1024);
        cache.insert_inactive(&long, 100, 0);
        cache.insert_inactive("short", 100, 0);
        assert!(cache.is_inactive(&long, 1));
        assert!(cache.is_inactive("short", 1));
        assert!(!cache.is_inactive(&"x".repeat(16 * 1024 - 1), 1));
        let key_bytes: usize = cache.inactive.keys().map(|key| key.len()).sum();
        assert_eq!(key_bytes, 2 * 32);
    }

    #[test]
    fn inactive_tokens_are_remembered_briefly_and_boundedly() {
        let mut cache = TokenCache::new(2);
        cache.insert_inactive("x", 10, 0);
        assert!(cache.is_inactive("x", 10));
        assert!(!cache.is_inactive("x", 11));
        assert!(!cache.is_inactive("y", 0));
        for i in 0..100 {
            cache.insert_inactive(&format!("t{i}"), 1000, 20);
        }
        assert_eq!(cache.inactive.len(), 2);
    }

    #[test]
    fn lookups_and_evictions_are_counted_until_taken() {
        let mut cache = TokenCache::new(1);
        assert!(cache.lookup("a", 0, &V0).is_none());
        cache.insert("a", identity("alice"), 100, 0, 0);
        assert!(cache.lookup("a", 1, &V0).is_some());
        assert!(cache.lookup("a", 2, &V0).is_some());
        cache.insert("b", identity("bob"), 100, 2, 0);
        assert_eq!(
            cache.take_stats(),
            CacheStats {
                hits: 2,
                misses: 1,
                evictions: 1
            }
        );
        assert!(cache.take_stats().is_empty());
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let mut cache = TokenCache::new(0);
        cache.insert("t", identity("a"), 100, 0, 0);
        assert!(cache.get("t", 1, &V0).is_none());
    }

    #[test]
    fn token_hash_tells_apart_tokens_that_differ_in_one_place() {
        use std::hash::BuildHasher;
        let hash = |token: &str| BuildHasherDefault::<TokenHasher>::default().hash_one(token);
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl";
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(hash(token)));
        for at in 0..token.len() {
            let mut changed = token.as_bytes().to_vec();
            changed[at] ^= 1;
            let changed = String::from_utf8(changed).unwrap();
            assert!(seen.insert(hash(&changed)), "byte {at}");
        }
        for end in 0..token.len() {
            assert!(seen.insert(hash(&token[..end])), "prefix of {end}");
            assert!(
                seen.insert(hash(&format!("{}\0", &token[..end]))),
                "NUL after {end}"
            );
        }
    }

    #[test]
    fn a_full_cache_passes_over_its_entries_once_per_eighth_of_its_capacity() {
        let mut cache = TokenCache::new(64);
        for i in 0..64 {
            cache.insert(&format!("early{i}"), identity("x"), 10, 0, 0);
        }
        // The first insert into the full cache finds every entry expired and drops them all.
        cache.insert("first", identity("y"), 1000, 20, 0);
        assert_eq!(cache.len(), 1);
        for i in 0..63 {
            cache.insert(&format!("live{i}"), identity("z"), 30, 20, 0);
        }
        assert_eq!(cache.len(), 64);
        // Now all expire; the next 8 full inserts (64 / 8) drop one arbitrary entry each, and
        // the pass after them drops every expired one.
        for i in 0..8 {
            cache.insert(&format!("late{i}"), identity("w"), 1000, 40, 0);
            assert_eq!(cache.len(), 64, "insert {i}");
        }
        cache.insert("swept", identity("v"), 1000, 40, 0);
        assert!(cache.len() <= 10, "{} entries after the pass", cache.len());
        assert!(cache.get("swept", 40, &V0).is_some());
    }
}
