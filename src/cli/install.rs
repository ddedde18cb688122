//! `respawn install`: choose the backend and scope, save a preset's spec, install,
//! and say what was done (and how the service now stands).

use super::check::preset_spec;
use super::say;
use crate::backend::{self, InstallRequest, Installed};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::spec;
use crate::state::install::{BackendKind, Installation, Scope};
use crate::state::{write_atomic, ServicePaths, StateRoots};
use crate::status::ServiceStatus;
use crate::supervisor::client;
use clap_complete::engine::ArgValueCandidates;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a command waits for another one working on the same service.
pub(super) const OPERATION_WAIT: Duration = Duration::from_secs(300);

#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// The service's spec (TOML): `respawn install web.toml`.
    #[arg(value_name = "FILE", conflicts_with_all = ["spec", "preset", "name"], add = super::complete::spec_files())]
    file: Option<PathBuf>,
    /// The service's spec (TOML), as a flag.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["preset", "name"], add = super::complete::spec_files())]
    spec: Option<PathBuf>,
    /// Install a ready-made spec instead of a file (`respawn spec --preset NAME` shows it).
    #[arg(long, value_name = "NAME", add = ArgValueCandidates::new(super::complete::preset_names))]
    preset: Option<String>,
    /// The quick form, no TOML to write: `--name web -- python3 -m http.server` writes
    /// the spec into the service's state dir (and says where) and installs it.
    #[arg(long, value_name = "NAME", conflicts_with = "preset")]
    name: Option<String>,
    /// The quick form's command and its arguments, after `--`.
    #[arg(last = true, value_name = "CMD")]
    cmd: Vec<String>,
    /// The preset's profile: a second, separate instance with its own home
    /// (with --spec, write `profile = "NAME"` in the spec instead).
    #[arg(
        long,
        value_name = "NAME",
        requires = "preset",
        add = ArgValueCandidates::new(super::complete::profile_names)
    )]
    profile: Option<String>,
    /// The preset's program, instead of searching for it (beside respawn, PATH, venvs).
    #[arg(long, value_name = "PATH", requires = "preset")]
    command: Option<PathBuf>,
    /// Print what was installed as JSON.
    #[arg(long)]
    json: bool,
    /// Backend to use instead of this OS's default.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Install for the current user only.
    #[arg(long, conflicts_with = "system")]
    user: bool,
    /// Install a system-wide service (systemd: the default as root; needs root).
    #[arg(long)]
    system: bool,
    /// Let the service manager run the program itself instead of respawn's
    /// supervisor (systemd, launchd); see docs/backends.md for what differs.
    #[arg(long)]
    native: bool,
    /// systemd --user: enable lingering, so the service runs without a login session.
    #[arg(long)]
    linger: bool,
    /// Windows: take over a service respawn installed for another state dir.
    #[arg(long)]
    force: bool,
    /// The account the program runs as: on Windows a service's (default: the user
    /// installing it), with systemd and launchd a system service's (default: the
    /// user who ran sudo, else root). `[service] run_as = "system"` in the spec
    /// runs it as LocalSystem/root instead.
    #[arg(long, value_name = "NAME")]
    run_as: Option<String>,
}

impl InstallArgs {
    fn requested_scope(&self) -> Option<Scope> {
        match (self.user, self.system) {
            (true, _) => Some(Scope::User),
            (_, true) => Some(Scope::System),
            _ => None,
        }
    }

    /// The backend: the one named, else (Windows) the login entry for `--user`, else
    /// this machine's default.
    fn backend(&self) -> BackendKind {
        match self.backend {
            Some(kind) => kind,
            None if self.user && cfg!(windows) => BackendKind::User,
            None => backend::default_backend(),
        }
    }
}

