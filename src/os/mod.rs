//! The thin, typed layer over OS calls. All `unsafe` in respawn lives below this folder.
//!
//! The common part lives here: [`Process`], what every platform's child is (pid,
//! output pipes, exit, the held stdin). Each platform module adds the rest:
//! - `ChildTree`: a [`Process`] in its own process group (Unix) or Job Object
//!   (Windows), so that "kill the child" means the child and everything it started;
//! - `start_token(pid)`: an identity for a pid that survives pid reuse checks;
//! - `kill_leftover_tree(pid, token)`: used by a new supervisor after a crash of the
//!   old one, touching only a tree that is verifiably the one we started.

#[cfg(target_os = "linux")]
mod sentinel;
#[cfg(target_os = "linux")]
pub use sentinel::{serve_stdin as serve_sentry, Sentinel, SERVE_ARG as SENTRY_ARG};
#[cfg(target_os = "linux")]
mod shed;
#[cfg(target_os = "linux")]
pub use shed::shed_startup_pages;
#[cfg(target_os = "linux")]
mod own_pid;
#[cfg(target_os = "linux")]
pub use own_pid::CHILD_PID;
#[cfg(unix)]
mod procs;
#[cfg(unix)]
pub use procs::*;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

pub mod usage;

#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
pub use windows::*;

use crate::policy::ExitKind;
use std::io;

// Every platform's ChildTree is a Process plus what holds its tree together.
impl std::ops::Deref for ChildTree {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.process
    }
}

impl std::ops::DerefMut for ChildTree {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// A helper of a child (a `[stop] command`, a probe command), started in the child's
/// tree the way the child was. Started by tokio it is killed on drop when its command
/// said `kill_on_drop`; started with a user's token, when [`Helper::kill_on_drop`] says.
pub enum Helper {
    Tokio(tokio::process::Child),
    #[cfg(windows)]
    User(UserHelper),
}

impl Helper {
    pub fn id(&self) -> Option<u32> {
        match self {
            Helper::Tokio(c) => c.id(),
            #[cfg(windows)]
            Helper::User(h) => Some(h.id()),
        }
    }

    /// Kill it if it is dropped before it exits (a probe that timed out).
    pub fn kill_on_drop(self) -> Helper {
        match self {
            #[cfg(windows)]
            Helper::User(h) => Helper::User(h.kill_on_drop()),
            other => other,
        }
    }

    /// Wait for it to exit. Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<ExitKind> {
        match self {
            Helper::Tokio(c) => Ok(exit_kind(c.wait().await?)),
            #[cfg(windows)]
            Helper::User(h) => h.wait().await,
        }
    }
}

/// A child's output stream, whichever way the child was started.
pub type Output = Box<dyn tokio::io::AsyncRead + Unpin + Send>;

/// How a child's exit is awaited.
enum Exit {
    /// Started by tokio (every child but one).
    Tokio(tokio::process::Child),
    /// Started with a user's token (Windows service host, issue 15): a thread waits on
    /// the process handle and sends the exit code.
    #[cfg(windows)]
    Handle {
        code: tokio::sync::oneshot::Receiver<u32>,
        got: Option<u32>,
    },
}

/// A started child as every platform sees it. Its stdin (a pipe the supervisor holds
/// open) is kept apart from the tokio child, whose `wait` would close it.
pub struct Process {
    pid: u32,
    exit: Exit,
    /// Held, never written: dropping it closes the child's stdin.
    stdin: Option<Box<dyn Send + Sync>>,
    stdout: Option<Output>,
    stderr: Option<Output>,
}

impl Process {
    pub(crate) fn new(mut child: tokio::process::Child) -> io::Result<Process> {
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("child exited before it had a pid"))?;
        let stdin = child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn Send + Sync>);
        let stdout = child.stdout.take().map(|s| Box::new(s) as Output);
        let stderr = child.stderr.take().map(|s| Box::new(s) as Output);
        Ok(Process {
            pid,
            exit: Exit::Tokio(child),
            stdin,
            stdout,
            stderr,
        })
    }

    /// A child started by hand (with a user's token): its pid, a receiver of its exit
    /// code and its pipe ends.
    #[cfg(windows)]
    pub(crate) fn from_parts(
        pid: u32,
        code: tokio::sync::oneshot::Receiver<u32>,
        stdin: std::fs::File,
        stdout: std::fs::File,
        stderr: std::fs::File,
    ) -> Process {
        let output = |f| Box::new(tokio::fs::File::from_std(f)) as Output;
        Process {
            pid,
            exit: Exit::Handle { code, got: None },
            stdin: Some(Box::new(stdin)),
            stdout: Some(output(stdout)),
            stderr: Some(output(stderr)),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn stdout(&mut self) -> Option<Output> {
        self.stdout.take()
    }

    pub fn stderr(&mut self) -> Option<Output> {
        self.stderr.take()
    }

    /// Wait for the child (not its descendants) to exit. Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<ExitKind> {
        match &mut self.exit {
            Exit::Tokio(child) => Ok(exit_kind(child.wait().await?)),
            #[cfg(windows)]
            Exit::Handle { code, got } => {
                if got.is_none() {
                    let c = code
                        .await
                        .map_err(|_| io::Error::other("lost the child's exit code"))?;
                    *got = Some(c);
                }
                // Exit codes are u32 on Windows; ExitKind keeps them as i32 like std.
                Ok(ExitKind::Code(got.unwrap_or(u32::MAX) as i32))
            }
        }
    }

    /// Close the child's stdin; whether it was still open.
    pub fn close_stdin(&mut self) -> bool {
        self.stdin.take().is_some()
    }
}

/// Swap the names of two files in one step (Linux `renameat2(RENAME_EXCHANGE)`):
/// readers of `to` see its old contents or the new ones, never a half. Unlike a
/// rename over an existing file, ext4 does not flush the new file's data first (its
/// `auto_da_alloc`), which costs about 0.4 ms (p50) to 15 ms (p95) on the restart path.
/// `Ok(false)` where this can't be done (another OS, a file system without it, `to`
/// missing or not a plain file): the caller renames as usual.
pub fn exchange_files(from: &std::path::Path, to: &std::path::Path) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
        if !std::fs::symlink_metadata(to).is_ok_and(|m| m.file_type().is_file()) {
            return Ok(false);
        }
        match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => Ok(true),
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to);
        Ok(false)
    }
}

/// Elsewhere: nothing to give back (see the Linux `shed` module).
#[cfg(not(target_os = "linux"))]
pub fn shed_startup_pages() {}
