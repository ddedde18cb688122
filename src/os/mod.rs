//! The thin, typed layer over OS calls. All `unsafe` in respawn lives below this folder.
//!
//! Each platform module offers the same small surface:
//! - [`ChildTree`]: a child in its own process group (Unix) or Job Object (Windows),
//!   so that "kill the child" means the child and everything it started;
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
pub mod windows_eventlog;