/// Where an install keeps the service's state: the root given (`--state-dir`,
/// RESPAWN_STATE_DIR), else for a Windows service or a system unit the machine's
/// (`%ProgramData%\respawn`, admin-only: the SYSTEM host writes there;
/// `/var/lib/respawn`, which the user a system unit runs as can reach), else the user's.
/// A Windows service ignores RESPAWN_STATE_DIR (issue 25): any of the user's processes
/// can set it (under `HKCU\Environment`, which an elevated prompt inherits); only
/// `--state-dir`, typed by the admin, moves it, and that one must pass the trust check.
fn install_root(roots: &StateRoots, kind: BackendKind, scope: Scope) -> (PathBuf, Option<String>) {
    let system_wide =
        kind == BackendKind::Scm || (kind == BackendKind::Systemd && scope == Scope::System);
    if kind == BackendKind::Scm && roots.is_from_environment() {
        if let Some(machine) = crate::state::machine_state_root() {
            let note = format!(
                "RESPAWN_STATE_DIR ({}) is ignored for a Windows service: any process of yours can set it; \
                 the service keeps its state in {} (pass --state-dir to choose another admin-only folder)",
                roots.primary().display(),
                machine.display()
            );
            return (machine, Some(note));
        }
    }
    match roots.machine() {
        Some(machine) if system_wide && !roots.is_given() => (machine.to_path_buf(), None),
        _ => (roots.primary().to_path_buf(), None),
    }
}

/// A Windows service's state dir, made safe before anything is written there (issue
/// 25): see [`crate::admin_files::prepare_state_dir`]. What it says (under Wine, where
/// the trust check only reports) is said loudly on stderr.
#[cfg(windows)]
fn prepare_service_root(state_root: &Path, id: &str) -> Result<(), CliError> {
    let is_machine = crate::state::machine_state_root().as_deref() == Some(state_root);
    let notes = crate::admin_files::prepare_state_dir(state_root, is_machine, id).map_err(|e| {
        CliError::failure(
            format!("{e:#}"),
            "a Windows service's state dir must be one only administrators can change",
        )
    })?;
    for note in notes {
        warn(&note);
    }
    Ok(())
}

/// Say something loudly on stderr (install goes on).
fn warn(text: &str) {
    let yellow = anstyle::AnsiColor::Yellow.on_default().bold();
    let mut err = anstream::stderr();
    let _ = std::io::Write::write_fmt(
        &mut err,
        format_args!("respawn: {yellow}warning:{yellow:#} {text}\n"),
    );
}

/// A machine state root made here is open to every user for reading and listing, as
/// `/var/lib/*` folders are (whatever the umask): a unit's user must reach its folder.
#[cfg(unix)]
fn open_machine_root(root: &Path, roots: &StateRoots) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if roots.machine() != Some(root) || root.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(root)?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
}

/// The backend, and why it is not the one asked for: on Windows an automatic choice
/// of the service backend falls back to the per-user login entry when this process
/// is not elevated, found out before anything is written.
fn choose_backend(args: &InstallArgs) -> (BackendKind, Option<&'static str>) {
    let kind = args.backend();
    #[cfg(windows)]
    if kind == BackendKind::Scm && args.backend.is_none() {
        if let Err(e) = backend::scm::install::check_elevated() {
            if e.downcast_ref::<backend::scm::install::NotElevated>()
                .is_some()
            {
                return (BackendKind::User, Some(NOT_ELEVATED));
            }
        }
    }
    (kind, None)
}

#[cfg(windows)]
const NOT_ELEVATED: &str =
    "not running elevated, so no Windows service was installed; installed a per-user \
     login entry instead (it starts the same supervisor, hidden, at every login)";

