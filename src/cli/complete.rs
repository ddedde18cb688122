//! Dynamic shell completion: the script `respawn completions SHELL` prints calls
//! respawn back on <TAB> (clap_complete's `COMPLETE=<shell>` protocol), so service
//! names, presets and shells complete from what exists now, not from a list frozen
//! into the script.

use super::docs::{without_hidden, SHELLS};
use super::Cli;
use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_shell_has_a_registration() {
        for (shell, _) in SHELLS {
            let script = registration(shell, "/opt/respawn").unwrap();
            let text = String::from_utf8(script).unwrap();
            assert!(text.contains("/opt/respawn"), "{shell}: {text}");
        }
    }
}
