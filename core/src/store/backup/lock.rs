//! Whether a daemon holds a store open, asked through redb's own lock protocol without
//! reading the file: a restore never replaces a store in use.

use std::fs::File;
use std::ops::Bound;
use std::path::Path;

use redb::{BackendError, DatabaseError, StorageBackend};

/// Whether a process holds the store at `target` open. The probe takes redb's open lock and
/// reads nothing, so a damaged store (the usual reason to restore) cannot make it fail.
pub(super) fn target_is_open(target: &Path) -> bool {
    let Ok(file) = File::open(target) else {
        return false;
    };
    let Ok(inner) = redb::backends::FileBackend::new(file) else {
        return false;
    };
    matches!(
        redb::Builder::new().open_read_only_with_backend(LockProbe(inner)),
        Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch)
    )
}

/// A storage backend that takes a file's locks but refuses to read it.
#[derive(Debug)]
struct LockProbe(redb::backends::FileBackend);

fn probe_only() -> std::io::Error {
    std::io::Error::other("a lock probe reads nothing")
}

impl StorageBackend for LockProbe {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.0.len()
    }
    fn read(&self, _offset: u64, _out: &mut [u8]) -> Result<(), std::io::Error> {
        Err(probe_only())
    }
    fn set_len(&self, _len: u64) -> Result<(), std::io::Error> {
        Err(probe_only())
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        Err(probe_only())
    }
    fn write(&self, _offset: u64, _data: &[u8]) -> Result<(), std::io::Error> {
        Err(probe_only())
    }
    fn close(&self) -> Result<(), std::io::Error> {
        self.0.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.0.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.query_lock_range(start, end)
    }
}
