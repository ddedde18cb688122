//! The per-service operation lock: install, uninstall, start, stop, restart and update
//! of one service take it, so two commands never interleave (two parallel installs
//! under systemd once left a unit without an install record). It is not the
//! supervisor's lock: a running supervisor never holds it.

use crate::state::ServicePaths;
use std::fs::{File, OpenOptions};
use std::io;
use std::time::Duration;

/// Held until dropped.
#[derive(Debug)]
pub struct OperationLock {
    _file: File,
}

impl OperationLock {
    /// Wait (blocked in the kernel, not polling) up to `timeout` for the lock.
    /// Creates the service's folder when needed.
    pub fn acquire(paths: &ServicePaths, timeout: Duration) -> io::Result<OperationLock> {
        std::fs::create_dir_all(&paths.dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(paths.operation_lock())?;
        match file.try_lock() {
            Ok(()) => return Ok(OperationLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        // The blocking call runs on a thread so that the wait can end; a lock that
        // arrives after we gave up is released with the thread's file.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let locked = file.lock().map(|()| file);
            let _ = tx.send(locked);
        });
        match rx.recv_timeout(timeout) {
            Ok(Ok(file)) => Ok(OperationLock { _file: file }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "another respawn command has been working on this service for {}s \
                     (install, start, stop, restart or update); try again when it is done",
                    timeout.as_secs()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ServicePaths::new(dir.path(), "svc");
        let first = OperationLock::acquire(&paths, Duration::from_secs(1)).unwrap();
        let err = OperationLock::acquire(&paths, Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let waiter = {
            let paths = paths.clone();
            std::thread::spawn(move || OperationLock::acquire(&paths, Duration::from_secs(30)))
        };
        drop(first);
        assert!(waiter.join().unwrap().is_ok());
    }
}
