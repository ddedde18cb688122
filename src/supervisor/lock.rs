//! One supervisor per service: an exclusive lock on a file in the service's state dir.
//!
//! The OS drops the lock when the process dies, however it dies, so a crashed
//! supervisor never blocks the next one. The lock is the authority on "a supervisor
//! runs"; the state file only adds detail. Next to the lock, the holder records its pid
//! and start time, so a client can reach it (and check it is still the same process)
//! even when the state file is unreadable.

use crate::os;
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
/// A lock only administrators may open (a Windows service's, issue 25) is answered,
/// for anyone else, by the holder file beside it, checked against the live process.
pub fn is_held(path: &Path) -> bool {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            let holder = path.with_file_name("supervisor.pid");
            return std::fs::read_to_string(holder)
                .ok()
                .and_then(|t| Holder::parse(&t))
                .is_some_and(|h| h.is_current());
        }
        Err(_) => return false,
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}

/// The process holding a service's lock: its pid and start token (see
/// [`os::start_token`]), which together name one process even after pid reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub token: Option<u64>,
}

impl Holder {
    pub fn me() -> Holder {
        let pid = std::process::id();
        Holder {
            pid,
            token: os::start_token(pid),
        }
    }

    /// The text of the holder file: `pid token` (token 0 when unknown).
    pub fn to_text(self) -> String {
        format!("{} {}\n", self.pid, self.token.unwrap_or(0))
    }

    /// The holder record this process writes: [`Holder::me`], and on Windows its
    /// control pipe's random suffix as a third field (issue 25).
    pub fn record_text() -> String {
        let text = Holder::me().to_text();
        #[cfg(windows)]
        let text = format!("{} {}\n", text.trim_end(), os::control_pipe_suffix());
        // Then what it speaks (issue 26 item 3); an older respawn reads the fields
        // before these alone.
        format!(
            "{} {}\n",
            text.trim_end(),
            crate::control::Peer::me().record_fields()
        )
    }

    /// The control pipe suffix a holder record names (its third field), if any.
    pub fn pipe_suffix(text: &str) -> Option<String> {
        let s = text.split_whitespace().nth(2)?;
        (s.len() <= 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_string())
    }

    pub fn parse(text: &str) -> Option<Holder> {
        let mut parts = text.split_whitespace();
        let pid = parts.next()?.parse().ok().filter(|p| *p != 0)?;
        let token = parts.next()?.parse().ok().filter(|t| *t != 0);
        Some(Holder { pid, token })
    }

    /// Still the very process that wrote the record (not a recycled pid).
    pub fn is_current(self) -> bool {
        match self.token {
            Some(_) => os::same_process(self.pid, self.token),
            // No identity could be read where it was written (macOS has no /proc):
            // the lock, held, is the only evidence, and the caller checked it.
            None => os::is_alive(self.pid),
        }
    }
}

/// Who holds the lock at `lock_path`, read from the holder file and checked against
/// the live process; on Linux, the kernel's lock table answers when that file is
/// missing or unreadable. `None` when nobody holds the lock or nobody can be named.
pub fn holder(lock_path: &Path, holder_path: &Path) -> Option<Holder> {
    if !is_held(lock_path) {
        return None;
    }
    let recorded = std::fs::read_to_string(holder_path)
        .ok()
        .and_then(|t| Holder::parse(&t))
        .filter(|h| h.is_current());
    recorded.or_else(|| kernel_lock_holder(lock_path))
}

/// Linux: the pid holding a flock on the file, from /proc/locks (matched by inode).
#[cfg(target_os = "linux")]
fn kernel_lock_holder(lock_path: &Path) -> Option<Holder> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(lock_path).ok()?;
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    let pid = table.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 15967 fe:00:1057000 0 EOF"
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (kind, mode, pid, dev_ino) = (
            fields.get(1)?,
            fields.get(3)?,
            fields.get(4)?,
            fields.get(5)?,
        );
        let ino: u64 = dev_ino.rsplit(':').next()?.parse().ok()?;
        (*kind == "FLOCK" && *mode == "WRITE" && ino == meta.ino()).then(|| pid.parse().ok())?
    })?;
    Some(Holder {
        pid,
        token: os::start_token(pid),
    })
}

#[cfg(not(target_os = "linux"))]
fn kernel_lock_holder(_lock_path: &Path) -> Option<Holder> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_text_round_trips_and_rejects_garbage() {
        let h = Holder {
            pid: 42,
            token: Some(7),
        };
        assert_eq!(Holder::parse(&h.to_text()), Some(h));
        let unknown = Holder {
            pid: 42,
            token: None,
        };
        assert_eq!(Holder::parse(&unknown.to_text()), Some(unknown));
        // A third field names the Windows control pipe's suffix (hex only).
        assert_eq!(Holder::parse("42 7 00ff\n"), Some(h));
        assert_eq!(Holder::pipe_suffix("42 7 00ff\n").as_deref(), Some("00ff"));
        assert_eq!(Holder::pipe_suffix("42 7\n"), None);
        assert_eq!(Holder::pipe_suffix("42 7 ..\\x\n"), None);
        assert_eq!(Holder::parse(&Holder::record_text()), Some(Holder::me()));
        // What it speaks follows (issue 26 item 3), where an older respawn reads past it.
        assert_eq!(
            crate::control::Peer::from_record(&Holder::record_text()),
            crate::control::Peer::me()
        );
        #[cfg(unix)]
        assert_eq!(Holder::pipe_suffix(&Holder::record_text()), None);
        for bad in ["", "x", "0 1", "12", "-3 4", "\u{0}"] {
            assert_eq!(Holder::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_lock_names_its_holder_even_without_a_holder_file() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("supervisor.lock");
        let record = dir.path().join("supervisor.pid");
        assert_eq!(holder(&lock, &record), None);
        let _held = SupervisorLock::try_acquire(&lock).unwrap().unwrap();
        std::fs::write(&record, Holder::me().to_text()).unwrap();
        assert_eq!(
            holder(&lock, &record).map(|h| h.pid),
            Some(std::process::id())
        );
        // A corrupt record: the kernel's lock table still knows (Linux).
        std::fs::write(&record, "garbage").unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(
                holder(&lock, &record).map(|h| h.pid),
                Some(std::process::id())
            );
        }
    }
}
