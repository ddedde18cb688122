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
    /// Restart the service host after each of these delays, in order; the last repeats.
    pub restart_delays: Vec<Duration>,
    /// A host that stayed up this long starts the recovery sequence over.
    pub reset_period: Duration,
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
        reset_period: spec.restart.reset_after.max(MIN_RECOVERY_DELAY),
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
