//! The abuse limits' shared state in proxy-wasm shared data: the
//! [`SharedStore`] the core's bounded tables read and write with compare-and-swap, and the
//! creation of their bucket keys at configuration time.
//!
//! Shared data has no delete and compare-and-swap guards only keys that exist, so every bucket
//! key of a configured limit is created once, empty, before any request: Envoy configures the
//! main thread's VM before it starts the workers. The key set is fixed (`buckets` per limit)
//! and each record is bounded by the core, so the memory the limits take is bounded too.

use super::{Host, HostError};
use crate::policy::abuse::records::{SharedStore, StoreError, Table};
use crate::policy::abuse::AbuseLimits;

/// The host's shared data of the VM, as a [`SharedStore`].
pub(crate) struct SharedData<'h>(pub(crate) &'h dyn Host);

impl SharedStore for SharedData<'_> {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
        self.0.get_shared_data(key).map_err(|_| StoreError::Failed)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        match self.0.set_shared_data(key, value, cas) {
            Ok(()) => Ok(()),
            Err(HostError::CasMismatch) => Err(StoreError::CasMismatch),
            Err(_) => Err(StoreError::Failed),
        }
    }
}

/// Creates the bucket keys of every configured limit that no VM has created yet.
pub(crate) fn create_buckets(host: &dyn Host, limits: &AbuseLimits) {
    let tables: [Option<&Table>; 2] = [
        limits.lockout.as_ref().map(|lockout| &lockout.table),
        limits.signature_budget.as_ref().map(|budget| &budget.table),
    ];
    for table in tables.into_iter().flatten() {
        for key in table.keys() {
            if let Ok((None, _)) = host.get_shared_data(&key) {
                if let Err(status) = host.set_shared_data(&key, &[], None) {
                    log::error!("cannot create the shared record {key}: {status:?}");
                    return;
                }
            }
        }
    }
}
