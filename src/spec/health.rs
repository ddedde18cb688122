//! The spec's `[health]` section: readiness, the sd_notify watchdog and probes.
//!
//! Pure: raw TOML values in, a validated [`HealthConfig`] or a message out. Every
//! duration is bounded here, so the supervisor never sleeps for zero or forever.

use crate::duration::HumanDuration;
use serde::Deserialize;
use std::time::Duration;

/// When a started child counts as ready (`start`, `restart` and `update` wait for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// As soon as it runs (the default without a probe).
    Started,
    /// When it sends `READY=1` over sd_notify.
    Notify,
    /// When its probe first passes (the default with a probe).
    Probe,
    /// When the spec's `pid_file` names a live process in the child's tree: the
    /// program got far enough to claim its pid file (Hermes' `gateway.pid`).
    PidFile,
}

/// What a probe checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeCheck {
    /// `GET path` over plain HTTP/1.1; a 2xx status is healthy.
    Http {
        host: String,
        port: u16,
        path: String,
    },
    /// A TCP connection is accepted.
    Tcp { addr: String },
    /// The command exits 0.
    Command(Vec<String>),
}

impl std::fmt::Display for ProbeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeCheck::Http { host, port, path } => write!(f, "GET http://{host}:{port}{path}"),
            ProbeCheck::Tcp { addr } => write!(f, "TCP connect {addr}"),
            ProbeCheck::Command(argv) => write!(f, "command {argv:?}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub check: ProbeCheck,
    /// Time between probes once the child has passed one.
    pub interval: Duration,
    /// How long one probe may take before it counts as failed.
    pub timeout: Duration,
    /// Consecutive failures before the child is restarted.
    pub failures: u32,
    /// Grace after each start: failures in it do not count (a pass still makes it ready).
    pub start_period: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// sd_notify watchdog: after its first message, the child must send `WATCHDOG=1`
    /// at least this often.
    pub watchdog: Option<Duration>,
    pub ready: Readiness,
    /// A child not ready this long after its start is restarted as a failure.
    pub ready_timeout: Duration,
    pub probe: Option<Probe>,
}

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_FAILURES: u32 = 3;
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(90);
const MIN_TIMER: Duration = Duration::from_millis(100);
const MAX_TIMER: Duration = Duration::from_secs(24 * 3600);
const MAX_FAILURES: u32 = 1000;

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            watchdog: None,
            ready: Readiness::Started,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            probe: None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    watchdog: Option<HumanDuration>,
    ready: Option<Readiness>,
    ready_timeout: Option<HumanDuration>,
    http: Option<String>,
    tcp: Option<String>,
    command: Option<Vec<String>>,
    interval: Option<HumanDuration>,
    timeout: Option<HumanDuration>,
    failures: Option<u32>,
    start_period: Option<HumanDuration>,
}

fn bounded(field: &str, d: Option<HumanDuration>, default: Duration) -> Result<Duration, String> {
    let d = d.map(|d| d.0).unwrap_or(default);
    if d < MIN_TIMER || d > MAX_TIMER {
        return Err(format!(
            "health.{field}: {} is out of range; use 100ms to 24h",
            humantime::format_duration(d)
        ));
    }
    Ok(d)
}

