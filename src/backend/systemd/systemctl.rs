//! Talking to `systemctl`: running it with useful errors, and reading what it says.

use crate::policy::ExitKind;
use anyhow::{anyhow, bail, Context};
use std::collections::BTreeMap;
use std::process::Command;

/// `systemctl`, for the system manager or the user's (`--user`).
pub struct Systemctl {
    pub user: bool,
}

impl Systemctl {
    pub fn for_inst(inst: &crate::state::install::Installation) -> Self {
        Systemctl {
            user: inst.scope == crate::state::install::Scope::User,
        }
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new("systemctl");
        if self.user {
            cmd.arg("--user");
            // `systemctl --user` finds the user's manager through XDG_RUNTIME_DIR,
            // which `su`, `sudo -u` and cron do not set.
            if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
                let dir = format!("/run/user/{}", nix::unistd::getuid());
                if std::path::Path::new(&dir).is_dir() {
                    cmd.env("XDG_RUNTIME_DIR", dir);
                }
            }
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .command()
            .args(args)
            .output()
            .context("cannot run systemctl; is systemd installed?")?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!(
            "`{}` failed: {}{}",
            self.describe(args),
            stderr.trim(),
            systemctl_hint(&stderr, self.user)
        )
    }

    fn describe(&self, args: &[&str]) -> String {
        let scope = if self.user { " --user" } else { "" };
        format!("systemctl{scope} {}", args.join(" "))
    }

    pub fn version(&self) -> anyhow::Result<u32> {
        let text = self.run(&["--version"])?;
        parse_version(&text).ok_or_else(|| anyhow!("cannot read the systemd version from {text:?}"))
    }

    pub fn props(&self, unit: &str) -> anyhow::Result<UnitProps> {
        let text = self.run(&["show", unit, "-p", UnitProps::NAMES])?;
        Ok(UnitProps::parse(&text))
    }

    pub fn journal_hint(&self, unit: &str) -> String {
        let scope = if self.user { " --user" } else { "" };
        format!("journalctl{scope} -u {unit}")
    }
}

/// What to do about a failed systemctl call, from its message.
fn systemctl_hint(stderr: &str, user: bool) -> &'static str {
    if stderr.contains("Access denied") || stderr.contains("authentication required") {
        "; a system service needs root: run it with sudo, or use --user for a service of your own"
    } else if user && stderr.contains("Failed to connect to bus") {
        "; no systemd user manager runs for you: log in through a normal session, or install with --linger"
    } else if stderr.contains("not been booted with systemd") {
        "; this machine does not run systemd: use --backend portable"
    } else {
        ""
    }
}

/// `systemctl --version` starts with `systemd 252 (252.38-1~deb12u1)`.
pub fn parse_version(text: &str) -> Option<u32> {
    text.split_whitespace()
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Parse a systemd state word into an enum, keeping unknown words in `Other`.
macro_rules! systemd_words {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
            /// A word this version of respawn does not know (or none).
            #[default]
            Unknown,
            Other(String),
        }

        impl $name {
            pub fn parse(word: &str) -> Self {
                match word {
                    $($word => $name::$variant,)*
                    "" => $name::Unknown,
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($name::$variant => $word,)*
                    $name::Unknown => "unknown",
                    $name::Other(word) => word,
                })
            }
        }
    };
}

systemd_words!(
    /// `LoadState`: whether systemd has the unit.
    LoadState { Loaded = "loaded", NotFound = "not-found", Masked = "masked", Error = "error" }
);
systemd_words!(
    /// `ActiveState`: the unit's high-level state.
    ActiveState {
        Active = "active",
        Reloading = "reloading",
        Inactive = "inactive",
        Failed = "failed",
        Activating = "activating",
        Deactivating = "deactivating",
    }
);
systemd_words!(
    /// `SubState` of a service unit; respawn acts on a few of them.
    SubState { Running = "running", AutoRestart = "auto-restart", Dead = "dead", Exited = "exited" }
);

