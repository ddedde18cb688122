//! Unix: process groups, signals and (on Linux) the parent-death signal.

use crate::control::Control;
use crate::policy::ExitKind;
use crate::spec::StopSignal;
use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::io;
use std::os::unix::process::ExitStatusExt;

/// A child that leads its own process group, so signals reach its whole tree.
pub struct ChildTree {
    pub(super) process: super::Process,
}

impl ChildTree {
    /// Spawn `cmd` as the leader of a new process group. On Linux the child also gets
    /// SIGKILL when the supervisor dies, so a SIGKILLed supervisor leaves no child behind,
    /// and a variable set to [`super::CHILD_PID`] holds the child's own pid.
    pub fn spawn(cmd: &mut tokio::process::Command) -> io::Result<ChildTree> {
        cmd.process_group(0);
        let original = nix::sys::signal::SigSet::thread_get_mask()?;
        #[cfg(target_os = "linux")]
        let last_signal = nix::libc::SIGRTMAX();
        // macOS and the BSDs: NSIG is 32, no real-time signals.
        #[cfg(not(target_os = "linux"))]
        let last_signal = 31;
        #[cfg(target_os = "linux")]
        {
            let supervisor = nix::unistd::getpid();
            // SAFETY: the closure runs between fork and exec and only makes
            // async-signal-safe calls (sigaction, sigprocmask, prctl, getppid).
            unsafe {
                cmd.pre_exec(move || {
                    default_caught_signals(&original, last_signal)?;
                    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                    // The supervisor may have died before prctl took effect.
                    if nix::unistd::getppid() != supervisor {
                        return Err(io::Error::other("supervisor exited during spawn"));
                    }
                    Ok(())
                });
            }
            // Last: its hook execs.
            super::own_pid::arrange(cmd)?;
        }
        #[cfg(not(target_os = "linux"))]
        // SAFETY: as above (sigaction, sigprocmask only).
        unsafe {
            cmd.pre_exec(move || default_caught_signals(&original, last_signal));
        }
        // Every signal blocked from before the fork until the child has reset its
        // handlers (see `default_caught_signals`).
        let all = nix::sys::signal::SigSet::all();
        all.thread_block()?;
        let spawned = cmd.spawn();
        let _ = original.thread_set_mask();
        let process = super::Process::new(spawned?)?;
        Ok(ChildTree { process })
    }

    /// Ask the whole group to stop. Returns whether a request was delivered. The
    /// child's stdin pipe stays open: on Unix the signal is the graceful step, and a
    /// child that reads stdin must not see end-of-file while it shuts down.
    pub fn send_stop_signal(&mut self, sig: StopSignal) -> io::Result<bool> {
        signal_group(self.pid(), to_nix(sig)).map(|()| true)
    }

    /// Whether `pid` is in the child's tree: a member of its process group.
    pub fn contains(&self, pid: u32) -> bool {
        nix::unistd::getpgid(Some(Pid::from_raw(pid as i32)))
            .is_ok_and(|g| g.as_raw() == self.pid() as i32)
    }

    /// Start a helper for this child (the `[stop] command`). On Unix it is an ordinary
    /// child of the supervisor.
    pub fn spawn_helper(&self, cmd: &mut tokio::process::Command) -> io::Result<super::Helper> {
        self.helper_spawner().spawn(cmd)
    }

    /// [`ChildTree::spawn_helper`] for a task that outlives this borrow (health probes).
    pub fn helper_spawner(&self) -> HelperSpawner {
        HelperSpawner
    }

    /// Kill the whole group, including what the child started. Idempotent.
    ///
    /// Also called after tokio reaped the child: the group id stays reserved while
    /// any member lives (the kernel won't hand out a pid in use as a group id), and
    /// when none does, the signal finds nobody (ESRCH); only a full wrap of the pid
    /// space in the microseconds between the reap and this call could make it name
    /// a stranger's new group.
    pub fn kill_tree(&self) {
        let _ = signal_group(self.pid(), Signal::SIGKILL);
    }
}

/// In the child, between fork and exec: a signal that arrived there would run the
/// supervisor's own handlers, which write to the supervisor's signal pipe, so a stop
/// signal sent to a child that has just started reached the supervisor as its own
/// (found by the soak, issue 26 item 8: a restart right after a start then stopped
/// the service). The parent blocks every signal across the fork; here each caught
/// signal gets its default action (as exec would give it), then the supervisor's
/// mask is restored, so a signal that came meanwhile acts on the child.
///
/// # Safety
/// Only between fork and exec: async-signal-safe calls only.
unsafe fn default_caught_signals(
    original: &nix::sys::signal::SigSet,
    last_signal: i32,
) -> io::Result<()> {
    use nix::libc;
    for sig in 1..=last_signal {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a zeroed sigaction is a valid out-parameter; sigaction is
        // async-signal-safe.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        if unsafe { libc::sigaction(sig, std::ptr::null(), &mut current) } != 0 {
            continue;
        }
        if current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN {
            let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
            default.sa_sigaction = libc::SIG_DFL;
            unsafe { libc::sigaction(sig, &default, std::ptr::null_mut()) };
        }
    }
    original.thread_set_mask()?;
    Ok(())
}