pub(crate) fn health_config(raw: RawHealth) -> Result<HealthConfig, String> {
    // Long on purpose: one validation per `[health]` key, in the reference's order.
    let watchdog = match raw.watchdog {
        Some(w) => Some(bounded("watchdog", Some(w), Duration::ZERO)?),
        None => None,
    };
    let checks = [raw.http.is_some(), raw.tcp.is_some(), raw.command.is_some()];
    if checks.iter().filter(|c| **c).count() > 1 {
        return Err(
            "health: give one probe, http = \"…\", tcp = \"…\" or command = [...], not several"
                .into(),
        );
    }
    let check = if let Some(url) = raw.http {
        Some(parse_http_url(&url)?)
    } else if let Some(addr) = raw.tcp {
        Some(parse_tcp(&addr)?)
    } else if let Some(argv) = raw.command {
        if argv.first().is_none_or(|c| c.trim().is_empty()) || argv.iter().any(|a| a.contains('\0'))
        {
            return Err("health.command: write it like command = [\"curl\", \"-fsS\", \"http://127.0.0.1:8642/health\"]".into());
        }
        Some(ProbeCheck::Command(argv))
    } else {
        None
    };
    let probe_only = [
        ("interval", raw.interval.is_some()),
        ("timeout", raw.timeout.is_some()),
        ("failures", raw.failures.is_some()),
        ("start_period", raw.start_period.is_some()),
    ];
    if check.is_none() {
        if let Some((name, _)) = probe_only.iter().find(|(_, set)| *set) {
            return Err(format!("health.{name}: applies to a probe; add http = \"…\", tcp = \"…\" or command = [...]"));
        }
    }
    let probe = match check {
        Some(check) => {
            let interval = bounded("interval", raw.interval, DEFAULT_INTERVAL)?;
            let timeout = bounded("timeout", raw.timeout, DEFAULT_TIMEOUT.min(interval))?;
            if timeout > interval {
                return Err(
                    "health.timeout: must not be longer than health.interval (one probe at a time)"
                        .into(),
                );
            }
            let failures = raw.failures.unwrap_or(DEFAULT_FAILURES);
            if !(1..=MAX_FAILURES).contains(&failures) {
                return Err(format!("health.failures: use 1 to {MAX_FAILURES}"));
            }
            let start_period = raw.start_period.map(|d| d.0).unwrap_or(Duration::ZERO);
            if start_period > MAX_TIMER {
                return Err("health.start_period: at most 24h".into());
            }
            Some(Probe {
                check,
                interval,
                timeout,
                failures,
                start_period,
            })
        }
        None => None,
    };
    let ready = match (raw.ready, &probe) {
        (Some(Readiness::Probe), None) => {
            return Err("health.ready: \"probe\" needs a probe; add http = \"…\", tcp = \"…\" or command = [...]".into())
        }
        (Some(r), _) => r,
        (None, Some(_)) => Readiness::Probe,
        (None, None) => Readiness::Started,
    };
    if ready == Readiness::Notify && cfg!(windows) {
        return Err("health.ready: \"notify\" needs sd_notify, which Windows programs cannot send; use a probe (http = \"…\")".into());
    }
    let ready_timeout = bounded("ready_timeout", raw.ready_timeout, DEFAULT_READY_TIMEOUT)?;
    Ok(HealthConfig {
        watchdog,
        ready,
        ready_timeout,
        probe,
    })
}

