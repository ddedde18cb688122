//! The I/O half of presets: find the program and read the environment, so that
//! rendering ([`super::Preset::render`]) stays pure.

use super::{Facts, Preset, PresetError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Gather this machine's facts for `preset`, or say what is missing and how to fix it.
/// `command` is the user's explicit program (`--command PATH`), used instead of a search.
/// This is what `install --preset` runs: the program and the profile's home must exist.
pub fn facts(
    preset: &Preset,
    profile: Option<&str>,
    command: Option<&Path>,
) -> Result<Facts, PresetError> {
    let (facts, missing) = lenient_facts(preset, profile, command)?;
    match missing.into_iter().next() {
        Some(what) => Err(PresetError::Missing(what.message(preset, &facts, profile))),
        None => Ok(facts),
    }
}

/// Something a preset needs that this machine lacks (yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lacking {
    /// The program was not found (the facts hold its bare name instead).
    Program,
    /// The `--command` given is not an executable file.
    BadCommand(PathBuf),
    /// The profile's home does not exist.
    ProfileHome(String),
}

impl Lacking {
    /// The error `install` gives.
    pub fn message(&self, preset: &Preset, facts: &Facts, profile: Option<&str>) -> String {
        match self {
            Lacking::Program => format!(
                "`{}` was not found on PATH, beside respawn ({}) or in a Python environment; {}, \
                 or pass its path with --command PATH",
                preset.program,
                beside_self()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "?".into()),
                preset.install_hint
            ),
            Lacking::BadCommand(path) => format!(
                "--command {}: not an executable file; pass the full path of `{}`",
                path.display(),
                preset.program
            ),
            Lacking::ProfileHome(p) => format!(
                "profile `{p}` has no home at {}; {}",
                preset.home(facts, profile).display(),
                preset.home.missing_profile_hint.replace("{profile}", p)
            ),
        }
    }

    /// The comment `spec` prints instead: what install will look for.
    pub fn note(&self, preset: &Preset, facts: &Facts, profile: Option<&str>) -> String {
        match self {
            Lacking::Program => format!(
                "NOTE: `{prog}` is not installed here, so `command` is a placeholder.\n\
                 `respawn install --preset {name}` looks for it (--command PATH, beside\n\
                 respawn's own executable, PATH, the active venv or conda env, python3's\n\
                 scripts folders) and writes its full path. To get it:\n{hint}.",
                prog = preset.program,
                name = preset.name,
                hint = preset.install_hint
            ),
            Lacking::BadCommand(path) => format!(
                "NOTE: --command {} is not an executable file; install will refuse it.",
                path.display()
            ),
            Lacking::ProfileHome(p) => format!(
                "NOTE: profile `{p}` has no home yet at {home};\n\
                 install requires it: {hint}.",
                home = preset.home(facts, profile).display(),
                hint = preset.home.missing_profile_hint.replace("{profile}", p)
            ),
        }
    }
}

/// The facts, with placeholders for what is missing, and the list of what is: what
/// `respawn spec --preset` prints from (a spec to read needs neither the program nor
/// the profile). A bad profile *name* is still an error: no spec can hold it.
pub fn lenient_facts(
    preset: &Preset,
    profile: Option<&str>,
    command: Option<&Path>,
) -> Result<(Facts, Vec<Lacking>), PresetError> {
    if let Some(p) = profile {
        preset.check_profile(p)?;
    }
    let env = std::env::vars()
        .filter(|(k, _)| {
            k.eq_ignore_ascii_case(&preset.home.env) || k.eq_ignore_ascii_case("LOCALAPPDATA")
        })
        .collect();
    let mut missing = Vec::new();
    let program = match command {
        Some(path) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            if !is_executable_file(&path) {
                missing.push(Lacking::BadCommand(path.clone()));
            }
            path
        }
        None => find_program(&preset.program).unwrap_or_else(|| {
            missing.push(Lacking::Program);
            PathBuf::from(&preset.program)
        }),
    };
    let facts = Facts {
        windows: cfg!(windows),
        program,
        user_home: dirs::home_dir().unwrap_or_default(),
        env,
    };
    if let Some(p) = profile {
        if !preset.home(&facts, Some(p)).is_dir() {
            missing.push(Lacking::ProfileHome(p.to_string()));
        }
    }
    Ok((facts, missing))
}

/// The spec text `respawn spec --preset` prints: the rendering, with a comment on
/// top for each thing install will still need.
pub fn printable_spec(
    preset: &Preset,
    profile: Option<&str>,
    command: Option<&Path>,
) -> Result<String, PresetError> {
    let (facts, missing) = lenient_facts(preset, profile, command)?;
    let body = preset.render(&facts, profile)?;
    let mut text = String::new();
    for lacking in &missing {
        for line in lacking.note(preset, &facts, profile).lines() {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(&body);
    Ok(text)
}

#[cfg(unix)]
fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable_file(path: &Path) -> bool {
    path.is_file()
}

/// The folder respawn's own executable is in. Installed with pip into a program's
/// venv, that is VENV/bin (VENV\Scripts on Windows), where the program is too,
/// whether or not the venv is activated.
pub fn beside_self() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
}

/// The program's full path: beside respawn's own executable first (the venv respawn
/// was pip-installed into is the program's own, and PATH may name another copy),
/// then PATH, then the active Python environment's scripts folder (a venv or conda
/// env), then the scripts folders of the `python3` (or `python`) on PATH, where
/// `pip install` and `pip install --user` put it.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if let Some(found) = beside_self().and_then(|dir| executable_in(&dir, name)) {
        return Some(found);
    }
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
