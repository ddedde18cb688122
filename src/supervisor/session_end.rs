//! The end of the user's session on Windows (issue 22): Windows ends the processes of
//! a session that logs off (every reboot logs everyone off first) *before* the service
//! host hears of it, so without help the program is killed instead of stopped. A
//! hidden top-level window hears the end first (`WM_QUERYENDSESSION`) and holds it
//! (with a reason Windows shows) until the program has stopped gracefully:
//!
//! - the per-user supervisor (`respawnw.exe run --managed-by user`) owns that window
//!   itself and stops its child like `respawn stop` would ([`stop_before_session_end`]);
//! - a service host runs in session 0, where no window hears a user's session end, so
//!   it starts a *session agent* (`respawnw.exe session-agent`, [`agent`]) in the
//!   user's session with the user's token beside the child. On the query the agent asks
//!   the host, over a pipe the host owns, to move the child out of the ending session
//!   (a planned stop; then S4U or waiting), and answers once the child has exited or
//!   the stop timeout passed. The host believes only the recorded user speaking from
//!   the session the program runs in ([`crate::run_as::session_end::believe_session_end`]).
//!
//! The decisions are in [`crate::run_as::session_end`] (pure); the window and the pipe are `crate::os`'s.

#[cfg(windows)]
pub use windows::*;

#[cfg(windows)]
mod windows {
    use crate::os::{self, SessionEnd};
    use crate::run_as::session_end as rules;
    use crate::supervisor::{Control, StopReason};
    use std::io;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    /// What the agent answers after at most this much more than the stop timeout (the
    /// host kills the child at the timeout; this covers the kill and the last output).
    pub const ANSWER_MARGIN: Duration = Duration::from_secs(10);

    /// The per-user supervisor's side: where its end is told to the session's watcher.
    #[derive(Default)]
    pub struct Gate {
        state: Mutex<GateState>,
        changed: Condvar,
    }

    #[derive(Default)]
    struct GateState {
        /// The supervisor has stopped (its child is gone).
        stopped: bool,
        /// A query is being answered; cleared by the WM_ENDSESSION that follows.
        querying: bool,
    }

    impl Gate {
        fn update(&self, f: impl FnOnce(&mut GateState)) {
            f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
            self.changed.notify_all();
        }

        fn wait_until(&self, limit: Duration, done: impl Fn(&GateState) -> bool) {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let _ = self.changed.wait_timeout_while(state, limit, |s| !done(s));
        }

        /// The supervisor has stopped: a query waiting for it may answer now. Returns
        /// once that answer went out (bounded), so the process does not end mid-answer.
        pub fn stopped(&self) {
            self.update(|s| s.stopped = true);
            self.wait_until(ANSWER_MARGIN, |s| !s.querying);
        }
    }

    /// Stop the supervisor (`tx`) gracefully when the session ends, saying why in its
    /// state (`reason`), and hold the session's end until it stopped or `limit` passed.
    pub fn stop_before_session_end(
        service: &str,
        tx: tokio::sync::mpsc::UnboundedSender<Control>,
        reason: StopReason,
        limit: Duration,
    ) -> io::Result<Arc<Gate>> {
        let gate = Arc::new(Gate::default());
        let watched = gate.clone();
        os::watch_session_end(&rules::block_reason(service), move |event| match event {
            SessionEnd::Query { logoff } => {
                watched.update(|s| s.querying = true);
                reason.set(rules::session_end_reason(logoff));
                let _ = tx.send(Control::Stop);
                watched.wait_until(limit, |s| s.stopped);
            }
            SessionEnd::Ended | SessionEnd::Cancelled => watched.update(|s| s.querying = false),
        })?;
        Ok(gate)
    }

    /// What the agent says to the host.
    pub const ENDING: &str = "ending";
    pub const CONTINUING: &str = "continuing";

    /// The pipe a service host listens on for its session agents.
    pub fn pipe_name(host_pid: u32) -> String {
        format!(r"\\.\pipe\respawn-session-{host_pid}")
    }

    /// The pipe's DACL: LocalSystem and Administrators, and the service's user may read
    /// and write (no right to change the pipe itself).
    pub fn pipe_sddl(user_sid: &str) -> String {
        format!("D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FRFW;;;{user_sid})")
    }

    /// How the host starts an agent beside a child in the user's session.
    #[derive(Clone, Debug)]
    pub struct AgentPlan {
        /// respawnw.exe from the host's own (admin-only) folder.
        pub exe: std::path::PathBuf,
        pub service: String,
        pub host_pid: u32,
        /// The stop timeout plus [`ANSWER_MARGIN`].
        pub limit: Duration,
    }

    impl AgentPlan {
        /// The agent for the service host that runs this code.
        pub fn for_this_host(service: &str, stop_timeout: Duration) -> AgentPlan {
            let me = std::env::current_exe().unwrap_or_default();
            let gui = me.with_file_name("respawnw.exe");
            AgentPlan {
                exe: if gui.is_file() { gui } else { me },
                service: service.to_string(),
                host_pid: std::process::id(),
                limit: stop_timeout + ANSWER_MARGIN,
            }
        }

        /// The agent's arguments, beside the child `child_pid`.
        pub fn args(&self, child_pid: u32) -> Vec<String> {
            vec![
                "session-agent".into(),
                "--service".into(),
                self.service.clone(),
                "--host".into(),
                self.host_pid.to_string(),
                "--child".into(),
                child_pid.to_string(),
                "--limit-secs".into(),
                self.limit.as_secs().to_string(),
            ]
        }
    }

    /// `respawnw.exe session-agent`: runs in the user's session as the user until the
    /// host ends it (it sits in a job the host holds). On the session's end it asks the
    /// host to stop the child and waits for the child's exit, at most `limit`.
    pub fn agent(service: &str, host_pid: u32, child_pid: u32, limit: Duration) -> io::Result<()> {
        let child = os::ProcessWaiter::open(child_pid)?;
        let pipe = pipe_name(host_pid);
        os::watch_session_end(&rules::block_reason(service), move |event| match event {
            SessionEnd::Query { .. } => {
                if matches!(os::request_line(&pipe, host_pid, ENDING), Ok(r) if r == "ok") {
                    child.wait(limit);
                }
            }
            SessionEnd::Cancelled => {
                let _ = os::request_line(&pipe, host_pid, CONTINUING);
            }
            SessionEnd::Ended => {}
        })?;
        loop {
            std::thread::park();
        }
    }
}
