//! What the Windows Service Control Manager is told about a service: the command it
//! starts and the recovery actions it takes when the service host dies or fails.
//! Pure data, so it is tested on every OS; `backend::scm` hands it to the SCM.

use crate::naming;
use crate::spec::Spec;
use std::path::Path;
use std::time::Duration;

/// A Windows service registration rendered from a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScmConfig {
    pub service_name: String,
    pub display_name: String,
    pub description: String,
    /// respawn.exe, started as `respawn.exe service-host --spec … --state-dir …`.
    pub executable: String,
    pub arguments: Vec<String>,
    /// Restart a crashed service host after each of these delays, in order.
    pub restart_delays: Vec<Duration>,
    /// The SCM's reset period: the failure count goes back to zero when this long has
    /// passed since the *last failure* (the clock starts at the failure, so the restart
    /// delay counts towards it). After the last action the SCM repeats the last action.
    /// So with the default 60 s and delays 1…64 s: a host that keeps crashing gets
    /// 1, 2, 4 … 49 s, and once a wait of 64 s (> 60 s) has passed, the count was reset
    /// and the ladder starts again at 1 s: it cycles 1…64, 1…64 rather than repeating
    /// 64 s. A reset longer than the sum of the delays (`[windows] failure_reset`, e.g.
    /// "1h") makes the last delay repeat instead.
    pub reset_period: Duration,
    /// Automatic start delayed until shortly after boot (`[windows] delayed_start`).
    pub delayed_start: bool,
    /// How long Windows waits for the host at shutdown (it accepts PRESHUTDOWN).
    pub preshutdown_timeout: Duration,
}

/// The time a graceful stop may need on top of the spec's stop timeout (log drain,
/// state file), for the preshutdown timeout.
pub const STOP_MARGIN: Duration = Duration::from_secs(15);

/// Whether the SCM's ladder cycles (reset period shorter than the longest wait) rather
/// than repeating its last delay; `doctor` says which.
pub fn ladder_cycles(cfg: &ScmConfig) -> bool {
    cfg.restart_delays.iter().any(|d| *d >= cfg.reset_period)
}

/// Where the rendered service finds its files.
pub struct ScmContext<'a> {
    pub respawn_exe: &'a Path,
    pub spec_path: &'a Path,
    pub state_root: &'a Path,
}

/// The SCM's recovery delays have a resolution of milliseconds; below one second
/// they would hammer a failing host, so each step is at least one second.
const MIN_RECOVERY_DELAY: Duration = Duration::from_secs(1);

pub fn render(spec: &Spec, ctx: &ScmContext) -> ScmConfig {
    let service_name = naming::windows_service(spec);
    ScmConfig {
        display_name: spec.display_name(),
        description: spec.summary(),
        executable: ctx.respawn_exe.display().to_string(),
        arguments: vec![
            "service-host".into(),
            "--spec".into(),
            ctx.spec_path.display().to_string(),
            "--state-dir".into(),
            ctx.state_root.display().to_string(),
        ],
        restart_delays: spec
            .restart
            .backoff
            .iter()
            .map(|d| (*d).max(MIN_RECOVERY_DELAY))
            .collect(),
        reset_period: spec
            .windows
            .failure_reset
            .map_or(spec.restart.reset_after, |d| d.0)
            .max(MIN_RECOVERY_DELAY),
        delayed_start: spec.windows.delayed_start.unwrap_or(true),
        preshutdown_timeout: spec.stop.timeout + STOP_MARGIN,
        service_name,
    }
}

impl ScmConfig {
    /// The ImagePath as one command line (the SCM splits it like CommandLineToArgvW).
    pub fn image_path(&self) -> String {
        crate::quote::windows::command_line(&self.executable, &self.arguments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::windows::split_command_line;

    fn spec(extra: &str) -> Spec {
        Spec::parse(
            &format!("name = \"gw\"\ncommand = \"py\"\n{extra}"),
            None,
            Path::new("C:\\"),
        )
        .unwrap()
    }

    fn ctx() -> ScmContext<'static> {
        ScmContext {
            respawn_exe: Path::new(r"C:\Program Files\respawn\respawn.exe"),
            spec_path: Path::new(r"C:\Users\Ann Lee\gw spec.toml"),
            state_root: Path::new(r"C:\ProgramData\respawn"),
        }
    }

    #[test]
    fn default_recovery_is_tailscales_quadratic_schedule() {
        let cfg = render(&spec(""), &ctx());
        let secs: Vec<u64> = cfg.restart_delays.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 9, 16, 25, 36, 49, 64]);
        assert_eq!(cfg.reset_period, Duration::from_secs(60));
    }

    #[test]
    fn image_path_with_spaces_is_quoted_and_splits_back() {
        let cfg = render(
            &spec("profile = \"work\"\n[names]\nwindows_service = \"HermesGateway\"\n"),
            &ctx(),
        );
        assert_eq!(cfg.service_name, "HermesGateway-work");
        assert_eq!(
            cfg.image_path(),
            r#""C:\Program Files\respawn\respawn.exe" service-host --spec "C:\Users\Ann Lee\gw spec.toml" --state-dir C:\ProgramData\respawn"#
        );
        let mut want = vec![cfg.executable.clone()];
        want.extend(cfg.arguments.clone());
        assert_eq!(split_command_line(&cfg.image_path()), want);
    }

    #[test]
    fn default_reset_cycles_the_ladder_and_a_longer_one_repeats_the_last_delay() {
        let cfg = render(&spec(""), &ctx());
        assert!(ladder_cycles(&cfg), "64 s >= 60 s: the count resets");
        assert!(cfg.delayed_start);
        let cfg = render(
            &spec("[windows]\nfailure_reset = \"1h\"\ndelayed_start = false\n"),
            &ctx(),
        );
        assert_eq!(cfg.reset_period, Duration::from_secs(3600));
        assert!(!ladder_cycles(&cfg));
        assert!(!cfg.delayed_start);
    }

    #[test]
    fn preshutdown_timeout_covers_the_stop_timeout() {
        let cfg = render(&spec("[stop]\ntimeout = \"90s\"\n"), &ctx());
        assert_eq!(cfg.preshutdown_timeout, Duration::from_secs(105));
    }

    #[test]
    fn unknown_windows_settings_are_refused() {
        let err = Spec::parse(
            "name = \"gw\"\ncommand = \"py\"\n[windows]\nreset = \"1h\"\n",
            None,
            Path::new("C:\\"),
        )
        .unwrap_err();
        assert!(err.message.contains("reset"), "{err}");
    }

    #[test]
    fn sub_second_schedules_are_raised_to_one_second() {
        let cfg = render(
            &spec("[restart]\nbackoff = [\"50ms\", \"3s\"]\nreset_after = \"10ms\"\n"),
            &ctx(),
        );
        assert_eq!(
            cfg.restart_delays,
            [Duration::from_secs(1), Duration::from_secs(3)]
        );
        assert_eq!(cfg.reset_period, Duration::from_secs(1));
    }
}