/// Starts helpers for a child (see [`ChildTree::helper_spawner`]): on Unix, ordinary
/// children of the supervisor.
#[derive(Clone)]
pub struct HelperSpawner;

impl HelperSpawner {
    pub fn spawn(&self, cmd: &mut tokio::process::Command) -> io::Result<super::Helper> {
        cmd.spawn().map(super::Helper::Tokio)
    }
}

/// SIGKILL the group of our own child, by pid, when the `ChildTree` is out of reach
/// (the supervisor is about to exit). Only for a child not reaped yet.
pub fn kill_child_group(pid: u32) {
    let _ = signal_group(pid, Signal::SIGKILL);
}

fn signal_group(pgid: u32, sig: Signal) -> io::Result<()> {
    match killpg(Pid::from_raw(pgid as i32), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn to_nix(sig: StopSignal) -> Signal {
    match sig {
        StopSignal::Term => Signal::SIGTERM,
        StopSignal::Int => Signal::SIGINT,
        StopSignal::Hup => Signal::SIGHUP,
        StopSignal::Quit => Signal::SIGQUIT,
        StopSignal::Usr1 => Signal::SIGUSR1,
        StopSignal::Usr2 => Signal::SIGUSR2,
    }
}

/// The process's start time in clock ticks since boot (Linux), an identity that a
/// recycled pid does not share. `None` where it can't be read.
pub fn start_token(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn is_alive(pid: u32) -> bool {
    matches!(
        kill(Pid::from_raw(pid as i32), None),
        Ok(()) | Err(Errno::EPERM)
    )
}

/// After a supervisor crash: kill the process group a previous supervisor started,
/// but only if it is verifiably that group (see [`super::kill_leftover_tree_checked`]).
/// `same_boot`: the state file was written in this boot. Returns whether anything was
/// killed.
#[cfg(target_os = "linux")]
pub fn kill_leftover_tree(pid: u32, token: Option<u64>, same_boot: bool) -> bool {
    super::kill_leftover_tree_checked(pid, token, same_boot)
}

/// Without /proc (macOS) there is no start time to compare: a live leader is left
/// alone, and a group whose leader is gone but which still has members is killed, since
/// the kernel does not hand out a pid that is still in use as a process group id.
/// (launchd, the usual macOS backend, kills the tree itself.)
#[cfg(not(target_os = "linux"))]
pub fn kill_leftover_tree(pid: u32, token: Option<u64>, _same_boot: bool) -> bool {
    let leader_alive = is_alive(pid);
    let ours = if leader_alive {
        token.is_some() && start_token(pid) == token
    } else {
        killpg(Pid::from_raw(pid as i32), None).is_ok()
    };
    if ours {
        let _ = signal_group(pid, Signal::SIGKILL);
    }
    ours
}

/// Which file an open handle is (device and inode), to tell a rotated log from the
/// new one under the same name.
pub fn file_identity(file: &std::fs::File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// Exit status of a child, in our terms.
pub fn exit_kind(status: std::process::ExitStatus) -> ExitKind {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitKind::Code(code),
        (None, Some(sig)) => ExitKind::Signal(sig),
        (None, None) => ExitKind::Code(-1),
    }
}

/// Ask a running supervisor to stop (SIGTERM) or to restart its child (SIGHUP).
/// `_suffix` names a Windows supervisor's control pipe; unused here.
pub fn signal_supervisor(pid: u32, _suffix: Option<&str>, control: Control) -> io::Result<()> {
    let sig = match control {
        Control::Restart => Signal::SIGHUP,
        Control::Stop => Signal::SIGTERM,
        Control::SessionChanged => return Err(Control::not_from_a_client()),
    };
    kill(Pid::from_raw(pid as i32), sig).map_err(io::Error::from)
}

/// Send a control in the words of the negotiated protocol (issue 26 item 3): on Unix
/// the signal is the request, the same in every protocol so far, and `_line` (the
/// Windows pipe's words) is unused.
pub fn send_control(
    pid: u32,
    suffix: Option<&str>,
    control: Control,
    _line: &str,
) -> io::Result<()> {
    signal_supervisor(pid, suffix, control)
}

/// Make a launched process independent of our terminal's job control, so closing the
/// terminal or pressing Ctrl+C in it does not reach the background supervisor.
pub fn detach(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
}

/// Start a detached supervisor (`respawn start`). Unix has no job to break away from;
/// returns the child and no note.
pub fn spawn_detached(
    cmd: &mut std::process::Command,
) -> io::Result<(std::process::Child, Option<String>)> {
    detach(cmd);
    cmd.spawn().map(|c| (c, None))
}

/// Windows' crash dialogs have no Unix counterpart.
pub fn quiet_crash_dialogs() {}

/// Unix children get only the stdio we give them (std sets close-on-exec elsewhere).
pub fn keep_std_handles_to_ourselves() {}

/// Who a child runs as is only recorded on Windows, where the service host starts it
/// with another account's token (issue 15); on Unix the unit or agent says.
pub fn child_identity(_pid: u32) -> Option<crate::run_as::identity::ChildIdentity> {
    None
}
