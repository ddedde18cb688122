//! Readiness and health: the sd_notify watchdog and probes.
//!
//! [`Machine`] is the pure core: it is told what happened (a notify message, a probe
//! result, a deadline) and when, and answers what changed or that the child failed.
//! [`Monitor`] is the thin async driver the engine selects on: it owns the notify
//! socket, the probe task and one `sleep_until` for the machine's next deadline, so
//! an idle service wakes only for its probes.

use super::notify::{self, Notify};
use crate::os::{ChildTree, HelperSpawner};
use crate::spec::health::{HealthConfig, Probe, ProbeCheck, Readiness};
use crate::state::health::{HealthState, ProbeRecord};
use crate::state::{rfc3339, ServiceState};
use crate::text::secs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
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

// ---- probes ----

/// One probe's answer.
#[derive(Debug)]
pub struct ProbeAnswer {
    pub ok: bool,
    pub detail: String,
    pub at: SystemTime,
}

/// Until the first pass, probe at least this often, so readiness is seen soon (a slow
/// starter is seen at most a quarter of a second late; a probe is a connect or a
/// request).
const STARTUP_PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// The first probe after a start, and the first gap: a server up in 300 ms is seen
/// ready at 350 ms (probes at 50, 150, 350 ms), not at the first full second.
const FIRST_PROBE: Duration = Duration::from_millis(50);

/// The wait before probe number `n` (0-based) of a child that has not passed one yet:
/// 50 ms, doubling, up to the spec's interval and at most [`STARTUP_PROBE_INTERVAL`].
/// Pure.
pub fn startup_probe_gap(n: u32, interval: Duration) -> Duration {
    let doubled = FIRST_PROBE.saturating_mul(1u32 << n.min(16));
    doubled.min(interval).min(STARTUP_PROBE_INTERVAL)
}

/// What a command probe runs with: the service's environment and folder.
#[derive(Clone, Debug, Default)]
pub struct ProbeEnv {
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<PathBuf>,
}

/// Probe on a schedule until the receiver is dropped. Until the first pass, soon and
/// then less often ([`startup_probe_gap`]); after it, at the spec's interval.
async fn probe_loop(probe: Probe, env: ProbeEnv, spawner: Spawner, tx: mpsc::Sender<ProbeAnswer>) {
    let mut passed = false;
    let mut n = 0;
    let mut next = Instant::now() + startup_probe_gap(n, probe.interval);
    loop {
        tokio::time::sleep_until(next).await;
        let began = Instant::now();
        let (ok, detail) = run_probe(&probe.check, probe.timeout, &env, &spawner).await;
        passed |= ok;
        let answer = ProbeAnswer {
            ok,
            detail,
            at: SystemTime::now(),
        };
        if tx.send(answer).await.is_err() {
            return;
        }
        n += 1;
        let gap = if passed {
            probe.interval
        } else {
            startup_probe_gap(n, probe.interval)
        };
        next = began + gap;
    }
}

/// How a command probe is started: like the child's other helpers (on Windows hidden
/// and inside the child's Job Object, like the `[stop] command`, so it never flashes a
/// window and dies with the child's tree), and known to the reaper, which must leave
/// its exit to tokio.
#[derive(Clone)]
pub struct Spawner {
    pub helper: HelperSpawner,
    pub reaper: super::orphans::Reaper,
}

/// Run one probe, bounded by `timeout`: (healthy, what happened).
pub async fn run_probe(
    check: &ProbeCheck,
    timeout: Duration,
    env: &ProbeEnv,
    spawner: &Spawner,
) -> (bool, String) {
    let fut = async {
        match check {
            ProbeCheck::Http { host, port, path } => http_get(host, *port, path).await,
            ProbeCheck::Tcp { addr } => tokio::net::TcpStream::connect(addr.as_str())
                .await
                .map(|_| (true, format!("{addr} accepted a connection")))
                .map_err(|e| format!("TCP connect {addr}: {e}")),
            ProbeCheck::Command(argv) => run_command(argv, env, spawner).await,
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(why)) => (false, why),
        Err(_) => (
            false,
            format!("{check}: no answer within {}", secs(timeout)),
        ),
    }
}

/// A minimal HTTP/1.1 GET: only the status line matters.
async fn http_get(host: &str, port: u16, path: &str) -> Result<(bool, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let what = format!("GET http://{host}:{port}{path}");
    let fail = |e: std::io::Error| format!("{what}: {e}");
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(fail)?;
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: respawn-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(fail)?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream.read(&mut buf).await.map_err(fail)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    match parse_status_line(line) {
        Some(code) => Ok(((200..300).contains(&code), format!("{what}: HTTP {code}"))),
        None => Err(format!(
            "{what}: not an HTTP answer ({:?})",
            line.chars().take(60).collect::<String>()
        )),
    }
}

/// `HTTP/1.1 200 OK` → 200. Pure.
pub fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts
        .next()?
        .parse()
        .ok()
        .filter(|c| (100..600).contains(c))
}

async fn run_command(
    argv: &[String],
    env: &ProbeEnv,
    spawner: &Spawner,
) -> Result<(bool, String), String> {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(&env.env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(dir) = &env.working_dir {
        cmd.current_dir(dir);
    }
    let fail = |e: std::io::Error| format!("probe command {:?}: {e}", argv[0]);
    let mut child = spawner
        .reaper
        .spawn_tracked(|| spawner.helper.spawn(&mut cmd), |c| c.id(), false)
        .map_err(fail)?
        .kill_on_drop();
    /// Untracks the probe once tokio has it (also when a timeout drops the wait: then
    /// kill_on_drop kills it and tokio reaps it in the background).
    struct Tracked<'a>(&'a super::orphans::Reaper, Option<u32>);
    impl Drop for Tracked<'_> {
        fn drop(&mut self) {
            if let Some(pid) = self.1 {
                self.0.untrack(pid);
            }
        }
    }
    let _tracked = Tracked(&spawner.reaper, child.id());
    let exit = child.wait().await.map_err(fail)?;
    Ok((
        exit == crate::policy::ExitKind::Code(0),
        format!("probe command {:?}: {exit}", argv[0]),
    ))
}

// ---- the driver ----

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
    use crate::spec::health::ProbeCheck;

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
