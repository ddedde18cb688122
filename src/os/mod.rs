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
pub use sentinel::Sentinel;
#[cfg(unix)]
mod procs;
#[cfg(unix)]
pub use procs::*;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;
#[cfg(windows)]
pub mod win_errors;
#[cfg(windows)]
pub mod windows_eventlog;

use crate::policy::ExitKind;
use std::io;

/// A started child as every platform sees it. Its stdin (a pipe the supervisor holds
/// open) is kept apart from the tokio child, whose `wait` would close it.
pub struct Process {
    child: tokio::process::Child,
    pid: u32,
    stdin: Option<tokio::process::ChildStdin>,
}

impl Process {
    pub(crate) fn new(mut child: tokio::process::Child) -> io::Result<Process> {
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("child exited before it had a pid"))?;
        let stdin = child.stdin.take();
        Ok(Process { child, pid, stdin })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn stdout(&mut self) -> Option<tokio::process::ChildStdout> {
        self.child.stdout.take()
    }

    pub fn stderr(&mut self) -> Option<tokio::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// Wait for the child (not its descendants) to exit. Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<ExitKind> {
        Ok(exit_kind(self.child.wait().await?))
    }

    /// Close the child's stdin; whether it was still open.
    #[cfg_attr(unix, allow(dead_code))] // Unix stops with a signal instead
    pub(crate) fn close_stdin(&mut self) -> bool {
        self.stdin.take().is_some()
    }
}
