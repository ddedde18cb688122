//! Who the supervised program runs as (issue 15), as pure decisions.
//!
//! A Windows service host runs as LocalSystem, but the program it keeps up (an AI
//! agent gateway whose tools run shell commands) must not: by default it runs as the
//! user who installed the service, with that user's token, profile and environment.
//! Everything here is OS-free so that it is table-tested on every OS; the Windows calls
//! that act on these decisions live in `src/os/windows/token.rs` and
//! `src/admin_files.rs`. What Wine can and cannot show is in docs/wine.md
//! ("Tokens, sessions and file security").

pub mod session_end;
pub mod spawn;

use crate::spec::service::{RunAs, ServiceSettings, WhenLoggedOff};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// An account as the install record keeps it: the SID is the identity, the name is for
/// people (and may change when the account is renamed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `S-1-5-21-...`
    pub sid: String,
    /// `PC\ann`
    pub name: String,
}

// ---- install time: whose account ----

/// What install knows about the people involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallCaller<'a> {
    /// The token user of the installing (elevated) process.
    pub caller: &'a Account,
    /// The user logged on in the caller's own session (an RDP session, or the
    /// console), when there is one (issue 25: not the console's, which may be
    /// another user's or the logon screen).
    pub console_user: Option<&'a Account>,
    /// `--run-as NAME`, already resolved to an account.
    pub flag: Option<&'a Account>,
}

/// Whose account the service's program will use, decided at install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallChoice {
    /// Record this account; the host starts the program with its token.
    User(Account),
    /// LocalSystem: say so loudly at install and in `doctor`.
    System,
    /// Don't guess: the message says what to do.
    Refuse(String),
}

/// The account a `run_as` setting means for this install. An elevated caller who is
/// not the console user (over-the-shoulder elevation with another admin's credentials)
/// is not who the gateway should run as, and the console user may not be either: ask.
pub fn choose_install_account(run_as: RunAs, who: &InstallCaller) -> InstallChoice {
    if run_as == RunAs::System {
        return InstallChoice::System;
    }
    if let Some(flag) = who.flag {
        return InstallChoice::User(flag.clone());
    }
    match who.console_user {
        Some(console) if console.sid != who.caller.sid => InstallChoice::Refuse(format!(
            "this prompt is elevated as {} but {} is logged on in this session; say whose \
             account the service's program should use: `--run-as {}` (or `--run-as {}`)",
            who.caller.name, console.name, console.name, who.caller.name
        )),
        _ => InstallChoice::User(who.caller.clone()),
    }
}

// ---- system services on Linux and macOS ----

/// The account a system unit (systemd `User=`/`Group=`) or LaunchDaemon
/// (`UserName`/`GroupName`) runs the program as; `None` in a context means root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixAccount {
    pub user: String,
    /// The user's primary group.
    pub group: String,
}

/// A user or group name that every service manager takes as it is: letters, digits,
/// `_`, `.`, `-`, not starting with `-` or `.`, at most 32 bytes (a trailing `$`, as
/// Samba machine accounts have, allowed). Anything else is refused, not quoted.
pub fn is_unix_account_name(name: &str) -> bool {
    let body = name.strip_suffix('$').unwrap_or(name);
    !body.is_empty()
        && name.len() <= 32
        && !body.starts_with(['-', '.'])
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whose account a system service runs as on Linux and macOS, by name (`None`: root).
/// `sudo_user` is `SUDO_USER` (who ran sudo), `caller` the installing user's name
/// when that is not root. The same `run_as` as on Windows: `"system"` is root, else
/// `--run-as NAME`, else the user who asked for the install.
pub fn unix_system_user(
    run_as: Option<RunAs>,
    flag: Option<&str>,
    sudo_user: Option<&str>,
    caller: Option<&str>,
) -> Option<String> {
    if run_as == Some(RunAs::System) {
        return None;
    }
    let not_root = |n: &&str| !n.is_empty() && *n != "root";
    flag.or(sudo_user.filter(not_root))
        .or(caller.filter(not_root))
        .map(str::to_string)
}

/// A folder on the way to a state dir, as `stat` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirMode {
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// The first folder that user `uid` (primary group `gid`) may not pass through (no
/// search permission for them), if any. Root passes everywhere. Supplementary groups
/// are not counted, so the answer errs towards "closed".
pub fn first_unreachable(uid: u32, gid: u32, dirs: &[DirMode]) -> Option<&Path> {
    if uid == 0 {
        return None;
    }
    dirs.iter()
        .find(|d| {
            let bits = if d.uid == uid {
                d.mode >> 6
            } else if d.gid == gid {
                d.mode >> 3
            } else {
                d.mode
            };
            bits & 1 == 0
        })
        .map(|d| d.path.as_path())
}

/// The host's start: the account the program runs as, from the spec's setting and
/// the install record. `Ok(None)`: LocalSystem, as the spec asks. A `"user"` service
/// whose record names nobody (installed by an older respawn) is refused rather than run
/// as LocalSystem.
pub fn host_account(run_as: RunAs, recorded: Option<Account>) -> Result<Option<Account>, String> {
    match (run_as, recorded) {
        (RunAs::System, _) => Ok(None),
        (RunAs::User, Some(account)) => Ok(Some(account)),
        (RunAs::User, None) => Err(
            "the install record names no user to run the program as, and it must not run as \
             LocalSystem; reinstall from your own elevated prompt (`respawn install ...`), or set \
             run_as = \"system\" in [service] if it really needs LocalSystem"
                .to_string(),
        ),
    }
}

// ---- run time: which token, which session ----

/// Where the child runs (or should run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// In the user's logon session `n`, with the token from WTSQueryUserToken(n), on
    /// `winsta0\default`: Credential Manager, DPAPI and GUI helpers work.
    Interactive(u32),
    /// A service-for-user logon in session 0.
    S4u,
    /// LocalSystem, session 0.
    System,
}

