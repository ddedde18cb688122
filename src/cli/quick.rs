//! Specs respawn writes for the user: the quick form of `install` (`--name NAME --
//! CMD ARGS…`), `respawn spec` templates, and keeping a user's edits to a spec respawn
//! wrote (a preset's, the quick form's) when `uninstall` or a new install would
//! remove or replace it.

use crate::error::CliError;
use crate::spec::template::{self, Fill, Template};
use crate::state::ServicePaths;
use std::path::{Path, PathBuf};

/// The spec text of `respawn install --name NAME -- CMD ARGS…`: the program found now
/// (on PATH, or relative to this folder) and written with its full path, so that a
/// service manager with another PATH starts the same one; this folder as the
/// working directory.
pub fn command_spec(name: &str, argv: &[String], made_by: &str) -> Result<String, CliError> {
    crate::spec::check_name("--name", name).map_err(|m| CliError::bad_input(m, QUICK_HINT))?;
    let (program, args) = argv.split_first().ok_or_else(|| {
        CliError::bad_input(
            format!("no command for {name}"),
            format!("write it after --: `respawn install --name {name} -- python3 -m http.server`"),
        )
    })?;
    let cwd = std::env::current_dir()?;
    let program = which::which_in(program, std::env::var_os("PATH"), &cwd).map_err(|_| {
        CliError::bad_input(
            format!("cannot find the program `{program}` (not a file here, not on PATH)"),
            "give its full path, or install it first",
        )
    })?;
    Ok(template::render(&Fill {
        template: Template::Worker,
        name,
        program: &program.to_string_lossy(),
        args,
        working_dir: Some(&cwd),
        made_by,
        installed: true,
    }))
}

const QUICK_HINT: &str = "e.g. `respawn install --name web -- python3 -m http.server`";

/// `respawn spec` without `--preset`: a template, filled with a command when one is
/// given (`--command "python3 -m http.server"`, or after `--`).
pub fn template_text(
    template: Option<Template>,
    name: Option<&str>,
    command_line: Option<&str>,
    argv: &[String],
) -> Result<String, CliError> {
    let words = match command_line {
        Some(line) => split_command_line(line).map_err(|m| {
            CliError::bad_input(
                m,
                "quote the whole command line once: --command \"python3 -m http.server\"",
            )
        })?,
        None => argv.to_vec(),
    };
    let (program, args) = match words.split_first() {
        Some((p, a)) => (p.clone(), a.to_vec()),
        None => (template::PLACEHOLDER_PROGRAM.to_string(), Vec::new()),
    };
    let name = match name {
        Some(n) => n.to_string(),
        None => default_name(&program),
    };
    crate::spec::check_name("--name", &name).map_err(|m| CliError::bad_input(m, QUICK_HINT))?;
    let template = template.unwrap_or(Template::Worker);
    Ok(template::render(&Fill {
        template,
        name: &name,
        program: &program,
        args: &args,
        working_dir: None,
        made_by: "`respawn spec`; save it as a file and `respawn check FILE`, then `respawn install FILE`",
        installed: false,
    }))
}

/// A name from the program: its file name without extension, when that is a usable
/// service name; else `my-service`.
fn default_name(program: &str) -> String {
    let stem = Path::new(program)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if program == template::PLACEHOLDER_PROGRAM || crate::spec::check_name("name", &stem).is_err() {
        "my-service".into()
    } else {
        stem
    }
}

/// Words of a command line: split at white space, `"…"` and `'…'` keep theirs. No
/// backslash escapes, so Windows paths come through as typed.
pub fn split_command_line(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (c, quote) {
            (c, Some(q)) if c == q => quote = None,
            (c, Some(_)) => word.push(c),
            ('"' | '\'', None) => {
                quote = Some(c);
                in_word = true;
            }
            (c, None) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (c, None) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("the command line has an unclosed {q}"));
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("the command line is empty".into());
    }
    Ok(words)
}

/// Beside a spec respawn wrote into a service's state dir: that spec as written, to
/// tell later whether the user edited it.
fn as_written(paths: &ServicePaths) -> PathBuf {
    paths.dir.join("spec.toml.as-written")
}

/// Where a user's edits to a spec respawn wrote are kept when it is removed or replaced.
pub fn kept_copy(paths: &ServicePaths) -> PathBuf {
    paths.dir.join("spec.edited.toml")
}

/// Remember what was written to `paths.generated_spec()`.
pub fn remember_written(paths: &ServicePaths, text: &str) {
    let _ = crate::state::write_atomic(&as_written(paths), text.as_bytes());
}

/// Before the spec respawn wrote is removed (uninstall) or replaced (a new install):
/// when the user edited it (or there is no record of what was written), copy it to
/// [`kept_copy`]; the copy's path, to tell the user.
pub fn keep_edits(paths: &ServicePaths) -> Result<Option<PathBuf>, CliError> {
    let spec = paths.generated_spec();
    let Ok(now) = std::fs::read(&spec) else {
        return Ok(None);
    };
    if std::fs::read(as_written(paths)).is_ok_and(|written| written == now) {
        return Ok(None);
    }
    let copy = kept_copy(paths);
    crate::state::write_atomic(&copy, &now).map_err(|e| {
        CliError::failure(
            format!(
                "cannot keep your edits to {}: writing {} failed: {e}; nothing was changed",
                spec.display(),
                copy.display()
            ),
            "copy the spec somewhere else yourself, then run this again",
        )
    })?;
    Ok(Some(copy))
}

/// After an uninstall: the record of what was written goes with the spec.
pub fn forget_written(paths: &ServicePaths) {
    let _ = std::fs::remove_file(as_written(paths));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_at_spaces_and_keep_quoted_words() {
        assert_eq!(
            split_command_line(r#"C:\Py\python.exe -m "http server" 'a b'  x"#).unwrap(),
            [r"C:\Py\python.exe", "-m", "http server", "a b", "x"]
        );
        assert_eq!(split_command_line(r#"x """#).unwrap(), ["x", ""]);
        assert!(split_command_line("x \"open").is_err());
        assert!(split_command_line("   ").is_err());
    }

    #[test]
    fn a_template_is_named_after_its_program() {
        assert_eq!(default_name("/usr/bin/python3"), "python3");
        assert_eq!(default_name("bot.py"), "bot");
        assert_eq!(default_name(template::PLACEHOLDER_PROGRAM), "my-service");
        assert_eq!(default_name("/x/ü"), "my-service");
    }
}