pub fn install(args: InstallArgs, roots: &StateRoots) -> Result<ExitStatus, CliError> {
    // Long on purpose: install's steps in order (spec, backend, flags, lock, install,
    // fallback, rollback, report), each delegated.
    let (kind, not_elevated) = choose_backend(&args);
    refuse_preset_for_another_account(&args)?;
    // `--backend scm` unelevated: said before anything is created in the machine's
    // state root (a folder a user creates there would stay theirs).
    #[cfg(windows)]
    if kind == BackendKind::Scm {
        backend::scm::install::check_elevated()?;
    }
    let scope = Scope::resolve(args.requested_scope(), kind, is_root());
    let (state_root, root_note) = install_root(roots, kind, scope);
    let state_root = state_root.as_path();
    if let Some(note) = root_note {
        warn(&note);
    }
    #[cfg(unix)]
    open_machine_root(state_root, roots).map_err(|e| {
        CliError::failure(
            format!("cannot create {}: {e}", state_root.display()),
            "run the install as root (sudo), or pass --state-dir",
        )
    })?;
    let (spec, spec_path, generated) = match spec_source(&args)? {
        Source::File(path) => (spec::file::load(path)?, spec::file::absolute(path)?, None),
        Source::Preset(preset) => {
            let (text, spec) =
                preset_spec(preset, args.profile.as_deref(), args.command.as_deref())?;
            let path = ServicePaths::new(state_root, &spec.id()).generated_spec();
            (spec, path.clone(), Some((path, text)))
        }
        Source::Command(name) => {
            let made_by = format!(
                "`respawn install --name {name} -- {}`",
                super::update::shell_words(&args.cmd)
            );
            let text = super::quick::command_spec(name, &args.cmd, &made_by)?;
            let path = ServicePaths::new(state_root, name).generated_spec();
            let spec = spec::file::parse_text(&text, &path)?;
            (spec, path.clone(), Some((path, text)))
        }
    };
    spec::file::preflight(&spec)?.iter().for_each(super::remark);
    refuse_unsupported_flags(&args, kind)?;
    refuse_absent_service_manager(kind)?;
    let backend = backend::for_kind(kind)
        .map_err(|e| CliError::bad_input(e.to_string(), "see `respawn install --help`"))?;

    #[cfg(windows)]
    if kind == BackendKind::Scm {
        prepare_service_root(state_root, &spec.id())?;
    }
    let paths = ServicePaths::new(state_root, &spec.id());
    let _op = super::control::lock(&paths, "install")?;
    // A preset's spec is saved in the service's state dir; an install that fails puts
    // back what was there before.
    let previous = Installation::read(&paths).ok().flatten();
    let kept = match &generated {
        Some(_) => super::quick::keep_edits(&paths)?,
        None => None,
    };
    let saved_spec = match &generated {
        Some((path, text)) => Some(GeneratedSpec::save(path, text)?),
        None => None,
    };
    let exe = std::env::current_exe()?;
    refuse_run_as_flag(&args, kind, scope)?;
    let req = InstallRequest {
        spec: &spec,
        spec_path: &spec_path,
        state_root,
        respawn_exe: &exe,
        scope,
        native: args.native,
        linger: args.linger,
        force: args.force,
        fallback: not_elevated.is_some(),
        run_as: args.run_as.as_deref(),
    };
    let since = std::time::SystemTime::now();
    let (result, fallback_reason) = match not_elevated {
        Some(reason) => (backend.install(&req), Some(reason)),
        None => install_or_fall_back(backend.as_ref(), kind, &req, &args, roots.primary()),
    };
    let installed = match result {
        Ok(installed) => installed,
        Err(e) => {
            if let Some(saved) = saved_spec {
                saved.roll_back();
            }
            return Err(e.into());
        }
    };
    let mut installed = installed;
    installed.remarks.iter().for_each(super::remark);
    if let Some((_, text)) = &generated {
        super::quick::remember_written(&paths, text);
    }
    installed.notes.extend(spec_notes(
        &installed.inst,
        previous.as_ref(),
        kept.as_deref(),
        generated.is_some(),
    ));
    let restarted = apply_to_running(&mut installed);
    // Some backends start the service as part of install (systemd's enable --now,
    // launchd's bootstrap); say which way it went rather than guess.
    let status_now = || {
        backend::for_installation(&installed.inst)
            .and_then(|b| b.status(&installed.inst))
            .ok()
            .map(|r| r.state)
    };
    let mut state = status_now();
    let next = next_step(state, restarted.is_some());
    // A restarted service is waited for as `restart` waits: until the new child is
    // ready (the old one may still be in its graceful stop now).
    let readiness = match (next, restarted) {
        (Next::Restarting, Some(since)) if args.json => {
            let readiness = super::control::wait_ready(&installed.inst, since);
            state = status_now();
            Some(readiness)
        }
        _ => None,
    };
    report(
        &installed,
        fallback_reason,
        &next,
        state,
        readiness.as_ref(),
        args.json,
    );
    if args.json {
        return Ok(match readiness {
            Some(r) if !r.ready => ExitStatus::Failure,
            _ => ExitStatus::Success,
        });
    }
    // Started or restarted by the install: wait for ready (`[health]`), as `start`
    // and `restart` do.
    match (next, restarted) {
        (Next::Restarting, Some(since)) => Ok(super::update::report_ready(&installed.inst, since)),
        (Next::Running(_), _) => Ok(super::update::report_ready(&installed.inst, since)),
        _ => Ok(ExitStatus::Success),
    }
}