impl Context {
    /// The `logon` of `status --json` a child started in this context shows.
    pub fn logon(self) -> Logon {
        match self {
            Context::Interactive(_) => Logon::Interactive,
            Context::S4u => Logon::S4u,
            Context::System => Logon::System,
        }
    }

    /// The Windows session the child's token carries.
    pub fn session(self) -> u32 {
        match self {
            Context::Interactive(n) => n,
            Context::S4u | Context::System => 0,
        }
    }
}

/// What the host is told by the SCM (SERVICE_CONTROL_SESSIONCHANGE), reduced to what
/// matters: did *our* user log on or off, and in which session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    None,
    /// WTS_SESSION_LOGON of the recorded user in this session.
    Logon(u32),
    /// WTS_SESSION_LOGOFF of this session (whoever it was).
    Logoff(u32),
}

/// WTS_SESSION_LOGON and WTS_SESSION_LOGOFF: the `dwEventType` of a
/// SERVICE_CONTROL_SESSIONCHANGE. The other reasons (connect, disconnect, lock,
/// unlock, remote control) leave the user's token and session as they are.
pub const WTS_SESSION_LOGON: u32 = 5;
pub const WTS_SESSION_LOGOFF: u32 = 6;

/// A SERVICE_CONTROL_SESSIONCHANGE, reduced to what `on_event` needs. `session_user`
/// is the SID of the user of that session (looked up by the host at a logon); a logon
/// by someone else is no event for us.
pub fn session_event(
    reason: u32,
    session: u32,
    session_user: Option<&str>,
    our_user: &str,
) -> SessionEvent {
    match reason {
        WTS_SESSION_LOGON if session_user == Some(our_user) => SessionEvent::Logon(session),
        WTS_SESSION_LOGOFF => SessionEvent::Logoff(session),
        _ => SessionEvent::None,
    }
}

/// The recorded user's session after an event, from the one known before it.
pub fn user_session_after(before: Option<u32>, event: SessionEvent) -> Option<u32> {
    match event {
        SessionEvent::None => before,
        // A second logon of the same user keeps the first session: no restart storm.
        SessionEvent::Logon(n) => before.or(Some(n)),
        SessionEvent::Logoff(n) if before == Some(n) => None,
        SessionEvent::Logoff(_) => before,
    }
}

/// Of the sessions where the recorded user is logged on, the one to run in: the
/// console's when it is one of them (that is where the user sits), else the lowest.
pub fn pick_user_session(console: Option<u32>, user_sessions: &[u32]) -> Option<u32> {
    match console {
        Some(c) if user_sessions.contains(&c) => Some(c),
        _ => user_sessions.iter().copied().min(),
    }
}

/// What the host does about the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Where the child should run; `None`: keep it stopped (waiting for a logon).
    pub target: Option<Context>,
    /// Stop the running child gracefully and start it in `target`: a planned restart,
    /// not counted as a failure, shown in status and logs.
    pub planned_restart: bool,
}

/// The decision table: from the settings, where the user is logged on and where the
/// child runs now, to where it should run.
pub fn plan(
    settings: ServiceSettings,
    user_session: Option<u32>,
    running: Option<Context>,
) -> Plan {
    let target = match (settings.windows_service_run_as(), user_session) {
        (RunAs::System, _) => Some(Context::System),
        (RunAs::User, Some(n)) => Some(Context::Interactive(n)),
        (RunAs::User, None) => match settings.when_logged_off {
            WhenLoggedOff::Run => Some(Context::S4u),
            WhenLoggedOff::Wait => None,
        },
    };
    Plan {
        target,
        planned_restart: running.is_some() && running != target,
    }
}

/// One step of the host's loop: an event arrives, the user's session moves, and the
/// child follows. Returns the new session and the plan.
pub fn on_event(
    settings: ServiceSettings,
    user_session: Option<u32>,
    event: SessionEvent,
    running: Option<Context>,
) -> (Option<u32>, Plan) {
    let after = user_session_after(user_session, event);
    (after, plan(settings, after, running))
}

// ---- the child's environment and identity ----

