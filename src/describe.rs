//! What a spec means, in words: what `respawn check` prints after "ok". The restart
//! schedule, the stop, the environment, the log, the name on every OS, and what
//! `install` would do on this machine. [`describe`] is pure; [`Here::now`] reads the
//! machine.

use crate::boot::{self, BootFacts, BootStart};
use crate::duration::HumanDuration;
use crate::policy::RestartMode;
use crate::spec::{Spec, StopMethod};
use crate::state::install::{BackendKind, Scope};
use crate::state::ServicePaths;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `check` knows about the machine it runs on.
#[derive(Clone, Debug)]
pub struct Here {
    /// Where the output log goes when the spec has no `[logs] dir`.
    pub default_log_file: PathBuf,
    /// The backend `install` (without --backend) would pick.
    pub backend: BackendKind,
    /// The scope `install` would give it (user when not root / not elevated).
    pub scope: Scope,
    pub boot: BootFacts,
    pub windows: bool,
    /// The spec's own path, for the commands a boot note suggests.
    pub spec_path: PathBuf,
}

impl Here {
    pub fn now(spec: &Spec, spec_path: &Path, state_root: &Path) -> Here {
        #[cfg(unix)]
        let root = nix::unistd::geteuid().is_root();
        #[cfg(not(unix))]
        let root = false;
        let backend = crate::backend::default_backend();
        Here {
            default_log_file: ServicePaths::new(state_root, &spec.id()).default_log_file(),
            backend,
            scope: Scope::resolve(None, backend, root),
            boot: BootFacts::here(),
            windows: cfg!(windows),
            spec_path: std::path::absolute(spec_path).unwrap_or_else(|_| spec_path.to_path_buf()),
        }
    }
}

fn human(d: Duration) -> String {
    HumanDuration(d).to_string()
}