/// What install says comes next, in the one line that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// A running service was asked for a planned restart: the wait for its new
    /// child follows.
    Restarting,
    /// Started by the install itself (systemd, launchd): the wait for ready follows.
    Running(ServiceStatus),
    /// Not running: `respawn start` starts it.
    Start,
    /// Restarted while it waits for its user to log on (Windows service,
    /// `when_logged_off = "wait"`): the new spec applies at that start.
    WaitsForLogon,
}

/// A restarted service is never told to be started, whatever state its old child is
/// in (still stopping, say): the restart starts it.
fn next_step(state: Option<ServiceStatus>, restarted: bool) -> Next {
    match state {
        Some(ServiceStatus::Waiting) if restarted => Next::WaitsForLogon,
        _ if restarted => Next::Restarting,
        Some(s @ (ServiceStatus::Running | ServiceStatus::Starting)) => Next::Running(s),
        _ => Next::Start,
    }
}

/// Where a spec comes from: a file (`respawn install FILE`, `--spec FILE`), a preset,
/// or the quick form (`--name NAME -- CMD ARGS…`).
enum Source<'a> {
    File(&'a Path),
    Preset(&'a str),
    Command(&'a str),
}

fn spec_source(args: &InstallArgs) -> Result<Source<'_>, CliError> {
    if let Some(path) = args.file.as_deref().or(args.spec.as_deref()) {
        if !args.cmd.is_empty() {
            return Err(CliError::bad_input(
                "a spec file and a command after -- were both given",
                "install the file (`respawn install FILE`), or a command without a file \
                 (`respawn install --name NAME -- CMD ARGS…`)",
            ));
        }
        return Ok(Source::File(path));
    }
    if let Some(preset) = &args.preset {
        if !args.cmd.is_empty() {
            return Err(CliError::bad_input(
                "a preset takes no command after --",
                "--command PATH names the preset's program",
            ));
        }
        return Ok(Source::Preset(preset));
    }
    match (&args.name, args.cmd.is_empty()) {
        (Some(name), _) => Ok(Source::Command(name)),
        (None, false) => Err(CliError::bad_input(
            "the service needs a name",
            format!(
                "`respawn install --name NAME -- {}` writes its spec for you",
                super::update::shell_words(&args.cmd)
            ),
        )),
        (None, true) => Err(CliError::bad_input(
            "say what to install",
            "a spec file (`respawn install web.toml`), a preset (`--preset hermes`), or a \
             command without a file (`respawn install --name web -- python3 -m http.server`); \
             `respawn spec --help` writes a spec to start from",
        )),
    }
}

/// What install says about the spec: which file the service reads and when, that it
/// replaced another install of the same name, where the user's edits were kept.
fn spec_notes(
    inst: &Installation,
    previous: Option<&Installation>,
    kept: Option<&Path>,
    generated: bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    let source = |i: &Installation| i.source_spec.clone().unwrap_or_else(|| i.spec_path.clone());
    if let Some(prev) = previous {
        if source(prev) != source(inst) || prev.backend != inst.backend {
            notes.push(format!(
                "replaces {} (was {}, {} backend)",
                inst.service,
                source(prev).display(),
                prev.backend
            ));
        }
    }
    if let Some(copy) = kept {
        notes.push(format!(
            "your edits to the spec are kept in {}; `respawn install {}` installs them",
            copy.display(),
            copy.display()
        ));
    }
    if generated {
        notes.push(format!(
            "the spec is {}: edit it, then `respawn restart {}` applies it",
            inst.spec_path.display(),
            inst.service
        ));
    } else if inst.source_spec.is_none() {
        notes.push(format!(
            "respawn reads {} at every start: keep it there (after moving it, install it \
             again from its new place)",
            inst.spec_path.display()
        ));
    }
    notes
}

/// A reinstall of a running service must not leave the old spec running. systemd and
/// launchd restart what they run as part of install; elsewhere, ask the backend for a
/// planned restart, whose supervisor reads the spec again. When it was asked: the
/// time just before, from which the new child's start is waited for.
fn apply_to_running(installed: &mut Installed) -> Option<std::time::SystemTime> {
    let inst = &installed.inst;
    if matches!(inst.backend, BackendKind::Systemd | BackendKind::Launchd) {
        return None;
    }
    let paths = inst.paths();
    if !client::is_supervised(&paths) {
        return None;
    }
    let since = std::time::SystemTime::now();
    match backend::for_installation(inst).and_then(|b| b.restart(inst)) {
        Ok(_) => Some(since),
        Err(e) => {
            installed.notes.push(format!(
                "{} is running with the old spec ({e:#}); `respawn restart {}` applies the new one",
                inst.service, inst.service
            ));
            None
        }
    }
}

/// A preset fills in the home and program of the account running install; with
/// `--run-as` naming another account those would be the wrong ones (issue 25): the
/// elevated admin's, not the user's. Refused, saying what to pass instead.
fn refuse_preset_for_another_account(args: &InstallArgs) -> Result<(), CliError> {
    let (Some(preset), Some(other)) = (&args.preset, &args.run_as) else {
        return Ok(());
    };
    #[cfg(windows)]
    if let (Ok(me), Ok(them)) = (
        crate::os::current_identity(),
        crate::os::lookup_account(other),
    ) {
        if me.account.sid == them.sid {
            return Ok(());
        }
    }
    Err(CliError::bad_input(
        format!(
            "--preset {preset} fills in this account's home and program, not {other}'s; with --run-as, install a spec"
        ),
        format!(
            "as {other}, run `respawn spec --preset {preset} > gateway.toml` (it finds their program and home), \
             then from an elevated prompt `respawn install --spec gateway.toml --run-as {other}`"
        ),
    ))
}

/// Flags a backend would silently ignore are refused instead.
fn refuse_unsupported_flags(args: &InstallArgs, kind: BackendKind) -> Result<(), CliError> {
    let can = kind.capabilities();
    let unsupported = if args.native && !can.native {
        Some("--native")
    } else if args.linger && !can.linger {
        Some("--linger")
    } else if args.user && !can.scopes.contains(&Scope::User) {
        Some("--user")
    } else if args.system && !can.scopes.contains(&Scope::System) {
        Some("--system")
    } else {
        None
    };
    match unsupported {
        Some(flag) => Err(CliError::bad_input(
            format!("{flag} does not apply to the {kind} backend"),
            "--native works with systemd and launchd, --linger with systemd, --user and \
             --system with systemd and launchd (on Windows, --user means the per-user login entry)",
        )),
        None => Ok(()),
    }
}

/// `--run-as` names the account of a system service: a Windows service, a system
/// unit or a LaunchDaemon. A user unit, agent or login entry runs as its user.
fn refuse_run_as_flag(args: &InstallArgs, kind: BackendKind, scope: Scope) -> Result<(), CliError> {
    let applies = match kind {
        BackendKind::Scm => true,
        BackendKind::Systemd | BackendKind::Launchd => scope == Scope::System,
        BackendKind::Portable | BackendKind::User => false,
    };
    match &args.run_as {
        Some(_) if !applies => Err(CliError::bad_input(
            format!(
                "--run-as does not apply here ({kind} backend, {} scope): that runs as the user who starts it",
                scope.as_str()
            ),
            "--run-as names the account of a system service: a Windows service (installed \
             from an elevated prompt), or a systemd or launchd install with --system",
        )),
        _ => Ok(()),
    }
}

/// `--backend systemd` where systemd is not PID 1 would fail deep inside systemctl.
fn refuse_absent_service_manager(kind: BackendKind) -> Result<(), CliError> {
    #[cfg(target_os = "linux")]
    if kind == BackendKind::Systemd && !backend::systemd::is_running() {
        return Err(CliError::bad_input(
            "systemd is not running on this machine (PID 1 is something else, as in most \
             containers and WSL without systemd)",
            "use `--backend portable` (nothing starts it at boot), or `respawn run --spec FILE` \
             as a container's entrypoint; see `respawn help` for machines without systemd",
        ));
    }
    let _ = kind;
    Ok(())
}

/// Install; on Windows, an automatic choice of backend that is refused for lack of
/// elevation falls back to the per-user login entry.
fn install_or_fall_back(
    backend: &dyn backend::Backend,
    kind: BackendKind,
    req: &InstallRequest,
    args: &InstallArgs,
    user_root: &Path,
) -> (anyhow::Result<Installed>, Option<&'static str>) {
    let _ = user_root;
    match backend.install(req) {
        #[cfg(windows)]
        Err(e)
            if args.backend.is_none()
                && e.downcast_ref::<backend::scm::install::NotElevated>()
                    .is_some() =>
        {
            // The user's own state root, not the machine's.
            let per_user = InstallRequest {
                scope: Scope::User,
                fallback: true,
                state_root: user_root,
                ..*req
            };
            (
                backend::for_kind(BackendKind::User).and_then(|b| b.install(&per_user)),
                Some(NOT_ELEVATED),
            )
        }
        other => (
            other,
            crate::boot::portable_fallback_reason(args.backend.is_some(), kind),
        ),
    }
}

#[cfg(unix)]
fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

/// A spec file written by `install --preset`, with what it replaced, so a failed
/// install can put things back as they were.
struct GeneratedSpec {
    path: PathBuf,
    previous: Option<Vec<u8>>,
}

impl GeneratedSpec {
    fn save(path: &Path, text: &str) -> Result<GeneratedSpec, CliError> {
        let previous = std::fs::read(path).ok();
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().expect("in a service dir"))?;
            write_atomic(path, text.as_bytes())
        };
        write().map_err(|e| {
            CliError::failure(
                format!("cannot save the spec to {}: {e}", path.display()),
                "check that the state dir is writable, or pass --state-dir",
            )
        })?;
        Ok(GeneratedSpec {
            path: path.to_path_buf(),
            previous,
        })
    }

    fn roll_back(self) {
        let _ = match self.previous {
            Some(bytes) => write_atomic(&self.path, &bytes),
            None => std::fs::remove_file(&self.path),
        };
    }
}