/// The child's environment: the user's own block (from CreateEnvironmentBlock, so
/// HOME/APPDATA/PATH are the user's), with the spec's `env` on top. Windows names are
/// case-insensitive (`Path` and `PATH` are one variable); the block is sorted the way
/// CreateProcess wants it.
pub fn merge_env(
    user_block: &[(String, String)],
    spec_env: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(user_block.len() + spec_env.len());
    let pairs = user_block
        .iter()
        .map(|(k, v)| (k, v))
        .chain(spec_env.iter());
    for (k, v) in pairs {
        match out
            .iter_mut()
            .find(|(have, _)| have.eq_ignore_ascii_case(k))
        {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out.sort_by_key(|(k, _)| k.to_uppercase());
    out
}

/// Split a `NAME=value\0...\0\0` environment block (UTF-16 already decoded per entry).
/// Entries that start with `=` (the per-drive current directories) are kept whole.
pub fn parse_env_entries<'a>(entries: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    entries
        .into_iter()
        .filter_map(|e| {
            let split = e.char_indices().skip(1).find(|&(_, c)| c == '=')?.0;
            Some((e[..split].to_string(), e[split + 1..].to_string()))
        })
        .collect()
}

/// How a token was logged on: the `logon` of `status --json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Logon {
    /// A user's interactive logon: their session, Credential Manager, DPAPI.
    Interactive,
    /// A service-for-user logon (looks like a network or batch logon).
    S4u,
    /// LocalSystem.
    System,
    /// A service logon of another account.
    Service,
    Unknown,
}