fn codes(list: &[i32]) -> String {
    list.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The spec in words, one `  label: text` line per topic, after the `check` line.
pub fn describe(spec: &Spec, here: &Here) -> String {
    let mut lines = vec![format!(
        "{}: ok ({} → {} {:?})",
        spec.id(),
        spec.id(),
        spec.command,
        spec.args
    )];
    let mut add = |label: &str, text: String| lines.push(format!("  {label:<9} {text}"));
    add("runs", run_line(spec));
    add("restart", restart_line(spec));
    add("stop", stop_line(spec, here.windows));
    if let Some(env) = env_line(spec) {
        add("env", env);
    }
    add("ready", ready_line(spec));
    let log = spec
        .logs
        .dir
        .as_ref()
        .map(|d| d.join("output.log"))
        .unwrap_or_else(|| here.default_log_file.clone());
    add(
        "log",
        format!(
            "{} (rotated at {}, {} old files kept)",
            log.display(),
            crate::text::human_bytes(spec.logs.max_size),
            spec.logs.keep
        ),
    );
    add(
        "names",
        format!(
            "systemd unit {} · launchd label {} · Windows service {}",
            crate::naming::systemd_unit(spec),
            crate::naming::launchd_label(spec),
            crate::naming::windows_service(spec)
        ),
    );
    add("install", install_line(spec, here));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// When `start` counts the program as ready, and what watches it after that.
fn ready_line(spec: &Spec) -> String {
    use crate::spec::health::Readiness;
    let h = &spec.health;
    let timeout = humantime::format_duration(h.ready_timeout);
    let mut text = match h.ready {
        Readiness::Started => "as soon as it runs (no [health] probe: `start` cannot tell a \
                               server that answers from one that does not)"
            .to_string(),
        Readiness::Notify => format!("when it sends READY=1 (sd_notify), within {timeout}"),
        Readiness::PidFile => {
            format!("when its pid_file names a live process of its tree, within {timeout}")
        }
        Readiness::Probe => match &h.probe {
            Some(p) => format!("when {} first passes, within {timeout}", p.check),
            None => "when its probe passes".into(),
        },
    };
    if let Some(p) = &h.probe {
        text.push_str(&format!(
            "; then probed every {}, restarted after {} failures in a row",
            humantime::format_duration(p.interval),
            p.failures
        ));
    }
    if let Some(w) = h.watchdog {
        text.push_str(&format!(
            "; watchdog: WATCHDOG=1 at least every {}",
            humantime::format_duration(w)
        ));
    }
    text
}

fn run_line(spec: &Spec) -> String {
    let mut text = format!("{} {}", spec.command, shell_words(&spec.args));
    let text_len = text.trim_end().len();
    text.truncate(text_len);
    match &spec.working_dir {
        Some(dir) => format!("{text} (in {})", dir.display()),
        None => text,
    }
}

fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && !a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn restart_line(spec: &Spec) -> String {
    let p = &spec.restart;
    let when = match p.mode {
        RestartMode::Never => return "never restarted (mode = \"never\")".into(),
        RestartMode::Always => "after every exit".to_string(),
        RestartMode::OnFailure => format!(
            "after a failure (an exit other than {})",
            codes(&p.success_exit_codes)
        ),
    };
    let delays: Vec<String> = p.backoff.iter().map(|d| human(*d)).collect();
    let (last, before) = delays.split_last().expect("backoff is never empty");
    let schedule = if before.is_empty() {
        format!("{last} before each restart")
    } else {
        format!(
            "waits {} then {last} for every restart after that",
            before.join(", ")
        )
    };
    let mut text = format!(
        "{when}; {schedule}; {} up starts the schedule over",
        human(p.reset_after)
    );
    match p.max_restarts {
        Some(n) => text.push_str(&format!(
            "; gives up (failed) after {n} restarts within {}",
            human(p.restart_window)
        )),
        None => text.push_str("; never gives up"),
    }
    if !p.force_restart_exit_codes.is_empty() {
        text.push_str(&format!(
            "; exit {} restarts at once (planned, not a failure)",
            codes(&p.force_restart_exit_codes)
        ));
    }
    if !p.prevent_restart_exit_codes.is_empty() {
        text.push_str(&format!(
            "; exit {} stays down (failed)",
            codes(&p.prevent_restart_exit_codes)
        ));
    }
    text
}

fn stop_line(spec: &Spec, windows: bool) -> String {
    let timeout = human(spec.stop.timeout);
    let graceful = match &spec.stop.method {
        StopMethod::Signal(sig) if windows => format!(
            "closes the program's stdin ({} has no meaning for a service on Windows)",
            sig.name()
        ),
        StopMethod::Signal(sig) => format!("sends {} to the program's process group", sig.name()),
        StopMethod::Command(argv) => format!("runs `{}`", shell_words(argv)),
        StopMethod::File { path, .. } => format!("writes the stop marker {}", path.display()),
        StopMethod::Kill => {
            return "kills the whole process tree at once (method = \"kill\")".into();
        }
    };
    format!("{graceful}, waits up to {timeout}, then kills the whole process tree")
}

fn env_line(spec: &Spec) -> Option<String> {
    let listed = (!spec.env.is_empty()).then(|| {
        format!(
            "sets {} from [env]",
            spec.env.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    });
    let file = spec.env_file.as_ref().map(|f| {
        format!(
            "reads {} at each start ([env] wins for the same name)",
            f.display()
        )
    });
    match (listed, file) {
        (None, None) => None,
        (Some(a), None) | (None, Some(a)) => Some(a),
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
    }
}

fn install_line(spec: &Spec, here: &Here) -> String {
    let scope = match (here.backend, here.scope) {
        (BackendKind::Systemd | BackendKind::Launchd, Scope::User) => {
            " (user scope; root gets a system service)"
        }
        (BackendKind::Systemd | BackendKind::Launchd, Scope::System) => " (system-wide)",
        (BackendKind::Scm, _) => {
            " (a Windows service; not elevated: a per-user login entry instead)"
        }
        _ => "",
    };
    let service = spec.id();
    let boot = boot::boot_start(
        boot::Installed {
            backend: here.backend,
            scope: here.scope,
            service: &service,
            spec_path: &here.spec_path,
        },
        &here.boot,
    );
    let boot = match boot {
        BootStart::Yes { by } => by,
        BootStart::No { what_would } => what_would,
    };
    format!(
        "`respawn install` here uses the {} backend{scope}; {boot}",
        here.backend
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here(backend: &'static str, user_scope: bool) -> Here {
        Here {
            default_log_file: PathBuf::from("/state/gw-work/output.log"),
            backend: serde_json::from_value(backend.into()).unwrap(),
            scope: if user_scope {
                Scope::User
            } else {
                Scope::System
            },
            boot: BootFacts {
                pid1: Some("tini".into()),
                ..Default::default()
            },
            windows: false,
            spec_path: PathBuf::from("/srv/gw.toml"),
        }
    }

    fn spec(text: &str) -> Spec {
        Spec::parse(text, None, Path::new("/srv")).unwrap()
    }

    /// A path below the spec's folder, as this OS joins it.
    fn srv(rel: &str) -> String {
        Path::new("/srv").join(rel).display().to_string()
    }

    #[test]
    fn a_full_spec_in_words() {
        let s = spec(
            r#"
name = "gw"
profile = "work"
command = "/opt/gw/bin/gw"
args = ["run", "--name", "my gw"]
working_dir = "data"
env_file = "gw.env"
[env]
A = "1"
[restart]
backoff = ["1s", "5s", "30s"]
max_restarts = 4
restart_window = "10m"
force_restart_exit_codes = [75]
prevent_restart_exit_codes = [78]
[stop]
signal = "SIGINT"
timeout = "90s"
[names]
windows_service = "Gateway"
"#,
        );
        let text = describe(&s, &here("portable", false));
        let want: [&str; 8] = [
            "gw-work: ok (gw-work → /opt/gw/bin/gw [\"run\", \"--name\", \"my gw\"])",
            &format!("  runs      /opt/gw/bin/gw run --name 'my gw' (in {})", srv("data")),
            "  restart   after every exit; waits 1s, 5s then 30s for every restart after that; \
             1m up starts the schedule over; gives up (failed) after 4 restarts within 10m; \
             exit 75 restarts at once (planned, not a failure); exit 78 stays down (failed)",
            "  stop      sends SIGINT to the program's process group, waits up to 1m 30s, then \
             kills the whole process tree",
            &format!(
                "  env       sets A from [env]; reads {} at each start ([env] wins for the same name)",
                srv("gw.env")
            ),
            "  ready     as soon as it runs (no [health] probe: `start` cannot tell a server \
             that answers from one that does not)",
            "  log       /state/gw-work/output.log (rotated at 10.0 MiB, 5 old files kept)",
            "  names     systemd unit gw-work.service · launchd label ai.respawn.gw.work · \
             Windows service Gateway-work",
        ];
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(&lines[..want.len()], &want[..], "{text}");
        let install = lines[want.len()];
        assert!(
            install.starts_with("  install   `respawn install` here uses the portable backend; nothing starts it after a reboot"),
            "{install}"
        );
        assert!(install.contains("PID 1 here is `tini`"), "{install}");
        assert!(
            install.contains("respawn run --spec /srv/gw.toml"),
            "{install}"
        );
        assert_eq!(lines.len(), want.len() + 1, "{text}");
    }

    #[test]
    fn defaults_and_other_methods() {
        let s = spec("name = \"e\"\ncommand = \"sh\"\n[logs]\ndir = \"/var/log/e\"\n");
        let text = describe(&s, &here("systemd", false));
        assert!(text.contains("  runs      sh\n"), "{text}");
        assert!(
            text.contains("waits 1s, 2s, 4s, 9s, 16s, 25s, 36s, 49s then 1m 4s for every restart"),
            "{text}"
        );
        assert!(text.contains("; never gives up"), "{text}");
        assert!(text.contains("sends SIGTERM"), "{text}");
        assert!(text.contains("waits up to 10s"), "{text}");
        assert!(!text.contains("  env"), "{text}");
        let log = Path::new("/var/log/e").join("output.log");
        assert!(
            text.contains(&format!("  log       {}", log.display())),
            "{text}"
        );
        assert!(
            text.contains("uses the systemd backend (system-wide); systemd starts it at boot"),
            "{text}"
        );

        let s = spec(
            "name = \"e\"\ncommand = \"sh\"\n[restart]\nmode = \"never\"\n[stop]\nmethod = \"kill\"\n",
        );
        let text = describe(&s, &here("systemd", true));
        assert!(text.contains("  restart   never restarted"), "{text}");
        assert!(
            text.contains("  stop      kills the whole process tree at once"),
            "{text}"
        );
        assert!(
            text.contains("(user scope; root gets a system service)"),
            "{text}"
        );
        assert!(text.contains("loginctl enable-linger"), "{text}");

        let s = spec(
            "name = \"e\"\ncommand = \"sh\"\n[restart]\nmode = \"on-failure\"\nbackoff = [\"2s\"]\n[stop]\nmethod = \"file\"\nfile = \"stop.json\"\n",
        );
        let text = describe(&s, &here("launchd", false));
        assert!(
            text.contains("after a failure (an exit other than 0); 2s before each restart"),
            "{text}"
        );
        assert!(
            text.contains(&format!("writes the stop marker {}", srv("stop.json"))),
            "{text}"
        );
        let mut windows = here("scm", false);
        windows.windows = true;
        let text = describe(&spec("name = \"e\"\ncommand = \"sh\"\n"), &windows);
        assert!(text.contains("closes the program's stdin"), "{text}");
        assert!(
            text.contains("not elevated: a per-user login entry instead"),
            "{text}"
        );
    }
}
