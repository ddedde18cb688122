//! The pure core of readiness and health: [`Machine`] is told what happened (a
//! notify message, a probe result, a deadline) and when, and answers what changed or
//! that the child failed. No I/O, no clock of its own: table-tested.

use crate::spec::health::{HealthConfig, Readiness};
use crate::state::health::HealthState;
use crate::supervisor::notify::Notify;
use crate::text::secs;
use std::time::Duration;
use tokio::time::Instant;

/// What the machine says after an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing worth saving.
    Same,
    /// The snapshot changed; lines for the log.
    Changed(Vec<String>),
    /// The child is unhealthy: stop it and restart it as a failure.
    Failed(String),
    /// The child missed its watchdog (or says it is broken): the same, but it gets
    /// at most one watchdog interval to stop gracefully.
    Hung(String),
}

/// The readiness and health of one child run. Pure: the caller passes the time.
#[derive(Debug)]
pub struct Machine {
    cfg: HealthConfig,
    started: Instant,
    ready: bool,
    healthy: Option<bool>,
    failures: u32,
    watchdog: Option<Duration>,
    watchdog_deadline: Option<Instant>,
    ready_deadline: Option<Instant>,
    stopping: bool,
    status: Option<String>,
    main_pid: Option<u32>,
    last_probe: Option<(bool, String)>,
}

/// Upper bound for a deadline moved by the child (EXTEND_TIMEOUT_USEC, WATCHDOG_USEC).
const MAX_EXTENSION: Duration = Duration::from_secs(24 * 3600);