/// The properties of a unit that status needs, from `systemctl show`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitProps {
    pub load_state: LoadState,
    pub active_state: ActiveState,
    pub sub_state: SubState,
    /// 0 when no main process runs.
    pub main_pid: u32,
    /// How often systemd restarted the unit on its own.
    pub n_restarts: u64,
    /// 1 exited, 2 killed, 3 dumped core (the CLD_* codes); 0 never exited.
    pub exec_main_code: i32,
    /// The exit code, or the signal number when killed.
    pub exec_main_status: i32,
    pub exec_main_exit_timestamp: String,
    /// What the program last said over sd_notify `STATUS=` (native units); empty if nothing.
    pub status_text: String,
    /// systemd's verdict on the last run (`success`, `exit-code`, `signal`, `watchdog`,
    /// …); reset when the unit starts again.
    pub result: String,
}

impl UnitProps {
    pub const NAMES: &'static str = "LoadState,ActiveState,SubState,MainPID,NRestarts,ExecMainCode,ExecMainStatus,ExecMainExitTimestamp,StatusText,Result";

    pub fn parse(text: &str) -> UnitProps {
        let map: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |k: &str| map.get(k).copied().unwrap_or_default();
        UnitProps {
            load_state: LoadState::parse(get("LoadState")),
            active_state: ActiveState::parse(get("ActiveState")),
            sub_state: SubState::parse(get("SubState")),
            main_pid: number(&map, "MainPID"),
            n_restarts: number(&map, "NRestarts"),
            exec_main_code: number(&map, "ExecMainCode"),
            exec_main_status: number(&map, "ExecMainStatus"),
            exec_main_exit_timestamp: get("ExecMainExitTimestamp").to_string(),
            status_text: get("StatusText").to_string(),
            result: get("Result").to_string(),
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(
            self.active_state,
            ActiveState::Active | ActiveState::Reloading
        )
    }

    /// How the main process last ended, if it has.
    pub fn last_exit(&self) -> Option<ExitKind> {
        match self.exec_main_code {
            1 => Some(ExitKind::Code(self.exec_main_status)),
            2 | 3 => Some(ExitKind::Signal(self.exec_main_status)),
            _ => None,
        }
    }

    pub fn last_exit_text(&self, otherwise: &str) -> String {
        self.last_exit()
            .map_or_else(|| otherwise.to_string(), |e| e.to_string())
    }
}

/// A numeric property; 0 when missing or unreadable, as systemd itself shows it.
fn number<T: std::str::FromStr + Default>(map: &BTreeMap<&str, &str>, key: &str) -> T {
    map.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_line() {
        assert_eq!(
            parse_version("systemd 252 (252.38-1~deb12u1)\n+PAM +AUDIT"),
            Some(252)
        );
        assert_eq!(parse_version("systemd 256.7 (256.7-1)"), Some(256));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn reads_show_output() {
        let text = "MainPID=123\nNRestarts=2\nExecMainCode=2\nExecMainStatus=9\nLoadState=loaded\nActiveState=active\nSubState=running\nExecMainExitTimestamp=\n";
        let p = UnitProps::parse(text);
        assert_eq!(p.main_pid, 123);
        assert_eq!(p.n_restarts, 2);
        assert_eq!(p.last_exit(), Some(ExitKind::Signal(9)));
        assert!(p.is_running());
        assert_eq!(p.sub_state, SubState::Running);
        let p = UnitProps::parse("LoadState=not-found\nActiveState=inactive\nSubState=weird\n");
        assert_eq!(p.load_state, LoadState::NotFound);
        assert_eq!(p.sub_state, SubState::Other("weird".into()));
        assert_eq!(p.sub_state.to_string(), "weird");
        assert_eq!(
            (p.main_pid, p.last_exit(), p.is_running()),
            (0, None, false)
        );
    }

    #[test]
    fn failures_come_with_what_to_do() {
        assert!(systemctl_hint("Failed to enable unit: Access denied", false).contains("sudo"));
        assert!(
            systemctl_hint("Failed to connect to bus: No medium found", true).contains("--linger")
        );
        assert!(systemctl_hint(
            "System has not been booted with systemd as init system (PID 1).",
            false
        )
        .contains("--backend portable"));
        assert_eq!(systemctl_hint("Unit x.service not found.", false), "");
    }
}