/// Say what `install` did, as sentences or as JSON for programs that call respawn.
fn report(
    installed: &Installed,
    fallback_reason: Option<&str>,
    next: &Next,
    state: Option<ServiceStatus>,
    readiness: Option<&super::json::Readiness>,
    json: bool,
) {
    let inst = &installed.inst;
    let state_word = state.map_or("unknown", ServiceStatus::as_str);
    if json {
        let mut value = serde_json::to_value(inst).expect("serializes");
        value["fallback_reason"] = fallback_reason.into();
        value["state"] = state_word.into();
        let boot = crate::boot::for_installation(inst);
        value["starts_at_boot"] = boot.starts_at_boot().into();
        value["boot_note"] = boot.note().into();
        value["schema_version"] = super::json::SCHEMA_VERSION.into();
        value["action"] = "install".into();
        value["notes"] = installed.notes.clone().into();
        value["restarted"] = matches!(next, Next::Restarting | Next::WaitsForLogon).into();
        value["ready"] = readiness.map(|r| r.ready).into();
        value["ready_seconds"] = readiness
            .and_then(|r| r.took)
            .map(|d| d.as_secs_f64())
            .into();
        value["not_ready_reason"] = readiness.and_then(|r| r.why_not.clone()).into();
        value["status"] = super::status::report(&inst.state_root, &inst.service)
            .ok()
            .map(|r| super::json::service(&r, std::time::SystemTime::now()))
            .into();
        say(serde_json::to_string_pretty(&value).expect("serializes"));
        return;
    }
    for note in &installed.notes {
        say(note);
    }
    if let Some(reason) = fallback_reason {
        say(reason);
    }
    let next = match next {
        Next::Restarting => "it was running: restarting it so the spec applies now".to_string(),
        Next::Running(s) => format!("it is {s}; see `respawn status {}`", inst.service),
        Next::WaitsForLogon => {
            "it waits for its user to log on; the new spec applies when it starts".to_string()
        }
        Next::Start => format!(
            "start it with `respawn{} start {}`",
            crate::doctor::fix::state_dir_arg(inst),
            inst.service
        ),
    };
    // The service manager's own name, where it differs from ours.
    let os_name = if inst.os_name == inst.service {
        String::new()
    } else {
        format!(" ({})", inst.os_name)
    };
    say(format!(
        "installed {} with the {} backend{os_name}; {next}",
        inst.service, inst.backend
    ));
    if let crate::boot::BootStart::No { what_would } = crate::boot::for_installation(inst) {
        say(format!("note: {what_would}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_restarted_service_is_never_told_to_be_started() {
        use ServiceStatus::*;
        for state in [
            None,
            Some(Stopping),
            Some(Stopped),
            Some(Running),
            Some(Backoff),
        ] {
            assert_eq!(next_step(state, true), Next::Restarting, "{state:?}");
        }
        // Nothing to wait for while its user is logged off.
        assert_eq!(next_step(Some(Waiting), true), Next::WaitsForLogon);
        assert_eq!(next_step(Some(Starting), false), Next::Running(Starting));
        assert_eq!(next_step(Some(Running), false), Next::Running(Running));
        for state in [None, Some(Stopping), Some(Stopped)] {
            assert_eq!(next_step(state, false), Next::Start, "{state:?}");
        }
    }

    #[test]
    fn system_wide_services_go_to_the_machine_root_unless_a_root_is_given() {
        let (user, machine) = (
            PathBuf::from("/home/ann/st"),
            PathBuf::from("/var/lib/respawn"),
        );
        let defaults = StateRoots::defaults(user.clone(), Some(machine.clone()));
        let given = StateRoots::given(PathBuf::from("/srv/st"));
        use BackendKind::*;
        for (roots, kind, scope, want) in [
            (&defaults, Scm, Scope::System, &machine),
            (&defaults, Systemd, Scope::System, &machine),
            (&defaults, Systemd, Scope::User, &user),
            (&defaults, Portable, Scope::System, &user),
            (&defaults, Launchd, Scope::System, &user),
            (&given, Systemd, Scope::System, &PathBuf::from("/srv/st")),
            (&given, Scm, Scope::System, &PathBuf::from("/srv/st")),
        ] {
            assert_eq!(
                install_root(roots, kind, scope),
                (want.clone(), None),
                "{kind} {scope:?}"
            );
        }
        // RESPAWN_STATE_DIR is ignored by a Windows service (issue 25), not by others.
        let from_env = StateRoots::given(PathBuf::from("/srv/st")).given_by_environment(true);
        assert!(from_env.is_from_environment());
        assert_eq!(
            install_root(&from_env, Systemd, Scope::System).0,
            PathBuf::from("/srv/st")
        );
        if let Some(machine) = crate::state::machine_state_root() {
            let (root, note) = install_root(&from_env, Scm, Scope::System);
            assert_eq!(root, machine);
            assert!(note.unwrap().contains("RESPAWN_STATE_DIR"));
        }
        // Where there is no machine root, the user's.
        let no_machine = StateRoots::defaults(user.clone(), None);
        assert_eq!(
            install_root(&no_machine, Systemd, Scope::System),
            (user.clone(), None)
        );
    }
}
