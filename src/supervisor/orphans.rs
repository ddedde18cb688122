//! Descendants that leave the child's process group.
//!
//! A daemonizing child (fork, setsid, fork again) puts its survivor in a new session,
//! out of reach of a signal to the child's group. On Linux the supervisor is a child
//! subreaper, so every descendant orphaned while it lives becomes *its* child: when the
//! child's tree goes (exit, restart, stop), whatever is left among our own children
//! is part of that tree and is killed, by pid, and reaped. Our own unreaped children
//! are the one kind of process whose identity needs no check: the kernel can't give
//! their pids to anybody else before we reap them.
//!
//! A supervisor killed with SIGKILL runs no code. Its direct child dies with it
//! (PDEATHSIG); the rest of the child's group is killed by the sentinel ([`Sentry`],
//! `os::Sentinel`), or failing that by the next supervisor (`os::kill_leftover_tree`).
//! What is not covered, and can't be without systemd's cgroup: a descendant that had
//! escaped the group is reparented to init and lives on.
//! Elsewhere (macOS) there is no subreaper: everything here is a no-op, and only the
//! process group is killed. Windows needs none of it: the Job Object holds the tree.

use std::sync::{Arc, Mutex};
#[cfg(unix)]
use std::time::Duration;

/// Knows which of our children tokio waits for, so the reaper leaves them alone.
#[derive(Clone, Default)]
pub struct Reaper {
    /// Our direct child and any stop command: reaped by tokio, not by us.
    theirs: Arc<Mutex<Vec<u32>>>,
    /// Children that are not part of any child's tree (the sentinel).
    #[cfg(unix)]
    keep: Arc<Mutex<Vec<u32>>>,
    /// Woken at every SIGCHLD, so the engine can see a lost sentinel at once.
    sigchld: Arc<tokio::sync::Notify>,
}

/// Linux: the sentinel that kills the child's group if the supervisor is SIGKILLed
/// (see `os::Sentinel`). Elsewhere nothing.
#[derive(Default)]
pub struct Sentry {
    #[cfg(target_os = "linux")]
    sentinel: Option<crate::os::Sentinel>,
    /// What it was told last, for a replacement.
    #[cfg(target_os = "linux")]
    current: Option<(u32, u64)>,
    /// The service's name, which a replacement shows in `ps` too.
    #[cfg(target_os = "linux")]
    service: String,
}

