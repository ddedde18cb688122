//! The per-service operation lock: install, uninstall, start, stop, restart and update
//! of one service take it, so two commands never interleave (two parallel installs
//! under systemd once left a unit without an install record), and nothing starts the
//! service behind an update's back.
//!
//! A supervisor started while someone holds it (by systemd's Restart=, the SCM's
//! recovery, a login entry) steps aside and exits 0: the holder starts the service
//! itself when it is done. Like the supervisor lock, the OS drops it when the holder
//! dies, however it dies. A running supervisor never holds it.

use crate::state::ServicePaths;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often a waiting `acquire` tries again (a person is waiting, not a loop).
const RETRY: Duration = Duration::from_millis(50);

/// Held while an operation changes the service.
#[derive(Debug)]
pub struct OperationLock {
    /// `None`: a Windows service's lock, which only administrators may open (issue 25:
    /// users get no access to lock files, or their agent could hold it and keep the
    /// service down), taken by a user's unelevated command; the service manager
    /// serializes what such a command may do (start, stop, restart).
    file: Option<File>,
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

impl OperationLock {
    /// Take the lock for `operation` (e.g. "update"), waiting up to `timeout` for
    /// another holder to finish. Creates the service's folder when needed.
    pub fn acquire(
        paths: &ServicePaths,
        operation: &str,
        timeout: Duration,
    ) -> Result<OperationLock, OpLockError> {
        let path = paths.operation_lock();
        let io_err = |source| OpLockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&paths.dir).map_err(io_err)?;
        let file = match OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if cfg!(windows) && e.kind() == io::ErrorKind::PermissionDenied => {
                return Ok(OperationLock { file: None })
            }
            Err(e) => return Err(io_err(e)),
        };
        // Tried again every RETRY rather than blocked on a thread: a thread that got
        // the lock after we gave up would hold it for a moment, and anyone asking who
        // holds it would be told about a command that is no longer there.
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
        let mut file = file;
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
        // Best effort: the lock is the locked file, not the note. A full disk must
        // never keep `stop` or `uninstall` from running (issue 26 item 1); waiters
        // are then told "another respawn command holds it".
        if write(&mut file).is_err() {
            let _ = file.set_len(0);
        }
        Ok(OperationLock { file: Some(file) })
    }
}

impl Drop for OperationLock {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = f.set_len(0);
        }
    }
}

/// Who holds the lock right now, in words; `None` when nobody does.
pub fn holder(paths: &ServicePaths) -> Option<String> {
    let mut file = File::open(paths.operation_lock()).ok()?;
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

/// An update holds the service: a supervisor started meanwhile (by systemd's Restart=,
/// the SCM's recovery, a login entry) steps aside, and the updater starts it when it
/// is done. Other operations (install, start, restart …) start supervisors themselves.
pub fn update_in_progress(paths: &ServicePaths) -> Option<String> {
    holder(paths).filter(|who| who.starts_with(&format!("`respawn {UPDATE}`")))
}

/// The operation name of `respawn update`.
pub const UPDATE: &str = "update";

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

    #[test]
    fn a_waiter_gets_the_lock_as_soon_as_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ServicePaths::new(dir.path(), "svc");
        let first = OperationLock::acquire(&paths, "install", Duration::ZERO).unwrap();
        let waiter = {
            let paths = paths.clone();
            std::thread::spawn(move || {
                OperationLock::acquire(&paths, "uninstall", Duration::from_secs(30))
            })
        };
        drop(first);
        assert!(waiter.join().unwrap().is_ok());
    }
}
