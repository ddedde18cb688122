//! Linux: a sentinel process that outlives a SIGKILLed supervisor by a moment, to kill
//! the child's process group then.
//!
//! A supervisor killed with SIGKILL runs no code; PDEATHSIG takes only its direct
//! child, and the child's own children would live on until the next supervisor starts.
//! So the supervisor forks, at start and while it still has one thread, a tiny
//! process that holds the read end of a pipe (the supervisor holds the write end,
//! close-on-exec, so no child inherits it) and learns through it which group is the
//! current child's, with the child's start time. When the supervisor dies, however it
//! dies, the kernel closes the write end: the sentinel reads EOF, kills the group it
//! was told about (only members whose identity matches: see
//! `kill_leftover_tree_checked`), and exits. On a normal exit the group is already
//! gone and was cleared, so it just exits.
//!
//! Not covered: a descendant that had left the child's group (the supervisor kills
//! those itself while it lives, as their subreaper); a sentinel killed together with
//! the supervisor (`kill -9` of both, or a cgroup kill, which takes the tree anyway).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};

pub struct Sentinel {
    pid: u32,
    tx: File,
}

impl Sentinel {
    /// Fork the sentinel of service `name`. Only while this process has a single
    /// thread (forking a threaded process copies locks held by other threads); `None`
    /// otherwise, or when the fork fails: the next supervisor's cleanup remains.
    pub fn start(name: &str) -> Option<Sentinel> {
        if thread_count() != Some(1) {
            return None;
        }
        let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
        // SAFETY: single-threaded (checked above), so the child may run any code.
        match unsafe { nix::unistd::fork() }.ok()? {
            nix::unistd::ForkResult::Child => {
                drop(tx);
                // Its own command line, so `ps`/`pgrep -f` never show it as a second
                // `respawn run --spec …` (a fork keeps the parent's argv).
                retitle(&format!("respawn: sentry of {name}"));
                watch(rx)
            }
            nix::unistd::ForkResult::Parent { child } => Some(Sentinel {
                pid: child.as_raw() as u32,
                tx: File::from(tx),
            }),
        }
    }

