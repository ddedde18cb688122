//! The I/O half of presets: find the program and read the environment, so that
//! rendering ([`super::Preset::render`]) stays pure.

use super::{Facts, Preset, PresetError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Gather this machine's facts for `preset`, or say what is missing and how to fix it.
pub fn facts(preset: &Preset, profile: Option<&str>) -> Result<Facts, PresetError> {
    if let Some(p) = profile {
        preset.check_profile(p)?;
    }
    let env = std::env::vars()
        .filter(|(k, _)| {
            k.eq_ignore_ascii_case(&preset.home.env) || k.eq_ignore_ascii_case("LOCALAPPDATA")
        })
        .collect();
    let program = find_program(&preset.program).ok_or_else(|| {
        PresetError::Missing(format!(
            "`{}` was not found on PATH or in the active Python environment; {}",
            preset.program, preset.install_hint
        ))
    })?;
    let facts = Facts {
        windows: cfg!(windows),
        program,
        user_home: dirs::home_dir().unwrap_or_default(),
        env,
    };
    if let Some(p) = profile {
        let home = preset.home(&facts, Some(p));
        if !home.is_dir() {
            return Err(PresetError::Missing(format!(
                "profile `{p}` has no home at {}; {}",
                home.display(),
                preset.home.missing_profile_hint.replace("{profile}", p)
            )));
        }
    }
    Ok(facts)
}

/// The program's full path: PATH first, then the active Python environment's
/// scripts folder (a venv or conda env), then the scripts folders of the `python3`
/// (or `python`) on PATH, where `pip install` and `pip install --user` put it.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if let Ok(path) = which::which(name) {
        return Some(path);
    }
    let env_dirs = ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .into_iter()
        .filter_map(std::env::var_os)
        .flat_map(|prefix| {
            let prefix = PathBuf::from(prefix);
            [prefix.join("bin"), prefix.join("Scripts")]
        });
    let dirs: Vec<PathBuf> = env_dirs.chain(python_scripts_dirs()).collect();
    dirs.iter().find_map(|dir| executable_in(dir, name))
}

fn executable_in(dir: &Path, name: &str) -> Option<PathBuf> {
    which::which_in(name, Some(dir), dir).ok()
}

/// Ask Python where scripts go (its own prefix and the user's).
fn python_scripts_dirs() -> Vec<PathBuf> {
    const ASK: &str = "import os, sysconfig\n\
        print(sysconfig.get_path('scripts'))\n\
        print(sysconfig.get_path('scripts', os.name + '_user'))";
    for python in ["python3", "python"] {
        let Ok(out) = Command::new(python)
            .args(["-c", ASK])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(PathBuf::from)
                .collect();
        }
    }
    Vec::new()
}
