//! Readiness and health: the sd_notify watchdog and probes, in three parts: the pure
//! [`machine`], the [`probes`], and here the async driver.
//!
//! [`Machine`] is the pure core: it is told what happened (a notify message, a probe
//! result, a deadline) and when, and answers what changed or that the child failed.
//! [`Monitor`] is the thin async driver the engine selects on: it owns the notify
//! socket, the probe task and one `sleep_until` for the machine's next deadline, so
//! an idle service wakes only for its probes.

pub mod machine;
pub mod probes;

use super::notify::{self, Notify};
use crate::os::ChildTree;
use crate::spec::health::{HealthConfig, Readiness};
use crate::state::health::ProbeRecord;
use crate::state::{rfc3339, ServiceState};
use std::path::Path;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;

use machine::{Machine, Verdict};
use probes::*;

/// What the engine is told.
#[derive(Debug)]
pub enum HealthEvent {
    /// Save the state; log these lines.
    Changed(Vec<String>),
    /// Stop the child and restart it as a failure, for this reason.
    Failed(String),
}

/// The engine's view of one service's health across its children.
pub struct Monitor {
    cfg: HealthConfig,
    probe_env: ProbeEnv,
    #[cfg(unix)]
    socket: Option<notify::NotifySocket>,
    /// Why there is no notify socket, to log once the child starts.
    socket_error: Option<String>,
    machine: Option<Machine>,
    probes: Option<(tokio::task::JoinHandle<()>, mpsc::Receiver<ProbeAnswer>)>,
    child: Option<u32>,
    refused: u32,
    /// A failure the engine acted on, for the restart decision.
    failed: Option<(String, SystemTime)>,
    /// That failure was a missed watchdog.
    hung: bool,
    last_probe: Option<ProbeRecord>,
}

/// Refusals logged per child; a flood of foreign datagrams must not fill the log.
const MAX_REFUSALS_LOGGED: u32 = 5;

impl Monitor {
    /// The notify socket lives in the service's state dir (Unix).
    pub fn new(cfg: &HealthConfig, probe_env: ProbeEnv, service_dir: &Path) -> Monitor {
        #[cfg(unix)]
        let (socket, socket_error) = match notify::NotifySocket::bind(service_dir) {
            Ok(s) => (Some(s), None),
            Err(e) => (
                None,
                Some(format!(
                    "cannot serve sd_notify in {}: {e}",
                    service_dir.display()
                )),
            ),
        };
        #[cfg(not(unix))]
        let socket_error = {
            let _ = service_dir;
            cfg.watchdog.map(|_| "sd_notify needs AF_UNIX datagram sockets, which Windows lacks; health.watchdog is not applied here (use a probe)".to_string())
        };
        Monitor {
            cfg: cfg.clone(),
            probe_env,
            #[cfg(unix)]
            socket,
            socket_error,
            machine: None,
            probes: None,
            child: None,
            refused: 0,
            failed: None,
            hung: false,
            last_probe: None,
        }
    }