    /// Start a new sentinel in a process that has threads (the one started at the
    /// supervisor's start was killed): not a fork that runs our code, but respawn's own
    /// program run again ([`SERVE_ARG`]) with the pipe as its stdin. Called while
    /// `hold` keeps the reaper from taking it before its pid is known.
    pub fn spawn(name: &str) -> std::io::Result<Sentinel> {
        use std::process::{Command, Stdio};
        let mut child = Command::new("/proc/self/exe")
            .arg(SERVE_ARG)
            .arg(name)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        // Dropping `child` neither kills nor waits: `finish` and the reaper do.
        Ok(Sentinel {
            pid: child.id(),
            tx: File::from(OwnedFd::from(stdin)),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the sentinel has ended; reaps it then (so it is no zombie of ours).
    pub fn ended(&self) -> Option<String> {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        match waitpid(
            nix::unistd::Pid::from_raw(self.pid as i32),
            Some(WaitPidFlag::WNOHANG),
        ) {
            Ok(WaitStatus::Exited(_, code)) => Some(format!("exited with code {code}")),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("was killed by {sig}")),
            Ok(_) => None,
            Err(e) => Some(format!("is gone ({e})")),
        }
    }

    /// On a normal exit: close the pipe and reap the sentinel (it exits at once), so it
    /// is not left to an init that might not reap it.
    pub fn finish(self) {
        let Sentinel { pid, tx } = self;
        drop(tx);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
    }

    /// The current child's group and start time (`None`: no child now).
    pub fn tell(&mut self, child: Option<(u32, u64)>) {
        let (pgid, token) = child.unwrap_or((0, 0));
        // One write (one syscall, on the restart path), not one per formatted piece.
        let _ = self.tx.write_all(format!("{pgid} {token}\n").as_bytes());
    }
}

/// The argument that makes respawn's program a sentinel reading its stdin
/// ([`Sentinel::spawn`]); checked before any command-line parsing.
pub const SERVE_ARG: &str = "__respawn-sentry";

/// `respawn __respawn-sentry NAME`: be a sentinel whose pipe is stdin, shown in `ps`
/// as the first one is.
pub fn serve_stdin() -> ! {
    let name = std::env::args().nth(2).unwrap_or_default();
    retitle(&format!("respawn: sentry of {name}"));
    // SAFETY: fd 0 is ours, given by the supervisor that started us; nothing else
    // in this process uses it.
    let rx = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(0) };
    watch(rx)
}

fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// The sentinel's whole life: detach, wait for EOF, clean up, exit.
fn watch(rx: OwnedFd) -> ! {
    detach(rx.as_raw_fd());
    // It only reads a pipe and may kill a group: the supervisor's startup pages
    // are not its own.
    super::shed_startup_pages();
    let mut current: Option<(u32, u64)> = None;
    for line in BufReader::new(File::from(rx)).lines() {
        let Ok(line) = line else { break };
        let mut parts = line.split_whitespace().map(|p| p.parse::<u64>().ok());
        current = match (parts.next().flatten(), parts.next().flatten()) {
            (Some(pgid), Some(token)) if pgid > 0 => Some((pgid as u32, token)),
            _ => None,
        };
    }
    if let Some((pgid, token)) = current {
        // Twice: a member may fork while the first round is under way.
        for _ in 0..2 {
            super::kill_leftover_tree_checked(pgid, Some(token), true);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    std::process::exit(0)
}

/// Hold nothing of the supervisor's: not its lock (a shared open file description
/// would keep the lock held after the supervisor died), not its stdio (a `start`
/// waiting for EOF on the supervisor's stderr would wait for us), not its terminal.
fn detach(keep: i32) {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .ok();
    let null_fd = null.as_ref().map(|f| f.as_raw_fd());
    for fd in fds {
        if fd == keep || Some(fd) == null_fd {
            continue;
        }
        if fd <= 2 {
            if let Some(n) = null_fd {
                // SAFETY: plain dup2 onto our own stdio numbers.
                unsafe { nix::libc::dup2(n, fd) };
            }
        } else {
            // SAFETY: closing descriptors we own (copies made by fork) and never use.
            unsafe { nix::libc::close(fd) };
        }
    }
    let _ = nix::unistd::setsid();
    let _ = nix::sys::prctl::set_name(c"respawn-sentry");
}

/// Overwrite this process's command line (what `/proc/PID/cmdline`, `ps` and `pgrep
/// -f` show) in place, as setproctitle does: the kernel reads it from the argv area
/// of our own stack, `arg_start..arg_end` of `/proc/self/stat`. The title is cut to
/// that area and the rest zeroed, so nothing of the old arguments remains.
fn retitle(title: &str) {
    let Some((start, end)) = argv_area() else {
        return;
    };
    let len = end.saturating_sub(start);
    if len < 2 {
        return;
    }
    let mut bytes = title.as_bytes().to_vec();
    bytes.truncate(len - 1);
    bytes.resize(len, 0);
    // SAFETY: `start..end` is this process's argv area (the kernel's own record of
    // it), mapped and writable for the life of the process; after the fork no other
    // thread exists, and nothing here reads argv again (std copied it at start).
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), start as *mut u8, len) };
}

/// `arg_start` and `arg_end`: fields 48 and 49 of `/proc/self/stat` (Linux 3.5+),
/// counted after the `comm` field, which may itself hold spaces and parentheses.
fn argv_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    // after_comm starts at field 3; field N is at index N - 3.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let start = fields.get(48 - 3)?.parse().ok()?;
    let end = fields.get(49 - 3)?.parse().ok()?;
    (start != 0 && end > start).then_some((start, end))
}
