//! A spec and the file system: reading a spec file, and the checks and reads that
//! need the disk (the program on PATH, the working dir, the `env_file`). Parsing and
//! validation, which need none, are in [`super`].

use super::Spec;
use crate::envfile::{self, Entry, Exposure};
use crate::error::CliError;
use crate::text::Remark;
use std::path::{Path, PathBuf};

/// Read and validate a spec file; any problem is bad input (exit 2).
pub fn load(path: &Path) -> Result<Spec, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::bad_input(
            format!("cannot read spec {}: {e}", path.display()),
            "pass the path of a TOML spec, e.g. --spec examples/echo.toml",
        )
    })?;
    let base = absolute(path)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Spec::parse(&text, Some(path), &base).map_err(|e| {
        CliError::bad_input(e.to_string(), "`respawn help-spec` shows the spec format")
    })
}

/// Checks that need the file system: the program exists and is executable, the
/// working directory exists, the env_file is sound. Run before anything is created;
/// what is worth a warning but not a refusal comes back for the CLI to say.
pub fn preflight(spec: &Spec) -> Result<Vec<Remark>, CliError> {
    if let Some(dir) = &spec.working_dir {
        if !dir.is_dir() {
            return Err(CliError::bad_input(
                format!("working_dir {} does not exist", dir.display()),
                "create it, or fix working_dir in the spec",
            ));
        }
    }
    if let Some(dir) = spec.logs.dir.as_ref().filter(|d| d.exists() && !d.is_dir()) {
        return Err(CliError::bad_input(
            format!("logs.dir {} is a file, not a folder", dir.display()),
            "point [logs] dir at a folder (it is created when missing), or leave it out",
        ));
    }
    spec.resolve_program().map_err(|e| {
        CliError::bad_input(
            format!("command {e}"),
            "fix `command` in the spec (`respawn check FILE` shows what it means); a preset's \
             program that moved (a removed venv): install it again with the venv active, or \
             with `--command PATH`",
        )
    })?;
    let warning = spec
        .env_file_preflight()
        .map_err(|(m, h)| CliError::bad_input(m, h))?;
    Ok(warning.into_iter().map(Remark::Warning).collect())
}

/// Validate spec text respawn wrote for `path` (which need not exist yet); any
/// problem is bad input (exit 2).
pub fn parse_text(text: &str, path: &Path) -> Result<Spec, CliError> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Spec::parse(text, Some(path), &base).map_err(|e| {
        CliError::bad_input(e.to_string(), "`respawn help-spec` shows the spec format")
    })
}

/// A path made absolute (not canonical: symlinks stay as the user wrote them).
pub fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(path).map_err(|e| {
        CliError::bad_input(
            format!("bad path {}: {e}", path.display()),
            "pass an existing file",
        )
    })
}

impl Spec {
    /// The program to start: a path as written, or a bare name found on the PATH the
    /// child will see (the spec's env may set its own PATH).
    pub fn resolve_program(&self) -> std::io::Result<PathBuf> {
        let path_var = self
            .env
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok());
        let cwd = self
            .working_dir
            .clone()
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        which::which_in(&self.command, path_var, cwd)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::NotFound, self.why_not_runnable()))
    }

    /// Why `command` names nothing that can run, told apart: arguments written into
    /// it, a missing file, a folder, a file that is not executable, a name not on PATH.
    fn why_not_runnable(&self) -> String {
        let cmd = &self.command;
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let split_hint = || {
            let args: Vec<String> = words[1..].iter().map(|w| format!("{w:?}")).collect();
            format!(
                "`{cmd}` has its arguments in it: write command = {:?} and args = [{}]",
                words[0],
                args.join(", ")
            )
        };
        if !super::looks_like_path(cmd) {
            if words.len() > 1 {
                return split_hint();
            }
            return format!(
                "`{cmd}` is not on the PATH the program gets: install it, write its full path, \
                 or set PATH in the spec's [env]"
            );
        }
        match std::fs::metadata(cmd) {
            Ok(m) if m.is_dir() => {
                format!("`{cmd}` is a folder, not a program: write the program in it")
            }
            Ok(_) if cfg!(unix) => format!(
                "`{cmd}` is not executable: `chmod +x {cmd}`, or run it with its interpreter \
                 (command = \"sh\", args = [{cmd:?}])"
            ),
            Ok(_) => format!(
                "`{cmd}` is not a program Windows starts (.exe, or .bat/.cmd): run it with its \
                 interpreter (command = \"python\", args = [{cmd:?}])"
            ),
            Err(_) if words.len() > 1 && Path::new(words[0]).exists() => split_hint(),
            Err(e) => format!("`{cmd}`: no such file ({e})"),
        }
    }

    /// Before install, check and run: the file exists, parses, and only its owner can
    /// change it (refused: message, hint); readable by everyone is a warning (Ok(Some)).
    fn env_file_preflight(&self) -> Result<Option<String>, (String, String)> {
        let Some(path) = &self.env_file else {
            return Ok(None);
        };
        envfile::load(path).map_err(|m| {
            (
                m,
                "the env_file format (KEY=VALUE lines) is in `respawn help-spec`".to_string(),
            )
        })?;
        match envfile::check_permissions(path) {
            Ok(Some(e @ Exposure::Writable { .. })) => {
                let (what, fix) = e.describe(path);
                Err((what, format!("`{fix}`")))
            }
            Ok(Some(e)) => {
                let (what, fix) = e.describe(path);
                Ok(Some(format!("{what}; `{fix}` keeps it to you")))
            }
            Ok(None) => Ok(None),
            Err(e) => Err((
                format!("env_file {}: {e}", path.display()),
                "fix env_file in the spec".to_string(),
            )),
        }
    }

    /// The variables the child starts with from the spec's `env_file` and `[env]`:
    /// the file first, `[env]` over it. Read now, so an edit applies at the next start.
    pub fn child_env(&self) -> std::io::Result<Vec<Entry>> {
        let mut env: Vec<Entry> = match &self.env_file {
            Some(path) => envfile::load(path)
                .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidData, m))?,
            None => Vec::new(),
        };
        env.retain(|(k, _)| !self.env.contains_key(k));
        env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(env)
    }
}