impl Machine {
    pub fn new(cfg: HealthConfig, now: Instant) -> Machine {
        let ready = cfg.ready == Readiness::Started;
        Machine {
            ready_deadline: (!ready).then(|| now + cfg.ready_timeout),
            watchdog: cfg.watchdog,
            cfg,
            started: now,
            ready,
            healthy: None,
            failures: 0,
            watchdog_deadline: None,
            stopping: false,
            status: None,
            main_pid: None,
            last_probe: None,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The earliest time [`Machine::on_deadline`] must be called, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.watchdog_deadline, self.ready_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Messages from the child's tree (already checked to come from it).
    pub fn on_notify(&mut self, msgs: &[Notify], now: Instant) -> Verdict {
        // Long on purpose: one arm per sd_notify message, each a few lines.
        let mut logs = Vec::new();
        let mut changed = false;
        // The watchdog is armed by the child's first message: a program whose own
        // watchdog is switched off is not killed for its silence.
        if let (Some(interval), None, false) =
            (self.watchdog, self.watchdog_deadline, self.stopping)
        {
            self.watchdog_deadline = Some(now + interval);
        }
        for msg in msgs {
            match msg {
                Notify::Watchdog => {
                    if let (Some(interval), false) = (self.watchdog, self.stopping) {
                        self.watchdog_deadline = Some(now + interval);
                    }
                }
                Notify::WatchdogTrigger => {
                    return Verdict::Hung(
                        "watchdog triggered by the service (WATCHDOG=trigger)".into(),
                    )
                }
                Notify::WatchdogUsec(usec) => {
                    if self.watchdog.is_some() && !self.stopping {
                        let d = Duration::from_micros(*usec)
                            .clamp(Duration::from_millis(100), MAX_EXTENSION);
                        self.watchdog = Some(d);
                        self.watchdog_deadline = Some(now + d);
                        logs.push(format!(
                            "the service set its watchdog to {}",
                            humantime::format_duration(d)
                        ));
                    }
                }
                Notify::Ready => {
                    if !self.ready && self.cfg.ready == Readiness::Notify {
                        self.ready = true;
                        self.ready_deadline = None;
                        changed = true;
                        logs.push(format!(
                            "ready (READY=1) {} after start",
                            secs(now - self.started)
                        ));
                    }
                }
                Notify::Stopping => {
                    if !self.stopping {
                        self.stopping = true;
                        self.watchdog_deadline = None;
                        changed = true;
                        logs.push("the service says it is stopping (STOPPING=1)".into());
                    }
                }
                Notify::Status(s) => {
                    if self.status.as_deref() != Some(s) {
                        self.status = Some(s.clone());
                        changed = true;
                    }
                }
                Notify::MainPid(pid) => {
                    if self.main_pid != Some(*pid) {
                        self.main_pid = Some(*pid);
                        changed = true;
                        logs.push(format!("the service names pid {pid} as its main process"));
                    }
                }
                Notify::ExtendTimeoutUsec(usec) => {
                    if let Some(d) = self.ready_deadline.as_mut() {
                        let until = now + Duration::from_micros(*usec).min(MAX_EXTENSION);
                        if until > *d {
                            *d = until;
                        }
                    }
                }
                Notify::Other(_) => {}
            }
        }
        if changed || !logs.is_empty() {
            Verdict::Changed(logs)
        } else {
            Verdict::Same
        }
    }

    /// The spec's `pid_file` named a process in the child's tree (readiness "pid-file").
    pub fn on_main_pid(&mut self, pid: u32, now: Instant) -> Verdict {
        if self.ready || self.cfg.ready != Readiness::PidFile {
            return Verdict::Same;
        }
        self.ready = true;
        self.ready_deadline = None;
        Verdict::Changed(vec![format!(
            "ready (its pid_file names pid {pid}, in the child's tree) {} after start",
            secs(now - self.started)
        )])
    }

    /// A probe's answer. Always a change (the last probe is shown with its time).
    pub fn on_probe(&mut self, ok: bool, detail: &str, now: Instant) -> Verdict {
        self.last_probe = Some((ok, detail.to_string()));
        let Some(probe) = &self.cfg.probe else {
            return Verdict::Same;
        };
        let mut logs = Vec::new();
        if ok {
            if self.healthy != Some(true) {
                logs.push(format!("health check passed: {detail}"));
            }
            self.failures = 0;
            self.healthy = Some(true);
            if !self.ready && self.cfg.ready == Readiness::Probe {
                self.ready = true;
                self.ready_deadline = None;
                logs.push(format!(
                    "ready (probe passed) {} after start",
                    secs(now - self.started)
                ));
            }
            return Verdict::Changed(logs);
        }
        // Until a probe has passed, failures do not count while the child is still
        // starting: in the start period, or (with probe readiness) until the ready
        // timeout, which bounds that wait on its own.
        let starting =
            self.cfg.ready == Readiness::Probe || now - self.started < probe.start_period;
        let grace = starting && self.healthy != Some(true);
        if grace {
            return Verdict::Changed(logs);
        }
        self.failures += 1;
        if self.failures >= probe.failures {
            self.healthy = Some(false);
            return Verdict::Failed(format!(
                "health check failed: {detail} ({} in a row)",
                self.failures
            ));
        }
        logs.push(format!(
            "health check failed ({} of {}): {detail}",
            self.failures, probe.failures
        ));
        Verdict::Changed(logs)
    }

    /// Called at (or after) [`Machine::next_deadline`].
    pub fn on_deadline(&mut self, now: Instant) -> Verdict {
        if self.watchdog_deadline.is_some_and(|d| d <= now) {
            let interval = self.watchdog.unwrap_or_default();
            return Verdict::Hung(format!(
                "watchdog timeout: no WATCHDOG=1 within {}",
                secs(interval)
            ));
        }
        if self.ready_deadline.is_some_and(|d| d <= now) {
            return Verdict::Failed(format!(
                "not ready within {} of its start",
                secs(self.cfg.ready_timeout)
            ));
        }
        Verdict::Same
    }

    /// The fields the state file shows (those this machine owns).
    pub fn fill(&self, h: &mut HealthState) {
        h.ready = self.ready;
        h.healthy = self.healthy;
        h.notify_status = self.status.clone();
        h.notify_main_pid = self.main_pid;
    }
}