/// `http://host[:port][/path]`: plain HTTP only (probes talk to a local port).
fn parse_http_url(url: &str) -> Result<ProbeCheck, String> {
    let bad = |why: &str| {
        format!("health.http: `{url}` {why}; write it like \"http://127.0.0.1:8642/health\"")
    };
    let rest = url.trim().strip_prefix("http://").ok_or_else(|| {
        if url.trim().starts_with("https://") {
            bad("is HTTPS, which probes do not speak (probe the service's plain-HTTP local port)")
        } else {
            bad("is not an http:// URL")
        }
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if path.chars().any(|c| c.is_ascii_control() || c == ' ') || authority.contains('@') {
        return Err(bad("has characters a request line cannot carry"));
    }
    let (host, port) = split_host_port(authority, 80).map_err(|e| bad(&e))?;
    Ok(ProbeCheck::Http {
        host,
        port,
        path: path.to_string(),
    })
}

fn parse_tcp(addr: &str) -> Result<ProbeCheck, String> {
    let (host, port) = split_host_port(addr.trim(), 0)
        .map_err(|e| format!("health.tcp: `{addr}` {e}; write it like \"127.0.0.1:8642\""))?;
    if port == 0 {
        return Err(format!(
            "health.tcp: `{addr}` needs a port; write it like \"127.0.0.1:8642\""
        ));
    }
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(ProbeCheck::Tcp { addr })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or("has an unclosed [")?;
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("has text after ]".into()),
        };
        (&rest[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("has no host".into());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or("has a bad port")?,
        None => default_port,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<HealthConfig, String> {
        let raw: RawHealth = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        health_config(raw)
    }

    #[test]
    #[cfg(windows)]
    fn notify_readiness_is_refused_on_windows_with_the_alternative() {
        let err = parse("ready = \"notify\"").unwrap_err();
        assert!(err.contains("use a probe"), "{err}");
    }

    #[test]
    fn defaults_without_a_section() {
        assert_eq!(parse("").unwrap(), HealthConfig::default());
    }

    #[test]
    fn http_probe_gets_defaults_and_probe_readiness() {
        let c = parse("http = \"http://127.0.0.1:8642/health\"").unwrap();
        let p = c.probe.unwrap();
        assert_eq!(
            p.check,
            ProbeCheck::Http {
                host: "127.0.0.1".into(),
                port: 8642,
                path: "/health".into()
            }
        );
        assert_eq!(
            (p.interval, p.timeout, p.failures),
            (DEFAULT_INTERVAL, DEFAULT_TIMEOUT, 3)
        );
        assert_eq!(c.ready, Readiness::Probe);
        let c = parse("http = \"http://[::1]\"").unwrap();
        assert_eq!(
            c.probe.unwrap().check,
            ProbeCheck::Http {
                host: "::1".into(),
                port: 80,
                path: "/".into()
            }
        );
    }

    #[test]
    fn tcp_and_command_probes() {
        let c = parse("tcp = \"localhost:9\"\ninterval = \"1s\"\ntimeout = \"200ms\"\nfailures = 2\nstart_period = \"5s\"").unwrap();
        let p = c.probe.unwrap();
        assert_eq!(
            p.check,
            ProbeCheck::Tcp {
                addr: "localhost:9".into()
            }
        );
        assert_eq!(p.start_period, Duration::from_secs(5));
        let c = parse("command = [\"true\"]\nready = \"started\"").unwrap();
        assert_eq!(
            c.probe.unwrap().check,
            ProbeCheck::Command(vec!["true".into()])
        );
        assert_eq!(c.ready, Readiness::Started);
    }

    #[test]
    fn bad_settings_are_explained() {
        for (text, want) in [
            ("http = \"https://x/health\"", "HTTPS"),
            ("http = \"ftp://x\"", "http://"),
            ("http = \"http://:80/\"", "no host"),
            ("http = \"http://x:99999/\"", "bad port"),
            ("tcp = \"host\"", "needs a port"),
            ("command = []", "command = ["),
            ("http = \"http://x\"\ntcp = \"x:1\"", "one probe"),
            ("interval = \"1s\"", "applies to a probe"),
            ("tcp = \"x:1\"\ninterval = \"0s\"", "out of range"),
            (
                "tcp = \"x:1\"\ninterval = \"1s\"\ntimeout = \"2s\"",
                "not be longer",
            ),
            ("tcp = \"x:1\"\nfailures = 0", "1 to"),
            ("watchdog = \"10ms\"", "out of range"),
            ("watchdog = \"100d\"", "out of range"),
            ("ready = \"probe\"", "needs a probe"),
            ("ready_timeout = \"1ms\"", "out of range"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    #[cfg(unix)]
    fn watchdog_and_notify_readiness() {
        let c = parse("watchdog = \"30s\"\nready = \"notify\"\nready_timeout = \"2m\"").unwrap();
        assert_eq!(c.watchdog, Some(Duration::from_secs(30)));
        assert_eq!(c.ready, Readiness::Notify);
        assert_eq!(c.ready_timeout, Duration::from_secs(120));
        assert!(c.probe.is_none());
    }
}
