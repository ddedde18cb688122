//! The command line: clap's definition of every command, and the dispatch to one
//! function per command (each in its own file here). Commands return an
//! [`ExitStatus`] or a [`CliError`]; only this module turns them into an exit code.

mod check;
mod complete;
mod control;
pub mod docs;
mod doctor;
mod install;
mod list;
mod logs;
mod progress;
mod status;
mod supervise;
mod update;

use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::{ManagedBy, StateRoots, STATE_DIR_ENV};
use clap::{Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "respawn",
    version,
    about = "Keep a long-running program up as a real OS service, with honest restarts."
)]
pub struct Cli {
    /// Folder for services' state, logs and locks (default: the platform's state dir).
    #[arg(long, global = true, env = STATE_DIR_ENV, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Supervise the service in the foreground (what every backend runs).
    Run {
        /// The service's spec (TOML).
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
        /// Who keeps this supervisor up; shown by status.
        #[arg(long, value_enum, default_value = "foreground", hide = true)]
        managed_by: ManagedBy,
    },
    /// What the Windows service manager starts (not for use by hand).
    #[command(hide = true)]
    ServiceHost {
        /// The service's spec (TOML).
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
    },
    /// What a Windows service host starts in the user's session beside the program, to
    /// hear the session's end (not for use by hand).
    #[command(hide = true)]
    SessionAgent {
        #[arg(long)]
        service: String,
        /// The service host's pid (the pipe's server).
        #[arg(long)]
        host: u32,
        /// The program's pid.
        #[arg(long)]
        child: u32,
        #[arg(long)]
        limit_secs: u64,
    },
    /// Check a spec and print what it means, without running anything.
    Check {
        /// The service's spec (TOML).
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
    },
    /// Print the spec a preset makes on this machine, to read, edit and install.
    Spec {
        #[command(flatten)]
        preset: PresetArgs,
    },
    /// Install the service with a backend (see `respawn install --help`).
    Install(install::InstallArgs),
    /// Stop the service and remove it from its backend.
    Uninstall {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
        /// Windows: also remove a service respawn installed for another state dir.
        #[arg(long)]
        force: bool,
    },
    /// Start an installed service.
    Start {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
    },
    /// Stop a service gracefully.
    Stop {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
    },
    /// Restart the service's child (a planned restart, not counted as a failure).
    Restart {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
    },
    /// Stop the service, run CMD (e.g. `pip install -U hermes-agent`), start it
    /// again and wait until it is ready; when CMD fails, start the old version again.
    Update {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
        /// The update command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Show a service's state (without a name, list them all). Exit code: 0 running, 3 not
    /// running, 4 unknown.
    Status {
        /// The service: its spec's `name`, or `name-profile`; without it, every service.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: Option<String>,
        /// Print the status as JSON (same fields, same exit code).
        #[arg(long)]
        json: bool,
    },
    /// List every service under the state root: backend, state, pid, uptime, restarts.
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check an installed service (or this machine) and explain each problem with a fix.
    Doctor {
        /// The service to check; without it, only the machine-wide checks run.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: Option<String>,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print shell completions (bash, zsh, fish, powershell, elvish).
    Completions {
        #[arg(value_name = "SHELL", add = ArgValueCandidates::new(complete::shell_names))]
        shell: String,
    },
    /// Print the man page (roff) to stdout.
    Man,
    /// Show the spec format, exit codes, files and environment (also in `respawn man`).
    HelpSpec,
    /// Show the service's captured output.
    Logs {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
        /// Keep printing what is appended.
        #[arg(short, long)]
        follow: bool,
        /// How many lines to show: a number, or `all`.
        #[arg(short = 'n', long, default_value = "50", value_name = "N|all")]
        lines: logs::LineCount,
    },
}

#[derive(clap::Args, Debug)]
pub struct PresetArgs {
    /// The preset (available: hermes).
    #[arg(long, value_name = "NAME", add = ArgValueCandidates::new(complete::preset_names))]
    pub preset: String,
    /// The preset's profile: a second, separate instance with its own home.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The program to run, instead of searching for it (beside respawn, PATH, venvs).
    #[arg(long, value_name = "PATH")]
    pub command: Option<PathBuf>,
}

/// Parse the command line, run the command, report an error: the whole program.
pub fn main() -> std::process::ExitCode {
    complete::answer_if_asked();
    let cli = Cli::parse();
    match run(cli) {
        Ok(status) => status.into(),
        Err(e) => {
            let red = anstyle::AnsiColor::Red.on_default().bold();
            let mut err = anstream::stderr();
            let _ = writeln!(err, "respawn: {red}error:{red:#} {}", e.message);
            if let Some(h) = e.hint {
                let _ = writeln!(err, "  hint: {h}");
            }
            e.status.into()
        }
    }
}

fn run(cli: Cli) -> Result<ExitStatus, CliError> {
    // Absolute, because installs record it and services start from another directory.
    let roots = StateRoots::from_cli(cli.state_dir)?;
    // A command about one service acts where that service is (the user's root, or
    // on Windows the machine's, where a service install put it).
    let at = |name: &str| roots.root_of(name).to_path_buf();
    let _ = SEARCHED.set(roots.all().to_vec());
    let primary = roots.primary();
    match cli.command {
        Command::Run { spec, managed_by } => supervise::run(&spec, primary, managed_by),
        Command::ServiceHost { spec } => supervise::service_host(&spec, primary),
        Command::SessionAgent {
            service,
            host,
            child,
            limit_secs,
        } => supervise::session_agent(&service, host, child, limit_secs),
        Command::Check { spec } => check::check(&spec, primary),
        Command::Spec { preset } => check::print_preset(&preset),
        Command::Install(args) => install::install(args, &roots),
        Command::Uninstall { name, force } => control::uninstall(&at(&name), &name, force),
        Command::Start { name } => control::start(&at(&name), &name),
        Command::Stop { name } => control::stop(&at(&name), &name),
        Command::Restart { name } => control::restart(&at(&name), &name),
        Command::Update { name, cmd } => update::update(&at(&name), &name, &cmd),
        Command::Status {
            name: Some(name),
            json,
        } => status::status(&at(&name), &name, json),
        Command::Status { name: None, json } | Command::List { json } => list::list(&roots, json),
        Command::Logs {
            name,
            follow,
            lines,
        } => logs::logs(&at(&name), &name, follow, lines),
        Command::Doctor { name, json } => {
            let root = name.as_deref().map_or(primary.to_path_buf(), at);
            doctor::doctor(&root, &roots, name.as_deref(), json)
        }
        Command::Completions { shell } => docs::completions(&shell),
        Command::Man => docs::man(),
        Command::HelpSpec => docs::reference(),
    }
}

/// Every state root this command looks in (the user's and the machine's, or the one
/// given), for "not installed" to name them all.
static SEARCHED: std::sync::OnceLock<Vec<std::path::PathBuf>> = std::sync::OnceLock::new();

/// Where `name` was looked for, in words: `dir` (its folder in the root it would be
/// in), and its folder in every other root searched.
pub(crate) fn searched_for(name: &str, dir: &std::path::Path) -> String {
    let mut places = vec![dir.display().to_string()];
    for root in SEARCHED.get().into_iter().flatten() {
        let other = crate::state::ServicePaths::new(root, name).dir;
        if other != dir {
            places.push(other.display().to_string());
        }
    }
    places.join(" nor in ")
}

/// Print to stdout. A reader that went away (`| head`, `| grep -q`) is not an error:
/// the rest of the output is dropped and the command ends as it would have.
/// ANSI colours in `text` are kept on a terminal and stripped elsewhere, or when
/// NO_COLOR is set (anstream decides).
pub(crate) fn print(text: &str) {
    let mut out = anstream::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if !reader_gone(&e) {
            eprintln!("respawn: cannot write to stdout: {e}");
        }
    }
}

/// Whether a write failed because the reader of our stdout went away (`| head`,
/// `| true`): EPIPE, or on Windows ERROR_BROKEN_PIPE (109), ERROR_NO_DATA (232, "the
/// pipe is being closed") or ERROR_PIPE_NOT_CONNECTED (233), which Rust does not all
/// call BrokenPipe.
pub(crate) fn reader_gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
        || (cfg!(windows) && matches!(e.raw_os_error(), Some(109 | 232 | 233)))
}

/// [`print`] with a newline.
pub(crate) fn say(line: impl AsRef<str>) {
    print(&format!("{}\n", line.as_ref()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `status --json | true` on Windows: the pipe's reader is gone with 232/233, which
    /// Rust does not all call BrokenPipe; nothing to report then (issue 22, item 9).
    #[test]
    fn a_closed_reader_is_not_an_error() {
        assert!(reader_gone(&std::io::ErrorKind::BrokenPipe.into()));
        assert!(!reader_gone(&std::io::ErrorKind::PermissionDenied.into()));
        for code in [109, 232, 233] {
            let e = std::io::Error::from_raw_os_error(code);
            assert_eq!(
                reader_gone(&e),
                cfg!(windows) || e.kind() == std::io::ErrorKind::BrokenPipe,
                "{code}"
            );
        }
        assert!(!reader_gone(&std::io::Error::from_raw_os_error(5)));
    }
}