    /// Give the child respawn's notify socket, never one inherited from a service
    /// manager above us (that one belongs to the supervisor's own unit). With a
    /// watchdog, `WATCHDOG_USEC`, and on Linux `WATCHDOG_PID` = the child's own pid, as
    /// systemd sets them: libsystemd's `sd_watchdog_enabled()` then tells only the
    /// child that the watchdog is its to feed, not the programs it starts (they
    /// inherit the variables; without `WATCHDOG_PID` each would take it for its own,
    /// and one could feed the watchdog while the child itself hangs).
    pub fn prepare_command(&self, cmd: &mut tokio::process::Command) {
        for var in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            cmd.env_remove(var);
        }
        #[cfg(unix)]
        if let Some(sock) = &self.socket {
            cmd.env("NOTIFY_SOCKET", sock.path());
            if let Some(w) = self.cfg.watchdog {
                cmd.env("WATCHDOG_USEC", w.as_micros().to_string());
                // Filled in by the spawn (the pid exists only after the fork).
                #[cfg(target_os = "linux")]
                cmd.env("WATCHDOG_PID", crate::os::CHILD_PID);
            }
        }
    }

    /// A new child runs: fresh readiness, probes from now (command probes started
    /// like its other helpers, see [`run_probe`]). Returns log lines.
    pub fn child_started(
        &mut self,
        child: &ChildTree,
        reaper: &super::orphans::Reaper,
        state: &mut ServiceState,
    ) -> Vec<String> {
        let pid = child.pid();
        self.child_gone();
        #[cfg(unix)]
        if let Some(Err(e)) = self.socket.as_mut().map(notify::NotifySocket::activate) {
            self.socket = None;
            self.socket_error = Some(format!("cannot serve sd_notify: {e}"));
        }
        let machine = Machine::new(self.cfg.clone(), Instant::now());
        if !machine.is_ready() {
            state.state = crate::state::RunState::Starting;
        }
        self.machine = Some(machine);
        self.child = Some(pid);
        self.refused = 0;
        self.last_probe = None;
        if let Some(probe) = &self.cfg.probe {
            let (tx, rx) = mpsc::channel(1);
            let task = tokio::spawn(probe_loop(
                probe.clone(),
                self.probe_env.clone(),
                Spawner {
                    helper: child.helper_spawner(),
                    reaper: reaper.clone(),
                },
                tx,
            ));
            self.probes = Some((task, rx));
        }
        self.apply(state);
        self.socket_error.take().into_iter().collect()
    }

    /// The spec's `pid_file` names `pid`, checked to be in the child's tree: ready, with
    /// `ready = "pid-file"`. Returns log lines (none when nothing changed).
    pub fn main_pid_found(&mut self, pid: u32) -> Vec<String> {
        match self
            .machine
            .as_mut()
            .map(|m| m.on_main_pid(pid, Instant::now()))
        {
            Some(Verdict::Changed(lines)) => lines,
            _ => Vec::new(),
        }
    }

    /// Whether readiness waits for the pid file (so it is looked at often until found).
    pub fn waits_for_pid_file(&self) -> bool {
        self.cfg.ready == Readiness::PidFile
    }

    /// The child is gone: no more probes or deadlines until the next start.
    pub fn child_gone(&mut self) {
        if let Some((task, _)) = self.probes.take() {
            task.abort();
        }
        self.machine = None;
        self.child = None;
    }

    /// The reason of the failure the engine is acting on, once.
    pub fn take_failure(&mut self) -> Option<String> {
        self.hung = false;
        self.failed.take().map(|(why, _)| why)
    }

    /// How long a graceful stop may take: a child that missed its watchdog has
    /// already been silent for an interval, so it gets one more, not the whole
    /// stop timeout, before its tree is killed.
    pub fn stop_timeout(&self, spec_timeout: Duration) -> Duration {
        match (self.hung, self.cfg.watchdog) {
            (true, Some(w)) => spec_timeout.min(w),
            _ => spec_timeout,
        }
    }

    /// Copy the current view into the state file's fields.
    pub fn apply(&self, state: &mut ServiceState) {
        let h = &mut state.health;
        match &self.machine {
            Some(m) => m.fill(h),
            None => {
                h.ready = false;
                h.notify_status = None;
                h.notify_main_pid = None;
            }
        }
        h.last_probe = self.last_probe.clone();
        if let Some((why, at)) = &self.failed {
            h.last_failure = Some(why.clone());
            h.last_failure_at = Some(rfc3339(*at));
        }
        if self.machine.as_ref().is_some_and(Machine::is_ready)
            && state.state == crate::state::RunState::Starting
        {
            state.state = crate::state::RunState::Running;
        }
    }

    /// The next thing worth the engine's attention. Cancel-safe; pending forever
    /// while no child runs.
    pub async fn next(&mut self) -> HealthEvent {
        loop {
            let Some(deadline) = self.machine.as_ref().map(Machine::next_deadline) else {
                return std::future::pending().await;
            };
            #[cfg(unix)]
            let socket = self.socket.as_ref();
            #[cfg(not(unix))]
            let socket: Option<&()> = None;
            let got = tokio::select! {
                () = sleep_until_opt(deadline) => Got::Deadline,
                answer = recv_probe(&mut self.probes) => Got::Probe(answer),
                dgram = recv_datagram(socket) => Got::Notify(dgram),
            };
            let verdict = match got {
                Got::Deadline => self.machine_mut().on_deadline(Instant::now()),
                Got::Probe(None) => {
                    // The probe task ended (it never does on its own): no more probes.
                    self.probes = None;
                    continue;
                }
                Got::Probe(Some(a)) => {
                    self.last_probe = Some(ProbeRecord {
                        at: rfc3339(a.at),
                        ok: a.ok,
                        detail: a.detail.clone(),
                    });
                    self.machine_mut().on_probe(a.ok, &a.detail, Instant::now())
                }
                Got::Notify(Err(e)) => {
                    // Not a datagram problem (those are refused one by one): the
                    // socket itself failed. Give it up rather than spin on it.
                    #[cfg(unix)]
                    {
                        self.socket = None;
                    }
                    return HealthEvent::Changed(vec![format!(
                        "the sd_notify socket failed ({e}); sd_notify messages are no longer read"
                    )]);
                }
                Got::Notify(Ok((text, sender))) => self.on_datagram(&text, sender),
            };
            match verdict {
                Verdict::Same => continue,
                Verdict::Changed(logs) => return HealthEvent::Changed(logs),
                Verdict::Failed(why) => {
                    self.failed = Some((why.clone(), SystemTime::now()));
                    return HealthEvent::Failed(why);
                }
                Verdict::Hung(why) => {
                    self.failed = Some((why.clone(), SystemTime::now()));
                    self.hung = true;
                    return HealthEvent::Failed(why);
                }
            }
        }
    }

    fn machine_mut(&mut self) -> &mut Machine {
        self.machine.as_mut().expect("a child runs")
    }

    /// A datagram, checked to come from the child's tree (where the OS says who
    /// sent it), with MAINPID checked the same way.
    fn on_datagram(&mut self, text: &str, sender: Option<u32>) -> Verdict {
        let Some(child) = self.child else {
            return Verdict::Same;
        };
        if let Some(sender) = sender.filter(|s| !in_child_tree(*s, child)) {
            self.refused += 1;
            if self.refused > MAX_REFUSALS_LOGGED {
                return Verdict::Same;
            }
            // The text, shortened and on one line: it tells whose message it was.
            let shown: String = text
                .chars()
                .take(120)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            return Verdict::Changed(vec![format!(
                "refused sd_notify message from pid {sender}: not in the child's process tree (child {child}): {:?}",
                shown.trim()
            )]);
        }
        let mut logs = Vec::new();
        let mut msgs = notify::parse(text);
        msgs.retain(|msg| match msg {
            Notify::MainPid(pid) if !in_child_tree(*pid, child) => {
                logs.push(format!(
                    "refused MAINPID={pid}: pid {pid} is not in the child's process tree (child {child})"
                ));
                false
            }
            _ => true,
        });
        match self.machine_mut().on_notify(&msgs, Instant::now()) {
            Verdict::Same if logs.is_empty() => Verdict::Same,
            Verdict::Same => Verdict::Changed(logs),
            Verdict::Changed(mut more) => {
                logs.append(&mut more);
                Verdict::Changed(logs)
            }
            failed @ (Verdict::Failed(_) | Verdict::Hung(_)) => failed,
        }
    }
}

