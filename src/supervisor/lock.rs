//! One supervisor per service: an exclusive lock on a file in the service's state dir.
//!
//! The OS drops the lock when the process dies, however it dies, so a crashed
//! supervisor never blocks the next one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

/// Held for as long as the supervisor runs.
#[derive(Debug)]
pub struct SupervisorLock {
    _file: File,
}

impl SupervisorLock {
    /// Take the lock, or `Ok(None)` when another supervisor holds it.
    pub fn try_acquire(path: &Path) -> io::Result<Option<SupervisorLock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(SupervisorLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Whether some supervisor holds the lock right now (without disturbing it for long:
/// a shared lock is taken and dropped at once).
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}
