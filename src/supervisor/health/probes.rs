//! The probes of `[health]`: an HTTP GET, a TCP connect or a command, run on a
//! schedule (soon after a start, then every `interval`) in a task of their own that
//! reports each answer to the [`super::Monitor`].

use crate::os::HelperSpawner;
use crate::spec::health::{Probe, ProbeCheck};
use crate::text::secs;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;

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
pub(super) async fn probe_loop(
    probe: Probe,
    env: ProbeEnv,
    spawner: Spawner,
    tx: mpsc::Sender<ProbeAnswer>,
) {
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
    pub reaper: crate::supervisor::orphans::Reaper,
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
    struct Tracked<'a>(&'a crate::supervisor::orphans::Reaper, Option<u32>);
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
