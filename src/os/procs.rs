//! Unix: who a pid is (start time, boot), whose children are whose, and the
//! subreaper that keeps a child's escaped descendants in the supervisor's tree.
//!
//! Rule: a pid is signalled only after its identity was checked: either it is our own
//! unreaped child (the kernel can't give its pid away before we reap it), or its start
//! time and boot match what we recorded when we started it.

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// What /proc says about one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    /// Start time in clock ticks since boot.
    pub start: u64,
    pub zombie: bool,
}

/// Read /proc/PID/stat (Linux). `None` where there is no /proc or no such process.
pub fn proc_info(pid: u32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcInfo {
        pid,
        zombie: *f.first()? == "Z",
        ppid: f.get(1)?.parse().ok()?,
        pgid: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// Every process /proc shows (Linux); empty elsewhere.
pub fn all_processes() -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_info)
        .collect()
}

/// This boot's identity (Linux): start times are ticks since boot, so they only
/// identify a process together with the boot they were read in.
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|s| !s.is_empty())
}

/// Whether `pid` is alive and still the process whose start token was recorded.
/// Without a token there is nothing to compare, so the answer is no.
pub fn same_process(pid: u32, token: Option<u64>) -> bool {
    match (token, proc_info(pid)) {
        (Some(t), Some(info)) => !info.zombie && info.start == t,
        _ => false,
    }
}

/// Make this process a child subreaper (Linux): descendants orphaned while we live
/// (the children of a child that died, a daemon that double-forked) become our
/// children instead of init's, so we can see them, kill them and reap them.
/// Elsewhere a no-op: there is no such mechanism.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
}

/// Our own children other than `except` (Linux), as /proc shows them right now.
pub fn own_children(except: &[u32]) -> Vec<ProcInfo> {
    let me = std::process::id();
    let candidates = match listed_children() {
        // The excepted ones (the sentry, the current child) are not even read.
        Some(pids) => pids
            .into_iter()
            .filter(|p| !except.contains(p))
            .filter_map(proc_info)
            .collect(),
        None => all_processes(),
    };
    candidates
        .into_iter()
        .filter(|p| p.ppid == me && !except.contains(&p.pid))
        .collect()
}

/// Our children as the kernel lists them per thread (/proc/self/task/*/children):
/// a few reads instead of one per process on the machine, which matters on every
/// SIGCHLD of a crash loop. `None` where the kernel lacks the file
/// (CONFIG_PROC_CHILDREN); the list may miss a child that comes or goes meanwhile,
/// which the callers' next look (the next SIGCHLD, the sweep's next round) catches.
fn listed_children() -> Option<Vec<u32>> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let text = std::fs::read_to_string(task.ok()?.path().join("children")).ok()?;
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    Some(pids)
}

/// SIGKILL one of our own children. Safe without more checks: until we reap it, the
/// kernel keeps its pid, so the number can't name anybody else.
pub fn kill_own_child(child: &ProcInfo) {
    let _ = kill(Pid::from_raw(child.pid as i32), Signal::SIGKILL);
}

/// Reap our children that have exited, except `except` (tokio waits for those).
/// Returns how many were reaped.
pub fn reap_own_children(except: &[u32]) -> usize {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    own_children(except)
        .iter()
        .filter(|c| c.zombie)
        .filter(|c| {
            !matches!(
                waitpid(Pid::from_raw(c.pid as i32), Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::StillAlive) | Err(_)
            )
        })
        .count()
}

/// After a crash of the previous supervisor, kill what is left of the tree it
/// recorded as (`pid`, `token`, boot), touching only processes whose identity matches.
/// Returns whether anything was killed.
///
/// - leader alive, same boot, same start time: our child → kill its group;
/// - leader gone: its group id can still have members (the kernel does not hand out
///   a pid that is in use as a group id, so within one boot such a group was started
///   by our child, unless every member died, the pid was handed out again after a
///   full wrap of the pid space and the new owner made it a group); each member whose
///   start time is not before our child's is killed, one by one;
/// - another boot, no token, another start time: not ours, left alone. After a reboot
///   the state file survives and its numbers can belong to anyone.
pub fn kill_leftover_tree_checked(pid: u32, token: Option<u64>, same_boot: bool) -> bool {
    let Some(token) = token.filter(|_| same_boot) else {
        return false;
    };
    if let Some(leader) = proc_info(pid).filter(|p| !p.zombie) {
        if leader.start != token {
            return false;
        }
        return matches!(
            nix::sys::signal::killpg(Pid::from_raw(pid as i32), Signal::SIGKILL),
            Ok(()) | Err(Errno::ESRCH)
        );
    }
    let members: Vec<ProcInfo> = all_processes()
        .into_iter()
        .filter(|p| p.pgid == pid && !p.zombie && p.start >= token)
        .collect();
    for m in &members {
        let _ = kill(Pid::from_raw(m.pid as i32), Signal::SIGKILL);
    }
    !members.is_empty()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn proc_info_reads_our_own_identity() {
        let me = proc_info(std::process::id()).unwrap();
        assert_eq!(me.ppid, nix::unistd::getppid().as_raw() as u32);
        assert!(same_process(me.pid, Some(me.start)));
        assert!(!same_process(me.pid, Some(me.start + 1)));
        assert!(!same_process(me.pid, None));
        assert!(boot_id().is_some());
    }

    #[test]
    fn a_stranger_is_never_taken_for_our_leftover() {
        let mut stranger = std::process::Command::new("sleep")
            .arg("100")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = stranger.id();
        let start = proc_info(pid).unwrap().start;
        // Another start time, no token, another boot: all left alone.
        assert!(!kill_leftover_tree_checked(pid, Some(start + 1), true));
        assert!(!kill_leftover_tree_checked(pid, None, true));
        assert!(!kill_leftover_tree_checked(pid, Some(start), false));
        assert!(
            stranger.try_wait().unwrap().is_none(),
            "stranger was killed"
        );
        // The recorded identity: it is ours, and goes.
        assert!(kill_leftover_tree_checked(pid, Some(start), true));
        assert!(stranger.wait().unwrap().code().is_none());
    }

    use std::os::unix::process::CommandExt;
}
