//! The DPoP replay cache in proxy-wasm shared data, so that every worker of the VM sees every
//! proof: the host half of [`crate::policy::sender::replay`], which owns the encoding and the rules.
//!
//! One shared-data key per shard. Recording a proof reads the shard with its compare-and-swap
//! token, lets the core add the entry (or find it replayed), and writes it back only if no other
//! worker wrote in between; on a collision it reads again. Shards are created at configure time,
//! so that even the first write is a compare-and-swap.

use super::{Host, HostError};
use crate::policy::sender::replay::{record, shard_key, Recorded, ReplayEntry, ReplayLimits};

/// Attempts before giving up on a shard other workers keep writing (then the proof is refused).
const CAS_ATTEMPTS: usize = 8;

/// Why a proof could not be recorded as first used.
pub(crate) enum NotRecorded {
    /// Its `jti` was used before: the request is refused as a replay.
    Replayed,
    /// The cache cannot take it (full shard, host error, endless collisions): refused, fail closed.
    Unavailable,
}

/// Creates every shard that does not exist yet (on configure).
pub(crate) fn create_shards(host: &dyn Host, limits: &ReplayLimits) {
    for index in 0..limits.shards {
        let key = shard_key(index);
        if let Ok((None, None)) = host.get_shared_data(&key) {
            if let Err(status) = host.set_shared_data(&key, &[], None) {
                log::error!("cannot create DPoP replay shard {index}: {status:?}");
            }
        }
    }
}

/// Records `entry` as used at `now` (Unix seconds).
pub(crate) fn first_use(
    host: &dyn Host,
    entry: &ReplayEntry,
    limits: &ReplayLimits,
    now: u64,
) -> Result<(), NotRecorded> {
    let key = shard_key(entry.shard(limits.shards));
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.get_shared_data(&key).map_err(|status| {
            log::error!("cannot read DPoP replay shard {key}: {status:?}");
            NotRecorded::Unavailable
        })?;
        match record(
            bytes.as_deref().unwrap_or_default(),
            entry,
            now,
            limits.entries_per_shard,
        ) {
            Recorded::Fresh(updated) => match host.set_shared_data(&key, &updated, cas) {
                Ok(()) => return Ok(()),
                Err(HostError::CasMismatch) => continue,
                Err(status) => {
                    log::error!("cannot write DPoP replay shard {key}: {status:?}");
                    return Err(NotRecorded::Unavailable);
                }
            },
            Recorded::Replayed => return Err(NotRecorded::Replayed),
            Recorded::Full => {
                log::warn!("DPoP replay shard {key} is full: refusing proofs until entries expire (raise dpop.replay_cache_entries)");
                return Err(NotRecorded::Unavailable);
            }
        }
    }
    log::warn!("DPoP replay shard {key}: too many concurrent writers");
    Err(NotRecorded::Unavailable)
}
