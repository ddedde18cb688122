//! The sd_notify protocol, served by respawn itself for its child (Unix).
//!
//! One AF_UNIX datagram socket per service, in its state dir (or, when that path
//! is too long for `sun_path`, in a private folder under the temp dir). The child
//! finds it in `NOTIFY_SOCKET`, as it would under systemd, so a program that
//! speaks sd_notify gets the same treatment from every backend.
//!
//! Who may talk: on Linux each datagram carries the sender's pid (SO_PASSCRED), and
//! only processes in the child's tree are heard. macOS has no credentials for
//! datagram sockets (LOCAL_PEERCRED needs a connected stream), so there the socket's
//! place (a folder only its user can write) is the only guard.

/// One message of the protocol (a datagram holds several, one per line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notify {
    Ready,
    Status(String),
    Stopping,
    Watchdog,
    WatchdogTrigger,
    /// A new watchdog interval, in microseconds.
    WatchdogUsec(u64),
    MainPid(u32),
    /// More time for the current phase (start-up), in microseconds.
    ExtendTimeoutUsec(u64),
    /// A line we do not act on (`RELOADING=1`, `FDSTORE=1`, …) or cannot read.
    Other(String),
}

/// Longest STATUS= text kept: enough for a sentence, not a log.
const MAX_STATUS: usize = 200;

/// Parse a datagram: `KEY=VALUE` lines. Pure.
pub fn parse(text: &str) -> Vec<Notify> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            let num = || value.trim().parse::<u64>().ok();
            match (key, value) {
                ("READY", "1") => Notify::Ready,
                ("STOPPING", "1") => Notify::Stopping,
                ("WATCHDOG", "1") => Notify::Watchdog,
                ("WATCHDOG", "trigger") => Notify::WatchdogTrigger,
                ("STATUS", s) => Notify::Status(s.chars().take(MAX_STATUS).collect()),
                ("WATCHDOG_USEC", _) if num().is_some_and(|n| n > 0) => {
                    Notify::WatchdogUsec(num().unwrap_or_default())
                }
                ("EXTEND_TIMEOUT_USEC", _) if num().is_some() => {
                    Notify::ExtendTimeoutUsec(num().unwrap_or_default())
                }
                ("MAINPID", _) => match value.trim().parse::<u32>() {
                    Ok(pid) if pid > 1 => Notify::MainPid(pid),
                    _ => Notify::Other(line.chars().take(80).collect()),
                },
                _ => Notify::Other(line.chars().take(80).collect()),
            }
        })
        .collect()
}

#[cfg(unix)]
pub use imp::*;

#[cfg(unix)]
mod imp {
    use std::io;
    use std::path::{Path, PathBuf};
    use tokio::net::UnixDatagram;

    /// `sun_path` is 108 bytes on Linux and 104 on macOS, the terminating NUL included.
    const MAX_SOCKET_PATH: usize = 100;

    /// `notify.sock` in `service_dir`, where it fits a socket address (else the
    /// supervisor binds one in a private temp folder).
    pub fn socket_path(service_dir: &Path) -> Option<PathBuf> {
        let path = service_dir.join("notify.sock");
        (path.as_os_str().len() <= MAX_SOCKET_PATH).then_some(path)
    }

    /// One datagram: its text and, where the OS tells, the sending pid.
    pub struct Datagram {
        pub text: String,
        pub sender: Option<u32>,
    }

    pub struct NotifySocket {
        /// Bound before the runtime runs; moved into `sock` by [`NotifySocket::activate`].
        bound: Option<std::os::unix::net::UnixDatagram>,
        sock: Option<UnixDatagram>,
        path: PathBuf,
        /// The socket file's (device, inode) as bound: a later supervisor's monitor may
        /// bind the same path (a reloaded spec), and dropping this one must not unlink
        /// that one's file.
        file_id: Option<(u64, u64)>,
        /// The private folder a too-long state-dir path fell back to; removed with us.
        _fallback: Option<tempfile::TempDir>,
    }

    impl NotifySocket {
        /// Bind `notify.sock` in `service_dir`, or in a private temp folder when that
        /// path does not fit a socket address.
        pub fn bind(service_dir: &Path) -> io::Result<NotifySocket> {
            let mut fallback = None;
            let path = if let Some(path) = socket_path(service_dir) {
                path
            } else {
                // Only our user may reach the socket: the folder is 0700 before the
                // socket is made in it.
                use std::os::unix::fs::PermissionsExt;
                let dir = tempfile::Builder::new().prefix("respawn-").tempdir()?;
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
                let path = dir.path().join("notify");
                fallback = Some(dir);
                path
            };
            // A socket file left by a supervisor that died; we hold the service lock.
            let _ = std::fs::remove_file(&path);
            let sock = std::os::unix::net::UnixDatagram::bind(&path)?;
            // Sending needs write permission on the socket file: ours only, whatever
            // the umask (macOS has no sender credentials to check instead).
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            sock.set_nonblocking(true)?;
            let file_id = file_id(&path);
            #[cfg(target_os = "linux")]
            nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::PassCred, &true)
                .map_err(io::Error::from)?;
            Ok(NotifySocket {
                bound: Some(sock),
                sock: None,
                path,
                file_id,
                _fallback: fallback,
            })
        }

        pub fn path(&self) -> &Path {
            &self.path
        }

