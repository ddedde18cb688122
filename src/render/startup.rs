//! The per-user login entry on Windows: a value under
//! `HKCU\Software\Microsoft\Windows\CurrentVersion\Run` whose data is the command line
//! that starts the supervisor, hidden, at every login.
//!
//! Why a Run value and not a Startup-folder shortcut or .cmd file: the value is one
//! string that Windows passes straight to CreateProcess (no cmd.exe, so no `%` or `^`
//! surprises, and no console window flashing the way a .cmd does), it is written and
//! removed atomically through the registry API, and it needs no COM to create.

use std::path::Path;

/// The registry key (under HKEY_CURRENT_USER) that holds login entries.
pub const RUN_KEY: &str = r"Software\Microsoft\Windows\CurrentVersion\Run";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEntry {
    /// The value's name: `respawn-<service id>`.
    pub value_name: String,
    /// The value's data: the command line that starts the supervisor.
    pub command_line: String,
}

/// The Run value's name for a service: `respawn-<service id>`.
pub fn login_entry_name(service_id: &str) -> String {
    format!("respawn-{service_id}")
}

/// `respawnw.exe` (the console-less build of respawn) running the supervisor.
pub fn run_entry(
    service_id: &str,
    respawnw_exe: &Path,
    spec_path: &Path,
    state_root: &Path,
) -> RunEntry {
    let args = [
        "run".to_string(),
        "--managed-by".into(),
        "user".into(),
        "--spec".into(),
        spec_path.display().to_string(),
        "--state-dir".into(),
        state_root.display().to_string(),
    ];
    RunEntry {
        value_name: login_entry_name(service_id),
        command_line: crate::quote::windows::command_line(
            &respawnw_exe.display().to_string(),
            &args,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::windows::split_command_line;

    #[test]
    fn run_value_round_trips_paths_with_spaces_quotes_and_percent() {
        let exe = Path::new(r"C:\Users\Ann Lee\AppData\Local\respawn\respawnw.exe");
        let spec = Path::new(r#"C:\Users\Ann Lee\100% "odd" specs\gw.toml"#);
        let root = Path::new(r"C:\Users\Ann Lee\AppData\Local\respawn\state\");
        let entry = run_entry("gw-work", exe, spec, root);
        assert_eq!(entry.value_name, "respawn-gw-work");
        assert_eq!(
            split_command_line(&entry.command_line),
            vec![
                exe.display().to_string(),
                "run".into(),
                "--managed-by".into(),
                "user".into(),
                "--spec".into(),
                spec.display().to_string(),
                "--state-dir".into(),
                root.display().to_string(),
            ]
        );
        assert!(entry
            .command_line
            .starts_with("\"C:\\Users\\Ann Lee\\AppData\\Local\\respawn\\respawnw.exe\" run"));
    }
}
