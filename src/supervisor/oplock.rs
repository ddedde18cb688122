//! The per-service operation lock: held by a command that changes a service
//! (`update`; install, uninstall, start, stop and restart may take it too) for as
//! long as the change lasts, so that nothing starts the service behind its back.
//!
//! A supervisor that is started while someone else holds it (by systemd's Restart=,
//! the SCM's recovery, a login entry) steps aside and exits 0: the holder starts
//! the service itself when it is done. Like the supervisor lock, the OS drops it
//! when the holder dies, however it dies.

use crate::state::ServicePaths;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Held while an operation changes the service.
#[derive(Debug)]
pub struct OperationLock {
    file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum OpLockError {
    #[error(
        "{service} is busy: {holder}; wait for it to finish (or end that process) and try again"
    )]
    Busy { service: String, holder: String },
    #[error("cannot use the operation lock {}: {source}; check that the state dir is writable", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// How often a waiting `acquire` tries again (a person is waiting, not a loop).
const RETRY: Duration = Duration::from_millis(50);

impl OperationLock {
    pub fn path(paths: &ServicePaths) -> PathBuf {
        paths.dir.join("operation.lock")
    }

    /// Take the lock for `operation` (e.g. "update"), waiting up to `timeout` for
    /// another holder to finish.
    pub fn acquire(
        paths: &ServicePaths,
        operation: &str,
        timeout: Duration,
    ) -> Result<OperationLock, OpLockError> {
        let path = Self::path(paths);
        let io_err = |source| OpLockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&paths.dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err)?;
        let deadline = Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(RETRY)
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(OpLockError::Busy {
                        service: service_name(paths),
                        holder: holder(paths)
                            .unwrap_or_else(|| "another respawn command holds it".into()),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(io_err(e)),
            }
        }
        // Who holds it, for the messages of those who wait.
        let who = format!(
            "`respawn {operation}` (pid {}) is running",
            std::process::id()
        );
        let write = |f: &mut File| -> io::Result<()> {
            f.set_len(0)?;
            f.rewind()?;
            f.write_all(who.as_bytes())
        };
        write(&mut file).map_err(io_err)?;
        Ok(OperationLock { file })
    }
}

impl Drop for OperationLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// Who holds the lock right now, in words; `None` when nobody does.
pub fn holder(paths: &ServicePaths) -> Option<String> {
    let mut file = File::open(OperationLock::path(paths)).ok()?;
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let text = text.trim();
            Some(if text.is_empty() {
                "another respawn command holds it".into()
            } else {
                text.to_string()
            })
        }
        _ => None,
    }
}

fn service_name(paths: &ServicePaths) -> String {
    paths
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gives_up_with_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ServicePaths::new(dir.path(), "svc");
        assert_eq!(holder(&paths), None);
        let lock = OperationLock::acquire(&paths, "update", Duration::ZERO).unwrap();
        let held = holder(&paths).unwrap();
        assert!(held.contains("respawn update"), "{held}");
        let err = OperationLock::acquire(&paths, "start", Duration::from_millis(120)).unwrap_err();
        assert!(
            err.to_string().contains("svc is busy: `respawn update`"),
            "{err}"
        );
        drop(lock);
        assert_eq!(holder(&paths), None);
        OperationLock::acquire(&paths, "start", Duration::ZERO).unwrap();
    }
}