        /// Register with the runtime (call from inside it, before [`NotifySocket::recv`]).
        pub fn activate(&mut self) -> io::Result<()> {
            if let Some(std_sock) = self.bound.take() {
                self.sock = Some(UnixDatagram::from_std(std_sock)?);
            }
            Ok(())
        }

        /// The next datagram. Cancel-safe; pending until activated.
        pub async fn recv(&self) -> io::Result<Datagram> {
            let Some(sock) = &self.sock else {
                return std::future::pending().await;
            };
            #[cfg(target_os = "linux")]
            {
                use std::os::fd::AsRawFd;
                sock.async_io(tokio::io::Interest::READABLE, || {
                    recv_with_pid(sock.as_raw_fd())
                })
                .await
            }
            #[cfg(not(target_os = "linux"))]
            {
                let mut buf = vec![0u8; 4096];
                let n = sock.recv(&mut buf).await?;
                Ok(Datagram {
                    text: String::from_utf8_lossy(&buf[..n]).into_owned(),
                    sender: None,
                })
            }
        }
    }

    /// Removes the socket file only while it is still the one this socket bound.
    impl Drop for NotifySocket {
        fn drop(&mut self) {
            if self.file_id.is_some() && file_id(&self.path) == self.file_id {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }

    fn file_id(path: &Path) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()))
    }

    /// Whether the socket file this supervisor serves sd_notify on is still there
    /// (`doctor`: a removed file makes every sd_notify message fail).
    pub fn socket_file_present(path: &Path) -> bool {
        use std::os::unix::fs::FileTypeExt;
        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
    }

    /// One datagram with its SCM_CREDENTIALS. The control buffer fits exactly one
    /// credentials message, so file descriptors a sender attaches are discarded by
    /// the kernel instead of landing in our process.
    #[cfg(target_os = "linux")]
    fn recv_with_pid(fd: std::os::fd::RawFd) -> io::Result<Datagram> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixCredentials};
        let mut buf = vec![0u8; 4096];
        let mut cmsg = nix::cmsg_space!(UnixCredentials);
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            fd,
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        let n = msg.bytes;
        let mut sender = None;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmCredentials(cred) = c {
                sender = u32::try_from(cred.pid()).ok();
            }
        }
        Ok(Datagram {
            text: String::from_utf8_lossy(&buf[..n]).into_owned(),
            sender,
        })
    }

    /// Whether `pid` belongs to the tree of the child that leads process group
    /// `child`: in its group, or a descendant that left the group (setsid).
    pub fn in_child_tree(pid: u32, child: u32) -> bool {
        use nix::unistd::{getpgid, Pid};
        if pid == child {
            return true;
        }
        if getpgid(Some(Pid::from_raw(pid as i32))).is_ok_and(|g| g.as_raw() as u32 == child) {
            return true;
        }
        // Walk up the parents (Linux's /proc); bounded against loops and races.
        let mut p = pid;
        for _ in 0..64 {
            match parent_of(p) {
                Some(parent) if parent == child => return true,
                Some(parent) if parent > 1 => p = parent,
                _ => return false,
            }
        }
        false
    }

    fn parent_of(pid: u32) -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat[stat.rfind(')')? + 2..]
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_parses() {
        let msgs = parse(
            "READY=1\nSTATUS=Gateway running\nSTOPPING=1\nWATCHDOG=1\nWATCHDOG=trigger\nWATCHDOG_USEC=5000000\nMAINPID=42\nEXTEND_TIMEOUT_USEC=1000\nRELOADING=1\n",
        );
        assert_eq!(
            msgs,
            vec![
                Notify::Ready,
                Notify::Status("Gateway running".into()),
                Notify::Stopping,
                Notify::Watchdog,
                Notify::WatchdogTrigger,
                Notify::WatchdogUsec(5_000_000),
                Notify::MainPid(42),
                Notify::ExtendTimeoutUsec(1000),
                Notify::Other("RELOADING=1".into()),
            ]
        );
    }

    #[test]
    fn bad_values_are_other_never_a_panic() {
        for bad in [
            "MAINPID=x",
            "MAINPID=1",
            "MAINPID=-5",
            "WATCHDOG_USEC=0",
            "READY=0",
            "=",
            "\u{0}",
            "WATCHDOG=2",
        ] {
            assert!(matches!(parse(bad)[..], [Notify::Other(_)]), "{bad}");
        }
        let long = format!("STATUS={}", "x".repeat(5000));
        assert!(matches!(&parse(&long)[..], [Notify::Status(s)] if s.len() == MAX_STATUS));
    }

    /// A reloaded spec binds a new socket at the same path before the old one is
    /// dropped: dropping the old one must leave the new one's file (issue 23).
    #[test]
    #[cfg(unix)]
    fn dropping_a_replaced_socket_leaves_the_new_ones_file() {
        let dir = tempfile::tempdir().unwrap();
        let old = NotifySocket::bind(dir.path()).unwrap();
        let new = NotifySocket::bind(dir.path()).unwrap();
        let path = new.path().to_path_buf();
        drop(old);
        assert!(socket_file_present(&path), "the new socket's file is gone");
        let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
        client.send_to(b"READY=1", &path).unwrap();
        drop(new);
        assert!(!path.exists(), "the last socket removes its file");
    }
}