#[cfg(unix)]
async fn recv_datagram(
    socket: Option<&notify::NotifySocket>,
) -> std::io::Result<(String, Option<u32>)> {
    match socket {
        Some(sock) => sock.recv().await.map(|d| (d.text, d.sender)),
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv_datagram(_socket: Option<&()>) -> std::io::Result<(String, Option<u32>)> {
    std::future::pending().await
}

enum Got {
    Deadline,
    Probe(Option<ProbeAnswer>),
    Notify(std::io::Result<(String, Option<u32>)>),
}

#[cfg(unix)]
fn in_child_tree(pid: u32, child: u32) -> bool {
    notify::in_child_tree(pid, child)
}

#[cfg(not(unix))]
fn in_child_tree(_pid: u32, _child: u32) -> bool {
    true
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn recv_probe(
    probes: &mut Option<(tokio::task::JoinHandle<()>, mpsc::Receiver<ProbeAnswer>)>,
) -> Option<ProbeAnswer> {
    match probes {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::health::{Probe, ProbeCheck};
    use machine::Machine;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn probe_cfg(failures: u32, start_period: Duration) -> HealthConfig {
        HealthConfig {
            probe: Some(Probe {
                check: ProbeCheck::Tcp { addr: "x:1".into() },
                interval: ms(100),
                timeout: ms(100),
                failures,
                start_period,
            }),
            ready: Readiness::Probe,
            ..HealthConfig::default()
        }
    }

    #[test]
    fn watchdog_arms_at_the_first_message_and_fires_when_fed_no_more() {
        let t0 = Instant::now();
        let mut m = Machine::new(
            HealthConfig {
                watchdog: Some(ms(1000)),
                ..Default::default()
            },
            t0,
        );
        assert!(m.is_ready(), "readiness \"started\"");
        assert_eq!(m.next_deadline(), None, "silent program: not armed");
        m.on_notify(&[Notify::Ready], t0 + ms(500));
        assert_eq!(m.next_deadline(), Some(t0 + ms(1500)));
        m.on_notify(&[Notify::Watchdog], t0 + ms(1400));
        assert_eq!(m.on_deadline(t0 + ms(1500)), Verdict::Same);
        match m.on_deadline(t0 + ms(2400)) {
            Verdict::Hung(why) => assert!(why.starts_with("watchdog timeout"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trigger_fails_at_once_and_stopping_disarms() {
        let t0 = Instant::now();
        let cfg = HealthConfig {
            watchdog: Some(ms(1000)),
            ..Default::default()
        };
        let mut m = Machine::new(cfg.clone(), t0);
        assert!(
            matches!(m.on_notify(&[Notify::WatchdogTrigger], t0), Verdict::Hung(w) if w.contains("WATCHDOG=trigger"))
        );
        let mut m = Machine::new(cfg, t0);
        m.on_notify(&[Notify::Watchdog], t0);
        m.on_notify(&[Notify::Stopping], t0 + ms(10));
        assert_eq!(m.next_deadline(), None);
        assert_eq!(m.on_deadline(t0 + ms(5000)), Verdict::Same);
    }

    #[test]
    fn notify_readiness_waits_for_ready_and_times_out_unless_extended() {
        let t0 = Instant::now();
        let cfg = HealthConfig {
            ready: Readiness::Notify,
            ready_timeout: ms(1000),
            ..Default::default()
        };
        let mut m = Machine::new(cfg.clone(), t0);
        assert!(!m.is_ready());
        m.on_notify(&[Notify::Status("loading".into())], t0);
        assert!(!m.is_ready());
        m.on_notify(&[Notify::ExtendTimeoutUsec(3_000_000)], t0 + ms(500));
        assert_eq!(m.on_deadline(t0 + ms(1000)), Verdict::Same);
        assert!(
            matches!(m.on_deadline(t0 + ms(3500)), Verdict::Failed(w) if w.starts_with("not ready within"))
        );
        let mut m = Machine::new(cfg, t0);
        assert!(
            matches!(m.on_notify(&[Notify::Ready], t0 + ms(300)), Verdict::Changed(l) if l[0].contains("0.3 s"))
        );
        assert!(m.is_ready());
        assert_eq!(m.next_deadline(), None);
    }

    #[test]
    fn probe_failures_count_consecutively() {
        let t0 = Instant::now();
        let mut m = Machine::new(probe_cfg(3, Duration::ZERO), t0);
        let mut t = t0;
        // Flapping: fail, fail, pass, fail, fail, pass … never three in a row.
        for round in 0..5 {
            for _ in 0..2 {
                t += ms(100);
                assert!(
                    matches!(m.on_probe(false, "refused", t), Verdict::Changed(_)),
                    "round {round}"
                );
            }
            t += ms(100);
            m.on_probe(true, "ok", t);
            assert!(m.is_ready());
        }
        for _ in 0..2 {
            t += ms(100);
            m.on_probe(false, "refused", t);
        }
        assert!(
            matches!(m.on_probe(false, "refused", t + ms(100)), Verdict::Failed(w) if w == "health check failed: refused (3 in a row)")
        );
    }

    #[test]
    fn start_period_forgives_failures_until_the_first_pass() {
        let t0 = Instant::now();
        let cfg = HealthConfig {
            ready: Readiness::Started,
            ..probe_cfg(1, ms(1000))
        };
        let mut m = Machine::new(cfg.clone(), t0);
        for i in 1..9 {
            assert!(matches!(
                m.on_probe(false, "refused", t0 + ms(i * 100)),
                Verdict::Changed(_)
            ));
        }
        assert!(matches!(
            m.on_probe(false, "refused", t0 + ms(1000)),
            Verdict::Failed(_)
        ));
        // A pass inside the period ends the grace.
        let mut m = Machine::new(cfg, t0);
        m.on_probe(true, "ok", t0 + ms(100));
        assert!(matches!(
            m.on_probe(false, "refused", t0 + ms(200)),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn probe_readiness_forgives_failures_until_ready_then_counts_them() {
        let t0 = Instant::now();
        let mut m = Machine::new(probe_cfg(2, ms(0)), t0);
        assert_eq!(
            m.next_deadline(),
            Some(t0 + crate::spec::health::DEFAULT_READY_TIMEOUT)
        );
        for i in 1..20 {
            assert!(matches!(
                m.on_probe(false, "refused", t0 + ms(i)),
                Verdict::Changed(_)
            ));
        }
        m.on_probe(true, "ok", t0 + ms(30));
        assert_eq!(m.next_deadline(), None);
        m.on_probe(false, "refused", t0 + ms(40));
        assert!(matches!(
            m.on_probe(false, "refused", t0 + ms(50)),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(
            parse_status_line("HTTP/1.0 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1 abc"), None);
        assert_eq!(parse_status_line(""), None);
    }

    #[test]
    fn probes_start_soon_after_a_start_and_back_off_to_the_interval() {
        let at = |interval: Duration| -> Vec<u64> {
            let mut t = Duration::ZERO;
            (0..8)
                .map(|n| {
                    t += startup_probe_gap(n, interval);
                    t.as_millis() as u64
                })
                .collect()
        };
        // A server up at 300 ms is seen by the probe at 350 ms.
        assert_eq!(at(ms(30_000)), [50, 150, 350, 600, 850, 1100, 1350, 1600]);
        assert_eq!(at(ms(120)), [50, 150, 270, 390, 510, 630, 750, 870]);
        assert_eq!(startup_probe_gap(u32::MAX, ms(30_000)), ms(250));
    }

    #[test]
    fn pid_file_readiness_waits_for_the_pid_and_times_out_without_it() {
        let t0 = Instant::now();
        let cfg = HealthConfig {
            ready: Readiness::PidFile,
            ready_timeout: ms(1000),
            ..Default::default()
        };
        let mut m = Machine::new(cfg.clone(), t0);
        assert!(!m.is_ready());
        assert!(
            matches!(m.on_main_pid(42, t0 + ms(700)), Verdict::Changed(l) if l[0].contains("pid 42") && l[0].contains("0.7 s"))
        );
        assert!(m.is_ready());
        assert_eq!(m.next_deadline(), None);
        assert_eq!(m.on_main_pid(43, t0 + ms(800)), Verdict::Same);
        let mut m = Machine::new(cfg, t0);
        assert!(matches!(m.on_deadline(t0 + ms(1000)), Verdict::Failed(_)));
        // Other readiness: the pid file says nothing about it.
        let mut m = Machine::new(HealthConfig::default(), t0);
        assert_eq!(m.on_main_pid(42, t0), Verdict::Same);
    }
}
