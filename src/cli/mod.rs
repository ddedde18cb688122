//! The command line: clap's definition of every command, and the dispatch to one
//! function per command (each in its own file here). Commands return an
//! [`ExitStatus`] or a [`CliError`]; only this module turns them into an exit code.

mod check;
mod complete;
mod control;
pub mod docs;
mod doctor;
mod install;
mod json;
mod list;
mod logs;
mod progress;
mod quick;
mod status;
mod supervise;
mod top;
mod update;

use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::state::{ManagedBy, StateRoots, STATE_DIR_ENV};
use clap::Subcommand;
use clap_complete::engine::ArgValueCandidates;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(clap::Parser, Debug)]
#[command(
    name = "respawn",
    version = crate::VERSION,
    about = "Keep a long-running program up as a real OS service, with honest restarts."
)]
pub struct Cli {
    /// Folder for services' state, logs and locks (default: the platform's state dir).
    /// Given twice, the last one counts.
    #[arg(long, global = true, env = STATE_DIR_ENV, value_name = "DIR", overrides_with = "state_dir")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Supervise the service in the foreground (what every backend runs).
    Run {
        #[command(flatten)]
        spec: SpecFile,
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
        #[command(flatten)]
        spec: SpecFile,
    },
    /// Print a spec to start from: a preset's, as it comes out on this machine, or a
    /// template for a command (`respawn spec --name web -- python3 -m http.server`).
    Spec {
        #[command(flatten)]
        preset: PresetArgs,
    },
    /// Install a service: from a spec file (`respawn install web.toml`), a preset, or
    /// a command without a file (`respawn install --name web -- python3 -m http.server`).
    Install(install::InstallArgs),
    /// Stop the service and remove it from its backend (a foreground run's leftover
    /// state too).
    #[command(visible_aliases = ["rm", "delete"])]
    Uninstall {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
        /// Windows: also remove a service respawn installed for another state dir.
        #[arg(long)]
        force: bool,
        /// Print what was done as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start an installed service.
    Start {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
        /// Print what was done (and whether it became ready) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop a service gracefully.
    Stop {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
        /// Print what was done (and whether it became ready) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restart the service's child (a planned restart, not counted as a failure).
    Restart {
        /// The service: its spec's `name`, or `name-profile`.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: String,
        /// Print what was done (and whether it became ready) as JSON.
        #[arg(long)]
        json: bool,
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
        /// Print the outcome as JSON (the steps go to stderr).
        #[arg(long)]
        json: bool,
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
    /// List every service under the state root: backend, state, pid, uptime, restarts,
    /// CPU time and memory.
    #[command(visible_aliases = ["ls", "ps"])]
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every service's CPU and memory (its program and what that started), refreshed
    /// until Ctrl+C.
    #[command(visible_alias = "monit")]
    Top {
        /// Time between refreshes.
        #[arg(long, default_value = "2s", value_name = "DURATION")]
        interval: humantime::Duration,
        /// Stop after this many refreshes (for scripts).
        #[arg(long, value_name = "N")]
        count: Option<u32>,
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
    /// Show the service's captured output (without a name, every service's, each
    /// line after its service's name).
    Logs {
        /// The service: its spec's `name`, or `name-profile`; without it, every service.
        #[arg(add = ArgValueCandidates::new(complete::service_names))]
        name: Option<String>,
        /// Keep printing what is appended.
        #[arg(short, long)]
        follow: bool,
        /// How many lines to show: a number, or `all`.
        #[arg(short = 'n', long, default_value = "50", value_name = "N|all")]
        lines: logs::LineCount,
        /// Only lines written since then: a duration (`10m`, `2h`) or a time
        /// (`2026-05-01T12:00:00Z`); needs `[logs] timestamps = true` for the program's lines.
        #[arg(long, value_name = "WHEN")]
        since: Option<logs::Since>,
        /// Only lines that contain TEXT (plain text, case-sensitive; with -f too).
        #[arg(long, value_name = "TEXT")]
        grep: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct PresetArgs {
    /// The preset (available: hermes); without it, a template for your own command.
    #[arg(long, value_name = "NAME", add = ArgValueCandidates::new(complete::preset_names))]
    pub preset: Option<String>,
    /// The preset's profile: a second, separate instance with its own home.
    #[arg(long, value_name = "NAME", requires = "preset", add = ArgValueCandidates::new(complete::profile_names))]
    pub profile: Option<String>,
    /// With --preset: the program to run, instead of searching for it. Without: the
    /// command line to run, quoted as one word (`--command "python3 -m http.server"`).
    #[arg(long, value_name = "PATH|CMDLINE")]
    pub command: Option<PathBuf>,
    /// The template: `worker` (no probe) or `web` (ready when its HTTP endpoint answers).
    #[arg(long, value_enum, conflicts_with = "preset")]
    pub template: Option<crate::spec::template::Template>,
    /// The service's name in the template (default: the program's name).
    #[arg(long, value_name = "NAME", conflicts_with = "preset")]
    pub name: Option<String>,
    /// The command and its arguments, after `--` (instead of --command).
    #[arg(last = true, value_name = "CMD", conflicts_with_all = ["preset", "command"])]
    pub cmd: Vec<String>,
}

/// A spec file, given as `respawn check FILE` or `respawn check --spec FILE`.
#[derive(clap::Args, Debug)]
pub struct SpecFile {
    /// The service's spec (TOML).
    #[arg(value_name = "FILE", required_unless_present = "spec", add = complete::spec_files())]
    file: Option<PathBuf>,
    /// The service's spec (TOML), as a flag.
    #[arg(long, value_name = "FILE", conflicts_with = "file", add = complete::spec_files())]
    spec: Option<PathBuf>,
}

impl SpecFile {
    pub fn path(&self) -> &std::path::Path {
        self.file
            .as_deref()
            .or(self.spec.as_deref())
            .expect("clap requires one")
    }
}

/// Parse the command line, run the command, report an error: the whole program.
pub fn main() -> std::process::ExitCode {
    complete::answer_if_asked();
    // A sentinel started again by a running supervisor (see `os::Sentinel::spawn`).
    #[cfg(target_os = "linux")]
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == crate::os::SENTRY_ARG)
    {
        crate::os::serve_sentry();
    }
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // A root from RESPAWN_STATE_DIR is one any of the user's processes could have set
    // (HKCU\Environment reaches an elevated prompt): a Windows service ignores it.
    let from_env =
        matches.value_source("state_dir") == Some(clap::parser::ValueSource::EnvVariable);
    match run(cli, from_env) {
        Ok(status) => status.into(),
        Err(e) => {
            let red = anstyle::AnsiColor::Red.on_default().bold();
            e.remarks.iter().for_each(remark);
            let mut err = anstream::stderr();
            let _ = writeln!(err, "respawn: {red}error:{red:#} {}", e.message);
            if let Some(h) = e.hint {
                let _ = writeln!(err, "  hint: {h}");
            }
            e.status.into()
        }
    }
}

fn run(cli: Cli, from_env: bool) -> Result<ExitStatus, CliError> {
    // Absolute, because installs record it and services start from another directory.
    let roots = StateRoots::from_cli(cli.state_dir)?.given_by_environment(from_env);
    // A command about one service acts where that service is (the user's root, or
    // on Windows the machine's, where a service install put it).
    let at = |name: &str| roots.root_of(name).to_path_buf();
    crate::state::remember_searched_roots(roots.all());
    let primary = roots.primary();
    match cli.command {
        Command::Run { spec, managed_by } => supervise::run(spec.path(), primary, managed_by),
        Command::ServiceHost { spec } => supervise::service_host(&spec, primary),
        Command::SessionAgent {
            service,
            host,
            child,
            limit_secs,
        } => supervise::session_agent(&service, host, child, limit_secs),
        Command::Check { spec } => check::check(spec.path(), primary),
        Command::Spec { preset } => check::print_preset(&preset),
        Command::Install(args) => install::install(args, &roots),
        Command::Uninstall { name, force, json } => {
            control::uninstall(&at(&name), &name, force, json)
        }
        Command::Start { name, json } => control::start(&at(&name), &name, json),
        Command::Stop { name, json } => control::stop(&at(&name), &name, json),
        Command::Restart { name, json } => control::restart(&at(&name), &name, json),
        Command::Update { name, cmd, json } => update::update(&at(&name), &name, &cmd, json),
        Command::Status {
            name: Some(name),
            json,
        } => status::status(&at(&name), &name, json),
        Command::Status { name: None, json } | Command::List { json } => list::list(&roots, json),
        Command::Logs {
            name: Some(name),
            follow,
            lines,
            since,
            grep,
        } => logs::logs(
            &at(&name),
            &name,
            follow,
            lines,
            &logs::Filter { since, grep },
        ),
        Command::Logs {
            name: None,
            follow,
            lines,
            since,
            grep,
        } => logs::all(&roots, follow, lines, &logs::Filter { since, grep }),
        Command::Doctor { name, json } => {
            let root = name.as_deref().map_or(primary.to_path_buf(), at);
            doctor::doctor(&root, &roots, name.as_deref(), json)
        }
        Command::Top { interval, count } => top::top(&roots, interval.into(), count),
        Command::Completions { shell } => docs::completions(&shell),
        Command::Man => docs::man(),
        Command::HelpSpec => docs::reference(),
    }
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

/// What a lower layer asked to be told (a note or a warning), on stderr.
pub(crate) fn remark(remark: &crate::text::Remark) {
    eprintln!("{remark}");
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
