//! Dynamic shell completion: the script `respawn completions SHELL` prints calls
//! respawn back on <TAB> (clap_complete's `COMPLETE=<shell>` protocol), so service
//! names, presets and shells complete from what exists now, not from a list frozen
//! into the script.

use super::Cli;
use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
use clap_complete::Shell;

/// The environment variable that turns a respawn call into a completion request.
const VAR: &str = "COMPLETE";

/// Answer a completion request and exit, when this process is one; else return.
pub fn answer_if_asked() {
    // Hidden commands (service-host) and flags (--managed-by) are never offered.
    clap_complete::CompleteEnv::with_factory(|| without_hidden(&Cli::command()))
        .var(VAR)
        .complete();
}

/// The registration script for `shell`: it calls `completer` (this very binary, by
/// its absolute path, so completion works where respawn is not on PATH).
pub fn registration(shell: &str, completer: &str) -> std::io::Result<Vec<u8>> {
    let shells: [&dyn EnvCompleter; 5] = [&Bash, &Zsh, &Fish, &Powershell, &Elvish];
    let target = shells
        .into_iter()
        .find(|s| s.is(shell))
        .expect("SHELLS lists only shells clap_complete knows");
    let mut buf = Vec::new();
    target.write_registration(VAR, "respawn", "respawn", completer, &mut buf)?;
    Ok(buf)
}

/// Installed services under the state roots (RESPAWN_STATE_DIR, or the user's and on
/// Windows the machine's): the same lookup every command uses.
pub fn service_names() -> Vec<CompletionCandidate> {
    crate::state::StateRoots::from_env()
        .known_services()
        .into_iter()
        .map(|(name, _)| CompletionCandidate::new(name))
        .collect()
}

/// `--spec FILE` and a spec given by position: `*.toml` files (and folders to go into).
pub fn spec_files() -> clap_complete::engine::ArgValueCompleter {
    clap_complete::engine::ArgValueCompleter::new(
        clap_complete::engine::PathCompleter::any().filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        }),
    )
}

/// `--profile`: the profiles of installed services (`name-profile` ids of a preset).
pub fn profile_names() -> Vec<CompletionCandidate> {
    let presets = crate::preset::names();
    let mut out: Vec<String> = crate::state::StateRoots::from_env()
        .known_services()
        .into_iter()
        .filter_map(|(id, _)| {
            presets.iter().find_map(|p| {
                id.strip_prefix(&format!("{p}-"))
                    .filter(|rest| !rest.is_empty())
                    .map(str::to_owned)
            })
        })
        .collect();
    out.dedup();
    out.into_iter().map(CompletionCandidate::new).collect()
}

pub fn preset_names() -> Vec<CompletionCandidate> {
    crate::preset::names()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

pub fn shell_names() -> Vec<CompletionCandidate> {
    SHELLS
        .iter()
        .map(|(name, _)| CompletionCandidate::new(*name))
        .collect()
}

/// The shells `respawn completions` knows, in the order they are listed to the user.
pub const SHELLS: [(&str, Shell); 5] = [
    ("bash", Shell::Bash),
    ("zsh", Shell::Zsh),
    ("fish", Shell::Fish),
    ("powershell", Shell::PowerShell),
    ("elvish", Shell::Elvish),
];

pub fn parse_shell(name: &str) -> Option<Shell> {
    let lower = name.trim().to_ascii_lowercase();
    // Accept "pwsh" too: it's what PowerShell 7 calls itself.
    let lower = if lower == "pwsh" {
        "powershell".to_string()
    } else {
        lower
    };
    SHELLS
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, shell)| *shell)
}

/// A copy of `cmd` without its hidden subcommands and hidden arguments, recursively.
///
/// clap_complete's generators list hidden items (`service-host`, `run --managed-by`),
/// and clap has no way to remove a subcommand, so the tree is rebuilt with what
/// completion scripts use: names, help, aliases, arguments and the tree itself.
/// Call it on an unbuilt command, so the built-in `--help`/`--version`/`help` are
/// generated afresh for the copy.
pub fn without_hidden(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_owned())
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(without_hidden),
        )
        .visible_aliases(cmd.get_visible_aliases().map(str::to_owned))
        .subcommand_required(cmd.is_subcommand_required_set())
        .arg_required_else_help(cmd.is_arg_required_else_help_set());
    if let Some(bin) = cmd.get_bin_name() {
        out = out.bin_name(bin.to_owned());
    }
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(about) = cmd.get_long_about() {
        out = out.long_about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(version.to_owned());
    }
    if let Some(version) = cmd.get_long_version() {
        out = out.long_version(version.to_owned());
    }
    if let Some(c) = cmd.get_short_flag() {
        out = out.short_flag(c);
    }
    if let Some(l) = cmd.get_long_flag() {
        out = out.long_flag(l.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_tree_is_valid_and_has_no_hidden_items() {
        let cmd = without_hidden(&Cli::command());
        cmd.clone().debug_assert();
        assert!(cmd.find_subcommand("service-host").is_none());
        assert!(cmd.find_subcommand("install").is_some());
        let run = cmd.find_subcommand("run").unwrap();
        assert!(run.get_arguments().all(|a| a.get_id() != "managed_by"));
        assert!(run.get_arguments().any(|a| a.get_id() == "spec"));
    }

    #[test]
    fn every_listed_shell_generates() {
        for (name, shell) in SHELLS {
            assert_eq!(parse_shell(name), Some(shell));
            assert_eq!(parse_shell(&name.to_uppercase()), Some(shell));
        }
        assert_eq!(parse_shell("pwsh"), Some(Shell::PowerShell));
        assert_eq!(parse_shell("tcsh"), None);
    }

    #[test]
    fn every_listed_shell_has_a_registration() {
        for (shell, _) in SHELLS {
            let script = registration(shell, "/opt/respawn").unwrap();
            let text = String::from_utf8(script).unwrap();
            assert!(text.contains("/opt/respawn"), "{shell}: {text}");
        }
    }
}
