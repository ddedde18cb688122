//! Signals and process state for the Unix tests.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Send `s` to `pid`, which must exist.
pub fn signal(pid: u32, s: Signal) {
    kill(Pid::from_raw(pid as i32), s).unwrap();
}

/// Whether `pid` runs. A zombie still answers kill(0), so this reads its state in /proc.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
        Err(_) => false,
    }
}
