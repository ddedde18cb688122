//! The stop sequence: ask the child to stop with the spec's method (a signal, a
//! command, a marker file, closing stdin), wait up to the stop timeout or a further
//! stop request, then kill the whole tree. A stop that arrives while a planned stop is
//! under way is the first stop of the run, never a second one (issue 26 item 3).

use super::*;

impl Supervisor {
    /// Graceful stop: ask with the spec's stop method, wait up to the stop timeout (or
    /// a second stop request), then kill the whole tree. Returns the child's exit and,
    /// for a planned stop, whether a stop request came meanwhile: that one is the
    /// first stop (the graceful wait goes on; only a further stop kills at once), and
    /// the run must end stopped instead of starting the child again.
    pub(super) async fn stop_child(
        &mut self,
        child: &mut ChildTree,
        controls: &mut mpsc::UnboundedReceiver<Control>,
        kind: StopKind,
    ) -> (ExitKind, bool) {
        self.health.child_gone();
        self.state.state = RunState::Stopping;
        self.save();
        let timeout = self.health.stop_timeout(self.spec.stop.timeout);
        let asked = match self.request_graceful_stop(child).await {
            Ok(asked) => asked,
            Err(e) => {
                self.event(&format!("graceful stop request failed: {e}"));
                false
            }
        };
        let mut exit = None;
        let mut stop_seen = false;
        if asked {
            let deadline = tokio::time::Instant::now() + timeout;
            let mut listening = true;
            loop {
                tokio::select! {
                    r = child.wait() => {
                        exit = r.ok();
                        break;
                    }
                    () = tokio::time::sleep_until(deadline) => {
                        self.event(&format!("child did not stop within {}; killing it", humantime::format_duration(timeout)));
                        break;
                    }
                    control = controls.recv(), if listening => match control {
                        Some(Control::Stop) if kind == StopKind::Planned && !stop_seen => {
                            stop_seen = true;
                            self.stop_requested = true;
                            self.event("stop requested during a planned stop; the child keeps its graceful stop, and is not started again");
                        }
                        Some(Control::Stop) => {
                            self.event("second stop request; killing the child now");
                            break;
                        }
                        // Already stopping; the next start (if any) plans afresh.
                        Some(Control::Restart | Control::SessionChanged) => {}
                        // Nobody can ask any more: wait for the child or the timeout.
                        None => {
                            listening = false;
                            stop_seen |= kind == StopKind::Planned;
                        }
                    },
                }
            }
        }
        child.kill_tree();
        let exit = match exit {
            Some(e) => e,
            None => child.wait().await.unwrap_or(ExitKind::Code(-1)),
        };
        self.record_exit(exit);
        self.end_tree(child.pid()).await;
        self.event(&format!("child stopped ({exit})"));
        if kind == StopKind::Planned {
            // Requests that came while nothing listened (no graceful wait, the drain).
            stop_seen |= stop_waiting(controls);
        }
        (exit, stop_seen)
    }

    /// The pid a stop request names: the program's own (pid_file) when it is known
    /// and still the same process, else the child's. The pid file is looked at again,
    /// off the engine's thread, for at most [`main_pid::STOP_READ_LIMIT`] (or the stop
    /// timeout): a read that never returns does not hang the stop (issue 25); the pid
    /// known before is asked then.
    /// (`&mut`: a shared borrow held across the wait would need the child to be
    /// `Sync`, which its Windows pipes are not.)
    async fn stop_target(&mut self, child: &mut ChildTree) -> u32 {
        let mut known = true;
        if let Some(path) = self.spec.pid_file.clone() {
            let limit = main_pid::STOP_READ_LIMIT.min(self.spec.stop.timeout);
            let deadline = tokio::time::Instant::now() + limit;
            loop {
                self.pid_reader.look(&path);
                match tokio::time::timeout_at(deadline, self.pid_reader.done()).await {
                    Ok(Some(read)) => {
                        known = self.take_main_pid(read, &*child);
                        break;
                    }
                    // A read for the child before: look again.
                    Ok(None) => continue,
                    Err(_) => {
                        self.event(&format!(
                            "pid_file {}: the read did not return within {}; stopping {} instead",
                            path.display(),
                            humantime::format_duration(limit),
                            match self.state.main_pid {
                                Some(pid) => format!("the main pid known before ({pid})"),
                                None => "the child".to_string(),
                            }
                        ));
                        break;
                    }
                }
            }
        }
        if let (true, Some(pid)) = (known, self.state.main_pid) {
            if os::start_token(pid) == self.state.main_start_token {
                return pid;
            }
        }
        child.pid()
    }

    /// Returns whether a graceful request was made (and so is worth waiting for).
    async fn request_graceful_stop(&mut self, child: &mut ChildTree) -> std::io::Result<bool> {
        // Only the methods that name a pid look for it.
        let pid = match &self.spec.stop.method {
            StopMethod::Command(_) | StopMethod::File { .. } => self.stop_target(child).await,
            StopMethod::Signal(_) | StopMethod::Kill => child.pid(),
        }
        .to_string();
        let fill = |text: &str| fill_placeholders(text, &pid);
        match &self.spec.stop.method {
            StopMethod::Signal(sig) => child.send_stop_signal(*sig),
            StopMethod::Command(argv) => {
                let argv: Vec<String> = argv.iter().map(|a| fill(a)).collect();
                let mut cmd = tokio::process::Command::new(&argv[0]);
                cmd.args(&argv[1..])
                    .envs(&self.spec.env)
                    .stdin(Stdio::null());
                // In the child's job (Windows), hidden, as the child's user when it was
                // started with a user's token; Tokio reaps it, so the sweep must not
                // take it for an escaped descendant.
                self.reaper
                    .spawn_tracked(|| child.spawn_helper(&mut cmd), |c| c.id(), false)
                    .map(|_| true)
            }
            StopMethod::File { path, contents } => {
                let write = || write_atomic(path, fill(contents).as_bytes()).map(|()| true);
                // A file of the user's (Hermes' planned-stop marker in HERMES_HOME) is
                // written with the user's rights, never SYSTEM's.
                #[cfg(windows)]
                if let Some(launcher) = &self.launcher {
                    return launcher.as_user(write)?;
                }
                write()
            }
            StopMethod::Kill => Ok(false),
        }
    }
}

/// Why the engine stops the child: a stop request ends the run; a planned stop
/// (restart, spec reload, session move) is followed by a new start.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum StopKind {
    Requested,
    Planned,
}

/// Take the requests already waiting; whether a stop (or a closed channel) is among
/// them. The others (restart, session change) are moot before a new start.
pub(super) fn stop_waiting(controls: &mut mpsc::UnboundedReceiver<Control>) -> bool {
    use mpsc::error::TryRecvError;
    loop {
        match controls.try_recv() {
            Ok(Control::Stop) | Err(TryRecvError::Disconnected) => return true,
            Ok(Control::Restart | Control::SessionChanged) => {}
            Err(TryRecvError::Empty) => return false,
        }
    }
}

/// `{pid}`, `{supervisor_pid}` and `{now}` in stop commands and stop files.
pub fn fill_placeholders(text: &str, pid: &str) -> String {
    text.replace("{pid}", pid)
        .replace("{supervisor_pid}", &std::process::id().to_string())
        .replace(
            "{now}",
            &humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        )
}