impl Sentry {
    /// Start it while the process is still single-threaded (before the runtime);
    /// `service` names it in `ps` (`respawn: sentry of NAME`).
    pub fn start(reaper: &Reaper, service: &str) -> Sentry {
        #[cfg(target_os = "linux")]
        {
            let sentinel = crate::os::Sentinel::start(service);
            if let Some(s) = &sentinel {
                reaper.keep.lock().expect("reaper lock").push(s.pid());
            }
            Sentry {
                sentinel,
                current: None,
                service: service.to_string(),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (reaper, service);
            Sentry::default()
        }
    }

    /// The supervisor ends normally: the sentinel is no longer needed.
    pub fn finish(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(s) = self.sentinel.take() {
            s.finish();
        }
    }

    /// The current child's group and start token, or `None` once its tree is gone.
    pub fn tell(&mut self, child: Option<(u32, Option<u64>)>) {
        #[cfg(target_os = "linux")]
        {
            self.current = child.and_then(|(pgid, token)| Some((pgid, token?)));
            if let Some(s) = self.sentinel.as_mut() {
                s.tell(self.current);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = child;
    }

    /// A sentinel that ended while the supervisor lives (someone killed it) is reaped
    /// and replaced, told the current child; what happened, in words, for the log.
    /// `None` while it runs (or where there is none).
    pub fn replace_if_ended(&mut self, reaper: &Reaper) -> Option<String> {
        #[cfg(target_os = "linux")]
        {
            let old = self.sentinel.as_ref()?;
            let how = old.ended()?;
            let old_pid = old.pid();
            let mut keep = reaper.keep.lock().expect("reaper lock");
            keep.retain(|p| *p != old_pid);
            // Under the reaper's lock: its pid is kept before any sweep can see it.
            let started = crate::os::Sentinel::spawn(&self.service);
            let what = match started {
                Ok(mut new) => {
                    keep.push(new.pid());
                    new.tell(self.current);
                    let line = format!(
                        "the sentry (pid {old_pid}) {how}; started a new one (pid {})",
                        new.pid()
                    );
                    self.sentinel = Some(new);
                    line
                }
                Err(e) => {
                    self.sentinel = None;
                    format!(
                        "the sentry (pid {old_pid}) {how}; cannot start a new one ({e}): if this supervisor is killed, the next one cleans up after it"
                    )
                }
            };
            Some(what)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = reaper;
            None
        }
    }
}

/// A new child that a sweep of the old tree must leave alone, with what it starts.
#[derive(Clone, Copy, Debug)]
pub struct Spare {
    /// Its process group (its pid).
    pub pgid: u32,
    /// Its start time (clock ticks since boot), when known.
    pub start: Option<u64>,
}

impl Spare {
    #[cfg(unix)]
    fn covers(&self, c: &crate::os::ProcInfo) -> bool {
        c.pgid == self.pgid || self.start.is_some_and(|start| c.start >= start)
    }
}

#[cfg(unix)]
/// How long a sweep may go on killing what keeps appearing (each kill can orphan
/// more descendants, which reparent to us a moment later).
const SWEEP_LIMIT: Duration = Duration::from_secs(1);

impl Reaper {
    /// Become the subreaper of our descendants and reap the orphans among them on every
    /// SIGCHLD. Must run inside the runtime, before the first child starts.
    pub fn listen(&self) {
        #[cfg(unix)]
        {
            crate::os::become_subreaper();
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut sigchld) = signal(SignalKind::child()) {
                let r = self.clone();
                tokio::spawn(async move {
                    while sigchld.recv().await.is_some() {
                        r.reap();
                        r.sigchld.notify_one();
                    }
                });
            }
        }
    }

    /// Returns at the next SIGCHLD (a child of ours ended; Unix), never elsewhere.
    pub async fn child_exited(&self) {
        self.sigchld.notified().await
    }

    /// Run `spawn` (which starts a process tokio will wait for) so that the reaper
    /// can't take that process between its start and `pid` being recorded.
    pub fn spawn_tracked<T>(
        &self,
        spawn: impl FnOnce() -> std::io::Result<T>,
        pid: impl Fn(&T) -> Option<u32>,
        replace: bool,
    ) -> std::io::Result<T> {
        let mut theirs = self.theirs.lock().expect("reaper lock");
        let spawned = spawn()?;
        if replace {
            theirs.clear();
        }
        theirs.extend(pid(&spawned));
        Ok(spawned)
    }

    /// Tokio has reaped `pid` (or will, in the background): the reaper may take that
    /// pid again should it ever name an orphan of ours.
    pub fn untrack(&self, pid: u32) {
        self.theirs
            .lock()
            .expect("reaper lock")
            .retain(|p| *p != pid);
    }

    #[cfg(unix)]
    fn theirs(&self) -> Vec<u32> {
        let mut all = self.theirs.lock().expect("reaper lock").clone();
        all.extend(self.keep.lock().expect("reaper lock").iter());
        all
    }

    /// Reap orphans that have exited (they would stay zombies otherwise).
    pub fn reap(&self) {
        #[cfg(unix)]
        {
            crate::os::reap_own_children(&self.theirs());
        }
    }

    /// Right after the child's group `pgid` was killed: whether a descendant that left
    /// that group is now our own child and alive (an escaped one, to be killed before
    /// anything new starts). Reaps the dead meanwhile. One look at
    /// /proc/self/task/*/children, which lists only the sentry in the usual case.
    #[cfg(unix)]
    pub fn escaped_alive(&self, pgid: u32) -> bool {
        use nix::sys::wait::{waitpid, WaitPidFlag};
        let mut alive = false;
        for c in crate::os::own_children(&self.theirs()) {
            if c.zombie {
                let _ = waitpid(
                    nix::unistd::Pid::from_raw(c.pid as i32),
                    Some(WaitPidFlag::WNOHANG),
                );
            } else if c.pgid != pgid {
                alive = true;
            }
        }
        alive
    }

    /// Windows: the Job Object holds the whole tree; nothing can escape it.
    #[cfg(not(unix))]
    pub fn escaped_alive(&self, _pgid: u32) -> bool {
        false
    }

    /// Kill every descendant of the child's tree that is now our own child, after the
    /// child's group was killed. Returns the pids that had left the group `pgid`.
    /// `spare`: a new child started meanwhile (an immediate restart sweeps after the
    /// new fork): its group, and any process started at or after it, are never taken
    /// for the old tree's. (One that did belong to the old tree, born in the same
    /// clock tick, is left to the next sweep: at the next stop or restart.)
    #[cfg(unix)]
    pub async fn sweep(&self, pgid: u32, spare: Option<Spare>) -> Vec<u32> {
        let mut escaped = Vec::new();
        {
            let end = tokio::time::Instant::now() + SWEEP_LIMIT;
            loop {
                self.reap();
                let live: Vec<_> = crate::os::own_children(&self.theirs())
                    .into_iter()
                    .filter(|c| !c.zombie && !spare.is_some_and(|s| s.covers(c)))
                    .collect();
                if live.is_empty() || tokio::time::Instant::now() >= end {
                    break;
                }
                for c in &live {
                    if c.pgid != pgid && !escaped.contains(&c.pid) {
                        escaped.push(c.pid);
                    }
                    crate::os::kill_own_child(c);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        escaped
    }

    /// Windows: the Job Object holds the whole tree; nothing can escape it.
    #[cfg(not(unix))]
    pub async fn sweep(&self, _pgid: u32, _spare: Option<Spare>) -> Vec<u32> {
        Vec::new()
    }

    /// Synchronous last resort (the supervisor is about to exit): kill what is ours now.
    pub fn kill_all_now(&self) {
        #[cfg(unix)]
        for c in crate::os::own_children(&self.theirs()) {
            crate::os::kill_own_child(&c);
        }
    }
}