impl Logon {
    pub fn as_str(self) -> &'static str {
        match self {
            Logon::Interactive => "interactive",
            Logon::S4u => "s4u",
            Logon::System => "system",
            Logon::Service => "service",
            Logon::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Logon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Logon {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How a token was logged on, from its user and group SIDs.
pub fn logon_kind(user_sid: &str, group_sids: &[String]) -> Logon {
    let has = |sid: &str| group_sids.iter().any(|g| g == sid);
    if user_sid == "S-1-5-18" {
        Logon::System
    } else if has("S-1-5-4") {
        Logon::Interactive
    } else if has("S-1-5-2") || has("S-1-5-3") {
        // Network or batch: how an S4U logon without SE_TCB looks
        Logon::S4u
    } else if has("S-1-5-6") {
        Logon::Service
    } else {
        Logon::Unknown
    }
}

/// Who the child runs as, read back from its token (Windows): recorded by the
/// supervisor at each start and shown by `status --json` as `user`, `user_sid`,
/// `session` and `logon`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildIdentity {
    /// `PC\ann`
    pub user: String,
    pub user_sid: String,
    pub session: u32,
    pub logon: Logon,
}

// ---- admin-only files ----

/// A SID string we are willing to put into SDDL: `S-1-` then numbers. Anything else
/// (an SDDL fragment smuggled in a name) is refused.
pub fn is_sid_string(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("S-1-") else {
        return false;
    };
    !rest.is_empty()
        && rest.split('-').all(|part| {
            !part.is_empty() && part.len() <= 10 && part.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The protected DACL of the host's files: SYSTEM and Administrators full control,
/// the recorded user (if any) read and execute, inherited by everything created below.
/// `P` (protected) drops whatever the parent folder would have let others do.
pub fn admin_only_sddl(user_sid: Option<&str>) -> Result<String, String> {
    let mut sddl = String::from("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
    if let Some(sid) = user_sid {
        if !is_sid_string(sid) {
            return Err(format!("`{sid}` is not a SID (S-1-...)"));
        }
        sddl.push_str(&format!("(A;OICI;0x1200a9;;;{sid})"));
    }
    Ok(sddl)
}

/// The protected DACL of the machine's state root (`%ProgramData%\respawn`) itself:
/// SYSTEM and Administrators full control (inherited), every user may list it (so
/// `respawn list` finds the services) but not add, rename or delete anything in it.
/// Each service's folder below gets [`admin_only_sddl`].
pub const MACHINE_ROOT_SDDL: &str = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x1200a9;;;BU)";

/// Where the host's own files live on Windows: the binaries under
/// `%ProgramFiles%\respawn\`, each service's spec and state under
/// `%ProgramData%\respawn\<id>\`. Only administrators can write either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminPaths {
    pub bin_dir: PathBuf,
    pub service_dir: PathBuf,
}

impl AdminPaths {
    /// `program_files` and `program_data` are the values of `%ProgramFiles%` and
    /// `%ProgramData%` (absent: the Windows defaults).
    pub fn new(
        program_files: Option<&str>,
        program_data: Option<&str>,
        service_id: &str,
    ) -> Result<AdminPaths, String> {
        crate::spec::check_name("service id", service_id)?;
        let bin_dir = respawn_dir(program_files, "ProgramFiles", r"C:\Program Files")?;
        let data = machine_state_root(program_data)?;
        Ok(AdminPaths {
            bin_dir,
            service_dir: PathBuf::from(join_windows(&data.to_string_lossy(), service_id)),
        })
    }

    /// The binaries under `%ProgramFiles%\respawn\`, and the service's files in
    /// `state_root\<id>\` (a state root given to install, else the machine's).
    pub fn in_state_root(
        program_files: Option<&str>,
        state_root: &Path,
        service_id: &str,
    ) -> Result<AdminPaths, String> {
        crate::spec::check_name("service id", service_id)?;
        Ok(AdminPaths {
            bin_dir: respawn_dir(program_files, "ProgramFiles", r"C:\Program Files")?,
            service_dir: state_root.join(service_id),
        })
    }

    pub fn exe(&self, name: &str) -> PathBuf {
        PathBuf::from(join_windows(&self.bin_dir.to_string_lossy(), name))
    }

    pub fn spec(&self) -> PathBuf {
        PathBuf::from(join_windows(
            &self.service_dir.to_string_lossy(),
            "spec.toml",
        ))
    }
}

/// The state root of Windows services, `%ProgramData%\respawn`: `program_data` is the
/// variable's value (absent or blank: the Windows default).
pub fn machine_state_root(program_data: Option<&str>) -> Result<PathBuf, String> {
    respawn_dir(program_data, "ProgramData", r"C:\ProgramData")
}

/// `<value of %var%>\respawn`, the value checked to be an absolute path.
fn respawn_dir(value: Option<&str>, var: &str, default: &str) -> Result<PathBuf, String> {
    let v = value.filter(|v| !v.trim().is_empty()).unwrap_or(default);
    if !is_absolute_windows(v) {
        return Err(format!(
            "%{var}% is `{v}`, not an absolute path; fix the variable or unset it"
        ));
    }
    Ok(PathBuf::from(join_windows(v, "respawn")))
}

fn is_absolute_windows(p: &str) -> bool {
    let b = p.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/'))
        || p.starts_with(r"\\")
}

fn join_windows(base: &str, name: &str) -> String {
    format!("{}\\{name}", base.trim_end_matches(['\\', '/']))
}

// ---- "can a non-admin write this?" from a security descriptor ----

/// Accounts whose write access is fine for what a SYSTEM host executes: SYSTEM,
/// Administrators, TrustedInstaller, and CREATOR OWNER (which only matters through
/// inheritance, and is checked on the real owner).
const TRUSTED_WRITERS: [&str; 4] = ["SY", "BA", "S-1-5-18", "S-1-5-32-544"];
const TRUSTED_INSTALLER: &str = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";

fn trusted(sid: &str) -> bool {
    TRUSTED_WRITERS.contains(&sid) || sid == TRUSTED_INSTALLER || sid == "CO" || sid == "S-1-3-0"
}

/// What a path is to the file the host will read or execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The file itself: any write changes what runs.
    File,
    /// The folder holding it: adding a file there plants a DLL next to an exe, and
    /// deleting children replaces the file.
    Folder,
    /// A folder further up: only renaming or deleting entries, or rewriting its DACL
    /// or owner, can swap the path out (creating new folders in `C:\` is harmless).
    Ancestor,
}

const GENERIC_WRITE_ALL: u32 = 0x4000_0000 | 0x1000_0000;
/// DELETE, WRITE_DAC, WRITE_OWNER.
const REWRITE: u32 = 0x0001_0000 | 0x0004_0000 | 0x0008_0000;
/// Write data, append data, write EA, write attributes (files); add file and add
/// subfolder (folders) share the first two bits.
const WRITE_DATA: u32 = 0x0002 | 0x0004 | 0x0010 | 0x0100;
const DELETE_CHILD: u32 = 0x0040;

impl Role {
    fn mask(self) -> u32 {
        match self {
            Role::File => GENERIC_WRITE_ALL | REWRITE | WRITE_DATA,
            Role::Folder => GENERIC_WRITE_ALL | REWRITE | WRITE_DATA | DELETE_CHILD,
            Role::Ancestor => GENERIC_WRITE_ALL | REWRITE | DELETE_CHILD,
        }
    }
}

/// The SIDs (as written in the SDDL) that a security descriptor lets write the object,
/// other than SYSTEM/Administrators/TrustedInstaller: the owner (who can always rewrite
/// the DACL) when it is someone else, and every allow ACE with a write right that
/// applies to the object itself. Deny ACEs are ignored (an allow elsewhere in a group
/// we can't expand may still win), so the answer errs towards "writable".
/// A missing DACL (`D:NO_ACCESS_CONTROL` or none) means everyone.
pub fn untrusted_writers(sddl: &str, role: Role) -> Vec<String> {
    let mask = role.mask();
    let mut out = Vec::new();
    if let Some(owner) = sddl_part(sddl, 'O') {
        if !trusted(owner) {
            out.push(owner.to_string());
        }
    }
    let Some(dacl) = sddl_part(sddl, 'D') else {
        out.push("WD".into());
        return out;
    };
    if dacl.contains("NO_ACCESS_CONTROL") {
        out.push("WD".into());
        return out;
    }
    for ace in dacl.split('(').skip(1) {
        let fields: Vec<&str> = ace.trim_end_matches(')').split(';').collect();
        let [kind, flags, rights, _, _, sid, ..] = fields[..] else {
            continue;
        };
        // Flags are two-letter codes (OI, CI, NP, IO, ID): compare whole codes.
        let inherit_only = flags.as_bytes().chunks(2).any(|c| c == b"IO");
        if kind != "A" || inherit_only || trusted(sid) {
            continue;
        }
        if ace_rights(rights) & mask != 0 && !out.iter().any(|s| s == sid) {
            out.push(sid.to_string());
        }
    }
    out
}

/// The text of one part (`O:`, `G:`, `D:`, `S:`) of an SDDL string.
fn sddl_part(sddl: &str, which: char) -> Option<&str> {
    let tag = format!("{which}:");
    let start = sddl.find(&tag)? + 2;
    let rest = &sddl[start..];
    // The next part starts with a letter and ':' outside parentheses.
    let mut depth = 0;
    let bytes = rest.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b':' if depth == 0 && i > 0 && matches!(bytes[i - 1], b'O' | b'G' | b'D' | b'S') => {
                return Some(&rest[..i - 1]);
            }
            _ => {}
        }
    }
    Some(rest)
}

/// An ACE's rights field: hex (`0x1200a9`) or two-letter codes (`FA`, `FRFX`, `GW`...).
fn ace_rights(rights: &str) -> u32 {
    if let Some(hex) = rights
        .strip_prefix("0x")
        .or_else(|| rights.strip_prefix("0X"))
    {
        return u32::from_str_radix(hex, 16).unwrap_or(u32::MAX);
    }
    let codes: &[(&str, u32)] = &[
        ("GA", 0x1000_0000),
        ("GW", 0x4000_0000),
        ("GR", 0x8000_0000),
        ("GX", 0x2000_0000),
        ("FA", 0x001f_01ff),
        ("FW", 0x0012_0116),
        ("FR", 0x0012_0089),
        ("FX", 0x0012_00a0),
        ("SD", 0x0001_0000),
        ("WD", 0x0004_0000),
        ("WO", 0x0008_0000),
        ("RC", 0x0002_0000),
        ("CC", 0x0001),
        ("DC", 0x0002),
        ("LC", 0x0004),
        ("SW", 0x0008),
        ("RP", 0x0010),
        ("WP", 0x0020),
        ("DT", 0x0040),
        ("LO", 0x0080),
        ("CR", 0x0100),
        ("KA", 0x000f_003f),
    ];
    let mut mask = 0;
    let mut i = 0;
    while i + 2 <= rights.len() {
        match codes.iter().find(|(c, _)| *c == &rights[i..i + 2]) {
            Some((_, bits)) => mask |= bits,
            // Unknown code: assume the worst.
            None => return u32::MAX,
        }
        i += 2;
    }
    mask
}

/// The file and every folder above it, each with its role: replacing any of them (or
/// renaming a folder aside) changes what runs.
pub fn paths_to_check(file: &Path) -> Vec<(PathBuf, Role)> {
    file.ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .enumerate()
        .map(|(i, p)| {
            let role = match i {
                0 => Role::File,
                1 => Role::Folder,
                _ => Role::Ancestor,
            };
            (p.to_path_buf(), role)
        })
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_host_never_falls_back_to_local_system() {
        let ann = Account {
            sid: "S-1-5-21-1-2-3-1001".into(),
            name: "PC\\ann".into(),
        };
        assert_eq!(
            host_account(RunAs::User, Some(ann.clone())),
            Ok(Some(ann.clone()))
        );
        assert_eq!(host_account(RunAs::System, Some(ann)), Ok(None));
        assert_eq!(host_account(RunAs::System, None), Ok(None));
        let err = host_account(RunAs::User, None).unwrap_err();
        assert!(err.contains("reinstall"), "{err}");
        assert!(err.contains("run_as = \"system\""), "{err}");
    }

    use super::*;

    fn acct(sid: &str, name: &str) -> Account {
        Account {
            sid: sid.into(),
            name: name.into(),
        }
    }

    #[test]
    fn install_account_table() {
        let ann = acct("S-1-5-21-1-2-3-1001", "PC\\ann");
        let bob = acct("S-1-5-21-1-2-3-1002", "PC\\bob");
        let cases: Vec<(RunAs, Option<&Account>, Option<&Account>, &str)> = vec![
            // run_as, console user, --run-as, expected
            (RunAs::User, Some(&ann), None, "user ann"),
            (RunAs::User, None, None, "user ann"), // no console user (ssh, RDP): the caller
            (RunAs::User, Some(&bob), None, "refuse"), // over-the-shoulder elevation
            (RunAs::User, Some(&bob), Some(&bob), "user bob"),
            (RunAs::User, Some(&bob), Some(&ann), "user ann"),
            (RunAs::System, Some(&bob), None, "system"),
            (RunAs::System, None, Some(&bob), "system"),
        ];
        for (run_as, console, flag, want) in cases {
            let got = choose_install_account(
                run_as,
                &InstallCaller {
                    caller: &ann,
                    console_user: console,
                    flag,
                },
            );
            let got_s = match &got {
                InstallChoice::User(a) if a == &ann => "user ann",
                InstallChoice::User(a) if a == &bob => "user bob",
                InstallChoice::User(_) => "user ?",
                InstallChoice::System => "system",
                InstallChoice::Refuse(m) => {
                    assert!(m.contains("--run-as PC\\bob"), "{m}");
                    "refuse"
                }
            };
            assert_eq!(got_s, want, "{run_as:?} console={console:?} flag={flag:?}");
        }
    }

    #[test]
    fn system_services_on_unix_run_as_the_user_who_asked() {
        use RunAs::*;
        // run_as, --run-as, SUDO_USER, caller (None = root) -> user (None = root)
        type Row<'a> = (
            Option<RunAs>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let table: [Row; 10] = [
            (None, None, Some("ann"), None, Some("ann")),
            (Some(User), None, Some("ann"), None, Some("ann")),
            (None, None, None, Some("ann"), Some("ann")),
            (None, None, None, None, None), // root, no sudo, no flag: root
            (None, None, Some("root"), None, None), // sudo from root
            (None, None, Some(""), None, None),
            (None, Some("svc"), Some("ann"), None, Some("svc")),
            (Some(System), None, Some("ann"), Some("ann"), None),
            (Some(System), Some("svc"), None, None, None),
            (Some(User), Some("root"), None, None, Some("root")), // asked for by name
        ];
        for (run_as, flag, sudo, caller, want) in table {
            assert_eq!(
                unix_system_user(run_as, flag, sudo, caller).as_deref(),
                want,
                "{run_as:?} flag={flag:?} sudo={sudo:?} caller={caller:?}"
            );
        }
    }

    #[test]
    fn unix_account_names_are_checked_not_quoted() {
        for good in ["ann", "_svc", "www-data", "a.b", "machine$", "A1"] {
            assert!(is_unix_account_name(good), "{good}");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "a b",
            "a\nUser=root",
            "a%n",
            "ann;",
            "é",
            "$",
            "abcdefghijklmnopqrstuvwxyz0123456789",
        ] {
            assert!(!is_unix_account_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_state_dir_under_a_closed_home_is_unreachable() {
        let d = |path: &str, uid, gid, mode| DirMode {
            path: PathBuf::from(path),
            uid,
            gid,
            mode,
        };
        let root_home = [
            d("/root/.local/state/respawn", 0, 0, 0o755),
            d("/root", 0, 0, 0o700),
            d("/", 0, 0, 0o755),
        ];
        assert_eq!(
            first_unreachable(1000, 1000, &root_home),
            Some(Path::new("/root"))
        );
        assert_eq!(first_unreachable(0, 0, &root_home), None);
        let var_lib = [
            d("/var/lib/respawn", 0, 0, 0o755),
            d("/var/lib", 0, 0, 0o755),
        ];
        assert_eq!(first_unreachable(1000, 1000, &var_lib), None);
        // the user's own closed home, and a group-only folder
        assert_eq!(
            first_unreachable(1000, 1000, &[d("/home/ann", 1000, 1000, 0o700)]),
            None
        );
        assert_eq!(
            first_unreachable(1000, 50, &[d("/srv/x", 0, 50, 0o750)]),
            None
        );
        assert_eq!(
            first_unreachable(1000, 51, &[d("/srv/x", 0, 50, 0o750)]),
            Some(Path::new("/srv/x"))
        );
        // the owner's bits count for the owner even when others may pass
        assert_eq!(
            first_unreachable(1000, 1000, &[d("/odd", 1000, 0, 0o077)]),
            Some(Path::new("/odd"))
        );
    }

    #[test]
    fn runtime_decision_table() {
        use Context::*;
        use SessionEvent as E;
        let user_run = ServiceSettings {
            run_as: None,
            when_logged_off: WhenLoggedOff::Run,
        };
        let user_wait = ServiceSettings {
            run_as: Some(RunAs::User),
            when_logged_off: WhenLoggedOff::Wait,
        };
        let system = ServiceSettings {
            run_as: Some(RunAs::System),
            when_logged_off: WhenLoggedOff::Run,
        };
        // settings, user's session before, event, child now -> session after, target, planned restart
        #[rustfmt::skip]
        type Row = (ServiceSettings, Option<u32>, SessionEvent, Option<Context>, Option<u32>, Option<Context>, bool);
        let table: Vec<Row> = vec![
            // host start
            (
                user_run,
                Some(1),
                E::None,
                None,
                Some(1),
                Some(Interactive(1)),
                false,
            ),
            (user_run, None, E::None, None, None, Some(S4u), false),
            (user_wait, None, E::None, None, None, None, false),
            (system, Some(1), E::None, None, Some(1), Some(System), false),
            (system, None, E::None, None, None, Some(System), false),
            // the user logs on
            (
                user_run,
                None,
                E::Logon(2),
                Some(S4u),
                Some(2),
                Some(Interactive(2)),
                true,
            ),
            (
                user_wait,
                None,
                E::Logon(2),
                None,
                Some(2),
                Some(Interactive(2)),
                false,
            ),
            (
                system,
                None,
                E::Logon(2),
                Some(System),
                Some(2),
                Some(System),
                false,
            ),
            // a second logon of the same user: stay where we are
            (
                user_run,
                Some(1),
                E::Logon(3),
                Some(Interactive(1)),
                Some(1),
                Some(Interactive(1)),
                false,
            ),
            // the user logs off
            (
                user_run,
                Some(1),
                E::Logoff(1),
                Some(Interactive(1)),
                None,
                Some(S4u),
                true,
            ),
            (
                user_wait,
                Some(1),
                E::Logoff(1),
                Some(Interactive(1)),
                None,
                None,
                true,
            ),
            (
                system,
                Some(1),
                E::Logoff(1),
                Some(System),
                None,
                Some(System),
                false,
            ),
            // someone else's session ends
            (
                user_run,
                Some(1),
                E::Logoff(4),
                Some(Interactive(1)),
                Some(1),
                Some(Interactive(1)),
                false,
            ),
            // nothing happened, child already right
            (user_run, None, E::None, Some(S4u), None, Some(S4u), false),
        ];
        for (settings, before, event, running, after, target, restart) in table {
            let (got_after, got) = on_event(settings, before, event, running);
            let row = format!("{settings:?} {before:?} {event:?} {running:?}");
            assert_eq!(got_after, after, "{row}");
            assert_eq!(got.target, target, "{row}");
            assert_eq!(got.planned_restart, restart, "{row}");
        }
    }

    #[test]
    fn session_change_controls_become_events() {
        let ann = "S-1-5-21-1-2-3-1001";
        let bob = "S-1-5-21-1-2-3-1002";
        assert_eq!(
            session_event(WTS_SESSION_LOGON, 2, Some(ann), ann),
            SessionEvent::Logon(2)
        );
        assert_eq!(
            session_event(WTS_SESSION_LOGON, 3, Some(bob), ann),
            SessionEvent::None
        );
        assert_eq!(
            session_event(WTS_SESSION_LOGON, 3, None, ann),
            SessionEvent::None
        );
        assert_eq!(
            session_event(WTS_SESSION_LOGOFF, 2, None, ann),
            SessionEvent::Logoff(2)
        );
        for other in [1, 2, 3, 4, 7, 8, 9] {
            assert_eq!(
                session_event(other, 2, Some(ann), ann),
                SessionEvent::None,
                "{other}"
            );
        }
        // Through the table: ann logs on while the child runs under S4U -> planned restart.
        let (after, plan) = on_event(
            ServiceSettings::default(),
            None,
            session_event(WTS_SESSION_LOGON, 2, Some(ann), ann),
            Some(Context::S4u),
        );
        assert_eq!(after, Some(2));
        assert_eq!(plan.target, Some(Context::Interactive(2)));
        assert!(plan.planned_restart);
    }

    #[test]
    fn contexts_name_their_logon_and_session() {
        assert_eq!(Context::Interactive(3).logon(), "interactive");
        assert_eq!(Context::Interactive(3).session(), 3);
        assert_eq!(Context::S4u.logon(), "s4u");
        assert_eq!(Context::S4u.session(), 0);
        assert_eq!(Context::System.logon(), "system");
    }

    #[test]
    fn the_console_session_wins_when_the_user_is_there() {
        assert_eq!(pick_user_session(Some(2), &[3, 2]), Some(2));
        assert_eq!(pick_user_session(Some(1), &[3, 2]), Some(2));
        assert_eq!(pick_user_session(None, &[]), None);
        assert_eq!(pick_user_session(Some(1), &[]), None);
    }

    #[test]
    fn sddl_is_exact_and_refuses_non_sids() {
        assert_eq!(
            admin_only_sddl(Some("S-1-5-21-11-22-33-1001")).unwrap(),
            "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;S-1-5-21-11-22-33-1001)"
        );
        assert_eq!(
            admin_only_sddl(None).unwrap(),
            "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
        );
        for bad in [
            "",
            "S-1-",
            "S-1-5-)(A;;FA;;;WD",
            "WD",
            "S-1-5--1",
            "s-1-5-18",
            "S-1-5-21-99999999999",
        ] {
            assert!(admin_only_sddl(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_machine_root_lets_users_list_it_but_not_change_it() {
        for role in [Role::File, Role::Folder, Role::Ancestor] {
            assert_eq!(
                untrusted_writers(&format!("O:BA{MACHINE_ROOT_SDDL}"), role),
                Vec::<String>::new()
            );
        }
        assert!(MACHINE_ROOT_SDDL.contains("(A;;0x1200a9;;;BU)"));
    }

    #[test]
    fn our_own_dacl_has_no_untrusted_writer() {
        let sddl = admin_only_sddl(Some("S-1-5-21-1-2-3-1001")).unwrap();
        for role in [Role::File, Role::Folder, Role::Ancestor] {
            assert_eq!(
                untrusted_writers(&format!("O:BA{sddl}"), role),
                Vec::<String>::new()
            );
            assert_eq!(
                untrusted_writers(&format!("O:SYG:SY{sddl}"), role),
                Vec::<String>::new()
            );
        }
    }

    #[test]
    fn writers_are_found() {
        let user = "S-1-5-21-1-2-3-1001";
        // what Wine reports for any file it created: the owner is the user
        let wine = format!("O:{user}D:(A;;FA;;;SY)(A;;FA;;;{user})(A;;0x1200a9;;;WD)");
        assert_eq!(untrusted_writers(&wine, Role::File), vec![user.to_string()]);
        // a typical user-profile folder
        let profile = format!("O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;{user})");
        assert_eq!(
            untrusted_writers(&profile, Role::Ancestor),
            vec![user.to_string()]
        );
        // Authenticated Users may create folders in C:\: harmless above, not next to an exe
        let c_root = "O:SYD:(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)(A;OICI;0x1200a9;;;BU)(A;CI;0x4;;;AU)(A;CIIO;SD;;;AU)";
        assert_eq!(
            untrusted_writers(c_root, Role::Ancestor),
            Vec::<String>::new()
        );
        assert_eq!(
            untrusted_writers(c_root, Role::Folder),
            vec!["AU".to_string()]
        );
        // Program Files as shipped: TrustedInstaller owns it, Users read
        let pf = format!("O:{TRUSTED_INSTALLER}D:P(A;;FA;;;{TRUSTED_INSTALLER})(A;CIIO;GA;;;CO)(A;;0x1301bf;;;SY)(A;;0x1301bf;;;BA)(A;;0x1200a9;;;BU)");
        assert_eq!(untrusted_writers(&pf, Role::Folder), Vec::<String>::new());
        // generic rights, codes, no DACL, NULL DACL
        assert_eq!(
            untrusted_writers("D:(A;;GW;;;BU)", Role::File),
            vec!["BU".to_string()]
        );
        assert_eq!(
            untrusted_writers("D:(A;;GRGX;;;BU)", Role::File),
            Vec::<String>::new()
        );
        assert_eq!(
            untrusted_writers("D:(A;;DC;;;BU)", Role::Folder),
            vec!["BU".to_string()]
        );
        assert_eq!(
            untrusted_writers("D:(A;;DC;;;BU)", Role::Ancestor),
            Vec::<String>::new()
        );
        assert_eq!(
            untrusted_writers("D:(A;;0x40;;;BU)", Role::Ancestor),
            vec!["BU".to_string()]
        );
        assert_eq!(
            untrusted_writers("O:BA", Role::File),
            vec!["WD".to_string()]
        );
        assert_eq!(
            untrusted_writers("D:NO_ACCESS_CONTROL", Role::File),
            vec!["WD".to_string()]
        );
        // inherit-only ACEs don't apply to the object; "CIOI" is not "IO"
        assert_eq!(
            untrusted_writers("D:(A;OICIIOID;FA;;;BU)", Role::File),
            Vec::<String>::new()
        );
        assert_eq!(
            untrusted_writers("D:(A;CIOI;FA;;;BU)", Role::File),
            vec!["BU".to_string()]
        );
        // an unknown rights code counts as write
        assert_eq!(
            untrusted_writers("D:(A;;ZZ;;;BU)", Role::Ancestor),
            vec!["BU".to_string()]
        );
    }

    #[test]
    fn admin_paths_follow_the_environment() {
        let p = AdminPaths::new(Some(r"D:\Apps\"), Some(r"E:\Data"), "hermes-work").unwrap();
        assert_eq!(p.bin_dir, PathBuf::from(r"D:\Apps\respawn"));
        assert_eq!(
            p.exe("respawn.exe"),
            PathBuf::from(r"D:\Apps\respawn\respawn.exe")
        );
        assert_eq!(p.service_dir, PathBuf::from(r"E:\Data\respawn\hermes-work"));
        assert_eq!(
            p.spec(),
            PathBuf::from(r"E:\Data\respawn\hermes-work\spec.toml")
        );
        let d = AdminPaths::new(None, Some(" "), "gw").unwrap();
        assert_eq!(d.bin_dir, PathBuf::from(r"C:\Program Files\respawn"));
        assert_eq!(d.service_dir, PathBuf::from(r"C:\ProgramData\respawn\gw"));
        let err = AdminPaths::new(Some("relative"), None, "gw").unwrap_err();
        assert!(err.contains("%ProgramFiles%"), "{err}");
        assert!(AdminPaths::new(None, None, "..\\x").is_err());
    }

    #[test]
    fn every_folder_above_a_file_is_checked() {
        let got = paths_to_check(Path::new("/a/b/c.toml"));
        let want = [
            ("/a/b/c.toml", Role::File),
            ("/a/b", Role::Folder),
            ("/a", Role::Ancestor),
            ("/", Role::Ancestor),
        ];
        assert_eq!(got, want.map(|(p, r)| (PathBuf::from(p), r)).to_vec());
    }

    #[test]
    fn the_spec_env_goes_over_the_users_block_case_insensitively() {
        let user = parse_env_entries([
            "Path=C:\\u\\bin",
            "USERPROFILE=C:\\Users\\ann",
            "=C:=C:\\",
            "bad",
        ]);
        assert_eq!(user.len(), 3);
        let mut spec = std::collections::BTreeMap::new();
        spec.insert("PATH".to_string(), "C:\\x".to_string());
        spec.insert("HERMES_HOME".to_string(), "h".to_string());
        let got = merge_env(&user, &spec);
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["=C:", "HERMES_HOME", "Path", "USERPROFILE"]);
        assert_eq!(got[2].1, "C:\\x");
    }

    #[test]
    fn logon_kinds() {
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(logon_kind("S-1-5-18", &g(&["S-1-5-4"])), "system");
        assert_eq!(
            logon_kind("S-1-5-21-1", &g(&["S-1-1-0", "S-1-5-4"])),
            "interactive"
        );
        assert_eq!(logon_kind("S-1-5-21-1", &g(&["S-1-5-2"])), "s4u");
        assert_eq!(logon_kind("S-1-5-21-1", &g(&["S-1-5-6"])), "service");
        assert_eq!(logon_kind("S-1-5-21-1", &g(&[])), "unknown");
    }

    #[test]
    fn a_spec_carries_its_service_table() {
        let parse = |t: &str| crate::spec::Spec::parse(t, None, Path::new("/base"));
        let spec =
            parse("name = \"a\"\ncommand = \"sh\"\n[service]\nrun_as = \"system\"\n").unwrap();
        assert_eq!(spec.service.run_as, Some(RunAs::System));
        let spec = parse("name = \"a\"\ncommand = \"sh\"\n").unwrap();
        assert_eq!(spec.service, ServiceSettings::default());
        let err =
            parse("name = \"a\"\ncommand = \"sh\"\n[service]\nrun_as = \"admin\"\n").unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("`user`"), "{}", err.message);
    }

    #[test]
    fn settings_parse_from_toml() {
        let s: ServiceSettings =
            toml::from_str("run_as = \"system\"\nwhen_logged_off = \"wait\"").unwrap();
        assert_eq!(s.run_as, Some(RunAs::System));
        assert_eq!(s.when_logged_off, WhenLoggedOff::Wait);
        let d: ServiceSettings = toml::from_str("").unwrap();
        assert_eq!(d.windows_service_run_as(), RunAs::User);
        assert!(toml::from_str::<ServiceSettings>("run_as = \"root\"").is_err());
        assert!(toml::from_str::<ServiceSettings>("runas = \"user\"").is_err());
    }
}
